"""The creation wizard: happy path, each error display, Create disabled while invalid."""

from __future__ import annotations

import pytest

from ipvlan_tui.errors import ValidationError
from ipvlan_tui.tui.wizard import NetworkWizard, field_slot

from .conftest import SIZE, app_for, loaded, text_of, until


async def open_wizard(pilot) -> NetworkWizard:
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, NetworkWizard), what="the wizard")
    return pilot.app.screen


async def settle(pilot, wiz: NetworkWizard) -> None:
    """Wait for the debounced validation of the latest edit."""
    done = lambda: wiz._validated_serial == wiz._serial and wiz._timer is None  # noqa: E731
    for _ in range(3):  # an edit can cause another (the VLAN helper fills the parent)
        await pilot.pause(0.05)
        await until(pilot, done, what="validation")
        serial = wiz._serial
        await pilot.pause(0.05)
        if done() and wiz._serial == serial:
            return


@pytest.mark.parametrize("field,value,slot", [
    ("name", "x", "name"),
    ("-o parent", "eth9.5", "parent"),
    ("--subnet", "2001:db8::1/64", "subnet6"),
    ("--subnet", "10.0.0.1/24", "subnet4"),
    ("--gateway", "10.0.0.1", "gateway4"),
    ("--ip-range", "fd00::/80", "range6"),
    ("--aux-address", "r=fd00::9", "aux6"),
    ("--aux-address", "r=10.0.0.9", "aux4"),
    ("-o ipvlan_mode", "l4", "mode"),
    ("--driver", "macvlan", "engine"),
    ("something-else", "", "general"),
])
def test_field_slot_maps_validator_fields_to_widgets(field, value, slot):
    assert field_slot(ValidationError(field, value, "bad")) == slot


async def test_wizard_happy_path_creates_a_network_with_a_vlan(ctl):
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        wiz = await open_wizard(pilot)
        assert wiz.query_one("#create").display is False  # only on the review step
        for ch in "app_net":
            await pilot.press(ch)
        await pilot.click("#mode-l3")
        await settle(pilot, wiz)
        assert "▸ L3" in text_of(wiz.query_one("#mode-help"))
        await pilot.click("#next")
        assert wiz.step == 2
        wiz.query_one("#vlan-base").value = "eth1"
        wiz.query_one("#vlan-id").value = "30"
        await settle(pilot, wiz)
        assert wiz.query_one("#parent").value == "eth1.30"
        says = text_of(wiz.query_one("#parent-says"))
        assert "will be created" in says and "VLAN 30 on eth1" in says
        await pilot.click("#next")
        assert wiz.step == 3
        await pilot.click("#suggest")
        await until(pilot, lambda: wiz.query_one("#subnet4").value != "", what="suggestion")
        suggested = wiz.query_one("#subnet4").value
        await settle(pilot, wiz)
        assert "ignored in L3 mode" in text_of(wiz.query_one("#hint-gateway4"))
        await pilot.click("#next")
        assert wiz.step == 4
        await settle(pilot, wiz)
        plan = text_of(wiz.query_one("#review-plan"))
        assert "ip link add link eth1 name eth1.30 type vlan id 30" in plan
        assert not wiz.query_one("#create").disabled
        await pilot.click("#create")
        await until(pilot, lambda: wiz._done, what="creation")
        assert "created" in text_of(wiz.query_one("#review-result"))
        assert "✓" in text_of(wiz.query_one("#review-plan"))
        await pilot.press("escape")
        await until(pilot, lambda: "network:app_net" in
                    [r.key for r in app.query_one("#table-networks").items], what="listed")
    spec, state = ctl.store.network("app_net")
    assert (spec.mode, spec.parent.name, spec.subnets[0].cidr) == ("l3", "eth1.30", suggested)
    assert ctl.kernel.link_exists("eth1.30")


async def test_wizard_shows_each_error_under_its_field_and_blocks_create(ctl):
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        wiz = await open_wizard(pilot)
        # Untouched fields show no error yet, though the empty name is invalid.
        await settle(pilot, wiz)
        assert not wiz.query_one("#err-name").display
        for ch in "db_net":  # taken
            await pilot.press(ch)
        await settle(pilot, wiz)
        assert wiz.query_one("#err-name").display
        assert "already exists" in text_of(wiz.query_one("#err-name"))
        wiz.query_one("#name").value = "fresh"
        await pilot.click("#next")
        wiz.query_one("#parent").value = "eth9.5"
        await settle(pilot, wiz)
        assert "eth9 does not exist" in text_of(wiz.query_one("#err-parent"))
        assert wiz.query_one("#parent").has_class("-invalid-field")
        wiz.query_one("#parent").value = "lo"
        await settle(pilot, wiz)
        assert "loopback" in text_of(wiz.query_one("#err-parent"))
        wiz.query_one("#parent").value = "eth1"  # web_l3 already sits on eth1
        await settle(pilot, wiz)
        assert "one ipvlan network per parent" in text_of(wiz.query_one("#err-parent"))
        wiz.query_one("#parent").value = "eth0"
        await pilot.click("#next")
        wiz.query_one("#subnet4").value = "10.20.0.0/24"  # web_l3 has it
        wiz.query_one("#gateway4").value = "10.99.0.1"
        wiz.query_one("#subnet6").value = "2001:db8::1/64"
        wiz.query_one("#aux4").value = "nonsense"
        await settle(pilot, wiz)
        assert "overlaps" in text_of(wiz.query_one("#err-subnet4"))
        assert "not inside" in text_of(wiz.query_one("#err-gateway4"))
        assert "host bits" in text_of(wiz.query_one("#err-subnet6"))
        assert "NAME=IP" in text_of(wiz.query_one("#err-aux4"))
        await pilot.click("#next")
        await settle(pilot, wiz)
        assert wiz.step == 4
        assert wiz.query_one("#create").disabled
        review = text_of(wiz.query_one("#review-errors"))
        assert "Fix these before creating" in review and "overlaps" in review
        # Fixing everything enables Create.
        wiz.query_one("#subnet4").value = "10.50.0.0/24"
        wiz.query_one("#gateway4").value = ""
        wiz.query_one("#subnet6").value = "2001:db8:50::/64"
        wiz.query_one("#aux4").value = ""
        await settle(pilot, wiz)
        assert not wiz.query_one("#create").disabled, text_of(wiz.query_one("#review-errors"))
        assert "first usable" in text_of(wiz.query_one("#hint-gateway4"))
    assert ctl.store.network("fresh") is None  # nothing was created


async def test_wizard_isolated_and_failure_rollback(ctl, monkeypatch):
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        wiz = await open_wizard(pilot)
        for ch in "iso2":
            await pilot.press(ch)
        await pilot.click("#next")
        await settle(pilot, wiz)
        assert "no parent" in text_of(wiz.query_one("#parent-says")) or \
            "isolated" in text_of(wiz.query_one("#parent-says"))
        await pilot.click("#next")
        wiz.query_one("#subnet4").value = "10.77.0.0/24, 10.78.0.0/24"
        await settle(pilot, wiz)
        assert wiz.request().subnets == ("10.77.0.0/24", "10.78.0.0/24")
        assert "isolated L2" in text_of(wiz.query_one("#hint-gateway4"))
        await pilot.click("#next")
        await settle(pilot, wiz)
        monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", "network create iso2:3")
        await pilot.click("#create")
        await until(pilot, lambda: "failed" in text_of(wiz.query_one("#review-result")),
                    what="the failure")
        result = text_of(wiz.query_one("#review-result"))
        assert "rolled back" in result and "dummy" in result
    assert ctl.store.network("iso2") is None
