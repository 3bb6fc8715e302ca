"""The four resource panels: one DataTable each, filled in bulk with add_rows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ipvlan_tui.tui.rows import COLUMNS, EMPTY, TITLES, Row, filter_rows


class ResourceTable(DataTable):
    """Rows of one panel; `rows[i]` is the Row under table row i."""

    ALLOW_MAXIMIZE = True

    def __init__(self, panel: str, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.panel = panel
        self.items: list[Row] = []

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS[self.panel])

    def current(self) -> Row | None:
        if not self.items:
            return None
        i = self.cursor_row
        return self.items[i] if 0 <= i < len(self.items) else None

    def show(self, rows: list[Row]) -> None:
        """Replace every row at once, keeping the cursor on the same key."""
        keep = self.current()
        keep_key = keep.key if keep else None
        self.clear()
        self.items = rows
        if rows:
            self.add_rows([r.cells for r in rows])
        if keep_key is not None:
            for i, row in enumerate(rows):
                if row.key == keep_key:
                    self.move_cursor(row=i, animate=False)
                    break

    def select_key(self, key: str) -> bool:
        for i, row in enumerate(self.items):
            if row.key == key:
                self.move_cursor(row=i, animate=False)
                return True
        return False


class Panel(Vertical):
    """A bordered panel: digit + title on the border, the table, an empty-state line."""

    def __init__(self, panel: str, digit: int) -> None:
        super().__init__(id=f"panel-{panel}", classes="panel")
        self.panel = panel
        self.digit = digit
        self.all_rows: list[Row] = []
        self.query_text: str | None = None
        self.border_title = f"[{digit}] {TITLES[panel]}"

    def compose(self) -> ComposeResult:
        yield ResourceTable(self.panel, id=f"table-{self.panel}")
        yield Static(EMPTY[self.panel], classes="empty")

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    def show(self, rows: list[Row], query: str = "") -> None:
        self.all_rows = rows
        self.query_text = query
        shown = filter_rows(rows, query)
        self.table.show(shown)
        empty = self.query_one(".empty", Static)
        if not shown:
            empty.update(f"Nothing matches “{query}”." if rows else EMPTY[self.panel])
        self.set_class(not shown, "is-empty")
        self.border_subtitle = (f"{len(shown)} of {len(rows)}" if query else str(len(rows)))
