"""Kernel tests: each runs in a network namespace of its own.

The main thread (where pytest runs tests) is moved into a fresh namespace
for the test, so the tool's "host namespace" is a disposable one with a
dummy `eth0` parent; named namespaces the test creates are deleted after it,
even when it fails. Inside the lab VM this is belt and braces; on a host
whose kernel has the drivers it keeps the real interfaces out of reach.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ipvlan_tui.engines import netns as netnsmod

RUN_NETNS = Path("/run/netns")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def arrange(host: "Host", create: list[str], endpoints: tuple[str, ...] | None,
            networks: list[str], running: list[str], emptied: Callable[[], None]) -> None:
    """Bring a consistent host from `networks` and `running` (the names `network ls`
    and `ps` show) to the start of the next case with the fewest commands: none of our
    networks (endpoints None), or the one network `create` makes (its last argument is
    the name) with exactly `endpoints` on it. For the many-cases-on-one-host tests (a
    case's own checks prove it left the host consistent). When it removes networks,
    `emptied()` then checks that nothing of ours is left."""
    name = create[-1]
    if endpoints is None or any(net != name for net in networks):
        for net in networks:
            host.ok("network", "rm", "--force", net)
        emptied()
        networks, running = [], []
    if endpoints is None:
        return
    if name not in networks:
        host.ok(*create)
    for ep in running:
        if ep not in endpoints:
            host.ok("rm", ep)
    for ep in endpoints:
        if ep not in running:
            host.ok("run", f"--net={name}", f"--name={ep}")


class Host:
    """The disposable host namespace of one test, and the CLI bound to its store."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def cli(self, *args: str) -> tuple[int, str, str]:
        from ipvlan_tui.cli import main

        out, err = io.StringIO(), io.StringIO()
        rc = main(["--state-dir", str(self.state_dir), *args], out, err)
        return rc, out.getvalue(), err.getvalue()

    def ok(self, *args: str) -> str:
        rc, out, err = self.cli(*args)
        assert rc == 0, f"ipvlan-tui {' '.join(args)} -> {rc}\n{out}\n{err}"
        return out

    def in_ns(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", ns, *argv, check=check)

    def ping(self, ns: str, addr: str, count: int = 1) -> bool:
        fam = ["-6"] if ":" in addr else []
        res = self.in_ns(ns, "busybox", "ping", *fam, "-c", str(count), "-W", "1", addr,
                         check=False)
        return res.returncode == 0

    def links(self) -> set[str]:
        """Every link name in the calling thread's namespace, down ones too (what
        `ip -o link show` lists), from /proc: an `ip` process costs a second under TCG."""
        with open("/proc/thread-self/net/dev", encoding="ascii") as f:
            return {line.split(":", 1)[0].strip() for line in f.readlines()[2:] if ":" in line}

    def namespaces(self) -> set[str]:
        return set(os.listdir(RUN_NETNS)) if RUN_NETNS.exists() else set()


@pytest.fixture
def host(tmp_path, monkeypatch):
    before = set(os.listdir(RUN_NETNS)) if RUN_NETNS.exists() else set()
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    netnsmod.unshare(netnsmod.CLONE_NEWNET)
    try:
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "eth0", "type", "dummy")
        sh("ip", "addr", "add", "192.168.1.250/24", "dev", "eth0")
        sh("ip", "link", "set", "eth0", "up")
        monkeypatch.setenv("IPVLAN_TUI_STATE_DIR", str(tmp_path / "state"))
        yield Host(tmp_path / "state")
    finally:
        after = set(os.listdir(RUN_NETNS)) if RUN_NETNS.exists() else set()
        for name in sorted(after - before):
            sh("ip", "netns", "del", name, check=False)
            etc = Path("/etc/netns") / name
            if (etc / "hosts").exists():
                (etc / "hosts").unlink()
                try:
                    etc.rmdir()
                except OSError:
                    pass
        netnsmod.setns(saved, netnsmod.CLONE_NEWNET)
        os.close(saved)
