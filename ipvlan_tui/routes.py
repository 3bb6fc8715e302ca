"""Routes other hosts or the upstream router need for L3/L3S networks. Pure, no I/O.

An ipvlan L3 network is a routed subnet behind this host: nothing outside
knows it until a route points at this host's address on the network's
parent (the driver docs: "the remote host or the physical network in
between need to have a route pointing to the host IP address of the
container's Docker host eth interface"). L2 networks live on the parent's
segment and need none; isolated (dummy-parent) and --internal networks must
not be reached from outside, so they get none either.

    needed_routes(networks, inventory) -> [NeededRoute]
    render_ip(routes)   -> "ip route add SUBNET via HOSTADDR" lines
    render_frr(routes)  -> an FRR static-route snippet ("ip route SUBNET HOSTADDR")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ipvlan_tui import ipam
from ipvlan_tui.model import Inventory, NetworkSpec

FORMATS = ("ip", "frr")


@dataclass(frozen=True)
class NeededRoute:
    network: str
    subnet: str  # canonical CIDR
    via: str | None  # this host's address on the parent; None when it has none
    parent: str
    host: str = ""  # the host label (docker host), "" = this one
    problem: str = ""  # why there is no next hop, when via is None

    @property
    def version(self) -> int:
        return 6 if ":" in self.subnet else 4


@dataclass(frozen=True)
class Skipped:
    network: str
    reason: str


def _host_address(addresses: Iterable[str], version: int) -> str | None:
    """The first usable next hop of that family among CIDR addresses (no link-local, no loopback)."""
    for text in addresses:
        net = ipam.parse_cidr(text)
        addr = net.ip if net is not None else ipam.parse_address(text)
        if addr is None or addr.version != version:
            continue
        if addr.is_loopback() or (version == 6 and addr.is_link_local()):
            continue
        return str(addr)
    return None


def is_remote(host: str, url: str | None = None, local_addresses: Iterable[str] = (),
              local_names: Iterable[str] = ()) -> bool:
    """Does the Docker host labelled `host` (daemon URL `url`, default the label)
    run on another machine? "" (the local daemon) and unix:// sockets are this
    machine; so is a tcp/http/ssh URL to a loopback address, to one of
    `local_addresses` (this machine's own, plain or CIDR) or to one of
    `local_names` (this machine's host names). Any other URL is remote. A
    context name with no URL given is taken as this machine."""
    target = url if url is not None else host
    if not target or target.startswith(("unix://", "npipe://", "fd://")):
        return False
    _, sep, rest = target.partition("://")
    if not sep:
        return False
    netloc = rest.split("/", 1)[0].rpartition("@")[2]
    if netloc.startswith("["):
        hostname = netloc[1:].split("]", 1)[0]
    else:
        hostname = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    addr = ipam.parse_address(hostname)
    if addr is None:
        return hostname.lower() not in {"localhost", *(n.lower() for n in local_names)}
    if addr.is_loopback():
        return False
    mine = {str(ipam.parse_cidr(a).ip) if ipam.parse_cidr(a) is not None else a for a in local_addresses}
    return str(addr) not in mine


def needed_routes(networks: Sequence[NetworkSpec], inventory: Inventory,
                  only: str | None = None, urls: dict[str, str] | None = None,
                  local_names: Iterable[str] = ()) -> tuple[list[NeededRoute], list[Skipped]]:
    """Routes outside hosts need, per subnet of every routed (L3/L3S) network.

    `only`: restrict to the network of that name. `urls`: host label -> daemon
    URL, for labels that are context names; `local_names`: this machine's host
    names. `inventory` is this machine's: a network on a remote Docker host
    gets no next hop (its parent's address is on that machine), with the fix. Returns the routes and the networks left
    out with the reason (L2, isolated, --internal).
    """
    routes: list[NeededRoute] = []
    skipped: list[Skipped] = []
    local = [a for link in inventory.links if not link.netns for a in link.addresses]
    for spec in sorted(networks, key=lambda s: (s.host, s.name)):
        if only is not None and spec.name != only:
            continue
        if spec.mode == "l2":
            skipped.append(Skipped(spec.name, "l2: its subnets live on the parent's segment; "
                                              "routers reach them directly (the gateway is the router)"))
            continue
        if spec.isolated or spec.parent is None:
            skipped.append(Skipped(spec.name, "isolated (dummy parent): nothing outside can reach it"))
            continue
        if spec.internal:
            skipped.append(Skipped(spec.name, "--internal: kept unreachable from outside"))
            continue
        parent = spec.parent.name
        if is_remote(spec.host, (urls or {}).get(spec.host), local, local_names):
            for sub in spec.subnets:
                routes.append(NeededRoute(spec.name, sub.cidr, None, parent, spec.host,
                                          f"{parent} is on the Docker host {spec.host}, not this machine: "
                                          f"run `ipvlan-tui routes` on that host for its address"))
            continue
        link = inventory.by_name(parent)
        addresses = link.addresses if link is not None else ()
        for sub in spec.subnets:
            via = _host_address(addresses, sub.version)
            problem = ""
            if via is None:
                problem = (f"parent {parent} is not on this host" if link is None else
                           f"parent {parent} has no IPv{sub.version} address to route to; "
                           f"give it one (ip addr add ... dev {parent})")
            routes.append(NeededRoute(spec.name, sub.cidr, via, parent, spec.host, problem))
    return routes, skipped


def _header(r: NeededRoute, comment: str) -> str:
    where = f" on {r.host}" if r.host else ""
    return f"{comment} network {r.network}{where} (parent {r.parent})"


def ip_command(r: NeededRoute) -> str:
    """`ip [-6 ]route add SUBNET via HOSTADDR`, with `?` for a missing next hop."""
    fam = "-6 " if r.version == 6 else ""
    return f"ip {fam}route add {r.subnet} via {r.via or '?'}"


def render_ip(routes: Sequence[NeededRoute], skipped: Sequence[Skipped] = ()) -> str:
    """`ip route add` lines for the other hosts and the upstream router."""
    lines: list[str] = []
    last = None
    for r in routes:
        if (r.network, r.host) != last:
            lines.append(_header(r, "#"))
            last = (r.network, r.host)
        lines.append(f"# {ip_command(r)}  ({r.problem})" if r.via is None else ip_command(r))
    for s in skipped:
        lines.append(f"# {s.network}: no route needed ({s.reason})")
    if not lines:
        lines.append("# no L3/L3S networks: no routes needed")
    return "\n".join(lines)


def render_frr(routes: Sequence[NeededRoute], skipped: Sequence[Skipped] = ()) -> str:
    """An FRR (zebra/staticd) snippet: `ip route SUBNET NEXTHOP` / `ipv6 route ...`."""
    lines = ["! static routes to ipvlan L3 networks (made by ipvlan-tui routes --format frr)"]
    last = None
    for r in routes:
        if (r.network, r.host) != last:
            lines.append(_header(r, "!"))
            last = (r.network, r.host)
        kw = "ipv6 route" if r.version == 6 else "ip route"
        if r.via is None:
            lines.append(f"! {kw} {r.subnet} ?  ({r.problem})")
        else:
            lines.append(f"{kw} {r.subnet} {r.via}")
    for s in skipped:
        lines.append(f"! {s.network}: no route needed ({s.reason})")
    return "\n".join(lines)


def render(fmt: str, routes: Sequence[NeededRoute], skipped: Sequence[Skipped] = ()) -> str:
    if fmt == "frr":
        return render_frr(routes, skipped)
    if fmt == "ip":
        return render_ip(routes, skipped)
    raise ValueError(f"unknown routes format {fmt!r}; use one of {', '.join(FORMATS)}")
