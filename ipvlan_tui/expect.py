"""Predicted reachability, from the Topology alone, before any packet is sent.

The tester shows each pair's prediction beside what the probe measured; a
mismatch is "surprising", and the reason says which rule predicted what, so
"cannot ping the parent" reads as ipvlan's design, not as a mystery.

Rules, checked in this order (RULES holds a one-line legend for each):
  endpoint-down     the source or target endpoint is missing, exited, created or dead
  self              an endpoint pinging itself
  no-common-family  no IP family both sides have (or not the one asked for)
  no-address        "parent" asked for, but the parent link has no address
  parent-isolated   the target is the parent's own address or any host address
  isolated          --internal / dummy-parent network to or from anything outside it
  different-parent  different parents or VLANs: needs a router, nothing routes here
  private-flag      ipvlan_flag=private: the kernel drops traffic between ports
  vepa-flag         ipvlan_flag=vepa: port-to-port traffic leaves via the parent
  same-subnet       same port, same subnet
  l2-needs-router   L2, different subnets: only an outside router joins them
  l3-same-parent    L3/L3S on one parent route between its subnets
  no-such-host      an address in a known subnet that nothing holds
  outside           an address on no network this tool knows
  unknown-network   the source (or target) network is not in the topology

The mode and flag are read from the live ipvlan link when the inventory has
it (the kernel keeps one mode per parent, whatever the network was created
with), else from the network spec. No I/O, no Textual.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Union

from .errors import ValidationError
from .model import ENDPOINT_IFNAME, PARENT_VLAN, Endpoint, Link, Network, Topology

if TYPE_CHECKING:  # probe imports this module, not the other way round
    from .probe import PingResult

__all__ = [
    "Expectation",
    "PARENT",
    "RULES",
    "predict",
    "verdict",
    "choose_address",
    "parent_addresses",
    "host_addresses",
]

# The target meaning "the source network's parent link's own address".
PARENT = "parent"

RULES = {
    "endpoint-down": "the source or target endpoint is not running: nothing to send from or to answer",
    "self": "an endpoint reaches its own address",
    "no-common-family": "no IP family in common: nothing to send",
    "no-address": "the target has no address at all: nothing to send",
    "parent-isolated": "ipvlan ports cannot reach their parent's or the host's addresses (kernel design)",
    "isolated": "an --internal / dummy-parent network reaches nothing outside itself",
    "different-parent": "different parents or VLANs need a router; nothing routes between them here",
    "private-flag": "ipvlan_flag=private: the kernel drops traffic between ports of one parent",
    "vepa-flag": "ipvlan_flag=vepa: port-to-port traffic leaves via the parent for an outside switch",
    "same-subnet": "same parent, same subnet: reachable",
    "l2-needs-router": "L2: different subnets need an outside router",
    "l3-same-parent": "L3/L3S: the parent routes between all its subnets",
    "no-such-host": "nothing holds this address on its network",
    "outside": "not on any network known here; only an outside router could reach it",
    "unknown-network": "the network is not in the topology: no prediction",
}


@dataclass(frozen=True)
class Expectation:
    reachable: bool
    reason: str
    rule: str
    address: str | None = None  # what a probe should ping (chosen family); None: nothing
    family: int | None = None


Target = Union[Endpoint, str]

# Endpoint states with no live namespace/interface (store: "missing"; Docker:
# "exited", "created", "dead"). A "paused" container still answers ICMP: the
# kernel does, not the frozen processes.
DOWN_STATES = frozenset({"missing", "exited", "created", "dead"})


# ---------------------------------------------------------------------------
# Small helpers (public ones are used by probe.matrix and the front ends)
# ---------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a matrix asks for the same few addresses again and again
def _plain(addr: str | None) -> str | None:
    if not addr:
        return None
    return str(ipaddress.ip_interface(addr).ip)


def _families(ep: Endpoint) -> dict[int, str]:
    out: dict[int, str] = {}
    if _plain(ep.ipv4):
        out[4] = _plain(ep.ipv4)  # type: ignore[assignment]
    if _plain(ep.ipv6):
        out[6] = _plain(ep.ipv6)  # type: ignore[assignment]
    return out


def _pick(src: dict[int, object], dst: dict[int, object], family: int | None) -> int | None:
    common = set(src) & set(dst)
    if family is not None:
        return family if family in common else None
    if 4 in common:
        return 4
    return 6 if 6 in common else None


def choose_address(
    source: Endpoint, target: Endpoint, family: int | None = None
) -> tuple[str, int] | None:
    """The target address to ping: its IPv4 unless family=6 or only IPv6 is common."""
    src, dst = _families(source), _families(target)
    fam = _pick(src, dst, family)
    return (dst[fam], fam) if fam else None


def _fam_words(fams) -> str:
    names = [f"IPv{f}" for f in sorted(fams)]
    return " and ".join(names) if names else "no address"


def host_addresses(topology: Topology) -> dict[str, str]:
    """Every address on a host-namespace link -> that link's name."""
    out: dict[str, str] = {}
    for link in topology.inventory.host_links():
        for a in link.addresses:
            out[_plain(a)] = link.name  # type: ignore[index]
    return out


def _parent_name(network: Network) -> str | None:
    return network.spec.parent.name if network.spec.parent else None


def parent_addresses(topology: Topology, network: Network) -> tuple[str, ...]:
    """The parent link's own addresses; for a VLAN parent with none, its base link's."""
    inv = topology.inventory
    names = []
    if network.spec.parent:
        names.append(network.spec.parent.name)
        link = inv.by_name(network.spec.parent.name)
        base = network.spec.parent.base or (link.parent_name if link else None)
        if base:
            names.append(base)
    for name in names:
        link = inv.by_name(name)
        if link and link.addresses:
            return tuple(_plain(a) for a in link.addresses)  # type: ignore[misc]
    return ()


def _network(topology: Topology, name: str) -> Network | None:
    for net in topology.networks:
        if net.spec.name == name:
            return net
    return None


def _link_netns(ep: Endpoint) -> str:
    """Endpoint.netns in the Link.netns convention ("ns1", "pid:1234")."""
    ns = ep.netns
    if ns.startswith("/proc/") and ns.endswith("/ns/net"):
        return "pid:" + ns.split("/")[2]
    if ns.startswith("/run/netns/"):
        return ns[len("/run/netns/"):]
    return ns


def _live_link(topology: Topology, ep: Endpoint) -> Link | None:
    ns = _link_netns(ep)
    if not ns:
        return None
    for link in topology.inventory.links:
        if link.netns == ns and link.kind == "ipvlan" and link.name == ENDPOINT_IFNAME:
            return link
    return None


@dataclass(frozen=True)
class _Port:
    parent: str | None
    mode: str
    flag: str
    note: str  # "" or why the live mode/flag differs from the spec


def _port(topology: Topology, net: Network, ep: Endpoint | None) -> _Port:
    parent, mode, flag, note = _parent_name(net), net.spec.mode, net.spec.flag, ""
    link = _live_link(topology, ep) if ep is not None else None
    if link is not None:
        if link.parent_name:
            parent = link.parent_name
        live_mode = link.ipvlan_mode or mode
        live_flag = link.ipvlan_flag or flag
        if (live_mode, live_flag) != (mode, flag):
            note = (f" (the kernel reports {live_mode} {live_flag} on {parent}; "
                    f"network {net.spec.name} was created as {mode} {flag})")
        mode, flag = live_mode, live_flag
    return _Port(parent, mode, flag, note)


def _subnet_of(net: Network, address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    for sub in net.spec.subnets:
        cidr = ipaddress.ip_network(sub.cidr, strict=False)
        if cidr.version == ip.version and ip in cidr:
            return str(cidr)
    return None


def _isolated(net: Network) -> bool:
    return net.spec.isolated or net.spec.internal


def _isolation_words(net: Network) -> str:
    why = "--internal" if net.spec.internal else "no parent"
    parent = _parent_name(net)
    return f"network {net.spec.name} is isolated ({why}: dummy parent {parent})" if parent else \
        f"network {net.spec.name} is isolated ({why})"


def _mode_words(mode: str) -> str:
    return mode.upper()


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------


def predict(
    topology: Topology, source: Endpoint, target: Target, *, family: int | None = None
) -> Expectation:
    """Will `source` reach `target`, and why.

    target: an Endpoint; PARENT ("parent": the source network's parent's own
    address); or a raw IP address (a host address, an endpoint's address, or
    anything else). family: 4 or 6 to force one (ping -4/-6), None to choose.
    A malformed address raises ValidationError.
    """
    src_net = _network(topology, source.network)
    if src_net is None:
        return Expectation(False, f"network {source.network} of {source.name} is not in the topology; "
                                  "no prediction", "unknown-network")
    src_fams = _families(source)
    if source.state in DOWN_STATES:
        return Expectation(False, f"{source.name} is {source.state}: there is no namespace to send "
                                  "from", "endpoint-down")

    if isinstance(target, Endpoint):
        return _predict_endpoint(topology, source, src_net, target, family)

    if target == PARENT:
        addrs = parent_addresses(topology, src_net)
        parent = _parent_name(src_net) or "(none)"
        if not addrs:
            return Expectation(False, f"the parent {parent} has no address to ping", "no-address")
        by_fam: dict[int, str] = {}
        for a in addrs:
            by_fam.setdefault(ipaddress.ip_address(a).version, a)
        fam = _pick(src_fams, by_fam, family)
        if fam is None:
            return Expectation(False, f"no common address family: {source.name} has "
                                      f"{_fam_words(src_fams)}, the parent {parent} has {_fam_words(by_fam)}",
                               "no-common-family")
        addr = by_fam[fam]
        return Expectation(False, f"{addr} is the parent {parent}'s own address: the kernel isolates "
                                  "ipvlan ports from their parent by design", "parent-isolated", addr, fam)

    # A raw address.
    try:
        ip = ipaddress.ip_address(str(target).split("%")[0])
    except ValueError:
        raise ValidationError("target", target, "not an IP address, endpoint or 'parent'",
                              "give an address such as 192.168.1.10") from None
    addr, fam = str(ip), ip.version
    if family is not None and family != fam:
        return Expectation(False, f"{addr} is IPv{fam}, IPv{family} was asked for", "no-common-family")
    if fam not in src_fams:
        return Expectation(False, f"no common address family: {source.name} has {_fam_words(src_fams)}, "
                                  f"{addr} is IPv{fam}", "no-common-family")
    for net in topology.networks:
        for ep in net.endpoints:
            if _families(ep).get(fam) == addr:
                exp = _predict_endpoint(topology, source, src_net, ep, fam)
                return exp
    hosts = host_addresses(topology)
    if addr in hosts:
        link = hosts[addr]
        own = link == _parent_name(src_net) or addr in parent_addresses(topology, src_net)
        what = f"the parent {link}'s own address" if own else f"a host address (on {link})"
        return Expectation(False, f"{addr} is {what}: the kernel isolates ipvlan ports from their "
                                  "parent and the host by design", "parent-isolated", addr, fam)
    if _isolated(src_net) and _subnet_of(src_net, addr) is None:
        return Expectation(False, f"{_isolation_words(src_net)}; {addr} is outside it", "isolated", addr, fam)
    for net in topology.networks:
        sub = _subnet_of(net, addr)
        if sub is None:
            continue
        gateways = {_plain(s.gateway) for s in net.spec.subnets if s.gateway}
        if addr in gateways and net.spec.mode == "l2":
            return Expectation(False, f"{addr} is the gateway of {sub} on network {net.spec.name}: an "
                                      "outside router, and no link here holds it", "no-such-host", addr, fam)
        return Expectation(False, f"no endpoint holds {addr} in {sub} on network {net.spec.name}",
                           "no-such-host", addr, fam)
    return Expectation(False, f"{addr} is on no network known here; only an outside router could reach "
                              "it, and none is known", "outside", addr, fam)


def _predict_endpoint(
    topology: Topology, source: Endpoint, src_net: Network, target: Endpoint, family: int | None
) -> Expectation:
    tgt_net = _network(topology, target.network)
    chosen = choose_address(source, target, family)
    addr, fam = chosen if chosen else (None, None)
    if source.name == target.name and source.network == target.network:
        if chosen is None:
            return Expectation(False, f"{source.name} has no {'IPv%d ' % family if family else ''}address",
                               "no-address")
        return Expectation(True, f"{target.name} is the source itself", "self", addr, fam)
    if chosen is None:
        src_f, dst_f = _families(source), _families(target)
        asked = f" (IPv{family} asked for)" if family else ""
        return Expectation(False, f"no common address family{asked}: {source.name} has {_fam_words(src_f)}, "
                                  f"{target.name} has {_fam_words(dst_f)}", "no-common-family")
    if tgt_net is None:
        return Expectation(False, f"network {target.network} of {target.name} is not in the topology; "
                                  "no prediction", "unknown-network", addr, fam)
    if target.state in DOWN_STATES:
        return Expectation(False, f"{target.name} is {target.state}: nothing there to answer",
                           "endpoint-down", addr, fam)
    src_addr = _families(source)[fam]  # type: ignore[index]
    same_net = src_net.spec.name == tgt_net.spec.name
    sp, tp = _port(topology, src_net, source), _port(topology, tgt_net, target)
    same_port = sp.parent is not None and sp.parent == tp.parent

    if not same_net and not same_port:
        for net in (src_net, tgt_net):
            if _isolated(net):
                return Expectation(False, f"{_isolation_words(net)}; {source.name} and {target.name} "
                                          "are on different networks", "isolated", addr, fam)
        return Expectation(False, _different_parent_words(topology, src_net, tgt_net, sp, tp),
                           "different-parent", addr, fam)

    where = f"on {sp.parent}" if sp.parent else f"on network {src_net.spec.name}"
    if sp.flag == "private":
        return Expectation(False, f"ipvlan_flag=private {where}: the kernel drops traffic between its "
                                  f"ports{sp.note}", "private-flag", addr, fam)
    if sp.flag == "vepa":
        return Expectation(False, f"ipvlan_flag=vepa {where}: traffic between ports leaves via the "
                                  f"parent and needs an outside switch to turn it back{sp.note}",
                           "vepa-flag", addr, fam)

    src_sub = _subnet_of(src_net, src_addr)
    tgt_sub = _subnet_of(tgt_net, addr)  # type: ignore[arg-type]
    if src_sub is not None and src_sub == tgt_sub:
        return Expectation(True, f"same subnet {src_sub} {where}{sp.note}", "same-subnet", addr, fam)
    if _isolated(src_net) and not same_net:
        return Expectation(False, f"{_isolation_words(src_net)}; {target.name} is on network "
                                  f"{tgt_net.spec.name}", "isolated", addr, fam)
    if sp.mode == "l2":
        return Expectation(False, f"L2 mode {where}: {src_sub or src_addr} and {tgt_sub or addr} are "
                                  f"different subnets; only an outside router joins them (none here)"
                                  f"{sp.note}", "l2-needs-router", addr, fam)
    internal = " (--internal: routes to its own subnets only)" if src_net.spec.internal else ""
    return Expectation(True, f"{_mode_words(sp.mode)} mode {where}: the parent routes between "
                             f"{src_sub or src_addr} and {tgt_sub or addr}{internal}{sp.note}",
                       "l3-same-parent", addr, fam)


def _different_parent_words(topology: Topology, a: Network, b: Network, ap: _Port, bp: _Port) -> str:
    def vlan(net: Network, port: _Port) -> tuple[str | None, int | None]:
        p = net.spec.parent
        if p is not None and p.kind == PARENT_VLAN and p.name == port.parent:
            return p.base, p.vlan_id
        link = topology.inventory.by_name(port.parent) if port.parent else None
        if link is not None and link.kind == "vlan":
            return link.parent_name, link.vlan_id
        return None, None

    (abase, aid), (bbase, bid) = vlan(a, ap), vlan(b, bp)
    if aid is not None and bid is not None and abase == bbase and aid != bid:
        what = f"different VLANs ({ap.parent} is VLAN {aid}, {bp.parent} is VLAN {bid}, on {abase})"
    else:
        what = f"different parents ({ap.parent or '?'} and {bp.parent or '?'})"
    return f"{what}: networks {a.spec.name} and {b.spec.name} need a router between them, and nothing " \
           "routes between them here"


# ---------------------------------------------------------------------------
# verdict
# ---------------------------------------------------------------------------


def verdict(expectation: Expectation, result: "PingResult") -> tuple[str, str]:
    """("expected" | "surprising", text): the measurement against the prediction."""
    got = result.received > 0
    if got:
        measured = f"{result.received}/{result.sent} replies"
    elif result.sent == 0:
        measured = f"nothing sent ({result.error or 'no probe'})"
    else:
        measured = f"no reply ({result.error or 'timed out'})"
    if result.sent == 0 and not expectation.reachable and (
            expectation.address is None or expectation.rule == "endpoint-down"):
        return "expected", f"expected: {measured}, as predicted: {expectation.reason}"
    if result.sent == 0:
        return "surprising", (f"surprising: the probe could not run: {result.error or 'unknown'}; "
                              f"predicted {'reachable' if expectation.reachable else 'not reachable'}: "
                              f"{expectation.reason}")
    if got == expectation.reachable:
        return "expected", f"expected: {measured}, as predicted: {expectation.reason}"
    predicted = "reachable" if expectation.reachable else "not reachable"
    return "surprising", f"surprising: {measured}, but predicted {predicted}: {expectation.reason}"
