"""Topology -> table rows for the four panels. Pure: no Textual, no I/O.

Each row carries its cells (Rich Text), a lower-case haystack for the `/`
filter and the object it shows, so the detail area and the actions never
look anything up again. Built in one pass with dictionaries, so 1,000 links
cost a few milliseconds.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from rich.text import Text

from ipvlan_tui.model import (
    OWNER_DOCKER,
    OWNER_TOOL,
    Endpoint,
    Link,
    Network,
    Topology,
)

LINKS, VLANS, NETWORKS, ENDPOINTS = "links", "vlans", "networks", "endpoints"
PANELS = (LINKS, VLANS, NETWORKS, ENDPOINTS)

TITLES = {
    LINKS: "Parent links",
    VLANS: "VLANs",
    NETWORKS: "Networks",
    ENDPOINTS: "Endpoints",
}

COLUMNS = {
    LINKS: ("Name", "Kind", "State", "MTU", "MAC", "Addresses", "VLANs", "Nets"),
    VLANS: ("Sub-interface", "Parent", "VLAN", "Owner", "State", "Nets"),
    NETWORKS: ("Name", "Engine", "Mode", "Parent", "Subnets", "Gateways", "Internal", "Eps"),
    ENDPOINTS: ("Name", "Engine", "Network", "IPv4", "IPv6", "State"),
}

EMPTY = {
    LINKS: "No parent links found.",
    VLANS: "No 802.1q sub-interfaces. A network with -o parent=eth0.N makes one.",
    NETWORKS: "No ipvlan networks yet. Press n to create one.",
    ENDPOINTS: "No endpoints. Press a to attach one to a network.",
}

# Child kinds live under their parent, not in the parent-links panel.
_CHILD_KINDS = {"vlan", "ipvlan", "macvlan", "ipvtap", "macvtap"}

MODE_STYLE = {
    "l2": "bold #0b0e14 on #59c2ff",
    "l3": "bold #0b0e14 on #d2a6ff",
    "l3s": "bold #0b0e14 on #ffb454",
}


def mode_badge(mode: str | None, flag: str | None = None) -> Text:
    """` L2 ` in its colour, then the flag dimmed: the mode at a glance."""
    if not mode:
        return Text("-", style="dim")
    text = Text()
    text.append(f" {mode.upper()} ", style=MODE_STYLE.get(mode, "reverse"))
    if flag:
        text.append(f" {flag}", style="dim" if flag == "bridge" else "bold")
    return text


def state_text(state: str) -> Text:
    if state in ("up", "running", "ready"):
        return Text(f"● {state}", style="green")
    if state in ("down", "missing", "exited", "failed"):
        return Text(f"○ {state}", style="red")
    if state in ("creating", "planned"):
        return Text(f"◐ {state}", style="yellow")
    return Text(f"◌ {state}", style="dim")


def owner_text(owner: str) -> Text:
    if owner == OWNER_TOOL:
        return Text("this tool", style="bold cyan")
    if owner == OWNER_DOCKER:
        return Text("Docker", style="blue")
    return Text("by hand", style="dim")


def engine_text(engine: str, host: str = "") -> Text:
    text = Text(engine, style="blue" if engine == "docker" else "")
    if host:
        text.append(f"@{host}", style="dim")
    return text


_DIM_DASH = Text("-", style="dim")  # shared: DataTable never changes a cell's Text


def _dim_if_empty(value: str) -> Text:
    return Text(value) if value else _DIM_DASH


_ZERO = Text("0", style="dim")


def _count(n: int) -> Text:
    return Text(str(n), style="bold") if n else _ZERO


def is_parent_link(link: Link) -> bool:
    return link.netns == "" and link.name != "lo" and link.kind not in _CHILD_KINDS


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Text | str, ...]
    haystack: str
    obj: object  # Link | Network | Endpoint


@dataclass(frozen=True)
class Index:
    """Lookups shared by the rows, the detail area and the topology tree."""

    vlans_on: dict[str, list[Link]]
    networks_on: dict[str, list[Network]]  # parent link name -> networks using it directly
    network_by_name: dict[str, Network]
    link_by_name: dict[str, Link]


def host_links(topo: Topology) -> list[Link]:
    """The host's links by ifindex: the order of the panels and the tree, whatever order
    the reader listed them in (a targeted update puts a new link where this puts it)."""
    return sorted((l for l in topo.inventory.links if not l.netns), key=lambda l: l.ifindex)


def index(topo: Topology) -> Index:
    vlans_on: dict[str, list[Link]] = defaultdict(list)
    link_by_name: dict[str, Link] = {}
    for link in host_links(topo):
        link_by_name[link.name] = link
        if link.kind == "vlan" and link.parent_name:
            vlans_on[link.parent_name].append(link)
    networks_on: dict[str, list[Network]] = defaultdict(list)
    for net in topo.networks:
        if net.spec.parent is not None:
            networks_on[net.spec.parent.name].append(net)
    return Index(vlans_on, networks_on, {n.spec.name: n for n in topo.networks}, link_by_name)


def _haystack(*parts: object) -> str:
    return " ".join(str(p) for p in parts if p not in (None, "")).lower()


def nets_under(idx: Index) -> dict[str, int]:
    """Networks per parent link, counting those on its VLANs: one pass over the networks."""
    out: dict[str, int] = defaultdict(int)
    for name, nets in idx.networks_on.items():
        link = idx.link_by_name.get(name)
        out[name] += len(nets)
        if link is not None and link.kind == "vlan" and link.parent_name:
            out[link.parent_name] += len(nets)
    return out


_DASH = Text("-", style="dim")


def link_row(link: Link, idx: Index, under: dict[str, int]) -> Row:
    vlans = idx.vlans_on.get(link.name, ())
    addrs = ", ".join(link.addresses)
    return Row(
        f"link:{link.name}",
        (Text(link.name, style="bold"), link.kind, state_text(link.state),
         str(link.mtu or "-"), link.mac or _DASH, addrs or _DASH,
         _count(len(vlans)), _count(under.get(link.name, 0))),
        _haystack(link.name, link.kind, link.state, link.mac, addrs),
        link)


def link_rows(topo: Topology, idx: Index) -> list[Row]:
    under = nets_under(idx)
    return [link_row(link, idx, under) for link in host_links(topo) if is_parent_link(link)]


def vlan_row(link: Link, idx: Index) -> Row:
    nets = len(idx.networks_on.get(link.name, ()))
    owner = owner_text(link.owner)
    return Row(
        f"vlan:{link.name}",
        (Text(link.name, style="bold"), link.parent_name or "?",
         str(link.vlan_id if link.vlan_id is not None else "?"), owner,
         state_text(link.state), _count(nets)),
        _haystack(link.name, link.parent_name, link.vlan_id, owner.plain, link.state),
        link)


def vlan_rows(topo: Topology, idx: Index) -> list[Row]:
    return [vlan_row(link, idx) for link in host_links(topo) if link.kind == "vlan"]


def network_row(net: Network) -> Row:
    s = net.spec
    subnets = ", ".join(x.cidr for x in s.subnets)
    if s.mode in ("l3", "l3s"):
        gws = Text("(none: L3)", style="dim")
    else:
        gws = _dim_if_empty(", ".join(x.gateway for x in s.subnets if x.gateway))
    parent = s.parent.name if s.parent else ""
    parent_text = Text(parent)
    if s.isolated:  # the dummy's name is in the detail area
        parent_text = Text("◆ isolated", style="yellow")
    return Row(
        f"network:{s.name}",
        (Text(s.name, style="bold"), engine_text(s.engine, s.host), mode_badge(s.mode, s.flag),
         parent_text, _dim_if_empty(subnets), gws,
         Text("yes", style="yellow") if s.internal else Text("no", style="dim"),
         _count(len(net.endpoints))),
        _haystack(s.name, s.engine, s.host, s.mode, s.flag, parent, subnets, gws.plain,
                  "internal" if s.internal else ""),
        net)


def network_rows(topo: Topology) -> list[Row]:
    return [network_row(net) for net in topo.networks]


def endpoint_row(ep: Endpoint) -> Row:
    return Row(
        f"endpoint:{ep.name}",
        (Text(ep.name, style="bold"), engine_text(ep.engine, ep.host), Text(ep.network),
         _dim_if_empty(ep.ipv4 or ""), _dim_if_empty(ep.ipv6 or ""), state_text(ep.state)),
        _haystack(ep.name, ep.engine, ep.network, ep.ipv4, ep.ipv6, ep.state),
        ep)


def endpoint_rows(topo: Topology) -> list[Row]:
    return [endpoint_row(ep) for net in topo.networks for ep in net.endpoints]


def build_rows(topo: Topology) -> tuple[dict[str, list[Row]], Index]:
    idx = index(topo)
    return {
        LINKS: link_rows(topo, idx),
        VLANS: vlan_rows(topo, idx),
        NETWORKS: network_rows(topo),
        ENDPOINTS: endpoint_rows(topo),
    }, idx


def _merge(old: list[Row], updates: dict[str, Row | None], order) -> list[Row]:
    """old with the rows in updates replaced (None: removed); a new row, or one whose
    place changed (order(row)), goes where the full build would put it: old is in
    `order`, so a binary search finds the place."""
    out: list[Row] = []
    moved: list[Row] = []
    for row in old:
        if row.key not in updates:
            out.append(row)
            continue
        new = updates[row.key]
        if new is None:
            continue
        if order(new) == order(row):
            out.append(new)
        else:
            moved.append(new)
    keys = {r.key for r in old}
    moved.extend(r for k, r in updates.items() if r is not None and k not in keys)
    for row in moved:
        at = bisect.bisect_right([order(r) for r in out], order(row))
        out.insert(at, row)
    return out


def patch_rows(rows: dict[str, list[Row]], topo: Topology, idx: Index, links: Iterable[str] = (),
               endpoints: Iterable[str] = (), networks: Iterable[str] = ()
               ) -> dict[str, dict[str, Row | None]]:
    """The rows a few changes touch, for a topology that differs from the one `rows` were
    built from only in the named host links, endpoints and networks (a liveview.Patch).

    Returns {panel: {row key: new Row, or None when it goes}} and updates `rows` in
    place (each panel's list in the full build's order). build_rows(topo) gives the
    same rows: tests/tui/test_live_events.py checks it after random events.
    """
    changed: dict[str, dict[str, Row | None]] = {p: {} for p in PANELS}
    links = set(links)
    if links:
        under = nets_under(idx)
        for name in links:
            link = idx.link_by_name.get(name)
            changed[LINKS][f"link:{name}"] = (link_row(link, idx, under)
                                               if link is not None and is_parent_link(link) else None)
            changed[VLANS][f"vlan:{name}"] = (vlan_row(link, idx)
                                               if link is not None and link.kind == "vlan" else None)
    eps, nets = set(endpoints), set(networks)
    if nets:
        changed[NETWORKS] = {f"network:{n.spec.name}": network_row(n) for n in topo.networks
                             if n.spec.name in nets}
    if eps:
        changed[ENDPOINTS] = {f"endpoint:{ep.name}": endpoint_row(ep) for n in topo.networks
                              for ep in n.endpoints if ep.name in eps}
    by_ifindex = lambda r: r.obj.ifindex  # noqa: E731
    for panel, order in ((LINKS, by_ifindex), (VLANS, by_ifindex)):
        upd = {k: v for k, v in changed[panel].items()
               if v is not None or any(r.key == k for r in rows[panel])}
        changed[panel] = upd
        if upd:
            rows[panel] = _merge(rows[panel], upd, order)
    for panel in (NETWORKS, ENDPOINTS):
        upd = changed[panel]
        if upd:  # the store did not change: same rows, same places, new contents
            rows[panel] = [upd.get(r.key, r) for r in rows[panel]]
    return changed


def filter_rows(rows: list[Row], query: str) -> list[Row]:
    """Rows whose text holds every word of the query (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return rows
    return [r for r in rows if all(w in r.haystack for w in words)]


def all_endpoints(topo: Topology) -> list[Endpoint]:
    return [ep for net in topo.networks for ep in net.endpoints]
