"""spec.py: every rule and message, the driver doc's examples, totality."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fuzz import examples
from netaddr import IPAddress, IPNetwork

from ipvlan_tui import ipam
from ipvlan_tui.errors import ValidationError, ValidationErrors
from ipvlan_tui.model import (
    PARENT_DUMMY,
    PARENT_EXISTING,
    PARENT_VLAN,
    EndpointRequest,
    Inventory,
    Link,
    NetworkRequest,
    NetworkSpec,
    ParentPlan,
    Route,
    Subnet,
)
from ipvlan_tui.spec import (
    closest_option,
    dummy_name,
    endpoint_routes,
    parse_aux,
    stable_network_id,
    validate_endpoint,
    validate_network,
)

LO = Link(1, "lo", "device", state="unknown", addresses=("127.0.0.1/8",))
ETH0 = Link(2, "eth0", "device", state="up", addresses=("192.168.1.250/24",), admin_up=True)
ETH1 = Link(3, "ens3", "device", state="up")
ETH0_40 = Link(10, "eth0.40", "vlan", parent_ifindex=2, parent_name="eth0", vlan_id=40)
FOO = Link(11, "foo", "vlan", parent_ifindex=2, parent_name="eth0", vlan_id=40)
ROUTES = ("default", "192.168.1.0/24", "172.17.0.0/16")

INV = Inventory(links=(LO, ETH0, ETH1), host_routes=ROUTES)
INV_ETH0_40 = Inventory(links=(LO, ETH0, ETH1, ETH0_40), host_routes=ROUTES)
INV_FOO = Inventory(links=(LO, ETH0, ETH1, FOO), host_routes=ROUTES)


def net(name="n1", inventory=INV, networks=(), network_id="", **kw) -> NetworkSpec:
    return validate_network(NetworkRequest(name=name, **kw), inventory, list(networks), network_id=network_id)


def err(name="n1", inventory=INV, networks=(), **kw) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        net(name, inventory, networks, **kw)
    return exc.value


def only(e: ValidationError, field: str) -> ValidationError:
    """The one error of `e` on `field` (fails when there is none or several)."""
    hits = [x for x in e.errors if x.field == field]
    assert len(hits) == 1, str(e)
    return hits[0]


# ==========================================================================
# The driver document's examples, one by one
# ==========================================================================
def test_doc_db_net_explicit_gateway_l2():
    s = net("db_net", subnets=("192.168.1.0/24",), gateways=("192.168.1.1",),
            options=("ipvlan_mode=l2", "parent=eth0"))
    assert (s.mode, s.flag) == ("l2", "bridge")
    assert s.parent == ParentPlan(kind=PARENT_EXISTING, name="eth0", create=False)
    assert s.subnets == (Subnet("192.168.1.0/24", gateway="192.168.1.1", gateway_given=True),)
    assert s.warnings == ()


def test_doc_db_net_ipv_defaults_equal_db_net():
    s = net("db_net_ipv", subnets=("192.168.1.0/24",), options=("parent=eth0",))
    assert s.mode == "l2"
    assert s.subnets == (Subnet("192.168.1.0/24", gateway="192.168.1.1", gateway_given=False),)
    routes = endpoint_routes(s, "192.168.1.2", None)
    assert routes == (Route("default", via="192.168.1.1", family=4),)


def test_doc_isolated1_no_parent():
    s = net("isolated1", subnets=("192.168.10.0/24",), network_id="a" * 64)
    assert s.parent == ParentPlan(kind=PARENT_DUMMY, name="itd-" + "a" * 11, create=True)
    assert s.isolated and not s.internal
    assert s.subnets == (Subnet("192.168.10.0/24", gateway=None),)
    assert endpoint_routes(s, "192.168.10.1", None) == ()


def test_doc_isolated2_internal_same_as_isolated1():
    s = net("isolated2", subnets=("192.168.11.0/24",), internal=True)
    assert s.parent.kind == PARENT_DUMMY and s.isolated and s.internal
    assert s.subnets[0].gateway is None
    assert endpoint_routes(s, "192.168.11.1", None) == ()


def test_doc_isolated3_default_pool():
    s = net("isolated3")
    assert s.parent.kind == PARENT_DUMMY
    assert s.subnets == (Subnet("172.18.0.0/16", gateway=None),)
    assert ipam.allocate(s.subnets[0], ()) == "172.18.0.1"


@pytest.mark.parametrize("name, vid, extra", [("ipvlan20", 20, ()), ("ipvlan30", 30, ("ipvlan_mode=l2",))])
def test_doc_vlan_20_and_30_created_on_the_fly(name, vid, extra):
    s = net(name, subnets=(f"192.168.{vid}.0/24",), gateways=(f"192.168.{vid}.1",),
            options=(f"parent=eth0.{vid}",) + extra)
    assert s.parent == ParentPlan(kind=PARENT_VLAN, name=f"eth0.{vid}", base="eth0", vlan_id=vid, create=True)
    assert s.subnets[0].gateway == f"192.168.{vid}.1"
    assert ipam.allocate(s.subnets[0], ()) == f"192.168.{vid}.2"
    assert endpoint_routes(s, f"192.168.{vid}.2", None) == (Route("default", via=f"192.168.{vid}.1", family=4),)


def test_doc_ipvlan114_multi_subnet_l2():
    s = net("ipvlan114", subnets=("192.168.114.0/24", "192.168.116.0/24"),
            gateways=("192.168.114.254", "192.168.116.254"), options=("parent=eth0.114", "ipvlan_mode=l2"))
    assert [(x.cidr, x.gateway) for x in s.subnets] == [("192.168.114.0/24", "192.168.114.254"),
                                                        ("192.168.116.0/24", "192.168.116.254")]
    validate_endpoint(EndpointRequest("c1", "ipvlan114", ipv4="192.168.114.10"), s, (), ())
    validate_endpoint(EndpointRequest("c2", "ipvlan114", ipv4="192.168.114.11"), s, {"192.168.114.10"}, {"c1"})
    assert endpoint_routes(s, "192.168.116.3", None) == (Route("default", via="192.168.116.254", family=4),)


def test_doc_netops_mappings():
    s = net("vlan10", subnets=("172.16.80.0/24",), gateways=("172.16.80.1",), options=("parent=eth0.10",))
    assert s.subnets[0] == Subnet("172.16.80.0/24", gateway="172.16.80.1", gateway_given=True)
    e = err("vlan20", subnets=("172.16.50.0/22",), gateways=("172.16.50.1",), options=("parent=eth0.20",))
    assert e.errors == [e] or len(e.errors) == 1  # the gateway is not reported a second time
    assert e.field == "--subnet" and e.value == "172.16.50.0/22" and "172.16.48.0/22" in e.fix
    e = err("vlan30", subnets=("10.1.100.0/16",), gateways=("10.1.100.1",), options=("parent=eth0.30",))
    assert len(e.errors) == 1
    assert e.field == "--subnet" and "did you mean 10.1.0.0/16?" in e.fix


def test_doc_ipnet210_l3_without_parent():
    s = net("ipnet210", subnets=("192.168.214.0/24", "10.1.214.0/24"), options=("ipvlan_mode=l3",))
    assert s.mode == "l3" and s.parent.kind == PARENT_DUMMY and not s.internal
    assert all(x.gateway is None for x in s.subnets)
    for ip in ("192.168.214.10", "10.1.214.10", "192.168.214.9", "10.1.214.9"):
        validate_endpoint(EndpointRequest("c" + ip.replace(".", ""), "ipnet210", ipv4=ip), s, (), ())
    assert endpoint_routes(s, "192.168.214.10", None) == (Route("default", family=4),)
    assert endpoint_routes(s, "192.168.214.10", None)[0].ip_command() == "ip route add default dev eth0"


def test_doc_v6ipvlan139_gets_default_ipv4_pool():
    s = net("v6ipvlan139", subnets=("2001:db8:abc2::/64",), gateways=("2001:db8:abc2::22",),
            options=("parent=eth0.139",))
    assert s.ipv6
    assert s.subnets == (Subnet("172.18.0.0/16", gateway="172.18.0.1"),
                         Subnet("2001:db8:abc2::/64", gateway="2001:db8:abc2::22", gateway_given=True))
    v4 = ipam.allocate(ipam.pick_subnet(s, 4, ()), ())
    v6 = ipam.allocate(ipam.pick_subnet(s, 6, ()), ())
    assert (v4, v6) == ("172.18.0.2", "2001:db8:abc2::1")  # as in the doc's `ip a`
    used = {v4, v6}
    assert ipam.allocate(ipam.pick_subnet(s, 4, used), used) == "172.18.0.3"
    assert ipam.allocate(ipam.pick_subnet(s, 6, used), used) == "2001:db8:abc2::2"
    assert endpoint_routes(s, v4, v6) == (Route("default", via="172.18.0.1", family=4),
                                          Route("default", via="2001:db8:abc2::22", family=6))


def test_doc_ipvlan140_dual_stack_l2():
    s = net("ipvlan140", subnets=("192.168.140.0/24", "192.168.142.0/24", "2001:db8:abc9::/64"),
            gateways=("192.168.140.1", "192.168.142.1", "2001:db8:abc9::22"),
            options=("parent=eth0.140", "ipvlan_mode=l2"))
    assert [x.gateway for x in s.subnets] == ["192.168.140.1", "192.168.142.1", "2001:db8:abc9::22"]
    assert s.ipv6
    validate_endpoint(EndpointRequest("c1", "ipvlan140", ipv4="192.168.140.10"), s, {"192.168.140.2"}, ())
    # The doc's own `--ip6=2001:db8:abc2::51` on this network is outside its v6 subnet:
    with pytest.raises(ValidationError) as exc:
        validate_endpoint(EndpointRequest("c2", "ipvlan140", ipv6="2001:db8:abc2::51"), s, (), ())
    assert exc.value.field == "--ip6" and "2001:db8:abc9::/64" in exc.value.fix
    routes = endpoint_routes(s, "192.168.140.2", "2001:db8:abc9::1")
    assert routes == (Route("default", via="192.168.140.1", family=4),
                      Route("default", via="2001:db8:abc9::22", family=6))


def test_doc_ipnet110_dual_stack_l3():
    s = net("ipnet110", subnets=("192.168.110.0/24", "192.168.112.0/24", "2001:db8:abc6::/64"),
            options=("parent=eth0", "ipvlan_mode=l3"))
    assert s.parent == ParentPlan(kind=PARENT_EXISTING, name="eth0")
    assert all(x.gateway is None and not x.gateway_given for x in s.subnets)
    assert s.warnings == ()  # not on eth0's own subnet
    for ip4, ip6 in ((None, "2001:db8:abc6::10"), ("192.168.112.30", None), ("192.168.112.50", "2001:db8:abc6::50")):
        validate_endpoint(EndpointRequest("c", "ipnet110", ipv4=ip4, ipv6=ip6), s, (), ())
    routes = endpoint_routes(s, "192.168.112.2", "2001:db8:abc6::10")
    assert routes == (Route("default", family=4), Route("default", family=6))
    assert [r.ip_command() for r in routes] == ["ip route add default dev eth0", "ip -6 route add default dev eth0"]
    # first dynamic v4 is from the first subnet, like Docker
    assert ipam.allocate(ipam.pick_subnet(s, 4, ()), ()) == "192.168.110.1"


def test_doc_manual_eth0_40_is_existing_never_created():
    s = net("ipvlan40", inventory=INV_ETH0_40, subnets=("192.168.40.0/24",), gateways=("192.168.40.1",),
            options=("parent=eth0.40",))
    assert s.parent == ParentPlan(kind=PARENT_EXISTING, name="eth0.40", base="eth0", vlan_id=40, create=False)


def test_doc_manual_foo_any_name_is_existing():
    s = net("ipvlan40", inventory=INV_FOO, subnets=("192.168.40.0/24",), gateways=("192.168.40.1",),
            options=("parent=foo",))
    assert s.parent == ParentPlan(kind=PARENT_EXISTING, name="foo", base="eth0", vlan_id=40, create=False)


# ==========================================================================
# Driver, name, options
# ==========================================================================
def test_driver_must_be_ipvlan():
    e = only(err(driver="macvlan"), "--driver")
    assert e.value == "macvlan" and "-d ipvlan" in e.fix
    assert "did you mean ipvlan" in only(err(driver="ipvaln"), "--driver").fix


@pytest.mark.parametrize("bad", ["", "-net", ".net", "my net", "net/1", "névé", "a:b"])
def test_name_charset(bad):
    e = only(err(name=bad), "name")
    assert "letters, digits" in e.fix


@pytest.mark.parametrize("good", ["a", "db_net", "x.y-z_1", "1net"])
def test_name_ok(good):
    assert net(good).name == good


def test_name_unique_across_engines():
    other = NetworkSpec(name="db_net", engine="docker", parent=ParentPlan("existing", "ens3"))
    e = only(err(name="db_net", networks=[other]), "name")
    assert "already exists" in e.problem and "db_net" in e.fix


def test_unknown_option_suggests_closest_and_lists_known():
    e = only(err(options=("ipvlan_mdoe=l3",)), "-o")
    assert "ipvlan_mdoe" in e.problem
    assert "did you mean ipvlan_mode?" in e.fix
    assert "parent, ipvlan_mode, ipvlan_flag" in e.fix


def test_unknown_option_without_close_match_lists_known():
    e = only(err(options=("mtu=1400",)), "-o")
    assert "did you mean" not in e.fix and "parent, ipvlan_mode, ipvlan_flag" in e.fix


def test_closest_option():
    assert closest_option("ipvlan_mdoe") == "ipvlan_mode"
    assert closest_option("ipvlan_flags") == "ipvlan_flag"
    assert closest_option("PARENT") == "parent"
    assert closest_option("xyz") is None


def test_option_without_equals():
    e = only(err(options=("parent",)), "-o")
    assert "key=value" in e.fix


def test_repeated_option_conflict():
    e = only(err(options=("ipvlan_mode=l2", "ipvlan_mode=l3")), "-o ipvlan_mode")
    assert "twice" in e.problem and "'l2'" in e.problem and "'l3'" in e.problem


def test_repeated_option_same_value_is_fine():
    assert net(options=("ipvlan_mode=l3", "ipvlan_mode=l3")).mode == "l3"


@pytest.mark.parametrize("mode, flag", [("l2", "bridge"), ("l3", "private"), ("l3s", "vepa")])
def test_modes_and_flags(mode, flag):
    s = net(options=(f"ipvlan_mode={mode}", f"ipvlan_flag={flag}"))
    assert (s.mode, s.flag) == (mode, flag)


def test_bad_mode_suggests():
    e = only(err(options=("ipvlan_mode=L3",)), "-o ipvlan_mode")
    assert e.value == "L3" and "did you mean l3?" in e.fix and "l2, l3, l3s" in e.fix


def test_bad_flag_suggests():
    e = only(err(options=("ipvlan_flag=privat",)), "-o ipvlan_flag")
    assert "did you mean private?" in e.fix


def test_empty_option_values_mean_defaults():
    s = net(options=("parent=", "ipvlan_mode=", "ipvlan_flag="))
    assert (s.mode, s.flag, s.parent.kind) == ("l2", "bridge", PARENT_DUMMY)


# ==========================================================================
# Parent
# ==========================================================================
def test_parent_lo_refused():
    e = only(err(options=("parent=lo",)), "-o parent")
    assert "loopback" in e.problem and "eth0" in e.fix


def test_parent_lo_vlan_refused():
    e = only(err(options=("parent=lo.10",)), "-o parent")
    assert "eth0.10" in e.fix


@pytest.mark.parametrize("bad, words", [("averyverylongname", "15"), ("eth0/1", "'/'"), ("eth 0", "' '"),
                                        ("eth0:1", "':'")])
def test_parent_not_a_link_name(bad, words):
    e = only(err(options=(f"parent={bad}",)), "-o parent")
    assert words in e.problem


@pytest.mark.parametrize("bad", ["eth0.0", "eth0.4095", "eth0.-1", "eth0.1e3", "eth0.", "eth0.x", "eth0.+5",
                                 "eth0.\u0661"])
def test_parent_vlan_id_range(bad):
    e = only(err(options=(f"parent={bad}",)), "-o parent")
    assert e.value == bad and "1 to 4094" in e.problem and "eth0.10" in e.fix


@pytest.mark.parametrize("vid", [1, 4094])
def test_parent_vlan_id_bounds_ok(vid):
    s = net(options=(f"parent=eth0.{vid}",))
    assert s.parent == ParentPlan(PARENT_VLAN, f"eth0.{vid}", base="eth0", vlan_id=vid, create=True)


def test_parent_two_dots_refused():
    e = only(err(options=("parent=eth0.10.20",)), "-o parent")
    assert "base.vlan_id" in e.problem


def test_parent_vlan_base_missing_suggests():
    e = only(err(options=("parent=eth9.10",)), "-o parent")
    assert "eth9" in e.problem and "-o parent=eth0.10" in e.fix


def test_parent_missing_suggests_closest():
    e = only(err(options=("parent=eth1",)), "-o parent")
    assert "no such link" in e.problem and "-o parent=eth0" in e.fix


def test_parent_missing_lists_links_when_nothing_close():
    e = only(err(options=("parent=wlp0s20f3",)), "-o parent")
    assert "ens3" in e.fix and "eth0" in e.fix and "lo" not in e.fix.split("(")[1]


def test_parent_only_host_namespace_links():
    inv = Inventory(links=(ETH0, Link(20, "eth7", "device", netns="ns1")))
    only(err(inventory=inv, options=("parent=eth7",)), "-o parent")


def test_vlan_id_already_exists_under_another_name():
    e = only(err(inventory=INV_FOO, options=("parent=eth0.40",)), "-o parent")
    assert "foo" in e.problem and e.fix == "use -o parent=foo"


def test_non_ethernet_parent_refused():
    inv = Inventory(links=(ETH0, Link(9, "wg0", "wireguard")))
    e = only(err(inventory=inv, options=("parent=wg0",)), "-o parent")
    assert "wireguard" in e.problem and "Ethernet" in e.problem


def test_aux_on_ignored_l3_gateway_is_fine():
    s = net(subnets=("10.0.0.0/24",), gateways=("10.0.0.1",), aux_addresses=("r=10.0.0.1",),
            options=("ipvlan_mode=l3",))
    assert s.subnets[0].gateway is None and s.subnets[0].aux_addresses == (("r", "10.0.0.1"),)


def test_macvlan_on_parent_refused():
    inv = Inventory(links=(ETH0, Link(30, "mv0", "macvlan", netns="pid:42", parent_name="eth0")))
    e = only(err(inventory=inv, options=("parent=eth0",)), "-o parent")
    assert "macvlan" in e.problem and "mv0 in pid:42" in e.problem and "EBUSY" in e.problem


def test_parent_used_by_another_network_refused():
    other = NetworkSpec(name="db_net", parent=ParentPlan(PARENT_EXISTING, "eth0"),
                        subnets=(Subnet("192.168.1.0/24", "192.168.1.1"),))
    e = only(err(networks=[other], subnets=("10.9.0.0/24",), options=("parent=eth0",)), "-o parent")
    assert "db_net" in e.problem and "--subnet" in e.fix and "db_net" in e.fix


def test_dummy_parents_of_other_networks_do_not_clash():
    other = NetworkSpec(name="iso", parent=ParentPlan(PARENT_DUMMY, dummy_name(stable_network_id("n1"))),
                        subnets=(Subnet("10.9.0.0/24"),))
    assert net("n2", networks=[other]).parent.kind == PARENT_DUMMY


def _with_ipvlans(*links):
    return Inventory(links=(ETH0,) + links)


def test_existing_ipvlan_links_other_mode_refused_and_listed():
    inv = _with_ipvlans(Link(40, "eth0", "ipvlan", netns="ns1", parent_name="eth0", ipvlan_mode="l2",
                             ipvlan_flag="bridge"),
                        Link(41, "eth0", "ipvlan", netns="pid:7", parent_name="eth0", ipvlan_mode="l2",
                             ipvlan_flag="bridge"))
    e = only(err(inventory=inv, options=("parent=eth0", "ipvlan_mode=l3", "ipvlan_flag=private")), "-o parent")
    assert "eth0 in ns1 (l2 bridge)" in e.problem and "eth0 in pid:7 (l2 bridge)" in e.problem
    assert "silently" in e.problem and "l3 private" in e.problem
    assert "-o ipvlan_mode=l2 -o ipvlan_flag=bridge" in e.fix


def test_existing_ipvlan_links_same_mode_accepted():
    inv = _with_ipvlans(Link(40, "eth0", "ipvlan", netns="ns1", parent_name="eth0", ipvlan_mode="l3",
                             ipvlan_flag="bridge"))
    assert net(inventory=inv, options=("parent=eth0", "ipvlan_mode=l3")).mode == "l3"


def test_existing_ipvlan_link_with_unknown_mode_refused():
    inv = _with_ipvlans(Link(40, "ipv0", "ipvlan", netns="ns1", parent_name="eth0"))
    e = only(err(inventory=inv, options=("parent=eth0",)), "-o parent")
    assert "mode unknown" in e.problem


def test_internal_with_parent_uses_dummy_and_warns():
    s = net(options=("parent=eth0",), internal=True, network_id="0123456789abcdef")
    assert s.parent == ParentPlan(PARENT_DUMMY, "itd-0123456789a", create=True)
    assert any("-o parent=eth0 ignored" in w for w in s.warnings)


def test_dummy_name_from_derived_id():
    s = net("isolated3")
    want = hashlib.sha256(b"isolated3").hexdigest()[:12]
    assert s.network_id == want and s.parent.name == "itd-" + want[:11]
    assert len(s.parent.name) == 15
    assert net("isolated3").parent.name == s.parent.name  # stable


def test_bad_network_id_is_a_programming_error():
    with pytest.raises(ValueError):
        net(network_id="not hex!")


# ==========================================================================
# Subnets
# ==========================================================================
@pytest.mark.parametrize("text, meant", [("172.16.50.0/22", "172.16.48.0/22"), ("10.1.100.0/16", "10.1.0.0/16"),
                                         ("192.168.1.1/24", "192.168.1.0/24"),
                                         ("2001:db8::1/64", "2001:db8::/64")])
def test_host_bits_say_what_was_meant(text, meant):
    e = only(err(subnets=(text,)), "--subnet")
    assert e.value == text and "host bits" in e.problem and e.fix == f"did you mean {meant}?"


def test_subnet_without_prefix():
    e = only(err(subnets=("192.168.1.0",)), "--subnet")
    assert "no prefix" in e.problem and "192.168.1.0/24" in e.fix


@pytest.mark.parametrize("bad", ["banana", "192.168.1.0/33", "192.168.1/24", "10.0.0.0/255.0.0.0", ""])
def test_subnet_garbage(bad):
    e = only(err(subnets=(bad,)), "--subnet")
    assert "address/prefix" in e.fix


@pytest.mark.parametrize("text", ["0.0.0.0/0", "::/0"])
def test_subnet_slash0_refused(text):
    assert "whole address space" in only(err(subnets=(text,)), "--subnet").problem


@pytest.mark.parametrize("text", ["fe80::/64", "fe80::/10", "fe00::/7"])
def test_subnet_link_local_refused(text):
    e = only(err(subnets=(text,)), "--subnet")
    assert "link-local" in e.problem and "fd00" in e.fix


@pytest.mark.parametrize("text", ["127.0.0.0/24", "224.1.0.0/16", "ff02::/16"])
def test_subnet_loopback_multicast_refused(text):
    only(err(subnets=(text,)), "--subnet")


def test_subnets_overlap_within_network():
    e = only(err(subnets=("10.0.0.0/16", "10.0.5.0/24")), "--subnet")
    assert e.value == "10.0.5.0/24" and "10.0.0.0/16" in e.problem


def test_same_subnet_twice():
    only(err(subnets=("10.0.0.0/24", "10.0.0.0/24")), "--subnet")


def test_subnet_overlaps_other_network_named():
    other = NetworkSpec(name="db_net", subnets=(Subnet("192.168.1.0/24", "192.168.1.1"),),
                        parent=ParentPlan(PARENT_EXISTING, "ens3"))
    e = only(err(networks=[other], subnets=("192.168.0.0/23",)), "--subnet")
    assert "192.168.1.0/24 of network db_net" in e.problem and "192.168.1.0/24" in e.fix


def test_subnets_canonical():
    s = net(subnets=("2001:DB8:ABC2:0:0:0:0:0/64", "10.0.0.0/8"), gateways=("2001:DB8:ABC2::0:22",))
    assert [x.cidr for x in s.subnets] == ["2001:db8:abc2::/64", "10.0.0.0/8"]
    assert s.subnets[0].gateway == "2001:db8:abc2::22"


def test_ipv6_flag_without_v6_subnet():
    s = net(subnets=("10.0.0.0/24",), ipv6=True)
    assert s.ipv6 and s.subnets_v(6) == ()


def test_ipv6_subnet_turns_ipv6_on_and_keeps_v4_given():
    s = net(subnets=("fd00:1::/64", "10.0.0.0/24"))
    assert s.ipv6 and [x.cidr for x in s.subnets] == ["fd00:1::/64", "10.0.0.0/24"]


def test_default_pool_skips_networks_routes_and_host_addresses():
    others = [NetworkSpec(name="a", subnets=(Subnet("172.18.0.0/16"),), parent=ParentPlan(PARENT_DUMMY, "itd-a"))]
    inv = Inventory(links=(ETH0, Link(5, "eth9", "device", addresses=("172.20.1.5/24", "fe80::1/64")),
                           Link(6, "vethx", "veth", netns="ns1", addresses=("172.21.0.1/16",))),
                    host_routes=("default", "172.19.0.0/16"))
    s = net(inventory=inv, networks=others)
    assert s.subnets[0].cidr == "172.21.0.0/16"  # ns1's addresses are not the host's


def test_default_pool_exhausted_is_a_validation_error():
    inv = Inventory(links=(ETH0,), host_routes=("172.16.0.0/12", "192.168.0.0/16"))
    e = only(err(inventory=inv), "--subnet")
    assert "--subnet" in e.fix


# ==========================================================================
# Gateways
# ==========================================================================
def test_l2_default_gateway_is_first_usable():
    s = net(subnets=("10.0.0.0/24", "fd00::/64"), options=("parent=eth0",))
    assert [x.gateway for x in s.subnets] == ["10.0.0.1", "fd00::1"]
    assert not any(x.gateway_given for x in s.subnets)


def test_gateways_paired_by_containment_not_position():
    s = net(subnets=("10.0.0.0/24", "10.0.1.0/24", "fd00::/64"),
            gateways=("fd00::1", "10.0.1.254", "10.0.0.254"), options=("parent=eth0",))
    assert [x.gateway for x in s.subnets] == ["10.0.0.254", "10.0.1.254", "fd00::1"]


def test_gateway_outside_every_subnet():
    e = only(err(subnets=("10.0.0.0/24",), gateways=("10.0.1.1",)), "--gateway")
    assert "not inside" in e.problem and "10.0.0.0/24" in e.fix


def test_gateway_without_subnet_of_its_family():
    e = only(err(subnets=("10.0.0.0/24",), gateways=("fd00::1",)), "--gateway")
    assert "IPv6 --subnet" in e.fix


@pytest.mark.parametrize("gw, what", [("10.0.0.0", "network"), ("10.0.0.255", "broadcast")])
def test_gateway_network_or_broadcast(gw, what):
    e = only(err(subnets=("10.0.0.0/24",), gateways=(gw,)), "--gateway")
    assert what in e.problem and "--gateway=10.0.0.1" in e.fix


def test_gateway_v6_anycast():
    e = only(err(subnets=("fd00::/64",), gateways=("fd00::",)), "--gateway")
    assert "anycast" in e.problem


@pytest.mark.parametrize("cidr, gw", [("10.0.0.0/31", "10.0.0.0"), ("10.0.0.0/31", "10.0.0.1"),
                                      ("10.0.0.9/32", "10.0.0.9")])
def test_gateway_on_31_32_any_address(cidr, gw):
    assert net(subnets=(cidr,), gateways=(gw,), options=("parent=eth0",)).subnets[0].gateway == gw


def test_two_gateways_one_subnet():
    e = only(err(subnets=("10.0.0.0/24",), gateways=("10.0.0.1", "10.0.0.2")), "--gateway")
    assert "second gateway" in e.problem


@pytest.mark.parametrize("bad, fix", [("10.0.0.1/24", "--gateway=10.0.0.1"), ("gw", "e.g. --gateway=")])
def test_gateway_not_an_address(bad, fix):
    e = only(err(subnets=("10.0.0.0/24",), gateways=(bad,)), "--gateway")
    assert fix in e.fix


@pytest.mark.parametrize("mode", ["l3", "l3s"])
def test_l3_gateway_accepted_ignored_and_warned(mode):
    s = net(subnets=("10.0.0.0/24",), gateways=("10.0.0.1",), options=("parent=eth0", f"ipvlan_mode={mode}"))
    assert s.subnets[0].gateway is None and s.subnets[0].gateway_given
    assert any("--gateway 10.0.0.1 ignored" in w and mode in w for w in s.warnings)
    assert ipam.allocate(s.subnets[0], ()) == "10.0.0.1"  # nothing reserved


def test_l3_gateway_still_checked():
    only(err(subnets=("10.0.0.0/24",), gateways=("10.0.9.1",), options=("ipvlan_mode=l3",)), "--gateway")


def test_isolated_l2_given_gateway_kept_but_no_route():
    s = net(subnets=("10.0.0.0/24",), gateways=("10.0.0.254",))
    assert s.subnets[0].gateway == "10.0.0.254"
    assert endpoint_routes(s, "10.0.0.1", None) == ()


def test_slash31_holds_two_endpoints_isolated_or_l3():
    for opts in ((), ("ipvlan_mode=l3", "parent=eth0")):
        s = net(subnets=("10.0.0.0/31",), options=opts)
        used: set[str] = set()
        for _ in range(2):
            used.add(ipam.allocate(ipam.pick_subnet(s, 4, used), used))
        assert used == {"10.0.0.0", "10.0.0.1"}


def test_slash32_l2_with_default_gateway_warns():
    s = net(subnets=("10.0.0.9/32",), options=("parent=eth0",))
    assert any("no endpoint fits" in w for w in s.warnings)


def test_l3_on_parent_subnet_warns():
    s = net(subnets=("192.168.1.0/24",), options=("parent=eth0", "ipvlan_mode=l3"))
    assert any("192.168.1.0/24 of the parent eth0" in w for w in s.warnings)


# ==========================================================================
# --ip-range and --aux-address
# ==========================================================================
def test_ip_range_paired_by_containment():
    s = net(subnets=("10.0.0.0/16", "10.1.0.0/16"), ip_ranges=("10.1.5.0/24", "10.0.9.0/24"))
    assert [x.ip_range for x in s.subnets] == ["10.0.9.0/24", "10.1.5.0/24"]


def test_ip_range_outside():
    e = only(err(subnets=("10.0.0.0/24",), ip_ranges=("10.0.0.128/24",)), "--ip-range")
    assert "172" not in e.fix and "did you mean 10.0.0.0/24?" == e.fix
    e = only(err(subnets=("10.0.0.0/24",), ip_ranges=("10.0.1.0/25",)), "--ip-range")
    assert "not inside" in e.problem and "10.0.0.0/24" in e.fix
    e = only(err(subnets=("10.0.0.0/24",), ip_ranges=("10.0.0.0/23",)), "--ip-range")
    assert "not inside" in e.problem


def test_two_ranges_one_subnet():
    e = only(err(subnets=("10.0.0.0/24",), ip_ranges=("10.0.0.0/25", "10.0.0.128/25")), "--ip-range")
    assert "at most one" in e.fix


def test_parse_aux():
    assert parse_aux("router=192.168.1.5") == ("router", IPAddress("192.168.1.5"))
    for bad in ("router", "=1.2.3.4", "r=", "r=1.2.3", "my r=1.2.3.4"):
        with pytest.raises(ValidationError) as exc:
            parse_aux(bad)
        assert exc.value.field == "--aux-address" and "--aux-address=" in exc.value.fix


def test_aux_addresses_reserved():
    s = net(subnets=("10.0.0.0/24", "fd00::/64"), aux_addresses=("r=10.0.0.2", "n6=fd00::5"),
            options=("parent=eth0",))
    assert s.subnets[0].aux_addresses == (("r", "10.0.0.2"),)
    assert s.subnets[1].aux_addresses == (("n6", "fd00::5"),)
    assert ipam.allocate(s.subnets[0], ()) == "10.0.0.3"


@pytest.mark.parametrize("aux, gw, problem", [
    (("r=10.0.1.2",), (), "not inside"),
    (("r=10.0.0.1",), ("10.0.0.1",), "--gateway"),
    (("r=10.0.0.1",), (), "default gateway"),
    (("r=10.0.0.0",), (), "network or broadcast"),
    (("r=10.0.0.9", "r=10.0.0.8"), (), "name r is already used"),
    (("r=10.0.0.9", "s=10.0.0.9"), (), "already reserved"),
])
def test_aux_problems(aux, gw, problem):
    e = only(err(subnets=("10.0.0.0/24",), aux_addresses=aux, gateways=gw, options=("parent=eth0",)),
             "--aux-address")
    assert problem in e.problem and e.fix


def test_aux_on_first_usable_is_fine_when_no_gateway_is_reserved():
    s = net(subnets=("10.0.0.0/24",), aux_addresses=("r=10.0.0.1",))  # isolated: no gateway
    assert ipam.allocate(s.subnets[0], ()) == "10.0.0.2"


# ==========================================================================
# Several errors at once
# ==========================================================================
def test_all_problems_reported_together():
    e = err(name="-x", driver="bridge", options=("ipvlan_mdoe=l3", "parent=eth0.5000"),
            subnets=("172.16.50.0/22",), aux_addresses=("bad",))
    assert isinstance(e, ValidationErrors)
    assert {x.field for x in e.errors} == {"name", "--driver", "-o", "-o parent", "--subnet", "--aux-address"}
    assert len(str(e).splitlines()) == len(e.errors)


# ==========================================================================
# Endpoints
# ==========================================================================
EPNET = net("ep", subnets=("10.0.0.0/24", "fd00::/64"), aux_addresses=("r=10.0.0.5",), options=("parent=eth0",))
V4NET = net("v4only", subnets=("10.1.0.0/24",), options=("parent=ens3",))


def ep_err(network=EPNET, used=(), names=(), **kw) -> ValidationError:
    kw.setdefault("name", "c1")
    with pytest.raises(ValidationError) as exc:
        validate_endpoint(EndpointRequest(network=network.name, **kw), network, used, names)
    return exc.value


def test_endpoint_ok():
    validate_endpoint(EndpointRequest("c1", "ep", ipv4="10.0.0.7", ipv6="fd00::7"), EPNET, {"10.0.0.2"}, {"c0"})
    validate_endpoint(EndpointRequest("c" * 64, "ep", ipv4="", ipv6=""), EPNET, (), ())


@pytest.mark.parametrize("bad", ["", "-c", "c 1", "c/1", "c" * 65])
def test_endpoint_name(bad):
    assert ep_err(name=bad).field == "--name"


def test_endpoint_name_taken():
    e = ep_err(names={"c1"})
    assert e.field == "--name" and "already exists" in e.problem


@pytest.mark.parametrize("ip, problem", [
    ("10.0.1.7", "not inside any IPv4 subnet"),
    ("10.0.0.0", "network address"),
    ("10.0.0.255", "broadcast"),
    ("10.0.0.1", "gateway"),
    ("10.0.0.5", "aux-address"),
    ("10.0.0.9", "already in use"),
    ("fd00::9", "IPv6 address"),
    ("10.0.0.7/24", "plain address"),
    ("ten", "not an IP address"),
])
def test_endpoint_static_ip_problems(ip, problem):
    e = ep_err(ipv4=ip, used={"10.0.0.9"})
    assert e.field == "--ip" and problem in e.problem and e.fix


@pytest.mark.parametrize("ip, problem", [
    ("fd00::", "anycast"), ("fd00::1", "gateway"), ("fd01::1", "not inside"), ("10.0.0.7", "IPv4 address"),
])
def test_endpoint_static_ip6_problems(ip, problem):
    e = ep_err(ipv6=ip)
    assert e.field == "--ip6" and problem in e.problem


def test_endpoint_ip6_on_network_without_v6_subnet():
    e = ep_err(network=V4NET, ipv6="fd00::7")
    assert e.field == "--ip6" and "has no IPv6 subnet" in e.problem and "IPv6 --subnet" in e.fix


def test_endpoint_several_problems():
    e = ep_err(name="-", ipv4="10.0.0.1", ipv6="zz")
    assert isinstance(e, ValidationErrors) and [x.field for x in e.errors] == ["--name", "--ip", "--ip6"]


# ==========================================================================
# Routes
# ==========================================================================
def test_routes_l3_internal_one_per_other_subnet_no_default():
    s = net(subnets=("10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "fd00::/64", "fd01::/64"),
            options=("ipvlan_mode=l3",), internal=True)
    routes = endpoint_routes(s, "10.0.1.5", "fd00::5")
    assert routes == (Route("10.0.0.0/24", family=4), Route("10.0.2.0/24", family=4), Route("fd01::/64", family=6))
    assert all(r.via is None and r.dst != "default" for r in routes)


def test_routes_only_for_families_the_endpoint_has():
    s = net(subnets=("10.0.0.0/24", "fd00::/64"), options=("ipvlan_mode=l3s",))
    assert endpoint_routes(s, None, "fd00::3") == (Route("default", family=6),)
    assert endpoint_routes(s, None, None) == ()


def test_routes_l2_without_gateway_in_that_subnet():
    s = NetworkSpec(name="x", parent=ParentPlan(PARENT_EXISTING, "eth0"), subnets=(Subnet("10.0.0.0/24"),))
    assert endpoint_routes(s, "10.0.0.3", None) == ()


# ==========================================================================
# Totality: any input gives a NetworkSpec or a ValidationError
# ==========================================================================
_V4 = st.integers(0, 2**32 - 1).map(lambda i: str(IPAddress(i, 4)))
_V6 = st.integers(0, 2**128 - 1).map(lambda i: str(IPAddress(i, 6)))
_SHORT_TEXT = st.text(max_size=12)  # arbitrary text per field is covered by test_every_field_takes_arbitrary_text


def _cidrs():
    return st.one_of(
        st.sampled_from(["10.0.0.0/24", "10.0.0.0/31", "10.0.0.7/32", "fd00::/64", "fd00::/127", "172.18.0.0/16",
                         "192.168.1.0/24", "fe80::/64", "0.0.0.0/0", "10.0.0.128/25", "172.16.50.0/22"]),
        st.builds(lambda a, p: f"{a}/{p}", _V4, st.integers(0, 34)),
        st.builds(lambda a, p: f"{a}/{p}", _V6, st.integers(0, 130)),
        _SHORT_TEXT,
    )


def _addrs():
    return st.one_of(st.sampled_from(["10.0.0.1", "10.0.0.0", "10.0.0.255", "fd00::", "fd00::1", "10.0.0.7",
                                      "10.0.0.129", "192.168.1.1"]),
                     _V4, _V6, _SHORT_TEXT)


_KEYS = st.one_of(st.sampled_from(["parent", "ipvlan_mode", "ipvlan_flag", "ipvlan_mdoe", ""]), _SHORT_TEXT)
_VALUES = st.one_of(st.sampled_from(["eth0", "eth0.40", "eth0.10", "foo", "lo", "eth0.0", "eth0.4095", "l2", "l3",
                                     "l3s", "bridge", "private", "vepa", "", "ens3", "eth0.1e3"]),
                    _SHORT_TEXT)
_OPTIONS = st.one_of(st.builds(lambda k, v: f"{k}={v}", _KEYS, _VALUES), _SHORT_TEXT)

_EXISTING = [
    NetworkSpec(name="db_net", parent=ParentPlan(PARENT_EXISTING, "ens3"),
                subnets=(Subnet("192.168.1.0/24", "192.168.1.1"), Subnet("fd00:9::/64"))),
]
_INVENTORIES = st.sampled_from([
    INV, INV_FOO, INV_ETH0_40, Inventory(),
    Inventory(links=(ETH0, Link(40, "ipv", "ipvlan", netns="ns1", parent_name="eth0", ipvlan_mode="l2",
                                ipvlan_flag="bridge"), Link(41, "mv", "macvlan", parent_name="ens3"), ETH1),
              host_routes=("default", "junk", "0.0.0.0/0", "172.18.0.0/15")),
])


_BASE = dict(name="n1", subnets=("10.0.0.0/24", "fd00::/64"), gateways=("10.0.0.1",),
             ip_ranges=("10.0.0.128/25",), aux_addresses=("r=10.0.0.5",), options=("parent=eth0",))
_TUPLE_FIELDS = ("subnets", "gateways", "ip_ranges", "aux_addresses", "options")


@pytest.mark.parametrize("field", ["name", "driver", "engine", "host"] + list(_TUPLE_FIELDS))
@given(text=st.text(max_size=40))
@settings(max_examples=examples(120), deadline=None)
def test_every_field_takes_arbitrary_text(field, text):
    """Arbitrary text in any one field: a spec or a ValidationError, nothing else."""
    kw = dict(_BASE)
    if field in _TUPLE_FIELDS:
        kw[field] = kw[field] + (text,)
    else:
        kw[field] = text
    try:
        validate_network(NetworkRequest(**kw), INV_ETH0_40, _EXISTING)
    except ValidationError as e:
        assert e.errors


@given(
    name=st.one_of(st.sampled_from(["db_net", "n1", "a.b-c"]), _SHORT_TEXT),
    driver=st.one_of(st.just("ipvlan"), _SHORT_TEXT),
    subnets=st.lists(_cidrs(), max_size=4).map(tuple),
    gateways=st.lists(_addrs(), max_size=3).map(tuple),
    ip_ranges=st.lists(_cidrs(), max_size=2).map(tuple),
    aux=st.lists(st.one_of(st.builds(lambda n, a: f"{n}={a}", st.sampled_from(["r", "", "a b"]), _addrs()),
                           _SHORT_TEXT), max_size=3).map(tuple),
    options=st.lists(_OPTIONS, max_size=4).map(tuple),
    internal=st.booleans(),
    ipv6=st.booleans(),
    engine=st.sampled_from(["netns", "docker", "podman"]),
    inventory=_INVENTORIES,
    networks=st.sampled_from([[], _EXISTING]),
    network_id=st.sampled_from(["", "0123456789abcdef" * 4]),
)
@settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_validate_network_is_total(name, driver, subnets, gateways, ip_ranges, aux, options, internal, ipv6,
                                   engine, inventory, networks, network_id):
    req = NetworkRequest(name=name, driver=driver, subnets=subnets, gateways=gateways, ip_ranges=ip_ranges,
                         aux_addresses=aux, options=options, internal=internal, ipv6=ipv6, engine=engine)
    try:
        spec = validate_network(req, inventory, networks, network_id=network_id)
    except ValidationError as e:
        for one in e.errors:
            assert one.field and one.problem and str(one)
        return
    # Whatever is accepted is well-formed and canonical.
    assert spec.parent is not None and spec.subnets_v(4)
    assert len(spec.parent.name) <= 15
    for sub in spec.subnets:
        n = IPNetwork(sub.cidr)
        assert str(n.cidr) == sub.cidr
        if sub.gateway is not None:
            assert IPAddress(sub.gateway) in n and str(IPAddress(sub.gateway)) == sub.gateway
        if sub.ip_range is not None:
            assert IPNetwork(sub.ip_range) in n
    for a in spec.subnets:
        for b in spec.subnets:
            assert a is b or not ipam.overlaps(IPNetwork(a.cidr), IPNetwork(b.cidr))
    if spec.mode != "l2":
        assert all(s.gateway is None for s in spec.subnets)


@given(
    name=st.one_of(st.sampled_from(["c1", "taken", "c" * 65, "-x"]), st.text(max_size=20)),
    ipv4=st.one_of(st.none(), _addrs()),
    ipv6=st.one_of(st.none(), _addrs()),
    used=st.lists(_addrs(), max_size=4),
    network=st.sampled_from([EPNET, V4NET]),
)
@settings(max_examples=examples(200), deadline=None)
def test_validate_endpoint_is_total(name, ipv4, ipv6, used, network):
    try:
        validate_endpoint(EndpointRequest(name, network.name, ipv4=ipv4, ipv6=ipv6), network, used, {"taken"})
    except ValidationError as e:
        assert all(x.field in ("--name", "--ip", "--ip6") for x in e.errors)
        return
    for addr in (ipv4, ipv6):
        if addr:
            assert ipam.subnet_for(network, addr) is not None
    endpoint_routes(network, ipv4 or None, ipv6 or None)


# ==========================================================================
# Purity: the domain layer does no I/O
# ==========================================================================
def test_domain_modules_import_nothing_that_does_io():
    import ast
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[2] / "ipvlan_tui"
    allowed = {"__future__", "collections", "dataclasses", "difflib", "errno", "hashlib", "re", "netaddr", "ipvlan_tui",
               "typing", "os", "signal", "socket"}
    for name in ("spec.py", "ipam.py", "plan.py"):
        tree = ast.parse((pkg / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(mods) <= allowed, f"{name} imports {mods}"
    # os/signal only for plan.py's documented test hooks; socket only for inet_pton in ipam.py
    assert "socket" not in (pkg / "spec.py").read_text()
