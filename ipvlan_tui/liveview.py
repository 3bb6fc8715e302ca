"""The console's live view, kept up to date by kernel events (no Textual, no UI).

A full read (`LiveView.read`, i.e. `Controller.topology()`) costs the whole
inventory and the whole store; one kernel event changes one link. `apply`
turns a few link events into the next Topology by re-reading only the links
they name (the fake kernel's `read_link`, or `inventory.read_links` on a real
one), and says what changed, so the panels can update those rows in place.

It answers `FullRead(reason)` instead whenever only a full read can be right:
a resync (the kernel dropped events), events it does not know (Docker's),
more links than TARGETED_MAX, a store that changed since the snapshot (a
network or endpoint made or removed by another process: ownership marks and
networks come from the store), a parent it cannot place, a namespace it
cannot read.

Store-derived fields follow the controller's rules: ownership marks by its
rule over the store's rows as of the last full read (checked against every
link of that read; if they ever disagree, the controller marks each batch),
an endpoint's live
state as `Controller._netns_endpoints` decides it (creating/removing as the
store says, else running when its namespace has eth0, else missing).
tests/unit/test_liveview.py checks every result against a fresh full read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from ipvlan_tui.model import (
    ENDPOINT_IFNAME,
    ENGINE_NETNS,
    OWNER_DOCKER,
    OWNER_OTHER,
    OWNER_TOOL,
    Inventory,
    Link,
    Topology,
)

TARGETED_MAX = 48  # more links than this in one batch: one full read is cheaper
LINK_EVENTS = frozenset(("link_added", "link_removed", "link_changed", "addr_changed"))
_STORE_STATES = ("creating", "removing")
# A link that came and went between two updates: what it was (an ipvlan slave made
# with another mode changes its siblings, silently) is only known to a full read.
_UNSEEN = "link {} in {} came and went unseen"  # shown as the store says (Controller._netns_endpoints)


@dataclass(frozen=True)
class FullRead:
    """apply's answer when only a full read can be right."""

    reason: str


@dataclass(frozen=True)
class Patch:
    """The next topology and what differs from the one it was made from."""

    topology: Topology
    links: frozenset[str] = frozenset()  # host link names whose rows may differ
    endpoints: frozenset[str] = frozenset()  # endpoints whose live state changed
    networks: frozenset[str] = frozenset()  # networks holding those endpoints
    reread: int = 0  # links read from the kernel
    notes: tuple[str, ...] = field(default=(), compare=False)


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class LiveView:
    """Full reads and targeted updates over one controller. Calls block: run them in
    a worker thread, one at a time (the app's refresh worker)."""

    def __init__(self, controller) -> None:
        self.ctl = controller
        self._stamp: object = None
        self.full_reads = 0
        self.patches = 0
        # The store's ownership rows as of the last full read (the stamp says whether
        # they still hold), None when our marking disagreed with the controller's.
        self._owned: tuple[set[tuple[str, str]], set[str]] | None = None
        self._maps: tuple[Inventory, dict, dict] | None = None  # lookups of the last inventory

    # ------------------------------------------------------------- store
    def store_stamp(self) -> object:
        """Changes whenever anyone commits to the store (sqlite in WAL mode writes the
        -wal file, a checkpoint the database file): two stat calls."""
        path = getattr(self.ctl.store, "path", None)
        if path is None:
            return None
        path = str(path)
        return (_stat(path), _stat(path + "-wal"))

    # -------------------------------------------------------------- reads
    def read(self) -> Topology:
        """The full snapshot (Controller.topology()); the store stamp is taken first, so a
        change made while reading shows up as a changed store at the next apply."""
        self._stamp = self.store_stamp()
        topo = self.ctl.topology()
        self.full_reads += 1
        self._owned = self._load_owned(topo.inventory)
        return topo

    def apply(self, topo: Topology, events: list[dict]) -> Patch | FullRead:
        """topo after `events` (kernel link events, oldest first), or FullRead(why)."""
        if self._stamp is None or self.store_stamp() != self._stamp:
            return FullRead("the store changed (or no full read yet)")
        wanted: dict[str, dict[tuple[int, str], None]] = {}  # netns -> {(ifindex, name)}
        dropped: set[str] = set()
        for ev in events:
            kind = ev.get("kind")
            if kind not in LINK_EVENTS:
                return FullRead(f"event {kind or ev.get('type') or '?'}")
            netns, name, ifindex = ev.get("netns") or "", ev.get("name") or "", int(ev.get("ifindex") or 0)
            if name == "*":  # a namespace went
                if not netns:
                    return FullRead("the host namespace went?")
                dropped.add(netns)
                wanted.pop(netns, None)
                continue
            if not ifindex and not name:
                return FullRead(f"{kind} without a link")
            wanted.setdefault(netns, {})[(ifindex, name)] = None
        if sum(len(v) for v in wanted.values()) > TARGETED_MAX:
            return FullRead(f"more than {TARGETED_MAX} links")

        inv = topo.inventory
        if self._maps is not None and self._maps[0] is inv:
            by_index, by_name = self._maps[1], self._maps[2]
        else:
            by_index = {(l.netns, l.ifindex): l for l in inv.links}
            by_name = {(l.netns, l.name): l for l in inv.links}

        fresh: dict[tuple[str, int], Link] = {}  # (netns, ifindex) -> re-read link
        gone: set[tuple[str, int]] = set()
        read_one = getattr(self.ctl.kernel, "read_link", None)
        reread = 0
        for netns, keys in wanted.items():
            if read_one is not None:
                for ifindex, name in keys:
                    link = read_one(netns, ifindex=ifindex, name=name)
                    reread += 1
                    if link is not None:
                        fresh[(netns, link.ifindex)] = link
                    old = by_index.get((netns, ifindex)) if ifindex else by_name.get((netns, name))
                    if old is None and link is None:
                        return FullRead(_UNSEEN.format(name or ifindex, netns or "the host"))
                    if old is not None and (link is None or link.ifindex != old.ifindex):
                        gone.add((netns, old.ifindex))
                continue
            indexes = []
            for ifindex, name in keys:
                if not ifindex:
                    old = by_name.get((netns, name))
                    if old is None:
                        return FullRead(f"{name} in {netns or 'the host'}: no ifindex")
                    ifindex = old.ifindex
                indexes.append(ifindex)
            result = self._read_kernel(netns, indexes, inv)
            if isinstance(result, FullRead):
                return result
            reread += len(result)
            for ifindex, link in result.items():
                if link is None:
                    if (netns, ifindex) not in by_index:
                        return FullRead(_UNSEEN.format(ifindex, netns or "the host"))
                    gone.add((netns, ifindex))
                else:
                    fresh[(netns, ifindex)] = link
        for key in fresh:
            gone.discard(key)

        marked = self._mark_owners(list(fresh.values()))
        if isinstance(marked, FullRead):
            return marked
        put: dict[tuple[str, int], Link] = {(l.netns, l.ifindex): l for l in marked}

        # The kernel takes a host link's children with it (VLANs, ipvlan slaves in
        # any namespace); their own events may come later, or never (unwatched).
        for key in list(gone):
            old = by_index.get(key)
            if old is None or old.netns:
                continue
            for link in inv.links:
                if (link.parent_ifindex == old.ifindex and link.parent_name == old.name
                        and (link.netns == "" or link.parent_netns in (None, ""))
                        and (link.netns, link.ifindex) not in put):
                    gone.add((link.netns, link.ifindex))
        # ipvlan mode and flag belong to the parent: a slave made with another mode
        # changes every sibling, and the kernel says so for none of them.
        for link in list(put.values()):
            if link.kind != "ipvlan" or not link.parent_name:
                continue
            for sib in inv.links:
                key = (sib.netns, sib.ifindex)
                if (sib.kind == "ipvlan" and sib.parent_name == link.parent_name
                        and sib.parent_ifindex == link.parent_ifindex and key not in put
                        and key not in gone and sib.netns not in dropped
                        and (sib.ipvlan_mode, sib.ipvlan_flag) != (link.ipvlan_mode, link.ipvlan_flag)):
                    put[key] = replace(sib, ipvlan_mode=link.ipvlan_mode, ipvlan_flag=link.ipvlan_flag)

        new_inv = inv.replace_links(gone, put.values(), dropped)
        # The lookups of new_inv for the next batch: these, moved on (no new pass).
        next_index, next_name = dict(by_index), dict(by_name)
        for key in gone | put.keys():
            old = next_index.pop(key, None)
            if old is not None and next_name.get((old.netns, old.name)) is old:
                del next_name[(old.netns, old.name)]
        if dropped:
            for key in [k for k in next_index if k[0] in dropped]:
                old = next_index.pop(key)
                next_name.pop((old.netns, old.name), None)
        for key, link in put.items():
            next_index[key] = link
            next_name[(link.netns, link.name)] = link
        self._maps = (new_inv, next_index, next_name)

        # Which rows of the host panels can differ: the links themselves (old and
        # new names) and the parents of VLANs (their counts).
        names: set[str] = set()
        for key in gone | put.keys():
            for link in (by_index.get(key), put.get(key)):
                if link is None or link.netns:
                    continue
                names.add(link.name)
                if link.parent_name:
                    names.add(link.parent_name)

        # Endpoints whose namespace changed: their live state.
        touched = set(wanted) | dropped | {k[0] for k in gone} | {k[0] for k in put}
        touched.discard("")
        networks = topo.networks
        eps_changed: set[str] = set()
        nets_changed: set[str] = set()
        if touched:
            with_eth0 = {l.netns for l in new_inv.links if l.netns in touched and l.name == ENDPOINT_IFNAME}
            nets = []
            for net in networks:
                eps = net.endpoints
                new_eps = None
                for i, ep in enumerate(eps):
                    if ep.engine != ENGINE_NETNS or ep.netns not in touched or ep.state in _STORE_STATES:
                        continue
                    live = "running" if ep.netns in with_eth0 else "missing"
                    if live != ep.state:
                        if new_eps is None:
                            new_eps = list(eps)
                        new_eps[i] = replace(ep, state=live)
                        eps_changed.add(ep.name)
                if new_eps is not None:
                    net = replace(net, endpoints=tuple(new_eps))
                    nets_changed.add(net.spec.name)
                nets.append(net)
            networks = tuple(nets)
        self.patches += 1
        return Patch(replace(topo, inventory=new_inv, networks=networks), frozenset(names),
                     frozenset(eps_changed), frozenset(nets_changed), reread)

    # ----------------------------------------------------------- helpers
    def _read_kernel(self, netns: str, indexes: list[int], inv: Inventory
                     ) -> dict[int, Link | None] | FullRead:
        from ipvlan_tui.engines import inventory as _inventory

        read_links = getattr(self.ctl.kernel, "read_links", None)
        if read_links is None:
            return FullRead(f"{type(self.ctl.kernel).__name__} cannot read one link")
        host_names = {l.ifindex: l.name for l in inv.links if l.netns == ""}
        try:
            return read_links(netns, indexes, host_names)
        except _inventory.UnresolvedParent as exc:
            return FullRead(str(exc))
        except (OSError, ValueError) as exc:
            return FullRead(f"namespace {netns or 'host'}: {exc}")

    def _load_owned(self, inv: Inventory) -> tuple[set[tuple[str, str]], set[str]] | None:
        """The store's ownership rows, kept while the store does not change, after
        checking that _owner() marks every link of this full read as the controller
        did (else None: the controller's own marking is asked per batch)."""
        store = self.ctl.store
        owned = {(r["name"], r["netns"]) for r in store.owned("link")}
        owned_ns = {r["name"] for r in store.owned("netns")}
        for link in inv.links:
            if _owner(link.name, link.netns, link.kind, OWNER_OTHER, owned, owned_ns) != link.owner:
                return None
        return owned, owned_ns

    def _mark_owners(self, links: list[Link]) -> list[Link] | FullRead:
        """Ownership marks for these links, as Controller._mark_owners gives them."""
        if not links:
            return []
        if self._owned is not None:
            owned, owned_ns = self._owned
            out = []
            for link in links:
                owner = _owner(link.name, link.netns, link.kind, link.owner, owned, owned_ns)
                out.append(link if owner == link.owner else replace(link, owner=owner))
            return out
        mark = getattr(self.ctl, "mark_owners", None) or getattr(self.ctl, "_mark_owners", None)
        if mark is None:
            return FullRead("the controller cannot mark owners")
        return list(mark(Inventory(links=tuple(links))).links)


def _owner(name: str, netns: str, kind: str, owner: str, owned: set[tuple[str, str]],
           owned_ns: set[str]) -> str:
    """Controller._mark_owners' rule for one link (LiveView checks it against every
    full read and stops using it if the controller's rule ever says otherwise)."""
    if (name, netns) in owned or (netns and netns in owned_ns):
        return OWNER_TOOL
    if kind == "dummy" and name.startswith("di-"):
        return OWNER_DOCKER
    if netns.startswith("pid:"):
        return OWNER_DOCKER
    return owner
