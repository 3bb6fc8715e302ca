"""Plans: order, rollback in reverse, undo failures, progress, fault injection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ipvlan_tui.errors import EngineError, PlanFailed
from ipvlan_tui.plan import FAIL_AT_ENV, KILL_AT_ENV, Plan, Step


@pytest.fixture(autouse=True)
def _no_hooks(monkeypatch):
    monkeypatch.delenv(FAIL_AT_ENV, raising=False)
    monkeypatch.delenv(KILL_AT_ENV, raising=False)


def make(log: list[str], n: int, fail: int | None = None, bad_undo: set[int] = frozenset(),
         no_undo: set[int] = frozenset(), title: str = "network create db_net") -> Plan:
    def do(i):
        def run():
            if i == fail:
                raise EngineError(f"boom {i}", errno=17)
            log.append(f"do{i}")
        return run

    def undo(i):
        def run():
            if i in bad_undo:
                raise EngineError(f"undo boom {i}")
            log.append(f"undo{i}")
        return run

    return Plan(title, [Step(f"step {i}", f"ip link cmd{i}", do(i), None if i in no_undo else undo(i),
                             f"ip link undo{i}") for i in range(n)])


def test_runs_in_order():
    log: list[str] = []
    make(log, 4).execute()
    assert log == ["do0", "do1", "do2", "do3"]


def test_rollback_in_reverse_and_plan_failed_fields():
    log: list[str] = []
    with pytest.raises(PlanFailed) as exc:
        make(log, 5, fail=3).execute()
    assert log == ["do0", "do1", "do2", "undo2", "undo1", "undo0"]
    err = exc.value
    assert err.step_index == 3 and err.step_description == "step 3"
    assert isinstance(err.cause, EngineError) and err.cause.errno == 17
    assert err.rolled_back == ["step 2", "step 1", "step 0"]
    assert err.undo_failures == []
    assert "step 4 (step 3) failed: boom 3" in str(err)


def test_failing_first_step_rolls_back_nothing():
    log: list[str] = []
    with pytest.raises(PlanFailed) as exc:
        make(log, 3, fail=0).execute()
    assert log == [] and exc.value.rolled_back == []


def test_undo_failure_is_collected_and_rollback_goes_on():
    log: list[str] = []
    with pytest.raises(PlanFailed) as exc:
        make(log, 4, fail=3, bad_undo={1}).execute()
    assert log == ["do0", "do1", "do2", "undo2", "undo0"]
    err = exc.value
    assert str(err.cause) == "boom 3"  # the original error wins
    assert err.rolled_back == ["step 2", "step 0"]
    assert len(err.undo_failures) == 1
    assert "step 1: undo boom 1" in err.undo_failures[0] and "ip link undo1" in err.undo_failures[0]
    assert "could NOT undo" in str(err)


def test_steps_without_undo_are_skipped_in_rollback():
    log: list[str] = []
    with pytest.raises(PlanFailed) as exc:
        make(log, 3, fail=2, no_undo={0}).execute()
    assert log == ["do0", "do1", "undo1"]
    assert exc.value.rolled_back == ["step 1"]


def test_progress_events():
    log: list[str] = []
    events: list[tuple[int, str]] = []
    with pytest.raises(PlanFailed):
        make(log, 3, fail=2, bad_undo={0}).execute(lambda i, step, ev: events.append((i, ev)))
    assert events == [(0, "start"), (0, "done"), (1, "start"), (1, "done"), (2, "start"), (2, "failed"),
                      (1, "undone"), (0, "undo_failed")]


def test_broken_progress_callback_does_not_break_the_plan():
    log: list[str] = []

    def bad(i, step, ev):
        raise RuntimeError("display broke")

    make(log, 2).execute(bad)
    assert log == ["do0", "do1"]


def test_render_numbers_steps_with_commands():
    text = make([], 10).render()
    lines = text.splitlines()
    assert lines[0] == "network create db_net:"
    assert lines[1] == " 1. step 0"
    assert lines[2] == "    $ ip link cmd0"
    assert lines[-2] == "10. step 9"
    assert Plan("empty", []).render() == "empty:\n  (nothing to do)"


def test_fail_at_env_injects_fault_and_rolls_back(monkeypatch):
    monkeypatch.setenv(FAIL_AT_ENV, "db_net:3")
    log: list[str] = []
    with pytest.raises(PlanFailed) as exc:
        make(log, 4).execute()
    assert log == ["do0", "do1", "undo1", "undo0"]
    assert exc.value.step_index == 2
    assert isinstance(exc.value.cause, EngineError) and exc.value.cause.message == "injected fault"


def test_fail_at_env_only_matching_title(monkeypatch):
    monkeypatch.setenv(FAIL_AT_ENV, "other plan:1")
    log: list[str] = []
    make(log, 2).execute()
    assert log == ["do0", "do1"]


def test_fail_at_env_empty_substring_matches_all(monkeypatch):
    monkeypatch.setenv(FAIL_AT_ENV, ":1")
    with pytest.raises(PlanFailed):
        make([], 2, title="run ep1").execute()


@pytest.mark.parametrize("value", ["db_net", "db_net:x", "db_net:0", "db_net:-1"])
def test_fail_at_env_malformed_is_loud(monkeypatch, value):
    monkeypatch.setenv(FAIL_AT_ENV, value)
    with pytest.raises(ValueError, match=FAIL_AT_ENV):
        make([], 2).execute()


def test_kill_at_env_kills_right_after_step(tmp_path):
    marker = tmp_path / "log"
    code = textwrap.dedent(f"""
        from ipvlan_tui.plan import Plan, Step
        log = open({str(marker)!r}, "a", buffering=1)
        steps = [Step(f"s{{i}}", "true", (lambda i=i: log.write(f"do{{i}}\\n"))) for i in range(4)]
        Plan("network create crash", steps).execute()
        log.write("finished\\n")
    """)
    env = dict(os.environ, **{KILL_AT_ENV: "crash:2"})
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert marker.read_text().split() == ["do0", "do1"]
