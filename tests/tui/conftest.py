"""Fixtures for the console's Pilot tests: a demo controller made deterministic."""

from __future__ import annotations

import itertools
import time

import pytest

from ipvlan_tui import controller as controller_mod
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.store import Store
from ipvlan_tui.tui import actions
from ipvlan_tui.tui.app import IpvlanApp

SIZE = (160, 48)


@pytest.fixture
def make_ctl(tmp_path, monkeypatch):
    """make_ctl(root=True, populate=True, kernel=None) -> a Controller on the fake kernel."""
    counter = itertools.count(1)
    monkeypatch.setattr(controller_mod, "_new_id", lambda: f"{next(counter):064x}")
    made = itertools.count()

    def make(root: bool = True, populate: bool = True, kernel: FakeKernel | None = None):
        state = tmp_path / f"state{next(made)}"
        ctl = Controller(kernel or FakeKernel.demo(), Store(state), hosts_root=state / "etc",
                         root=True)
        if populate:
            actions.populate_demo(ctl)
        ctl.root = root
        return ctl

    return make


@pytest.fixture
def ctl(make_ctl):
    return make_ctl()


def app_for(ctl, **kwargs) -> IpvlanApp:
    kwargs.setdefault("watch", False)
    kwargs.setdefault("demo", True)
    return IpvlanApp(ctl, **kwargs)


async def until(pilot, cond, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def loaded(pilot) -> None:
    await until(pilot, lambda: pilot.app.topology is not None, what="the first topology")
    await pilot.pause(0.2)  # the footer recomposes once the permissions are known


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests here with asyncio.run (no pytest-asyncio needed)."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


def text_of(widget) -> str:
    """What a Static shows, as plain text (Rich renderables rendered wide)."""
    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=400, file=None)
    with console.capture() as cap:
        console.print(content)
    return cap.get()
