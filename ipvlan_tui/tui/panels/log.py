"""The log pane: every action the controller ran, its commands and outcome; copyable."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static


def outcome_text(outcome: str) -> Text:
    if outcome == "ok":
        return Text("✓ ok", style="green")
    if outcome == "dry-run":
        return Text("◌ dry-run", style="dim")
    return Text(f"✗ {outcome}", style="red")


def entry_text(entry) -> str:
    """The copyable form: a shell snippet with the action and outcome as comments."""
    lines = [f"# {entry.action}: {entry.outcome}"]
    lines += [c for c in entry.commands]
    return "\n".join(lines)


class LogPane(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: list = []

    def compose(self) -> ComposeResult:
        table = DataTable(cursor_type="row", zebra_stripes=True, id="log-table")
        table.ALLOW_MAXIMIZE = True
        yield table
        yield Static(Text("No actions yet. Everything this console changes is listed here "
                          "with its equivalent commands.", style="dim italic"),
                     id="log-detail")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Time", "Action", "Outcome", "Steps")

    def show(self, entries) -> None:
        entries = list(entries)
        if len(entries) == len(self.entries) and entries == self.entries:
            return
        table = self.query_one(DataTable)
        at_end = table.cursor_row >= len(self.entries) - 1
        self.entries = entries
        table.clear()
        table.add_rows([
            (time.strftime("%H:%M:%S", time.localtime(e.when)), Text(e.action, style="bold"),
             outcome_text(e.outcome), str(len(e.commands))) for e in entries])
        if entries and at_end:
            table.move_cursor(row=len(entries) - 1, animate=False)
        self._show_detail()

    def current(self):
        table = self.query_one(DataTable)
        if not self.entries or not (0 <= table.cursor_row < len(self.entries)):
            return None
        return self.entries[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def _show_detail(self) -> None:
        entry = self.current()
        if entry is None:
            return
        text = Text()
        text.append(f"{entry.action}  ", style="bold")
        text.append_text(outcome_text(entry.outcome))
        text.append("\n")
        for cmd in entry.commands:
            if cmd.startswith("#"):
                text.append(f"  {cmd}\n", style="dim italic")
            else:
                text.append(f"  $ {cmd}\n", style="#aad94c")
        text.append("\nc copies these commands", style="dim")
        self.query_one("#log-detail", Static).update(text)
