"""The nouns of ipvlan-tui: plain frozen dataclasses, no I/O, no Textual.

Addresses are kept as strings in their canonical form (netaddr's str()),
so every layer (store, CLI JSON, TUI) can show and compare them directly.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Iterable

MODES = ("l2", "l3", "l3s")
FLAGS = ("bridge", "private", "vepa")
DEFAULT_MODE = "l2"
DEFAULT_FLAG = "bridge"

# Who made a link or namespace. The tool deletes only what it owns.
OWNER_TOOL = "ipvlan-tui"
OWNER_DOCKER = "docker"
OWNER_OTHER = "other"

ENGINE_NETNS = "netns"
ENGINE_DOCKER = "docker"

# Endpoints see their ipvlan link under this name.
ENDPOINT_IFNAME = "eth0"


# --------------------------------------------------------------------------
# What the user asked for (raw, as typed): the CLI, wizard and map file fill it.
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkRequest:
    """`docker network create -d ipvlan ...` options, unvalidated, as given."""

    name: str
    driver: str = "ipvlan"
    subnets: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    ip_ranges: tuple[str, ...] = ()
    aux_addresses: tuple[str, ...] = ()  # each "NAME=IP"
    options: tuple[str, ...] = ()  # each "key=value" from -o/--opt
    internal: bool = False
    ipv6: bool = False
    engine: str = ENGINE_NETNS
    host: str = ""  # docker host URL or context; "" = local


@dataclass(frozen=True)
class EndpointRequest:
    """`docker run --net=N --ip=A --ip6=B --name=C`, unvalidated."""

    name: str
    network: str
    ipv4: str | None = None
    ipv6: str | None = None
    engine: str = ENGINE_NETNS
    image: str | None = None  # docker only
    command: tuple[str, ...] = ()  # docker only


# --------------------------------------------------------------------------
# Validated specs: what will be built.
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Subnet:
    cidr: str  # canonical, zero host bits: "192.168.1.0/24", "2001:db8::/64"
    gateway: str | None = None  # effective gateway; None = none reserved
    gateway_given: bool = False  # typed by the user (vs defaulted)
    ip_range: str | None = None  # canonical CIDR inside cidr
    aux_addresses: tuple[tuple[str, str], ...] = ()  # (name, ip)

    @property
    def version(self) -> int:
        return 6 if ":" in self.cidr else 4


# Where the parent comes from.
PARENT_EXISTING = "existing"  # used as it is, never deleted
PARENT_VLAN = "vlan"  # base.N created by us (and deleted with the network)
PARENT_DUMMY = "dummy"  # isolated network: dummy created and deleted by us


@dataclass(frozen=True)
class ParentPlan:
    kind: str  # PARENT_EXISTING | PARENT_VLAN | PARENT_DUMMY
    name: str  # the link endpoints attach to
    base: str | None = None  # for PARENT_VLAN: the link the VLAN sits on
    vlan_id: int | None = None  # for PARENT_VLAN
    create: bool = False  # True when this network's creation makes the link


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or a CIDR
    via: str | None = None  # next hop; None = on-link ("dev eth0")
    dev: str = ENDPOINT_IFNAME
    # 4 or 6; 0 = infer from via/dst. Needed for an on-link IPv6 default
    # ("default dev eth0" with no via), which nothing else can tell from IPv4.
    family: int = 0

    @property
    def version(self) -> int:
        if self.family in (4, 6):
            return self.family
        probe = self.via or self.dst
        return 6 if ":" in probe else 4

    def ip_command(self) -> str:
        fam = "-6 " if self.version == 6 and self.dst == "default" and not self.via else ""
        via = f" via {self.via}" if self.via else ""
        return f"ip {fam}route add {self.dst}{via} dev {self.dev}"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    mode: str = DEFAULT_MODE
    flag: str = DEFAULT_FLAG
    parent: ParentPlan | None = None  # always set once validated
    subnets: tuple[Subnet, ...] = ()
    internal: bool = False  # the user asked for --internal
    ipv6: bool = False
    engine: str = ENGINE_NETNS
    host: str = ""
    network_id: str = ""  # 64 hex chars for docker, 12+ hex for netns networks
    warnings: tuple[str, ...] = ()  # e.g. "--gateway ignored in l3 mode"

    @property
    def isolated(self) -> bool:
        """No parent given or --internal: a dummy parent, nothing outside reachable."""
        return self.parent is not None and self.parent.kind == PARENT_DUMMY

    def subnets_v(self, version: int) -> tuple[Subnet, ...]:
        return tuple(s for s in self.subnets if s.version == version)


@dataclass(frozen=True)
class EndpointSpec:
    """A validated attachment: addresses chosen, routes computed."""

    name: str
    network: str
    ipv4: str | None  # plain address, no prefix
    ipv6: str | None
    ipv4_prefix: int | None = None
    ipv6_prefix: int | None = None
    routes: tuple[Route, ...] = ()
    engine: str = ENGINE_NETNS


# --------------------------------------------------------------------------
# What is live: inventory read from the kernel / Docker.
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    ifindex: int
    name: str
    kind: str  # "dummy", "vlan", "ipvlan", "macvlan", "veth", "bridge", "device" (no kind), ...
    netns: str = ""  # "" host; a named namespace; "pid:1234" for a container's
    state: str = "unknown"  # "up", "down", "unknown" (operstate, lowered)
    mtu: int = 0
    mac: str | None = None
    parent_ifindex: int | None = None  # IFLA_LINK
    parent_name: str | None = None  # resolved when the parent is in the host namespace
    parent_netns: str | None = None  # namespace of the parent when it is not the link's own
    vlan_id: int | None = None
    ipvlan_mode: str | None = None  # "l2" | "l3" | "l3s"
    ipvlan_flag: str | None = None  # "bridge" | "private" | "vepa"
    addresses: tuple[str, ...] = ()  # "192.168.1.250/24", "2001:db8::1/64"
    owner: str = OWNER_OTHER
    admin_up: bool = False  # IFF_UP


@dataclass(frozen=True)
class Inventory:
    links: tuple[Link, ...] = ()
    namespaces: tuple[str, ...] = ()  # named namespaces seen
    host_routes: tuple[str, ...] = ()  # destination CIDRs in the host's main table
    errors: tuple[str, ...] = ()  # parts that could not be read, said plainly

    def host_links(self) -> tuple[Link, ...]:
        return tuple(l for l in self.links if l.netns == "")

    def by_name(self, name: str, netns: str = "") -> Link | None:
        for link in self.links:
            if link.name == name and link.netns == netns:
                return link
        return None

    def replace_links(self, remove: Iterable[tuple[str, int]] = (), put: Iterable[Link] = (),
                      drop_namespaces: Iterable[str] = ()) -> "Inventory":
        """A copy with some links changed: what one event (or a few) did.

        remove: (netns, ifindex) of links that are gone; put: links added or
        re-read (they replace the link with the same (netns, ifindex)); every
        link of a namespace in drop_namespaces goes, and the namespace with it.
        A new link goes where a fresh read lists it: among its namespace's
        links by ifindex; a new namespace's links sort by name among the others
        (both readers list the host first, then the named namespaces sorted).
        """
        put = list(put)
        drop = set(drop_namespaces)
        gone = set(remove) | {(l.netns, l.ifindex) for l in put}
        gone_index = {i for _, i in gone}
        links = [l for l in self.links
                 if not ((l.ifindex in gone_index and (l.netns, l.ifindex) in gone) or l.netns in drop)]
        for new in sorted(put, key=lambda l: (l.netns, l.ifindex)):
            nss = [l.netns for l in links]
            if new.netns in nss:  # a namespace's links are listed together
                lo = nss.index(new.netns)
                hi = len(nss) - nss[::-1].index(new.netns)
                at = lo + bisect.bisect_right([l.ifindex for l in links[lo:hi]], new.ifindex)
            else:  # its first link: namespaces sort by name after the host
                at = next((i for i, ns in enumerate(nss) if ns > new.netns), len(links))
            links.insert(at, new)
        namespaces = [n for n in self.namespaces if n not in drop]
        known = set(namespaces)
        for ns in sorted({l.netns for l in put if l.netns and not l.netns.startswith("pid:")} - known):
            at = next((i for i, n in enumerate(namespaces) if n > ns), len(namespaces))
            namespaces.insert(at, ns)
        return Inventory(links=tuple(links), namespaces=tuple(namespaces),
                         host_routes=self.host_routes, errors=self.errors)

    def children_of(self, parent: str) -> tuple[Link, ...]:
        """Links (any namespace) whose parent is the host link `parent`.

        Only the host link itself is excluded by name: an endpoint's ipvlan
        link in a container is usually called eth0 too, on parent eth0.
        """
        return tuple(l for l in self.links
                     if l.parent_name == parent and not (l.name == parent and l.netns == ""))


@dataclass(frozen=True)
class Network:
    """A network as it exists (from the store or Docker), with its endpoints."""

    spec: NetworkSpec
    endpoints: tuple["Endpoint", ...] = ()
    created_links: tuple[str, ...] = ()  # links this tool made for it (vlan/dummy parent)


@dataclass(frozen=True)
class Endpoint:
    name: str
    network: str
    engine: str = ENGINE_NETNS
    host: str = ""
    ipv4: str | None = None
    ipv6: str | None = None
    netns: str = ""  # a named namespace, or "/proc/PID/ns/net" for a container
    state: str = "unknown"  # "running", "missing", "exited", ...
    container_id: str | None = None


@dataclass(frozen=True)
class Topology:
    """Everything the console and the tester need, in one snapshot."""

    inventory: Inventory = field(default_factory=Inventory)
    networks: tuple[Network, ...] = ()
    engines_status: tuple[tuple[str, str], ...] = ()  # (engine, "ok" | reason unreachable)
