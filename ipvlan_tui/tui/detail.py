"""The detail area: everything about the selected row, and the commands that recreate it.

Pure Rich renderables (no Textual), so the same text is testable and the
log/CLI could print it. The commands are the ones an operator would type:
`ip`, `ipvlan-tui` (same flags as Docker) and `docker`.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ipvlan_tui import routes as routesmod
from ipvlan_tui.model import (
    ENDPOINT_IFNAME,
    ENGINE_DOCKER,
    PARENT_DUMMY,
    PARENT_EXISTING,
    PARENT_VLAN,
    Endpoint,
    Inventory,
    Link,
    Network,
)
from ipvlan_tui.tui.rows import Index, mode_badge, owner_text, state_text


def _grid(pairs: list[tuple[str, object]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold #8a9199", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in pairs:
        if value in (None, "", ()):
            value = Text("-", style="dim")
        grid.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    return grid


def _commands(title: str, commands: list[str]) -> RenderableType:
    text = Text()
    text.append(f"\n{title}\n", style="bold")
    for cmd in commands:
        if cmd.startswith("#"):
            text.append(f"  {cmd}\n", style="dim italic")
        else:
            text.append("  $ ", style="dim")
            text.append(f"{cmd}\n", style="#aad94c")
    return text


def _heading(kind: str, name: str) -> Text:
    text = Text()
    text.append(f" {kind} ", style="bold reverse")
    text.append(f" {name}\n", style="bold")
    return text


# ----------------------------------------------------------------- commands
def link_commands(link: Link) -> list[str]:
    cmds: list[str] = []
    if link.kind == "vlan":
        cmds.append(f"ip link add link {link.parent_name} name {link.name} type vlan id {link.vlan_id}")
    elif link.kind == "dummy":
        cmds.append(f"ip link add {link.name} type dummy")
    elif link.kind == "device":
        cmds.append(f"# {link.name} is a device: it cannot be created, only configured")
    else:
        cmds.append(f"ip link add {link.name} type {link.kind}")
    if link.mtu:
        cmds.append(f"ip link set {link.name} mtu {link.mtu}")
    for addr in link.addresses:
        cmds.append(f"ip addr add {addr} dev {link.name}")
    cmds.append(f"ip link set {link.name} {'up' if link.admin_up or link.state == 'up' else 'down'}")
    return cmds


def network_flags(net: Network) -> list[str]:
    """The `docker network create` flags that rebuild this network."""
    s = net.spec
    flags = ["-d ipvlan"]
    for sub in s.subnets:
        flags.append(f"--subnet {sub.cidr}")
        if sub.gateway and s.mode == "l2":
            flags.append(f"--gateway {sub.gateway}")
        if sub.ip_range:
            flags.append(f"--ip-range {sub.ip_range}")
        for name, ip in sub.aux_addresses:
            flags.append(f"--aux-address {name}={ip}")
    if s.parent is not None and s.parent.kind != PARENT_DUMMY:
        flags.append(f"-o parent={s.parent.name}")
    flags.append(f"-o ipvlan_mode={s.mode}")
    if s.flag != "bridge":
        flags.append(f"-o ipvlan_flag={s.flag}")
    if s.internal:
        flags.append("--internal")
    if s.ipv6 or s.subnets_v(6):
        flags.append("--ipv6")
    return flags


def network_commands(net: Network) -> list[str]:
    s = net.spec
    flags = " ".join(network_flags(net))
    cmds = [f"ipvlan-tui network create {flags} {s.name}",
            f"docker network create {flags} {s.name}"]
    p = s.parent
    if p is not None and p.create and p.kind == PARENT_VLAN:
        cmds.append(f"# by hand, the parent: ip link add link {p.base} name {p.name} "
                    f"type vlan id {p.vlan_id} && ip link set {p.name} up")
    elif p is not None and p.kind == PARENT_DUMMY:
        cmds.append(f"# by hand, the isolated parent: ip link add {p.name} type dummy "
                    f"&& ip link set {p.name} up")
    return cmds


def _routes(net: Network, ep: Endpoint) -> list[str]:
    """The routes an endpoint gets (the driver's rules, as shown, not as applied)."""
    s = net.spec
    out = []
    if s.mode == "l2":
        if not s.isolated:
            for sub in s.subnets:
                if sub.gateway and ((sub.version == 4 and ep.ipv4) or (sub.version == 6 and ep.ipv6)):
                    out.append(f"default via {sub.gateway}")
    else:
        if s.isolated:
            out.extend(sub.cidr for sub in s.subnets)
        else:
            if ep.ipv4:
                out.append("default")
            if ep.ipv6:
                out.append("-6 default")
    return out


def endpoint_commands(ep: Endpoint, net: Network | None) -> list[str]:
    ns = ep.netns or ep.name
    ip_flags = "".join(f" --ip {ep.ipv4}" if ep.ipv4 else "") + (f" --ip6 {ep.ipv6}" if ep.ipv6 else "")
    cmds = [f"ipvlan-tui run --net {ep.network}{ip_flags} --name {ep.name}",
            f"docker run -d --net {ep.network}{ip_flags} --name {ep.name} IMAGE"]
    if net is None or ep.engine == ENGINE_DOCKER:
        return cmds
    s = net.spec
    parent = s.parent.name if s.parent else "?"
    cmds.append(f"ip netns add {ns}")
    cmds.append(f"ip link add link {parent} name {ENDPOINT_IFNAME} netns {ns} "
                f"type ipvlan mode {s.mode} {s.flag}")
    cmds.append(f"ip -n {ns} link set lo up && ip -n {ns} link set {ENDPOINT_IFNAME} up")
    for addr, version in ((ep.ipv4, 4), (ep.ipv6, 6)):
        if not addr:
            continue
        prefix = next((sub.cidr.split("/")[1] for sub in s.subnets_v(version)
                       if _inside(addr, sub.cidr)), "32" if version == 4 else "128")
        cmds.append(f"ip -n {ns} addr add {addr}/{prefix} dev {ENDPOINT_IFNAME}"
                    + (" nodad" if version == 6 else ""))
    for route in _routes(net, ep):
        six = route.startswith("-6 ")
        dst = route[3:] if six else route
        cmds.append(f"ip -n {ns} {'-6 ' if six else ''}route add {dst} dev {ENDPOINT_IFNAME}"
                    if " via " not in dst else
                    f"ip -n {ns} route add {dst} dev {ENDPOINT_IFNAME}")
    return cmds


def _inside(addr: str, cidr: str) -> bool:
    import ipaddress
    try:
        return ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


# ------------------------------------------------------------------ details
def link_detail(link: Link, idx: Index) -> RenderableType:
    vlans = idx.vlans_on.get(link.name, [])
    nets = [n.spec.name for n in idx.networks_on.get(link.name, [])]
    kind = "VLAN sub-interface" if link.kind == "vlan" else "Parent link"
    pairs: list[tuple[str, object]] = [
        ("name", Text(link.name, style="bold")),
        ("kind", link.kind),
        ("state", state_text(link.state)),
        ("admin", "up" if link.admin_up else "down"),
        ("ifindex", link.ifindex),
        ("MTU", link.mtu or ""),
        ("MAC", link.mac or ""),
        ("addresses", "\n".join(link.addresses)),
        ("owner", owner_text(link.owner)),
    ]
    if link.kind == "vlan":
        pairs += [("parent", link.parent_name or "?"), ("VLAN id", link.vlan_id)]
    else:
        pairs.append(("VLANs", ", ".join(f"{v.name} (id {v.vlan_id})" for v in vlans)))
    pairs.append(("networks", ", ".join(nets)))
    notes = []
    if link.kind == "vlan" and link.owner != "ipvlan-tui":
        notes.append("Not made by ipvlan-tui: never deleted by it.")
    elif link.kind == "vlan":
        notes.append("Made by ipvlan-tui: deleted with its network.")
    parts: list[RenderableType] = [_heading(kind, link.name), _grid(pairs)]
    if notes:
        parts.append(Text("\n" + " ".join(notes), style="italic #8a9199"))
    parts.append(_commands("Recreate it with", link_commands(link)))
    return Group(*parts)


def _parent_words(net: Network) -> Text:
    p = net.spec.parent
    if p is None:
        return Text("-", style="dim")
    if p.kind == PARENT_DUMMY:
        return Text(f"{p.name}: isolated dummy parent, made and removed with the network",
                    style="yellow")
    if p.kind == PARENT_VLAN and p.create:
        return Text(f"{p.name}: VLAN {p.vlan_id} on {p.base}, made by this tool, "
                    "deleted with the network")
    if p.kind == PARENT_EXISTING or not p.create:
        return Text(f"{p.name}: existing link, used as it is, never deleted")
    return Text(p.name)


def needed_routes_text(net: Network, idx: Index | None) -> RenderableType | None:
    """For an L3/L3S network: the routes other hosts or the upstream router need
    (what `ipvlan-tui routes NET` prints), from this host's links. None for L2."""
    if net.spec.mode == "l2" or idx is None:
        return None
    inv = Inventory(links=tuple(idx.link_by_name.values()))
    found, skipped = routesmod.needed_routes([net.spec], inv)
    text = Text("\nRoutes other hosts need", style="bold")
    text.append("  (ipvlan-tui routes " + net.spec.name + ")\n", style="dim")
    if skipped:
        text.append(f"none: {skipped[0].reason}\n", style="dim")
        return text
    problems: list[str] = []
    for r in found:
        text.append(f"  {routesmod.ip_command(r)}\n", style="yellow" if r.via is None else "#7fd962")
        if r.via is None and r.problem not in problems:
            problems.append(r.problem)
    for problem in problems:
        text.append(f"  ? {problem}\n", style="dim")
    return text


def network_detail(net: Network, idx: Index | None = None) -> RenderableType:
    s = net.spec
    subnets = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold #8a9199")
    for col in ("subnet", "gateway", "ip-range", "aux"):
        subnets.add_column(col)
    for sub in s.subnets:
        gw = (Text("ignored (L3)", style="dim") if s.mode != "l2"
              else Text(sub.gateway or "none", style="" if sub.gateway else "dim"))
        if sub.gateway and not sub.gateway_given and s.mode == "l2":
            gw.append(" (first usable)", style="dim")
        subnets.add_row(sub.cidr, gw, sub.ip_range or Text("-", style="dim"),
                        ", ".join(f"{n}={ip}" for n, ip in sub.aux_addresses) or Text("-", style="dim"))
    eps = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold #8a9199")
    for col in ("endpoint", "IPv4", "IPv6", "state"):
        eps.add_column(col)
    for ep in net.endpoints:
        eps.add_row(ep.name, ep.ipv4 or "-", ep.ipv6 or "-", state_text(ep.state))
    pairs: list[tuple[str, object]] = [
        ("name", Text(s.name, style="bold")),
        ("id", s.network_id[:12]),
        ("engine", f"{s.engine}" + (f" @ {s.host}" if s.host else "")),
        ("mode", mode_badge(s.mode, s.flag)),
        ("parent", _parent_words(net)),
        ("internal", "yes" if s.internal else "no"),
        ("created links", ", ".join(net.created_links)),
    ]
    parts: list[RenderableType] = [_heading("Network", s.name), _grid(pairs), Text(""),
                                   subnets if s.subnets else Text("no subnets", style="dim")]
    if s.mode != "l2":
        parts.append(Text("L3: endpoints get `default dev eth0`; broadcast and multicast "
                          "are dropped; subnets on one parent reach each other.",
                          style="italic #8a9199"))
    for w in s.warnings:
        parts.append(Text(f"⚠ {w}", style="yellow"))
    parts.append(Text(""))
    parts.append(eps if net.endpoints else Text("no endpoints attached (press a)", style="dim"))
    routes_text = needed_routes_text(net, idx)
    if routes_text is not None:
        parts.append(routes_text)
    parts.append(_commands("Recreate it with", network_commands(net)))
    return Group(*parts)


def endpoint_detail(ep: Endpoint, net: Network | None) -> RenderableType:
    pairs: list[tuple[str, object]] = [
        ("name", Text(ep.name, style="bold")),
        ("engine", ep.engine + (f" @ {ep.host}" if ep.host else "")),
        ("network", ep.network),
        ("mode", mode_badge(net.spec.mode, net.spec.flag) if net else ""),
        ("parent", net.spec.parent.name if net and net.spec.parent else ""),
        ("IPv4", ep.ipv4 or ""),
        ("IPv6", ep.ipv6 or ""),
        ("namespace", ep.netns),
        ("state", state_text(ep.state)),
        ("container", (ep.container_id or "")[:12]),
    ]
    if net is not None:
        pairs.append(("routes", "\n".join(_routes(net, ep)) or "none"))
    return Group(_heading("Endpoint", ep.name), _grid(pairs),
                 _commands("Recreate it with", endpoint_commands(ep, net)))


def detail_for(obj: object, idx: Index) -> RenderableType:
    if isinstance(obj, Link):
        return link_detail(obj, idx)
    if isinstance(obj, Network):
        return network_detail(obj, idx)
    if isinstance(obj, Endpoint):
        return endpoint_detail(obj, idx.network_by_name.get(obj.network))
    return Text("Select a row: its details and the commands that recreate it show here.",
                style="dim italic")
