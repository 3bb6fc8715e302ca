"""A plan: ordered steps, each with the equivalent command and an undo.

`render()` is what --dry-run prints; `execute()` runs the steps and, when
one fails, undoes the steps already done in reverse order and raises
errors.PlanFailed. Pure apart from two test hooks read from the environment:

IPVLAN_TUI_FAIL_AT="<title substring>:<n>[:<ERRNO>]"
    step n (1-based) of each plan whose title contains the substring
    raises EngineError("injected fault") instead of running; the rollback
    path then runs as for a real failure. With an errno name (EBUSY,
    EEXIST, ENOSPC, ...) the fault is that refusal, as the kernel engine
    reports one: "<step> failed: <strerror> (injected EBUSY)", errno set.
IPVLAN_TUI_KILL_AT="<title substring>:<n>"
    the process SIGKILLs itself right after step n completes (crash tests:
    nothing is rolled back, the store must recover on the next start).

The substring may be empty (":2" matches every plan).
"""

from __future__ import annotations

import errno as _errno
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from ipvlan_tui.errors import EngineError, PlanFailed

FAIL_AT_ENV = "IPVLAN_TUI_FAIL_AT"
KILL_AT_ENV = "IPVLAN_TUI_KILL_AT"

# Progress events passed to on_progress(index, step, event).
EVENT_START = "start"
EVENT_DONE = "done"
EVENT_FAILED = "failed"
EVENT_UNDONE = "undone"
EVENT_UNDO_FAILED = "undo_failed"

ProgressFn = Callable[[int, "Step", str], None]


@dataclass(frozen=True)
class Step:
    description: str
    command: str  # the equivalent `ip ...` / `docker ...` command, for display
    do: Callable[[], object]
    undo: Callable[[], object] | None = None  # None: nothing to undo (a check, a read)
    undo_command: str = ""


@dataclass
class Plan:
    title: str
    steps: list[Step] = field(default_factory=list)

    def render(self) -> str:
        """Numbered steps with their commands, as --dry-run shows them."""
        lines = [f"{self.title}:"]
        width = len(str(len(self.steps)))
        for i, step in enumerate(self.steps, 1):
            lines.append(f"{i:>{width}}. {step.description}")
            if step.command:
                lines.append(f"{' ' * width}  $ {step.command}")
        if not self.steps:
            lines.append("  (nothing to do)")
        return "\n".join(lines)

    def execute(self, on_progress: ProgressFn | None = None) -> None:
        """Run the steps in order; on failure undo the done ones in reverse and raise PlanFailed.

        Only Exception is caught (KeyboardInterrupt/SystemExit propagate
        without rollback). An undo that fails is recorded in
        PlanFailed.undo_failures and the rollback goes on. Errors raised by
        `on_progress` itself are ignored: a broken progress display must not
        leave the host half-built.
        """
        fail_at, fail_errno = _hook(FAIL_AT_ENV, self.title, errno_allowed=True)
        kill_at, _ = _hook(KILL_AT_ENV, self.title)

        def emit(index: int, step: Step, event: str) -> None:
            if on_progress is None:
                return
            try:
                on_progress(index, step, event)
            except Exception:  # noqa: BLE001 - see docstring
                pass

        for i, step in enumerate(self.steps):
            emit(i, step, EVENT_START)
            try:
                if fail_at == i + 1:
                    if fail_errno is not None:
                        raise EngineError(
                            f"{step.description} failed: {os.strerror(fail_errno).lower()} "
                            f"(injected {_errno.errorcode[fail_errno]})", errno=fail_errno)
                    raise EngineError("injected fault", hint=f"{FAIL_AT_ENV}={os.environ.get(FAIL_AT_ENV)}")
                step.do()
            except Exception as exc:
                emit(i, step, EVENT_FAILED)
                rolled_back, undo_failures = self._rollback(i, emit)
                raise PlanFailed(i, step.description, exc, rolled_back, undo_failures) from exc
            emit(i, step, EVENT_DONE)
            if kill_at == i + 1:
                os.kill(os.getpid(), signal.SIGKILL)

    def _rollback(self, failed: int, emit: Callable[[int, Step, str], None]) -> tuple[list[str], list[str]]:
        rolled_back: list[str] = []
        undo_failures: list[str] = []
        for j in range(failed - 1, -1, -1):
            step = self.steps[j]
            if step.undo is None:
                continue
            try:
                step.undo()
            except Exception as exc:  # noqa: BLE001 - collected, the original error wins
                undo_failures.append(f"{step.description}: {exc}"
                                     + (f" (by hand: {step.undo_command})" if step.undo_command else ""))
                emit(j, step, EVENT_UNDO_FAILED)
                continue
            rolled_back.append(step.description)
            emit(j, step, EVENT_UNDONE)
        return rolled_back, undo_failures


def _hook(env: str, title: str, *, errno_allowed: bool = False) -> tuple[int | None, int | None]:
    """(1-based step number, errno or None) the env hook targets for this plan, or (None, None)."""
    value = os.environ.get(env, "")
    if not value:
        return None, None
    code = None
    where, sep, last = value.rpartition(":")
    if errno_allowed and sep and re.fullmatch(r"E[A-Z0-9]+", last, re.ASCII):
        code = getattr(_errno, last, None)
        if not isinstance(code, int) or code not in _errno.errorcode:
            raise ValueError(f"{env}={value!r}: {last} is not an errno name (EBUSY, EEXIST, ENOSPC, ...)")
        where, sep, last = where.rpartition(":")
    number = last
    if not sep or not re.fullmatch(r"[0-9]+", number, re.ASCII) or int(number) < 1:
        form = "[:<ERRNO>]" if errno_allowed else ""
        raise ValueError(f"{env}={value!r}: expected '<plan title substring>:<step number from 1>{form}'")
    return (int(number), code) if where in title else (None, None)
