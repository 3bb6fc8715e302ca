"""The per-endpoint paths outside the engine: hosts files edited in place, the store's
indexed lookups, reserve without a listing. Behaviour only (speed lives in bench/)."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
from pathlib import Path

import pytest

from ipvlan_tui.controller import Controller
from ipvlan_tui.engines import hostsfile
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import PlanFailed
from ipvlan_tui.model import Endpoint, EndpointRequest, NetworkRequest, NetworkSpec, Subnet
from ipvlan_tui.plan import FAIL_AT_ENV
from ipvlan_tui.store import Store


def live_lines(text: str) -> list[str]:
    """What a resolver reads: lines that are neither comments nor blank."""
    return sorted(line for line in text.splitlines() if line.strip() and not line.startswith("#"))


def expected(entries) -> list[str]:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for name, v4, v6 in entries:
        lines += [f"{a}\t{name}" for a in (v4, v6) if a]
    return sorted(lines)


# ------------------------------------------------------------------ hostsfile alone
@pytest.mark.parametrize("seed", range(8))
def test_joins_and_leaves_edit_the_file_to_what_a_full_render_resolves(tmp_path, seed):
    rng = random.Random(seed)
    shared = tmp_path / "hosts"
    live: dict[str, tuple[str | None, str | None]] = {}
    entries = lambda: sorted((n, *a) for n, a in live.items())  # noqa: E731 - the store's view
    path = hostsfile.network_file(shared, "n")
    for step in range(400):
        if live and rng.random() < 0.45:
            name = rng.choice(sorted(live))
            del live[name]
            hostsfile.drop(shared, "n", name, entries)
        else:
            name = f"ep{rng.randrange(60)}-{'x' * rng.randrange(0, 40)}"
            addrs = (f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                     f"2001:db8::{rng.randrange(1 << 16):x}" if rng.random() < 0.5 else None)
            live[name] = addrs  # a join again of the same name replaces its lines
            hostsfile.add(shared, "n", name, *addrs, entries)
        if live:
            data = path.read_bytes()
            assert live_lines(data.decode()) == expected(entries()), step
            for name in set(f"ep{i}" for i in range(60)):  # a left endpoint's name is gone, not commented
                if not any(n.startswith(name + "-") for n in live):
                    assert f"\t{name}-".encode() not in data
        else:
            assert not path.exists()  # the last one left: no file


def test_appended_lines_never_straddle_a_page(tmp_path):
    shared = tmp_path / "hosts"
    live = {}
    for i in range(400):
        name = f"endpoint-with-a-long-name-{i:04d}"
        live[name] = (f"10.0.{i // 250}.{i % 250 + 1}", f"2001:db8::{i + 1:x}")
        hostsfile.add(shared, "n", name, *live[name], lambda: [])
    data = hostsfile.network_file(shared, "n").read_bytes()
    assert len(data) > 4 * hostsfile.PAGE
    offset = 0
    for line in data.split(b"\n")[:-1]:
        start, end = offset, offset + len(line)  # the newline at `end` belongs to the line
        assert start // hostsfile.PAGE == end // hostsfile.PAGE or line.startswith(b"#"), line
        offset = end + 1
    assert live_lines(data.decode()) == expected((n, *a) for n, a in live.items())


def test_a_missing_file_is_written_whole_and_a_mostly_blank_one_rewritten(tmp_path):
    shared = tmp_path / "hosts"
    live = {f"e{i:03d}": (f"10.0.0.{i + 2}", None) for i in range(100)}
    entries = lambda: sorted((n, *a) for n, a in live.items())  # noqa: E731
    hostsfile.add(shared, "n", "e000", "10.0.0.2", None, entries)  # no file yet: all 100 at once
    path = hostsfile.network_file(shared, "n")
    assert live_lines(path.read_text()) == expected(entries())
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    for i in range(90):
        del live[f"e{i:03d}"]
        hostsfile.drop(shared, "n", f"e{i:03d}", entries)
    text = path.read_text()
    assert live_lines(text) == expected(entries())
    dead = sum(1 for line in text.splitlines()[1:] if line.startswith("#") or not line)
    assert dead <= max(hostsfile.COMPACT_MIN, len(live)) + 1  # rewritten on the way, not 90 blanks


def test_a_file_cut_short_by_hand_is_ended_before_the_append(tmp_path):
    shared = tmp_path / "hosts"
    hostsfile.add(shared, "n", "a", "10.0.0.2", None, lambda: [("a", "10.0.0.2", None)])
    path = hostsfile.network_file(shared, "n")
    path.write_bytes(path.read_bytes() + b"10.9.9.9\tmine")  # no newline at the end
    hostsfile.add(shared, "n", "b", "10.0.0.3", None, lambda: [])
    assert "10.9.9.9\tmine" in live_lines(path.read_text())
    assert "10.0.0.3\tb" in live_lines(path.read_text())


def test_only_exact_names_are_taken_out(tmp_path):
    shared = tmp_path / "hosts"
    names = ["a", "a-1", "b.a", "xa"]
    for i, n in enumerate(names):
        hostsfile.add(shared, "n", n, f"10.0.0.{i + 2}", None, lambda: [])
    hostsfile.drop(shared, "n", "a", lambda: [])
    assert live_lines(hostsfile.network_file(shared, "n").read_text()) == expected(
        [("a-1", "10.0.0.3", None), ("b.a", "10.0.0.4", None), ("xa", "10.0.0.5", None)])


# ------------------------------------------------------------------ store
def test_hot_queries_use_indexes(tmp_path):
    s = Store(tmp_path)
    db = s._db
    queries = {
        "SELECT 1 FROM endpoints WHERE name=?": ("a",),
        "SELECT address FROM allocations WHERE network=?": ("n",),
        "SELECT 1 FROM allocations WHERE network=? AND address IN (?,?) LIMIT 1": ("n", "x", "y"),
        "DELETE FROM allocations WHERE endpoint=?": ("a",),
        "DELETE FROM owned WHERE endpoint=?": ("a",),
        "SELECT 1 FROM owned WHERE kind=? AND name=? LIMIT 1": ("netns", "a"),
        "SELECT name, ipv4, ipv6 FROM endpoints WHERE network=? AND state IN ('ready', 'removing')"
        " ORDER BY name": ("n",),
    }
    for sql, args in queries.items():
        plan = " / ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "USING" in plan and "SCAN" not in plan.replace("USING", ""), (sql, plan)
    s.close()


def test_an_older_store_gets_the_indexes_and_keeps_its_rows(tmp_path):
    s = Store(tmp_path)
    s.add_network(NetworkSpec(name="n", subnets=(Subnet("10.0.0.0/24", "10.0.0.1"),),
                              network_id="1" * 64), state="ready")
    s.reserve_endpoint(Endpoint("a", "n", netns="a"), lambda used: ("10.0.0.2", None))
    for index in ("endpoints_by_network", "allocations_by_endpoint", "owned_by_endpoint"):
        s._db.execute(f"DROP INDEX {index}")
    s.close()
    s = Store(tmp_path)
    names = {r[0] for r in s._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"endpoints_by_network", "allocations_by_endpoint", "owned_by_endpoint"} <= names
    assert s.used_addresses("n") == {"10.0.0.2"} and s.endpoint("a").ipv4 == "10.0.0.2"
    s.close()


def _ready_store(tmp_path) -> Store:
    s = Store(tmp_path)
    s.add_network(NetworkSpec(name="n", subnets=(Subnet("10.0.0.0/24", "10.0.0.1"),),
                              network_id="1" * 64), state="ready")
    return s


def test_reserve_takes_the_planned_addresses_without_picking_when_still_free(tmp_path):
    s = _ready_store(tmp_path)

    def never(used):
        raise AssertionError("pick called although the planned address was free")

    ep = s.reserve_endpoint(Endpoint("a", "n", netns="a"), never, prefer=("10.0.0.7", None))
    assert ep.ipv4 == "10.0.0.7" and s.used_addresses("n") == {"10.0.0.7"}
    s.close()


def test_reserve_picks_again_when_a_planned_address_was_taken_meanwhile(tmp_path):
    s = _ready_store(tmp_path)
    s.reserve_endpoint(Endpoint("a", "n", netns="a"), lambda used: ("10.0.0.2", None))
    seen = []

    def pick(used):
        seen.append(set(used))
        return "10.0.0.3", None

    ep = s.reserve_endpoint(Endpoint("b", "n", netns="b"), pick, prefer=("10.0.0.2", None))
    assert ep.ipv4 == "10.0.0.3" and seen == [{"10.0.0.2"}]
    s.close()


def test_owns_and_owned_link_are_lookups_of_the_same_rows(tmp_path):
    s = _ready_store(tmp_path)
    s.own("netns", "a", "n", endpoint="a")
    s.own("link", "eth0", "n", netns="a", endpoint="a", ifindex=5)
    assert s.owns("netns", "a") and not s.owns("netns", "b") and not s.owns("link", "a")
    assert s.owned_link("eth0", "a") == {"kind": "link", "name": "eth0", "netns": "a", "network": "n",
                                         "endpoint": "a", "ifindex": 5}
    assert s.owned_link("eth0") is None
    s.close()


def test_then_runs_inside_the_transaction_and_its_failure_changes_nothing(tmp_path):
    s = _ready_store(tmp_path)
    s.reserve_endpoint(Endpoint("a", "n", netns="a"), lambda used: ("10.0.0.2", None))
    seen = []
    s.set_endpoint_state("a", "ready", then=lambda: seen.append(s.hosts_entries("n")))
    assert seen == [[("a", "10.0.0.2", None)]]

    def boom():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        s.delete_endpoint("a", then=boom)
    assert s.endpoint("a") is not None and s.used_addresses("n") == {"10.0.0.2"}
    s.close()


# ------------------------------------------------------------------ controller
@pytest.fixture
def ctl(tmp_path):
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc", root=True)
    c.create_network(NetworkRequest(name="l2", subnets=("192.168.1.0/24",), options=("parent=eth0",)))
    yield c
    c.store.close()


def resolved(ctl, name: str) -> list[str]:
    return live_lines((ctl.hosts_root / name / "hosts").read_text())


def test_a_run_rolled_back_at_its_last_step_leaves_peers_files_as_they_were(ctl, monkeypatch):
    ctl.run_endpoint(EndpointRequest("a", "l2"))
    before = resolved(ctl, "a")
    monkeypatch.setenv(FAIL_AT_ENV, "run b:6")  # "mark endpoint b ready", where b joins the file
    with pytest.raises(PlanFailed):
        ctl.run_endpoint(EndpointRequest("b", "l2"))
    monkeypatch.delenv(FAIL_AT_ENV)
    assert resolved(ctl, "a") == before
    assert not (ctl.hosts_root / "b").exists() and ctl.store.endpoint("b") is None


def test_a_hosts_file_that_cannot_be_edited_rolls_the_run_back(ctl, monkeypatch):
    ctl.run_endpoint(EndpointRequest("a", "l2"))

    def broken(*args, **kw):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(hostsfile, "add", broken)
    with pytest.raises(PlanFailed):
        ctl.run_endpoint(EndpointRequest("b", "l2"))
    assert ctl.store.endpoint("b") is None and not ctl.kernel.netns_exists("b")
    assert not (ctl.hosts_root / "b").exists()
    assert resolved(ctl, "a") == expected([("a", "192.168.1.2", None)])


def test_a_commit_that_fails_after_the_edit_leaves_no_line_behind(ctl, monkeypatch):
    ctl.run_endpoint(EndpointRequest("a", "l2"))
    real = ctl.store.set_endpoint_state

    def commit_fails(name, state, then=None):
        if state == "ready" and then is not None:
            then()  # the file was edited ...
            raise sqlite3.OperationalError("disk I/O error")  # ... the commit failed
        return real(name, state, then)

    monkeypatch.setattr(ctl.store, "set_endpoint_state", commit_fails)
    with pytest.raises(PlanFailed):
        ctl.run_endpoint(EndpointRequest("b", "l2"))
    assert resolved(ctl, "a") == expected([("a", "192.168.1.2", None)])
    assert ctl.store.endpoint("b") is None


def test_restore_rewrites_a_hosts_file_out_of_step_and_relinks(ctl):
    for name in ("a", "b", "c"):
        ctl.run_endpoint(EndpointRequest(name, "l2"))
    shared = hostsfile.network_file(ctl._hosts_dir, "l2")
    shared.write_text("# a crash between a store change and its edit\n10.9.9.9\tghost\n")
    os.unlink(ctl.hosts_root / "b" / "hosts")
    ctl.restore()
    want = expected([("a", "192.168.1.2", None), ("b", "192.168.1.3", None), ("c", "192.168.1.4", None)])
    assert resolved(ctl, "a") == resolved(ctl, "b") == want
    # and gone entirely: rebuilt from the store on the next join
    shared.unlink()
    ctl.restore()
    assert resolved(ctl, "c") == want


def test_names_resolve_after_churn_in_any_order(ctl):
    rng = random.Random(3)
    names = [f"e{i}" for i in range(40)]
    up: set[str] = set()
    for _ in range(150):
        name = rng.choice(names)
        if name in up:
            ctl.remove_endpoint(name)
            up.discard(name)
            assert not (ctl.hosts_root / name).exists()
        else:
            ctl.run_endpoint(EndpointRequest(name, "l2"))
            up.add(name)
        want = expected((e.name, e.ipv4, e.ipv6) for e, _ in ctl.store.endpoints("l2"))
        for other in up:
            assert resolved(ctl, other) == want


def _worker(args):
    """Returns the names still up, or the error as text (an exception that does not
    unpickle would hang the pool instead of failing the test)."""
    state, etc, worker, rounds = args
    try:
        c = Controller(FakeKernel.demo(), Store(state), hosts_root=Path(etc), root=True)
        rng = random.Random(worker)
        mine: list[str] = []
        for i in range(rounds):
            if mine and rng.random() < 0.4:
                c.remove_endpoint(mine.pop(rng.randrange(len(mine))))
            else:
                name = f"w{worker}e{i}"
                c.run_endpoint(EndpointRequest(name, "l2"))
                mine.append(name)
        c.store.close()
        return mine
    except Exception as exc:  # noqa: BLE001 - reported by the test
        return f"worker {worker}: {type(exc).__name__}: {exc}"


def test_processes_joining_and_leaving_at_once_leave_a_file_that_matches_the_store(tmp_path):
    state, etc = tmp_path / "state", tmp_path / "etc"
    c = Controller(FakeKernel.demo(), Store(state), hosts_root=etc, root=True)
    c.create_network(NetworkRequest(name="l2", subnets=("192.168.0.0/22",), options=("parent=eth0",)))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        left = pool.map(_worker, [(str(state), str(etc), w, 40) for w in range(3)])
    assert not [part for part in left if isinstance(part, str)], left
    names = sorted(n for part in left for n in part)
    assert sorted(e.name for e, _ in c.store.endpoints("l2")) == names
    want = expected((e.name, e.ipv4, e.ipv6) for e, _ in c.store.endpoints("l2"))
    for name in names:
        assert live_lines((etc / name / "hosts").read_text()) == want
    c.store.close()
