"""One network on several Docker hosts: the subnet split into disjoint --ip-range slices.

Each Docker daemon has its own address allocator and knows nothing of the
others, so the same ipvlan network on two hosts (one VLAN, one L2 segment)
hands out the same addresses twice (a known ipvlan pain point on Swarm). The
cure is a disjoint `--ip-range` per host inside the shared subnet: host i
allocates only from slice i. Slices are the subnet (or the user's own
--ip-range) cut into 2^k equal CIDR blocks, 2^k >= the number of hosts; with
3 hosts the 4th block stays unused.

Pure: no I/O, no Docker, no Textual.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence

from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import NetworkSpec

FIELD = "--hosts"
# The smallest slice worth handing a host: 4 addresses (IPv4 /30), 16 for IPv6 (/124).
MIN_SLICE_PREFIX = {4: 30, 6: 124}


def parse_hosts(values: Sequence[str]) -> list[str]:
    """`--hosts a,b --hosts c` -> ["a", "b", "c"]; every host once, at least two."""
    hosts = [h.strip() for v in values for h in str(v).split(",")]
    if any(not h for h in hosts):
        raise ValidationError(FIELD, ",".join(values), "has an empty host name",
                              "list daemons separated by single commas, e.g. --hosts "
                              "unix:///run/a.sock,ssh://root@b")
    dupes = sorted({h for h in hosts if hosts.count(h) > 1})
    if dupes:
        raise ValidationError(FIELD, ",".join(values), f"names {', '.join(dupes)} more than once",
                              "list each Docker daemon once")
    if len(hosts) < 2:
        raise ValidationError(FIELD, ",".join(values), "needs at least two Docker daemons to split the subnet "
                              "between", "for one daemon use --host URL instead")
    return hosts


def split(cidr: str, count: int) -> list[str]:
    """`cidr` cut into the first `count` of 2^k equal blocks (2^k >= count), as CIDR strings."""
    net = ipaddress.ip_network(cidr, strict=True)
    bits = max(0, (count - 1).bit_length())
    new_prefix = net.prefixlen + bits
    if new_prefix > MIN_SLICE_PREFIX[net.version]:
        smallest = net.max_prefixlen - MIN_SLICE_PREFIX[net.version]
        raise ValidationError(FIELD, f"{count} hosts",
                              f"{cidr} is too small to give each of {count} hosts a slice of "
                              f"{2 ** smallest} addresses or more",
                              f"use a subnet (or --ip-range) of /{MIN_SLICE_PREFIX[net.version] - bits} "
                              f"or larger, or fewer hosts")
    blocks = net.subnets(prefixlen_diff=bits) if bits else iter([net])
    return [str(b) for _, b in zip(range(count), blocks)]


def slice_specs(spec: NetworkSpec, hosts: Sequence[str]) -> list[NetworkSpec]:
    """One spec per host, equal to `spec` except each subnet's ip_range (host i: slice i)
    and `host`. A subnet with its own --ip-range has that range split instead."""
    per_subnet = [split(s.ip_range or s.cidr, len(hosts)) for s in spec.subnets]
    out = []
    for i, host in enumerate(hosts):
        subnets = tuple(dataclasses.replace(s, ip_range=slices[i])
                        for s, slices in zip(spec.subnets, per_subnet))
        out.append(dataclasses.replace(spec, subnets=subnets, host=host))
    return out


def slice_text(spec: NetworkSpec) -> str:
    """"192.168.20.0/25 (128 addresses)" for each subnet of a sliced spec."""
    parts = []
    for s in spec.subnets:
        rng = ipaddress.ip_network(s.ip_range or s.cidr)
        parts.append(f"{rng} ({rng.num_addresses} addresses)")
    return ", ".join(parts)


def disjoint(specs: Sequence[NetworkSpec]) -> bool:
    """No two specs' ip ranges overlap (a check of the slicing's own promise)."""
    ranges = [ipaddress.ip_network(s.ip_range or s.cidr) for sp in specs for s in sp.subnets]
    return not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1:]
                   if a.version == b.version)


__all__ = ["parse_hosts", "split", "slice_specs", "slice_text", "disjoint", "FIELD"]
