"""Name resolution for netns endpoints: /etc/netns/NAME/hosts.

`ip netns exec NAME ...` bind-mounts /etc/netns/NAME/hosts over /etc/hosts,
so peers resolve by name with no DNS server. Only files of endpoints this
tool made are written or removed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ipvlan_tui.model import Endpoint

DEFAULT_ROOT = Path("/etc/netns")


def render(own: Endpoint, peers: Iterable[Endpoint]) -> str:
    lines = ["# written by ipvlan-tui; rewritten when endpoints join or leave", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback"]
    for ep in sorted([own, *peers], key=lambda e: e.name):
        for addr in (ep.ipv4, ep.ipv6):
            if addr:
                lines.append(f"{addr}\t{ep.name}")
    return "\n".join(lines) + "\n"


def write(root: Path, own: Endpoint, peers: Iterable[Endpoint]) -> None:
    folder = root / own.name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".hosts.tmp"
    tmp.write_text(render(own, peers))
    os.replace(tmp, folder / "hosts")


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
