"""The kernel engine: links, endpoints, addresses, routes, errors, cleanup.

Unmarked tests run on any host (root, veth/macvlan stand-ins in namespaces
the test makes). `kernel`-marked tests need ipvlan, 8021q and dummy: the lab
plugin runs them inside the VM. They use tests/kernel/conftest.py's `host`
fixture: the test's "host" namespace is a disposable one with a dummy eth0.
Everything a test makes is deleted in finally blocks, even when it fails.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager

import pytest

from ipvlan_tui.engines import netns
from ipvlan_tui.engines.events import LinkEvent, LinkEventWatcher
from ipvlan_tui.engines.kernel import KernelEngine
from ipvlan_tui.errors import EngineError
from ipvlan_tui.model import Route

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
LAB_SECONDS = 35  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def ip(*argv: str, ns: str = "") -> str:
    pre = ["ip", "-n", ns] if ns else ["ip"]
    return subprocess.run([*pre, *argv], check=True, capture_output=True, text=True).stdout


def ip_json(*argv: str, ns: str = "") -> list[dict]:
    pre = ["ip", "-n", ns] if ns else ["ip"]
    out = subprocess.run([*pre, "-j", *argv], check=True, capture_output=True, text=True).stdout
    return json.loads(out or "[]")


@contextmanager
def namespaces(*names: str):
    made = []
    try:
        for n in names:
            netns.create(n)
            made.append(n)
        yield names
    finally:
        for n in made:
            netns.delete(n)


@pytest.fixture
def engine():
    e = KernelEngine()
    try:
        yield e
    finally:
        e.close()


# ==========================================================================
# Host tests (no marker): veth/macvlan stand-ins
# ==========================================================================
def test_namespace_create_list_delete_without_fork():
    name = f"ivt-t-{_tag()}"
    with namespaces(name):
        assert netns.exists(name) and name in netns.list_netns()
        # A real namespace of its own: only lo, and `ip netns` agrees.
        assert [l["ifname"] for l in ip_json("link", ns=name)] == ["lo"]
        inside = netns.in_netns(name, os.readlink, "/proc/thread-self/ns/net")
        assert inside != os.readlink("/proc/thread-self/ns/net")  # we never moved
        with pytest.raises(FileExistsError):
            netns.create(name)
        assert netns.create(name, exist_ok=True) == f"/run/netns/{name}"
    assert not netns.exists(name)
    assert netns.delete(name) is False


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "-x", ".", "x y", "a" * 300, "é"])
def test_namespace_names_are_checked(bad):
    with pytest.raises(ValueError):
        netns.netns_path(bad) if bad else netns.check_name(bad)


def test_missing_drivers_are_explained(engine):
    drivers = engine.probe_drivers()
    assert set(drivers) == {"ipvlan", "8021q", "dummy"}
    name = f"ivt-t-{_tag()}"
    with namespaces(name):
        ip("link", "add", "v0", "type", "veth", "peer", "name", "v1", ns=name)
        if not drivers["dummy"]:
            with pytest.raises(EngineError) as ei:
                engine.create_dummy("d0", netns=name)
            assert ei.value.errno == errno.EOPNOTSUPP
            assert "lacks the dummy driver" in str(ei.value) and "lab shell" in str(ei.value)
        if not drivers["8021q"]:
            with pytest.raises(EngineError, match="lacks the 8021q driver"):
                engine.create_vlan("v0", 10, "v0.10", netns=name)
        if not drivers["ipvlan"]:
            ep = f"ivt-t-{_tag()}"
            with namespaces(ep):
                with pytest.raises(EngineError, match="lacks the ipvlan driver"):
                    engine.create_endpoint_link(ep, "v0", "l2", "bridge", parent_netns=name)
    assert all(not n.startswith("ivt-probe-") for n in netns.list_netns())


def test_endpoint_standin_configured(engine):
    """macvlan stand-in: link made inside the namespace as eth0, addresses, routes.

    The parent is itself called eth0 in its namespace (as on most hosts): the
    kernel looks a new link's name up in the sender's namespace, so naming it
    eth0 at creation would clash; the engine must cope."""
    p, a = f"ivt-p-{_tag()}", f"ivt-a-{_tag()}"
    with namespaces(p, a):
        ip("link", "add", "eth0", "type", "veth", "peer", "name", "v1", ns=p)
        idx = engine.create_endpoint_link(a, "eth0", "l2", "private", parent_netns=p, link_kind="macvlan")
        assert sorted(l["ifname"] for l in ip_json("link", ns=p)) == ["eth0", "lo", "v1"]
        engine.configure_endpoint(a, "eth0", ["10.1.0.2/24", "fd00:1::2/64"],
                                  [Route("default", via="10.1.0.1"), Route("default", family=6),
                                   Route("10.9.0.0/16")], ifindex=idx)
        links = {l["ifname"]: l for l in ip_json("-d", "addr", "show", ns=a)}
        assert set(links) == {"lo", "eth0"}
        eth0 = links["eth0"]
        assert eth0["ifindex"] == idx and "UP" in eth0["flags"]
        assert eth0["linkinfo"]["info_kind"] == "macvlan"
        assert eth0["linkinfo"]["info_data"]["mode"] == "private"
        assert "UP" in links["lo"]["flags"]
        v6 = [x for x in eth0["addr_info"] if x["local"] == "fd00:1::2"]
        assert v6 and v6[0].get("nodad") is True and not v6[0].get("tentative")
        assert any(x["local"] == "10.1.0.2" and x["prefixlen"] == 24 for x in eth0["addr_info"])
        r4 = {r["dst"]: r for r in ip_json("route", ns=a)}
        assert r4["default"]["gateway"] == "10.1.0.1" and r4["default"]["dev"] == "eth0"
        assert r4["10.9.0.0/16"]["scope"] == "link" and "gateway" not in r4["10.9.0.0/16"]
        r6 = {r["dst"]: r for r in ip_json("-6", "route", ns=a)}
        assert r6["default"]["dev"] == "eth0" and "gateway" not in r6["default"]
        # Same address again: a clear error, not a traceback.
        with pytest.raises(EngineError, match="already exists") as ei:
            engine.configure_endpoint(a, "eth0", ["10.1.0.2/24"], [], ifindex=idx)
        assert ei.value.errno == errno.EEXIST
        # Unreachable gateway.
        with pytest.raises(EngineError, match="not reachable") as ei:
            engine.configure_endpoint(a, "eth0", [], [Route("10.50.0.0/16", via="10.60.0.1")])
        # The lean inventory sees it in the namespace with its parent in p.
        inv = engine.inventory([p, a], include_host=False)
        ep = inv.by_name("eth0", a)
        assert (ep.kind, ep.parent_name, ep.parent_netns, ep.ifindex) == ("macvlan", "eth0", p, idx)
        # A second endpoint link under the same name in the same namespace: refused, nothing left over.
        with pytest.raises(EngineError, match="already exists"):
            engine.create_endpoint_link(a, "eth0", "l2", "private", parent_netns=p, link_kind="macvlan")
        assert sorted(l["ifname"] for l in ip_json("link", ns=a)) == ["eth0", "lo"]
        # delete_link in a namespace; missing_ok
        assert engine.delete_link("eth0", netns=a) is True
        assert not engine.link_exists("eth0", netns=a)
        assert engine.delete_link("eth0", netns=a, missing_ok=True) is False
        with pytest.raises(EngineError, match="does not exist") as ei:
            engine.delete_link("eth0", netns=a)
        assert ei.value.errno == errno.ENODEV


def test_busy_parent_is_explained(engine):
    """A bridge port cannot take a macvlan (EBUSY): the same errno ipvlan/macvlan mixes give."""
    p, a = f"ivt-p-{_tag()}", f"ivt-a-{_tag()}"
    with namespaces(p, a):
        ip("link", "add", "br0", "type", "bridge", ns=p)
        ip("link", "add", "v0", "type", "veth", "peer", "name", "v1", ns=p)
        ip("link", "set", "v0", "master", "br0", ns=p)
        try:
            engine.create_endpoint_link(a, "v0", "l2", "bridge", parent_netns=p, link_kind="macvlan")
        except EngineError as exc:
            assert exc.errno == errno.EBUSY
            assert "parent v0 is busy" in str(exc)
        else:  # some kernels allow it; then there is nothing to explain
            pytest.skip("this kernel lets a bridge port carry a macvlan")


def test_engine_refuses_event_loop_thread_but_works_from_workers(engine):
    async def on_loop():
        with pytest.raises(EngineError, match="event-loop thread"):
            engine.link_exists("lo")
        # the way Textual workers / asyncio.to_thread call it
        return await asyncio.to_thread(engine.link_exists, "lo")

    assert asyncio.run(on_loop()) is True
    assert KernelEngine(allow_event_loop=True).link_exists("lo") is True


def test_cached_socket_released_when_namespace_deleted_elsewhere(engine):
    name = f"ivt-t-{_tag()}"
    with namespaces(name):
        ip("link", "add", "v0", "type", "veth", "peer", "name", "v1", ns=name)
        engine.set_up("v0", netns=name)  # a cached pyroute2 socket inside the namespace
        assert name in engine._slots
    # Removed behind the engine's back: the next pyroute2 call drops the cached thread.
    engine.set_up("lo")
    assert name not in engine._slots
    with namespaces(name):  # same name, new namespace: no stale socket used
        assert not engine.link_exists("v0", netns=name)
    assert not engine.link_exists("v0", netns=name)  # gone: False, no error


def test_events_from_a_private_namespace():
    name = f"ivt-ev-{_tag()}"
    with namespaces(name):
        got: list = []
        w = LinkEventWatcher([name], include_host=False)
        t = threading.Thread(target=w.run, args=(got.append,), daemon=True)
        t.start()
        try:
            ip("link", "add", "a1", "type", "veth", "peer", "name", "a2", ns=name)
            ip("addr", "add", "10.0.0.1/24", "dev", "a1", ns=name)
            ip("link", "set", "a1", "up", ns=name)
            ip("link", "del", "a1", ns=name)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                    e.kind == "link_removed" and e.name == "a2" for e in got):
                time.sleep(0.02)
        finally:
            w.stop()
            t.join(5)
        assert not t.is_alive()
        assert got[0] == LinkEvent("resync", name)
        kinds = [(e.kind, e.name) for e in got]
        assert ("link_added", "a1") in kinds and ("link_added", "a2") in kinds
        assert ("addr_changed", "a1") in kinds
        assert ("link_changed", "a1") in kinds
        assert ("link_removed", "a1") in kinds and ("link_removed", "a2") in kinds
        assert all(e.netns == name for e in got)


def test_events_overflow_gives_one_resync_and_watch_later():
    name, later = f"ivt-ev-{_tag()}", f"ivt-ev-{_tag()}"
    with namespaces(name, later):
        w = LinkEventWatcher([name], include_host=False, rcvbuf=1024)
        batch = "".join(f"link add b{i} type veth peer name c{i}\n" for i in range(60))
        subprocess.run(["ip", "-n", name, "-batch", "-"], input=batch, text=True, check=True)
        got: list = []
        w.run(got.append, timeout=0.3)  # returns after 0.3 s of silence, closes
        assert got[0] == LinkEvent("resync", name)  # the initial one: the watch is live
        assert [e.kind for e in got[1:]].count("resync") == 1  # one for the overflow
        # watch() a namespace while running: a resync for it, then its events
        w2 = LinkEventWatcher([], include_host=False)
        got2: list = []
        t = threading.Thread(target=w2.run, args=(got2.append,), daemon=True)
        t.start()
        try:
            w2.watch(later)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not got2:
                time.sleep(0.02)
            ip("link", "add", "z1", "type", "veth", "peer", "name", "z2", ns=later)
            while time.monotonic() < deadline and not any(e.name == "z1" for e in got2):
                time.sleep(0.02)
        finally:
            w2.stop()
            t.join(5)
        assert got2[0].kind == "resync" and got2[0].netns == later
        assert any(e.kind == "link_added" and e.name == "z1" for e in got2)


# ==========================================================================
# Kernel tests: real ipvlan, 8021q and dummy (inside the lab VM)
# ==========================================================================
def _pyroute2_link(ns: str, name: str) -> dict:
    """pyroute2's decoding (with our IFLA_IPVLAN_FLAGS nla) of one link."""

    def body():
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            msg = ipr.link("get", ifname=name)[0]
            data = msg.get(("linkinfo", "data"))
            return {
                "kind": msg.get(("linkinfo", "kind")),
                "mode": data.get("IFLA_IPVLAN_MODE") if data is not None else None,
                "flags": data.get("IFLA_IPVLAN_FLAGS") if data is not None else None,
                "vlan_id": data.get("IFLA_VLAN_ID") if data is not None else None,
                "link": msg.get("link"),
            }

    return netns.in_netns(ns, body)


@pytest.mark.kernel
def test_vlan_and_dummy(host, engine):
    try:
        assert engine.probe_drivers() == {"ipvlan": True, "8021q": True, "dummy": True}
        d_idx = engine.create_dummy("dm0")
        v_idx = engine.create_vlan("eth0", 20, "eth0.20")
        inv = engine.inventory([])
        dm, vl = inv.by_name("dm0"), inv.by_name("eth0.20")
        assert (dm.kind, dm.ifindex, dm.admin_up) == ("dummy", d_idx, True)
        assert (vl.kind, vl.vlan_id, vl.parent_name, vl.ifindex, vl.admin_up) == ("vlan", 20, "eth0", v_idx, True)
        assert vl in inv.children_of("eth0")
        ref = _pyroute2_link("", "eth0.20")
        assert ref["kind"] == "vlan" and ref["vlan_id"] == 20 and ref["link"] == inv.by_name("eth0").ifindex
        with pytest.raises(EngineError) as ei:
            engine.create_vlan("eth0", 20, "eth0.20")
        assert ei.value.errno == errno.EEXIST
        with pytest.raises(EngineError, match="does not exist"):
            engine.create_vlan("nope0", 30, "nope0.30")
        with pytest.raises(EngineError, match="out of range"):
            engine.create_vlan("eth0", 4095, "eth0.4095")
    finally:
        engine.delete_link("eth0.20", missing_ok=True)
        engine.delete_link("dm0", missing_ok=True)
    assert not engine.link_exists("eth0.20") and not engine.link_exists("dm0")


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["l2", "l3", "l3s"])
@pytest.mark.parametrize("flag", ["bridge", "private", "vepa"])
def test_endpoint_modes_and_flags_read_back(host, engine, mode, flag):
    parent = f"pr{mode}{flag[0]}"
    ep = f"ivt-ep-{_tag()}"
    try:
        engine.create_dummy(parent)
        engine.create_namespace(ep)
        idx = engine.create_endpoint_link(ep, parent, mode, flag)
        # Made inside the namespace with its final name: nothing in the host.
        assert [l["ifname"] for l in ip_json("link", ns=ep)] == ["lo", "eth0"]
        assert not any(l.name.startswith("ivt") for l in engine.inventory([]).links)  # no temporary left
        inv = engine.inventory([ep])
        link = inv.by_name("eth0", ep)
        assert (link.kind, link.ipvlan_mode, link.ipvlan_flag) == ("ipvlan", mode, flag)
        assert (link.parent_name, link.parent_netns, link.ifindex, link.admin_up) == (parent, "", idx, True)
        assert link in inv.children_of(parent)
        ref = _pyroute2_link(ep, "eth0")
        assert ref["kind"] == "ipvlan"
        assert ref["mode"] == {"l2": 0, "l3": 1, "l3s": 2}[mode]
        assert ref["flags"] == {"bridge": 0, "private": 1, "vepa": 2}[flag]
        # and `ip -d` agrees (iproute2's own decoding)
        info = ip_json("-d", "link", "show", "eth0", ns=ep)[0]["linkinfo"]["info_data"]
        assert info["mode"] == mode
        # iproute2 prints {"mode": "l2", "private": true} / {"vepa": true}; bridge has neither
        assert {k for k in ("private", "vepa") if info.get(k)} == ({flag} - {"bridge"})
    finally:
        engine.delete_namespace(ep)
        engine.delete_link(parent, missing_ok=True)


@pytest.mark.kernel
def test_endpoint_addresses_and_routes(host, engine):
    a, b, c = (f"ivt-ep-{_tag()}" for _ in range(3))
    try:
        for ns in (a, b, c):
            engine.create_namespace(ns)
        # L2: default via the gateway, IPv6 nodad.
        ia = engine.create_endpoint_link(a, "eth0", "l2", "bridge")
        engine.configure_endpoint(a, "eth0", ["192.168.1.10/24", "2001:db8:1::10/64"],
                                  [Route("default", via="192.168.1.1"), Route("default", via="2001:db8:1::1")],
                                  ifindex=ia)
        ib = engine.create_endpoint_link(b, "eth0", "l2", "bridge")
        engine.configure_endpoint(b, "eth0", ["192.168.1.11/24", "2001:db8:1::11/64"], [])
        r = {x["dst"]: x for x in ip_json("route", ns=a)}
        assert r["default"]["gateway"] == "192.168.1.1"
        r6 = {x["dst"]: x for x in ip_json("-6", "route", ns=a)}
        assert r6["default"]["gateway"] == "2001:db8:1::1"
        addrs = ip_json("addr", "show", "eth0", ns=a)[0]["addr_info"]
        v6 = [x for x in addrs if x["local"] == "2001:db8:1::10"][0]
        assert v6.get("nodad") is True and not v6.get("tentative")
        # usable at once (nodad): L2 slaves on one parent reach each other
        ping = ["ip", "netns", "exec", a, "busybox", "ping", "-c", "1", "-W", "2"]
        if subprocess.run(["which", "busybox"], capture_output=True).returncode == 0:
            assert subprocess.run([*ping, "192.168.1.11"], capture_output=True).returncode == 0
            assert subprocess.run([*ping[:4], "busybox", "ping", "-6", "-c", "1", "-W", "2", "2001:db8:1::11"],
                                  capture_output=True).returncode == 0
        # EADDRINUSE: the same address on another slave of the parent.
        with pytest.raises(EngineError) as ei:
            engine.configure_endpoint(b, "eth0", ["192.168.1.10/24"], [], ifindex=ib)
        assert ei.value.errno == errno.EADDRINUSE and "already in use" in str(ei.value)
        # L3 on another parent: default dev eth0 (v4 and v6) and a per-subnet route.
        engine.create_dummy("l3p")
        ic = engine.create_endpoint_link(c, "l3p", "l3", "bridge")
        engine.configure_endpoint(c, "eth0", ["10.5.0.2/24", "2001:db8:5::2/64"],
                                  [Route("default"), Route("default", family=6), Route("10.6.0.0/24")],
                                  ifindex=ic)
        r = {x["dst"]: x for x in ip_json("route", ns=c)}
        assert r["default"]["dev"] == "eth0" and "gateway" not in r["default"] and r["default"]["scope"] == "link"
        assert r["10.6.0.0/24"]["dev"] == "eth0" and "gateway" not in r["10.6.0.0/24"]
        r6 = {x["dst"]: x for x in ip_json("-6", "route", ns=c)}
        assert r6["default"]["dev"] == "eth0" and "gateway" not in r6["default"]
    finally:
        for ns in (a, b, c):
            engine.delete_namespace(ns)
        engine.delete_link("l3p", missing_ok=True)
    assert not any(n in netns.list_netns() for n in (a, b, c))


@pytest.mark.kernel
def test_mode_belongs_to_the_parent(host, engine):
    """The kernel keeps one mode and flag per parent: adding an `l3 private`
    slave silently turns the existing `l2 bridge` slave into `l3 private`.
    The controller must guard against this; the engine only reports it."""
    a, b = f"ivt-ep-{_tag()}", f"ivt-ep-{_tag()}"
    try:
        engine.create_dummy("mp0")
        engine.create_namespace(a)
        engine.create_namespace(b)
        engine.create_endpoint_link(a, "mp0", "l2", "bridge")
        before = engine.inventory([a]).by_name("eth0", a)
        assert (before.ipvlan_mode, before.ipvlan_flag) == ("l2", "bridge")
        engine.create_endpoint_link(b, "mp0", "l3", "private")
        inv = engine.inventory([a, b])
        first, second = inv.by_name("eth0", a), inv.by_name("eth0", b)
        assert (second.ipvlan_mode, second.ipvlan_flag) == ("l3", "private")
        assert (first.ipvlan_mode, first.ipvlan_flag) == ("l3", "private")  # changed under its feet
        assert {l.netns for l in inv.children_of("mp0")} == {a, b}
    finally:
        engine.delete_namespace(a)
        engine.delete_namespace(b)
        engine.delete_link("mp0", missing_ok=True)


@pytest.mark.kernel
def test_macvlan_on_ipvlan_parent_is_busy(host, engine):
    a, b = f"ivt-ep-{_tag()}", f"ivt-ep-{_tag()}"
    try:
        engine.create_dummy("bp0")
        engine.create_namespace(a)
        engine.create_namespace(b)
        engine.create_endpoint_link(a, "bp0", "l2", "bridge")
        with pytest.raises(EngineError) as ei:
            engine.create_endpoint_link(b, "bp0", "l2", "bridge", link_kind="macvlan")
        assert ei.value.errno == errno.EBUSY
        assert "parent bp0 is busy" in str(ei.value) and "one of ipvlan or macvlan" in str(ei.value)
        assert [l["ifname"] for l in ip_json("link", ns=b)] == ["lo"]  # nothing half-made
    finally:
        engine.delete_namespace(a)
        engine.delete_namespace(b)
        engine.delete_link("bp0", missing_ok=True)


@pytest.mark.kernel
def test_cleanup_deleting_parent_removes_slaves(host, engine):
    a = f"ivt-ep-{_tag()}"
    try:
        engine.create_dummy("cp0")
        engine.create_namespace(a)
        engine.create_endpoint_link(a, "cp0", "l3s", "vepa")
        assert engine.link_exists("eth0", netns=a)
        assert engine.delete_link("cp0") is True
        assert not engine.link_exists("eth0", netns=a)  # the kernel removed the slave
        assert engine.delete_namespace(a) is True
        assert not engine.namespace_exists(a)
        assert engine.delete_namespace(a) is False
        with pytest.raises(EngineError, match="does not exist"):
            engine.create_endpoint_link(a, "eth0")
    finally:
        engine.delete_namespace(a)
        engine.delete_link("cp0", missing_ok=True)


def test_backend_interface_for_the_controller(engine):
    """engines/base.py's KernelBackend: the names and strictness the controller relies on."""
    from ipvlan_tui.engines.base import KernelBackend

    assert isinstance(engine, KernelBackend)
    name = f"ivt-t-{_tag()}"
    try:
        engine.create_netns(name)
        assert engine.netns_exists(name)
        with pytest.raises(EngineError) as ei:
            engine.create_netns(name)
        assert ei.value.errno == errno.EEXIST
        assert engine.link_index("lo", name) == 1
        assert engine.link_index("nope", name) is None
        assert engine.link_index("lo", "ivt-missing-" + _tag()) is None
        engine.delete_netns(name)
        assert not engine.netns_exists(name)
        with pytest.raises(EngineError) as ei:
            engine.delete_netns(name)
        assert ei.value.errno == errno.ENOENT
    finally:
        netns.delete(name)


def test_watch_follows_namespaces_as_they_come_and_go(engine):
    name = f"ivt-w-{_tag()}"
    got: list[dict] = []
    stop = threading.Event()
    t = threading.Thread(target=engine.watch, args=(got.append, stop.is_set), daemon=True)
    t.start()

    def wait_for(pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(e) for e in list(got)):
                return True
            time.sleep(0.02)
        return False

    try:
        assert wait_for(lambda e: e["kind"] == "resync" and e["netns"] == "")  # live
        netns.create(name)
        assert wait_for(lambda e: e["kind"] == "resync" and e["netns"] == name)
        ip("link", "add", "w1", "type", "veth", "peer", "name", "w2", ns=name)
        assert wait_for(lambda e: e["kind"] == "link_added" and e["name"] == "w1" and e["netns"] == name)
        netns.delete(name)
        assert wait_for(lambda e: e["kind"] == "link_removed" and e["name"] == "*" and e["netns"] == name)
    finally:
        stop.set()
        t.join(5)
        netns.delete(name)
    assert not t.is_alive()


def test_cached_sockets_are_bounded():
    names = [f"ivt-c-{_tag()}" for _ in range(3)]
    e = KernelEngine(max_namespaces=2)
    try:
        with namespaces(*names):
            for n in names:
                e.set_up("lo", netns=n)
            assert list(e._slots) == names[1:]  # least recently used one closed
            e.set_up("lo", netns=names[0])
            assert list(e._slots) == [names[2], names[0]]
    finally:
        e.close()
    assert not e._slots
