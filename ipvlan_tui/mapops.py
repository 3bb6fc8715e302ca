"""Map files for front ends other than the CLI (the console's "apply map").

Two calls, both blocking (run them in a worker thread):

- `preview(ctl, path, prune=, replace=)`: read and check the map, diff it
  against the host and make the plan, changing nothing. A bad map comes
  back as `MapPreview.errors` (every problem, entry and field named), not
  as an exception.
- `apply_map(ctl, preview, ...)`: run the plan unit by unit (each all or
  nothing, as `ipvlan-tui apply` does), reporting each unit's start and end
  and every step of the controller plans it runs.

Built on mapfile (parse, check, diff, plan_apply) and the controller's
public API only; no Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ipvlan_tui import mapfile
from ipvlan_tui.errors import EngineError, PlanFailed, ValidationError
from ipvlan_tui.mapfile import ApplyResult, MapDiff, MapFile
from ipvlan_tui.plan import EVENT_FAILED, Plan, Step

# on_step(unit_index, call_index, step_index, step, event): `call_index` counts the
# controller calls a unit makes (a network, then each endpoint); step_index is
# the step's place in that call's own plan.
StepFn = Callable[[int, int, int, Step, str], None]


@dataclass
class MapPreview:
    """What applying a map would do now: the diff, the plan, what is left alone; or why not."""

    path: str
    prune: bool = False
    replace: bool = False
    mapfile: MapFile | None = None
    diff: MapDiff | None = None
    dry_run: ApplyResult | None = None
    unit_titles: tuple[str, ...] = ()
    errors: tuple[ValidationError, ...] = ()
    other: str = ""  # an engine failure while reading the host (not the map's fault)

    @property
    def ok(self) -> bool:
        return self.dry_run is not None and not self.errors and not self.other

    @property
    def nothing_to_do(self) -> bool:
        return self.ok and self.dry_run.nothing_to_do

    @property
    def plan(self) -> Plan | None:
        return self.dry_run.plan if self.dry_run is not None else None

    def nothing_to_do_text(self) -> str:
        """The same words as `ipvlan-tui apply` when there is nothing to do."""
        mf, d = self.mapfile, self.diff
        n_eps = sum(len(e.endpoints or ()) for e in mf.networks)
        eps = f" and {n_eps} endpoint(s)" if n_eps else ""
        state = "matches" if d.in_sync else "has nothing more to apply from"
        return (f"nothing to do: this host {state} {mf.source} ({len(mf.networks)} network(s){eps}); "
                "no change made")


def _path_problem(path: str) -> ValidationError | None:
    if not path.strip():
        return ValidationError("path", "", "is empty",
                               "type the path of a map file (made by `ipvlan-tui import-table` "
                               "or `ipvlan-tui export`), e.g. netops.toml")
    p = Path(path).expanduser()
    if p.is_dir():
        return ValidationError("path", path, "is a directory", "give the map file inside it, e.g. "
                               f"{p / 'netops.toml'}")
    return None


def preview(ctl, path: str, *, prune: bool = False, replace: bool = False) -> MapPreview:
    """Check the map at `path` against the host and plan its apply; nothing is changed."""
    out = MapPreview(path=path, prune=prune, replace=replace)
    bad = _path_problem(path)
    if bad is not None:
        out.errors = (bad,)
        return out
    try:
        mf = mapfile.load(Path(path).expanduser())
        d = mapfile.compute_diff(mf, ctl, prune=prune)
        units, left = mapfile.plan_apply(ctl, d, prune=prune, replace=replace)
    except ValidationError as exc:
        out.errors = tuple(exc.errors)
        return out
    except EngineError as exc:
        out.other = str(exc)
        return out
    plan = Plan(f"apply {mf.source}", [s for u in units for s in u.steps])
    out.mapfile, out.diff = mf, d
    out.dry_run = ApplyResult(plan=plan, dry_run=True, left_alone=left, nothing_to_do=not units)
    out.unit_titles = tuple(u.title for u in units)
    return out


class _WithProgress:
    """The controller, passing an on_progress hook to each change a unit makes.

    `begin(n)` starts unit n: its controller calls are counted from 0. After a
    step fails, later calls of that unit (its own rollback) get no hook: the
    failed plan's undo events are the rollback that is shown."""

    def __init__(self, ctl, on_step: StepFn | None) -> None:
        self._ctl = ctl
        self._on_step = on_step
        self.unit = -1
        self.calls = 0
        self.failed = False

    def begin(self, n: int) -> None:
        self.unit, self.calls, self.failed = n, 0, False

    def __getattr__(self, name: str):
        return getattr(self._ctl, name)

    def _call(self, name: str, *args, **kwargs):
        if (self._on_step is not None and self.unit >= 0 and kwargs.get("on_progress") is None
                and not self.failed and not kwargs.get("dry_run")):
            unit, call = self.unit, self.calls
            self.calls += 1

            def hook(i: int, step: Step, event: str) -> None:
                if event == EVENT_FAILED:
                    self.failed = True
                self._on_step(unit, call, i, step, event)
            kwargs["on_progress"] = hook
        return getattr(self._ctl, name)(*args, **kwargs)

    def create_network(self, *a, **kw):
        return self._call("create_network", *a, **kw)

    def remove_network(self, *a, **kw):
        return self._call("remove_network", *a, **kw)

    def run_endpoint(self, *a, **kw):
        return self._call("run_endpoint", *a, **kw)

    def remove_endpoint(self, *a, **kw):
        return self._call("remove_endpoint", *a, **kw)


@dataclass
class MapApplied:
    result: ApplyResult
    changed_since_preview: bool = False  # the host changed after the preview: nothing was run
    units: list[str] = field(default_factory=list)


def apply_map(ctl, pv: MapPreview, *,
              on_unit_start: Callable[[int, str, list[Step]], None] | None = None,
              on_step: StepFn | None = None,
              on_unit_done: Callable[[int, str, bool], None] | None = None) -> MapApplied:
    """Apply a previewed map: the diff and plan are made again from the host as it is
    now; if the units differ from the preview's, nothing is run (look again first).

    Raises ValidationError (the map went bad meanwhile) or EngineError (not root)."""
    if not pv.ok:
        raise ValidationError("map", pv.path, "has problems (see the list)", "fix the map, then apply")
    mf = mapfile.load(Path(pv.path).expanduser())
    d = mapfile.compute_diff(mf, ctl, prune=pv.prune)
    watched = _WithProgress(ctl, on_step)
    units, left = mapfile.plan_apply(watched, d, prune=pv.prune, replace=pv.replace)
    titles = [u.title for u in units]
    plan = Plan(f"apply {mf.source}", [s for u in units for s in u.steps])
    result = ApplyResult(plan=plan, dry_run=False, left_alone=left, nothing_to_do=not units)
    if tuple(titles) != pv.unit_titles:
        return MapApplied(result, changed_since_preview=True, units=titles)
    if not units:
        return MapApplied(result, units=titles)
    if not ctl.capabilities().root:
        raise EngineError("read-only: applying a map needs root (or CAP_NET_ADMIN)",
                          hint="run ipvlan-tui with sudo")
    for n, u in enumerate(units):
        watched.begin(n)
        if on_unit_start is not None:
            on_unit_start(n, u.title, list(u.steps))
        try:
            line = u.run()
        except (ValidationError, EngineError, PlanFailed) as exc:
            result.failed.append(f"{u.title}: {exc}")
            if on_unit_done is not None:
                on_unit_done(n, f"{u.title}: FAILED, rolled back: {exc}", False)
            continue
        result.done.append(line)
        if on_unit_done is not None:
            on_unit_done(n, line, True)
    watched.begin(-1)
    return MapApplied(result, units=titles)
