"""The four resource panels: one DataTable each, filled in bulk with add_rows."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static
from textual._two_way_dict import TwoWayDict
from textual.widgets._data_table import Row as _TableRow
from textual.widgets._data_table import RowKey, default_cell_formatter, measure

from ipvlan_tui.tui.rows import COLUMNS, EMPTY, TITLES, Row, filter_rows


_FILL_NEEDS = ("_data", "_row_locations", "rows", "_update_count", "_new_rows", "_highlight_cursor")


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
        console = self.app.console
        columns = self.ordered_columns
        # clear() keeps the old widths: start afresh from the labels.
        widths = [measure(console, column.label, 1) for column in columns]
        self.items = rows
        self._keyed = True
        if not self._fill(rows):
            add = self.add_row
            seen: set[str] = set()
            for r in rows:
                if r.key in seen:  # two rows, one key (same-named Docker objects on two hosts)
                    self._keyed = False
                    add(*r.cells)
                else:
                    seen.add(r.key)
                    add(*r.cells, key=r.key)
        width = self._width
        for r in rows:
            for i, cell in enumerate(r.cells):
                w = width(cell)
                if w > widths[i]:
                    widths[i] = w
        for column, w in zip(columns, widths):
            column.content_width = w
        # Measured here, the way DataTable would on idle (it renders each row's cells
        # first: 3,000 rows cost it a second of CPU); what is left for it is the size.
        self._new_rows.clear()
        self._require_update_dimensions = True
        if keep_key is not None:
            self._cursor_to(keep_key)

    def _fill(self, rows: list[Row]) -> bool:
        """add_row for every row of an empty table in one pass (add_row sorts the columns
        twice, re-validates the cursor and invalidates the row offsets per row: half the
        cost of a first screen of 3,000 rows). False when this DataTable does not keep
        its rows the way this expects (another Textual): the caller uses add_row."""
        if self.row_count or not all(hasattr(self, a) for a in _FILL_NEEDS):
            return False
        columns = [c.key for c in self.ordered_columns]
        n = len(columns)
        data, where, meta = self._data, self._row_locations, self.rows
        seen: set[str] = set()
        for i, r in enumerate(rows):
            cells = r.cells
            if len(cells) > n:
                raise ValueError("More values provided than there are columns.")
            if r.key in seen:  # two rows, one key (same-named Docker objects on two hosts)
                self._keyed = False
                key = RowKey(None)
            else:
                seen.add(r.key)
                key = RowKey(r.key)
            where[key] = i
            data[key] = dict(zip(columns, cells)) if len(cells) == n else {
                c: (cells[j] if j < len(cells) else None) for j, c in enumerate(columns)}
            meta[key] = _TableRow(key, 1, None, False)
        self._update_count += 1
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if rows and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()  # as add_row does for a table's first row
        self.check_idle()
        return True

    def _cursor_to(self, key: str) -> None:
        for i, row in enumerate(self.items):
            if row.key == key:
                if i != self.cursor_row:
                    self.move_cursor(row=i, animate=False)
                break

    _keyed = True
    PATCH_MAX = 64  # more changed rows than this: clear and refill instead

    def patch(self, rows: list[Row], changed: set[str]) -> None:
        """Show `rows` (what show(rows) would show) when only the rows whose keys are in
        `changed` differ from the rows shown now: those are removed, added (in their
        place) or updated cell by cell; the other rows, the scroll position and the
        cursor's row stay. Column widths end as a full refill would make them."""
        old = {r.key: r for r in self.items}
        if (not self._keyed or len(changed) > self.PATCH_MAX or len(old) != len(self.items)
                or [r.key for r in rows if r.key not in changed]
                != [r.key for r in self.items if r.key not in changed]):
            self.show(rows)  # not just those rows: refill
            return
        keep = self.current()
        keep_key = keep.key if keep else None
        new = {r.key: r for r in rows if r.key in changed}
        columns = self.ordered_columns
        remeasure: set[int] = set()  # columns whose widest cell may have gone
        for key in changed:
            before, after = old.get(key), new.get(key)
            if before is None and after is None:
                continue
            if before is not None and after is None:
                for i, cell in enumerate(before.cells):
                    if self._width(cell) >= columns[i].content_width:
                        remeasure.add(i)
                self.remove_row(key)
            elif before is None:
                self.add_row(*after.cells, key=key)  # measured on idle; placed below
            elif after.cells != before.cells:
                for i, (a, b) in enumerate(zip(after.cells, before.cells)):
                    if a == b:
                        continue
                    self.update_cell(key, columns[i].key, a)
                    wide, was = self._width(a), self._width(b)
                    if wide > columns[i].content_width:
                        columns[i].content_width = wide
                        self._require_update_dimensions = True
                    elif was >= columns[i].content_width and wide < was:
                        remeasure.add(i)
        self.items = rows
        where = self._row_locations.get
        if any(where(RowKey(r.key)) != i for i, r in enumerate(rows)):
            # add_row appends: put the rows in the full build's order (as DataTable.sort does)
            self._row_locations = TwoWayDict({RowKey(r.key): i for i, r in enumerate(rows)})
            self._update_count += 1
            self.refresh()
        for i in remeasure:
            column = columns[i]
            label = measure(self.app.console, column.label, 1)
            column.content_width = max([label, *(self._width(r.cells[i]) for r in rows)])
            self._require_update_dimensions = True
        if remeasure:
            self.refresh()
        if keep_key is not None:
            self._cursor_to(keep_key)

    def _width(self, cell) -> int:
        """What DataTable measures for a cell (one-line rows): for Text, the widest line of
        its plain text (Text.__rich_measure__'s maximum), without the Rich machinery."""
        if type(cell) is Text:
            plain = cell.plain
            if "\n" not in plain:
                return cell_len(plain)
            return max((cell_len(line) for line in plain.splitlines()), default=0)
        if type(cell) is str and "[" not in cell and "\n" not in cell:
            return cell_len(cell)  # no markup: Text.from_markup(cell) is the same text
        return measure(self.app.console, default_cell_formatter(cell, wrap=False, height=1), 1)

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
        self._decorate(rows, shown, query)

    def _decorate(self, rows: list[Row], shown: list[Row], query: str) -> None:
        empty = self.query_one(".empty", Static)
        if not shown:
            empty.update(f"Nothing matches “{query}”." if rows else EMPTY[self.panel])
        self.set_class(not shown, "is-empty")
        self.border_subtitle = (f"{len(shown)} of {len(rows)}" if query else str(len(rows)))

    def patch(self, rows: list[Row], changed: set[str]) -> None:
        """show(rows) when only the rows whose keys are in `changed` differ (in place)."""
        if not changed or self.query_text is None:
            if self.query_text is None:
                self.show(rows)
            else:
                self.all_rows = rows
            return
        query = self.query_text
        self.all_rows = rows
        shown = filter_rows(rows, query)
        self.table.patch(shown, changed)
        self._decorate(rows, shown, query)
