"""The console on a real kernel: the driver docs' VLAN 20 network made through the
wizard, two endpoints attached, and the ping pane proving they reach each other
and not the host."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.patience import patient

pytestmark = pytest.mark.kernel
LAB_SECONDS = 380  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)

SIZE = (160, 48)
SLOW = 420.0  # the lab VM emulates its CPU (TCG): be patient, not flaky


async def until(pilot, cond, what: str, timeout: float = SLOW) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def click_until(pilot, selector: str, started, what: str) -> None:
    """Click a button until what it starts has started.

    The dialog grows when its plan is rendered, so a click aimed from the old
    layout can land beside the button on a slow (TCG) machine: Pilot says so by
    returning False. Clicking again is harmless: the handlers ignore a second press.
    """
    end = time.monotonic() + SLOW
    while True:
        await pilot.pause(0.1)
        landed = await pilot.click(selector)
        try:
            await until(pilot, started, what, timeout=5 if not landed else 30)
            return
        except AssertionError:
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what} to start "
                                     f"(last click landed: {landed})") from None


def text_of(widget) -> str:
    from tests.tui.conftest import text_of as render
    return render(widget)


async def settle(pilot, wiz) -> None:
    for _ in range(3):
        await pilot.pause(0.1)
        await until(pilot, lambda: wiz._validated_serial == wiz._serial and wiz._timer is None,
                    "validation")


async def drive(ctl) -> dict:
    from ipvlan_tui.tui.app import IpvlanApp
    from ipvlan_tui.tui.attach import AttachScreen
    from ipvlan_tui.tui.ping import PingPane
    from ipvlan_tui.tui.wizard import NetworkWizard

    seen: dict = {}
    app = IpvlanApp(ctl, watch=False, demo=False)
    async with app.run_test(size=SIZE) as pilot:
        patient(pilot, SLOW)
        await until(pilot, lambda: app.topology is not None, "the first topology")
        # --- the wizard: ipvlan20 on eth0.20, 192.168.20.0/24 via 192.168.20.1
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NetworkWizard)
                    and bool(app.screen.query("#name")),
                    "the wizard")
        wiz = app.screen
        wiz.query_one("#name").value = "ipvlan20"
        await settle(pilot, wiz)
        await pilot.click("#next")
        wiz.query_one("#vlan-base").value = "eth0"
        wiz.query_one("#vlan-id").value = "20"
        await settle(pilot, wiz)
        seen["parent_says"] = text_of(wiz.query_one("#parent-says"))
        await pilot.click("#next")
        wiz.query_one("#subnet4").value = "192.168.20.0/24"
        wiz.query_one("#gateway4").value = "192.168.20.1"
        await settle(pilot, wiz)
        await pilot.click("#next")
        await settle(pilot, wiz)
        seen["plan"] = text_of(wiz.query_one("#review-plan"))
        await click_until(pilot, "#create", lambda: wiz._creating or wiz._done, "creation")
        await until(pilot, lambda: wiz._done, "creation")
        seen["result"] = text_of(wiz.query_one("#review-result"))
        await pilot.press("escape")
        await until(pilot, lambda: "network:ipvlan20" in
                    [r.key for r in app.query_one("#table-networks").items], "the network row")
        # --- attach two endpoints
        for name in ("ivlan_test1", "ivlan_test2"):
            await pilot.press("3")
            app.query_one("#table-networks").select_key("network:ipvlan20")
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, AttachScreen)
                        and all(app.screen.query(w) for w in ("#ep-name", "#ep-network",
                                                              "#attach-go")),
                        "attach dialog")  # every field mounted, not just the buttons
            await pilot.pause()
            screen = app.screen
            screen.query_one("#ep-name").value = name
            await until(pilot, lambda: not screen.query_one("#attach-go").disabled, "valid form")
            await click_until(pilot, "#attach-go",
                              lambda: screen._busy or app.screen is not screen, "the attach")
            try:
                await until(pilot, lambda: f"endpoint:{name}" in
                            [r.key for r in app.query_one("#table-endpoints").items],
                            f"{name} row")
            except AssertionError as exc:
                said = [text_of(w) for w in screen.query("#attach-plan, #attach-result")]
                rows = [r.key for r in app.query_one("#table-endpoints").items]
                raise AssertionError(f"{exc}; dialog said {said}; rows {rows}; "
                                     f"screen {app.screen!r}") from None
        # --- ping pane: peer reachable, host not (and that is expected)
        await pilot.press("4")
        app.query_one("#table-endpoints").select_key("endpoint:ivlan_test1")
        await pilot.press("p")
        pane = app.query_one(PingPane)
        await until(pilot, lambda: pane.query_one("#ping-source").value == "ivlan_test1", "source")
        for target, key in (("ivlan_test2", "peer"), ("192.168.1.250", "host")):
            pane.query_one("#ping-target").value = target
            pane.query_one("#ping-count").value = "2"
            pane.query_one("#ping-interval").value = "0.2"
            before = text_of(pane.query_one("#ping-summary"))
            await click_until(pilot, "#ping-go",
                              lambda: text_of(pane.query_one("#ping-summary")) != before,
                              f"{key} ping")
            def finished() -> bool:
                now = text_of(pane.query_one("#ping-summary"))
                return now != before and "pinging" not in now \
                    and "expected" in text_of(pane.query_one("#ping-expect"))

            await until(pilot, finished, f"{key} verdict")
            seen[key] = (text_of(pane.query_one("#ping-summary")),
                         text_of(pane.query_one("#ping-expect")))
    return seen


def test_wizard_attach_and_ping_on_a_real_kernel(host):
    from ipvlan_tui.controller import open_controller

    ctl = open_controller(str(host.state_dir))
    seen = asyncio.run(drive(ctl))
    assert "will be created" in seen["parent_says"]
    assert "ip link add link eth0 name eth0.20 type vlan id 20" in seen["plan"]
    assert "eth0.20" in host.links()
    summary, verdict = seen["peer"]
    assert "2 received" in summary and "simulated" not in summary, summary
    assert "expected" in verdict and "surprising" not in verdict
    summary, verdict = seen["host"]
    assert "0 received" in summary, summary
    assert "expected" in verdict and "surprising" not in verdict
    assert host.ping("ivlan_test2", "192.168.20.2")  # and the kernel agrees
