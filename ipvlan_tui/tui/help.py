"""`?`: what each key does and what each panel shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS = [
    ("1 2 3 4", "jump to Parent links, VLANs, Networks, Endpoints"),
    ("5 6 7 8", "jump to Detail, Topology, Ping, Log"),
    ("n", "new network (the wizard)"),
    ("a", "attach an endpoint to a network"),
    ("M", "apply a map file: its diff and plan first, then the progress"),
    ("d", "delete the selected network or endpoint (asks first, lists every step)"),
    ("x", "detach (delete) the selected endpoint"),
    ("p", "ping from the selected endpoint (matrix: m in the ping pane)"),
    ("t", "live topology tree"),
    ("l", "log of every action, with its commands"),
    ("c", "copy the commands of the selected row or log entry"),
    ("/", "filter every panel (Esc clears)"),
    ("r", "refresh now"),
    ("z", "zoom the focused panel (Esc or z again to restore)"),
    ("[ ]", "narrow / widen the left column"),
    ("ctrl+p", "command palette: every action"),
    ("q", "quit"),
]


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold #ffb454", no_wrap=True)
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="dialog"):
            yield Label("ipvlan-tui: keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(help_table())
                yield Static(Text(
                    "\nModes: L2 (one broadcast domain, default route via the gateway), "
                    "L3 (the parent routes, no broadcast, gateway ignored), L3S (L3 through "
                    "netfilter). Flags: bridge (ports talk), private (ports isolated), vepa "
                    "(port traffic hairpins via an outside switch).\n\nEndpoints cannot "
                    "reach their parent's own addresses: that is the kernel's ipvlan design, "
                    "and the ping pane says so. The mouse works everywhere: click rows, tabs, "
                    "buttons and the keys in the footer.", style="#8a9199"))

    def action_close(self) -> None:
        self.dismiss(None)

    def on_click(self, event) -> None:
        if event.widget is self:
            self.dismiss(None)
