"""Name resolution for netns endpoints: /etc/netns/NAME/hosts.

`ip netns exec NAME ...` bind-mounts /etc/netns/NAME/hosts over /etc/hosts
(the mount follows symlinks). Every endpoint of a network shares one file,
kept in the tool's state dir, and its /etc/netns/NAME/hosts is a symlink to
it: an endpoint joining or leaving edits one file, not one per peer (that was
quadratic in the number of endpoints). Only files of endpoints this tool made
are written or removed.

The shared file is edited in place, in O(1) per join or leave, not rendered
again from every endpoint and replaced (an ext4 rename over an existing file
costs milliseconds: it flushes the new file's data first):
- a join appends the endpoint's lines; a line never straddles a page, so a
  reader sees it whole or not at all (a comment pads up to the page end);
- a leave blanks its lines in place: each becomes `#` and spaces, same length
  (nothing else in the file moves; the name is gone from it);
- when commented lines outnumber live ones (and there are more than
  COMPACT_MIN), or the file is missing, it is written whole from the store and
  replaced atomically; when the store has no entry left, it is removed.
The caller serializes the edits (the controller runs them inside the store's
write transaction) and gives `entries()`, the store's view, for the rewrites.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ipvlan_tui.model import Endpoint

DEFAULT_ROOT = Path("/etc/netns")
HEADER = ("# written by ipvlan-tui; endpoints are added as they join and commented out as they leave",
          "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback")
_MARK = b"# written by ipvlan-tui"  # how every version's header starts
PAGE = 4096
COMPACT_MIN = 32  # commented-out lines tolerated before a rewrite, whatever the live count

Entry = tuple[str, "str | None", "str | None"]  # (name, ipv4, ipv6)
Entries = Callable[[], Iterable[Entry]]


def _entry_lines(name: str, ipv4: str | None, ipv6: str | None) -> list[str]:
    return [f"{addr}\t{name}" for addr in (ipv4, ipv6) if addr]


def render_entries(entries: Iterable[Entry]) -> str:
    lines = list(HEADER)
    for name, v4, v6 in sorted(entries, key=lambda e: e[0]):
        lines.extend(_entry_lines(name, v4, v6))
    return "\n".join(lines) + "\n"


def render(endpoints: Iterable[Endpoint]) -> str:
    return render_entries((ep.name, ep.ipv4, ep.ipv6) for ep in endpoints)


def network_file(shared_dir: Path, network: str) -> Path:
    return shared_dir / f"{network}.hosts"


def write_network(shared_dir: Path, network: str, entries: Iterable[Entry]) -> Path:
    """Write the network's one hosts file whole, atomically; returns its path."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    target = network_file(shared_dir, network)
    tmp = shared_dir / f".{network}.hosts.tmp"
    tmp.write_text(render_entries(entries))
    os.chmod(tmp, 0o644)  # read by whatever runs inside the endpoint
    os.replace(tmp, target)
    return target


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    while len(data) < size:  # short reads are allowed; loop until the size seen
        more = os.pread(fd, size - len(data), len(data))
        if not more:
            break
        data += more
    return data


def _live_lines_of(data: bytes, name: str) -> list[tuple[int, int]]:
    """(start, end) of the uncommented `ADDRESS<TAB>name` lines, newline excluded."""
    needle = b"\t" + name.encode() + b"\n"
    out = []
    i = data.find(needle)
    while i >= 0:
        start = data.rfind(b"\n", 0, i) + 1
        if data[start:start + 1] not in (b"#", b"") and b"\t" not in data[start:i]:
            out.append((start, i + len(needle) - 1))
        i = data.find(needle, i + 1)
    return out


def _blank(fd: int, lines: list[tuple[int, int]]) -> None:
    """Each line becomes `#` and spaces, in place: same length, nothing else moves."""
    for start, end in lines:
        os.pwrite(fd, b"#" + b" " * (end - start - 1), start)


def _counts(data: bytes) -> tuple[int, int]:
    """(live entries, commented-out or blank lines), header and localhost lines aside."""
    lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    dead = data.count(b"\n#") + data.count(b"\n\n") + (1 if data[:1] in (b"#", b"\n") else 0)
    localhost = data.count(b"\tlocalhost")
    header_comment = 1 if data.startswith(_MARK) else 0
    return lines - dead - localhost, max(dead - header_comment, 0)


def _padded(size: int, chunk: bytes) -> bytes:
    """`chunk` to append at `size`, after a comment up to the page end when it would
    straddle one (a read racing the append sees whole lines only)."""
    room = PAGE - size % PAGE
    if len(chunk) <= room:
        return chunk
    return (b"#" + b" " * (room - 2) + b"\n" if room >= 2 else b"\n") + chunk


def add(shared_dir: Path, network: str, name: str, ipv4: str | None, ipv6: str | None,
        entries: Entries) -> Path:
    """`name` resolves to its addresses in the network's file: lines it had are
    blanked, its lines appended. A missing file is written whole from entries() (and
    these addresses for `name`)."""
    path = network_file(shared_dir, network)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        rest = [e for e in entries() if e[0] != name]
        return write_network(shared_dir, network, [*rest, (name, ipv4, ipv6)])
    try:
        data = _read_all(fd)
        _blank(fd, _live_lines_of(data, name))
        size = len(data)
        if data and not data.endswith(b"\n"):  # cut short by hand: end that line first
            size += os.pwrite(fd, b"\n", size)
        chunk = "".join(line + "\n" for line in _entry_lines(name, ipv4, ipv6)).encode()
        if chunk:
            os.pwrite(fd, _padded(size, chunk), size)
    finally:
        os.close(fd)
    return path


def drop(shared_dir: Path, network: str, name: str, entries: Entries) -> None:
    """`name` no longer resolves in the network's file (its lines blanked).
    Rewritten whole when mostly comments; removed when nothing live is left."""
    path = network_file(shared_dir, network)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        data = _read_all(fd)
        offsets = _live_lines_of(data, name)
        _blank(fd, offsets)
    finally:
        os.close(fd)
    live, dead = _counts(data)
    live, dead = live - len(offsets), dead + len(offsets)
    if live <= 0 or dead > max(COMPACT_MIN, live):
        rest = list(entries())
        if rest:  # mostly comments, or out of step with the store: written whole
            write_network(shared_dir, network, rest)
        else:
            remove_network(shared_dir, network)


def matches(shared_dir: Path, network: str, entries: Iterable[Entry]) -> bool:
    """Whether the network's file resolves exactly `entries` (restore's check)."""
    try:
        data = network_file(shared_dir, network).read_bytes()
    except FileNotFoundError:
        return False
    live = sorted(line for line in data.decode(errors="replace").splitlines()
                  if line and not line.startswith("#"))
    want = sorted(list(HEADER[1:]) + [line for e in entries for line in _entry_lines(*e)])
    return live == want


def link(root: Path, name: str, target: Path) -> None:
    """/etc/netns/NAME/hosts -> target (made once; left alone when already right)."""
    folder = root / name
    path = folder / "hosts"
    try:
        os.mkdir(folder)  # the usual case: a new endpoint, nothing there yet
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass
    try:
        os.symlink(target, path)
        return
    except FileExistsError:
        pass
    try:
        if os.readlink(path) == str(target):
            return
    except OSError:
        pass
    tmp = folder / ".hosts.tmp"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, path)


def remove_network(shared_dir: Path, network: str) -> None:
    try:
        network_file(shared_dir, network).unlink()
    except FileNotFoundError:
        pass


def remove(root: Path, name: str) -> None:
    folder = root / name
    try:
        (folder / "hosts").unlink()
    except FileNotFoundError:
        pass
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (someone else's files) or already gone
