"""`ipvlan-tui lab setup|exec|shell`: the kernel lab on the command line.

    lab setup                       install qemu/busybox/cpio/kmod (apt, as root)
                                    and fetch the Debian kernel into the cache
    lab exec [--memory MB] [--cpus N] [--timeout S] -- CMD [ARG...]
                                    run CMD as root inside the VM, in our cwd;
                                    exits with CMD's exit code
    lab shell [--memory MB] [--cpus N] [-- CMD [ARG...]]
                                    interactive shell ($SHELL, or CMD) on this
                                    terminal (Ctrl-A X kills the VM)
Exit codes of the lab itself: 124 timeout, 125 lab failure (not set up, boot
failed), 126 guest kernel panic, 127 qemu missing.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from ipvlan_tui.lab import provision, vm
from ipvlan_tui.lab.errors import LabError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipvlan-tui lab", description="The kernel lab: a throwaway qemu VM "
                                "with a Debian kernel that has ipvlan, 8021q and dummy.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install the host tools and fetch the kernel (idempotent)")
    ex = sub.add_parser("exec", help="run a command inside the VM")
    ex.add_argument("--memory", type=int, default=vm.DEFAULT_MEMORY_MB, metavar="MB")
    ex.add_argument("--cpus", type=int, default=None, metavar="N")
    ex.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                    help="seconds for boot + command (default 3600)")
    ex.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    sh = sub.add_parser("shell", help="interactive shell inside the VM on this terminal")
    sh.add_argument("--memory", type=int, default=vm.DEFAULT_MEMORY_MB, metavar="MB")
    sh.add_argument("--cpus", type=int, default=None, metavar="N")
    sh.add_argument("cmd", nargs=argparse.REMAINDER,
                    help="-- CMD [ARG...] to run instead of $SHELL (e.g. the TUI)")
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = _parser().parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds: the VM is killed and temp dirs removed

    if args.command in ("exec", "shell") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGHUP, on_term)
    try:
        if args.command == "setup":
            t0 = time.monotonic()
            did = provision.setup()
            man = provision.load_manifest()
            if did:
                print(f"lab ready: kernel {man.kernel_version}, {len(man.modules)} modules, "
                      f"cache {provision.cache_dir()} ({time.monotonic() - t0:.1f} s)")
            else:
                print(f"lab already set up, nothing to do (kernel {man.kernel_version}, "
                      f"cache {provision.cache_dir()})")
            return 0
        if args.command == "exec":
            cmd = list(args.cmd)
            if cmd and cmd[0] == "--":
                cmd = cmd[1:]
            if not cmd:
                print("ipvlan-tui lab exec: missing command (usage: lab exec [options] -- CMD [ARG...])",
                      file=sys.stderr)
                return 2
            return vm.run_in_lab(cmd, memory_mb=args.memory, cpus=args.cpus, timeout=args.timeout)
        if args.command == "shell":
            cmd = list(args.cmd)
            if cmd and cmd[0] == "--":
                cmd = cmd[1:]
            return vm.run_shell(memory_mb=args.memory, cpus=args.cpus, argv=cmd or None)
    except LabError as exc:
        print(f"ipvlan-tui lab: {exc.full_text()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ipvlan-tui lab: interrupted (VM killed)", file=sys.stderr)
        return 130
    return 2
