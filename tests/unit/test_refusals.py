"""The kernel refuses midway (EBUSY, EEXIST, ENOSPC, ...) at every step of every plan.

IPVLAN_TUI_FAIL_AT="<plan>:<step>:<ERRNO>" (plan.py) makes step n fail with
that refusal. Each case must end with exit 1, ONE error line that names the
step and the refusal, and: a creation fully rolled back; a removal either
rolled back (failed before anything was deleted) or left marked `removing`,
which `restore` finishes. Nothing leaked either way.

Breadth on the in-memory kernel; tests/kernel/test_refusals_kernel.py runs
the same matrix on a real kernel in the lab.
"""

from __future__ import annotations

import os

import pytest

from ipvlan_tui.controller import Controller
from ipvlan_tui.errors import EngineError, PlanFailed
from ipvlan_tui.plan import FAIL_AT_ENV, Plan, Step
from tests.cli_harness import demo_controller, run_cli

ERRNOS = ("EBUSY", "EEXIST", "ENOSPC")
TEXT = {"EBUSY": "device or resource busy", "EEXIST": "file exists",
        "ENOSPC": "no space left on device"}
CASES = [  # (plan title, steps, setup commands, the command)
    ("network create", 3, [], ["network", "create", "--subnet=192.168.20.0/24", "-o",
                               "parent=eth0.20", "v20"]),
    ("run", 6, [["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20"],
                ["run", "--net=v20", "--name=keep"]], ["run", "--net=v20", "--name=victim"]),
    ("rm", 3, [["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20"],
               ["run", "--net=v20", "--name=victim"]], ["rm", "victim"]),
    ("network rm", 6, [["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20",
                        "v20"], ["run", "--net=v20", "--name=victim"]],
     ["network", "rm", "--force", "v20"]),
]
MATRIX = [(t, n, e, setup, cmd) for t, steps, setup, cmd in CASES
          for n in range(1, steps + 1) for e in ERRNOS]


@pytest.fixture
def ctl(tmp_path, monkeypatch):
    monkeypatch.delenv(FAIL_AT_ENV, raising=False)
    c = demo_controller(tmp_path, monkeypatch)
    yield c
    c.store.close()


run = run_cli


def world(c: Controller):
    inv = c.kernel.inventory()
    return (sorted((l.netns, l.name) for l in inv.links), inv.namespaces,
            [(s.name, st) for s, st in c.store.networks()],
            [(e.name, e.ipv4, st) for e, st in c.store.endpoints()], sorted(map(str, c.store.owned())))


def consistent(c: Controller) -> None:
    """Store and kernel agree and nothing leaked."""
    inv = c.kernel.inventory()
    eps = c.store.endpoints()
    assert all(st == "ready" for _, st in eps) and all(st == "ready" for _, st in c.store.networks())
    assert set(inv.namespaces) == {e.netns for e, _ in eps}
    for row in c.store.owned("link"):
        assert c.kernel.link_exists(row["name"], row["netns"]), row
    made = {l.name for l in inv.host_links() if l.name.startswith("eth0.")}
    assert made == {r["name"] for r in c.store.owned("link") if not r["netns"]}


@pytest.mark.parametrize("title,step,name,setup,cmd", MATRIX,
                         ids=[f"{t.replace(' ', '_')}-{n}-{e}" for t, n, e, _, _ in MATRIX])
def test_refusal_at_every_step(ctl, monkeypatch, title, step, name, setup, cmd):
    for args in setup:
        assert run(*args)[0] == 0
    before = world(ctl)
    monkeypatch.setenv(FAIL_AT_ENV, f"{title}:{step}:{name}")
    rc, out, err = run(*cmd)
    monkeypatch.delenv(FAIL_AT_ENV)
    assert rc == 1, (out, err)
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err  # one clear message
    assert f"step {step} (" in lines[0] and TEXT[name] in lines[0] and f"injected {name}" in lines[0]
    assert "Traceback" not in err
    if world(ctl) == before:
        return  # rolled back
    # Only a removal may stop half way: marked `removing`, said so, and restore finishes it.
    assert title in ("rm", "network rm"), (before, world(ctl))
    assert "stays marked removing" in lines[0] and "ipvlan-tui restore" in lines[0]
    assert run("restore")[0] == 0
    consistent(ctl)
    # The endpoint whose namespace went is gone; a network whose link is still there may
    # stay (rolled back, minus the endpoints already removed): each object whole or gone.
    assert "victim" not in str(world(ctl)[3])


def test_errno_names_are_checked(monkeypatch):
    for value in ("run:2:EFOO", "run:EBUSY", "run:0:EBUSY", "run:x:EBUSY"):
        monkeypatch.setenv(FAIL_AT_ENV, value)
        with pytest.raises(ValueError, match=FAIL_AT_ENV):
            Plan("run a", [Step("s", "true", do=lambda: None)]).execute()


def test_injected_errno_is_carried(monkeypatch):
    monkeypatch.setenv(FAIL_AT_ENV, "run:2:ENOSPC")
    undone = []
    plan = Plan("run a", [Step("one", "true", do=lambda: None, undo=lambda: undone.append(1)),
                          Step("two", "true", do=lambda: None)])
    with pytest.raises(PlanFailed) as info:
        plan.execute()
    cause = info.value.cause
    assert isinstance(cause, EngineError) and cause.errno == 28 and undone == [1]
    assert str(cause) == f"two failed: {os.strerror(28).lower()} (injected ENOSPC)"
