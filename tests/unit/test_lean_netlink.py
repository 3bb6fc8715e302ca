"""Hand-written netlink against the libraries' own answers (host, root, veth/macvlan).

- inventory._cidr against ipaddress (random destinations, IPv4-mapped tails);
- inventory.dump_main_routes (main table asked of the kernel) against
  pyroute2's dump of the same namespace filtered to the main table.
Namespaces are made for the test and deleted afterwards; the host is only read.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import subprocess
import tempfile
import uuid

import pytest

from ipvlan_tui.engines import inventory, netns

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create namespaces")


def test_cidr_text_matches_ipaddress():
    rnd = random.Random(7)
    for _ in range(20000):
        v6 = rnd.random() < 0.6
        size = 16 if v6 else 4
        raw = bytes(rnd.getrandbits(8) for _ in range(size))
        r = rnd.random()
        if v6 and r < 0.2:
            raw = bytes(10) + b"\xff\xff" + raw[12:]  # ::ffff:a.b.c.d
        elif v6 and r < 0.3:
            raw = bytes(12) + raw[12:]  # ::a.b.c.d
        elif r < 0.4:
            raw = bytes(size)
        plen = rnd.randint(0, 128 if v6 else 32)
        family = socket.AF_INET6 if v6 else socket.AF_INET
        want = str(ipaddress.ip_network(f"{socket.inet_ntop(family, raw)}/{plen}", strict=False))
        assert inventory._cidr(family, raw, plen) == want
    assert inventory._cidr(socket.AF_INET, None, 0) == "0.0.0.0/0"
    assert inventory._cidr(socket.AF_INET6, None, 0) == "::/0"


def _ip_batch(ns: str, lines: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        subprocess.run(["ip", "-n", ns, "-batch", f.name], check=True, capture_output=True, text=True)
    finally:
        os.unlink(f.name)


@pytest.fixture
def routed_namespace():
    name = f"ivt-lean-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    try:
        lines = ["link set lo up", "link add r0 type veth peer name r0p", "link set r0 up", "link set r0p up",
                 "addr add 10.1.2.3/24 dev r0", "addr add 2001:db8::5/64 dev r0 nodad",
                 "route add default via 10.1.2.1", "route add 172.16.0.0/12 via 10.1.2.1",
                 "route add 10.1.2.128/25 dev r0 proto static", "route add blackhole 10.9.0.0/16",
                 "route add prohibit 192.0.2.0/24", "route add 10.7.0.0/16 dev r0 table 100",
                 "route add ::ffff:0:0/96 dev r0", "route add ::1.2.3.0/120 dev r0",
                 "route add 2001:db8:0:0:1::/80 dev r0", "route add unreachable 2001:db8:9::/48",
                 "route add 2001:db8:7::/48 dev r0 table 100"]
        for i in range(40):
            lines += [f"link add m{i} link r0 type macvlan mode bridge", f"link set m{i} up",
                      f"addr add 10.50.{i}.1/24 dev m{i}"]
        _ip_batch(name, lines)
        yield name
    finally:
        netns.delete(name)


@root_only
def test_main_routes_match_pyroute2(routed_namespace):
    def ours():
        sock = inventory.open_route_socket()
        try:
            routes = inventory.dump_main_routes(sock)
            # the socket is usable for the other dumps afterwards (strict checking reset)
            return routes, len(inventory.dump_links(sock)), len(inventory.dump_addrs(sock))
        finally:
            sock.close()

    def theirs():
        from pyroute2 import IPRoute

        out = set()
        with IPRoute() as ipr:
            for family in (socket.AF_INET, socket.AF_INET6):
                for r in ipr.route("dump", family=family):
                    table = r.get_attr("RTA_TABLE") or r["table"]
                    if table != 254 or r["type"] not in (1, 6, 7, 8):
                        continue
                    dst = r.get_attr("RTA_DST")
                    text = (f"{dst}/{r['dst_len']}" if dst else
                            ("0.0.0.0/0" if family == socket.AF_INET else "::/0"))
                    out.add(str(ipaddress.ip_network(text, strict=False)))
        return out

    routes, n_links, n_addrs = netns.in_netns(routed_namespace, ours)
    want = netns.in_netns(routed_namespace, theirs)
    assert len(routes) == len(set(routes))
    assert set(routes) == want
    assert "10.7.0.0/16" not in routes and "2001:db8:7::/48" not in routes  # table 100
    assert {"0.0.0.0/0", "10.50.39.0/24", "::ffff:0:0/96", "::102:300/120", "2001:db8:9::/48"} <= set(routes)
    assert n_links == 43 and n_addrs >= 42
