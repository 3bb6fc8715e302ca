"""The state dir and store: permissions, refusal of stores it must not touch, not root.

Not root is simulated (euid) on the real open_controller path with the
in-memory kernel standing in for the kernel engine: the store is opened
read-only, every change is refused with the reason, nothing on disk moves.
"""

from __future__ import annotations

import gc
import io
import os
import stat

import pytest

from ipvlan_tui import cli, controller
from ipvlan_tui.engines import kernel as kernel_mod
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import EngineError
from ipvlan_tui.model import NetworkSpec, Subnet
from ipvlan_tui.store import Store


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = cli.main(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def files(d):
    """The store's bytes and modes. sqlite may add empty -wal/-shm side files when it
    reads a WAL store; those carry no data. Leaked writers are closed first."""
    gc.collect()
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in sorted(d.iterdir())
            if p.is_file() and not p.name.endswith("-shm")
            and not (p.name.endswith("-wal") and p.stat().st_size == 0)}


def test_modes_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        s = Store(tmp_path / "a" / "state")
        s.add_network(NetworkSpec(name="n", subnets=(Subnet("10.0.0.0/24", "10.0.0.1"),),
                                  network_id="1" * 64))
        d = tmp_path / "a" / "state"
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        for p in d.iterdir():  # state.db and sqlite's -wal/-shm beside it
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        s.close()
    finally:
        os.umask(old)


@pytest.mark.parametrize("damage", ["newer", "corrupt", "foreign"])
def test_refused_store_through_the_cli_is_never_written(tmp_path, damage, monkeypatch):
    state = tmp_path / "state"
    s = Store(state)
    s.add_network(NetworkSpec(name="n", subnets=(Subnet("10.0.0.0/24", "10.0.0.1"),),
                              network_id="1" * 64), state="ready")
    if damage == "newer":
        s._db.execute("UPDATE meta SET value='7' WHERE key='schema'")
    s.close()
    if damage == "corrupt":
        (state / "state.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    elif damage == "foreign":
        import sqlite3
        (state / "state.db").unlink()
        db = sqlite3.connect(state / "state.db")
        db.execute("CREATE TABLE photos (x)")
        db.commit()
        db.close()
    before = files(state)
    monkeypatch.setattr(kernel_mod, "KernelEngine", FakeKernel.demo)
    for args in (["network", "ls"], ["network", "create", "--subnet=10.9.0.0/24", "m"],
                 ["restore"], ["network", "rm", "n"]):
        rc, out, err = run("--state-dir", str(state), *args)
        assert rc == 1, (args, out, err)
        assert "untouched" in err or "not touched" in err, err
        assert {"newer": "newer", "corrupt": "unreadable", "foreign": "not an ipvlan-tui store"}[
            damage] in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert files(state) == before


@pytest.fixture
def not_root(monkeypatch):
    monkeypatch.setattr(controller, "_is_root", lambda: False)
    fake = FakeKernel.demo()
    monkeypatch.setattr(kernel_mod, "KernelEngine", lambda: fake)
    return fake


def test_not_root_without_a_state_dir_creates_nothing(tmp_path, not_root):
    state = tmp_path / "state"
    rc, out, err = run("--state-dir", str(state), "network", "ls")
    assert rc == 0 and not state.exists()
    rc, out, err = run("--state-dir", str(state), "network", "create", "--subnet=10.9.0.0/24", "m")
    assert rc == 1 and "read-only" in err and "root" in err, err
    assert not state.exists() and not not_root.calls


def test_not_root_is_read_only_everywhere_with_the_reason(tmp_path, not_root, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setattr(controller, "_is_root", lambda: True)
    assert run("--state-dir", str(state), "network", "create", "--subnet=192.168.20.0/24",
               "-o", "parent=eth0.20", "n")[0] == 0
    assert run("--state-dir", str(state), "run", "--net=n", "--name=a")[0] == 0
    monkeypatch.setattr(controller, "_is_root", lambda: False)
    before, calls = files(state), list(not_root.calls)
    for args in (["network", "create", "--subnet=10.9.0.0/24", "m"], ["run", "--net=n", "--name=b"],
                 ["rm", "a"], ["network", "rm", "--force", "n"], ["restore"]):
        rc, out, err = run("--state-dir", str(state), *args)
        assert rc == 1, (args, out, err)
        assert "read-only" in err and "root" in err, (args, err)
        assert "Traceback" not in err
    # Reads still work, and say what is there.
    rc, out, err = run("--state-dir", str(state), "ps")
    assert rc == 0 and "a" in out
    assert run("--state-dir", str(state), "network", "create", "--dry-run",
               "--subnet=10.9.0.0/24", "m")[0] == 0
    assert files(state) == before and not_root.calls == calls
    ctl = controller.open_controller(str(state))
    assert ctl.capabilities().why_read_only.startswith("read-only: not root")
    with pytest.raises(EngineError, match="read-only"):
        ctl.store.set_network_state("n", "removing")
