"""inventory.read_links (the console's targeted re-read after an event) against
read_inventory of the same namespace: every field the same, a gone link None, a
parent in a namespace other than the host refused (the console then reads
everything). Runs on the host (root, veth + macvlan) inside private
namespaces made for the test; the host's own interfaces are not touched."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from ipvlan_tui.engines import netns
from ipvlan_tui.engines.inventory import UnresolvedParent, read_inventory, read_links

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create namespaces")


def _ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


@pytest.fixture
def spaces():
    tag = uuid.uuid4().hex[:8]
    a, b = f"ivt-rl-a-{tag}", f"ivt-rl-b-{tag}"
    made: list[str] = []
    try:
        for name in (a, b):
            netns.create(name)
            made.append(name)
        _ip(a, "link", "set", "lo", "up")
        for i in range(5):
            _ip(a, "link", "add", f"v{i}a", "type", "veth", "peer", "name", f"v{i}b")
            _ip(a, "link", "add", f"m{i}", "link", f"v{i}a", "type", "macvlan", "mode", "bridge")
            _ip(a, "addr", "add", f"10.{i}.0.1/24", "dev", f"v{i}a")
            _ip(a, "addr", "add", f"fd00:{i}::1/64", "dev", f"v{i}a", "nodad")
        _ip(a, "link", "add", "mp", "link", "v1a", "type", "macvlan", "mode", "private")
        _ip(a, "link", "set", "v2a", "up")
        _ip(a, "link", "add", "xns", "link", "v0a", "type", "macvlan", "mode", "bridge")
        _ip(a, "link", "set", "xns", "netns", b)
        yield a, b
    finally:
        for name in made:
            netns.delete(name)


def test_read_links_matches_a_full_read(spaces):
    a, b = spaces
    full = {l.ifindex: l for l in read_inventory([a], include_host=False).links}
    got = read_links(a, list(full))
    assert got == full
    gone = max(full) + 1000
    assert read_links(a, [gone]) == {gone: None}
    mp = next(l for l in full.values() if l.name == "mp")
    assert got[mp.ifindex].parent_name == "v1a" and got[mp.ifindex].kind == "macvlan"
    # After a change, the one link re-read says what a full read says.
    _ip(a, "link", "set", "m3", "mtu", "1400")
    _ip(a, "addr", "add", "10.77.0.1/24", "dev", "m3")
    m3 = next(l for l in full.values() if l.name == "m3")
    assert read_links(a, [m3.ifindex]) == {
        m3.ifindex: next(l for l in read_inventory([a], include_host=False).links if l.name == "m3")}


def test_a_parent_in_another_namespace_is_left_to_a_full_read(spaces):
    a, b = spaces
    moved = next(l for l in read_inventory([b], include_host=False).links if l.name == "xns")
    with pytest.raises(UnresolvedParent):
        read_links(b, [moved.ifindex], host_names={})
