"""Address management: parsing, default pools, allocation. Pure, no I/O.

The sqlite store persists allocations and calls `allocate` inside its own
transaction with the set of addresses already in use; nothing here remembers
anything, so an address given back (removed from `used`) is free again at
once (the original driver's "Address already in use" bug after reusing an
`--ip6` cannot happen here).

Usable addresses follow netaddr's `iter_hosts()` semantics:
- IPv4 /30 and larger: network and broadcast addresses are skipped;
- IPv6 /126 and larger: the subnet-router anycast address (host part 0) is
  skipped, there is no broadcast;
- IPv4 /31, /32 and IPv6 /127, /128: every address is usable (RFC 3021,
  RFC 6164), so a /31 holds two endpoints when no gateway is reserved.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Collection, Iterable

from netaddr import AddrFormatError, IPAddress, IPNetwork

from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import NetworkSpec, Subnet

# Docker's default local pools, minus 172.17.0.0/16 (docker0's).
_POOL16_V4 = tuple(f"172.{n}.0.0/16" for n in range(18, 32))
_POOL20_V4 = tuple(f"192.168.{n}.0/20" for n in range(0, 256, 16))
DEFAULT_POOLS_V4: tuple[str, ...] = _POOL16_V4 + _POOL20_V4

# Only these characters can appear in an address we accept; checking first
# keeps odd unicode (and NUL) away from inet_pton.
_ADDR_CHARS = re.compile(r"[0-9A-Fa-f:.]+", re.ASCII)
_CIDR_FORM = re.compile(r"([0-9A-Fa-f:.]+)/([0-9]{1,3})", re.ASCII)

_PARSE_ERRORS = (AddrFormatError, ValueError, TypeError, UnicodeError, OSError)


# --------------------------------------------------------------------------
# Parsing (strict, like Go's net.ParseIP / net.ParseCIDR)
# --------------------------------------------------------------------------
def parse_address(text: object) -> IPAddress | None:
    """A plain IPv4 or IPv6 address, or None. No prefix, zone, spaces or shorthands."""
    if not isinstance(text, str) or not _ADDR_CHARS.fullmatch(text):
        return None
    try:
        return IPAddress(text)
    except _PARSE_ERRORS:
        return None


def parse_cidr(text: object) -> IPNetwork | None:
    """`address/prefix` (host bits kept as typed, see `.cidr`), or None.

    Stricter than netaddr.IPNetwork: no netmask form, no implicit prefix, no
    sign or non-ASCII digits in the prefix.
    """
    if not isinstance(text, str):
        return None
    m = _CIDR_FORM.fullmatch(text)
    if m is None:
        return None
    addr = parse_address(m.group(1))
    if addr is None:
        return None
    prefix = int(m.group(2))
    if prefix > (32 if addr.version == 4 else 128):
        return None
    return IPNetwork((int(addr), prefix), version=addr.version)


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.first <= b.last and b.first <= a.last


def contains(outer: IPNetwork, inner: IPNetwork | IPAddress) -> bool:
    if outer.version != inner.version:
        return False
    if isinstance(inner, IPAddress):
        return outer.first <= int(inner) <= outer.last
    return outer.first <= inner.first and inner.last <= outer.last


def usable_range(net: IPNetwork) -> tuple[int, int]:
    """First and last usable address (as ints), netaddr's iter_hosts() rule."""
    first, last = net.first, net.last
    if net.size >= 4:
        first += 1
        if net.version == 4:
            last -= 1
    return first, last


def first_usable(cidr: str) -> str:
    """The address Docker picks as the L2 gateway when none is given."""
    net = IPNetwork(cidr)
    return str(IPAddress(usable_range(net)[0], net.version))


# --------------------------------------------------------------------------
# Default pool
# --------------------------------------------------------------------------
def default_pool(taken: Iterable[str]) -> str:
    """The first of 172.18.0.0/16 .. 172.31.0.0/16, 192.168.0.0/20 .. 192.168.240.0/20
    that overlaps none of `taken`.

    `taken` holds CIDRs or plain addresses (other networks' subnets, host
    routes, the networks of host addresses). Unparsable entries, IPv6 and
    default routes (prefix 0) are ignored: a default route overlaps everything
    and says nothing about which addresses are in use.
    """
    nets: list[IPNetwork] = []
    for item in taken:
        net = parse_cidr(item)
        if net is None:
            addr = parse_address(item)
            net = IPNetwork((int(addr), 32), version=4) if addr is not None and addr.version == 4 else None
        if net is None or net.version != 4 or net.prefixlen == 0:
            continue
        nets.append(net.cidr)
    for pool in DEFAULT_POOLS_V4:
        candidate = IPNetwork(pool)
        if not any(overlaps(candidate, n) for n in nets):
            return pool
    raise ValidationError(
        "--subnet", "",
        "no free default IPv4 pool: 172.18.0.0/16-172.31.0.0/16 and 192.168.0.0/16 "
        "(in /20 pieces) all overlap existing networks or host routes",
        "give the network an explicit --subnet, e.g. --subnet=10.10.0.0/24",
    )


# --------------------------------------------------------------------------
# Allocation
# --------------------------------------------------------------------------
# Addresses are ints here. The used addresses of a network are read once per
# operation (one store query) and parsed once (`UsedAddresses`); a subnet's
# bounds and reserved addresses are computed once per subnet (`_SubnetInfo`,
# cached), so an allocation costs a walk over the used ints below the lowest
# free one, with no netaddr object per used address.
def _field(version: int) -> str:
    return "--ip6" if version == 6 else "--ip"


def _parse_int(item: object, family: int) -> int | None:
    if not isinstance(item, str):
        return None
    try:
        return int.from_bytes(socket.inet_pton(family, item.split("/", 1)[0]), "big")
    except (OSError, ValueError, UnicodeError):
        return None


def _parse_any(item: str) -> tuple[int, int]:
    """(version, int) of an address with an optional /prefix; (0, 0) for junk."""
    text = item.split("/", 1)[0]
    try:  # a ':' can only parse as IPv6, anything else only as IPv4
        if ":" in text:
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError, UnicodeError):
        return 0, 0


# The same addresses are parsed again on every operation on a network (the store
# holds strings): remembered, a used address costs one dict lookup. Pure function
# of the string, so never stale; emptied when it outgrows _PARSED_MAX.
_PARSED: dict[str, tuple[int, int]] = {}
_PARSED_MAX = 1 << 16


class UsedAddresses:
    """The addresses in use on a network, as ints per family, parsed once.

    Built from the store's strings (entries may carry a /prefix; junk is
    ignored); every function below that takes `used` accepts it in place of
    the strings, so the parsing is not repeated per subnet and per family.
    """

    __slots__ = ("v4", "v6")

    def __init__(self, used: Iterable[str] = ()) -> None:
        v4: set[int] = set()
        v6: set[int] = set()
        memo = _PARSED
        get, add4, add6 = memo.get, v4.add, v6.add
        for item in used:
            try:
                hit = get(item)
            except TypeError:  # unhashable: not an address
                continue
            if hit is None:
                if not isinstance(item, str):
                    continue
                hit = _parse_any(item)
                if len(memo) >= _PARSED_MAX:
                    memo.clear()
                memo[item] = hit
            version, value = hit
            if version == 4:
                add4(value)
            elif version == 6:
                add6(value)
        self.v4, self.v6 = v4, v6

    @classmethod
    def of(cls, used: "Collection[str] | UsedAddresses") -> "UsedAddresses":
        return used if isinstance(used, UsedAddresses) else cls(used)

    def ints(self, version: int) -> set[int]:
        return self.v6 if version == 6 else self.v4


def _used_ints(used: "Collection[str] | UsedAddresses", version: int) -> set[int]:
    """`used` as ints of one family; entries may carry a /prefix; junk is ignored."""
    if isinstance(used, UsedAddresses):
        return used.ints(version)
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    out: set[int] = set()
    for item in used:
        value = _parse_int(item, family)
        if value is not None:
            out.add(value)
    return out


def _reserved(subnet: Subnet) -> dict[int, str]:
    """Addresses of the subnet that are never handed out, with the reason."""
    out: dict[int, str] = {}
    for name, ip in subnet.aux_addresses:
        addr = parse_address(ip)
        if addr is not None:
            out[int(addr)] = f"reserved by --aux-address {name}={ip}"
    gw = parse_address(subnet.gateway) if subnet.gateway else None
    if gw is not None:
        out[int(gw)] = "the gateway of " + subnet.cidr
    return out


class _SubnetInfo:
    """What allocation needs of a subnet, computed once per subnet (see `_info`)."""

    __slots__ = ("net", "version", "lo", "hi", "reserved")

    def __init__(self, subnet: Subnet) -> None:
        net = IPNetwork(subnet.cidr)
        lo, hi = usable_range(net)
        if subnet.ip_range:
            rng = IPNetwork(subnet.ip_range)
            lo, hi = max(lo, rng.first), min(hi, rng.last)
        self.net, self.version, self.lo, self.hi = net, net.version, lo, hi
        self.reserved = _reserved(subnet)


_INFO: dict[Subnet, _SubnetInfo] = {}
_INFO_MAX = 1024


def _info(subnet: Subnet) -> _SubnetInfo:
    """The subnet's bounds and reserved addresses (cached: Subnet is frozen, so equal
    subnets have equal answers; the cache is emptied when it outgrows _INFO_MAX)."""
    try:
        return _INFO[subnet]
    except KeyError:
        pass
    except TypeError:  # a field built by hand as a list: unhashable, computed each time
        return _SubnetInfo(subnet)
    info = _SubnetInfo(subnet)
    if len(_INFO) >= _INFO_MAX:
        _INFO.clear()
    _INFO[subnet] = info
    return info


def _lowest_free(info: _SubnetInfo, used: set[int]) -> int | None:
    """The lowest address in [lo, hi] neither used nor reserved, or None.

    Walks up from lo while addresses are taken: at most len(used) +
    len(reserved) steps, whatever the size of the subnet.
    """
    cur, hi, reserved = info.lo, info.hi, info.reserved
    while cur <= hi:
        if cur not in used and cur not in reserved:
            return cur
        cur += 1
    return None


def _bounds(subnet: Subnet) -> tuple[IPNetwork, int, int]:
    info = _info(subnet)
    return info.net, info.lo, info.hi


def first_free(subnet: Subnet, used: "Collection[str] | UsedAddresses") -> str | None:
    """The lowest address `allocate` would hand out now, or None when full."""
    info = _info(subnet)
    value = _lowest_free(info, _used_ints(used, info.version))
    return None if value is None else str(IPAddress(value, info.version))


def _full_error(subnet: Subnet, used_count: int) -> ValidationError:
    net = IPNetwork(subnet.cidr)
    where = f"--ip-range {subnet.ip_range} of {subnet.cidr}" if subnet.ip_range else subnet.cidr
    return ValidationError(
        _field(net.version), "",
        f"subnet {where} is full ({used_count} address(es) in use)",
        "create the network with a larger --subnet, or add another --subnet to it"
        + (", or widen --ip-range" if subnet.ip_range else ""),
    )


def check_address(subnet: Subnet, requested: str, used: "Collection[str] | UsedAddresses", *,
                  field: str | None = None) -> str:
    """Validate a static --ip/--ip6 against one subnet; return it canonical.

    Static addresses may lie outside --ip-range (as with Docker), but not on
    the network/broadcast/anycast address, the gateway, an aux address or an
    address in `used`.
    """
    net = IPNetwork(subnet.cidr)
    fld = field or _field(net.version)
    addr = parse_address(requested)
    if addr is None:
        if isinstance(requested, str) and parse_cidr(requested) is not None:
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
    if not contains(net, addr):
        raise ValidationError(fld, canon, f"is not inside subnet {subnet.cidr}",
                              f"give an address inside {subnet.cidr}")
    lo, hi = usable_range(net)

    def suggest() -> str:  # only computed on the error path
        free = first_free(subnet, used)
        return f"e.g. {fld}={free}" if free else "the subnet is full"

    if not lo <= int(addr) <= hi:
        what = ("the network address" if int(addr) == net.first and net.version == 4
                else "the subnet-router anycast address" if int(addr) == net.first
                else "the broadcast address")
        raise ValidationError(fld, canon, f"is {what} of {subnet.cidr}", f"pick another address, {suggest()}")
    reason = _info(subnet).reserved.get(int(addr))
    if reason:
        raise ValidationError(fld, canon, f"is {reason}", f"pick another address, {suggest()}")
    if int(addr) in _used_ints(used, net.version):
        raise ValidationError(fld, canon, "is already in use on this network",
                              f"pick a free address, {suggest()}")
    return canon


def allocate(subnet: Subnet, used: "Collection[str] | UsedAddresses", requested: str | None = None) -> str:
    """An address from `subnet`: `requested` when it is valid and free, else the lowest free.

    Dynamic allocation takes only from `ip_range` when set, skipping network,
    broadcast, subnet-router anycast, gateway, aux addresses and `used`.
    `requested` of "" counts as None. Raises ValidationError (`--ip`/`--ip6`).
    `used` may be the store's strings or a `UsedAddresses` parsed once for
    several calls. Candidates are walked lazily, never listed.
    """
    if requested is not None and requested != "":
        return check_address(subnet, requested, used)
    info = _info(subnet)
    used_ints = _used_ints(used, info.version)
    value = _lowest_free(info, used_ints)
    if value is None:
        raise _full_error(subnet, len(used_ints))
    return str(IPAddress(value, info.version))


def subnet_for(network: NetworkSpec, address: str) -> Subnet | None:
    """The subnet of `network` holding `address` (plain or with /prefix), or None."""
    if not isinstance(address, str):
        return None
    addr = parse_address(address.split("/", 1)[0])
    if addr is None:
        return None
    for sub in network.subnets:
        if contains(_info(sub).net, addr):
            return sub
    return None


def pick_subnet(network: NetworkSpec, version: int,
                used: "Collection[str] | UsedAddresses") -> Subnet | None:
    """The first subnet of that family with a free address, for dynamic allocation.

    None when the network has no subnet of that family (e.g. no IPv6 subnet:
    the endpoint simply gets no IPv6 address). Raises ValidationError when
    every subnet of that family is full.
    """
    subs = network.subnets_v(version)
    if not subs:
        return None
    used_ints = _used_ints(used, version)
    for sub in subs:
        if _lowest_free(_info(sub), used_ints) is not None:
            return sub
    if len(subs) == 1:
        raise _full_error(subs[0], len(used_ints))
    raise ValidationError(
        _field(version), "",
        f"every IPv{version} subnet of {network.name} is full ({', '.join(s.cidr for s in subs)})",
        "add another --subnet to the network or create it with a larger one",
    )
