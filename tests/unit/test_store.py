"""The store: permissions, refusal of stores it must not touch, two writers at once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat

import pytest

from ipvlan_tui import ipam
from ipvlan_tui.errors import EngineError
from ipvlan_tui.model import Endpoint, NetworkSpec, ParentPlan, Subnet
from ipvlan_tui.store import Store, spec_from_json, spec_to_json

SPEC = NetworkSpec(
    name="n", mode="l3", flag="private",
    parent=ParentPlan(kind="vlan", name="eth0.20", base="eth0", vlan_id=20, create=True),
    subnets=(Subnet("10.0.0.0/24", None, True, "10.0.0.128/25", (("r", "10.0.0.200"),)),
             Subnet("2001:db8::/64")),
    internal=True, ipv6=True, network_id="ab" * 32, warnings=("w",))


def test_spec_round_trips_through_json():
    assert spec_from_json(spec_to_json(SPEC)) == SPEC


def test_permissions(tmp_path):
    s = Store(tmp_path / "state")
    s.close()
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "state.db").st_mode) == 0o600


def test_newer_store_is_refused_untouched(tmp_path):
    s = Store(tmp_path)
    s._db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    s.close()
    before = (tmp_path / "state.db").read_bytes()
    with pytest.raises(EngineError) as info:
        Store(tmp_path)
    assert "newer" in str(info.value)
    assert (tmp_path / "state.db").read_bytes() == before


def test_corrupt_store_is_refused_untouched(tmp_path):
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EngineError) as info:
        Store(tmp_path)
    assert "unreadable" in str(info.value) or "not an ipvlan-tui store" in str(info.value)
    assert (tmp_path / "state.db").read_bytes() == b"this is not sqlite" * 100


def test_foreign_sqlite_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    with pytest.raises(EngineError):
        Store(tmp_path)


def _grab(args):
    path, worker, count = args
    store = Store(path)
    spec = store.network("n")[0]
    got = []
    for i in range(count):
        def pick(used):
            return ipam.allocate(ipam.pick_subnet(spec, 4, used), used), None
        ep = store.reserve_endpoint(Endpoint(f"w{worker}-{i}", "n", netns=f"w{worker}-{i}"), pick)
        got.append(ep.ipv4)
    store.close()
    return got


def test_two_processes_never_get_the_same_address(tmp_path):
    s = Store(tmp_path)
    s.add_network(NetworkSpec(name="n", subnets=(Subnet("10.0.0.0/22", "10.0.0.1"),),
                              network_id="1" * 64), state="ready")
    s.close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_grab, [(str(tmp_path), w, 60) for w in range(4)])
    flat = [a for r in results for a in r]
    assert len(flat) == 240 and len(set(flat)) == 240
    assert Store(tmp_path).used_addresses("n") == set(flat)
