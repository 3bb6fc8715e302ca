"""A disposable "host" namespace for kernel benchmarks, and cleanup of what they make.

The main thread moves into a fresh network namespace (as tests/kernel/conftest.py
does), so every link a benchmark makes in "the host" lives there and dies with
it; real interfaces are never in reach. Named namespaces (/run/netns/NAME) are
global, so each benchmark uses names unique to this run and deletes them all
in `finally`, even when something failed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

from ipvlan_tui.engines import netns as netnsmod

RUN_NETNS = Path("/run/netns")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


BATCH_LINES = 300  # `ip -batch` keeps an fd open per `netns NAME` argument: stay under ulimit -n (1024 in the VM)


def ip_batch(lines: list[str], *, check: bool = True, force: bool = False) -> None:
    """Run many `ip` commands in few processes (setup and teardown, never timed)."""
    if len(lines) > BATCH_LINES:
        for i in range(0, len(lines), BATCH_LINES):
            ip_batch(lines[i:i + BATCH_LINES], check=check, force=force)
        return
    if not lines:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
        path = fh.name
    try:
        argv = ["ip", *(["-force"] if force else []), "-batch", path]
        res = subprocess.run(argv, capture_output=True, text=True)
        if check and res.returncode != 0:
            raise RuntimeError(f"ip -batch failed ({res.returncode}): {res.stderr[-2000:]}")
    finally:
        os.unlink(path)


def namespaces() -> set[str]:
    return set(os.listdir(RUN_NETNS)) if RUN_NETNS.exists() else set()


def delete_namespaces(names) -> None:
    """Delete named namespaces that exist (only ones this run made are ever passed)."""
    present = namespaces()
    todo = [n for n in names if n in present]
    if todo:
        ip_batch([f"netns del {n}" for n in todo], check=False, force=True)
    for n in todo:  # anything `ip` left behind
        if (RUN_NETNS / n).exists():
            try:
                netnsmod.delete(n)
            except OSError:
                pass
        etc = Path("/etc/netns") / n
        if etc.is_dir():
            for f in etc.iterdir():
                f.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                etc.rmdir()


class Tracker:
    """Names of namespaces made by this run, deleted at the end."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def ours(self) -> list[str]:
        return sorted(n for n in namespaces() if n.startswith(self.prefix))

    def cleanup(self) -> None:
        delete_namespaces(self.ours())


@contextlib.contextmanager
def disposable_host(prefix: str, parents: tuple[tuple[str, str], ...] = ()) -> Iterator[Tracker]:
    """Move the main thread into a fresh namespace for the duration; yield a Tracker.

    parents: (name, kind) links to make there: kind "dummy", or "veth" (a pair
    NAME / NAME-p, both up) where the kernel has no dummy driver.
    Every named namespace whose name starts with `prefix` is deleted on the way out.
    """
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    tracker = Tracker(prefix)
    netnsmod.unshare(netnsmod.CLONE_NEWNET)
    try:
        sh("ip", "link", "set", "lo", "up")
        for name, kind in parents:
            if kind == "veth":
                sh("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
                sh("ip", "link", "set", name + "p", "up")
            else:
                sh("ip", "link", "add", name, "type", kind)
            sh("ip", "link", "set", name, "up")
        yield tracker
    finally:
        try:
            tracker.cleanup()
        finally:
            netnsmod.setns(saved, netnsmod.CLONE_NEWNET)
            os.close(saved)


def has_kind(kind: str) -> bool:
    """Can this kernel make a link of `kind` (tried in a throwaway namespace)?"""
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    netnsmod.unshare(netnsmod.CLONE_NEWNET)
    try:
        if kind == "macvlan":  # on a veth parent (a kernel may lack dummy)
            if sh("ip", "link", "add", "hk0", "type", "veth", "peer", "name", "hk0p", check=False).returncode != 0:
                return False
            return sh("ip", "link", "add", "link", "hk0", "name", "hk1", "type", "macvlan", check=False).returncode == 0
        if kind in ("ipvlan", "vlan"):
            if sh("ip", "link", "add", "hk0", "type", "dummy", check=False).returncode != 0:
                return False
            extra = ["type", "ipvlan", "mode", "l2"] if kind == "ipvlan" else ["type", "vlan", "id", "5"]
            return sh("ip", "link", "add", "link", "hk0", "name", "hk1", *extra, check=False).returncode == 0
        return sh("ip", "link", "add", "hk0", "type", kind, check=False).returncode == 0
    finally:
        netnsmod.setns(saved, netnsmod.CLONE_NEWNET)
        os.close(saved)


def settle(timeout: float = 60.0) -> float:
    """Wait until the kernel has finished tearing down namespaces deleted so far; returns seconds waited.

    A deleted namespace is cleaned up later by a kernel worker (in batches,
    in order), which competes for rtnl_lock and CPU with whatever runs next:
    without this, each contender would pay for its predecessor's teardown.
    A canary namespace holding one end of a veth pair is deleted last; when
    the other end (here) disappears, every namespace deleted before it is gone.
    Untimed, called between contenders. Must run where the veth end may be made
    (a disposable host namespace).
    """
    import time

    from ipvlan_tui.engines import inventory as inv

    name = f"settle{os.getpid()}"
    here = "stl0"
    t0 = time.perf_counter()
    netnsmod.create(name, exist_ok=True)
    try:
        sh("ip", "link", "add", here, "type", "veth", "peer", "name", "stl1", "netns", name)
    finally:
        netnsmod.delete(name)
    sock = inv.open_route_socket()
    try:
        body = inv._IFINFOMSG.pack(0, 0, 0, 0, 0) + inv._nla(inv.IFLA_IFNAME, here.encode() + b"\0")
        while time.perf_counter() - t0 < timeout:
            try:
                for _ in inv._messages(sock, inv._request(sock, inv.RTM_GETLINK, inv.NLM_F_REQUEST, body)):
                    pass
            except OSError:  # ENODEV: the canary's teardown has run
                return time.perf_counter() - t0
            time.sleep(0.02)
    finally:
        sock.close()
    sh("ip", "link", "del", here, check=False)
    return time.perf_counter() - t0
