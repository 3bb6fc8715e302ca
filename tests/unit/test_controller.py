"""The controller's logic on the in-memory kernel: plans, ownership, rollback, restore.

Breadth only: the same behaviours are proven on a real kernel in tests/kernel/.
"""

from __future__ import annotations

import pytest

from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import EngineError, PlanFailed, ValidationError
from ipvlan_tui.model import EndpointRequest, NetworkRequest
from ipvlan_tui.store import Store


@pytest.fixture
def ctl(tmp_path):
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc",
                   root=True)
    yield c
    c.store.close()


def net(name, *subnets, parent=None, mode=None, internal=False, gateways=()):
    opts = []
    if parent:
        opts.append(f"parent={parent}")
    if mode:
        opts.append(f"ipvlan_mode={mode}")
    return NetworkRequest(name=name, subnets=tuple(subnets), options=tuple(opts),
                          internal=internal, gateways=tuple(gateways))


def snapshot(c: Controller):
    inv = c.kernel.inventory()
    return (sorted((l.netns, l.name) for l in inv.links), inv.namespaces,
            c.store.networks(), c.store.endpoints(), sorted(map(str, c.store.owned())))


def test_vlan_parent_created_and_removed_with_network(ctl):
    ctl.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"))
    assert ctl.kernel.link_exists("eth0.20")
    owners = {l.name: l.owner for l in ctl.inventory().links}
    assert owners["eth0.20"] == "ipvlan-tui" and owners["eth0"] == "other"
    ctl.remove_network("v20")
    assert not ctl.kernel.link_exists("eth0.20")
    assert ctl.kernel.link_exists("eth0")


def test_premade_link_is_never_deleted(ctl):
    ctl.create_network(net("v40", "192.168.40.0/24", parent="foo"))
    ctl.run_endpoint(EndpointRequest("a", "v40"))
    ctl.remove_network("v40", force=True)
    assert ctl.kernel.link_exists("foo")


def test_namesake_of_an_owned_link_is_left_alone(ctl):
    ctl.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"))
    # Someone deletes our eth0.20 and makes their own with the same name.
    ctl.kernel.delete_link("eth0.20")
    ctl.kernel.create_vlan("eth0", 20, "eth0.20")
    ctl.remove_network("v20")
    assert ctl.kernel.link_exists("eth0.20")


def test_isolated_network_dummy_parent_and_no_gateway(ctl):
    res = ctl.create_network(net("iso", "192.168.10.0/24"))
    dummy = res.network.parent.name
    assert res.network.isolated and ctl.kernel.link_exists(dummy)
    ep = ctl.run_endpoint(EndpointRequest("a", "iso")).endpoint
    assert ep.ipv4 == "192.168.10.1"  # no gateway reserved on isolated networks
    assert ctl.kernel.routes("a") == ()
    ctl.remove_network("iso", force=True)
    assert not ctl.kernel.link_exists(dummy)


def test_endpoint_routes_and_addresses_reach_the_kernel(ctl):
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    ctl.run_endpoint(EndpointRequest("a", "l2"))
    link = ctl.kernel.inventory().by_name("eth0", "a")
    assert link.kind == "ipvlan" and link.addresses == ("192.168.1.2/24",)
    assert [r.ip_command() for r in ctl.kernel.routes("a")] == [
        "ip route add default via 192.168.1.1 dev eth0"]


def test_endpoint_names_resolve_through_hosts_files(ctl, tmp_path):
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    ctl.run_endpoint(EndpointRequest("a", "l2"))
    ctl.run_endpoint(EndpointRequest("b", "l2"))
    hosts_a = (tmp_path / "etc" / "a" / "hosts").read_text()
    assert "192.168.1.3\tb" in hosts_a and "192.168.1.2\ta" in hosts_a
    ctl.remove_endpoint("b")
    assert "\tb" not in (tmp_path / "etc" / "a" / "hosts").read_text()
    assert not (tmp_path / "etc" / "b").exists()


def test_dry_run_changes_nothing(ctl):
    before = snapshot(ctl)
    res = ctl.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"), dry_run=True)
    assert "ip link add link eth0 name eth0.20 type vlan id 20" in res.plan.render()
    assert snapshot(ctl) == before
    assert ctl.log[-1].outcome == "dry-run"


@pytest.mark.parametrize("step", [1, 2, 3])
def test_network_create_rolls_back(ctl, monkeypatch, step):
    before = snapshot(ctl)
    monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", f"network create:{step}")
    with pytest.raises(PlanFailed):
        ctl.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"))
    assert snapshot(ctl) == before


@pytest.mark.parametrize("step", range(1, 7))
def test_run_rolls_back(ctl, monkeypatch, step):
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    ctl.run_endpoint(EndpointRequest("keep", "l2"))
    before = snapshot(ctl)
    monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", f"run:{step}")
    with pytest.raises(PlanFailed) as info:
        ctl.run_endpoint(EndpointRequest("victim", "l2"))
    assert info.value.step_index == step - 1
    assert snapshot(ctl) == before


def test_kernel_refusal_midway_is_rolled_back(ctl):
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    before = snapshot(ctl)
    ctl.kernel.drivers["ipvlan"] = False
    with pytest.raises(PlanFailed) as info:
        ctl.run_endpoint(EndpointRequest("a", "l2"))
    assert "ipvlan driver" in str(info.value) and "lab shell" in str(info.value)
    assert snapshot(ctl) == before


def test_remove_network_with_endpoints_needs_force(ctl):
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    ctl.run_endpoint(EndpointRequest("a", "l2"))
    with pytest.raises(ValidationError) as info:
        ctl.remove_network("l2")
    assert "--force" in str(info.value) and "a" in str(info.value)
    ctl.remove_network("l2", force=True)
    assert not ctl.kernel.netns_exists("a") and ctl.store.endpoints() == []


def test_foreign_namespace_with_the_same_name_is_refused(ctl):
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    ctl.kernel.create_netns("web1")  # someone else's
    with pytest.raises(ValidationError) as info:
        ctl.run_endpoint(EndpointRequest("web1", "l2"))
    assert info.value.field == "--name"
    assert ctl.kernel.netns_exists("web1")


def test_released_addresses_are_free_again_a_hundred_times(ctl):
    ctl.create_network(NetworkRequest("ds", subnets=("192.168.1.0/24", "2001:db8:1::/64"),
                                      options=("parent=eth0",)))
    for _ in range(100):
        ep = ctl.run_endpoint(EndpointRequest("e", "ds", ipv4="192.168.1.77",
                                              ipv6="2001:db8:1::77")).endpoint
        assert (ep.ipv4, ep.ipv6) == ("192.168.1.77", "2001:db8:1::77")
        ctl.remove_endpoint("e")
    assert ctl.store.used_addresses("ds") == set()


def test_read_only_refuses_changes(tmp_path):
    c = Controller(FakeKernel.demo(), Store(tmp_path / "s"), hosts_root=tmp_path / "e", root=False)
    with pytest.raises(EngineError) as info:
        c.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"))
    assert "root" in str(info.value)
    assert not c.kernel.link_exists("eth0.20")
    # Reads and dry runs still work.
    assert c.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"), dry_run=True).dry_run


def test_restore_rolls_back_half_made_and_recreates_missing(ctl):
    ctl.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"))
    ctl.run_endpoint(EndpointRequest("a", "v20"))
    ctl.run_endpoint(EndpointRequest("b", "v20"))
    # A crash mid-run leaves a 'creating' endpoint with its namespace.
    ctl.store.reserve_endpoint(
        __import__("ipvlan_tui.model", fromlist=["Endpoint"]).Endpoint("half", "v20", netns="half"),
        lambda used: ("192.168.20.99", None))
    ctl.store.own("netns", "half", "v20", endpoint="half")
    ctl.kernel.create_netns("half")
    # Someone deletes pieces by hand.
    ctl.kernel.delete_netns("a")
    ctl.kernel.delete_link("eth0.20")
    report = ctl.restore()
    assert "endpoint half" in report.rolled_back
    assert any("eth0.20" in r for r in report.repaired)
    assert any(r.startswith("endpoint a") for r in report.repaired)
    assert any(r.startswith("endpoint b") for r in report.repaired)
    assert not ctl.kernel.netns_exists("half")
    assert ctl.kernel.inventory().by_name("eth0", "a").addresses == ("192.168.20.2/24",)
    again = ctl.restore()
    assert again.unchanged and not again.missing_in_kernel


def test_restore_reports_unrecorded_lookalikes_and_leaves_them(ctl):
    ctl.kernel.create_dummy("itd-0123456789a")
    report = ctl.restore()
    assert any("itd-0123456789a" in o for o in report.orphans_in_kernel)
    assert ctl.kernel.link_exists("itd-0123456789a")


def test_reviewed_plan_is_what_gets_created(ctl):
    nid = "ab" * 32
    spec, plan = ctl.plan_network_create(net("iso", "192.168.10.0/24"), nid)
    made = ctl.create_network(net("iso", "192.168.10.0/24"), network_id=nid).network
    assert made.parent.name == spec.parent.name and ctl.kernel.link_exists(spec.parent.name)
    assert ctl.log[-1].commands == tuple(s.command for s in plan.steps)


def test_restore_finishes_a_network_removal_cut_short(ctl):
    ctl.create_network(net("v20", "192.168.20.0/24", parent="eth0.20"))
    ctl.run_endpoint(EndpointRequest("a", "v20"))
    ctl.store.set_network_state("v20", "removing")  # killed right after the first rm step
    report = ctl.restore()
    assert report.finished == ("network v20",)
    assert not report.repaired and not report.missing_in_kernel and not report.orphans_in_kernel
    assert not ctl.kernel.link_exists("eth0.20") and not ctl.kernel.netns_exists("a")
    assert ctl.store.networks() == [] and ctl.store.endpoints() == []


def test_endpoints_of_a_network_share_one_hosts_file(ctl, tmp_path):
    import os
    ctl.create_network(net("l2", "192.168.1.0/24", parent="eth0"))
    for name in ("a", "b", "c"):
        ctl.run_endpoint(EndpointRequest(name, "l2"))
    targets = {os.readlink(tmp_path / "etc" / n / "hosts") for n in ("a", "b", "c")}
    assert len(targets) == 1  # a join rewrites one file, not one per peer
    ctl.remove_network("l2", force=True)
    assert not os.path.exists(targets.pop())
