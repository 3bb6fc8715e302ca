"""Name resolution for netns endpoints: /etc/netns/NAME/hosts.

`ip netns exec NAME ...` bind-mounts /etc/netns/NAME/hosts over /etc/hosts
(the mount follows symlinks). Every endpoint of a network shares one file,
kept in the tool's state dir, and its /etc/netns/NAME/hosts is a symlink to
it: an endpoint joining or leaving rewrites one file, not one per peer
(that was quadratic in the number of endpoints). Only files of endpoints
this tool made are written or removed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ipvlan_tui.model import Endpoint

DEFAULT_ROOT = Path("/etc/netns")


def render(endpoints: Iterable[Endpoint]) -> str:
    lines = ["# written by ipvlan-tui; rewritten when endpoints join or leave", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback"]
    for ep in sorted(endpoints, key=lambda e: e.name):
        for addr in (ep.ipv4, ep.ipv6):
            if addr:
                lines.append(f"{addr}\t{ep.name}")
    return "\n".join(lines) + "\n"


def write_network(shared_dir: Path, network: str, endpoints: Iterable[Endpoint]) -> Path:
    """Write the network's one hosts file atomically; returns its path."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    target = shared_dir / f"{network}.hosts"
    tmp = shared_dir / f".{network}.hosts.tmp"
    tmp.write_text(render(endpoints))
    os.chmod(tmp, 0o644)  # read by whatever runs inside the endpoint
    os.replace(tmp, target)
    return target


def link(root: Path, name: str, target: Path) -> None:
    """/etc/netns/NAME/hosts -> target (made once; left alone when already right)."""
    folder = root / name
    path = folder / "hosts"
    try:
        if os.readlink(path) == str(target):
            return
    except OSError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".hosts.tmp"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, path)


def remove_network(shared_dir: Path, network: str) -> None:
    try:
        (shared_dir / f"{network}.hosts").unlink()
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
