"""Error types shared by every layer (no I/O, no Textual).

ValidationError: bad input, nothing was touched (CLI exit 2).
EngineError: the kernel, Docker or the store refused (CLI exit 1, rolled back).
"""

from __future__ import annotations


class IpvlanTuiError(Exception):
    """Base of every error this tool reports to a person."""


class ValidationError(IpvlanTuiError):
    """One bad input: which field, what value, what is wrong and how to fix it."""

    def __init__(self, field: str, value: object, problem: str, fix: str = "") -> None:
        self.field = field
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(str(self))

    @property
    def errors(self) -> list["ValidationError"]:
        return [self]

    def __str__(self) -> str:
        shown = "" if self.value in (None, "") else f" {self.value}"
        text = f"{self.field}{shown}: {self.problem}"
        if self.fix:
            text += f"; {self.fix}"
        return text


class ValidationErrors(ValidationError):
    """Several problems found at once (a map file, a wizard form)."""

    def __init__(self, errors: list[ValidationError]) -> None:
        flat: list[ValidationError] = []
        for err in errors:
            flat.extend(err.errors)
        if not flat:
            raise ValueError("ValidationErrors needs at least one error")
        self._errors = flat
        first = flat[0]
        super().__init__(first.field, first.value, first.problem, first.fix)

    @property
    def errors(self) -> list[ValidationError]:
        return list(self._errors)

    def __str__(self) -> str:
        return "\n".join(ValidationError.__str__(e) for e in self._errors)


class EngineError(IpvlanTuiError):
    """The kernel, Docker or the store refused an operation.

    `errno` is the OS error number when there is one; `hint` says what to do.
    """

    def __init__(self, message: str, *, errno: int | None = None, hint: str = "") -> None:
        self.message = message
        self.errno = errno
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class PlanFailed(IpvlanTuiError):
    """A plan step failed; the steps already done were undone in reverse."""

    def __init__(
        self,
        step_index: int,
        step_description: str,
        cause: BaseException,
        rolled_back: list[str],
        undo_failures: list[str],
    ) -> None:
        self.step_index = step_index
        self.step_description = step_description
        self.cause = cause
        self.rolled_back = rolled_back
        self.undo_failures = undo_failures
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"step {self.step_index + 1} ({self.step_description}) failed: {self.cause}"
        if self.rolled_back:
            text += f"; rolled back {len(self.rolled_back)} step(s)"
        if self.undo_failures:
            text += "; could NOT undo: " + "; ".join(self.undo_failures)
        return text


class HostLinkInUse(ValidationError):
    """A link ipvlan-tui made is now used by the host (its addresses, routes or
    links on top of it): deleting it could cut the host off. Refused unless the
    caller confirms that risk explicitly (`--allow-host-cutoff`)."""
