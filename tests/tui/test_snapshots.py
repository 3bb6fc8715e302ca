"""Snapshot tests: the main screens as SVG, compared with tests/tui/snapshots/*.svg.

Regenerate after an intended change of the look:

    IPVLAN_TUI_UPDATE_SNAPSHOTS=1 python -m pytest tests/tui/test_snapshots.py

The stored SVGs were made with the Textual version in snapshots/TEXTUAL_VERSION;
another version renders differently, so the comparison is skipped then.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import textual
from textual.widgets import Footer, Input

from ipvlan_tui.tui.ping import PingPane
from ipvlan_tui.tui.wizard import NetworkWizard

from .conftest import app_for, loaded, until

HERE = Path(__file__).parent / "snapshots"
SNAP_SIZE = (140, 40)
UPDATE = os.environ.get("IPVLAN_TUI_UPDATE_SNAPSHOTS") == "1"


async def check(pilot, name: str, tmp_path: Path) -> None:
    app = pilot.app
    for inp in app.screen.query(Input):
        inp.cursor_blink = False  # a stable cursor
    # The footer recomposes when bindings change: wait until it shows them.
    footer = app.screen_stack[0].query_one(Footer)
    await until(pilot, lambda: len(footer.children) > 3 and all(
        c.region.width for c in footer.children), what="footer")
    await pilot.pause(0.1)
    svg = app.export_screenshot(title=f"ipvlan-tui {name}")
    path = HERE / f"{name}.svg"
    version_file = HERE / "TEXTUAL_VERSION"
    if UPDATE:
        HERE.mkdir(exist_ok=True)
        path.write_text(svg)
        version_file.write_text(textual.__version__ + "\n")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}; make it with IPVLAN_TUI_UPDATE_SNAPSHOTS=1")
    stored = version_file.read_text().strip() if version_file.exists() else ""
    if stored != textual.__version__:
        pytest.skip(f"snapshots made with Textual {stored}, this is {textual.__version__}")
    if svg != path.read_text():
        actual = tmp_path / f"{name}.actual.svg"
        actual.write_text(svg)
        pytest.fail(f"{name} differs from {path}; see {actual} "
                    "(regenerate with IPVLAN_TUI_UPDATE_SNAPSHOTS=1 if intended)")


async def test_snapshot_main_and_topology(ctl, tmp_path):
    app = app_for(ctl)
    async with app.run_test(size=SNAP_SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        await pilot.pause(0.1)
        await check(pilot, "main", tmp_path)
        await pilot.press("t")
        await pilot.pause(0.2)
        await check(pilot, "topology", tmp_path)


async def test_snapshot_wizard_error(ctl, tmp_path):
    app = app_for(ctl)
    async with app.run_test(size=SNAP_SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NetworkWizard), what="wizard")
        wiz = app.screen
        for ch in "db_net":
            await pilot.press(ch)
        await until(pilot, lambda: wiz.query_one("#err-name").display, what="the name error")
        await pilot.pause(0.1)
        await check(pilot, "wizard-name-error", tmp_path)


async def test_snapshot_ping_matrix(ctl, tmp_path):
    app = app_for(ctl)
    async with app.run_test(size=SNAP_SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("7")
        pane = app.query_one(PingPane)
        pane.start_matrix()
        await until(pilot, lambda: pane.query_one("#matrix-verdicts").row_count == 20,
                    what="the matrix")
        await pilot.press("2")  # focus away from the pane's widgets: no cursor in the shot
        await pilot.press("7")
        await pilot.pause(0.2)
        app.query_one("#table-vlans").focus()
        await pilot.pause(0.1)
        await check(pilot, "ping-matrix", tmp_path)


async def test_snapshot_read_only(make_ctl, tmp_path):
    app = app_for(make_ctl(root=False))
    async with app.run_test(size=SNAP_SIZE) as pilot:
        await loaded(pilot)
        await pilot.pause(0.1)
        await check(pilot, "read-only", tmp_path)
