"""The console's "apply map" screen on the fake kernel: diff and plan before anything
happens, a bad map listed with Apply disabled, apply creates the networks, a second
apply has nothing to do."""

from __future__ import annotations

from ipvlan_tui.tui.mapscreen import MapApplyScreen
from tests.netops import netops_map

from .conftest import SIZE, app_for, loaded, until

NETOPS = netops_map((110, 120, 130), endpoints={110: [("h10", "172.16.80.10")]})
FIXED = NETOPS.replace("172.16.50.0/22", "172.16.48.0/22").replace("10.1.100.0/16", "10.1.0.0/16")
# The driver docs' NetOps table, on VLANs 110-130 of eth0 (the demo's db_net has eth0.10).
# WORSE adds a VLAN id out of range and a name used twice: every problem is listed at once.
WORSE = NETOPS.replace("vlan = 120", "vlan = 5000").replace('name = "vlan130"', 'name = "vlan110"')


async def open_screen(pilot) -> MapApplyScreen:
    await pilot.press("M")
    await until(pilot, lambda: isinstance(pilot.app.screen, MapApplyScreen)
                and pilot.app.screen.query("#map-apply"), what="the map screen")
    await pilot.pause(0.05)
    return pilot.app.screen


async def settle(pilot, scr: MapApplyScreen) -> None:
    await until(pilot, lambda: not scr.why_not().startswith("checking") and not scr._busy,
                what="the map check")
    await pilot.pause(0.05)


async def type_path(pilot, scr: MapApplyScreen, path: str) -> None:
    scr.query_one("#map-path").value = path
    await pilot.pause(0.05)
    await settle(pilot, scr)


def text_of(widget) -> str:
    """What a Static shows, as plain text (no styles)."""
    content = widget.content
    return content if isinstance(content, str) else content.plain


def nets(ctl) -> set[str]:
    return {n.spec.name for n in ctl.networks()}


async def test_diff_and_plan_shown_before_anything_happens_then_apply_and_again(ctl, tmp_path):
    path = tmp_path / "netops.toml"
    path.write_text(FIXED)
    before = nets(ctl)
    links_before = {l.name for l in ctl.kernel.inventory().links}
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        scr = await open_screen(pilot)
        assert scr.query_one("#map-apply").disabled  # no map yet
        await type_path(pilot, scr, str(path))
        diff = text_of(scr.query_one("#map-diff"))
        assert "+ missing  network vlan110" in diff and "endpoint h10 on vlan110" in diff
        assert "not in sync: 6 networks: 3 missing, 3 extra; 1 endpoint: 1 missing" in diff
        plan = text_of(scr.query_one("#map-plan"))
        assert "The plan:" in plan
        assert "$ ip link add link eth0 name eth0.120 type vlan id 120" in plan
        assert "ipvlan-tui run --net=vlan110 --ip=172.16.80.10 --name=h10" in plan
        assert "nothing has been done yet" in text_of(scr.query_one("#map-status"))
        # Shown, not done: the host is as it was.
        assert nets(ctl) == before and not ctl.kernel.link_exists("eth0.120")
        assert {l.name for l in ctl.kernel.inventory().links} == links_before
        assert not scr.query_one("#map-apply").disabled

        await pilot.click("#map-apply")
        await until(pilot, lambda: scr._applied is not None and not scr._busy, what="the apply")
        await settle(pilot, scr)
        progress = text_of(scr.query_one("#map-plan"))
        assert "✓ create network vlan110" in progress and "✓ create network vlan130" in progress
        assert "✓ create 802.1q sub-interface eth0.130 (VLAN 130 on eth0)" in progress  # each step
        assert "✓ create network namespace h10" in progress
        assert "applied netops.toml: 3 change(s)" in text_of(scr.query_one("#map-result"))
        # Read again: in sync, a second apply has nothing to do.
        status = text_of(scr.query_one("#map-status"))
        assert "nothing to do" in status and "no change made" in status
        assert scr.query_one("#map-apply").disabled and scr.why_not() == "nothing to do"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MapApplyScreen), what="closed")
        await until(pilot, lambda: {"network:vlan110", "network:vlan120", "network:vlan130"} <=
                    {r.key for r in app.query_one("#table-networks").items}, what="the networks listed")
    assert nets(ctl) == before | {"vlan110", "vlan120", "vlan130"}
    for vid in (110, 120, 130):
        assert ctl.kernel.link_exists(f"eth0.{vid}")
    spec, _ = ctl.store.network("vlan120")
    assert spec.subnets[0].cidr == "172.16.48.0/22" and spec.parent.name == "eth0.120"
    assert {e.name: e.ipv4 for e in ctl.endpoints()}["h10"] == "172.16.80.10"

    # A second apply from a fresh screen: nothing to do, no change.
    app = app_for(ctl)
    state = (sorted(l.name for l in ctl.kernel.inventory().links), ctl.store.networks())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        scr = await open_screen(pilot)
        await type_path(pilot, scr, str(path))
        assert "6 networks: 3 in sync, 3 extra" in text_of(scr.query_one("#map-diff"))
        assert "nothing to do" in text_of(scr.query_one("#map-status"))
        assert "The plan:" not in text_of(scr.query_one("#map-plan"))
        assert scr.query_one("#map-apply").disabled
    assert (sorted(l.name for l in ctl.kernel.inventory().links), ctl.store.networks()) == state


async def test_bad_map_lists_every_problem_with_entry_and_field_and_apply_disabled(ctl, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(NETOPS)
    before = (sorted(l.name for l in ctl.kernel.inventory().links), ctl.store.networks())
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        scr = await open_screen(pilot)
        await type_path(pilot, scr, str(path))
        problems = text_of(scr.query_one("#map-problems"))
        assert "2 problems" in problems
        assert "networks[1] (vlan120).subnets[0].subnet" in problems and "172.16.48.0/22" in problems
        assert "networks[2] (vlan130).subnets[0].subnet" in problems and "10.1.0.0/16" in problems
        assert scr.query_one("#map-apply").disabled and scr.why_not() == "fix the problems first"
        assert not scr.query_one("#map-diff").display
        assert scr.query_one("#map-path").has_class("-invalid-field")

        path.write_text(WORSE)
        await pilot.click("#map-check")
        await settle(pilot, scr)
        problems = text_of(scr.query_one("#map-problems"))
        assert "networks[1] (vlan120).vlan" in problems and "1-4094" in problems
        assert "networks[2] (vlan110).name" in problems and "also the name of networks[0]" in problems
        assert problems.count("\n  networks[") == 2, problems
        assert scr.query_one("#map-apply").disabled

        # Path problems sit under the path field.
        await type_path(pilot, scr, str(tmp_path / "nope.toml"))
        err = scr.query_one("#err-map-path")
        assert err.display and "no such file" in text_of(err)
        assert scr.query_one("#map-apply").disabled
        await type_path(pilot, scr, "")
        assert "is empty" in text_of(scr.query_one("#err-map-path"))
        await type_path(pilot, scr, str(tmp_path))
        assert "is a directory" in text_of(scr.query_one("#err-map-path"))
        # Pressing Apply anyway does nothing.
        await pilot.click("#map-apply")
        await pilot.pause(0.2)
        assert not scr._busy
    assert (sorted(l.name for l in ctl.kernel.inventory().links), ctl.store.networks()) == before


async def test_prune_checkbox_replans_and_palette_entry_opens_the_screen(ctl, tmp_path):
    """The demo's three networks are extras for this map: left alone, unless --prune."""
    path = tmp_path / "netops.toml"
    path.write_text(FIXED)
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Apply map file" in titles
        app.action_apply_map()
        await until(pilot, lambda: isinstance(app.screen, MapApplyScreen)
                    and app.screen.query("#map-apply"), what="the map screen")
        scr = app.screen
        await type_path(pilot, scr, str(path))
        diff = text_of(scr.query_one("#map-diff"))
        assert "- extra    network db_net" in diff
        plan = text_of(scr.query_one("#map-plan"))
        assert "Left alone:" in plan and "db_net: extra, not in the map (--prune removes it)" in plan
        assert "remove" not in plan.split("Left alone:")[0]
        await pilot.click("#map-prune")
        await settle(pilot, scr)
        plan = text_of(scr.query_one("#map-plan"))
        assert "Left alone:" not in plan and "db_net" in plan.split("The plan:")[1]
    assert {"db_net", "web_l3", "lab_iso"} <= nets(ctl)  # shown, never applied


async def test_failed_unit_is_rolled_back_and_shown_others_applied(ctl, tmp_path, monkeypatch):
    path = tmp_path / "netops.toml"
    path.write_text(FIXED)
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        scr = await open_screen(pilot)
        await type_path(pilot, scr, str(path))
        monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", "network create vlan120:2")
        await pilot.click("#map-apply")
        await until(pilot, lambda: scr._applied is not None and not scr._busy, what="the apply")
        await settle(pilot, scr)
        progress = text_of(scr.query_one("#map-plan"))
        assert "✗ create network vlan120" in progress
        assert "✗ create 802.1q sub-interface eth0.120" in progress  # the step that failed
        assert "↺ record network vlan120" in progress  # and what was undone
        assert "✓ create network vlan130" in progress
        result = text_of(scr.query_one("#map-result"))
        assert "2 done, 1 failed" in result and "rolled back" in result
        # vlan120 is still missing: Apply is offered again for it.
        assert "+ missing  network vlan120" in text_of(scr.query_one("#map-diff"))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MapApplyScreen), what="closed")
    assert ctl.store.network("vlan120") is None and not ctl.kernel.link_exists("eth0.120")
    assert {"vlan110", "vlan130"} <= nets(ctl)


async def test_read_only_shows_the_diff_and_plan_but_cannot_apply(make_ctl, tmp_path):
    ctl = make_ctl(root=False)
    path = tmp_path / "netops.toml"
    path.write_text(FIXED)
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        scr = await open_screen(pilot)
        await type_path(pilot, scr, str(path))
        assert "+ missing  network vlan110" in text_of(scr.query_one("#map-diff"))
        assert "The plan:" in text_of(scr.query_one("#map-plan"))
        assert scr.query_one("#map-apply").disabled and scr.why_not().startswith("read-only")
    assert "vlan110" not in nets(ctl)
