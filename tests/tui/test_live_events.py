"""Kernel events reach the panels as targeted updates (issue 7): the rows they touch
are added, removed or rewritten in place, and after any sequence of them the
tables hold what a full refill of the same widgets shows (rows, their order,
every cell, column widths, the objects behind the rows)."""

from __future__ import annotations

import random

import pytest

from ipvlan_tui.tui.panels.tables import Panel, ResourceTable
from ipvlan_tui.tui.rows import PANELS, build_rows
from tests.livechanges import random_kernel_change

from .conftest import SIZE, app_for, loaded, until


def snapshot(app) -> dict:
    out = {}
    for panel in PANELS:
        t = app.query_one(f"#table-{panel}", ResourceTable)
        keys = [row.key.value for row in t.ordered_rows]
        out[panel] = {
            "keys": keys,
            "items": [r.key for r in t.items],
            "objs": [r.obj for r in t.items],
            "cells": [tuple(t.get_row(k)) for k in keys],
            "widths": [c.content_width for c in t.ordered_columns],
            "subtitle": app.query_one(f"#panel-{panel}", Panel).border_subtitle,
        }
    return out


def textual_widths(app, t: ResourceTable) -> list[int]:
    """Column widths as DataTable measures cells (not the panel's shortcut)."""
    from textual.widgets._data_table import default_cell_formatter, measure

    console = app.console
    out = []
    for column in t.ordered_columns:
        cells = [t.get_cell(row.key, column.key) for row in t.ordered_rows]
        out.append(max([measure(console, column.label, 1)]
                       + [measure(console, default_cell_formatter(c, wrap=False, height=1), 1)
                          for c in cells]))
    return out


def settled(app) -> bool:
    return (not app._refreshing and app._coalesce_timer is None and not app._event_posted.is_set()
            and not app._ev_batch and not app._events_waiting
            and app.topology == app.controller.topology())


async def refill(app, pilot) -> dict:
    """What a full refresh of the same widgets shows: every panel cleared and refilled
    from a fresh read."""
    rows, _ = build_rows(app.controller.topology())
    for panel in app.query(Panel):
        panel.show(rows[panel.panel], app.query_text)
    await pilot.pause()
    await pilot.pause()
    return snapshot(app)


@pytest.mark.parametrize("seed,query", [(1, ""), (2, ""), (3, "eth")])
async def test_random_events_end_as_a_full_refresh_shows(make_ctl, seed, query):
    ctl = make_ctl()
    rng = random.Random(seed)
    app = app_for(ctl, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: app.events_in == 0 or settled(app), what="a quiet start")
        if query:
            app.query_one("#filter").value = query
            await pilot.pause()
        full0 = app.live.full_reads
        for step in range(25):
            for i in range(rng.choice((1, 1, 2, 3))):
                random_kernel_change(rng, ctl, step * 10 + i)
            await until(pilot, lambda: settled(app), what=f"step {step} shown")
            await pilot.pause()
            if step % 8 == 7 or step == 24:
                live = snapshot(app)
                for panel in PANELS:
                    t = app.query_one(f"#table-{panel}", ResourceTable)
                    assert live[panel]["widths"] == textual_widths(app, t), (panel, step)
                assert live == await refill(app, pilot), f"seed {seed} step {step}"
        print(f"{app.patches_applied} targeted updates, {app.live.full_reads - full0} full reads "
              f"({app.fallbacks})")
        assert app.patches_applied >= 15  # the events were applied in place, not re-read
        assert app.live.full_reads - full0 <= 6


async def test_one_link_added_is_one_row_in_place(ctl):
    app = app_for(ctl, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: settled(app), what="a quiet start")
        table = app.query_one("#table-links", ResourceTable)
        table.focus()
        assert table.select_key("link:eth1")
        reads, patches = app.live.full_reads, app.patches_applied
        ctl.kernel.create_dummy("aaa0")  # a new ifindex: its row goes last
        await until(pilot, lambda: "link:aaa0" in [r.key for r in table.items], what="the new row")
        await pilot.pause()
        assert app.live.full_reads == reads and app.patches_applied == patches + 1
        assert [r.key.value for r in table.ordered_rows][-1] == "link:aaa0"
        assert table.current().key == "link:eth1"  # the cursor stays on its row
        assert app.live.patches == 1
        # The VLAN panel and eth0's VLAN count follow a VLAN made by hand.
        ctl.kernel.create_vlan("eth0", 77, "eth0.77")
        vlans = app.query_one("#table-vlans", ResourceTable)
        await until(pilot, lambda: "vlan:eth0.77" in [r.key for r in vlans.items], what="the VLAN row")
        await pilot.pause()
        eth0 = next(r for r in table.items if r.key == "link:eth0")
        assert eth0.cells[6].plain == "3"  # foo, eth0.10 and this one
        assert app.live.full_reads == reads
        assert snapshot(app) == await refill(app, pilot)


async def test_the_widest_row_going_narrows_its_column_as_a_refill_does(ctl):
    app = app_for(ctl, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: settled(app), what="a quiet start")
        table = app.query_one("#table-links", ResourceTable)
        addresses = table.ordered_columns[5]
        narrow = addresses.content_width
        ctl.kernel.create_dummy("wide0")
        ctl.kernel.add_address("wide0", "2001:db8:1234:5678:9abc:def0:1234:5678/128")
        await until(pilot, lambda: settled(app) and any(r.key == "link:wide0" and r.obj.addresses
                                                        for r in table.items), what="the wide row")
        await pilot.pause()
        assert addresses.content_width == len("2001:db8:1234:5678:9abc:def0:1234:5678/128") > narrow
        ctl.kernel.delete_link("wide0")
        await until(pilot, lambda: settled(app) and "link:wide0" not in [r.key for r in table.items],
                    what="the wide row gone")
        await pilot.pause()
        assert addresses.content_width == narrow
        assert app.live.full_reads == 1 and app.patches_applied >= 2
        assert snapshot(app) == await refill(app, pilot)
