"""Pilot on a slow machine (the TCG lab VM, a loaded CI box).

Before every pause, press and click, Pilot waits up to 30 s for the app to
drain its pending messages and raises WaitForScreenTimeout after that. Under
emulation, or while a storm of kernel events is being applied, draining can
take longer: that is slowness, not a failure. Each test still bounds its own
waits with its own timeouts.
"""

from __future__ import annotations


def patient(pilot, timeout: float) -> None:
    """Let this pilot wait up to `timeout` seconds (instead of 30) for the app to drain."""
    wait = pilot._wait_for_screen
    pilot._wait_for_screen = lambda t=30.0: wait(timeout=max(t, timeout))
