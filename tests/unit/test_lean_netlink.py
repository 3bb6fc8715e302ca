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


# ----------------------------------------------------------------------------- endpoint links
def _decode_newlink(body: bytes):
    """pyroute2's decoding of our RTM_NEWLINK body."""
    import struct

    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    import ipvlan_tui.engines.kernel  # noqa: F401 - registers the ipvlan data with IFLA_IPVLAN_FLAGS

    msg = ifinfmsg(struct.pack("=IHHII", 16 + len(body), 16, 0x605, 1, 0) + body)
    msg.decode()
    return msg


@pytest.mark.parametrize("mode,flag", [("l2", "bridge"), ("l3", "private"), ("l3s", "vepa")])
def test_newlink_body_ipvlan_decodes_in_pyroute2(mode, flag):
    from ipvlan_tui.engines import kernel

    m, f = kernel._mode_flag(mode, flag)
    msg = _decode_newlink(kernel._newlink_body("eth0", "ipvlan", 7, 42, kernel._link_data("ipvlan", m, f, flag),
                                               up=True))
    assert msg.get_attr("IFLA_IFNAME") == "eth0"
    assert msg.get_attr("IFLA_LINK") == 7
    assert msg.get_attr("IFLA_NET_NS_FD") == 42
    assert msg["flags"] & 1 and msg["change"] & 1
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "ipvlan"
    data = info.get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_IPVLAN_MODE") == m
    assert data.get_attr("IFLA_IPVLAN_FLAGS") == f


@pytest.mark.parametrize("flag", ["bridge", "private", "vepa"])
def test_newlink_body_macvlan_decodes_in_pyroute2(flag):
    from ipvlan_tui.engines import kernel

    msg = _decode_newlink(kernel._newlink_body("ivt0123", "macvlan", 3, 9, kernel._link_data("macvlan", 0, 0, flag)))
    assert msg.get_attr("IFLA_IFNAME") == "ivt0123" and msg.get_attr("IFLA_LINK") == 3
    assert not msg["flags"] & 1
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "macvlan"
    assert info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_MACVLAN_MODE") == flag


@pytest.fixture
def disposable_host():
    """Move the main thread into a fresh namespace (the engine's "host") with a veth parent."""
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    netns.unshare(netns.CLONE_NEWNET)
    made: list[str] = []
    try:
        for argv in (["link", "set", "lo", "up"], ["link", "add", "par0", "type", "veth", "peer", "name", "par0p"],
                     ["link", "set", "par0", "up"], ["link", "set", "par0p", "up"]):
            subprocess.run(["ip", *argv], check=True, capture_output=True)
        yield made
    finally:
        for name in made:
            netns.delete(name)
        netns.setns(saved, netns.CLONE_NEWNET)
        os.close(saved)


def _endpoint_view(ns: str) -> dict:
    def body():
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            links = {m.get_attr("IFLA_IFNAME"): m for m in ipr.get_links()}
            eth0 = links["eth0"]
            info = eth0.get_attr("IFLA_LINKINFO")
            addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=eth0["index"], family=socket.AF_INET)]
            routes = [(r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_GATEWAY"))
                      for r in ipr.route("dump", family=socket.AF_INET) if r.get_attr("RTA_TABLE") == 254]
            return {"names": sorted(links), "index": eth0["index"], "up": bool(eth0["flags"] & 1),
                    "kind": info.get_attr("IFLA_INFO_KIND"),
                    "mode": info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_MACVLAN_MODE"),
                    "addrs": addrs, "routes": routes}

    return netns.in_netns(ns, body)


def _make_endpoint(engine, name: str, made: list[str]) -> int:
    from ipvlan_tui.model import Route

    engine.create_netns(name)
    made.append(name)
    idx = engine.create_endpoint_link(name, "par0", "l2", "private", "eth0", link_kind="macvlan")
    engine.configure_endpoint(name, "eth0", ["10.77.0.5/24"], [Route("default", via="10.77.0.1")], ifindex=idx)
    return idx


@root_only
def test_endpoint_link_born_with_its_name_matches_pyroute2(disposable_host):
    from ipvlan_tui.engines.kernel import KernelEngine

    name = f"ivt-ep-{uuid.uuid4().hex[:8]}"
    with KernelEngine() as engine:
        idx = _make_endpoint(engine, name, disposable_host)
        assert len(engine._fresh) == 0  # the socket inside the namespace was let go once configured
        assert engine._final_name_ok  # no eth0 in this "host": born as eth0 directly
        view = _endpoint_view(name)
    assert view["names"] == ["eth0", "lo"] and view["index"] == idx and view["up"]
    assert view["kind"] == "macvlan" and view["mode"] == "private"
    assert view["addrs"] == ["10.77.0.5/24"]
    assert (None, 0, "10.77.0.1") in view["routes"]
    assert subprocess.run(["ip", "link", "show", "eth0"], capture_output=True).returncode != 0  # never here


@root_only
def test_endpoint_link_when_the_host_has_an_eth0(disposable_host):
    """Older kernels refuse the final name when the sender has it: the temporary name path then,
    and the host's own eth0 is never touched."""
    from ipvlan_tui.engines.kernel import KernelEngine

    subprocess.run(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], check=True,
                   capture_output=True)
    before = subprocess.run(["ip", "-o", "link", "show", "eth0"], capture_output=True, text=True).stdout
    names = [f"ivt-ep-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with KernelEngine() as engine:
        for name in names:
            _make_endpoint(engine, name, disposable_host)
        views = [_endpoint_view(n) for n in names]
    for view in views:
        assert view["names"] == ["eth0", "lo"] and view["up"] and view["mode"] == "private"
        assert view["addrs"] == ["10.77.0.5/24"]
    after = subprocess.run(["ip", "-o", "link", "show", "eth0"], capture_output=True, text=True).stdout
    assert after == before  # same index, not renamed, not moved, still down


@root_only
def test_fresh_socket_not_used_for_a_recreated_namespace(disposable_host):
    from ipvlan_tui.engines.kernel import KernelEngine

    name = f"ivt-ep-{uuid.uuid4().hex[:8]}"
    with KernelEngine() as engine:
        engine.create_netns(name)
        disposable_host.append(name)
        assert len(engine._fresh) == 1
        netns.delete(name)  # behind the engine's back, then made again by someone else
        netns.create(name)
        idx = engine.create_endpoint_link(name, "par0", "l2", "bridge", "eth0", link_kind="macvlan")
        assert len(engine._fresh) == 0
        engine.configure_endpoint(name, "eth0", ["10.77.0.6/24"], [], ifindex=idx)
        assert _endpoint_view(name)["addrs"] == ["10.77.0.6/24"]
        engine.delete_netns(name)
        assert not netns.exists(name)


@root_only
def test_fresh_sockets_bounded_and_let_go_of_deleted_namespaces():
    tag = uuid.uuid4().hex[:6]
    names = [f"ivt-fs-{tag}-{i}" for i in range(4)]
    fresh = netns.FreshSockets(limit=2)
    try:
        socks = [netns.create_with(n, inventory.open_route_socket) for n in names[:2]]
        for n, s in zip(names, socks):
            fresh.put(n, s)
        assert len(fresh) == 2
        netns.delete(names[0])  # behind its back
        fresh.put(names[2], netns.create_with(names[2], inventory.open_route_socket))
        assert len(fresh) == 2 and socks[0].fileno() == -1  # the deleted one was let go
        fresh.put(names[3], netns.create_with(names[3], inventory.open_route_socket))
        assert len(fresh) == 2 and socks[1].fileno() == -1  # the oldest was closed (limit)
        with fresh.borrow(names[3]) as sock:
            assert sock is not None and len(inventory.dump_links(sock)) == 1  # lo, inside the namespace
        with fresh.borrow(names[0]) as sock:
            assert sock is None
    finally:
        fresh.close()
        for n in names:
            netns.delete(n)
