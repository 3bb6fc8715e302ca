"""An in-memory kernel with the same interface as KernelEngine.

For UI breadth tests and `ipvlan-tui --demo`; never a stand-in for the
end-to-end proof of a feature (those run against a real kernel in the lab).
It keeps the kernel's rules that matter to the UI: names unique per
namespace, EEXIST/ENODEV, one ipvlan mode and flag per parent, macvlan and
ipvlan not mixed on one parent (EBUSY).
"""

from __future__ import annotations

import errno
import threading
from dataclasses import replace
from typing import Callable, Sequence

from ipvlan_tui.errors import EngineError
from ipvlan_tui.model import Inventory, Link, Route


class FakeKernel:
    def __init__(self, links: Sequence[Link] = (), host_routes: Sequence[str] = ()) -> None:
        self._lock = threading.Condition()
        self._links: dict[tuple[str, str], Link] = {}
        self._namespaces: set[str] = set()
        self._routes: dict[str, tuple[Route, ...]] = {}
        self._next_index = 1
        self._events: list[dict] = []
        self.host_routes = tuple(host_routes)
        self.route_links: dict[str, tuple[str, ...]] = {}  # host routes someone set up, by link
        self.drivers = {"ipvlan": True, "8021q": True, "dummy": True}
        self.calls: list[str] = []  # what was asked, in order (tests read it)
        for link in links:
            self._links[(link.netns, link.name)] = link
            self._next_index = max(self._next_index, link.ifindex + 1)
            if link.netns:
                self._namespaces.add(link.netns)

    @classmethod
    def demo(cls) -> "FakeKernel":
        """A small host: eth0 with an address, eth1, and a VLAN made by hand."""
        return cls(
            links=[
                Link(1, "lo", "device", state="unknown", mtu=65536, admin_up=True,
                     addresses=("127.0.0.1/8", "::1/128")),
                Link(2, "eth0", "device", state="up", mtu=1500, mac="52:54:00:12:34:56",
                     admin_up=True, addresses=("192.168.1.250/24",)),
                Link(3, "eth1", "device", state="up", mtu=9000, mac="52:54:00:12:34:57",
                     admin_up=True),
                Link(4, "foo", "vlan", state="up", mtu=1500, parent_ifindex=2,
                     parent_name="eth0", vlan_id=40, admin_up=True),
            ],
            host_routes=("192.168.1.0/24", "0.0.0.0/0"),
        ).with_route("eth0", "default via 192.168.1.1")

    # ---- helpers -------------------------------------------------------------
    def _emit(self, kind: str, name: str, netns: str = "", ifindex: int = 0) -> None:
        # As KernelEngine.watch: kind, name, netns and the link's ifindex (0 when a
        # whole namespace went: name "*").
        self._events.append({"kind": kind, "name": name, "netns": netns, "ifindex": ifindex})
        self._lock.notify_all()

    def _get(self, name: str, netns: str = "") -> Link:
        link = self._links.get((netns, name))
        if link is None:
            where = f" in namespace {netns}" if netns else ""
            raise EngineError(f"no link named {name}{where}", errno=errno.ENODEV)
        return link

    def _add(self, link: Link) -> int:
        if (link.netns, link.name) in self._links:
            raise EngineError(f"a link named {link.name} already exists", errno=errno.EEXIST)
        index = self._next_index
        self._next_index += 1
        self._links[(link.netns, link.name)] = replace(link, ifindex=index)
        self._emit("link_added", link.name, link.netns, index)
        return index

    # ---- reads ---------------------------------------------------------------
    def inventory(self) -> Inventory:
        with self._lock:
            return Inventory(
                links=tuple(sorted(self._links.values(), key=lambda l: (l.netns, l.ifindex))),
                namespaces=tuple(sorted(self._namespaces)),
                host_routes=self.host_routes,
            )

    def read_link(self, netns: str = "", *, ifindex: int = 0, name: str = "") -> Link | None:
        """One link as inventory() would show it (by ifindex, else by name); None: gone."""
        with self._lock:
            if ifindex:
                for (ns, _), link in self._links.items():
                    if ns == netns and link.ifindex == ifindex:
                        return link
                return None
            return self._links.get((netns, name))

    def link_exists(self, name: str, netns: str = "") -> bool:
        with self._lock:
            return (netns, name) in self._links

    def link_index(self, name: str, netns: str = "") -> int | None:
        with self._lock:
            link = self._links.get((netns, name))
            return link.ifindex if link else None

    def netns_exists(self, name: str) -> bool:
        with self._lock:
            return name in self._namespaces

    def probe_drivers(self) -> dict[str, bool]:
        return dict(self.drivers)

    def host_routes_by_link(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            return {k: v for k, v in self.route_links.items() if ("", k) in self._links}

    def with_route(self, link: str, route: str) -> "FakeKernel":
        """A host route through `link` ("default via 192.168.1.1"), as `ip route add` would."""
        with self._lock:
            self.route_links[link] = self.route_links.get(link, ()) + (route,)
        return self

    def add_address(self, name: str, cidr: str, netns: str = "") -> None:
        """`ip addr add CIDR dev NAME`, as someone else would do it."""
        with self._lock:
            link = self._get(name, netns)
            self._links[(netns, name)] = replace(link, addresses=link.addresses + (cidr,))
            self._emit("addr_changed", name, netns, link.ifindex)

    def routes(self, netns: str) -> tuple[Route, ...]:
        return self._routes.get(netns, ())

    # ---- changes -------------------------------------------------------------
    def _need(self, driver: str) -> None:
        if not self.drivers.get(driver, False):
            raise EngineError(
                f"the kernel lacks the {driver} driver",
                errno=errno.EOPNOTSUPP,
                hint="try `ipvlan-tui lab shell`",
            )

    def create_vlan(self, base: str, vlan_id: int, name: str) -> int:
        with self._lock:
            self._need("8021q")
            self.calls.append(f"create_vlan {base} {vlan_id} {name}")
            parent = self._get(base)
            return self._add(Link(0, name, "vlan", state="up", mtu=parent.mtu or 1500,
                                  parent_ifindex=parent.ifindex, parent_name=base,
                                  vlan_id=vlan_id, admin_up=True))

    def create_dummy(self, name: str) -> int:
        with self._lock:
            self._need("dummy")
            self.calls.append(f"create_dummy {name}")
            return self._add(Link(0, name, "dummy", state="unknown", mtu=1500, admin_up=True))

    def delete_link(self, name: str, netns: str = "") -> None:
        with self._lock:
            self.calls.append(f"delete_link {name} {netns}".rstrip())
            link = self._get(name, netns)
            del self._links[(netns, name)]
            # Children on the same host die with their parent, as in the kernel.
            gone = []
            if not netns:
                self.route_links.pop(name, None)  # its routes go with it
                for key, child in list(self._links.items()):
                    if child.parent_ifindex == link.ifindex and child.parent_name == name:
                        del self._links[key]
                        gone.append(child)
            self._emit("link_removed", name, netns, link.ifindex)
            for child in gone:  # the kernel says so for each of them too
                self._emit("link_removed", child.name, child.netns, child.ifindex)

    def create_netns(self, name: str) -> None:
        with self._lock:
            self.calls.append(f"create_netns {name}")
            if name in self._namespaces:
                raise EngineError(f"namespace {name} already exists", errno=errno.EEXIST)
            self._namespaces.add(name)
            self._add(Link(0, "lo", "device", netns=name, state="unknown", mtu=65536))

    def delete_netns(self, name: str) -> None:
        with self._lock:
            self.calls.append(f"delete_netns {name}")
            if name not in self._namespaces:
                raise EngineError(f"no namespace named {name}", errno=errno.ENOENT)
            self._namespaces.discard(name)
            for key in [k for k in self._links if k[0] == name]:
                del self._links[key]
            self._routes.pop(name, None)
            self._emit("link_removed", "*", name, 0)

    def create_endpoint_link(self, netns: str, parent: str, mode: str, flag: str,
                             ifname: str = "eth0") -> int:
        with self._lock:
            self._need("ipvlan")
            self.calls.append(f"create_endpoint_link {netns} {parent} {mode} {flag}")
            if netns not in self._namespaces:
                raise EngineError(f"no namespace named {netns}", errno=errno.ENOENT)
            base = self._get(parent)
            siblings = [l for l in self._links.values() if l.parent_name == parent]
            if any(l.kind == "macvlan" for l in siblings):
                raise EngineError(f"{parent} already carries macvlan links", errno=errno.EBUSY)
            # The kernel keeps one mode and flag per parent: the newest wins for all.
            for key, sib in list(self._links.items()):
                if sib.kind == "ipvlan" and sib.parent_name == parent:
                    self._links[key] = replace(sib, ipvlan_mode=mode, ipvlan_flag=flag)
            return self._add(Link(0, ifname, "ipvlan", netns=netns, state="down",
                                  mtu=base.mtu, mac=base.mac, parent_ifindex=base.ifindex,
                                  parent_name=parent, ipvlan_mode=mode, ipvlan_flag=flag))

    def configure_endpoint(self, netns: str, ifname: str, addresses: Sequence[str],
                           routes: Sequence[Route]) -> None:
        with self._lock:
            self.calls.append(f"configure_endpoint {netns} {ifname}")
            link = self._get(ifname, netns)
            self._links[(netns, ifname)] = replace(
                link, addresses=tuple(addresses), state="unknown", admin_up=True)
            self._routes[netns] = tuple(routes)
            self._emit("addr_changed", ifname, netns, link.ifindex)

    # ---- events --------------------------------------------------------------
    def watch(self, callback: Callable[[dict], None], stop: Callable[[], bool]) -> None:
        seen = len(self._events)
        while not stop():
            with self._lock:
                self._lock.wait(timeout=0.2)
                fresh = self._events[seen:]
                seen = len(self._events)
            for event in fresh:
                callback(event)
