"""Confirmation before anything is removed: exactly the plan's steps, with commands."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


def plan_text(steps, statuses: dict[int, str] | None = None) -> Text:
    """Numbered steps, each with its equivalent command (and a status mark when running)."""
    marks = {"start": ("▶", "yellow"), "done": ("✓", "green"), "failed": ("✗", "bold red"),
             "undone": ("↺", "magenta"), "undo_failed": ("!", "bold red")}
    text = Text()
    for i, step in enumerate(steps):
        mark, style = marks.get((statuses or {}).get(i, ""), ("•", "dim"))
        text.append(f" {mark} ", style=style)
        text.append(f"{i + 1}. {step.description}\n")
        if step.command:
            style = "dim italic" if step.command.startswith("#") else "#aad94c"
            text.append(f"      {'' if step.command.startswith('#') else '$ '}{step.command}\n",
                        style=style)
    if not steps:
        text.append("  (nothing to do)\n", style="dim")
    return text


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no with the list of what will happen. Returns True to go ahead."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, steps, *, note: str = "", confirm_label: str = "Delete") -> None:
        super().__init__()
        self.title_text = title
        self.steps = list(steps)
        self.note = note
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static("This will:", classes="muted")
            with VerticalScroll(classes="plan-box"):
                yield Static(plan_text(self.steps), id="confirm-plan")
            if self.note:
                yield Static(self.note, classes="warn-line")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
