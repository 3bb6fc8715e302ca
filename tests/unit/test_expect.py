"""Predictions from hand-built topologies: every rule, no kernel, no packets."""

from __future__ import annotations

import pytest

from ipvlan_tui.errors import ValidationError
from ipvlan_tui.expect import (
    PARENT,
    RULES,
    Expectation,
    choose_address,
    host_addresses,
    parent_addresses,
    predict,
    verdict,
)
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
from ipvlan_tui.probe import PingResult


def ep(name, net, v4=None, v6=None, netns=None):
    return Endpoint(name, net, ipv4=v4, ipv6=v6, netns=netns if netns is not None else f"ns-{name}")


def net(name, parent, *subnets, mode="l2", flag="bridge", internal=False, endpoints=()):
    kind, base, vid = PARENT_EXISTING, None, None
    if parent is None:
        kind, parent = PARENT_DUMMY, f"dm-{name}"
    elif "." in parent:
        kind, base, vid = PARENT_VLAN, parent.split(".")[0], int(parent.split(".")[1])
    subs = tuple(Subnet(c, gateway=g) for c, g in subnets)
    spec = NetworkSpec(name, mode=mode, flag=flag, internal=internal,
                       parent=ParentPlan(kind, parent, base=base, vlan_id=vid, create=kind != PARENT_EXISTING),
                       subnets=subs)
    return Network(spec, endpoints=tuple(endpoints))


def topo(*networks, links=()):
    return Topology(inventory=Inventory(links=tuple(links)), networks=tuple(networks))


ETH0 = Link(2, "eth0", "dummy", addresses=("192.168.1.250/24", "2001:db8:abc2::250/64"))
ETH1 = Link(3, "eth1", "device", addresses=("10.9.9.1/24",))
V20 = Link(4, "eth0.20", "vlan", parent_ifindex=2, parent_name="eth0", vlan_id=20)
V30 = Link(5, "eth0.30", "vlan", parent_ifindex=2, parent_name="eth0", vlan_id=30)

# L2 on eth0: two IPv4 subnets and one IPv6 subnet (the driver docs' ipvlan140, on eth0).
A1 = ep("a1", "l2net", "192.168.1.10", "2001:db8:abc2::10")
A2 = ep("a2", "l2net", "192.168.1.11", "2001:db8:abc2::11")
A3 = ep("a3", "l2net", "192.168.116.10")
A6 = ep("a6", "l2net", None, "2001:db8:abc2::16")
L2NET = net("l2net", "eth0", ("192.168.1.0/24", "192.168.1.1"), ("192.168.116.0/24", "192.168.116.254"),
            ("2001:db8:abc2::/64", "2001:db8:abc2::22"), endpoints=(A1, A2, A3, A6))
# L3 on eth0.20: two subnets (ipnet210).
B1 = ep("b1", "l3net", "192.168.214.10")
B2 = ep("b2", "l3net", "10.1.214.10")
L3NET = net("l3net", "eth0.20", ("192.168.214.0/24", None), ("10.1.214.0/24", None), mode="l3",
            endpoints=(B1, B2))
# L2 on eth0.30.
C1 = ep("c1", "v30", "192.168.30.2")
C2 = ep("c2", "v30", "192.168.30.3")
V30NET = net("v30", "eth0.30", ("192.168.30.0/24", "192.168.30.1"), endpoints=(C1, C2))
# L3 --internal on a dummy: routes to its own subnets only.
D1 = ep("d1", "iso", "172.28.230.10")
D2 = ep("d2", "iso", "172.28.231.10")
ISO = net("iso", None, ("172.28.230.0/24", None), ("172.28.231.0/24", None), mode="l3", internal=True,
          endpoints=(D1, D2))
# No parent given: dummy, L2, no gateway.
E1 = ep("e1", "nopar", "192.168.10.2")
E2 = ep("e2", "nopar", "192.168.10.3")
NOPAR = net("nopar", None, ("192.168.10.0/24", None), endpoints=(E1, E2))

TOPO = topo(L2NET, L3NET, V30NET, ISO, NOPAR, links=(ETH0, ETH1, V20, V30))


def check(source, target, rule, reachable, *, family=None, topology=TOPO, address=None, words=()):
    exp = predict(topology, source, target, family=family)
    assert isinstance(exp, Expectation)
    assert (exp.rule, exp.reachable) == (rule, reachable), exp.reason
    assert exp.rule in RULES
    if address is not None:
        assert exp.address == address
    for w in words:
        assert w in exp.reason, exp.reason
    return exp


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------


def test_same_network_same_subnet_is_reachable():
    exp = check(A1, A2, "same-subnet", True, address="192.168.1.11", words=("192.168.1.0/24", "eth0"))
    assert exp.family == 4
    check(C1, C2, "same-subnet", True, words=("eth0.30",))
    check(E1, E2, "same-subnet", True)  # an isolated network still reaches itself


def test_ipv6_same_subnet_with_minus_6():
    check(A1, A2, "same-subnet", True, family=6, address="2001:db8:abc2::11", words=("2001:db8:abc2::/64",))


def test_l2_different_subnets_need_a_router():
    check(A1, A3, "l2-needs-router", False, words=("192.168.1.0/24", "192.168.116.0/24", "router"))
    check(A3, A1, "l2-needs-router", False)


def test_l3_same_parent_routes_between_subnets():
    check(B1, B2, "l3-same-parent", True, words=("L3", "192.168.214.0/24", "10.1.214.0/24"))
    l3s = net("l3s", "eth1", ("10.5.0.0/24", None), ("10.6.0.0/24", None), mode="l3s")
    x, y = ep("x", "l3s", "10.5.0.2"), ep("y", "l3s", "10.6.0.2")
    check(x, y, "l3-same-parent", True, topology=topo(l3s, links=(ETH1,)), words=("L3S",))


def test_l3_internal_reaches_its_own_subnets_only():
    check(D1, D2, "l3-same-parent", True, words=("--internal",))
    check(D1, A1, "isolated", False, words=("iso", "--internal"))
    check(D1, "10.9.9.9", "isolated", False)


def test_different_vlans_need_a_router():
    check(B1, C1, "different-parent", False, words=("different VLANs", "VLAN 20", "VLAN 30", "router"))
    check(C1, B2, "different-parent", False)


def test_different_parents_need_a_router():
    check(A1, B1, "different-parent", False, words=("different parents", "eth0", "eth0.20"))
    other = net("other", "eth1", ("10.9.8.0/24", "10.9.8.1"), endpoints=(ep("o1", "other", "10.9.8.2"),))
    t = topo(L2NET, other, links=(ETH0, ETH1))
    check(A1, other.endpoints[0], "different-parent", False, topology=t, words=("eth0 and eth1",))


def test_parent_address_is_isolated_by_design():
    exp = check(A1, PARENT, "parent-isolated", False, address="192.168.1.250",
                words=("parent eth0", "by design"))
    assert exp.family == 4
    check(A1, PARENT, "parent-isolated", False, family=6, address="2001:db8:abc2::250")
    check(A6, PARENT, "parent-isolated", False, address="2001:db8:abc2::250")  # IPv6 is all it has
    # The same address given raw, and any other host address.
    check(A1, "192.168.1.250", "parent-isolated", False, words=("parent eth0's own",))
    check(A1, "10.9.9.1", "parent-isolated", False, words=("host address (on eth1)",))
    check(B1, "192.168.1.250", "parent-isolated", False)


def test_vlan_parent_without_address_uses_its_base():
    check(B1, PARENT, "parent-isolated", False, address="192.168.1.250")
    assert parent_addresses(TOPO, L3NET) == ("192.168.1.250", "2001:db8:abc2::250")


def test_parent_without_any_address():
    exp = check(E1, PARENT, "no-address", False)
    assert exp.address is None


def test_isolated_network_reaches_nothing_outside():
    check(E1, A1, "isolated", False, words=("nopar", "no parent", "dm-nopar"))
    check(A1, E1, "isolated", False, words=("nopar",))  # and nothing reaches in
    check(E1, "192.168.1.99", "isolated", False)


def test_no_common_family():
    exp = check(A3, A6, "no-common-family", False, words=("a3 has IPv4", "a6 has IPv6"))
    assert exp.address is None
    check(A6, A3, "no-common-family", False)
    check(A3, A1, "no-common-family", False, family=6, words=("IPv6 asked for",))
    check(A3, "2001:db8:abc2::11", "no-common-family", False)
    check(A1, "2001:db8:abc2::11", "no-common-family", False, family=4)


def test_address_family_choice():
    assert choose_address(A1, A2) == ("192.168.1.11", 4)  # IPv4 first
    assert choose_address(A1, A2, 6) == ("2001:db8:abc2::11", 6)
    assert choose_address(A1, A6) == ("2001:db8:abc2::16", 6)  # only IPv6 is common
    assert choose_address(A3, A6) is None
    assert choose_address(A3, A6, 4) is None
    with_prefix = ep("p", "l2net", "192.168.1.12/24")
    assert choose_address(A1, with_prefix) == ("192.168.1.12", 4)


def test_private_flag_drops_port_to_port():
    n = net("priv", "eth0.40", ("192.168.40.0/24", "192.168.40.1"), flag="private")
    x, y = ep("x", "priv", "192.168.40.2"), ep("y", "priv", "192.168.40.3")
    check(x, y, "private-flag", False, topology=topo(n), words=("private", "eth0.40"))


def test_vepa_flag_needs_an_outside_switch():
    n = net("vepa", "eth0.50", ("192.168.50.0/24", "192.168.50.1"), mode="l3", flag="vepa")
    x, y = ep("x", "vepa", "192.168.50.2"), ep("y", "vepa", "192.168.50.3")
    check(x, y, "vepa-flag", False, topology=topo(n), words=("vepa", "outside switch"))


def test_live_mode_overrides_the_spec():
    """The kernel keeps one mode per parent: a later `l3 private` slave changed ours."""
    live = Link(9, "eth0", "ipvlan", netns="ns-a1", parent_name="eth0", ipvlan_mode="l3",
                ipvlan_flag="private")
    t = topo(L2NET, links=(ETH0, live))
    check(A1, A2, "private-flag", False, topology=t, words=("kernel reports l3 private", "created as l2 bridge"))
    live = Link(9, "eth0", "ipvlan", netns="ns-a1", parent_name="eth0", ipvlan_mode="l3",
                ipvlan_flag="bridge")
    t = topo(L2NET, links=(ETH0, live))
    check(A1, A3, "l3-same-parent", True, topology=t, words=("kernel reports l3 bridge",))
    check(A1, A3, "l2-needs-router", False)  # without the live link: the spec's l2


def test_container_namespace_paths_match_live_links():
    a = Endpoint("ca", "l2net", ipv4="192.168.1.20", netns="/proc/4242/ns/net")
    live = Link(9, "eth0", "ipvlan", netns="pid:4242", parent_name="eth0", ipvlan_mode="l2",
                ipvlan_flag="private")
    check(a, A2, "private-flag", False, topology=topo(L2NET, links=(ETH0, live)))


def test_two_networks_on_one_hand_made_parent_are_one_port():
    n1 = net("h1", "foo", ("10.40.0.0/24", "10.40.0.1"))
    n2 = net("h2", "foo", ("10.40.0.0/24", "10.40.0.1"), ("10.41.0.0/24", "10.41.0.1"))
    x, y, z = ep("x", "h1", "10.40.0.5"), ep("y", "h2", "10.40.0.6"), ep("z", "h2", "10.41.0.6")
    t = topo(n1, n2)
    check(x, y, "same-subnet", True, topology=t, words=("on foo",))
    check(x, z, "l2-needs-router", False, topology=t)
    m1 = net("m1", "bar", ("10.50.0.0/24", None), mode="l3")
    m2 = net("m2", "bar", ("10.51.0.0/24", None), mode="l3")
    check(ep("p", "m1", "10.50.0.5"), ep("q", "m2", "10.51.0.5"), "l3-same-parent", True, topology=topo(m1, m2))


def test_raw_addresses():
    check(A1, "192.168.1.11", "same-subnet", True, address="192.168.1.11")  # an endpoint's address
    check(A1, "192.168.214.10", "different-parent", False)
    check(A1, "192.168.1.77", "no-such-host", False, words=("no endpoint holds 192.168.1.77",))
    check(A1, "192.168.1.1", "no-such-host", False, words=("gateway", "outside router"))
    check(A1, "8.8.8.8", "outside", False, words=("on no network known here",))
    with pytest.raises(ValidationError):
        predict(TOPO, A1, "not-an-address")


def test_self_and_unknown_networks():
    check(A1, A1, "self", True)
    stray = ep("s", "gone", "10.0.0.1")
    check(stray, A1, "unknown-network", False)
    check(A1, ep("t", "gone", "192.168.1.44"), "unknown-network", False)


def test_endpoints_that_are_not_running():
    from dataclasses import replace

    down = replace(A2, state="exited")
    check(A1, down, "endpoint-down", False, address="192.168.1.11", words=("a2 is exited",))
    check(replace(A1, state="missing"), A2, "endpoint-down", False, words=("no namespace to send from",))
    check(replace(A1, state="missing"), PARENT, "endpoint-down", False)
    check(A1, replace(A2, state="paused"), "same-subnet", True)  # the kernel still answers
    gone = predict(TOPO, replace(A1, state="missing"), A2)
    assert verdict(gone, res(0, 0, "cannot enter namespace ns-a1: No such file or directory"))[0] == "expected"
    assert verdict(predict(TOPO, A1, down), res(0, 1, "no reply within 1 s"))[0] == "expected"


def test_every_rule_is_exercised_by_this_file():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for rule in RULES:
        assert f'"{rule}"' in source.split("def test_every_rule")[0], rule


def test_host_addresses():
    assert host_addresses(TOPO)["10.9.9.1"] == "eth1"
    assert "192.168.214.10" not in host_addresses(TOPO)


# ---------------------------------------------------------------------------
# verdict
# ---------------------------------------------------------------------------


def res(received=0, sent=1, error=None, address="192.168.1.11"):
    return PingResult("a1", "a2", address, 4 if address else 0, sent=sent, received=received,
                      loss=1 - received / sent if sent else 1.0, error=error)


def test_verdicts():
    yes = predict(TOPO, A1, A2)
    no = predict(TOPO, A1, A3)
    assert verdict(yes, res(3, 3)) == ("expected", "expected: 3/3 replies, as predicted: " + yes.reason)
    assert verdict(no, res(0, 3, "no reply within 1 s"))[0] == "expected"
    kind, text = verdict(no, res(1, 1))
    assert kind == "surprising" and "but predicted not reachable" in text and no.reason in text
    kind, text = verdict(yes, res(0, 1, "Destination Host Unreachable"))
    assert kind == "surprising" and "Destination Host Unreachable" in text and "predicted reachable" in text


def test_verdict_when_nothing_could_be_sent():
    nofam = predict(TOPO, A3, A6)
    assert verdict(nofam, res(0, 0, nofam.reason, address=""))[0] == "expected"
    yes = predict(TOPO, A1, A2)
    kind, text = verdict(yes, res(0, 0, "cannot enter namespace ns-a1: No such file or directory"))
    assert kind == "surprising" and "could not run" in text
