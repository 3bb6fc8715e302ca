"""`ipvlan-tui --host X` (no command) opens the console on that daemon; two --host are refused."""

from __future__ import annotations

import io

from ipvlan_tui import cli
from ipvlan_tui.tui import app as appmod


def _run(monkeypatch, *argv):
    seen = {}

    def fake_run_app(state_dir=None, demo=False, hosts=None):
        seen.update(state_dir=state_dir, demo=demo, hosts=hosts)
        return 0

    monkeypatch.setattr(appmod, "run_app", fake_run_app)
    out, err = io.StringIO(), io.StringIO()
    return cli.main(list(argv), out, err), seen, err.getvalue()


def test_console_gets_the_one_host(monkeypatch):
    code, seen, _ = _run(monkeypatch, "--host", "tcp://10.99.0.2:2375")
    assert code == 0 and seen["hosts"] == ["tcp://10.99.0.2:2375"]
    code, seen, _ = _run(monkeypatch, "--demo")
    assert code == 0 and seen["hosts"] == [] and seen["demo"] is True


def test_console_refuses_two_hosts_and_starts_nothing(monkeypatch):
    code, seen, err = _run(monkeypatch, "--host", "unix:///a.sock", "--host", "unix:///b.sock")
    assert code == 2 and seen == {}
    assert "--host" in err and "the console shows one" in err and "pick one --host" in err


def test_console_unknown_context_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    code, seen, err = _run(monkeypatch, "--host", "no-such-context")
    assert code == 2 and seen == {}
    assert "no-such-context" in err and "neither a daemon URL nor a Docker context" in err
