"""The lab's kernel really does dummy, 802.1q and ipvlan (l2, l3, l3s), with plain `ip`.

Everything happens in throwaway named namespaces (the parent `d0` lives in a
"base" namespace of its own), deleted afterwards even on failure, so this is
safe on a host whose kernel has the drivers too. Pings use busybox only.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

pytestmark = pytest.mark.kernel
LAB_SECONDS = 25  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {res.returncode}\n{res.stdout}{res.stderr}")
    return res


def ipn(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "-n", ns, *args, check=check)


def ping(ns: str, addr: str) -> subprocess.CompletedProcess[str]:
    fam = "-6" if ":" in addr else "-4"
    return run("ip", "netns", "exec", ns, "busybox", "ping", fam, "-c", "2", "-W", "3", addr, check=False)


@pytest.fixture
def namespaces():
    suffix = uuid.uuid4().hex[:6]
    names = {k: f"labk-{k}-{suffix}" for k in ("base", "a", "b", "c", "d")}
    made: list[str] = []
    try:
        for name in names.values():
            run("ip", "netns", "add", name)
            made.append(name)
            ipn(name, "link", "set", "lo", "up")
        yield names
    finally:
        for name in reversed(made):
            run("ip", "netns", "del", name, check=False)
        left = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        assert not left & set(made), f"namespaces left behind: {left & set(made)}"


def slave(base: str, parent: str, name: str, mode: str, ns: str, *addrs: str) -> None:
    ipn(base, "link", "add", "link", parent, "name", name, "type", "ipvlan", "mode", mode)
    ipn(base, "link", "set", name, "netns", ns)
    for a in addrs:
        extra = ["nodad"] if ":" in a else []
        ipn(ns, "addr", "add", a, "dev", name, *extra)
    ipn(ns, "link", "set", name, "up")


def test_dummy_vlan_ipvlan_modes_and_pings(namespaces):
    base, a, b, c, d = (namespaces[k] for k in ("base", "a", "b", "c", "d"))
    ipn(base, "link", "add", "d0", "type", "dummy")
    ipn(base, "link", "set", "d0", "up")
    ipn(base, "link", "add", "link", "d0", "name", "d0.10", "type", "vlan", "id", "10")
    ipn(base, "link", "add", "link", "d0", "name", "d0.20", "type", "vlan", "id", "20")
    ipn(base, "link", "set", "d0.10", "up")
    ipn(base, "link", "set", "d0.20", "up")
    shown = ipn(base, "-d", "link", "show", "d0.10").stdout
    assert "vlan protocol 802.1Q id 10" in shown, shown

    # L2 on d0: two slaves in two namespaces, IPv4 and IPv6 (nodad)
    slave(base, "d0", "iv1", "l2", a, "10.77.0.1/24", "fd77::1/64")
    slave(base, "d0", "iv2", "l2", b, "10.77.0.2/24", "fd77::2/64")
    assert "ipvlan  mode l2" in ipn(a, "-d", "link", "show", "iv1").stdout
    for ns, addr in ((a, "10.77.0.2"), (b, "10.77.0.1"), (a, "fd77::2"), (b, "fd77::1")):
        res = ping(ns, addr)
        assert res.returncode == 0, f"ping {addr} from {ns} failed:\n{res.stdout}{res.stderr}"

    # L3 on the 802.1q link d0.10: different subnets reach each other with `default dev`
    slave(base, "d0.10", "iv3", "l3", c, "10.78.1.1/24")
    slave(base, "d0.10", "iv4", "l3", d, "10.78.2.1/24")
    ipn(c, "route", "add", "default", "dev", "iv3")
    ipn(d, "route", "add", "default", "dev", "iv4")
    assert "ipvlan  mode l3 " in ipn(c, "-d", "link", "show", "iv3").stdout + " "
    res = ping(c, "10.78.2.1")
    assert res.returncode == 0, f"L3 ping across subnets failed:\n{res.stdout}{res.stderr}"

    # L3S on d0.20 (created in the base namespace, mode checked)
    ipn(base, "link", "add", "link", "d0.20", "name", "iv5", "type", "ipvlan", "mode", "l3s")
    assert "ipvlan  mode l3s" in ipn(base, "-d", "link", "show", "iv5").stdout

    # the parent keeps one mode: a slave cannot be a macvlan's neighbour (EBUSY)
    res = ipn(base, "link", "add", "link", "d0", "name", "mv0", "type", "macvlan", check=False)
    assert res.returncode != 0 and "busy" in res.stderr.lower(), res.stderr
