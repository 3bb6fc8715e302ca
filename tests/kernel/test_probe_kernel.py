"""Predictions against a real ipvlan kernel: zero surprises.

Built with plain `ip` commands (not through the tool) inside the disposable
host namespace of the `host` fixture (tests/kernel/conftest.py: a fresh
namespace with a dummy `eth0` 192.168.1.250/24), so every address pinged
lives in a namespace this test made. The same layout is described by hand as
a Topology; expect.predict() must agree with what probe measures, pair by
pair and over the whole matrix.

    eth0 (dummy, 192.168.1.250/24, 2001:db8:abc2::250/64)
      l2net   L2 bridge on eth0: 192.168.1.0/24, 192.168.116.0/24, 2001:db8:abc2::/64
      l3net   L3 on eth0.20:     192.168.214.0/24, 10.1.214.0/24 (default dev eth0)
      v30     L2 on eth0.30:     192.168.30.0/24
      priv    L2 private on eth0.40, vepa L2 vepa on eth0.50
    dm-iso    L3 --internal on a dummy: 172.28.230.0/24, 172.28.231.0/24 (a route per own subnet)
    dm-nopar  L2, no parent given: 192.168.10.0/24, no gateway, no default route
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from ipvlan_tui import probe
from ipvlan_tui.expect import PARENT, predict, verdict
from ipvlan_tui.model import (
    PARENT_DUMMY,
    PARENT_EXISTING,
    PARENT_VLAN,
    Endpoint,
    Inventory,
    Link,
    Network,
    NetworkSpec,
    ParentPlan,
    Subnet,
    Topology,
)

pytestmark = pytest.mark.kernel
LAB_SECONDS = 70  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)


def ip(*args: str) -> None:
    res = subprocess.run(["ip", *args], capture_output=True, text=True)
    assert res.returncode == 0, f"ip {' '.join(args)}: {res.stderr.strip()}"


# name, network, ipv4/prefix, ipv6/prefix, routes
ENDPOINTS = [
    ("a1", "l2net", "192.168.1.10/24", "2001:db8:abc2::10/64", ["default via 192.168.1.1", "-6 default via 2001:db8:abc2::22"]),
    ("a2", "l2net", "192.168.1.11/24", "2001:db8:abc2::11/64", ["default via 192.168.1.1", "-6 default via 2001:db8:abc2::22"]),
    ("a3", "l2net", "192.168.116.10/24", None, ["default via 192.168.116.254"]),
    ("a6", "l2net", None, "2001:db8:abc2::16/64", ["-6 default via 2001:db8:abc2::22"]),
    ("b1", "l3net", "192.168.214.10/24", None, ["default dev eth0"]),
    ("b2", "l3net", "10.1.214.10/24", None, ["default dev eth0"]),
    ("c1", "v30", "192.168.30.2/24", None, ["default via 192.168.30.1"]),
    ("c2", "v30", "192.168.30.3/24", None, ["default via 192.168.30.1"]),
    ("d1", "iso", "172.28.230.10/24", None, ["172.28.231.0/24 dev eth0"]),
    ("d2", "iso", "172.28.231.10/24", None, ["172.28.230.0/24 dev eth0"]),
    ("e1", "nopar", "192.168.10.2/24", None, []),
    ("e2", "nopar", "192.168.10.3/24", None, []),
    ("f1", "priv", "192.168.40.2/24", None, ["default via 192.168.40.1"]),
    ("f2", "priv", "192.168.40.3/24", None, ["default via 192.168.40.1"]),
    ("g1", "vepa", "192.168.50.2/24", None, ["default via 192.168.50.1"]),
    ("g2", "vepa", "192.168.50.3/24", None, ["default via 192.168.50.1"]),
]

# network -> (parent, kind, mode, flag, internal, subnets (cidr, gateway))
NETWORKS = {
    "l2net": ("eth0", PARENT_EXISTING, "l2", "bridge", False,
              [("192.168.1.0/24", "192.168.1.1"), ("192.168.116.0/24", "192.168.116.254"),
               ("2001:db8:abc2::/64", "2001:db8:abc2::22")]),
    "l3net": ("eth0.20", PARENT_VLAN, "l3", "bridge", False,
              [("192.168.214.0/24", None), ("10.1.214.0/24", None)]),
    "v30": ("eth0.30", PARENT_VLAN, "l2", "bridge", False, [("192.168.30.0/24", "192.168.30.1")]),
    "iso": ("dm-iso", PARENT_DUMMY, "l3", "bridge", True,
            [("172.28.230.0/24", None), ("172.28.231.0/24", None)]),
    "nopar": ("dm-nopar", PARENT_DUMMY, "l2", "bridge", False, [("192.168.10.0/24", None)]),
    "priv": ("eth0.40", PARENT_VLAN, "l2", "private", False, [("192.168.40.0/24", "192.168.40.1")]),
    "vepa": ("eth0.50", PARENT_VLAN, "l2", "vepa", False, [("192.168.50.0/24", "192.168.50.1")]),
}


class Lab:
    def __init__(self, topology: Topology, eps: dict[str, Endpoint]) -> None:
        self.topology = topology
        self.eps = eps


def ip_batch(lines: list[list[str]], netns: str | None = None) -> None:
    """Several `ip` commands in one process (forks are slow in the TCG lab VM).

    Each command is an argument list joined for ip's own batch reader (no
    shell); every word here is a fixed name or an address of this test.
    """
    assert all(" " not in w and "\n" not in w for line in lines for w in line)
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    res = subprocess.run(argv, input="\n".join(" ".join(l) for l in lines) + "\n",
                         capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr.strip()}"


@pytest.fixture
def lab(host):
    """The layout above, in the host fixture's namespace; its namespaces deleted after."""
    tag = uuid.uuid4().hex[:6]
    made: list[str] = []
    try:
        host_cmds = [["addr", "add", "2001:db8:abc2::250/64", "dev", "eth0", "nodad"]]
        for vid in (20, 30, 40, 50):
            host_cmds.append(["link", "add", "link", "eth0", "name", f"eth0.{vid}", "type", "vlan",
                              "id", str(vid)])
            host_cmds.append(["link", "set", f"eth0.{vid}", "up"])
        for dummy in ("dm-iso", "dm-nopar"):
            host_cmds += [["link", "add", dummy, "type", "dummy"], ["link", "set", dummy, "up"]]
        inner: dict[str, list[list[str]]] = {}
        eps: dict[str, Endpoint] = {}
        for i, (name, netname, v4, v6, routes) in enumerate(ENDPOINTS):
            parent, _, mode, flag, _, _ = NETWORKS[netname]
            ns = f"ipvt-pk-{tag}-{name}"
            ip("netns", "add", ns)
            made.append(ns)
            tmp = f"ipv{i}"
            host_cmds.append(["link", "add", "link", parent, "name", tmp, "type", "ipvlan", "mode", mode, flag])
            host_cmds.append(["link", "set", tmp, "netns", ns])
            cmds = [["link", "set", tmp, "name", "eth0"], ["link", "set", "lo", "up"],
                    ["link", "set", "eth0", "up"]]
            if v4:
                cmds.append(["addr", "add", v4, "dev", "eth0"])
            if v6:
                cmds.append(["addr", "add", v6, "dev", "eth0", "nodad"])
            for route in routes:  # an IPv6 gateway makes it an IPv6 route
                cmds.append(["route", "add", *route.removeprefix("-6 ").split()])
            inner[ns] = cmds
            eps[name] = Endpoint(name, netname, ipv4=v4.split("/")[0] if v4 else None,
                                 ipv6=v6.split("/")[0] if v6 else None, netns=ns, state="running")
        ip_batch(host_cmds)
        for ns, cmds in inner.items():
            ip_batch(cmds, netns=ns)
        networks = []
        for netname, (parent, kind, mode, flag, internal, subnets) in NETWORKS.items():
            base, vid = (parent.split(".")[0], int(parent.split(".")[1])) if kind == PARENT_VLAN else (None, None)
            spec = NetworkSpec(netname, mode=mode, flag=flag, internal=internal,
                               parent=ParentPlan(kind, parent, base=base, vlan_id=vid),
                               subnets=tuple(Subnet(c, gateway=g) for c, g in subnets))
            networks.append(Network(spec, tuple(e for e in eps.values() if e.network == netname)))
        links = [Link(2, "eth0", "dummy", addresses=("192.168.1.250/24", "2001:db8:abc2::250/64"))]
        links += [Link(10 + v, f"eth0.{v}", "vlan", parent_name="eth0", vlan_id=v) for v in (20, 30, 40, 50)]
        links += [Link(90, "dm-iso", "dummy"), Link(91, "dm-nopar", "dummy")]
        yield Lab(Topology(Inventory(links=tuple(links)), tuple(networks)), eps)
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# (source, target, family, the rule that must apply)
PAIRS = [
    ("a1", "a2", None, "same-subnet"),
    ("a1", "a2", 6, "same-subnet"),
    ("a6", "a1", None, "same-subnet"),  # only IPv6 in common
    ("c1", "c2", None, "same-subnet"),
    ("e1", "e2", None, "same-subnet"),
    ("a1", "a1", None, "self"),
    ("a1", "a3", None, "l2-needs-router"),
    ("a3", "a1", None, "l2-needs-router"),
    ("b1", "b2", None, "l3-same-parent"),
    ("b2", "b1", None, "l3-same-parent"),
    ("d1", "d2", None, "l3-same-parent"),  # --internal: its own subnets
    ("b1", "c1", None, "different-parent"),  # eth0.20 vs eth0.30
    ("c1", "b1", None, "different-parent"),
    ("a1", "b1", None, "different-parent"),  # eth0 vs eth0.20
    ("b1", "a1", None, "different-parent"),
    ("a1", PARENT, None, "parent-isolated"),
    ("a1", PARENT, 6, "parent-isolated"),
    ("a2", "192.168.1.250", None, "parent-isolated"),
    ("b1", "192.168.1.250", None, "parent-isolated"),  # L3: the host's address
    ("c1", PARENT, None, "parent-isolated"),  # eth0.30 has none: its base eth0's
    ("d1", "a1", None, "isolated"),  # no route at all: Network is unreachable
    ("e1", "a1", None, "isolated"),
    ("a1", "e1", None, "isolated"),
    ("a3", "a6", None, "no-common-family"),
    ("f1", "f2", None, "private-flag"),
    ("g1", "g2", None, "vepa-flag"),
    ("a1", "192.168.1.77", None, "no-such-host"),
]


def _target(lab: Lab, name: str):
    return lab.eps.get(name, name)


def test_each_rule_measured_as_predicted(lab):
    plans = []
    for src, tgt, fam, rule in PAIRS:
        exp = predict(lab.topology, lab.eps[src], _target(lab, tgt), family=fam)
        assert exp.rule == rule, (src, tgt, exp)
        plans.append((src, tgt, exp))
    jobs = [probe.ProbeJob(lab.eps[s].netns, e.address, s, t, count=2, interval=0.2, timeout=1.5)
            for s, t, e in plans if e.address]
    measured = iter(probe.probe_many(jobs))
    report, surprises = [], []
    for src, tgt, exp in plans:
        if exp.address:
            res = next(measured)
        else:
            res = probe.PingResult(src, tgt, "", 0, error=exp.reason)
        kind, text = verdict(exp, res)
        report.append(f"{src:>3} -> {tgt:<14} {exp.rule:<17} {res.received}/{res.sent} {kind}: {text}")
        if kind != "expected":
            surprises.append(report[-1])
    print("\n".join(report))
    assert surprises == []


def test_errors_are_explained(lab):
    """An --internal L3 endpoint has no route outside: the kernel says so at once."""
    r = probe.ping(lab.eps["d1"].netns, "192.168.1.10", count=1, timeout=1)
    assert r.error == "Network is unreachable" and r.errors == 1
    r = probe.ping(lab.eps["b1"].netns, "10.1.214.10", count=3, interval=0.1)
    assert r.received == 3 and r.ttl == 64 and r.rtt_avg is not None


def test_whole_matrix_has_zero_surprises(lab):
    endpoints = list(lab.eps.values())
    streamed = []
    t0 = time.monotonic()
    results = probe.matrix(endpoints, count=1, timeout=1.5, on_result=streamed.append)
    elapsed = time.monotonic() - t0
    n = len(endpoints)
    assert len(results) == n * (n - 1) == len(streamed)
    surprises = []
    for res in results:
        exp = predict(lab.topology, lab.eps[res.source], lab.eps[res.target])
        kind, text = verdict(exp, res)
        if kind != "expected":
            surprises.append(f"{res.source} -> {res.target}: {text}")
    reached = sum(r.received > 0 for r in results)
    print(f"matrix: {len(results)} pairs in {elapsed:.2f} s, {reached} reachable, "
          f"{len(surprises)} surprising")
    assert surprises == []
    # About one timeout (1.5 s) plus Python under TCG emulation (4-5 s seen);
    # one pair after another would take minutes (about 0.5 s per answered pair
    # with `ip netns exec ... ping` here, 1.5 s per silent one).
    assert elapsed < 15.0
