"""Live link and address events from the kernel (layer 5, no Textual).

One NETLINK_ROUTE socket per watched namespace, subscribed to RTNLGRP_LINK,
RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, opened inside the namespace by a
helper thread (netns.open_in_each). `run(callback)` blocks (meant for a worker
thread) and hands over small events; the consumer coalesces them per
(netns, ifindex) and re-reads what it shows (toolong's `can_replace` idea).
When the kernel drops events because we were too slow (ENOBUFS), the rest
of the burst is drained unread and, once the socket has been quiet for
QUIET_S, one dump and one `resync` event say "re-read everything in this
namespace". Memory does not grow with a storm: MAX_READS datagrams per wake-up
at most, and the only state kept is the link table (ifindex -> name).
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
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

# A storm must not grow memory with its size: one wake-up reads at most
# MAX_READS datagrams (one notification each) before handing them over, and
# after an overflow nothing more is decoded: a fresh dump replaces it.
MAX_READS = 512
# After an overflow the events still queued are dropped unread, and the one
# dump (a resync) waits until the socket has been quiet this long: a dump per
# overflow during a storm would take longer than the storm (each dump reads
# every link) and overflow again.
QUIET_S = 0.2
# The event sockets' receive buffer when the caller gives none: None keeps
# inventory.RCVBUF (4 MiB). Smaller values make ENOBUFS (and resyncs) earlier.
EVENT_RCVBUF: int | None = None


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
        self.stale_since = 0.0  # >0: overflowed; events dropped until the quiet dump
        self.last_datagram = 0.0


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
        self._rcvbuf = rcvbuf if rcvbuf is not None else EVENT_RCVBUF
        self.resyncs = 0  # overflows (ENOBUFS) answered with a fresh dump
        self.max_batch = 0  # most events handed over from one wake-up
        self._final: dict[str, dict[int, str]] = {}  # names() once closed
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
                stale = self._resync_quiet(callback)
                ready = self._sel.select(QUIET_S if stale else timeout)
                if not ready and timeout is not None and not stale:
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
                stale = self._resync_quiet(callback)
                wait = max(0.0, next_tick - time.monotonic())
                for key, _mask in self._sel.select(min(wait, QUIET_S) if stale else wait):
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
        """What one wake-up brings: at most MAX_READS datagrams (the rest waits for the
        next select). After an overflow (ENOBUFS) nothing is decoded until the socket
        has been quiet for QUIET_S; then one dump and one resync (_resync_quiet)."""
        out: list[LinkEvent] = []
        for _ in range(MAX_READS):
            try:
                buf = w.sock.recv(_inv.RECV_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    if not w.stale_since:
                        w.stale_since = time.monotonic()
                    out = []  # the dump covers these
                    continue
                raise
            w.last_datagram = time.monotonic()
            if not w.stale_since:
                out.extend(self._decode(w, buf))
        self.max_batch = max(self.max_batch, len(out))
        return out

    def _resync_quiet(self, callback: Callable[[LinkEvent], None]) -> bool:
        """Dump and say resync for each overflowed namespace that has been quiet for
        QUIET_S; True while some are still waiting for quiet."""
        waiting = False
        for w in list(self._watched.values()):
            if not w.stale_since:
                continue
            if time.monotonic() - max(w.last_datagram, w.stale_since) < QUIET_S:
                waiting = True
                continue
            w.stale_since = 0.0
            self.resyncs += 1
            self._reseed(w)
            callback(LinkEvent(RESYNC, w.label))
        return waiting

    @property
    def settling(self) -> bool:
        """True while an overflow waits for the quiet moment of its dump and resync."""
        return any(w.stale_since for w in list(self._watched.values()))

    def names(self, netns: str = "") -> dict[int, str]:
        """The links the watcher believes exist in `netns` (ifindex -> name), kept by
        events and re-dumped after an overflow: a fresh inventory must agree."""
        w = self._watched.get(netns)
        return dict(w.names) if w is not None else dict(self._final.get(netns, {}))

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
        self._final = {label: w.names for label, w in self._watched.items()}
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
