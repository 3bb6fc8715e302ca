"""Topology -> table rows for the four panels. Pure: no Textual, no I/O.

Each row carries its cells (Rich Text), a lower-case haystack for the `/`
filter and the object it shows, so the detail area and the actions never
look anything up again. Built in one pass with dictionaries, so 1,000 links
cost a few milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

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


def _dim_if_empty(value: str) -> Text:
    return Text(value) if value else Text("-", style="dim")


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


def index(topo: Topology) -> Index:
    vlans_on: dict[str, list[Link]] = defaultdict(list)
    link_by_name: dict[str, Link] = {}
    for link in topo.inventory.links:
        if link.netns:
            continue
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


def link_rows(topo: Topology, idx: Index) -> list[Row]:
    rows = []
    # Networks per parent, counting those on its VLANs: one pass over the networks.
    nets_under: dict[str, int] = defaultdict(int)
    for name, nets in idx.networks_on.items():
        link = idx.link_by_name.get(name)
        nets_under[name] += len(nets)
        if link is not None and link.kind == "vlan" and link.parent_name:
            nets_under[link.parent_name] += len(nets)
    dash = Text("-", style="dim")
    for link in topo.inventory.links:
        if not is_parent_link(link):
            continue
        vlans = idx.vlans_on.get(link.name, ())
        addrs = ", ".join(link.addresses)
        rows.append(Row(
            f"link:{link.name}",
            (Text(link.name, style="bold"), link.kind, state_text(link.state),
             str(link.mtu or "-"), link.mac or dash, addrs or dash,
             _count(len(vlans)), _count(nets_under.get(link.name, 0))),
            _haystack(link.name, link.kind, link.state, link.mac, addrs),
            link))
    return rows


def vlan_rows(topo: Topology, idx: Index) -> list[Row]:
    rows = []
    for link in topo.inventory.links:
        if link.netns or link.kind != "vlan":
            continue
        nets = len(idx.networks_on.get(link.name, ()))
        owner = owner_text(link.owner)
        rows.append(Row(
            f"vlan:{link.name}",
            (Text(link.name, style="bold"), link.parent_name or "?",
             str(link.vlan_id if link.vlan_id is not None else "?"), owner,
             state_text(link.state), _count(nets)),
            _haystack(link.name, link.parent_name, link.vlan_id, owner.plain, link.state),
            link))
    return rows


def network_rows(topo: Topology) -> list[Row]:
    rows = []
    for net in topo.networks:
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
        rows.append(Row(
            f"network:{s.name}",
            (Text(s.name, style="bold"), engine_text(s.engine, s.host), mode_badge(s.mode, s.flag),
             parent_text, _dim_if_empty(subnets), gws,
             Text("yes", style="yellow") if s.internal else Text("no", style="dim"),
             _count(len(net.endpoints))),
            _haystack(s.name, s.engine, s.host, s.mode, s.flag, parent, subnets, gws.plain,
                      "internal" if s.internal else ""),
            net))
    return rows


def endpoint_rows(topo: Topology) -> list[Row]:
    rows = []
    for net in topo.networks:
        for ep in net.endpoints:
            rows.append(Row(
                f"endpoint:{ep.name}",
                (Text(ep.name, style="bold"), engine_text(ep.engine, ep.host), Text(ep.network),
                 _dim_if_empty(ep.ipv4 or ""), _dim_if_empty(ep.ipv6 or ""), state_text(ep.state)),
                _haystack(ep.name, ep.engine, ep.network, ep.ipv4, ep.ipv6, ep.state),
                ep))
    return rows


def build_rows(topo: Topology) -> tuple[dict[str, list[Row]], Index]:
    idx = index(topo)
    return {
        LINKS: link_rows(topo, idx),
        VLANS: vlan_rows(topo, idx),
        NETWORKS: network_rows(topo),
        ENDPOINTS: endpoint_rows(topo),
    }, idx


def filter_rows(rows: list[Row], query: str) -> list[Row]:
    """Rows whose text holds every word of the query (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return rows
    return [r for r in rows if all(w in r.haystack for w in words)]


def all_endpoints(topo: Topology) -> list[Endpoint]:
    return [ep for net in topo.networks for ep in net.endpoints]
