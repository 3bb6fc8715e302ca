"""The live topology tree: parent link -> VLAN sub-interface -> network -> endpoints.

It is rebuilt from a Topology snapshot (the app refreshes it from netlink and
Docker events, coalesced); building is deferred until the tree is visible,
so a host with 1,000 links does not pay for it on the first screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ipvlan_tui.model import Endpoint, Link, Network, Topology
from ipvlan_tui.tui.rows import Index, host_links, is_parent_link, mode_badge, owner_text, state_text


def _link_label(link: Link) -> Text:
    text = Text(link.name, style="bold")
    text.append(f"  {link.kind} ", style="dim")
    text.append_text(state_text(link.state))
    if link.addresses:
        text.append("  " + " ".join(link.addresses), style="#8a9199")
    return text


def _vlan_label(link: Link) -> Text:
    text = Text(link.name, style="bold")
    text.append(f"  VLAN {link.vlan_id}  ", style="#e6b450")
    text.append_text(owner_text(link.owner))
    text.append("  ")
    text.append_text(state_text(link.state))
    return text


def _network_label(net: Network) -> Text:
    s = net.spec
    text = mode_badge(s.mode, s.flag)
    text.append(f"  {s.name}", style="bold")
    if s.engine != "netns":
        text.append(f" ({s.engine})", style="blue")
    if s.isolated:
        text.append("  isolated", style="yellow")
    if s.subnets:
        text.append("  " + " ".join(x.cidr for x in s.subnets), style="#8a9199")
    return text


def _endpoint_label(ep: Endpoint) -> Text:
    text = Text(ep.name, style="bold")
    for addr in (ep.ipv4, ep.ipv6):
        if addr:
            text.append(f"  {addr}", style="#aad94c")
    text.append("  ")
    text.append_text(state_text(ep.state))
    return text


class TopologyTree(Tree):
    ALLOW_MAXIMIZE = True

    def __init__(self, **kwargs) -> None:
        super().__init__(Text("host", style="bold"), **kwargs)
        self.show_root = True
        self.guide_depth = 3
        self._topology: Topology | None = None
        self._index: Index | None = None
        self._dirty = False
        self._collapsed: set[str] = set()

    def set_topology(self, topo: Topology, idx: Index, *, visible: bool) -> None:
        self._topology, self._index = topo, idx
        self._dirty = True
        if visible:
            self.rebuild()

    def rebuild_if_dirty(self) -> None:
        if self._dirty:
            self.rebuild()

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        key = _key(event.node.data)
        if key:
            self._collapsed.add(key)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        self._collapsed.discard(_key(event.node.data))

    def _add(self, parent: TreeNode, label: Text, data: object, leaf: bool) -> TreeNode:
        if leaf:
            return parent.add_leaf(label, data=data)
        return parent.add(label, data=data, expand=_key(data) not in self._collapsed)

    def rebuild(self) -> None:
        topo, idx = self._topology, self._index
        if topo is None or idx is None:
            return
        self._dirty = False
        cursor_key = _key(self.cursor_node.data) if self.cursor_node else None
        self.clear()
        self.root.expand()
        placed: set[str] = set()

        def add_networks(node: TreeNode, link_name: str) -> None:
            for net in idx.networks_on.get(link_name, ()):
                placed.add(net.spec.name)
                nn = self._add(node, _network_label(net), net, leaf=not net.endpoints)
                for ep in net.endpoints:
                    self._add(nn, _endpoint_label(ep), ep, leaf=True)

        for link in host_links(topo):
            if not is_parent_link(link):
                continue
            vlans = idx.vlans_on.get(link.name, [])
            busy = vlans or idx.networks_on.get(link.name)
            ln = self._add(self.root, _link_label(link), link, leaf=not busy)
            for vlan in vlans:
                vn = self._add(ln, _vlan_label(vlan), vlan,
                               leaf=not idx.networks_on.get(vlan.name))
                add_networks(vn, vlan.name)
            add_networks(ln, link.name)
        orphans = [n for n in topo.networks if n.spec.name not in placed]
        if orphans:
            on = self.root.add(Text("parent not on this host", style="yellow"), data=None,
                               expand=True)
            for net in orphans:
                nn = self._add(on, _network_label(net), net, leaf=not net.endpoints)
                for ep in net.endpoints:
                    self._add(nn, _endpoint_label(ep), ep, leaf=True)
        if not topo.networks:
            self.root.add_leaf(Text("no ipvlan networks yet: press n to create one",
                                    style="dim italic"))
        if cursor_key:
            self._restore_cursor(cursor_key)

    def _restore_cursor(self, key: str) -> None:
        def walk(node: TreeNode):
            yield node
            for child in node.children:
                yield from walk(child)
        for node in walk(self.root):
            if _key(node.data) == key:
                self.move_cursor(node, animate=False)
                return


def _key(data: object) -> str:
    if isinstance(data, Link):
        return f"link:{data.name}"
    if isinstance(data, Network):
        return f"network:{data.spec.name}"
    if isinstance(data, Endpoint):
        return f"endpoint:{data.name}"
    return ""
