"""ResourceTable.show: appended/changed rows are applied in place, anything else rebuilds."""

from __future__ import annotations

from rich.text import Text
from textual.app import App

from ipvlan_tui.tui.panels.tables import ResourceTable
from ipvlan_tui.tui.rows import ENDPOINTS, Row


def row(name: str, state: str = "running") -> Row:
    return Row(f"endpoint:{name}", (Text(name), "netns", "net0", "10.0.0.2", "", state),
               (name, "netns", "net0", "10.0.0.2", state), None)


class One(App):
    def compose(self):
        yield ResourceTable(ENDPOINTS)


def cells(t: ResourceTable) -> list[list[str]]:
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


async def test_show_appends_and_updates_in_place_then_rebuilds():
    app = One()
    async with app.run_test() as pilot:
        t = app.query_one(ResourceTable)
        t.show([row("a"), row("b")])
        await pilot.pause()
        t.move_cursor(row=1, animate=False)
        cleared = []
        orig = t.clear
        t.clear = lambda *a, **k: (cleared.append(1), orig(*a, **k))[1]
        t.show([row("a"), row("b", "stopped"), row("c")])  # change + append: no clear
        await pilot.pause()
        assert not cleared
        assert cells(t) == [["a", "netns", "net0", "10.0.0.2", "", "running"],
                            ["b", "netns", "net0", "10.0.0.2", "", "stopped"],
                            ["c", "netns", "net0", "10.0.0.2", "", "running"]]
        assert t.current().key == "endpoint:b"
        t.show([row("a"), row("c")])  # a removal: full rebuild, cursor stays on the key
        await pilot.pause()
        assert cleared
        assert [r.key for r in t.items] == ["endpoint:a", "endpoint:c"]
        assert t.row_count == 2
        assert row("x").haystack == "x netns net0 10.0.0.2 running"
