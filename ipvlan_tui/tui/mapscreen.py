"""Apply a map file: the diff and the plan first, then per-step progress and the result.

The path is checked live (debounced, in a thread worker) through
mapops.preview: the same reading, checking, diff and plan as `ipvlan-tui
apply --dry-run`. A path problem shows under the path field; a bad map
lists every problem with its entry and field, and Apply stays disabled.
--prune and --replace are checkboxes (each change re-plans). Apply runs
mapops.apply_map in a worker: one line per unit, each with the steps the
controller runs and their marks, then the result; the diff is read again
afterwards, so a second apply says there is nothing to do.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from ipvlan_tui import mapops
from ipvlan_tui.errors import PlanFailed, ValidationError
from ipvlan_tui.mapfile import BROKEN, DRIFT, EXTRA, IN_SYNC, MISSING
from ipvlan_tui.tui.confirm import plan_text
from ipvlan_tui.tui.wizard import error_text

DEBOUNCE_S = 0.3
KIND_STYLE = {MISSING: ("+", "bold green", "missing"), EXTRA: ("-", "bold red", "extra"),
              DRIFT: ("~", "bold yellow", "drift"), BROKEN: ("!", "bold magenta", "broken"),
              IN_SYNC: ("=", "dim", "in sync")}
MARKS = {"start": ("▶", "yellow"), "done": ("✓", "green"), "failed": ("✗", "bold red"),
         "undone": ("↺", "magenta"), "undo_failed": ("!", "bold red")}


class MapChecked(Message):
    def __init__(self, serial: int, preview: mapops.MapPreview | None = None, other: str = "") -> None:
        super().__init__()
        self.serial, self.preview, self.other = serial, preview, other


class MapUnitStarted(Message):
    def __init__(self, unit: int, title: str) -> None:
        super().__init__()
        self.unit, self.title = unit, title


class MapStepEvent(Message):
    def __init__(self, unit: int, call: int, index: int, description: str, command: str,
                 event: str) -> None:
        super().__init__()
        self.unit, self.call, self.index = unit, call, index
        self.description, self.command, self.event = description, command, event


class MapUnitDone(Message):
    def __init__(self, unit: int, line: str, ok: bool) -> None:
        super().__init__()
        self.unit, self.line, self.ok = unit, line, ok


class MapApplyDone(Message):
    def __init__(self, applied: mapops.MapApplied | None = None,
                 error: BaseException | None = None) -> None:
        super().__init__()
        self.applied, self.error = applied, error


def diff_text(pv: mapops.MapPreview) -> Text:
    """The diff, one line per network or endpoint, marked like `ipvlan-tui diff`."""
    d = pv.diff
    t = Text()
    t.append(f"Diff: {pv.mapfile.source} vs this host\n", style="bold")
    for c in d.changes:
        mark, style, word = KIND_STYLE.get(c.kind, ("?", "", c.kind))
        what = (f"endpoint {c.endpoint} on {c.network}" if c.endpoint else f"{c.subject} {c.network}")
        t.append(f" {mark} ", style=style)
        t.append(f"{word:<8}", style=style)
        t.append(f" {what}")
        if c.details:
            t.append(f"  {'; '.join(c.details)}", style="#8a9199")
        t.append("\n")
    t.append(("in sync: " if d.in_sync else "not in sync: ") + d.summary(),
             style="green" if d.in_sync else "yellow")
    return t


def problems_text(errors, source: str) -> Text:
    """Every problem of a bad map: the entry and field, then what is wrong and the fix."""
    n = len(errors)
    t = Text(f"✗ {source}: {n} problem{'s' if n != 1 else ''}; nothing can be applied until "
             f"{'they are' if n != 1 else 'it is'} fixed (nothing was changed):\n", style="bold red")
    for e in errors:
        t.append(f"  {e.field}\n", style="bold #59c2ff")
        t.append("    ")
        t.append_text(error_text(e))
        t.append("\n")
    return t


class MapApplyScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "close", "Close")]

    DEFAULT_CSS = """
    #map-options {
        height: auto;
        margin-top: 1;
    }
    #map-options Checkbox {
        width: auto;
        height: 1;
        border: none;
        padding: 0;
        margin-right: 4;
    }
    #map-options Checkbox:focus {
        text-style: bold;
    }
    #field-map-path .field-label {
        margin-top: 0;
    }
    #map-body {
        height: 1fr;
        margin-top: 1;
        border-top: solid $panel-lighten-2;
    }
    #map-status, #map-result {
        height: auto;
        padding: 1 0 0 0;
    }
    #map-diff, #map-problems {
        height: auto;
        padding: 1 0 0 0;
    }
    #mapscreen .buttons {
        height: auto;
    }
    #map-why {
        width: 1fr;
        padding: 1 1 0 0;
        content-align: right middle;
    }
    """

    def __init__(self, controller, capabilities=None, path: str = "") -> None:
        super().__init__()
        self.controller = controller
        self.caps = capabilities
        self.initial_path = path
        self.preview: mapops.MapPreview | None = None
        self._serial = 0
        self._checked_serial = -1
        self._timer = None
        self._touched = bool(path)
        self._busy = False
        self._applied: mapops.MapApplied | None = None  # the last apply, while its progress shows
        self._changes = 0  # changes made by every apply since the screen opened
        self._failures = 0
        self._units: list[dict] = []  # per unit: title, planned steps, status, steps seen, line
        self._result: Text | None = None

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        with Vertical(id="mapscreen", classes="dialog"):
            yield Label("Apply a map file", classes="dialog-title")
            with Vertical(classes="field", id="field-map-path"):
                yield Label("Map file (TOML, from `ipvlan-tui import-table` or `ipvlan-tui export`)",
                            classes="field-label")
                yield Input(value=self.initial_path, placeholder="e.g. netops.toml", id="map-path")
                yield Static("", id="err-map-path", classes="field-error")
            with Vertical(id="map-options"):
                yield Checkbox("--prune    also remove the extras: networks made by ipvlan-tui that the map lacks",
                               id="map-prune")
                yield Checkbox("--replace  re-create drifted networks (same name, other subnet, mode, parent...)", id="map-replace")
            with VerticalScroll(id="map-body"):
                yield Static(id="map-result")
                yield Static(id="map-status")
                yield Static(id="map-diff")
                yield Static(id="map-problems")
                yield Static(id="map-plan")
            with Horizontal(classes="buttons"):
                yield Static(id="map-why", classes="muted")
                yield Button("Check again", id="map-check")
                yield Button("Apply", id="map-apply", variant="success", disabled=True)
                yield Button("Close", id="map-close")

    def on_mount(self) -> None:
        # Wider and taller than the other dialogs (the app's .dialog rule wins over DEFAULT_CSS):
        # diff lines are long. max-width/max-height (95%/92%) still fit it to small terminals.
        dialog = self.query_one("#mapscreen")
        dialog.styles.width = 124
        dialog.styles.height = 46
        self.query_one("#map-path", Input).focus()
        for id_ in ("#map-diff", "#map-problems", "#map-result"):
            self.query_one(id_).display = False
        self._check_soon(now=bool(self.initial_path))

    # ------------------------------------------------------------ checking
    @on(Input.Changed, "#map-path")
    def _path_changed(self, event: Input.Changed) -> None:
        self._touched = True
        self._forget_progress()
        self._check_soon()

    def _forget_progress(self) -> None:
        """Another map or other options: the last apply's progress gives way to the new plan."""
        if self._applied is not None and not self._busy:
            self._applied = None
            self.query_one("#map-result", Static).display = False

    @on(Input.Submitted, "#map-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        self._check_soon(now=True)

    @on(Checkbox.Changed)
    def _option_changed(self, event: Checkbox.Changed) -> None:
        self._forget_progress()
        self._check_soon(now=True)

    def _check_soon(self, now: bool = False) -> None:
        if self._busy:
            return
        self._serial += 1
        self._set_apply()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if now:
            self._check_now()
        else:
            self._timer = self.set_timer(DEBOUNCE_S, self._check_now)

    def _check_now(self) -> None:
        self._timer = None
        path = self.query_one("#map-path", Input).value.strip()
        if not path and not self._touched:
            self._show_hint()
            return
        self.query_one("#map-status", Static).update(Text("reading the map and the host…", style="dim"))
        self._check(self._serial, path, self.query_one("#map-prune", Checkbox).value,
                    self.query_one("#map-replace", Checkbox).value)

    @work(thread=True, group="map-check", exclusive=True)
    def _check(self, serial: int, path: str, prune: bool, replace: bool) -> None:
        try:
            pv = mapops.preview(self.controller, path, prune=prune, replace=replace)
        except Exception as exc:  # noqa: BLE001 - shown, the screen stays usable
            self.post_message(MapChecked(serial, other=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(MapChecked(serial, pv))

    def _show_hint(self) -> None:
        self.query_one("#map-status", Static).update(Text(
            "Type the path of a map file. Nothing happens until you press Apply: first the diff "
            "(what the map has that this host lacks, and the other way round) and the plan, "
            "step by step with the equivalent commands.", style="#8a9199"))
        self._checked_serial = self._serial
        self._set_apply()

    def _is_path_error(self, err: ValidationError, path: str) -> bool:
        from pathlib import Path
        return err.field in ("path", path, str(Path(path).expanduser())) and "TOML" not in err.problem

    def on_map_checked(self, msg: MapChecked) -> None:
        if msg.serial != self._serial or self._busy:
            return  # a newer edit is on its way
        self._checked_serial = msg.serial
        pv = msg.preview
        self.preview = pv
        path = self.query_one("#map-path", Input).value.strip()
        path_errs = [e for e in (pv.errors if pv else ()) if self._is_path_error(e, path)]
        map_errs = [e for e in (pv.errors if pv else ()) if not self._is_path_error(e, path)]
        box = self.query_one("#err-map-path", Static)
        box.update(Text("\n").join(error_text(e) for e in path_errs) if path_errs else "")
        box.display = bool(path_errs)
        self.query_one("#map-path", Input).set_class(bool(path_errs or map_errs), "-invalid-field")

        status = self.query_one("#map-status", Static)
        diff_box = self.query_one("#map-diff", Static)
        problems = self.query_one("#map-problems", Static)
        plan_box = self.query_one("#map-plan", Static)
        if self._applied is None:
            plan_box.update("")
        if pv is None or not pv.ok:
            diff_box.display = False
            other = msg.other or (pv.other if pv else "")
            if map_errs:
                problems.update(problems_text(map_errs, pv.path))
            elif other:
                problems.update(Text(f"✗ could not read the host: {other}", style="bold red"))
            problems.display = bool(map_errs or other)
            status.update(Text("fix the path (see above)", style="red") if path_errs else "")
            status.display = bool(path_errs)
        else:
            problems.display = False
            diff_box.update(diff_text(pv))
            diff_box.display = True
            status.display = True
            if pv.nothing_to_do:
                status.update(Text(f"✓ {pv.nothing_to_do_text()}", style="bold green"))
            else:
                n = len(pv.unit_titles)
                status.update(Text(f"Applying makes {n} change{'s' if n != 1 else ''} "
                                   f"({len(pv.plan.steps)} steps); nothing has been done yet.",
                                   style="bold"))
            if self._applied is None:
                plan_box.update(self._plan_text(pv))
        self._set_apply()

    def _plan_text(self, pv: mapops.MapPreview) -> Text:
        t = Text()
        if not pv.nothing_to_do:
            t.append("\nThe plan:\n", style="bold")
            t.append_text(plan_text(pv.plan.steps))
        if pv.dry_run.left_alone:
            t.append("\nLeft alone:\n", style="bold")
            for line in pv.dry_run.left_alone:
                t.append(f"  · {line}\n", style="#8a9199")
        return t

    def why_not(self) -> str:
        """Why Apply is disabled now ("" when it is enabled)."""
        if self._busy:
            return "applying…"
        if self._checked_serial != self._serial or self._timer is not None:
            return "checking…"
        pv = self.preview
        if pv is None:
            return "type the path of a map file"
        if pv.errors:
            return "fix the problems first"
        if not pv.ok:
            return "the host could not be read"
        if pv.nothing_to_do:
            return "nothing to do"
        if self.caps is not None and not self.caps.root:
            return "read-only: needs root"
        return ""

    def _set_apply(self) -> None:
        why = self.why_not()
        self.query_one("#map-apply", Button).disabled = bool(why)
        self.query_one("#map-check", Button).disabled = self._busy
        self.query_one("#map-why", Static).update(Text(why, style="#8a9199") if why else "")

    # ------------------------------------------------------------- applying
    @on(Button.Pressed, "#map-check")
    def _check_pressed(self) -> None:
        self._check_soon(now=True)

    @on(Button.Pressed, "#map-apply")
    def _apply_pressed(self) -> None:
        if self.why_not():
            return
        pv = self.preview
        self._busy = True
        self._applied = None
        self._units = [{"title": t, "status": "", "steps": {}, "line": ""} for t in pv.unit_titles]
        self._set_apply()
        self.query_one("#map-path", Input).disabled = True
        for cb in self.query(Checkbox):
            cb.disabled = True
        self.query_one("#map-result", Static).display = False
        self.query_one("#map-status", Static).update(Text("applying…", style="bold yellow"))
        self._render_progress()
        self._run(pv)

    @work(thread=True, group="map-apply", exclusive=True)
    def _run(self, pv: mapops.MapPreview) -> None:
        post = self.post_message
        try:
            applied = mapops.apply_map(
                self.controller, pv,
                on_unit_start=lambda n, title, steps: post(MapUnitStarted(n, title)),
                on_step=lambda n, call, i, step, event: post(
                    MapStepEvent(n, call, i, step.description, step.command, event)),
                on_unit_done=lambda n, line, ok: post(MapUnitDone(n, line, ok)))
        except Exception as exc:  # noqa: BLE001 - shown in the result
            post(MapApplyDone(error=exc))
            return
        post(MapApplyDone(applied))

    def on_map_unit_started(self, msg: MapUnitStarted) -> None:
        if msg.unit < len(self._units):
            self._units[msg.unit]["status"] = "start"
        self._render_progress()

    def on_map_step_event(self, msg: MapStepEvent) -> None:
        if msg.unit < len(self._units):
            steps = self._units[msg.unit]["steps"]
            key = (msg.call, msg.index)
            steps[key] = (msg.description, msg.command, msg.event)
        self._render_progress()

    def on_map_unit_done(self, msg: MapUnitDone) -> None:
        if msg.unit < len(self._units):
            self._units[msg.unit]["status"] = "done" if msg.ok else "failed"
            self._units[msg.unit]["line"] = msg.line
        self._render_progress()

    def _render_progress(self) -> None:
        t = Text("\nApplying, unit by unit (each all or nothing):\n", style="bold")
        for u in self._units:
            mark, style = MARKS.get(u["status"], ("•", "dim"))
            t.append(f" {mark} ", style=style)
            t.append(f"{u['title']}\n", style="bold" if u["status"] else "dim")
            for (_, _), (desc, cmd, event) in sorted(u["steps"].items()):
                m, s = MARKS.get(event, ("•", "dim"))
                t.append(f"     {m} ", style=s)
                t.append(f"{desc}\n")
                if cmd:
                    hidden = cmd.startswith("#")
                    t.append(f"         {'' if hidden else '$ '}{cmd}\n",
                             style="dim italic" if hidden else "#aad94c")
            if u["line"]:
                t.append(f"     → {u['line']}\n", style="green" if u["status"] == "done" else "red")
        self.query_one("#map-plan", Static).update(t)

    def on_map_apply_done(self, msg: MapApplyDone) -> None:
        self._busy = False
        self.query_one("#map-path", Input).disabled = False
        for cb in self.query(Checkbox):
            cb.disabled = False
        box = self.query_one("#map-result", Static)
        box.display = True
        if msg.error is not None:
            err = msg.error
            t = Text()
            t.append("✗ apply failed: ", style="bold red")
            if isinstance(err, ValidationError):
                t.append_text(problems_text(err.errors, self.preview.path if self.preview else "map"))
            elif isinstance(err, PlanFailed):
                t.append(f"step {err.step_index + 1} ({err.step_description}): {err.cause}\n")
            else:
                t.append(str(err))
            box.update(t)
        else:
            a = msg.applied
            self._applied = a
            res = a.result
            self._changes += len(res.done)
            self._failures += len(res.failed)
            t = Text()
            if a.changed_since_preview:
                t.append("⚠ the host changed since this plan was made; nothing was applied. "
                         "The new diff and plan are below: look, then Apply again.", style="bold yellow")
                self._applied = None
            elif res.failed:
                t.append(f"✗ {len(res.done)} done, {len(res.failed)} failed (each failed one was "
                         "rolled back):\n", style="bold red")
                for line in res.failed:
                    t.append(f"  ✗ {line}\n", style="red")
            elif res.nothing_to_do:
                t.append("✓ nothing to do: no change made", style="bold green")
            else:
                src = self.preview.mapfile.source if self.preview and self.preview.mapfile else "the map"
                t.append(f"✓ applied {src}: {len(res.done)} change(s)", style="bold green")
            if not a.changed_since_preview:
                t.append("\nThe diff below is read again from the host; the progress is at the end. "
                         "Close (Esc) to see the networks.", style="#8a9199")
            box.update(t)
        self.query_one("#map-close", Button).focus()
        self._check_soon(now=True)  # the diff as it is now: a second apply has nothing to do

    def result_line(self) -> str | None:
        if self._failures:
            return f"map applied: {self._changes} done, {self._failures} failed (rolled back)"
        return f"map applied: {self._changes} change(s)" if self._changes else None

    @on(Button.Pressed, "#map-close")
    def action_close(self) -> None:
        if not self._busy:
            self.dismiss(self.result_line())
