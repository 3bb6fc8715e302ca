"""Live link and address events from the kernel (layer 5, no Textual).

One NETLINK_ROUTE socket per watched namespace, subscribed to RTNLGRP_LINK,
RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, opened inside the namespace by a
helper thread (netns.open_in_each). `run(callback)` blocks (meant for a worker
thread) and hands over small events; the consumer coalesces them per
(netns, ifindex) and re-reads what it shows (toolong's `can_replace` idea).
When the kernel drops events because we were too slow (ENOBUFS), one
`resync` event says "re-dump everything in this namespace".
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ipvlan_tui.engines import inventory as _inv
from ipvlan_tui.engines import netns as _netns

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR

LINK_ADDED = "link_added"
LINK_REMOVED = "link_removed"
LINK_CHANGED = "link_changed"
ADDR_CHANGED = "addr_changed"
RESYNC = "resync"


@dataclass(frozen=True)
class LinkEvent:
    kind: str  # link_added | link_removed | link_changed | addr_changed | resync
    netns: str  # "" host, or the namespace name as given
    ifindex: int = 0  # 0 for resync
    name: str = ""  # the link's name when known

    @property
    def key(self) -> tuple[str, int]:
        """Events with the same key can replace each other (coalescing)."""
        return (self.netns, self.ifindex)


class _Watched:
    def __init__(self, label: str, sock: socket.socket) -> None:
        self.label = label
        self.sock = sock
        self.names: dict[int, str] = {}


def _open_pair(_label: str) -> tuple[socket.socket, socket.socket]:
    """An event socket (bound to the groups first, so nothing is missed) and a dump socket."""
    ev = _inv.open_route_socket(groups=GROUPS)
    try:
        dump = _inv.open_route_socket()
    except BaseException:
        ev.close()
        raise
    return ev, dump


class LinkEventWatcher:
    """Watch the host (optional) and named namespaces; `run()` until `stop()`."""

    def __init__(self, namespaces: Iterable[str] = (), *, include_host: bool = True,
                 rcvbuf: int | None = None) -> None:
        """rcvbuf: the event sockets' receive buffer (default 4 MiB; tests make it
        tiny to provoke an overflow)."""
        self._rcvbuf = rcvbuf
        self._running = False
        self._sel = selectors.DefaultSelector()
        self._watched: dict[str, _Watched] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._pending_add: list[str] = []
        self._pending_remove: list[str] = []
        self._stopped = threading.Event()
        self._closed = False
        self.errors: list[str] = []
        labels = ([""] if include_host else []) + [n for n in namespaces if n]
        # Delivered first by run(): one resync per namespace watched from the
        # start, which also tells the consumer the watch is live.
        self._initial = self._add(labels)

    # ---- membership ----------------------------------------------------
    def _add(self, labels: list[str]) -> list[LinkEvent]:
        """Open sockets for new namespaces; returns resync events for them."""
        labels = [l for l in dict.fromkeys(labels) if l not in self._watched]
        if not labels:
            return []
        out: list[LinkEvent] = []
        for label, res in _netns.open_in_each(labels, _open_pair).items():
            if isinstance(res, BaseException):
                self.errors.append(f"namespace {label or 'host'}: not watched: {res}")
                continue
            ev, dump = res
            w = _Watched(label, ev)
            try:
                w.names = {rl.ifindex: rl.name for rl in _inv.dump_links(dump)}
            except OSError as exc:
                self.errors.append(f"namespace {label or 'host'}: first read failed: {exc}")
            finally:
                dump.close()
            if self._rcvbuf is not None:
                ev.setsockopt(socket.SOL_SOCKET, 33, self._rcvbuf)  # SO_RCVBUFFORCE
            ev.setblocking(False)
            self._watched[label] = w
            self._sel.register(ev, selectors.EVENT_READ, w)
            out.append(LinkEvent(RESYNC, label))
        return out

    def _remove(self, label: str) -> None:
        w = self._watched.pop(label, None)
        if w is not None:
            self._sel.unregister(w.sock)
            w.sock.close()

    def watch(self, name: str) -> None:
        """Start watching a namespace too (thread-safe; a resync event follows)."""
        with self._lock:
            self._pending_add.append(name)
        self._wake()

    def unwatch(self, name: str) -> None:
        """Stop watching a namespace (releases our socket, which kept it alive)."""
        with self._lock:
            self._pending_remove.append(name)
        self._wake()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(self._watched)

    # ---- the loop ------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def stop(self) -> None:
        """Make run() return soon; safe from any thread."""
        self._stopped.set()
        self._wake()

    def run(self, callback: Callable[[LinkEvent], None], *, timeout: float | None = None,
            tick: Callable[[], None] | None = None, tick_interval: float = 0.25) -> None:
        """Deliver events to callback until stop() (or timeout seconds of silence).

        Blocking: run it in a worker thread. Sockets are closed when it returns.
        tick() is called about every tick_interval seconds (from this thread):
        the place to check an outside stop flag or to watch()/unwatch().
        """
        if tick is not None:
            timeout = None
            return self._run_ticking(callback, tick, tick_interval)
        with self._lock:
            if self._closed:
                raise RuntimeError("this watcher was closed; make a new one")
            self._running = True
        try:
            for event in self._take_initial():
                callback(event)
            while not self._stopped.is_set():
                ready = self._sel.select(timeout)
                if not ready and timeout is not None:
                    return
                for key, _mask in ready:
                    w = key.data
                    if w is None:
                        self._drain_wake(callback)
                        continue
                    for event in self._read(w):
                        callback(event)
                        if self._stopped.is_set():
                            return
        finally:
            with self._lock:
                self._running = False
            self.close()

    def _run_ticking(self, callback: Callable[[LinkEvent], None], tick: Callable[[], None],
                     interval: float) -> None:
        import time

        with self._lock:
            if self._closed:
                raise RuntimeError("this watcher was closed; make a new one")
            self._running = True
        try:
            for event in self._take_initial():
                callback(event)
            next_tick = time.monotonic()
            while not self._stopped.is_set():
                now = time.monotonic()
                if now >= next_tick:
                    tick()
                    next_tick = now + interval
                    if self._stopped.is_set():
                        return
                for key, _mask in self._sel.select(max(0.0, next_tick - time.monotonic())):
                    w = key.data
                    if w is None:
                        self._drain_wake(callback)
                        continue
                    for event in self._read(w):
                        callback(event)
        finally:
            with self._lock:
                self._running = False
            self.close()

    def _take_initial(self) -> list[LinkEvent]:
        out, self._initial = self._initial, []
        return out

    def _drain_wake(self, callback: Callable[[LinkEvent], None]) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            add, self._pending_add = self._pending_add, []
            remove, self._pending_remove = self._pending_remove, []
        for label in remove:
            self._remove(label)
        for event in self._add(add):
            callback(event)

    def _read(self, w: _Watched) -> list[LinkEvent]:
        out: list[LinkEvent] = []
        overflow = False
        while True:
            try:
                buf = w.sock.recv(_inv.RECV_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    overflow = True
                    continue  # keep draining what is left, then ask for one resync
                raise
            out.extend(self._decode(w, buf))
        if overflow:
            self._reseed(w)
            return [LinkEvent(RESYNC, w.label)]
        return out

    def _reseed(self, w: _Watched) -> None:
        def dump(_label: str) -> dict[int, str]:
            sock = _inv.open_route_socket()
            try:
                return {rl.ifindex: rl.name for rl in _inv.dump_links(sock)}
            finally:
                sock.close()

        res = _netns.open_in_each([w.label], dump)[w.label]
        if not isinstance(res, BaseException):
            w.names = res

    def _decode(self, w: _Watched, buf: bytes) -> list[LinkEvent]:
        out: list[LinkEvent] = []
        off, end = 0, len(buf)
        while off + 16 <= end:
            ln, mtype, _flags, _seq, _pid = _inv._NLMSGHDR.unpack_from(buf, off)
            if ln < 16:
                break
            if mtype in (_inv.RTM_NEWLINK, _inv.RTM_DELLINK):
                rl = _inv.parse_link(buf, off, ln)
                if mtype == _inv.RTM_DELLINK:
                    name = w.names.pop(rl.ifindex, rl.name)
                    out.append(LinkEvent(LINK_REMOVED, w.label, rl.ifindex, rl.name or name))
                else:
                    known = rl.ifindex in w.names
                    w.names[rl.ifindex] = rl.name
                    out.append(LinkEvent(LINK_CHANGED if known else LINK_ADDED, w.label, rl.ifindex, rl.name))
            elif mtype in (_inv.RTM_NEWADDR, _inv.RTM_DELADDR):
                index = _inv._IFADDRMSG.unpack_from(buf, off + 16)[4]
                out.append(LinkEvent(ADDR_CHANGED, w.label, index, w.names.get(index, "")))
            off += (ln + 3) & ~3
        return out

    def close(self) -> None:
        """Close the sockets. While run() is active it only stops it (run closes)."""
        with self._lock:
            if self._running:
                self._stopped.set()
                self._wake()
                return
            if self._closed:
                return
            self._closed = True
        for label in list(self._watched):
            self._remove(label)
        try:
            self._sel.unregister(self._wake_r)
        except (KeyError, ValueError):
            pass
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> "LinkEventWatcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.close()
