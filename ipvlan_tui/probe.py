"""ICMP echo from inside network namespaces, by this process: no ping program.

How a probe reaches into a namespace: a short-lived worker thread saves its
own /proc/thread-self/ns/net, setns()'s into the target, creates the ICMP
socket and restores its namespace in `finally`. A socket stays bound to the
namespace it was created in, so the caller's thread then sends and receives
on it from where it is, and never changes namespace itself. The worker is a
fresh thread each time: if restoring ever failed, that thread just ends.

One socket per (namespace, family) serves every probe from that namespace.
Each probe has its own ICMP id (raw sockets see every reply in their
namespace) and an 8-byte random cookie at the start of the payload, so
concurrent probes, in this process or another, never steal replies.

Everything runs in one selector loop: a matrix of hundreds of pairs takes
about one timeout, not the sum. Network failures are data in `PingResult`
(`error`), never exceptions; only bad arguments raise ValueError.

    results = probe_many([ProbeJob("ns1", "10.0.0.2", count=3)],
                         on_result=lambda r: print(format_summary(r)))
"""

from __future__ import annotations

import ctypes
import errno as _errno
import heapq
import ipaddress
import itertools
import math
import os
import random
import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from .expect import choose_address  # the family rule lives with the predictions
from .model import Endpoint

__all__ = [
    "PingResult",
    "ProbeJob",
    "probe_many",
    "ping",
    "matrix",
    "matrix_jobs",
    "format_summary",
    "netns_path",
    "in_netns",
    "open_icmp_socket",
]

CLONE_NEWNET = 0x40000000

# Linux constants the socket module (3.11) does not name.
_SOL_RAW = 255
_ICMP_FILTER = 1
_ICMP6_FILTER = 1
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_IP_RECVTTL = 12
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_SO_TIMESTAMPNS = 35  # == SCM_TIMESTAMPNS on x86, arm, riscv (not sparc/parisc)
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_SO_EE_ORIGIN_LOCAL = 1

ICMP_ECHO_REPLY, ICMP_ECHO = 0, 8
ICMP6_ECHO, ICMP6_ECHO_REPLY = 128, 129

COOKIE_LEN = 8
MIN_SIZE = COOKIE_LEN  # the cookie must fit in the payload
MAX_SIZE = 65000
DEFAULT_SIZE = 56

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PingResult:
    """One probe's outcome, like ping's summary. Times are milliseconds."""

    source: str  # label: source endpoint name or namespace
    target: str  # label: target endpoint name, "parent", or the address
    address: str  # the address pinged ("" when none could be chosen)
    family: int  # 4 or 6 (0 when no address)
    sent: int = 0
    received: int = 0
    loss: float = 1.0  # 0..1; 1.0 when nothing was sent
    rtt_min: float | None = None
    rtt_avg: float | None = None
    rtt_max: float | None = None
    rtt_mdev: float | None = None
    ttl: int | None = None  # TTL / hop limit of the last reply
    error: str | None = None  # why replies are missing: "Network is unreachable", ...
    errors: int = 0  # ICMP errors and failed sends (ping's "+N errors")
    duration_ms: float = 0.0  # first send to end of the probe
    netns: str = ""  # the namespace the probe was sent from
    rtts: tuple[float, ...] = ()  # each reply's round trip, in arrival order
    socket_kind: str = ""  # "raw" or "dgram" (ping socket)

    @property
    def reachable(self) -> bool:
        return self.received > 0


@dataclass(frozen=True)
class ProbeJob:
    """What to ping, from where, and how.

    netns: a named namespace ("ns1" = /run/netns/ns1), a path such as
    /proc/PID/ns/net, "pid:PID", or "" for this process's own namespace.
    """

    netns: str
    address: str
    source: str = ""  # labels copied into the result; default: netns / address
    target: str = ""
    count: int = 1
    interval: float = 1.0  # seconds between echo requests of one probe
    timeout: float = 1.0  # seconds to wait for each reply
    size: int = DEFAULT_SIZE  # ICMP payload bytes (ping -s); at least 8
    sock_type: str = "auto"  # "auto" (raw, else ping socket), "raw", "dgram"


# ---------------------------------------------------------------------------
# Entering namespaces
# ---------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
_libc.setns.restype = ctypes.c_int


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netns_path(netns: str) -> str:
    """The file that names a namespace: "ns1" -> /run/netns/ns1, "pid:7" -> /proc/7/ns/net."""
    if netns.startswith("pid:"):
        return f"/proc/{netns[4:]}/ns/net"
    if "/" in netns:
        return netns
    if not netns or netns in (".", ".."):
        raise ValueError(f"not a namespace name: {netns!r}")
    return f"/run/netns/{netns}"


def in_netns(netns: str, fn: Callable[[], object]) -> object:
    """Run fn() in a fresh thread that has entered `netns`; return its result.

    The calling thread's namespace is never touched. fn's exceptions are
    re-raised here. "" runs fn() right here, in the caller's namespace.
    """
    if not netns:
        return fn()
    path = netns_path(netns)
    box: dict[str, object] = {}

    def worker() -> None:
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _setns(target)
                    try:
                        box["value"] = fn()
                    finally:
                        # Must come back: if this raised, the thread ends anyway.
                        _setns(own)
                finally:
                    os.close(target)
            finally:
                os.close(own)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=worker, name=f"netns:{netns}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def _icmp_filter_v4() -> bytes:
    # Bit set = blocked. Pass echo reply and the errors we explain.
    allowed = (1 << 0) | (1 << 3) | (1 << 4) | (1 << 11) | (1 << 12)
    return struct.pack("=I", ~allowed & 0xFFFFFFFF)


def _icmp_filter_v6() -> bytes:
    words = [0xFFFFFFFF] * 8
    for t in (1, 2, 3, 4, ICMP6_ECHO_REPLY):
        words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
    return struct.pack("=8I", *words)


def _make_icmp_socket(family: int, sock_type: str) -> tuple[socket.socket, str]:
    """Create an ICMP socket in the current thread's namespace."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
    kinds = {"auto": ("raw", "dgram"), "raw": ("raw",), "dgram": ("dgram",)}[sock_type]
    last: OSError | None = None
    for kind in kinds:
        st = socket.SOCK_RAW if kind == "raw" else socket.SOCK_DGRAM
        try:
            s = socket.socket(af, st, proto)
        except OSError as exc:  # EPERM/EACCES: not root, ping sockets not allowed
            last = exc
            continue
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            if family == 4:
                if kind == "raw":
                    s.setsockopt(_SOL_RAW, _ICMP_FILTER, _icmp_filter_v4())
                else:
                    s.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
                    s.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
                if kind == "raw":
                    s.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, _icmp_filter_v6())
                else:
                    s.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        return s, kind
    assert last is not None
    raise last


def open_icmp_socket(
    netns: str, family: int, sock_type: str = "auto"
) -> tuple[socket.socket, str]:
    """An ICMP socket living in `netns` (usable from any thread), and its kind."""
    return in_netns(netns, lambda: _make_icmp_socket(family, sock_type))  # type: ignore[return-value]


_OPEN_PARALLEL = 32


def _open_many(keys: Iterable[tuple[str, int, str]]) -> dict:
    """Open sockets for several (netns, family, sock_type) at once.

    One worker thread per namespace, all namespaces in parallel (a matrix of
    20 endpoints opens 20 namespaces). Value: (socket, kind) or an error text.
    """
    by_ns: dict[str, list[tuple[int, str]]] = {}
    for ns, fam, st in keys:
        by_ns.setdefault(ns, []).append((fam, st))
    out: dict = {}
    lock = threading.Lock()

    def open_ns(ns: str, wants: list[tuple[int, str]]) -> None:
        def make() -> list:
            made = []
            for fam, st in wants:
                try:
                    made.append(((ns, fam, st), _make_icmp_socket(fam, st)))
                except OSError as exc:
                    made.append(((ns, fam, st), f"cannot open an ICMP socket: {exc.strerror or exc}"))
            return made

        try:
            made = in_netns(ns, make)
        except OSError as exc:
            why = f"cannot enter namespace {ns}: {exc.strerror or exc}"
            made = [((ns, fam, st), why) for fam, st in wants]
        except ValueError as exc:
            made = [((ns, fam, st), str(exc)) for fam, st in wants]
        with lock:
            out.update(dict(made))  # type: ignore[arg-type]

    named = [(ns, wants) for ns, wants in by_ns.items() if ns]
    if "" in by_ns:
        open_ns("", by_ns[""])
    for start in range(0, len(named), _OPEN_PARALLEL):  # bounded: not 500 threads at once
        threads = [threading.Thread(target=open_ns, args=item, daemon=True)
                   for item in named[start:start + _OPEN_PARALLEL]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return out


# ---------------------------------------------------------------------------
# Packets
# ---------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    if family == 4:
        head = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
        csum = _checksum(head + payload)
        return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + payload
    # ICMPv6: the kernel always fills in the checksum (it needs the pseudo header).
    return struct.pack("!BBHHH", ICMP6_ECHO, 0, 0, ident, seq) + payload


_V4_ERRORS = {
    3: {
        0: "Destination Net Unreachable",
        1: "Destination Host Unreachable",
        2: "Destination Protocol Unreachable",
        3: "Destination Port Unreachable",
        4: "Frag needed",
        5: "Source Route Failed",
        6: "Destination Net Unknown",
        7: "Destination Host Unknown",
        9: "Destination Net Prohibited",
        10: "Destination Host Prohibited",
        11: "Destination Net Unreachable for Type of Service",
        12: "Destination Host Unreachable for Type of Service",
        13: "Packet filtered",
    },
    4: {None: "Source Quench"},
    11: {0: "Time to live exceeded", 1: "Frag reassembly time exceeded"},
    12: {None: "Parameter problem"},
}
_V6_ERRORS = {
    1: {
        0: "Destination unreachable: No route",
        1: "Destination unreachable: Administratively prohibited",
        2: "Destination unreachable: Beyond scope",
        3: "Destination unreachable: Address unreachable",
        4: "Destination unreachable: Port unreachable",
        5: "Destination unreachable: Source address failed ingress/egress policy",
        6: "Destination unreachable: Reject route to destination",
    },
    2: {None: "Packet too big"},
    3: {0: "Time exceeded: Hop limit", 1: "Time exceeded: Defragmentation failure"},
    4: {None: "Parameter problem"},
}


def icmp_error_text(family: int, icmp_type: int, code: int) -> str:
    """ping's words for an ICMP error (e.g. 3/1 -> "Destination Host Unreachable")."""
    table = (_V4_ERRORS if family == 4 else _V6_ERRORS).get(icmp_type)
    if table is None:
        return f"ICMP{'v6' if family == 6 else ''} type {icmp_type} code {code}"
    return table.get(code) or table.get(None) or f"{next(iter(table.values()))} (code {code})"


@dataclass
class _Packet:
    kind: str  # "reply" or "error"
    ident: int | None
    seq: int
    cookie: bytes | None
    ttl: int | None = None
    rx_ns: int | None = None  # CLOCK_REALTIME ns from the kernel
    error: str = ""
    dst: str | None = None  # for errors: the destination of the original request


def _cmsgs(ancdata) -> tuple[int | None, int | None]:
    ttl = rx = None
    for level, ctype, data in ancdata:
        if level == socket.SOL_SOCKET and ctype == _SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("@qq", data)
            rx = sec * 1_000_000_000 + nsec
        elif (level, ctype) in ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, _IPV6_HOPLIMIT)):
            if len(data) >= 4:
                ttl = struct.unpack_from("@i", data)[0]
    return ttl, rx


def _parse_inner_v4(inner: bytes) -> tuple[str | None, int | None, int, bytes | None] | None:
    """The original request quoted in an ICMPv4 error: (dst, ident, seq, cookie)."""
    if len(inner) < 20 or inner[0] >> 4 != 4 or inner[9] != socket.IPPROTO_ICMP:
        return None
    ihl = (inner[0] & 0x0F) * 4
    icmp = inner[ihl:]
    if len(icmp) < 8 or icmp[0] != ICMP_ECHO:
        return None
    dst = socket.inet_ntop(socket.AF_INET, inner[16:20])
    ident, seq = struct.unpack_from("!HH", icmp, 4)
    cookie = bytes(icmp[8 : 8 + COOKIE_LEN]) if len(icmp) >= 8 + COOKIE_LEN else None
    return dst, ident, seq, cookie


def _parse_inner_v6(inner: bytes) -> tuple[str | None, int | None, int, bytes | None] | None:
    if len(inner) < 48 or inner[0] >> 4 != 6 or inner[6] != socket.IPPROTO_ICMPV6:
        return None
    icmp = inner[40:]
    if icmp[0] != ICMP6_ECHO:
        return None
    dst = socket.inet_ntop(socket.AF_INET6, inner[24:40])
    ident, seq = struct.unpack_from("!HH", icmp, 4)
    cookie = bytes(icmp[8 : 8 + COOKIE_LEN]) if len(icmp) >= 8 + COOKIE_LEN else None
    return dst, ident, seq, cookie


def _parse_raw(family: int, data: bytes, ancdata) -> _Packet | None:
    ttl, rx = _cmsgs(ancdata)
    if family == 4:
        if len(data) < 20:
            return None
        ihl = (data[0] & 0x0F) * 4
        ttl = data[8]
        icmp = data[ihl:]
        reply_type = ICMP_ECHO_REPLY
    else:
        icmp = data
        reply_type = ICMP6_ECHO_REPLY
    if len(icmp) < 8:
        return None
    itype, code = icmp[0], icmp[1]
    if itype == reply_type:
        ident, seq = struct.unpack_from("!HH", icmp, 4)
        cookie = bytes(icmp[8 : 8 + COOKIE_LEN]) if len(icmp) >= 8 + COOKIE_LEN else None
        return _Packet("reply", ident, seq, cookie, ttl, rx)
    inner = (_parse_inner_v4 if family == 4 else _parse_inner_v6)(icmp[8:])
    if inner is None:
        return None
    dst, ident, seq, cookie = inner
    return _Packet("error", ident, seq, cookie, None, rx, icmp_error_text(family, itype, code), dst)


def _parse_dgram(family: int, data: bytes, ancdata) -> _Packet | None:
    ttl, rx = _cmsgs(ancdata)
    reply_type = ICMP_ECHO_REPLY if family == 4 else ICMP6_ECHO_REPLY
    if len(data) < 8 or data[0] != reply_type:
        return None
    # The kernel rewrote our id to the socket's: match on cookie and seq only.
    seq = struct.unpack_from("!H", data, 6)[0]
    cookie = bytes(data[8 : 8 + COOKIE_LEN]) if len(data) >= 8 + COOKIE_LEN else None
    return _Packet("reply", None, seq, cookie, ttl, rx)


def _parse_errqueue(family: int, data: bytes, ancdata) -> _Packet | None:
    """A ping socket's error queue: our own request back, with sock_extended_err."""
    text = ""
    for level, ctype, cdata in ancdata:
        if (level, ctype) in ((socket.IPPROTO_IP, _IP_RECVERR), (socket.IPPROTO_IPV6, _IPV6_RECVERR)):
            if len(cdata) >= 16:
                ee_errno, origin, etype, ecode = struct.unpack_from("=IBBB", cdata)
                if origin == _SO_EE_ORIGIN_LOCAL:
                    text = os.strerror(ee_errno)
                else:
                    text = icmp_error_text(family, etype, ecode)
    if not text or len(data) < 8:
        return None
    seq = struct.unpack_from("!H", data, 6)[0]
    cookie = bytes(data[8 : 8 + COOKIE_LEN]) if len(data) >= 8 + COOKIE_LEN else None
    _, rx = _cmsgs(ancdata)
    return _Packet("error", None, seq, cookie, None, rx, text)


# ---------------------------------------------------------------------------
# The selector loop
# ---------------------------------------------------------------------------

# ICMP ids: process-wide, so two probe_many() running at once never share one.
_ident_counter = itertools.count(random.randrange(1, 0xFFFF))
_ident_lock = threading.Lock()


def _next_ident() -> int:
    with _ident_lock:
        return next(_ident_counter) % 0xFFFF + 1


_PAD = bytes((0x10 + i) & 0xFF for i in range(MAX_SIZE))  # ping's fill pattern


@lru_cache(maxsize=4096)
def _canonical(address: str) -> tuple[str, int]:
    """("10.0.0.2", 4) for any spelling; ValueError when not an address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return str(ip), ip.version


class _Sock:
    __slots__ = ("sock", "kind", "family", "netns")

    def __init__(self, sock: socket.socket, kind: str, family: int, netns: str) -> None:
        self.sock, self.kind, self.family, self.netns = sock, kind, family, netns


class _Probe:
    __slots__ = (
        "index", "job", "family", "address", "sockaddr", "ident", "cookie", "payload",
        "sock", "next_seq", "sent", "pending", "rtts", "ttl", "errors", "error",
        "start_mono", "end_mono", "done", "source", "target",
    )

    def __init__(self, index: int, job: ProbeJob, family: int, address: str) -> None:
        self.index, self.job, self.family, self.address = index, job, family, address
        self.sockaddr = (address, 0) if family == 4 else (address, 0, 0, 0)
        self.ident = _next_ident()
        self.cookie = os.urandom(COOKIE_LEN)
        self.payload = self.cookie + _PAD[: job.size - COOKIE_LEN]
        self.sock: _Sock | None = None
        self.next_seq = 0
        self.sent = 0
        self.pending: dict[int, int] = {}  # seq -> send time (CLOCK_REALTIME ns)
        self.rtts: list[float] = []
        self.ttl: int | None = None
        self.errors = 0
        self.error: str | None = None
        self.start_mono = 0.0
        self.end_mono = 0.0
        self.done = False
        self.source = job.source or job.netns or "(this namespace)"
        self.target = job.target or address

    def result(self, error: str | None = None) -> PingResult:
        rtts = self.rtts
        received = len(rtts)
        err = error or self.error
        if received == 0 and err is None and self.sent:
            err = f"no reply within {self.job.timeout:g} s"
        if rtts:
            avg = sum(rtts) / received
            mdev = math.sqrt(max(sum(r * r for r in rtts) / received - avg * avg, 0.0))
            stats = dict(rtt_min=min(rtts), rtt_avg=avg, rtt_max=max(rtts), rtt_mdev=mdev)
        else:
            stats = {}
        return PingResult(
            source=self.source,
            target=self.target,
            address=self.address,
            family=self.family,
            sent=self.sent,
            received=received,
            loss=(1.0 - received / self.sent) if self.sent else 1.0,
            ttl=self.ttl,
            error=err if received < self.sent or not self.sent else None,
            errors=self.errors,
            duration_ms=max(self.end_mono - self.start_mono, 0.0) * 1000.0 if self.sent else 0.0,
            netns=self.job.netns,
            rtts=tuple(rtts),
            socket_kind=self.sock.kind if self.sock else "",
            **stats,
        )


def _check_job(job: ProbeJob) -> None:
    if job.count < 1:
        raise ValueError(f"count must be at least 1, got {job.count}")
    if job.interval < 0 or job.timeout <= 0:
        raise ValueError("interval must be >= 0 and timeout > 0")
    if not MIN_SIZE <= job.size <= MAX_SIZE:
        raise ValueError(f"size must be {MIN_SIZE}..{MAX_SIZE} bytes, got {job.size}")
    if job.sock_type not in ("auto", "raw", "dgram"):
        raise ValueError(f"sock_type must be auto, raw or dgram, got {job.sock_type!r}")


def probe_many(
    jobs: Sequence[ProbeJob],
    max_in_flight: int = 64,
    on_result: Callable[[PingResult], None] | None = None,
    *,
    cancel: threading.Event | None = None,
) -> list[PingResult]:
    """Run many probes at once in one selector loop on the calling thread.

    At most `max_in_flight` probes are active at a time; the next job starts
    as soon as one finishes. Each PingResult is passed to `on_result` (on
    this thread) the moment its probe completes, in completion order; the
    returned list is in job order. Setting `cancel` ends every probe early
    (error "cancelled"). Bad options raise ValueError before anything is sent;
    an exception raised by `on_result` stops the run and propagates (the
    sockets are closed). For a matrix, pass max_in_flight >= len(jobs) (as
    matrix() does) so silent pairs do not queue behind each other.
    """
    jobs = list(jobs)
    for job in jobs:
        _check_job(job)
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
    results: list[PingResult | None] = [None] * len(jobs)

    def emit(index: int, res: PingResult) -> None:
        results[index] = res
        if on_result is not None:
            on_result(res)

    probes: list[_Probe | None] = [None] * len(jobs)
    wanted: set[tuple[str, int, str]] = set()
    for i, job in enumerate(jobs):
        try:
            addr, fam = _canonical(job.address)
        except ValueError:
            emit(i, PingResult(job.source or job.netns, job.target or job.address, job.address, 0,
                               error=f"not an IP address: {job.address!r}", netns=job.netns))
            continue
        p = _Probe(i, job, fam, addr)
        probes[i] = p
        wanted.add((job.netns, p.family, job.sock_type))

    opened = _open_many(wanted)
    socks: dict[tuple[str, int, str], _Sock] = {}
    sel = selectors.DefaultSelector()
    try:
        for key, value in opened.items():
            if isinstance(value, str):
                continue
            s, kind = value
            socks[key] = _Sock(s, kind, key[1], key[0])
            sel.register(s, selectors.EVENT_READ, socks[key])

        waiting: deque[_Probe] = deque()
        for p in probes:
            if p is None:
                continue
            key = (p.job.netns, p.family, p.job.sock_type)
            if key in socks:
                p.sock = socks[key]
                waiting.append(p)
            else:
                emit(p.index, p.result(error=str(opened.get(key, "no socket"))))
        _run(waiting, max_in_flight, sel, emit, cancel)
    finally:
        sel.close()
        for s in socks.values():
            s.sock.close()
    return [r for r in results if r is not None]


def _run(waiting: deque, max_in_flight: int, sel, emit, cancel) -> None:
    timers: list = []  # (when_mono, tiebreak, probe, action, seq)
    tiebreak = itertools.count()
    by_cookie: dict[bytes, _Probe] = {}
    by_ident: dict[tuple[int, int], _Probe] = {}  # (family, ident) -> probe, raw sockets
    active = 0

    def finish(p: _Probe, error: str | None = None) -> None:
        nonlocal active
        if p.done:
            return
        p.done = True
        p.end_mono = time.monotonic()
        active -= 1
        by_cookie.pop(p.cookie, None)
        by_ident.pop((p.family, p.ident), None)
        emit(p.index, p.result(error))

    def maybe_done(p: _Probe) -> None:
        if not p.done and p.next_seq >= p.job.count and not p.pending:
            finish(p)

    def start(p: _Probe, now: float) -> None:
        nonlocal active
        active += 1
        p.start_mono = now
        by_cookie[p.cookie] = p
        by_ident[(p.family, p.ident)] = p
        heapq.heappush(timers, (now, next(tiebreak), p, "send", 0))

    def send(p: _Probe, now: float) -> None:
        now = time.monotonic()  # a burst of sends takes a while: time each one
        seq = p.next_seq & 0xFFFF
        packet = _echo_request(p.family, p.ident, seq, p.payload)
        t0 = time.time_ns()
        try:
            p.sock.sock.sendto(packet, p.sockaddr)
        except (BlockingIOError, InterruptedError):
            heapq.heappush(timers, (now + 0.002, next(tiebreak), p, "send", 0))
            return
        except OSError as exc:
            if exc.errno == _errno.ENOBUFS:
                heapq.heappush(timers, (now + 0.002, next(tiebreak), p, "send", 0))
                return
            # Like ping's "connect: Network is unreachable": this will not change.
            p.sent += 1
            p.next_seq += 1
            p.errors += 1
            p.error = exc.strerror or str(exc)
            p.pending.clear()
            finish(p)
            return
        p.sent += 1
        p.next_seq += 1
        p.pending[seq] = t0
        heapq.heappush(timers, (now + p.job.timeout, next(tiebreak), p, "expire", seq))
        if p.next_seq < p.job.count:
            heapq.heappush(timers, (now + p.job.interval, next(tiebreak), p, "send", 0))

    def handle(s: _Sock, pkt: _Packet) -> None:
        p = None
        if pkt.cookie is not None:
            p = by_cookie.get(pkt.cookie)
        elif s.kind == "raw" and pkt.ident is not None:
            p = by_ident.get((s.family, pkt.ident))  # a quoted request cut short
        if p is None or p.done or p.sock is not s:
            return
        if s.kind == "raw" and pkt.ident != p.ident:
            return
        if pkt.kind == "error" and pkt.dst is not None and pkt.dst != p.address:
            return
        sent_ns = p.pending.pop(pkt.seq, None)
        if sent_ns is None:
            return  # duplicate or late
        if pkt.kind == "reply":
            rx = pkt.rx_ns if pkt.rx_ns is not None else time.time_ns()
            p.rtts.append(max(rx - sent_ns, 0) / 1e6)
            if pkt.ttl is not None:
                p.ttl = pkt.ttl
        else:
            p.errors += 1
            p.error = pkt.error
        maybe_done(p)

    def drain(s: _Sock) -> None:
        sock, fam = s.sock, s.family
        if s.kind == "dgram":
            while True:  # the error queue first: it also holds sk_err
                try:
                    data, anc, _f, _a = sock.recvmsg(65536, 1024, _MSG_ERRQUEUE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                pkt = _parse_errqueue(fam, data, anc)
                if pkt is not None:
                    handle(s, pkt)
        parse = _parse_raw if s.kind == "raw" else _parse_dgram
        for _ in range(4096):  # bounded, so timers still run under a flood
            try:
                data, anc, _f, _a = sock.recvmsg(65536, 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # A ping socket reports a pending ICMP error once here; the
                # details are on the error queue, read on the next wake-up.
                if s.kind == "dgram":
                    continue
                return
            pkt = parse(fam, data, anc)
            if pkt is not None:
                handle(s, pkt)

    while waiting or active:
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            for _, _, p, _, _ in timers:
                if not p.done:
                    p.pending.clear()
                    finish(p, "cancelled")
            for p in waiting:
                emit(p.index, p.result("cancelled"))
            return
        while waiting and active < max_in_flight:
            start(waiting.popleft(), now)
        while timers and timers[0][0] <= now:
            _, _, p, action, seq = heapq.heappop(timers)
            if p.done:
                continue
            if action == "send":
                send(p, now)
            else:
                p.pending.pop(seq, None)
            maybe_done(p)
        if not active:
            continue  # everything finished in this pass; start the next jobs
        wait = max(timers[0][0] - time.monotonic(), 0.0) if timers else 0.05
        if cancel is not None:
            wait = min(wait, 0.1)
        for key, _ in sel.select(wait):
            drain(key.data)


# ---------------------------------------------------------------------------
# Conveniences for the CLI and the console
# ---------------------------------------------------------------------------


def ping(
    netns: str,
    address: str,
    *,
    count: int = 3,
    interval: float = 1.0,
    timeout: float = 1.0,
    size: int = DEFAULT_SIZE,
    source: str = "",
    target: str = "",
    sock_type: str = "auto",
    on_result: Callable[[PingResult], None] | None = None,
    cancel: threading.Event | None = None,
) -> PingResult:
    """One probe (`ping -c count -i interval -W timeout -s size address` from netns)."""
    job = ProbeJob(netns, address, source, target, count, interval, timeout, size, sock_type)
    return probe_many([job], 1, on_result, cancel=cancel)[0]


def matrix_jobs(
    endpoints: Sequence[Endpoint],
    *,
    family: int | None = None,
    count: int = 1,
    interval: float = 1.0,
    timeout: float = 1.0,
    size: int = DEFAULT_SIZE,
    sock_type: str = "auto",
) -> list[tuple[Endpoint, Endpoint, ProbeJob | PingResult]]:
    """Every ordered pair (a, b), a != b: a ProbeJob, or an immediate PingResult
    saying why nothing can be sent (no namespace, no common address family)."""
    out: list[tuple[Endpoint, Endpoint, ProbeJob | PingResult]] = []
    for a in endpoints:
        for b in endpoints:
            if a is b or (a.name == b.name and a.network == b.network):
                continue
            chosen = choose_address(a, b, family)
            if not a.netns:
                out.append((a, b, PingResult(a.name, b.name, chosen[0] if chosen else "", chosen[1] if chosen else 0,
                                             error=f"endpoint {a.name} has no network namespace")))
            elif chosen is None:
                fam = f"IPv{family}" if family else "address"
                out.append((a, b, PingResult(a.name, b.name, "", 0, netns=a.netns,
                                             error=f"no common {fam} family between {a.name} and {b.name}")))
            else:
                out.append((a, b, ProbeJob(a.netns, chosen[0], a.name, b.name, count, interval,
                                           timeout, size, sock_type)))
    return out


def matrix(
    endpoints: Sequence[Endpoint],
    *,
    family: int | None = None,
    count: int = 1,
    interval: float = 1.0,
    timeout: float = 1.0,
    size: int = DEFAULT_SIZE,
    max_in_flight: int = 1024,
    on_result: Callable[[PingResult], None] | None = None,
    cancel: threading.Event | None = None,
    sock_type: str = "auto",
) -> list[PingResult]:
    """Ping every ordered pair of endpoints at once; results in pair order.

    Address family per pair: the target's IPv4 unless family=6 or only IPv6
    is common. Pairs that cannot be probed get a result with `error` set,
    streamed first. All probes start together (max_in_flight 1024), so the
    whole matrix takes about one timeout (count 1).
    """
    planned = matrix_jobs(endpoints, family=family, count=count, interval=interval,
                          timeout=timeout, size=size, sock_type=sock_type)
    results: list[PingResult | None] = [None] * len(planned)
    job_index: list[int] = []
    jobs: list[ProbeJob] = []
    for i, (_, _, item) in enumerate(planned):
        if isinstance(item, PingResult):
            results[i] = item
            if on_result is not None:
                on_result(item)
        else:
            job_index.append(i)
            jobs.append(item)
    for i, res in zip(job_index, probe_many(jobs, max_in_flight, on_result, cancel=cancel)):
        results[i] = res
    return [r for r in results if r is not None]


def format_summary(result: PingResult) -> str:
    """ping's closing lines for one result."""
    head = f"--- {result.address or result.target} ping statistics ---"
    line = f"{result.sent} packets transmitted, {result.received} received"
    if result.errors:
        line += f", +{result.errors} errors"
    line += f", {result.loss * 100:g}% packet loss"
    if result.sent:
        line += f", time {result.duration_ms:.0f}ms"
    lines = [head, line]
    if result.received:
        lines.append(
            f"rtt min/avg/max/mdev = {result.rtt_min:.3f}/{result.rtt_avg:.3f}/"
            f"{result.rtt_max:.3f}/{result.rtt_mdev:.3f} ms"
        )
    if result.error and result.received < max(result.sent, 1):
        lines.append(f"error: {result.error}")
    return "\n".join(lines)
