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
from collections.abc import Collection, Iterable, Iterator

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
def _field(version: int) -> str:
    return "--ip6" if version == 6 else "--ip"


def _used_ints(used: Collection[str], version: int) -> set[int]:
    """`used` as ints of one family; entries may carry a /prefix; junk is ignored.

    The hot path of allocation (thousands of entries per call), so it calls
    inet_pton directly: as strict as parse_address, a few times faster.
    """
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    out: set[int] = set()
    for item in used:
        if not isinstance(item, str):
            continue
        try:
            out.add(int.from_bytes(socket.inet_pton(family, item.split("/", 1)[0]), "big"))
        except (OSError, ValueError, UnicodeError):
            continue
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


def _iter_free(lo: int, hi: int, taken: set[int]) -> Iterator[int]:
    """Free addresses in [lo, hi], lazily, lowest first."""
    cur = lo
    while cur <= hi:
        if cur not in taken:
            yield cur
        cur += 1


def _bounds(subnet: Subnet) -> tuple[IPNetwork, int, int]:
    net = IPNetwork(subnet.cidr)
    lo, hi = usable_range(net)
    if subnet.ip_range:
        rng = IPNetwork(subnet.ip_range)
        lo, hi = max(lo, rng.first), min(hi, rng.last)
    return net, lo, hi


def first_free(subnet: Subnet, used: Collection[str]) -> str | None:
    """The lowest address `allocate` would hand out now, or None when full."""
    net, lo, hi = _bounds(subnet)
    taken = _used_ints(used, net.version) | set(_reserved(subnet))
    for value in _iter_free(lo, hi, taken):
        return str(IPAddress(value, net.version))
    return None


def _full_error(subnet: Subnet, used_count: int) -> ValidationError:
    net = IPNetwork(subnet.cidr)
    where = f"--ip-range {subnet.ip_range} of {subnet.cidr}" if subnet.ip_range else subnet.cidr
    return ValidationError(
        _field(net.version), "",
        f"subnet {where} is full ({used_count} address(es) in use)",
        "create the network with a larger --subnet, or add another --subnet to it"
        + (", or widen --ip-range" if subnet.ip_range else ""),
    )


def check_address(subnet: Subnet, requested: str, used: Collection[str], *, field: str | None = None) -> str:
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
    reason = _reserved(subnet).get(int(addr))
    if reason:
        raise ValidationError(fld, canon, f"is {reason}", f"pick another address, {suggest()}")
    if int(addr) in _used_ints(used, net.version):
        raise ValidationError(fld, canon, "is already in use on this network",
                              f"pick a free address, {suggest()}")
    return canon


def allocate(subnet: Subnet, used: Collection[str], requested: str | None = None) -> str:
    """An address from `subnet`: `requested` when it is valid and free, else the lowest free.

    Dynamic allocation takes only from `ip_range` when set, skipping network,
    broadcast, subnet-router anycast, gateway, aux addresses and `used`.
    `requested` of "" counts as None. Raises ValidationError (`--ip`/`--ip6`).
    Runs in O(len(used)): candidates are walked lazily, never listed.
    """
    if requested is not None and requested != "":
        return check_address(subnet, requested, used)
    net, lo, hi = _bounds(subnet)
    used_ints = _used_ints(used, net.version)
    taken = used_ints | set(_reserved(subnet))
    for value in _iter_free(lo, hi, taken):
        return str(IPAddress(value, net.version))
    raise _full_error(subnet, len(used_ints))


def subnet_for(network: NetworkSpec, address: str) -> Subnet | None:
    """The subnet of `network` holding `address` (plain or with /prefix), or None."""
    if not isinstance(address, str):
        return None
    addr = parse_address(address.split("/", 1)[0])
    if addr is None:
        return None
    for sub in network.subnets:
        if contains(IPNetwork(sub.cidr), addr):
            return sub
    return None


def pick_subnet(network: NetworkSpec, version: int, used: Collection[str]) -> Subnet | None:
    """The first subnet of that family with a free address, for dynamic allocation.

    None when the network has no subnet of that family (e.g. no IPv6 subnet:
    the endpoint simply gets no IPv6 address). Raises ValidationError when
    every subnet of that family is full.
    """
    subs = network.subnets_v(version)
    if not subs:
        return None
    for sub in subs:
        if first_free(sub, used) is not None:
            return sub
    if len(subs) == 1:
        raise _full_error(subs[0], len(_used_ints(used, version)))
    raise ValidationError(
        _field(version), "",
        f"every IPv{version} subnet of {network.name} is full ({', '.join(s.cidr for s in subs)})",
        "add another --subnet to the network or create it with a larger one",
    )
