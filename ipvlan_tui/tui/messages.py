"""Typed messages from thread workers back to the event loop."""

from __future__ import annotations

from textual.message import Message


class TopologyLoaded(Message):
    """A fresh snapshot: topology, capabilities and the controller's log."""

    def __init__(self, topology, capabilities, log, elapsed: float) -> None:
        super().__init__()
        self.topology = topology
        self.capabilities = capabilities
        self.log = log
        self.elapsed = elapsed


class TopologyPatched(Message):
    """A few kernel events applied to the shown topology (liveview.Patch), or the
    reason only a full read will do (liveview.FullRead)."""

    def __init__(self, base, result, elapsed: float) -> None:
        super().__init__()
        self.base = base  # the topology it was computed from
        self.result = result
        self.elapsed = elapsed


class TopologyFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class KernelChanged(Message):
    """A netlink or Docker event. Queued ones coalesce (toolong's can_replace)."""

    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, KernelChanged)


class WatchStopped(Message):
    """No event source (or it died): fall back to a refresh interval."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class StepProgress(Message):
    """Plan.execute's on_progress(i, step, event), carried to the loop."""

    def __init__(self, index: int, description: str, command: str, event: str) -> None:
        super().__init__()
        self.index = index
        self.description = description
        self.command = command
        self.event = event


class OperationDone(Message):
    """A change finished: result (OpResult) or error (an exception)."""

    def __init__(self, what: str, result=None, error: BaseException | None = None) -> None:
        super().__init__()
        self.what = what
        self.result = result
        self.error = error
