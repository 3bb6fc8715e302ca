"""IPAM: lowest free, ranges, /31 /32, IPv6, exhaustion, reuse, pools."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fuzz import examples
from netaddr import IPAddress, IPNetwork

from ipvlan_tui import ipam
from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import NetworkSpec, Subnet


# -- parsing ---------------------------------------------------------------
@pytest.mark.parametrize("text", ["192.168.1.0/24", "2001:db8::/64", "10.0.0.1/8", "::/0", "0.0.0.0/0"])
def test_parse_cidr_accepts(text):
    assert ipam.parse_cidr(text) is not None


@pytest.mark.parametrize("text", ["10", "10.0.0.0", "10/8", "127.1/8", "10.0.0.0/33", "10.0.0.0/+8",
                                  "10.0.0.0/255.0.0.0", " 10.0.0.0/8", "10.0.0.0/8 ", "fe80::1%eth0/64",
                                  "1.2.3.4/\u0668", "2001:db8::/129", "", "/", "1.2.3.4/"])
def test_parse_cidr_refuses_what_go_refuses(text):
    assert ipam.parse_cidr(text) is None


@pytest.mark.parametrize("text", ["1.2.3", "01.2.3.4", "1.2.3.4 ", "fe80::1%eth0", "4294967295", "0x1",
                                  "1.2.3.4/24", "", None, 5])
def test_parse_address_refuses(text):
    assert ipam.parse_address(text) is None


@given(st.text(max_size=50))
@settings(max_examples=examples(200))
def test_parsers_never_raise(text):
    ipam.parse_address(text)
    ipam.parse_cidr(text)


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "10.0.0.0/30", "10.0.0.0/31", "10.0.0.0/32",
                                  "2001:db8::/64", "2001:db8::/126", "2001:db8::/127", "2001:db8::/128"])
def test_usable_range_matches_netaddr_iter_hosts(cidr):
    net = IPNetwork(cidr)
    hosts = net.iter_hosts()
    first = next(iter(hosts))
    lo, hi = ipam.usable_range(net)
    assert lo == int(first)
    if net.size <= 256:
        assert hi == int(list(net.iter_hosts())[-1])


# -- allocation ------------------------------------------------------------
def test_lowest_free_skips_network_and_gateway():
    sub = Subnet("192.168.1.0/24", gateway="192.168.1.1")
    assert ipam.allocate(sub, set()) == "192.168.1.2"
    assert ipam.allocate(sub, {"192.168.1.2", "192.168.1.3"}) == "192.168.1.4"
    assert ipam.allocate(sub, {"192.168.1.3"}) == "192.168.1.2"


def test_no_gateway_starts_at_first_usable():
    assert ipam.allocate(Subnet("192.168.10.0/24"), ()) == "192.168.10.1"


def test_used_may_carry_prefix_and_junk():
    sub = Subnet("192.168.1.0/24", gateway="192.168.1.1")
    assert ipam.allocate(sub, ["192.168.1.2/24", "junk", "2001:db8::2"]) == "192.168.1.3"


def test_aux_addresses_are_skipped():
    sub = Subnet("10.0.0.0/29", gateway="10.0.0.1", aux_addresses=(("router", "10.0.0.2"), ("nas", "10.0.0.3")))
    assert ipam.allocate(sub, ()) == "10.0.0.4"


def test_ip_range_limits_dynamic_allocation():
    sub = Subnet("172.28.0.0/16", gateway="172.28.0.1", ip_range="172.28.5.0/24")
    assert ipam.allocate(sub, ()) == "172.28.5.0"
    assert ipam.allocate(sub, {"172.28.5.0"}) == "172.28.5.1"


def test_ip_range_excludes_broadcast_of_subnet():
    sub = Subnet("10.0.0.0/24", ip_range="10.0.0.254/31")
    assert ipam.allocate(sub, ()) == "10.0.0.254"
    with pytest.raises(ValidationError) as exc:
        ipam.allocate(sub, {"10.0.0.254"})
    assert "widen --ip-range" in exc.value.fix


def test_static_outside_range_but_inside_subnet_is_allowed():
    sub = Subnet("172.28.0.0/16", gateway="172.28.0.1", ip_range="172.28.5.0/24")
    assert ipam.allocate(sub, (), "172.28.9.9") == "172.28.9.9"


def test_slash31_gives_both_addresses():
    sub = Subnet("10.9.0.0/31")
    used: set[str] = set()
    first = ipam.allocate(sub, used)
    used.add(first)
    second = ipam.allocate(sub, used)
    used.add(second)
    assert (first, second) == ("10.9.0.0", "10.9.0.1")
    with pytest.raises(ValidationError, match="full"):
        ipam.allocate(sub, used)


def test_slash32_gives_its_address():
    assert ipam.allocate(Subnet("10.9.0.7/32"), ()) == "10.9.0.7"
    assert ipam.allocate(Subnet("10.9.0.7/32"), (), "10.9.0.7") == "10.9.0.7"


def test_ipv6_skips_subnet_router_anycast():
    sub = Subnet("2001:db8:abc2::/64", gateway="2001:db8:abc2::22")
    assert ipam.allocate(sub, ()) == "2001:db8:abc2::1"
    with pytest.raises(ValidationError) as exc:
        ipam.allocate(sub, (), "2001:db8:abc2::")
    assert exc.value.field == "--ip6" and "anycast" in exc.value.problem


def test_ipv6_last_address_is_usable():
    sub = Subnet("2001:db8::/126")
    used = {"2001:db8::1", "2001:db8::2"}
    assert ipam.allocate(sub, used) == "2001:db8::3"


def test_exhaustion_says_full_and_suggests_larger():
    sub = Subnet("10.0.0.0/30", gateway="10.0.0.1")
    assert ipam.allocate(sub, ()) == "10.0.0.2"
    with pytest.raises(ValidationError) as exc:
        ipam.allocate(sub, {"10.0.0.2"})
    err = exc.value
    assert err.field == "--ip" and "full" in err.problem
    assert "larger --subnet" in err.fix and "another --subnet" in err.fix


@pytest.mark.parametrize("requested, problem", [
    ("10.0.0.0", "network address"),
    ("10.0.0.255", "broadcast address"),
    ("10.0.0.1", "gateway"),
    ("10.0.0.5", "aux-address"),
    ("10.0.0.7", "already in use"),
    ("10.0.1.7", "not inside subnet 10.0.0.0/24"),
    ("10.0.0.7/24", "plain address"),
    ("bogus", "not an IP address"),
    ("2001:db8::1", "IPv6 address"),
])
def test_requested_is_checked(requested, problem):
    sub = Subnet("10.0.0.0/24", gateway="10.0.0.1", aux_addresses=(("r", "10.0.0.5"),))
    with pytest.raises(ValidationError) as exc:
        ipam.allocate(sub, {"10.0.0.7"}, requested)
    assert exc.value.field == "--ip"
    assert problem in exc.value.problem
    assert exc.value.fix


def test_requested_taken_suggests_a_free_one():
    sub = Subnet("10.0.0.0/24", gateway="10.0.0.1")
    with pytest.raises(ValidationError) as exc:
        ipam.allocate(sub, {"10.0.0.2"}, "10.0.0.2")
    assert "10.0.0.3" in exc.value.fix


def test_requested_is_returned_canonical():
    sub = Subnet("2001:db8:abc2::/64")
    assert ipam.allocate(sub, (), "2001:DB8:ABC2:0:0:0:0:51") == "2001:db8:abc2::51"


def test_empty_requested_means_dynamic():
    assert ipam.allocate(Subnet("10.0.0.0/24"), (), "") == "10.0.0.1"


def test_release_and_reserve_same_ip_and_ip6_a_hundred_times():
    v4 = Subnet("192.168.140.0/24", gateway="192.168.140.1")
    v6 = Subnet("2001:db8:abc9::/64", gateway="2001:db8:abc9::22")
    used: set[str] = {"192.168.140.2", "2001:db8:abc9::1"}
    for _ in range(100):
        a = ipam.allocate(v4, used, "192.168.140.10")
        b = ipam.allocate(v6, used, "2001:db8:abc2::51".replace("abc2", "abc9"))
        used |= {a, b}
        with pytest.raises(ValidationError, match="already in use"):
            ipam.allocate(v6, used, b)
        used -= {a, b}
    assert used == {"192.168.140.2", "2001:db8:abc9::1"}


def test_fast_on_a_slash16_with_thousands_used():
    sub = Subnet("10.20.0.0/16", gateway="10.20.0.1")
    used = {f"10.20.{i // 256}.{i % 256}" for i in range(2, 6002)}
    t0 = time.process_time()  # CPU time: the box may be busy with other suites
    for _ in range(20):
        addr = ipam.allocate(sub, used)
    assert addr == "10.20.23.114"  # 6002 = 23*256 + 114
    assert time.process_time() - t0 < 2.0


def test_fast_on_a_huge_ipv6_subnet_nearly_exhausted_range():
    sub = Subnet("2001:db8::/64", ip_range="2001:db8::/120")
    used = {f"2001:db8::{i:x}" for i in range(1, 256)}
    with pytest.raises(ValidationError, match="full"):
        ipam.allocate(sub, used)


# -- subnet_for / pick_subnet ------------------------------------------------
NET = NetworkSpec(name="ipvlan140", subnets=(
    Subnet("192.168.140.0/30", gateway="192.168.140.1"),
    Subnet("192.168.142.0/24", gateway="192.168.142.1"),
    Subnet("2001:db8:abc9::/64", gateway="2001:db8:abc9::22"),
))


def test_subnet_for():
    assert ipam.subnet_for(NET, "192.168.142.9").cidr == "192.168.142.0/24"
    assert ipam.subnet_for(NET, "192.168.142.9/24").cidr == "192.168.142.0/24"
    assert ipam.subnet_for(NET, "2001:db8:abc9::5").cidr == "2001:db8:abc9::/64"
    assert ipam.subnet_for(NET, "10.0.0.1") is None
    assert ipam.subnet_for(NET, "junk") is None


def test_pick_subnet_first_with_room():
    assert ipam.pick_subnet(NET, 4, ()).cidr == "192.168.140.0/30"
    assert ipam.pick_subnet(NET, 4, {"192.168.140.2"}).cidr == "192.168.142.0/24"
    assert ipam.pick_subnet(NET, 6, ()).cidr == "2001:db8:abc9::/64"


def test_pick_subnet_none_without_family():
    assert ipam.pick_subnet(NetworkSpec(name="n", subnets=(Subnet("10.0.0.0/24"),)), 6, ()) is None


def test_pick_subnet_all_full():
    net = NetworkSpec(name="tiny", subnets=(Subnet("10.0.0.0/32"), Subnet("10.0.0.2/32")))
    with pytest.raises(ValidationError) as exc:
        ipam.pick_subnet(net, 4, {"10.0.0.0", "10.0.0.2"})
    assert exc.value.field == "--ip" and "every IPv4 subnet of tiny is full" in exc.value.problem


# -- default pool --------------------------------------------------------------
def test_default_pool_first_is_172_18():
    assert ipam.default_pool(()) == "172.18.0.0/16"


def test_default_pool_skips_taken_routes_addresses_and_ignores_default():
    taken = ["default", "0.0.0.0/0", "172.18.0.0/16", "172.19.5.0/24", "172.20.0.9", "2001:db8::/64", "junk"]
    assert ipam.default_pool(taken) == "172.21.0.0/16"


def test_default_pool_moves_to_192_168_slash20():
    taken = [f"172.{n}.0.0/16" for n in range(16, 32)] + ["192.168.1.0/24"]
    assert ipam.default_pool(taken) == "192.168.16.0/20"


def test_default_pool_exhausted():
    with pytest.raises(ValidationError) as exc:
        ipam.default_pool(["172.16.0.0/12", "192.168.0.0/16"])
    assert exc.value.field == "--subnet" and "--subnet" in exc.value.fix


def test_first_usable():
    assert ipam.first_usable("192.168.1.0/24") == "192.168.1.1"
    assert ipam.first_usable("10.0.0.0/31") == "10.0.0.0"
    assert ipam.first_usable("2001:db8::/64") == "2001:db8::1"


# -- totality ----------------------------------------------------------------
@given(requested=st.one_of(st.text(max_size=40),
                           st.integers(0, 2**32 - 1).map(lambda i: str(IPAddress(i, 4))),
                           st.integers(0, 2**128 - 1).map(lambda i: str(IPAddress(i, 6)))),
       used=st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["10.0.0.2", "10.0.0.3/24", "2001:db8::1"])),
                     max_size=5))
@settings(max_examples=examples(200))
def test_allocate_is_total(requested, used):
    for sub in (Subnet("10.0.0.0/24", gateway="10.0.0.1"), Subnet("2001:db8::/64")):
        try:
            ipam.allocate(sub, used, requested)
        except ValidationError:
            pass
