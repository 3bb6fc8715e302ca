"""The kernel engine: links, namespaces, addresses and routes (layer 5, no Textual).

Changes go through pyroute2's IPRoute; bulk reads go through the lean reader
in inventory.py. Design points (PERF.md):

- One IPRoute per namespace, opened *inside* that namespace by a dedicated
  thread (netns.NetnsThread) and reused; never `IPRoute(netns=...)`, which
  forks a helper process. pyroute2 0.9 keeps its sockets per thread, so every
  call for a namespace runs on that namespace's thread.
- Because of that, pyroute2 never runs on the caller's thread: a Textual
  worker (`@work(thread=True)`) can call the engine directly. Calling from a
  thread that runs an asyncio event loop would freeze that loop, so it is
  refused with a clear error unless the engine is built with
  `allow_event_loop=True`.
- Endpoint links are created directly inside their namespace with their
  final name (IFLA_NET_NS_FD at creation): no rename, no move.
- Every kernel refusal becomes errors.EngineError with a sentence a person
  understands and, where there is one, what to do about it.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ifinfmsg.plugins.ipvlan import ipvlan as _pyroute2_ipvlan

from ipvlan_tui.engines import inventory as _inventory
from ipvlan_tui.engines import netns as _netns
from ipvlan_tui.errors import EngineError
from ipvlan_tui.model import ENDPOINT_IFNAME, FLAGS, MODES, Inventory, Link, Route

T = TypeVar("T")

IPVLAN_MODE = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_FLAG = {"bridge": 0, "private": 1, "vepa": 2}
IFA_F_NODAD = 0x02
RT_SCOPE_LINK = 253
LAB_HINT = "try `ipvlan-tui lab shell` for a VM with a kernel that has it"


class ipvlan_data(_pyroute2_ipvlan):
    """pyroute2's ipvlan IFLA_INFO_DATA plus IFLA_IPVLAN_FLAGS (type 2, u16).

    pyroute2 0.9.7 knows only IFLA_IPVLAN_MODE; without the flag every link
    would silently be "bridge". Registered for kind "ipvlan" (and "ipvtap")
    for the whole process, so reads through pyroute2 decode the flag too.
    """

    nla_map = (
        ("IFLA_IPVLAN_UNSPEC", "none"),
        ("IFLA_IPVLAN_MODE", "uint16"),
        ("IFLA_IPVLAN_FLAGS", "uint16"),
    )


ifinfmsg.ifinfo.register_link_kind(module={"ipvlan": ipvlan_data, "ipvtap": ipvlan_data})


# --------------------------------------------------------------------------
# Errors a person can read
# --------------------------------------------------------------------------
def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, NetlinkError):
        return exc.code
    if isinstance(exc, OSError):
        return exc.errno
    return None


def translate(exc: BaseException, what: str, *, kind: str | None = None, parent: str | None = None,
              netns: str = "") -> EngineError:
    """Turn an OSError/NetlinkError from `what` into an EngineError."""
    if isinstance(exc, EngineError):
        return exc
    code = _errno_of(exc)
    where = f" in namespace {netns}" if netns else ""
    if code in (errno.EOPNOTSUPP, errno.ENOTSUP) and kind in ("ipvlan", "vlan", "8021q", "dummy", "macvlan"):
        driver = {"vlan": "8021q"}.get(kind, kind)
        return EngineError(f"{what} failed: the kernel lacks the {driver} driver", errno=code, hint=LAB_HINT)
    if code in (errno.EPERM, errno.EACCES):
        return EngineError(f"{what} failed: operation not permitted", errno=code,
                           hint="needs root or CAP_NET_ADMIN")
    if code == errno.ENODEV:
        return EngineError(f"{what} failed: no such link{where}", errno=code,
                           hint="check the name with `ip link show`")
    if code == errno.EEXIST:
        return EngineError(f"{what} failed: it already exists{where}", errno=code)
    if code == errno.EBUSY:
        if kind in ("ipvlan", "macvlan"):
            return EngineError(
                f"{what} failed: parent {parent or '?'} is busy: it already carries "
                "macvlan/ipvlan links of another kind or mode, or is enslaved to a bridge/bond",
                errno=code,
                hint="the kernel allows one of ipvlan or macvlan per parent; use another parent or VLAN",
            )
        return EngineError(f"{what} failed: device or resource busy{where}", errno=code)
    if code == errno.EADDRINUSE:
        return EngineError(
            f"{what} failed: address already in use by another link on the same parent",
            errno=code, hint="pick another --ip/--ip6 or release the old endpoint",
        )
    if code == errno.ENETUNREACH:
        return EngineError(f"{what} failed: the gateway is not reachable on the link (no address in its subnet)",
                           errno=code, hint="give the endpoint an address in the gateway's subnet first")
    if code == errno.ENOENT:
        return EngineError(f"{what} failed: not found{where}", errno=code)
    if code == errno.ERANGE or code == errno.EINVAL:
        return EngineError(f"{what} failed: the kernel rejected a value ({os.strerror(code)})", errno=code)
    if code is not None:
        return EngineError(f"{what} failed: {os.strerror(code)}", errno=code)
    return EngineError(f"{what} failed: {exc}")


# --------------------------------------------------------------------------
# One thread + IPRoute per namespace
# --------------------------------------------------------------------------
class _Slot:
    """A namespace thread, the IPRoute it opened inside the namespace, and a
    raw netlink socket beside it for lookups (a name -> index request costs
    about 1 ms through pyroute2, tens of microseconds raw)."""

    def __init__(self, name: str) -> None:
        self.thread = _netns.NetnsThread(name)
        try:
            self.ipr: IPRoute = self.thread.call(IPRoute)
            self.raw = self.thread.call(_inventory.open_route_socket)
            # For lean requests sent from the caller's own thread (no hand-off).
            self.direct = self.thread.call(_inventory.open_route_socket)
            self.direct_lock = threading.Lock()
        except BaseException:
            self.thread.close()
            raise
        _RAW_OF[id(self.ipr)] = self.raw

    def call(self, fn: Callable[[IPRoute], T]) -> T:
        return self.thread.call(fn, self.ipr)

    def close(self) -> None:
        _RAW_OF.pop(id(self.ipr), None)
        with self.direct_lock:
            self.direct.close()
        try:
            self.thread.call(self.ipr.close)
            self.raw.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self.thread.close()


# IPRoute of a slot -> its raw socket (used only on the slot's own thread).
_RAW_OF: dict[int, Any] = {}


class KernelEngine:
    """Netlink changes for ipvlan networks: VLAN/dummy parents, endpoints, routes."""

    def __init__(self, *, max_namespaces: int = 32, allow_event_loop: bool = False) -> None:
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max(1, max_namespaces)
        self._allow_event_loop = allow_event_loop
        self._drivers: dict[str, bool] | None = None
        self._closed = False
        # Sockets opened inside endpoint namespaces by the thread that made them:
        # link rename and configuration then run on the caller's thread.
        self._fresh = _netns.FreshSockets()
        # False once the kernel refused an endpoint link's final name because the
        # sender's namespace has a link of that name (older kernels look there).
        self._final_name_ok = True

    # ---- lifecycle ---------------------------------------------------
    def close(self) -> None:
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
            self._closed = True
        for slot in slots:
            slot.close()
        self._fresh.close()

    def __enter__(self) -> "KernelEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def release(self, netns: str) -> None:
        """Close the cached socket/thread of a namespace (it keeps the namespace alive)."""
        self._fresh.drop(netns)
        with self._lock:
            slot = self._slots.pop(netns, None)
        if slot is not None:
            slot.close()

    # ---- plumbing ----------------------------------------------------
    def _check_thread(self) -> None:
        if self._allow_event_loop:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise EngineError(
            "the kernel engine was called on an asyncio event-loop thread, where its blocking "
            "netlink calls would freeze the loop",
            hint="call it from a worker thread (Textual: @work(thread=True)) or asyncio.to_thread",
        )

    def _slot(self, netns: str) -> _Slot:
        if self._closed:
            raise EngineError("the kernel engine is closed")
        stale: list[_Slot] = []
        with self._lock:
            # Drop slots whose namespace is gone or was recreated: a cached socket
            # would keep a deleted namespace (and its links) alive.
            for name, s in list(self._slots.items()):
                if not s.thread.still_same():
                    stale.append(self._slots.pop(name))
            slot = self._slots.get(netns)
            if slot is not None:
                self._slots.move_to_end(netns)
        for s in stale:
            s.close()
        if slot is not None:
            return slot
        try:
            slot = _Slot(netns)
        except FileNotFoundError as exc:
            raise EngineError(f"namespace {netns} does not exist", errno=errno.ENOENT) from exc
        except (OSError, NetlinkError) as exc:
            raise translate(exc, f"entering namespace {netns or 'host'}", netns=netns) from exc
        evicted: list[_Slot] = []
        with self._lock:
            other = self._slots.get(netns)
            if other is not None:  # another thread raced us
                evicted.append(slot)
                slot = other
            else:
                self._slots[netns] = slot
                while len(self._slots) > self._max:
                    evicted.append(self._slots.popitem(last=False)[1])
        for s in evicted:
            s.close()
        return slot

    def _run(self, netns: str, what: str, fn: Callable[[IPRoute], T], **ctx: Any) -> T:
        self._check_thread()
        slot = self._slot(netns)
        try:
            try:
                return slot.call(fn)
            except _netns.NetnsThreadClosed:  # evicted by another thread meanwhile: once more
                return self._slot(netns).call(fn)
        except EngineError:
            raise
        except (OSError, NetlinkError) as exc:
            raise translate(exc, what, netns=netns, **ctx) from exc

    def _direct(self, netns: str, what: str, fn: Callable[[Any], T], **ctx: Any) -> T:
        """fn(sock) on the caller's thread, with the namespace's raw socket (no hand-off)."""
        self._check_thread()
        for attempt in (1, 2):
            slot = self._slot(netns)
            with slot.direct_lock:
                if slot.thread.closed and attempt == 1:  # evicted meanwhile: once more
                    continue
                try:
                    return fn(slot.direct)
                except EngineError:
                    raise
                except OSError as exc:
                    raise translate(exc, what, netns=netns, **ctx) from exc
        raise EngineError(f"{what} failed: the namespace's socket was closed")

    def _in_ns(self, netns: str, fn: Callable[[Any], T]) -> T:
        """fn(sock) on the socket opened in `netns` when it was made, else in a helper thread."""
        with self._fresh.borrow(netns) as sock:
            if sock is not None:
                return fn(sock)
        return _in_ns_socket(netns, fn)

    @staticmethod
    def _index(ipr: IPRoute, name: str, netns: str = "") -> int:
        """The index of link `name` (one RTM_GETLINK by name, no dump)."""
        raw = _RAW_OF.get(id(ipr))
        if raw is not None:
            try:
                return _lean_index(raw, name)
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    where = f" in namespace {netns}" if netns else ""
                    raise EngineError(f"link {name} does not exist{where}", errno=errno.ENODEV) from exc
                raise
        try:
            for msg in ipr.link("get", ifname=name):
                return int(msg["index"])
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                where = f" in namespace {netns}" if netns else ""
                raise EngineError(f"link {name} does not exist{where}", errno=errno.ENODEV) from exc
            raise
        raise EngineError(f"link {name} does not exist", errno=errno.ENODEV)

    # ---- namespaces ----------------------------------------------------
    def create_namespace(self, name: str, *, exist_ok: bool = False) -> str:
        """Create /run/netns/NAME (no fork); returns its path."""
        try:
            if exist_ok:
                return _netns.create(name, exist_ok=True)
            self._fresh.put(name, _netns.create_with(name, _inventory.open_route_socket))
            return _netns.netns_path(name)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        except OSError as exc:
            raise translate(exc, f"creating namespace {name}") from exc

    def delete_namespace(self, name: str, *, missing_ok: bool = True) -> bool:
        """Release our socket in it, then remove the name (links in it go with it)."""
        self.release(name)
        try:
            return _netns.delete(name, missing_ok=missing_ok)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        except OSError as exc:
            raise translate(exc, f"deleting namespace {name}") from exc

    def list_namespaces(self) -> list[str]:
        return _netns.list_netns()

    def namespace_exists(self, name: str) -> bool:
        return _netns.exists(name)

    # The controller's KernelBackend names (engines/base.py): strict versions.
    def netns_exists(self, name: str) -> bool:
        return _netns.exists(name)

    def create_netns(self, name: str) -> None:
        """Create a named namespace; EngineError (EEXIST) when it already exists."""
        try:
            self.create_namespace(name)
        except FileExistsError as exc:
            raise EngineError(f"namespace {name} already exists", errno=errno.EEXIST) from exc
        except EngineError as exc:
            if exc.errno == errno.EEXIST:
                raise EngineError(f"namespace {name} already exists", errno=errno.EEXIST) from exc
            raise

    def delete_netns(self, name: str) -> None:
        """Delete a named namespace and the links in it; EngineError (ENOENT) when missing."""
        if not self.delete_namespace(name, missing_ok=True):
            raise EngineError(f"no namespace named {name}", errno=errno.ENOENT)

    # ---- links -------------------------------------------------------
    def create_vlan(self, base: str, vlan_id: int, name: str, netns: str = "") -> int:
        """`ip link add link BASE name NAME type vlan id ID up`; returns the new index."""
        if not 1 <= int(vlan_id) <= 4094:
            raise EngineError(f"VLAN id {vlan_id} is out of range", hint="use 1-4094")

        def do(ipr: IPRoute) -> int:
            base_index = self._index(ipr, base, netns)
            ipr.link("add", ifname=name, kind="vlan", link=base_index, vlan_id=int(vlan_id), state="up")
            return self._index(ipr, name, netns)

        return self._run(netns, f"creating VLAN link {name} (id {vlan_id} on {base})", do, kind="vlan",
                         parent=base)

    def create_dummy(self, name: str, netns: str = "") -> int:
        """`ip link add NAME type dummy up`; returns the new index."""

        def do(ipr: IPRoute) -> int:
            ipr.link("add", ifname=name, kind="dummy", state="up")
            return self._index(ipr, name, netns)

        return self._run(netns, f"creating dummy link {name}", do, kind="dummy")

    def delete_link(self, name: str, netns: str = "", *, missing_ok: bool = False) -> bool:
        """`ip link del NAME`; False when it was already gone and missing_ok.

        Inside a named namespace this uses a short-lived socket, so deleting an
        endpoint's link does not leave a cached socket pinning its namespace.
        """
        what = f"deleting link {name}" + (f" in namespace {netns}" if netns else "")
        if netns:
            self._check_thread()

            def lean(sock: Any) -> bool:
                _ack(sock, _inventory.RTM_DELLINK, 0, _inventory._IFINFOMSG.pack(0, 0, _lean_index(sock, name), 0, 0))
                return True

            try:
                return _in_ns_socket(netns, lean)
            except FileNotFoundError:
                if missing_ok:
                    return False
                raise EngineError(f"namespace {netns} does not exist", errno=errno.ENOENT) from None
            except OSError as exc:
                if missing_ok and exc.errno == errno.ENODEV:
                    return False
                if exc.errno == errno.ENODEV:
                    raise EngineError(f"link {name} does not exist in namespace {netns}", errno=errno.ENODEV) from exc
                raise translate(exc, what, netns=netns) from exc

        def do(ipr: IPRoute) -> bool:
            try:
                ipr.link("del", index=self._index(ipr, name, netns))
            except EngineError as exc:
                if missing_ok and exc.errno == errno.ENODEV:
                    return False
                raise
            except NetlinkError as exc:
                if missing_ok and exc.code == errno.ENODEV:
                    return False
                raise
            return True

        return self._run(netns, what, do)

    def link_index(self, name: str, netns: str = "") -> int | None:
        """The link's index, or None when there is no such link (or namespace).

        One RTM_GETLINK by name on a short-lived socket (no cached socket, so
        asking about an endpoint's namespace does not keep it alive).
        """
        self._check_thread()
        try:
            return _in_ns_socket(netns, lambda sock: _lean_index(sock, name))
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise translate(exc, f"looking up link {name}", netns=netns) from exc

    def link_exists(self, name: str, netns: str = "") -> bool:
        return self.link_index(name, netns) is not None

    def host_routes_by_link(self) -> dict[str, tuple[str, ...]]:
        """Routes of the host's main table that someone set up (not the kernel's
        own routes for an address), by outgoing link: what the host loses with
        that link, e.g. {"eth0": ("default via 192.168.1.1",)}."""

        def do(ipr: IPRoute) -> dict[str, tuple[str, ...]]:
            names = {int(m["index"]): m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
            out: dict[str, list[str]] = {}
            for family in (socket.AF_INET, socket.AF_INET6):
                for r in ipr.route("dump", family=family):
                    table = r.get_attr("RTA_TABLE") or r["table"]
                    if table != 254 or r["proto"] == 2 or r["type"] != 1:  # main, not proto kernel, unicast
                        continue
                    dst = f"{r.get_attr('RTA_DST')}/{r['dst_len']}" if r["dst_len"] else "default"
                    hops = [(r.get_attr("RTA_OIF"), r.get_attr("RTA_GATEWAY"))]
                    if r.get_attr("RTA_MULTIPATH"):
                        hops = [(h.get("oif"), dict(h.get("attrs", ())).get("RTA_GATEWAY"))
                                for h in r.get_attr("RTA_MULTIPATH")]
                    for oif, gateway in hops:
                        if oif in names:
                            out.setdefault(names[oif], []).append(dst + (f" via {gateway}" if gateway else ""))
            return {name: tuple(routes) for name, routes in out.items()}

        return self._run("", "reading the host's routes", do)

    def set_up(self, name: str, netns: str = "") -> None:
        def do(ipr: IPRoute) -> None:
            ipr.link("set", index=self._index(ipr, name, netns), state="up")

        self._run(netns, f"bringing link {name} up", do)

    def create_ipvlan(self, parent: str, name: str, mode: str = "l2", flag: str = "bridge",
                      netns: str = "", *, up: bool = True) -> int:
        """An ipvlan link in the parent's own namespace (e.g. a host-side shim)."""
        m, f = _mode_flag(mode, flag)

        def do(ipr: IPRoute) -> int:
            pidx = self._index(ipr, parent, netns)
            kw: dict[str, Any] = {"state": "up"} if up else {}
            ipr.link("add", ifname=name, kind="ipvlan", link=pidx, ipvlan_mode=m, ipvlan_flags=f, **kw)
            return self._index(ipr, name, netns)

        return self._run(netns, f"creating ipvlan link {name} on {parent} ({mode} {flag})", do,
                         kind="ipvlan", parent=parent)

    def create_endpoint_link(self, netns: str, parent: str, mode: str = "l2", flag: str = "bridge",
                             ifname: str = ENDPOINT_IFNAME, *, parent_netns: str = "",
                             link_kind: str = "ipvlan") -> int:
        """The ipvlan slave of an endpoint, created directly inside `netns`, named `ifname`, up.

        IFLA_NET_NS_FD at creation: the link is born inside `netns` and never
        appears in the parent's namespace, with its final name and up, in one
        request. Older kernels (6.1 in the lab) look IFLA_IFNAME up in the
        *sender's* namespace first, so asking for "eth0" fails with EEXIST wherever the
        host has an eth0 of its own: then (and from then on, for this engine)
        the link is born under a unique temporary name and renamed inside
        `netns` in the request that brings it up (a rename waits for an RCU
        grace period: milliseconds).
        Returns its index inside `netns` (pass it to configure_endpoint).
        link_kind="macvlan" makes a macvlan in mode `flag` instead (a stand-in
        on kernels without ipvlan, for tests and benchmarks; mode is ignored).
        """
        m, f = _mode_flag(mode, flag)
        if link_kind not in ("ipvlan", "macvlan"):
            raise EngineError(f"unsupported endpoint link kind {link_kind!r}", hint="use ipvlan (or macvlan)")
        if not ifname or len(ifname) > 15 or "/" in ifname or ifname.strip() != ifname:
            raise EngineError(f"invalid interface name {ifname!r}", hint="1-15 characters, no '/' or spaces")
        try:
            fd = os.open(_netns.netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        except FileNotFoundError as exc:
            raise EngineError(f"namespace {netns} does not exist", errno=errno.ENOENT,
                              hint="create it first") from exc
        temp = "ivt" + uuid.uuid4().hex[:12]
        data = _link_data(link_kind, m, f, flag)
        try:
            def do(sock: Any) -> bool:
                try:
                    pidx = _lean_index(sock, parent)
                except OSError as exc:
                    if exc.errno == errno.ENODEV:
                        where = f" in namespace {parent_netns}" if parent_netns else ""
                        raise EngineError(f"link {parent} does not exist{where}", errno=errno.ENODEV) from exc
                    raise
                if self._final_name_ok:
                    try:
                        _ack(sock, _inventory.RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                             _newlink_body(ifname, link_kind, pidx, fd, data, up=True))
                        return True
                    except OSError as exc:
                        if exc.errno != errno.EEXIST:
                            raise
                        try:  # taken here: an older kernel looked in the sender's namespace
                            _lean_index(sock, ifname)
                            self._final_name_ok = False
                        except OSError:
                            pass
                _ack(sock, _inventory.RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     _newlink_body(temp, link_kind, pidx, fd, data))
                return False

            named = self._direct(parent_netns, f"creating {link_kind} link {ifname} in {netns} on {parent} ({mode} {flag})",
                         do, kind=link_kind, parent=parent)
        finally:
            os.close(fd)

        def rename(sock: Any) -> int:
            if named:
                return _lean_index(sock, ifname)
            index = _lean_index(sock, temp)
            try:
                _lean_rename_up(sock, index, ifname)
            except OSError:
                try:
                    _ack(sock, _inventory.RTM_DELLINK, 0, _inventory._IFINFOMSG.pack(0, 0, index, 0, 0))
                except OSError:
                    pass
                raise
            return index

        try:
            return self._in_ns(netns, rename)
        except OSError as exc:
            raise translate(exc, f"naming the new link {ifname} in namespace {netns}", netns=netns) from exc

    def configure_endpoint(self, netns: str, ifname: str, addresses: Iterable[str], routes: Iterable[Route],
                           *, ifindex: int | None = None) -> None:
        """lo and IFNAME up, addresses (CIDR; IPv6 with nodad), then routes.

        Route.via None is an on-link route (`dev IFNAME`); dst "default" is
        0.0.0.0/0 or ::/0 by the route's version. Pass `ifindex` from
        create_endpoint_link to skip the lookup.
        """
        addrs = [ipaddress.ip_interface(a) for a in addresses]
        routes = list(routes)
        self._check_thread()

        def do(sock: Any) -> None:
            what = f"finding {ifname} in namespace {netns}"
            try:
                idx = ifindex if ifindex is not None else _lean_index(sock, ifname)
                what = f"bringing lo and {ifname} up in namespace {netns}"
                _lean_up(sock, 1)  # lo is index 1 in every namespace
                _lean_up(sock, idx)
                for a in addrs:
                    what = f"adding address {a} to {ifname} in namespace {netns}"
                    _lean_addr(sock, a, idx)
                for r in routes:
                    what = f"adding route `{r.ip_command()}` in namespace {netns}"
                    _lean_route(sock, r, idx)
            except OSError as exc:
                raise translate(exc, what) from exc

        try:
            self._in_ns(netns, do)
            self._fresh.drop(netns)  # configured: nothing more is expected soon
        except FileNotFoundError as exc:
            raise EngineError(f"namespace {netns} does not exist", errno=errno.ENOENT) from exc
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        except OSError as exc:
            raise translate(exc, f"configuring {ifname} in namespace {netns}") from exc

    def add_route(self, route: Route, netns: str = "") -> None:
        def do(ipr: IPRoute) -> None:
            ipr.route("add", **_route_args(route, self._index(ipr, route.dev, netns)))

        self._run(netns, f"adding route `{route.ip_command()}`", do)

    # ---- capabilities and reads ----------------------------------------
    def probe_drivers(self, *, refresh: bool = False) -> dict[str, bool]:
        """Which of ipvlan, 8021q and dummy this kernel has, by trying each.

        Tried inside a throwaway namespace that is deleted afterwards (with
        whatever was made in it). Cached per engine.
        """
        if self._drivers is not None and not refresh:
            return dict(self._drivers)
        self._check_thread()
        name = f"ivt-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        _netns.create(name)

        def probe() -> dict[str, bool]:
            found = {"ipvlan": False, "8021q": False, "dummy": False}
            with IPRoute() as ipr:

                def try_add(**kw: Any) -> bool:
                    try:
                        ipr.link("add", **kw)
                        return True
                    except NetlinkError as exc:
                        if exc.code in (errno.EOPNOTSUPP, errno.ENOTSUP):
                            return False
                        raise

                found["dummy"] = try_add(ifname="pd0", kind="dummy")
                if found["dummy"]:
                    parent = "pd0"
                else:  # an Ethernet parent without dummy: a veth pair
                    ipr.link("add", ifname="pv0", kind="veth", peer="pv1")
                    parent = "pv0"
                pidx = ipr.link_lookup(ifname=parent)[0]
                found["8021q"] = try_add(ifname="pvl", kind="vlan", link=pidx, vlan_id=7)
                found["ipvlan"] = try_add(ifname="pip", kind="ipvlan", link=pidx, ipvlan_mode=0)
            return found

        try:
            result = _netns.in_netns(name, probe)
        except (OSError, NetlinkError) as exc:
            raise translate(exc, "probing the kernel's drivers") from exc
        finally:
            _netns.delete(name)
        self._drivers = result
        return dict(result)

    def watch(self, callback: Callable[[dict], None], stop: Callable[[], bool]) -> None:
        """Block (in a worker thread) calling callback(event) per kernel change until stop().

        Watches the host and every named namespace, following namespaces as
        they come and go (checked every 0.25 s). Events are dicts:
        {"kind": link_added|link_removed|link_changed|addr_changed|resync,
         "name": str, "netns": str, "ifindex": int}; a namespace that vanished
        gives {"kind": "link_removed", "name": "*", "netns": NAME} (as FakeKernel).
        """
        from ipvlan_tui.engines.events import LinkEventWatcher

        watcher = LinkEventWatcher(_netns.list_netns())

        def emit(ev: Any) -> None:
            callback({"kind": ev.kind, "name": ev.name, "netns": ev.netns, "ifindex": ev.ifindex})

        def tick() -> None:
            if stop():
                watcher.stop()
                return
            current = set(_netns.list_netns())
            watched = set(watcher.namespaces) - {""}
            for name in sorted(current - watched):
                watcher.watch(name)
            for name in sorted(watched - current):
                watcher.unwatch(name)  # our socket would keep a deleted namespace alive
                callback({"kind": "link_removed", "name": "*", "netns": name, "ifindex": 0})

        watcher.run(emit, tick=tick)

    def inventory(self, namespaces: Iterable[str] | None = None, **kwargs: Any) -> Inventory:
        """The lean bulk read (inventory.read_inventory): host + named namespaces."""
        return _inventory.read_inventory(namespaces, **kwargs)

    def read_links(self, netns: str, ifindexes: Iterable[int], host_names: dict[int, str] | None = None
                   ) -> dict[int, Link | None]:
        """Some links of one namespace re-read (inventory.read_links): for the console's
        targeted updates. Raises inventory.UnresolvedParent or OSError: read everything."""
        return _inventory.read_links(netns, ifindexes, host_names)


# --------------------------------------------------------------------------
# The endpoint hot path: a short-lived stdlib netlink socket inside the
# namespace. pyroute2 costs about 1 ms per request (its event loop runs once
# per message) and a cached IPRoute would keep a deleted endpoint namespace
# alive; a raw request costs tens of microseconds and the socket is closed
# before the thread leaves the namespace.
# --------------------------------------------------------------------------
RTM_SETLINK = 19
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFA_FLAGS = 8
RTA_GATEWAY = 5
RTA_OIF = 4
RTPROT_BOOT = 3
RTN_UNICAST = 1



def _ack(sock: Any, msg_type: int, flags: int, body: bytes) -> None:
    """Send one request with NLM_F_ACK and wait for its answer (raises OSError)."""
    seq = _inventory._request(sock, msg_type, _inventory.NLM_F_REQUEST | NLM_F_ACK | flags, body)
    for _ in _inventory._messages(sock, seq):
        pass


def _lean_index(sock: Any, ifname: str) -> int:
    body = _inventory._IFINFOMSG.pack(0, 0, 0, 0, 0) + _inventory._nla(
        _inventory.IFLA_IFNAME, ifname.encode() + b"\0")
    seq = _inventory._request(sock, _inventory.RTM_GETLINK, _inventory.NLM_F_REQUEST, body)
    for mtype, buf, off, ln in _inventory._messages(sock, seq):
        if mtype == _inventory.RTM_NEWLINK:
            return _inventory._IFINFOMSG.unpack_from(buf, off + 16)[2]
    raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))


def _lean_up(sock: Any, index: int) -> None:
    body = _inventory._IFINFOMSG.pack(0, 0, index, _inventory.IFF_UP, _inventory.IFF_UP)
    _ack(sock, RTM_SETLINK, 0, body)


def _lean_rename_up(sock: Any, index: int, ifname: str) -> None:
    """Rename a (down) link and bring it up in one RTM_SETLINK (name first, then flags)."""
    body = _inventory._IFINFOMSG.pack(0, 0, index, _inventory.IFF_UP, _inventory.IFF_UP) + _inventory._nla(
        _inventory.IFLA_IFNAME, ifname.encode() + b"\0")
    _ack(sock, RTM_SETLINK, 0, body)


IFLA_NET_NS_FD = 28
IFLA_MACVLAN_MODE = 1
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}


def _link_data(kind: str, mode: int, flag: int, flag_name: str) -> bytes:
    """IFLA_INFO_DATA of an ipvlan (mode, flags) or macvlan (mode) link."""
    if kind == "macvlan":
        return _inventory._nla(IFLA_MACVLAN_MODE, _inventory._U32.pack(MACVLAN_MODES[flag_name]))
    return (_inventory._nla(_inventory.IFLA_IPVLAN_MODE, _inventory._U16.pack(mode))
            + _inventory._nla(_inventory.IFLA_IPVLAN_FLAGS, _inventory._U16.pack(flag)))


def _newlink_body(ifname: str, kind: str, parent_index: int, ns_fd: int, data: bytes, *,
                  up: bool = False) -> bytes:
    """RTM_NEWLINK body: a KIND link named IFNAME on PARENT_INDEX, born in the namespace of NS_FD
    (what pyroute2's link("add", ifname=, kind=, link=, net_ns_fd=, [state="up"], ...) sends)."""
    flags = _inventory.IFF_UP if up else 0
    nla = _inventory._nla
    info = nla(_inventory.IFLA_INFO_KIND, kind.encode() + b"\0") + nla(_inventory.IFLA_INFO_DATA, data)
    return (_inventory._IFINFOMSG.pack(0, 0, 0, flags, flags)
            + nla(_inventory.IFLA_IFNAME, ifname.encode() + b"\0")
            + nla(_inventory.IFLA_LINK, _inventory._U32.pack(parent_index))
            + nla(IFLA_NET_NS_FD, _inventory._U32.pack(ns_fd))
            + nla(_inventory.IFLA_LINKINFO, info))


def _lean_addr(sock: Any, iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface, index: int) -> None:
    import socket as _s

    family = _s.AF_INET6 if iface.version == 6 else _s.AF_INET
    flags = IFA_F_NODAD if iface.version == 6 else 0
    packed = iface.ip.packed
    body = (_inventory._IFADDRMSG.pack(family, iface.network.prefixlen, flags, 0, index)
            + _inventory._nla(_inventory.IFA_LOCAL, packed)
            + _inventory._nla(_inventory.IFA_ADDRESS, packed)
            + _inventory._nla(IFA_FLAGS, _inventory._U32.pack(flags)))
    _ack(sock, _inventory.RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)


def _lean_route(sock: Any, route: Route, index: int) -> None:
    import socket as _s

    a = _route_args(route, index)
    family = a["family"]
    body = _inventory._RTMSG.pack(family, a["dst_len"], 0, 0, _inventory.RT_TABLE_MAIN, RTPROT_BOOT,
                                  a.get("scope", 0), RTN_UNICAST, 0)
    if a["dst_len"]:
        body += _inventory._nla(_inventory.RTA_DST, _s.inet_pton(family, a["dst"]))
    if "gateway" in a:
        body += _inventory._nla(RTA_GATEWAY, _s.inet_pton(family, a["gateway"]))
    body += _inventory._nla(RTA_OIF, _inventory._U32.pack(index))
    _ack(sock, _inventory.RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body)


def _in_ns_socket(netns: str, fn: Callable[[Any], T]) -> T:
    """fn(sock) with a fresh NETLINK_ROUTE socket, in a thread inside netns."""

    def body() -> T:
        sock = _inventory.open_route_socket()
        try:
            return fn(sock)
        finally:
            sock.close()

    return _netns.in_netns(netns, body)


def _mode_flag(mode: str, flag: str) -> tuple[int, int]:
    if mode not in MODES:
        raise EngineError(f"unknown ipvlan mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    if flag not in FLAGS:
        raise EngineError(f"unknown ipvlan flag {flag!r}", hint=f"use one of {', '.join(FLAGS)}")
    return IPVLAN_MODE[mode], IPVLAN_FLAG[flag]


def _route_args(route: Route, oif: int) -> dict[str, Any]:
    import socket

    version = route.version
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    dst = route.dst
    if dst == "default":
        dst = "::/0" if version == 6 else "0.0.0.0/0"
    net = ipaddress.ip_network(dst, strict=False)
    args: dict[str, Any] = {"family": family, "dst": str(net.network_address), "dst_len": net.prefixlen,
                            "oif": oif}
    if route.via:
        args["gateway"] = route.via
    elif version == 4:
        args["scope"] = RT_SCOPE_LINK  # as `ip route add X dev eth0` does
    return args
