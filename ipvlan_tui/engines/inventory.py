"""A lean bulk read of links, addresses and host routes (layer 5, no Textual).

pyroute2 decodes every attribute of every link (statistics, per-family device
configuration) and runs its event loop once per message: about 2 s for 4,000
links (PERF.md). A view needs half a dozen fields, so this module sends the
RTM_GETLINK / RTM_GETADDR / RTM_GETROUTE dumps itself on a stdlib
AF_NETLINK socket and decodes only those fields. tests/unit/
test_inventory_host.py checks the result against pyroute2's decoding of the
same dump.

Namespaces are read through sockets opened inside them by a helper thread
(netns.open_in_each); the dump itself then runs in the calling thread.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import gc
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ipvlan_tui.engines import netns as _netns
from ipvlan_tui.model import Inventory, Link

# netlink / rtnetlink numbers (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h)
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP = 0x300
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_NEWNSID = 88
RTM_GETNSID = 90

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_EXT_MASK = 29
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_VLAN_ID = 1
IFLA_IPVLAN_MODE = 1
IFLA_IPVLAN_FLAGS = 2
RTEXT_FILTER_SKIP_STATS = 1 << 3

IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_DST = 1
RTA_TABLE = 15
RT_TABLE_MAIN = 254
# Route types that claim a destination in the main table.
_ROUTE_TYPES = {1, 6, 7, 8}  # unicast, blackhole, unreachable, prohibit

NETNSA_NSID = 1
NETNSA_FD = 3

IFF_UP = 0x1
NLA_TYPE_MASK = 0x3FFF

OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
IPVLAN_MODES = ("l2", "l3", "l3s")
IPVLAN_FLAG_NAMES = {0: "bridge", 1: "private", 2: "vepa"}

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NLA = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")

RCVBUF = 4 * 1024 * 1024
RECV_SIZE = 65536  # the kernel fills at most ~32 KiB per dump read


class NetlinkDumpError(OSError):
    """The kernel answered a request with an error (errno set)."""


# --------------------------------------------------------------------------
# Raw records (what one namespace's dump says, before cross-namespace fixes)
# --------------------------------------------------------------------------
@dataclass(slots=True)
class RawLink:
    ifindex: int
    name: str = ""
    kind: str = "device"
    flags: int = 0
    operstate: int = 0
    mtu: int = 0
    mac: str | None = None
    link: int | None = None  # IFLA_LINK
    link_netnsid: int | None = None  # IFLA_LINK_NETNSID
    vlan_id: int | None = None
    ipvlan_mode: str | None = None
    ipvlan_flag: str | None = None
    addresses: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# Socket helpers
# --------------------------------------------------------------------------
def open_route_socket(groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE (root)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


def _nla(atype: int, payload: bytes) -> bytes:
    ln = 4 + len(payload)
    return _NLA.pack(ln, atype) + payload + b"\0" * ((4 - ln % 4) % 4)


class _Seq:
    n = 0

    @classmethod
    def next(cls) -> int:
        cls.n = (cls.n + 1) & 0x7FFFFFFF
        return cls.n


def _request(sock: socket.socket, msg_type: int, flags: int, body: bytes) -> int:
    seq = _Seq.next()
    sock.send(_NLMSGHDR.pack(16 + len(body), msg_type, flags, seq, 0) + body)
    return seq


def _messages(sock: socket.socket, seq: int) -> Iterator[tuple[int, bytes, int, int]]:
    """Yield (msg_type, buffer, offset, length) of the reply to request `seq`.

    Ends at NLMSG_DONE, or after one non-multipart answer; raises on NLMSG_ERROR
    with a non-zero code.
    """
    unpack = _NLMSGHDR.unpack_from
    while True:
        buf = sock.recv(RECV_SIZE)
        off = 0
        end = len(buf)
        multi = False
        while off + 16 <= end:
            ln, mtype, mflags, mseq, _pid = unpack(buf, off)
            if ln < 16:
                return
            if mseq != seq:  # a stray answer to an older request
                off += (ln + 3) & ~3
                continue
            if mtype == NLMSG_DONE:
                return
            if mtype == NLMSG_ERROR:
                code = -_S32.unpack_from(buf, off + 16)[0]
                if code:
                    raise NetlinkDumpError(code, os.strerror(code))
                return  # an ACK
            multi = multi or bool(mflags & NLM_F_MULTI)
            yield mtype, buf, off, ln
            off += (ln + 3) & ~3
        if not multi:
            return


def _ifname(buf: bytes, a: int, alen: int) -> str:
    return buf[a + 4 : a + alen].split(b"\0", 1)[0].decode("utf-8", "replace")


def _parse_linkinfo(buf: bytes, a: int, end: int, rl: RawLink) -> None:
    data_at = data_end = -1
    while a + 4 <= end:
        alen, atype = _NLA.unpack_from(buf, a)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype == IFLA_INFO_KIND:
            rl.kind = _ifname(buf, a, alen)
        elif atype == IFLA_INFO_DATA:
            data_at, data_end = a + 4, a + alen
        a += (alen + 3) & ~3
    if data_at < 0 or rl.kind not in ("vlan", "ipvlan", "ipvtap"):
        return
    a = data_at
    while a + 4 <= data_end:
        alen, atype = _NLA.unpack_from(buf, a)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if rl.kind == "vlan":
            if atype == IFLA_VLAN_ID:
                rl.vlan_id = _U16.unpack_from(buf, a + 4)[0]
        elif atype == IFLA_IPVLAN_MODE:
            m = _U16.unpack_from(buf, a + 4)[0]
            rl.ipvlan_mode = IPVLAN_MODES[m] if m < len(IPVLAN_MODES) else str(m)
        elif atype == IFLA_IPVLAN_FLAGS:
            f = _U16.unpack_from(buf, a + 4)[0]
            rl.ipvlan_flag = IPVLAN_FLAG_NAMES.get(f, str(f))
        a += (alen + 3) & ~3


_WANTED = frozenset((IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE, IFLA_LINK, IFLA_ADDRESS, IFLA_LINKINFO, IFLA_LINK_NETNSID))


def parse_link(buf: bytes, off: int, ln: int) -> RawLink:
    """Decode one RTM_NEWLINK/RTM_DELLINK message at buf[off:off+ln].

    Hot path (thousands of links): one set lookup per uninteresting attribute.
    """
    _fam, _type, index, flags, _change = _IFINFOMSG.unpack_from(buf, off + 16)
    rl = RawLink(ifindex=index, flags=flags)
    a = off + 32
    end = off + ln - 3
    unpack = _NLA.unpack_from
    wanted = _WANTED
    while a < end:
        alen, atype = unpack(buf, a)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype in wanted:
            if atype == IFLA_IFNAME:
                rl.name = buf[a + 4 : a + alen].split(b"\0", 1)[0].decode("utf-8", "replace")
            elif atype == IFLA_MTU:
                rl.mtu = _U32.unpack_from(buf, a + 4)[0]
            elif atype == IFLA_OPERSTATE:
                rl.operstate = buf[a + 4]
            elif atype == IFLA_LINK:
                rl.link = _U32.unpack_from(buf, a + 4)[0]
            elif atype == IFLA_ADDRESS:
                rl.mac = buf[a + 4 : a + alen].hex(":")
            elif atype == IFLA_LINKINFO:
                _parse_linkinfo(buf, a + 4, a + alen, rl)
            else:  # IFLA_LINK_NETNSID
                rl.link_netnsid = _S32.unpack_from(buf, a + 4)[0]
        a += (alen + 3) & ~3
    return rl


def parse_addr(buf: bytes, off: int, ln: int) -> tuple[int, str] | None:
    """Decode one RTM_NEWADDR/RTM_DELADDR: (ifindex, "addr/prefix")."""
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(buf, off + 16)
    a = off + 24
    end = off + ln
    address = local = None
    while a + 4 <= end:
        alen, atype = _NLA.unpack_from(buf, a)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype == IFA_LOCAL:
            local = buf[a + 4 : a + alen]
        elif atype == IFA_ADDRESS:
            address = buf[a + 4 : a + alen]
        a += (alen + 3) & ~3
    raw = local if local is not None else address  # IPv4 peer links: LOCAL is ours
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return index, f"{socket.inet_ntop(family, raw)}/{prefixlen}"


def dump_links(sock: socket.socket) -> list[RawLink]:
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _nla(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
    seq = _request(sock, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, body)
    return [parse_link(buf, off, ln) for mtype, buf, off, ln in _messages(sock, seq) if mtype == RTM_NEWLINK]


def dump_addrs(sock: socket.socket) -> list[tuple[int, str]]:
    seq = _request(sock, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
    out = []
    for mtype, buf, off, ln in _messages(sock, seq):
        if mtype == RTM_NEWADDR:
            item = parse_addr(buf, off, ln)
            if item is not None:
                out.append(item)
    return out


SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
_V4_MASKS = [(0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF for n in range(33)]


def _cidr(family: int, dst: bytes | None, dst_len: int) -> str:
    """The canonical CIDR text of a route's destination, as str(ipaddress.ip_network(.., strict=False)).

    Without building ipaddress objects (thousands of routes): IPv4 is masked as
    an int; IPv6 uses inet_ntop (RFC 5952, like ipaddress) except where glibc
    writes a dotted tail (::ffff:1.2.3.4, ::1.2.3.4), which ipaddress does not.
    """
    if family == socket.AF_INET:
        if dst is None:
            return "0.0.0.0/0"
        v = int.from_bytes(dst, "big") & _V4_MASKS[dst_len if dst_len <= 32 else 32]
        return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}/{dst_len}"
    if dst is None:
        return "::/0"
    if dst_len < 128:  # the kernel stores masked prefixes; mask anyway, cheaply
        v = int.from_bytes(dst, "big") & ~((1 << (128 - dst_len)) - 1)
        dst = v.to_bytes(16, "big")
    text = socket.inet_ntop(socket.AF_INET6, dst)
    if "." in text:
        return str(ipaddress.ip_network(f"{text}/{dst_len}", strict=False))
    return f"{text}/{dst_len}"


def dump_main_routes(sock: socket.socket) -> list[str]:
    """Destination CIDRs (canonical, "0.0.0.0/0" for a default) of the main table.

    The kernel is asked for the main table only (NETLINK_GET_STRICT_CHK, Linux
    4.20+): a host with thousands of links has as many local/broadcast and IPv6
    per-link routes in other tables, which used to be dumped and thrown away.
    Older kernels ignore nothing and refuse the option: the table is then
    checked here, as before (it is checked here in any case).
    """
    strict = True
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    except OSError:
        strict = False
    try:
        hdr = _RTMSG.pack(socket.AF_UNSPEC, 0, 0, 0, RT_TABLE_MAIN if strict else 0, 0, 0, 0, 0)
        seq = _request(sock, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, hdr)
        seen: dict[str, None] = {}
        unpack_rt = _RTMSG.unpack_from
        unpack_nla = _NLA.unpack_from
        for mtype, buf, off, ln in _messages(sock, seq):
            if mtype != RTM_NEWROUTE:
                continue
            family, dst_len, _s, _tos, table, _proto, _scope, rtype, _flags = unpack_rt(buf, off + 16)
            if (family != socket.AF_INET and family != socket.AF_INET6) or rtype not in _ROUTE_TYPES:
                continue
            dst = None
            a = off + 28
            end = off + ln
            while a + 4 <= end:
                alen, atype = unpack_nla(buf, a)
                if alen < 4:
                    break
                atype &= NLA_TYPE_MASK
                if atype == RTA_TABLE:
                    table = _U32.unpack_from(buf, a + 4)[0]
                elif atype == RTA_DST:
                    dst = buf[a + 4 : a + alen]
                a += (alen + 3) & ~3
            if table != RT_TABLE_MAIN:
                continue
            seen[_cidr(family, dst, dst_len)] = None
        return list(seen)
    finally:
        if strict:
            try:
                sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 0)
            except OSError:
                pass


def get_nsid(sock: socket.socket, ns_fd: int) -> int | None:
    """The id the socket's namespace gives to the namespace behind ns_fd (None: none)."""
    body = b"\0\0\0\0" + _nla(NETNSA_FD, _U32.pack(ns_fd))
    seq = _request(sock, RTM_GETNSID, NLM_F_REQUEST, body)
    for mtype, buf, off, ln in _messages(sock, seq):
        if mtype != RTM_NEWNSID:
            continue
        a = off + 20
        end = off + ln
        while a + 4 <= end:
            alen, atype = _NLA.unpack_from(buf, a)
            if alen < 4:
                break
            if atype & NLA_TYPE_MASK == NETNSA_NSID:
                nsid = _S32.unpack_from(buf, a + 4)[0]
                return None if nsid < 0 else nsid
            a += (alen + 3) & ~3
    return None


# --------------------------------------------------------------------------
# The inventory
# --------------------------------------------------------------------------
def _label_for(path_or_label: str) -> str:
    """'/proc/123/ns/net' -> 'pid:123'; other labels unchanged."""
    parts = path_or_label.split("/")
    if path_or_label.startswith("/proc/") and len(parts) == 5 and parts[2].isdigit() and parts[3:] == ["ns", "net"]:
        return f"pid:{parts[2]}"
    return path_or_label


_SET_BY_US = (
    "ifindex", "name", "kind", "netns", "state", "mtu", "mac", "parent_ifindex", "parent_name",
    "parent_netns", "vlan_id", "ipvlan_mode", "ipvlan_flag", "addresses", "admin_up",
)


def _link_defaults() -> dict[str, object] | None:
    """Defaults of Link's other fields, or None if one has no default."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(Link):
        if f.name in _SET_BY_US:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            return None
        else:
            return None
    return out


_LINK_DEFAULTS = _link_defaults()


def _to_link(rl: RawLink, label: str, parent_name: str | None = None, parent_netns: str | None = None) -> Link:
    values = {
        "ifindex": rl.ifindex,
        "name": rl.name,
        "kind": rl.kind,
        "netns": label,
        "state": OPERSTATES[rl.operstate] if rl.operstate < len(OPERSTATES) else "unknown",
        "mtu": rl.mtu,
        "mac": rl.mac,
        "parent_ifindex": rl.link if rl.link else None,
        "parent_name": parent_name,
        "parent_netns": parent_netns,
        "vlan_id": rl.vlan_id,
        "ipvlan_mode": rl.ipvlan_mode,
        "ipvlan_flag": rl.ipvlan_flag,
        "addresses": tuple(rl.addresses),
        "admin_up": bool(rl.flags & IFF_UP),
    }
    if _LINK_DEFAULTS is None:
        return Link(**values)  # type: ignore[arg-type]
    # A frozen dataclass sets each field through object.__setattr__; filling
    # __dict__ directly is 3x faster and gives an equal object (thousands of links).
    link = object.__new__(Link)
    link.__dict__.update(_LINK_DEFAULTS)
    link.__dict__.update(values)
    return link


def _explain(label: str, exc: BaseException) -> str:
    where = f"namespace {label}" if label else "the host namespace"
    if isinstance(exc, FileNotFoundError):
        return f"{where}: gone (its file no longer exists)"
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == _errno.EPERM:
        return f"{where}: could not be entered (needs root or CAP_SYS_ADMIN)"
    return f"{where}: could not be read: {exc}"


def read_inventory(
    namespaces: Iterable[str] | None = None,
    *,
    extra: Iterable[str] = (),
    include_host: bool = True,
    host_routes: bool = True,
) -> Inventory:
    """Links and addresses of the host and of named namespaces, in one snapshot.

    namespaces: names under /run/netns to read; None = every one there.
    extra: more namespaces as "pid:PID" or absolute paths (/proc/PID/ns/net),
    labelled "pid:PID" when they are a process's namespace.
    The same namespace reached under two labels is read once (first label wins:
    host, then named, then extra). Parts that cannot be read are reported in
    Inventory.errors; the rest is still returned. Owner is left OTHER.
    """
    named = _netns.list_netns() if namespaces is None else [n for n in namespaces if n]
    labels: list[str] = ([""] if include_host else []) + list(named) + [_label_for(e) for e in extra]
    errors: list[str] = []

    # Resolve each label to a path and drop duplicates of the same namespace.
    paths: dict[str, str] = {}
    seen_ns: dict[tuple[int, int], str] = {}
    identity: dict[str, tuple[int, int]] = {}
    for label in dict.fromkeys(labels):
        try:
            path = _netns.netns_path(label)
            st = os.stat(path)
        except (OSError, ValueError) as exc:
            errors.append(_explain(label, exc))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_ns:
            continue
        seen_ns[key] = label
        identity[label] = key
        paths[label] = path

    opened = _netns.open_in_each(list(paths), lambda _label: open_route_socket())
    socks: dict[str, socket.socket] = {}
    for label, res in opened.items():
        if isinstance(res, BaseException):
            errors.append(_explain(label, res))
        else:
            socks[label] = res

    raw: dict[str, list[RawLink]] = {}
    routes: list[str] = []
    gc_was_on = gc.isenabled()
    gc.disable()  # thousands of small objects, no cycles: skip needless collections
    try:
        for label, sock in socks.items():
            try:
                links = dump_links(sock)
                by_index = {rl.ifindex: rl for rl in links}
                for index, text in dump_addrs(sock):
                    rl = by_index.get(index)
                    if rl is not None:
                        rl.addresses.append(text)
                if label == "" and host_routes:
                    routes = dump_main_routes(sock)
            except OSError as exc:
                errors.append(_explain(label, exc))
                continue
            raw[label] = links
        result = _resolve(raw, socks, paths, errors)
    finally:
        if gc_was_on:
            gc.enable()
        for sock in socks.values():
            sock.close()
    return Inventory(
        links=tuple(result),
        namespaces=tuple(n for n in named if n in raw),
        host_routes=tuple(routes),
        errors=tuple(errors),
    )


def _resolve(
    raw: dict[str, list[RawLink]],
    socks: dict[str, socket.socket],
    paths: dict[str, str],
    errors: list[str],
) -> list[Link]:
    """Turn raw records into Links with parent_name/parent_netns resolved."""
    names: dict[str, dict[int, str]] = {label: {rl.ifindex: rl.name for rl in links} for label, links in raw.items()}
    # nsid -> label, per namespace, only for namespaces that need it.
    nsid_maps: dict[str, dict[int, str]] = {}
    for label, links in raw.items():
        wanted = {rl.link_netnsid for rl in links if rl.link_netnsid is not None and rl.link_netnsid >= 0}
        if not wanted:
            continue
        found: dict[int, str] = {}
        # Parents usually sit in the host: ask about it first.
        for other in raw:
            if other == label or not (wanted - found.keys()):
                continue
            try:
                fd = os.open(paths[other], os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                nsid = get_nsid(socks[label], fd)
            except OSError as exc:
                errors.append(f"namespace {label or 'host'}: could not map namespace ids: {exc}")
                break
            finally:
                os.close(fd)
            if nsid is not None and nsid in wanted:
                found[nsid] = other
        nsid_maps[label] = found

    out: list[Link] = []
    for label, links in raw.items():
        own = names[label]
        nsids = nsid_maps.get(label, {})
        for rl in links:
            parent = parent_ns = None
            if rl.link:
                if rl.link_netnsid is None or rl.link_netnsid < 0:
                    parent = own.get(rl.link)
                else:
                    other = nsids.get(rl.link_netnsid)
                    if other is not None:
                        parent, parent_ns = names[other].get(rl.link), other
            out.append(_to_link(rl, label, parent, parent_ns))
    return out


# --------------------------------------------------------------------------
# A few links, re-read after an event (the console's targeted refresh)
# --------------------------------------------------------------------------
class UnresolvedParent(LookupError):
    """A link's parent sits in a namespace other than its own and the host's."""


def get_link(sock: socket.socket, ifindex: int) -> RawLink | None:
    """RTM_GETLINK for one ifindex; None when there is no such link (ENODEV)."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0) + _nla(
        IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
    seq = _request(sock, RTM_GETLINK, NLM_F_REQUEST, body)
    try:
        for mtype, buf, off, ln in _messages(sock, seq):
            if mtype == RTM_NEWLINK:
                return parse_link(buf, off, ln)
    except NetlinkDumpError as exc:
        if exc.errno == _errno.ENODEV:
            return None
        raise
    return None


def read_links(label: str, ifindexes: Iterable[int], host_names: dict[int, str] | None = None
               ) -> dict[int, Link | None]:
    """Re-read some links of one namespace ("" host, a named one or "pid:PID"): the
    fields read_inventory gives, for each ifindex, or None when it is gone.

    A parent in the same namespace is asked for by index; a parent in another
    namespace is resolved only when that is the host (host_names: ifindex ->
    name of the host's links, as last read): otherwise UnresolvedParent, and the
    caller reads everything instead. Raises OSError when the namespace cannot be
    read (gone, no permission).
    """
    wanted = list(dict.fromkeys(i for i in ifindexes if i > 0))
    res = _netns.open_in_each([label], lambda _label: open_route_socket())[label]
    if isinstance(res, BaseException):
        raise res
    sock = res
    try:
        raw: dict[int, RawLink | None] = {i: get_link(sock, i) for i in wanted}
        present = {i: rl for i, rl in raw.items() if rl is not None}
        if present:
            for index, text in dump_addrs(sock):
                rl = present.get(index)
                if rl is not None:
                    rl.addresses.append(text)
        host_nsid: int | None = None
        host_nsid_known = False
        out: dict[int, Link | None] = {}
        for i, rl in raw.items():
            if rl is None:
                out[i] = None
                continue
            parent = parent_ns = None
            if rl.link:
                if rl.link_netnsid is None or rl.link_netnsid < 0:
                    p = present.get(rl.link) or get_link(sock, rl.link)
                    parent = p.name if p is not None else None
                else:
                    if not host_nsid_known:
                        host_nsid_known = True
                        if label:
                            fd = os.open(_netns.netns_path(""), os.O_RDONLY | os.O_CLOEXEC)
                            try:
                                host_nsid = get_nsid(sock, fd)
                            finally:
                                os.close(fd)
                    if host_nsid is None or rl.link_netnsid != host_nsid or host_names is None:
                        raise UnresolvedParent(f"link {rl.name} in {label or 'the host'}: parent in "
                                               f"namespace id {rl.link_netnsid}")
                    parent, parent_ns = host_names.get(rl.link), ""
            out[i] = _to_link(rl, label, parent, parent_ns)
        return out
    finally:
        sock.close()
