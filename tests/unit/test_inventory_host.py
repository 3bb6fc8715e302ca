"""The lean inventory reader against pyroute2's decoding of the same namespace.

Runs on the host (root, veth + macvlan, no ipvlan needed) inside private
namespaces made for the test and deleted afterwards, even on failure. The
host's own interfaces are only read, never touched.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid

import pytest

from ipvlan_tui.engines import netns
from ipvlan_tui.engines.inventory import read_inventory

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create namespaces")

N_VETH = 60  # 60 pairs + 60 macvlans + 20 extra macvlans + lo = 201 links


def _ip_batch(ns: str, lines: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        subprocess.run(["ip", "-n", ns, "-batch", f.name], check=True, capture_output=True, text=True)
    finally:
        os.unlink(f.name)


@pytest.fixture
def two_namespaces():
    tag = uuid.uuid4().hex[:8]
    a, b = f"ivt-inv-a-{tag}", f"ivt-inv-b-{tag}"
    made: list[str] = []
    try:
        for name in (a, b):
            netns.create(name)
            made.append(name)
        lines = ["link set lo up"]
        for i in range(N_VETH):
            lines.append(f"link add v{i}a type veth peer name v{i}b")
            lines.append(f"link add m{i} link v{i}a type macvlan mode bridge")
            if i < 20:
                lines.append(f"link add mx{i} link v{i}a type macvlan mode private")
            lines.append(f"link set v{i}a mtu {1400 + i}")
            if i % 2 == 0:
                lines.append(f"link set v{i}a up")
                lines.append(f"link set v{i}b up")
                lines.append(f"link set m{i} up")
            lines.append(f"addr add 10.{i}.0.1/24 dev v{i}a")
            lines.append(f"addr add 10.{i}.1.1/30 dev v{i}a")
            lines.append(f"addr add fd00:{i:x}::1/64 dev v{i}a nodad")
            lines.append(f"addr add 10.200.{i}.2/16 dev m{i}")
        # A link whose parent stays in A, moved into B (like an ipvlan slave
        # moved into an endpoint namespace), and a veth pair split across A/B.
        lines.append("link add xns link v0a type macvlan mode bridge")
        lines.append(f"link set xns netns {b}")
        lines.append("link add pa type veth peer name pb")
        lines.append(f"link set pb netns {b}")
        _ip_batch(a, lines)
        _ip_batch(b, ["addr add 10.99.0.5/24 dev xns", "link set xns up", "link set lo up"])
        yield a, b
    finally:
        for name in made:
            netns.delete(name)


def _pyroute2_view(ns: str) -> dict[int, dict]:
    """pyroute2's own decoding, opened inside the namespace from a thread."""

    def body():
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            links = list(ipr.get_links())
            addrs = list(ipr.get_addr())
        out: dict[int, dict] = {}
        for msg in links:
            out[msg["index"]] = {
                "name": msg.get("ifname"),
                "kind": msg.get(("linkinfo", "kind")) or "device",
                "link": msg.get("link") or None,
                "link_netnsid": msg.get("link_netnsid"),
                "mtu": msg.get("mtu"),
                "mac": msg.get("address"),
                "state": (msg.get("operstate") or "unknown").lower(),
                "admin_up": bool(msg["flags"] & 1),
                "addresses": [],
            }
        for msg in addrs:
            addr = msg.get("local") or msg.get("address")
            out[msg["index"]]["addresses"].append(f"{addr}/{msg['prefixlen']}")
        return out

    return netns.in_netns(ns, body)


def test_lean_reader_matches_pyroute2(two_namespaces):
    a, b = two_namespaces
    inv = read_inventory([a, b], include_host=False)
    assert inv.errors == ()
    assert set(inv.namespaces) == {a, b}
    mine = {l.ifindex: l for l in inv.links if l.netns == a}
    theirs = _pyroute2_view(a)
    assert len(mine) >= 200
    assert set(mine) == set(theirs)
    for index, ref in theirs.items():
        link = mine[index]
        assert link.name == ref["name"], index
        assert link.kind == ref["kind"], link.name
        assert link.mtu == ref["mtu"], link.name
        assert link.mac == ref["mac"], link.name
        assert link.state == ref["state"], link.name
        assert link.admin_up == ref["admin_up"], link.name
        assert link.parent_ifindex == ref["link"], link.name
        assert sorted(link.addresses) == sorted(ref["addresses"]), link.name
        if ref["link"] and ref["link_netnsid"] is None:
            assert link.parent_name == theirs[ref["link"]]["name"], link.name
            assert link.parent_netns is None
    # Spot checks against what the batch made, not only against pyroute2.
    by_name = {l.name: l for l in mine.values()}
    assert by_name["m3"].kind == "macvlan" and by_name["m3"].parent_name == "v3a"
    assert by_name["v2a"].mtu == 1402 and by_name["v2a"].admin_up
    assert "10.2.1.1/30" in by_name["v2a"].addresses
    assert "fd00:2::1/64" in by_name["v2a"].addresses
    assert by_name["lo"].kind == "device"


def test_parent_in_another_namespace(two_namespaces):
    a, b = two_namespaces
    inv = read_inventory([a, b], include_host=False)
    moved = inv.by_name("xns", b)
    assert moved is not None and moved.kind == "macvlan"
    assert moved.parent_name == "v0a"
    assert moved.parent_netns == a
    assert [x for x in moved.addresses if not x.startswith("fe80:")] == ["10.99.0.5/24"]
    assert moved in inv.children_of("v0a")
    # The split veth pair points at each other across the namespaces.
    pb, pa = inv.by_name("pb", b), inv.by_name("pa", a)
    assert (pb.parent_name, pb.parent_netns) == ("pa", a)
    assert (pa.parent_name, pa.parent_netns) == ("pb", b)
    assert pa.parent_ifindex == pb.ifindex


def test_host_and_duplicates_and_missing(two_namespaces):
    a, b = two_namespaces
    # The same namespace under a second label (its bind-mounted file) is read once.
    inv = read_inventory([a], extra=[f"/run/netns/{a}", "pid:999999999"])
    assert any(l.netns == "" and l.name == "lo" for l in inv.links)
    assert not any(l.netns == f"/run/netns/{a}" for l in inv.links)
    assert len([e for e in inv.errors if "pid:999999999" in e]) == 1
    assert inv.host_routes is not None  # read, possibly empty on a bare host
    # A named namespace that does not exist is reported, not fatal.
    inv = read_inventory([a, "ivt-inv-missing-" + uuid.uuid4().hex[:6]], include_host=False)
    assert any("gone" in e for e in inv.errors)
    assert inv.by_name("v1a", a) is not None


def test_pid_label(two_namespaces):
    a, _b = two_namespaces
    proc = subprocess.Popen(["ip", "netns", "exec", a, "sleep", "30"])
    try:
        # wait until the child has entered the namespace
        target = os.stat(f"/run/netns/{a}").st_ino
        for _ in range(200):
            try:
                if os.stat(f"/proc/{proc.pid}/ns/net").st_ino == target:
                    break
            except FileNotFoundError:
                pass
            import time

            time.sleep(0.01)
        inv = read_inventory([], extra=[f"/proc/{proc.pid}/ns/net"], include_host=False)
        assert inv.errors == ()
        assert inv.by_name("v5a", f"pid:{proc.pid}") is not None
    finally:
        proc.kill()
        proc.wait()
