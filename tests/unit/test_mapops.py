"""mapops: the console's entry point to map files (preview, apply with progress), on the fake kernel."""

from __future__ import annotations

import pytest

from ipvlan_tui import mapfile, mapops
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import ValidationError
from ipvlan_tui.store import Store
from tests.unit.test_mapfile import NETOPS_DOC, NETOPS_FIXED


@pytest.fixture
def ctl(tmp_path):
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc", root=True)
    yield c
    c.store.close()


def test_preview_changes_nothing_and_bad_maps_come_back_as_errors(ctl, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(NETOPS_DOC)
    pv = mapops.preview(ctl, str(bad))
    assert not pv.ok and [e.field for e in pv.errors] == [
        "networks[1] (vlan20).subnets[0].subnet", "networks[2] (vlan30).subnets[0].subnet"]
    assert [e.field for e in mapops.preview(ctl, "").errors] == ["path"]
    assert "is a directory" in mapops.preview(ctl, str(tmp_path)).errors[0].problem
    assert "no such file" in mapops.preview(ctl, str(tmp_path / "nope.toml")).errors[0].problem
    with pytest.raises(ValidationError):
        mapops.apply_map(ctl, pv)
    good = tmp_path / "good.toml"
    good.write_text(NETOPS_FIXED)
    pv = mapops.preview(ctl, str(good))
    assert pv.ok and pv.unit_titles == ("create network vlan10", "create network vlan20",
                                        "create network vlan30")
    assert ctl.store.networks() == []


def test_apply_reports_units_and_steps_then_nothing_to_do(ctl, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(NETOPS_FIXED)
    events = []
    applied = mapops.apply_map(ctl, mapops.preview(ctl, str(good)),
                               on_unit_start=lambda n, title, steps: events.append(("unit", n, title)),
                               on_step=lambda n, call, i, step, ev: events.append(("step", n, call, i, ev)),
                               on_unit_done=lambda n, line, ok: events.append(("done", n, ok)))
    assert len(applied.result.done) == 3 and not applied.result.failed
    assert ("unit", 1, "create network vlan20") in events and ("done", 2, True) in events
    assert ("step", 1, 0, 1, "done") in events  # vlan20's second step (its VLAN link)
    again = mapops.preview(ctl, str(good))
    assert again.nothing_to_do and "no change made" in again.nothing_to_do_text()


def test_host_changed_since_the_preview_runs_nothing(ctl, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(NETOPS_FIXED)
    pv = mapops.preview(ctl, str(good))
    # Someone else makes vlan10 meanwhile: the plan shown is no longer the plan.
    mf = mapfile.load(good)
    units, _ = mapfile.plan_apply(ctl, mapfile.compute_diff(mf, ctl))
    units[0].run()
    before = ctl.store.networks()
    applied = mapops.apply_map(ctl, pv)
    assert applied.changed_since_preview and not applied.result.done
    assert ctl.store.networks() == before
