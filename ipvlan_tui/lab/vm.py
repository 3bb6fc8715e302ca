"""Run a command, or a shell, inside the throwaway lab VM.

The VM (qemu, TCG) boots the cached Debian kernel with a busybox initramfs,
mounts the host's root read-only over virtio-9p under a tmpfs overlayfs (so
the guest sees the host's exact tree, writable and disposable), and a second
writable 9p share that is the way out. It has no NIC to the outside.

exec mode: CMD's stdout and stderr come back over two virtio-serial ports
(unix sockets on the host, streamed as they arrive), the kernel console goes
to a log file, the exit code comes back through the share.
"""

from __future__ import annotations

import ctypes
import functools
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

from ipvlan_tui.lab import initramfs, provision
from ipvlan_tui.lab.errors import KernelPanic, LabBootError, LabError, LabTimeout

DEFAULT_MEMORY_MB = 1024
DOCKER_MEMORY_MB = 2048
IN_LAB_ENV = "IPVLAN_TUI_IN_LAB"

# Environment passed into the guest (besides IPVLAN_TUI_* and the caller's extras).
PASS_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "SHELL",
            "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
            "PYTHONUNBUFFERED", "PYTHONWARNINGS", "PYTHONNOUSERSITE", "PYTHONUTF8",
            "COLORTERM", "NO_COLOR", "FORCE_COLOR", "CI")
PASS_PREFIXES = ("LC_", "PYENV_", "IPVLAN_TUI_", "PYTEST_", "HYPOTHESIS_")
DROP_ENV = ("IPVLAN_TUI_LAB_CACHE_UNUSED",)

KERNEL_CMDLINE = ("console=ttyS0 quiet loglevel=1 panic=-1 oops=panic 8250.nr_uarts=1 "
                  "mitigations=off nokaslr tsc=reliable no_timer_check rootfstype=ramfs")


# loglevel=1: only KERN_EMERG reaches the console, so a panic's message is logged
PANIC_SIGNS = ("Kernel panic", "kernel BUG", "sysrq: Trigger a crash", "Oops:")


def in_lab() -> bool:
    return os.environ.get(IN_LAB_ENV) == "1"


@dataclass
class Wire:
    """A virtio-net NIC on a qemu `stream` netdev over a unix socket: joins two lab
    VMs on one L2 segment and nothing else. Start the server side first."""
    socket_path: str
    server: bool
    mac: str = "52:54:00:12:34:01"


def guest_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items()
           if (k in PASS_ENV or k.startswith(PASS_PREFIXES)) and k not in DROP_ENV}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.setdefault("HOME", "/root")
    if extra:
        env.update(extra)
    env[IN_LAB_ENV] = "1"
    return env


def _run_script(argv: Sequence[str], env: Mapping[str, str], cwd: str) -> str:
    lines = ["# written by ipvlan_tui.lab.vm; run by the guest's init with the host's /bin/sh",
             "umask 022"]
    for k, v in sorted(env.items()):
        if k.replace("_", "a").isalnum() and not k[0].isdigit():
            lines.append(f"export {k}={shlex.quote(v)}")
    lines.append(f"cd {shlex.quote(cwd)} || exit 125")
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines) + "\n"


def _set_pdeathsig() -> None:
    """In the qemu child: die with the parent (no VM left behind if we are killed)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort only
        pass


_TCG = ["-accel", "tcg,thread=multi", "-cpu", "max"]
_KVM = ["-accel", "kvm", "-cpu", "host"]


def _kvm_works(qemu: str, man: provision.Manifest) -> bool:
    """Can this host run a plain guest under KVM? Probed once and remembered in the cache.

    The probe boots the kernel with no root: under a working KVM it panics
    ("unable to mount root") and qemu exits 0 within seconds; a KVM that only
    serves special guests makes qemu abort at once."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        st = os.stat(qemu)
    except OSError:
        return False
    key = f"{qemu}:{st.st_mtime_ns}:{man.kernel_version}"
    stamp = provision.cache_dir() / "kvm-probe.txt"
    try:
        cached_key, verdict = stamp.read_text().split("\n")[:2]
        if cached_key == key:
            return verdict == "yes"
    except (OSError, ValueError):
        pass
    argv = [qemu, "-nodefaults", "-no-user-config", "-no-reboot", *_KVM, "-m", "256", "-display", "none",
            "-serial", "none", "-nic", "none", "-kernel", man.boot_image(),
            "-append", "panic=-1 loglevel=0 console=none"]
    ok = False
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_set_pdeathsig)
    try:
        ok = proc.wait(timeout=30) == 0
    except subprocess.TimeoutExpired:
        ok = False
    finally:
        _kill(proc)
    try:
        stamp.write_text(f"{key}\n{'yes' if ok else 'no'}\n")
    except OSError:
        pass
    return ok


def _accel_args(qemu: str, man: provision.Manifest) -> list[str]:
    """IPVLAN_TUI_LAB_ACCEL: auto (default: KVM when a probe shows it works, else TCG), kvm, tcg."""
    mode = os.environ.get("IPVLAN_TUI_LAB_ACCEL", "auto")
    if mode == "kvm":
        return list(_KVM)
    if mode == "auto" and _kvm_works(qemu, man):
        return list(_KVM)
    return list(_TCG)


def qemu_argv(qemu: str, man: provision.Manifest, initrd: Path, share: Path, *, memory_mb: int,
              cpus: int, mode: str, console_log: Path | None = None,
              stdout_sock: Path | None = None, stderr_sock: Path | None = None,
              wire: Wire | None = None) -> list[str]:
    argv = [qemu, "-nodefaults", "-no-user-config", "-no-reboot", *_accel_args(qemu, man),
            "-m", str(memory_mb), "-smp", str(cpus), "-vga", "none",
            "-kernel", man.boot_image(), "-initrd", str(initrd),
            "-append", KERNEL_CMDLINE + (" lab.debug" if os.environ.get("IPVLAN_TUI_LAB_DEBUG") == "1" else ""),
            "-nic", "none",
            # SeaBIOS: no banner / screen clear on the serial console
            "-fw_cfg", "name=etc/sercon-port,string=0",
            "-fsdev", "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap",
            "-device", f"virtio-9p-pci,fsdev=hostroot,mount_tag={initramfs.HOSTROOT_TAG}",
            "-fsdev", f"local,id=share,path={share},security_model=none,multidevs=remap",
            "-device", f"virtio-9p-pci,fsdev=share,mount_tag={initramfs.SHARE_TAG}"]
    if mode == "shell":
        argv += ["-nographic", "-chardev", "stdio,id=con0,mux=on,signal=off",
                 "-serial", "chardev:con0", "-mon", "chardev=con0,mode=readline"]
    else:
        assert console_log and stdout_sock and stderr_sock
        argv += ["-display", "none", "-monitor", "none",
                 "-chardev", f"file,id=con0,path={console_log}", "-serial", "chardev:con0",
                 "-device", "virtio-serial-pci,id=vser0",
                 "-chardev", f"socket,id=labout,path={stdout_sock}",
                 "-device", f"virtserialport,bus=vser0.0,nr=1,chardev=labout,name={initramfs.STDOUT_PORT}",
                 "-chardev", f"socket,id=laberr,path={stderr_sock}",
                 "-device", f"virtserialport,bus=vser0.0,nr=2,chardev=laberr,name={initramfs.STDERR_PORT}"]
    if wire is not None:
        server = "on" if wire.server else "off"
        argv += ["-netdev", f"stream,id=n0,server={server},addr.type=unix,addr.path={wire.socket_path}",
                 "-device", f"virtio-net-pci,netdev=n0,mac={wire.mac},romfile="]  # no iPXE ROM
    return argv


def _default_cpus() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _remove_stale_run_dirs() -> None:
    """Run dirs left by a lab run that was SIGKILLed (its owner pid is gone)."""
    for d in Path(tempfile.gettempdir()).glob("ipvlan-tui-lab-*"):
        owner = d / "owner.pid"
        try:
            if d.stat().st_uid != os.getuid() or not owner.exists():
                continue
            pid = int(owner.read_text().strip() or "0")
            if pid == os.getpid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            continue


class _Prepared:
    """The per-run directories: a private control dir and the writable share."""

    def __init__(self, share_dir: str | os.PathLike[str] | None) -> None:
        _remove_stale_run_dirs()
        self.ctl = Path(tempfile.mkdtemp(prefix="ipvlan-tui-lab-"))
        (self.ctl / "owner.pid").write_text(str(os.getpid()))
        self.own_share = share_dir is None
        self.share = Path(share_dir).absolute() if share_dir else self.ctl / "share"
        self.share.mkdir(parents=True, exist_ok=True)
        for stale in ("rc", "rc.tmp", "init-error", "started"):
            (self.share / stale).unlink(missing_ok=True)

    def cleanup(self) -> None:
        if self.own_share:
            shutil.rmtree(self.ctl, ignore_errors=True)
        else:
            for name in ("lab.env", "run.sh", "rc", "init-error", "started"):
                (self.share / name).unlink(missing_ok=True)
            shutil.rmtree(self.ctl, ignore_errors=True)


def extra_modules(man: provision.Manifest, modules: Sequence[str] = (), wire: Wire | None = None) -> list[str]:
    """Optional modules to insmod at boot: asked for, env IPVLAN_TUI_LAB_MODULES, the wire's NIC."""
    want = list(modules)
    want += [m for m in os.environ.get("IPVLAN_TUI_LAB_MODULES", "").replace(",", " ").split() if m]
    if wire is not None:
        want.append("virtio_net")
    if "all" in want:
        return [m for m in man.modules if m not in man.core]
    return sorted(man.closure(want) - set(man.core))


def _write_guest_files(prep: _Prepared, argv: Sequence[str], env: Mapping[str, str], cwd: str,
                       mode: str, rows: int = 24, cols: int = 80, modules: Sequence[str] = ()) -> None:
    cache_mode = os.environ.get("IPVLAN_TUI_LAB_9P_CACHE", "loose")
    (prep.share / "lab.env").write_text(
        f"LAB_MODE={mode}\nLAB_SHARE={shlex.quote(str(prep.share))}\n"
        f"LAB_MODULES={shlex.quote(' '.join(modules))}\n"
        f"LAB_ROWS={int(rows)}\nLAB_COLS={int(cols)}\nLAB_CACHE_MODE={shlex.quote(cache_mode)}\n")
    (prep.share / "run.sh").write_text(_run_script(argv, env, cwd))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()  # by the PID we started, nothing else
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _boot_parts() -> tuple[str, provision.Manifest, Path]:
    qemu = provision.find_qemu()
    man = provision.load_manifest()
    initrd = initramfs.ensure(man)
    return qemu, man, initrd


def run_in_lab(argv: Sequence[str], memory_mb: int = DEFAULT_MEMORY_MB, timeout: float | None = None,
               env: Mapping[str, str] | None = None, *, cpus: int | None = None,
               cwd: str | os.PathLike[str] | None = None,
               stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
               share_dir: str | os.PathLike[str] | None = None, wire: Wire | None = None,
               modules: Sequence[str] = ()) -> int:
    """Boot the lab VM, run `argv` as root in the host tree, return its exit code.

    - cwd: the guest command's working directory (default: ours). The guest sees
      the host's files at the same paths; its writes stay in the VM.
    - env: extra variables on top of the passed-through essentials (PATH,
      VIRTUAL_ENV, PYTHONPATH, HOME, ...); IPVLAN_TUI_IN_LAB=1 is always set.
    - stdout/stderr: binary streams that receive CMD's output as it arrives
      (default: our own stdout/stderr).
    - share_dir: a host directory the guest can write (same path inside);
      default: a fresh temp dir, deleted afterwards.
    - timeout: seconds for boot + command; LabTimeout after that (VM killed).
    - modules: optional modules to load too (e.g. "vxlan", "tun"; see
      provision.OPTIONAL_MODULES; env IPVLAN_TUI_LAB_MODULES adds more, "all" loads all).
    - wire: a Wire joins this VM to another lab VM (loads virtio_net).

    Raises QemuMissing, LabNotSetUp, LabTimeout, KernelPanic, LabBootError.
    """
    if not argv:
        raise ValueError("run_in_lab needs a command")
    qemu, man, initrd = _boot_parts()
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr.buffer
    cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
    prep = _Prepared(share_dir)
    proc: subprocess.Popen[bytes] | None = None
    listeners: list[socket.socket] = []
    conns: list[socket.socket] = []
    try:
        _write_guest_files(prep, argv, guest_env(env), cwd, "exec",
                           modules=extra_modules(man, modules, wire))
        console = prep.ctl / "console.log"
        qemu_log = prep.ctl / "qemu.log"
        socks = [prep.ctl / "stdout.sock", prep.ctl / "stderr.sock"]
        for path in socks:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(str(path))
            s.listen(1)
            s.settimeout(0.2)
            listeners.append(s)
        cmd = qemu_argv(qemu, man, initrd, prep.share, memory_mb=memory_mb,
                        cpus=cpus or _default_cpus(), mode="exec", console_log=console,
                        stdout_sock=socks[0], stderr_sock=socks[1], wire=wire)
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        with open(qemu_log, "wb") as qlog:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                    preexec_fn=_set_pdeathsig)

        def details() -> str:
            parts = []
            q = _tail(qemu_log)
            if q:
                parts.append("qemu said:\n" + q)
            c = _tail(console, 40)
            if c:
                parts.append("guest console (last lines):\n" + c)
            return "\n".join(parts)

        def check_deadline() -> None:
            if deadline is not None and time.monotonic() > deadline:
                _kill(proc)
                started = (prep.share / "started").exists()
                where = "while the command ran" if started else "before the command started (boot hang?)"
                raise LabTimeout(f"the lab VM did not finish within {timeout:g} s ({where}); "
                                 "killed it", hint="raise --timeout, or find what hangs",
                                 details=details())

        # qemu connects to both sockets while it starts
        for s in listeners:
            while True:
                try:
                    conn, _ = s.accept()
                    break
                except socket.timeout:
                    if proc.poll() is not None:
                        raise LabBootError(f"qemu exited with code {proc.returncode} before it started the VM",
                                           details=details())
                    check_deadline()
            conn.setblocking(False)
            conns.append(conn)

        sel = selectors.DefaultSelector()
        sinks = {conns[0].fileno(): out, conns[1].fileno(): err}
        for c in conns:
            sel.register(c, selectors.EVENT_READ)
        open_conns = len(conns)
        qemu_done_at: float | None = None
        while open_conns:
            wait = 0.5
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            for key, _ in sel.select(wait):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    open_conns -= 1
                    continue
                sink = sinks[key.fileobj.fileno()]  # type: ignore[union-attr]
                sink.write(data)
                sink.flush()
            if proc.poll() is not None:
                # qemu is gone: its sockets reach EOF right away; give them a moment
                qemu_done_at = qemu_done_at or time.monotonic()
                if time.monotonic() - qemu_done_at > 2:
                    break
            else:
                check_deadline()
        sel.close()
        try:
            proc.wait(timeout=None if deadline is None else max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            check_deadline()
            _kill(proc)

        if os.environ.get("IPVLAN_TUI_LAB_DEBUG") == "1":
            err.write(f"--- lab debug: qemu ran {time.monotonic() - start:.1f} s; guest console:\n".encode())
            err.write(console.read_bytes() if console.exists() else b"(none)\n")
            err.flush()
        rc_file = prep.share / "rc"
        if rc_file.exists():
            try:
                return int(rc_file.read_text().strip())
            except ValueError:
                raise LabBootError(f"the guest wrote a bad exit code: {rc_file.read_text()!r}",
                                   details=details()) from None
        console_text = console.read_text(errors="replace") if console.exists() else ""
        if any(sign in console_text for sign in PANIC_SIGNS):
            raise KernelPanic("the lab VM's kernel panicked" +
                              (" while the command ran" if (prep.share / "started").exists() else
                               " during boot"),
                              hint="see the guest console below", details=details())
        init_err = prep.share / "init-error"
        if init_err.exists():
            raise LabBootError("the lab VM could not start the command: " + init_err.read_text().strip(),
                               details=details())
        raise LabBootError(f"the lab VM stopped (qemu exit code {proc.returncode}) without "
                           "reporting an exit code", details=details())
    finally:
        if proc is not None:
            _kill(proc)
        for s in listeners + conns:
            s.close()
        prep.cleanup()


def run_shell(memory_mb: int = DEFAULT_MEMORY_MB, *, cpus: int | None = None,
              argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
              cwd: str | os.PathLike[str] | None = None, wire: Wire | None = None,
              modules: Sequence[str] = ()) -> int:
    """An interactive shell (or `argv`) on the caller's terminal via the serial console.

    qemu owns the terminal (raw mode); Ctrl-A X kills the VM. The guest powers
    off when the program exits; returns the program's exit code.
    """
    qemu, man, initrd = _boot_parts()
    if argv is None:
        sh = os.environ.get("SHELL", "")
        argv = [sh] if sh and os.path.exists(sh) else (["/bin/bash"] if os.path.exists("/bin/bash")
                                                        else ["/bin/sh"])
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        rows, cols = size.lines, size.columns
    except OSError:
        rows, cols = 24, 80
    extra = {"TERM": os.environ.get("TERM") or "xterm-256color"}
    if env:
        extra.update(env)
    cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
    prep = _Prepared(None)
    proc: subprocess.Popen[bytes] | None = None
    try:
        _write_guest_files(prep, argv, guest_env(extra), cwd, "shell", rows, cols,
                           modules=extra_modules(man, modules, wire))
        cmd = qemu_argv(qemu, man, initrd, prep.share, memory_mb=memory_mb,
                        cpus=cpus or _default_cpus(), mode="shell", wire=wire)
        proc = subprocess.Popen(cmd, preexec_fn=_set_pdeathsig)
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:
                continue
        rc_file = prep.share / "rc"
        if rc_file.exists():
            return int(rc_file.read_text().strip() or "0")
        raise LabBootError(f"the lab VM stopped (qemu exit code {proc.returncode}) without the "
                           "shell's exit code (killed with Ctrl-A X, or a boot failure)")
    finally:
        if proc is not None:
            _kill(proc)
        prep.cleanup()


# ---------------------------------------------------------------- host probe

_PROBE = ("link add ipvt_d0 type dummy\n"
          "link add link ipvt_d0 name ipvt_v10 type vlan id 10\n"
          "link add link ipvt_d0 name ipvt_i0 type ipvlan mode l2\n")


@functools.lru_cache(maxsize=1)
def host_has_ipvlan() -> bool:
    """True when this kernel can make dummy, 802.1q and ipvlan links.

    Tried inside a throwaway network namespace (`unshare --net` + `ip -batch`),
    which vanishes with the process: the host's interfaces are never touched.
    """
    ip = shutil.which("ip") or ("/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else
                                "/sbin/ip" if os.path.exists("/sbin/ip") else None)
    unshare = shutil.which("unshare")
    if not ip or not unshare:
        return False
    tries = [[unshare, "--net", "--", ip, "-batch", "-"]]
    if os.geteuid() != 0:
        tries.insert(0, [unshare, "--user", "--map-root-user", "--net", "--", ip, "-batch", "-"])
    for argv in tries:
        try:
            res = subprocess.run(argv, input=_PROBE, text=True, capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if res.returncode == 0:
            return True
        if "Unknown device type" in res.stderr or "not supported" in res.stderr.lower():
            return False
    return False


__all__ = ["run_in_lab", "run_shell", "host_has_ipvlan", "in_lab", "guest_env", "Wire",
           "LabError", "DEFAULT_MEMORY_MB", "DOCKER_MEMORY_MB"]
