"""liveview.LiveView.apply: kernel events turned into the next topology by re-reading
only the links they name must give what a full read gives, store-derived fields
(ownership marks, endpoints' live state) included; what it cannot place is a
FullRead, never a wrong view."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from ipvlan_tui import controller as controller_mod
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import IpvlanTuiError
from ipvlan_tui.liveview import TARGETED_MAX, FullRead, LiveView, Patch
from ipvlan_tui.model import EndpointRequest, Inventory, Link, NetworkRequest
from ipvlan_tui.store import Store
from ipvlan_tui.tui import actions
from tests.livechanges import random_kernel_change


@pytest.fixture
def ctl(tmp_path, monkeypatch):
    counter = itertools.count(1)
    monkeypatch.setattr(controller_mod, "_new_id", lambda: f"{next(counter):064x}")
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc", root=True)
    actions.populate_demo(c)
    return c


def events_since(kernel: FakeKernel, seen: int) -> tuple[list[dict], int]:
    return list(kernel._events[seen:]), len(kernel._events)


def test_a_link_added_is_read_alone_and_equals_a_full_read(ctl):
    live = LiveView(ctl)
    topo = live.read()
    seen = len(ctl.kernel._events)
    ctl.kernel.create_dummy("dum0")
    events, seen = events_since(ctl.kernel, seen)
    assert events == [{"kind": "link_added", "name": "dum0", "netns": "",
                       "ifindex": ctl.kernel.link_index("dum0")}]
    patch = live.apply(topo, events)
    assert isinstance(patch, Patch), patch
    assert patch.reread == 1
    assert patch.links == {"dum0"}
    assert patch.topology == ctl.topology()


def test_endpoint_namespace_and_parent_removal_follow_the_kernel(ctl):
    live = LiveView(ctl)
    topo = live.read()
    ep = next(e for n in topo.networks for e in n.endpoints if e.name == "db1")
    assert ep.state == "running"
    seen = len(ctl.kernel._events)
    ctl.kernel.delete_link("eth0", ep.netns)  # someone deletes the endpoint's link
    events, seen = events_since(ctl.kernel, seen)
    patch = live.apply(topo, events)
    assert isinstance(patch, Patch)
    assert "db1" in patch.endpoints and "db_net" in patch.networks
    assert patch.topology == ctl.topology()
    # The VLAN under db_net goes, and the kernel takes the children with it.
    topo = patch.topology
    ctl.kernel.delete_link("eth0.10")
    events, seen = events_since(ctl.kernel, seen)
    patch = live.apply(topo, events)
    assert isinstance(patch, Patch)
    assert {"eth0.10", "eth0"} <= patch.links  # the VLAN's row and its parent's count
    assert patch.topology == ctl.topology()


def test_what_it_cannot_place_is_a_full_read(ctl):
    live = LiveView(ctl)
    topo = live.read()
    assert isinstance(live.apply(topo, [{"kind": "resync", "name": "", "netns": "", "ifindex": 0}]),
                      FullRead)
    assert isinstance(live.apply(topo, [{"engine": "docker", "type": "network", "action": "create"}]),
                      FullRead)
    many = [{"kind": "link_changed", "name": f"x{i}", "netns": "", "ifindex": 0}
            for i in range(TARGETED_MAX + 1)]
    assert isinstance(live.apply(topo, many), FullRead)
    # The store changed (another process made a network): ownership and networks
    # come from it, so only a full read is right.
    ctl.create_network(NetworkRequest("other", subnets=("10.77.0.0/24",), options=("parent=eth0.77",)))
    result = live.apply(topo, [{"kind": "link_added", "name": "x", "netns": "", "ifindex": 99}])
    assert isinstance(result, FullRead) and "store" in result.reason


def test_inventory_replace_links_keeps_the_readers_order():
    links = (Link(1, "lo", "device"), Link(3, "b", "dummy"), Link(1, "lo", "device", netns="nsb"))
    inv = Inventory(links=links, namespaces=("nsb",))
    new = inv.replace_links(put=[Link(2, "a", "dummy"), Link(7, "z", "dummy"),
                                 Link(1, "lo", "device", netns="nsa")], remove=[("", 3)])
    assert [(l.netns, l.ifindex) for l in new.links] == [("", 1), ("", 2), ("", 7), ("nsa", 1), ("nsb", 1)]
    assert new.namespaces == ("nsa", "nsb")
    assert inv.replace_links(drop_namespaces=["nsb"]).namespaces == ()


@pytest.mark.parametrize("seed", range(6))
def test_random_event_sequences_equal_a_full_read(ctl, seed):
    rng = random.Random(seed)
    live = LiveView(ctl)
    topo = live.read()
    assert live._owned is not None  # owners marked from the store rows kept since the read
    seen = len(ctl.kernel._events)
    patched = full = 0
    for step in range(60):
        for _ in range(rng.choice((1, 1, 1, 2, 4))):  # a batch: what one coalescing window holds
            random_kernel_change(rng, ctl, step * 10 + _)
        events, seen = events_since(ctl.kernel, seen)
        if step % 17 == 16:  # now and then a network made meanwhile (the store changes)
            try:
                ctl.run_endpoint(EndpointRequest(f"late{step}", "lab_iso"))
            except IpvlanTuiError:
                pass  # its parent was deleted by hand: refused, rolled back (the store changed)
            events, seen = events_since(ctl.kernel, seen)
        result = live.apply(topo, events)
        if isinstance(result, FullRead):
            full += 1
            topo = live.read()
        else:
            patched += 1
            topo = result.topology
            assert topo == ctl.topology(), f"seed {seed} step {step}: {events}"
    assert patched > 40 and full >= 3


def test_owner_marks_follow_the_controller_even_when_its_rule_changes(ctl, monkeypatch):
    live = LiveView(ctl)
    live.read()
    assert live._owned is not None  # our copy of the rule agreed with every link read
    real = ctl._mark_owners

    def new_rule(inv):  # the controller's rule changes (another developer's edit, say)
        inv = real(inv)
        return replace(inv, links=tuple(replace(l, owner="docker") if l.kind == "dummy" else l
                                        for l in inv.links))

    monkeypatch.setattr(ctl, "_mark_owners", new_rule)
    topo = live.read()
    assert live._owned is None  # it disagreed on the dummies: the controller marks each batch
    seen = len(ctl.kernel._events)
    ctl.kernel.create_dummy("dum9")
    patch = live.apply(topo, ctl.kernel._events[seen:])
    assert isinstance(patch, Patch)
    assert patch.topology == ctl.topology()
    assert patch.topology.inventory.by_name("dum9").owner == "docker"
