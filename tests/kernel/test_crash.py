"""Crash at every step: SIGKILL after each plan step, then `restore` makes it whole.

For network create, run, rm and network rm, the process kills itself right
after step n (IPVLAN_TUI_KILL_AT, see plan.py). `ipvlan-tui restore` must then
leave kernel and store consistent: the operation finished or fully undone,
nothing leaked, nothing that someone else made touched. The matrix of steps
x outcomes is printed (pytest -s, or the lab's replayed output).

Each crashing command is a process of its own running the CLI's main(): a
fork of a runner that imported ipvlan_tui once (a fresh `python -m ipvlan_tui`
spends ~17 s starting under TCG). The runner never opens the store or a
netlink socket, so every child starts from what a new process would have; the
SIGKILL ends a real process mid-plan. The cases follow each other on one host:
what `restore` leaves is brought to the next case's starting state with the
fewest commands (a step count is the same whatever the addresses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

from tests.kernel.conftest import arrange, sh

pytestmark = pytest.mark.kernel
LAB_SECONDS = 125  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)

MATRIX: list[str] = []
NET = ["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "cn"]
# (plan, steps, endpoints on network cn before the command (None: no network), command)
CASES = [
    ("network create", 3, None, NET),
    ("run", 6, ("keep",), ["run", "--net=cn", "--name=victim"]),
    ("rm", 3, ("victim",), ["rm", "victim"]),
    ("network rm", 6, ("victim",), ["network", "rm", "--force", "cn"]),
]

# Forks one child per command; the child runs the CLI like `python -m ipvlan_tui ARGS`
# with the job's environment, its stdout+stderr to the job's log. Answers the wait status.
RUNNER = r"""
import json, os, signal, sys
import ipvlan_tui.cli, ipvlan_tui.controller, ipvlan_tui.engines.kernel  # every command's imports, once
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        rc = 70
        try:
            os.environ.update(job["env"])
            log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            sys.argv = ["ipvlan-tui", *job["argv"]]
            rc = ipvlan_tui.cli.main(job["argv"])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(rc if isinstance(rc, int) else 70)
    expired = []
    def expire(*_):
        expired.append(True)
        os.kill(pid, signal.SIGKILL)
    signal.signal(signal.SIGALRM, expire)
    signal.alarm(job["timeout"])
    _, status = os.waitpid(pid, 0)
    signal.alarm(0)
    print(json.dumps({"status": status, "timed_out": bool(expired)}), flush=True)
"""


class Forker:
    """The runner process (started in the test's namespace, so its children are too)."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.errlog = open(os.path.join(workdir, "runner.err"), "w+")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-c", RUNNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errlog, text=True)
        self.started = False

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self.errlog.seek(0)
            raise AssertionError(f"crash runner died ({self.proc.poll()}):\n{self.errlog.read()}")
        return line

    def run(self, env: dict[str, str], *argv: str, timeout: int = 120) -> tuple[int, str]:
        """(exit code, or -signal like subprocess; the child's output)."""
        if not self.started:
            assert self._line() == "ready\n"
            self.started = True
        log = os.path.join(self.workdir, "child.log")
        self.proc.stdin.write(json.dumps({"argv": list(argv), "env": env, "log": log,
                                          "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        with open(log) as f:
            output = f.read()
        assert not answer["timed_out"], f"ipvlan-tui {' '.join(argv)}: no end in {timeout} s\n{output}"
        status = answer["status"]
        return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), output

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errlog.close()


@pytest.fixture
def forker(host):
    with tempfile.TemporaryDirectory(prefix="ipvlan-tui-crash-") as workdir:
        runner = Forker(workdir)
        try:
            yield runner
        finally:
            runner.close()


def consistent(host, foreign_links: set[str]) -> dict:
    """Kernel and store agree, nothing leaked; returns a summary of what exists."""
    nets = {n["Name"]: n for n in json.loads(host.ok("network", "ls", "--json"))}
    eps = {e["Name"]: e for e in json.loads(host.ok("ps", "--json"))}
    links = host.links()
    namespaces = host.namespaces()
    for ep in eps.values():
        assert ep["State"] == "running", ep
        assert ep["Name"] in namespaces
    made = {link for net in nets.values() for link in net["CreatedLinks"]}
    for net in nets.values():
        for link in net["CreatedLinks"]:
            assert link in links, (link, net)
    assert namespaces == set(eps), (namespaces, set(eps))
    assert foreign_links <= links  # what others made is untouched
    assert links == {"lo"} | foreign_links | made, (links, made)  # no link left over
    assert "nothing to do" in host.ok("restore")
    return {"networks": sorted(nets), "endpoints": sorted(eps),
            "vlan": "eth0.20" in links}


def clean_slate(host, foreign: set[str]) -> None:
    """Removing what is left of ours (as a user would) leaves nothing."""
    assert host.namespaces() == set()
    links = host.links()
    assert links == {"lo"} | foreign, links


def test_crash_at_every_step(host, forker):
    sh("ip", "link", "add", "link", "eth0", "name", "eth0.99", "type", "vlan", "id", "99")
    foreign = {"eth0", "eth0.99"}
    env = {"IPVLAN_TUI_STATE_DIR": str(host.state_dir)}
    state = consistent(host, foreign)
    tried = 0
    for title, steps, endpoints, args in CASES:
        for n in range(1, steps + 1):
            t0 = time.monotonic()
            arrange(host, NET, endpoints, state["networks"], state["endpoints"],
                    lambda: clean_slate(host, foreign))
            rc, output = forker.run({**env, "IPVLAN_TUI_KILL_AT": f"{title}:{n}"}, *args)
            assert rc == -9, f"{title} step {n}: expected SIGKILL, got {rc}\n{output}"
            report = host.ok("restore")
            state = consistent(host, foreign)
            tried += 1
            verdict = ("finished" if ("victim" in state["endpoints"]) == (title == "run")
                       and (("cn" in state["networks"]) == (title != "network rm"))
                       else "undone")
            MATRIX.append(f"{title:15} kill after step {n}: {verdict:8} "
                          f"restore said: {report.strip().splitlines()[0] if report.strip() else '-'}"
                          f" ({time.monotonic() - t0:.1f} s)")
    # What the last crash left goes cleanly too.
    arrange(host, NET, None, state["networks"], state["endpoints"], lambda: clean_slate(host, foreign))
    print("\n".join(["crash matrix:", *MATRIX, f"{tried} crash points, 0 leaks"]))
    assert tried == 18
