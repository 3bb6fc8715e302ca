"""The int allocator (ipam.UsedAddresses, cached subnet bounds) gives the answers the
previous allocator gave: lowest free, same refusals and messages, on random cases.

The reference below is the allocation code of ipam.py as it was before the change
(e4e98a4..ae6140a), copied verbatim apart from names; it is the oracle, not used
anywhere else.
"""

from __future__ import annotations

import random
import socket

import pytest
from netaddr import IPAddress, IPNetwork

from ipvlan_tui import ipam
from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import NetworkSpec, Subnet


# ---------------------------------------------------------------- the previous code
def _ref_used_ints(used, version):
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    out = set()
    for item in used:
        if not isinstance(item, str):
            continue
        try:
            out.add(int.from_bytes(socket.inet_pton(family, item.split("/", 1)[0]), "big"))
        except (OSError, ValueError, UnicodeError):
            continue
    return out


def _ref_reserved(subnet):
    out = {}
    for name, ip in subnet.aux_addresses:
        addr = ipam.parse_address(ip)
        if addr is not None:
            out[int(addr)] = f"reserved by --aux-address {name}={ip}"
    gw = ipam.parse_address(subnet.gateway) if subnet.gateway else None
    if gw is not None:
        out[int(gw)] = "the gateway of " + subnet.cidr
    return out


def _ref_iter_free(lo, hi, taken):
    cur = lo
    while cur <= hi:
        if cur not in taken:
            yield cur
        cur += 1


def _ref_bounds(subnet):
    net = IPNetwork(subnet.cidr)
    lo, hi = ipam.usable_range(net)
    if subnet.ip_range:
        rng = IPNetwork(subnet.ip_range)
        lo, hi = max(lo, rng.first), min(hi, rng.last)
    return net, lo, hi


def ref_first_free(subnet, used):
    net, lo, hi = _ref_bounds(subnet)
    taken = _ref_used_ints(used, net.version) | set(_ref_reserved(subnet))
    for value in _ref_iter_free(lo, hi, taken):
        return str(IPAddress(value, net.version))
    return None


def _ref_full_error(subnet, used_count):
    net = IPNetwork(subnet.cidr)
    where = f"--ip-range {subnet.ip_range} of {subnet.cidr}" if subnet.ip_range else subnet.cidr
    return ValidationError(
        "--ip6" if net.version == 6 else "--ip", "",
        f"subnet {where} is full ({used_count} address(es) in use)",
        "create the network with a larger --subnet, or add another --subnet to it"
        + (", or widen --ip-range" if subnet.ip_range else ""),
    )


def ref_check_address(subnet, requested, used, *, field=None):
    net = IPNetwork(subnet.cidr)
    fld = field or ("--ip6" if net.version == 6 else "--ip")
    addr = ipam.parse_address(requested)
    if addr is None:
        if isinstance(requested, str) and ipam.parse_cidr(requested) is not None:
            bare = requested.split("/", 1)[0]
            raise ValidationError(fld, requested, "takes a plain address, not a CIDR",
                                  f"give it without the prefix: {fld}={bare}")
        raise ValidationError(fld, requested, "is not an IP address",
                              f"give an address inside {subnet.cidr}")
    canon = str(addr)
    if addr.version != net.version:
        other = "--ip6" if addr.version == 6 else "--ip"
        raise ValidationError(fld, canon, f"is an IPv{addr.version} address",
                              f"pass it with {other}, or give an IPv{net.version} address inside {subnet.cidr}")
    if not ipam.contains(net, addr):
        raise ValidationError(fld, canon, f"is not inside subnet {subnet.cidr}",
                              f"give an address inside {subnet.cidr}")
    lo, hi = ipam.usable_range(net)

    def suggest():
        free = ref_first_free(subnet, used)
        return f"e.g. {fld}={free}" if free else "the subnet is full"

    if not lo <= int(addr) <= hi:
        what = ("the network address" if int(addr) == net.first and net.version == 4
                else "the subnet-router anycast address" if int(addr) == net.first
                else "the broadcast address")
        raise ValidationError(fld, canon, f"is {what} of {subnet.cidr}", f"pick another address, {suggest()}")
    reason = _ref_reserved(subnet).get(int(addr))
    if reason:
        raise ValidationError(fld, canon, f"is {reason}", f"pick another address, {suggest()}")
    if int(addr) in _ref_used_ints(used, net.version):
        raise ValidationError(fld, canon, "is already in use on this network",
                              f"pick a free address, {suggest()}")
    return canon


def ref_allocate(subnet, used, requested=None):
    if requested is not None and requested != "":
        return ref_check_address(subnet, requested, used)
    net, lo, hi = _ref_bounds(subnet)
    used_ints = _ref_used_ints(used, net.version)
    taken = used_ints | set(_ref_reserved(subnet))
    for value in _ref_iter_free(lo, hi, taken):
        return str(IPAddress(value, net.version))
    raise _ref_full_error(subnet, len(used_ints))


def ref_pick_subnet(network, version, used):
    subs = network.subnets_v(version)
    if not subs:
        return None
    for sub in subs:
        if ref_first_free(sub, used) is not None:
            return sub
    if len(subs) == 1:
        raise _ref_full_error(subs[0], len(_ref_used_ints(used, version)))
    raise ValidationError(
        "--ip6" if version == 6 else "--ip", "",
        f"every IPv{version} subnet of {network.name} is full ({', '.join(s.cidr for s in subs)})",
        "add another --subnet to the network or create it with a larger one",
    )


# ---------------------------------------------------------------- random cases
def _outcome(fn, *args, **kw):
    try:
        return ("ok", fn(*args, **kw))
    except ValidationError as exc:
        return ("refused", type(exc).__name__, exc.field, exc.value, exc.problem, exc.fix)


def _addr(value: int, version: int) -> str:
    return str(IPAddress(value, version))


def _random_subnet(rng: random.Random, version: int) -> Subnet:
    if version == 4:
        prefix = rng.choice([22, 24, 26, 28, 29, 30, 31, 32])
        base = rng.choice([0x0A000000, 0xC0A80100, 0xAC120000]) + rng.randrange(0, 1 << 12) * 1024
        bits = 32
    else:
        prefix = rng.choice([112, 120, 124, 125, 126, 127, 128])
        base = (0x20010DB8 << 96) + (rng.randrange(0, 1 << 16) << 16)
        bits = 128
    net = IPNetwork((base, prefix), version=version).cidr
    size = net.size
    gateway = None
    if rng.random() < 0.7:
        gateway = _addr(net.first + rng.randrange(0, min(size, 8)), version)
    ip_range = None
    if rng.random() < 0.35 and prefix < bits:
        rp = rng.randint(prefix, bits)
        start = net.first + rng.randrange(0, size) // (1 << (bits - rp)) * (1 << (bits - rp))
        ip_range = str(IPNetwork((start, rp), version=version).cidr)
    aux = tuple((f"h{i}", _addr(net.first + rng.randrange(0, min(size, 16)), version))
                for i in range(rng.choice([0, 0, 1, 3])))
    return Subnet(str(net), gateway=gateway, gateway_given=gateway is not None,
                  ip_range=ip_range, aux_addresses=aux)


def _random_used(rng: random.Random, subs: list[Subnet]) -> set[str]:
    used: set[str] = set()
    for sub in subs:
        net = IPNetwork(sub.cidr)
        lo, hi = ipam.usable_range(net)
        fill = rng.choice([0, 1, 3, 10, 64, 300])
        dense = rng.random() < 0.6  # from the bottom up, as a churn leaves it, or scattered
        for i in range(fill):
            value = lo + i if dense else rng.randint(net.first, net.last)
            if value > net.last:
                break
            text = _addr(value, net.version)
            used.add(text + (f"/{net.prefixlen}" if rng.random() < 0.1 else ""))
    junk = ["", "x", "1.2.3", "10.0.0.1/24", "::1", "2001:db8::1/64", "fe80::1%eth0", "1.2.3.4 ",
            "01.2.3.4", "192.168.1.1", "::ffff:10.0.0.5"]
    used.update(rng.sample(junk, rng.randint(0, 4)))
    return used


def _random_request(rng: random.Random, sub: Subnet, used: set[str]) -> str | None:
    net = IPNetwork(sub.cidr)
    pick = rng.random()
    if pick < 0.3:
        return rng.choice([None, ""])
    if pick < 0.7:
        return _addr(rng.randint(net.first, net.last), net.version)
    if pick < 0.8 and used:
        return rng.choice(sorted(used)).split("/", 1)[0]
    return rng.choice(["junk", "10.0.0.0/24", "2001:db8::5", "10.1.2.3", sub.gateway or "",
                       _addr(net.first, net.version), _addr(net.last, net.version)])


@pytest.mark.parametrize("seed", range(40))
def test_int_allocator_answers_as_the_previous_one(seed):
    rng = random.Random(seed)
    for _ in range(25):
        version = rng.choice([4, 4, 6])
        sub = _random_subnet(rng, version)
        used = _random_used(rng, [sub])
        parsed = ipam.UsedAddresses(used)
        want_free = ref_first_free(sub, used)
        assert ipam.first_free(sub, used) == want_free
        assert ipam.first_free(sub, parsed) == want_free
        requested = _random_request(rng, sub, used)
        want = _outcome(ref_allocate, sub, used, requested)
        assert _outcome(ipam.allocate, sub, used, requested) == want, (sub, sorted(used), requested)
        assert _outcome(ipam.allocate, sub, parsed, requested) == want, (sub, sorted(used), requested)
        if requested:
            want = _outcome(ref_check_address, sub, requested, used, field="--x")
            assert _outcome(ipam.check_address, sub, requested, parsed, field="--x") == want


@pytest.mark.parametrize("seed", range(20))
def test_pick_subnet_answers_as_the_previous_one(seed):
    rng = random.Random(1000 + seed)
    for _ in range(15):
        subs = [_random_subnet(rng, rng.choice([4, 6])) for _ in range(rng.randint(1, 3))]
        net = NetworkSpec(name="n", subnets=tuple(subs))
        used = _random_used(rng, subs)
        parsed = ipam.UsedAddresses(used)
        for version in (4, 6):
            want = _outcome(ref_pick_subnet, net, version, used)
            assert _outcome(ipam.pick_subnet, net, version, used) == want
            assert _outcome(ipam.pick_subnet, net, version, parsed) == want


def test_churn_sequence_matches_the_previous_allocator():
    """Allocate and free at random on one subnet: every pick is the previous code's pick."""
    rng = random.Random(7)
    sub = Subnet("10.88.0.0/23", gateway="10.88.0.1", aux_addresses=(("r", "10.88.0.7"),))
    used: set[str] = set()
    for _ in range(1500):
        if used and rng.random() < 0.4:
            used.discard(rng.choice(sorted(used)))
            continue
        want = _outcome(ref_allocate, sub, used)
        got = _outcome(ipam.allocate, sub, ipam.UsedAddresses(used))
        assert got == want
        if got[0] == "ok":
            used.add(got[1])


def test_used_addresses_parses_each_family_once_and_ignores_junk():
    parsed = ipam.UsedAddresses(["10.0.0.2", "10.0.0.3/24", "2001:db8::1", "junk", "", "1.2.3",
                                 "fe80::1%eth0", 5, None, "::ffff:1.2.3.4"])
    assert parsed.v4 == {0x0A000002, 0x0A000003}
    assert parsed.v6 == {(0x20010DB8 << 96) + 1, 0xFFFF01020304}
    assert ipam.UsedAddresses.of(parsed) is parsed


def test_subnet_info_cache_does_not_mix_subnets():
    a = Subnet("10.0.0.0/24", gateway="10.0.0.1")
    b = Subnet("10.0.0.0/24", gateway="10.0.0.2")
    c = Subnet("10.0.0.0/24", gateway="10.0.0.1", ip_range="10.0.0.128/25")
    assert ipam.allocate(a, set()) == "10.0.0.2"
    assert ipam.allocate(b, set()) == "10.0.0.1"
    assert ipam.allocate(c, set()) == "10.0.0.128"
    # built by hand with a list (unhashable): still answered, just not cached
    d = Subnet("10.0.0.0/24", gateway="10.0.0.1", aux_addresses=[("x", "10.0.0.2")])
    assert ipam.allocate(d, set()) == "10.0.0.3"
