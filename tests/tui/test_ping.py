"""The ping pane: one probe with live results and its verdict; the matrix."""

from __future__ import annotations

from ipvlan_tui.model import Topology
from ipvlan_tui.probe import ProbeJob
from ipvlan_tui.tui import actions
from ipvlan_tui.tui.ping import PingPane, aggregate

from .conftest import SIZE, app_for, loaded, text_of, until


def test_simulated_probe_follows_predictions(ctl):
    topo = ctl.topology()
    jobs = [ProbeJob("db1", "192.168.10.20", "db1", "db2", count=3),
            ProbeJob("db1", "10.20.0.1", "db1", "web1", count=2)]
    same, other = actions.simulated_probe_many(jobs, topo)
    assert (same.received, same.loss, len(same.rtts)) == (3, 0.0, 3)
    assert (other.received, other.loss) == (0, 1.0)
    agg = aggregate([same], "db1", "db2", "192.168.10.20")
    assert agg.sent == 3 and agg.rtt_min <= agg.rtt_avg <= agg.rtt_max


def test_resolve_ping_target(ctl):
    topo = ctl.topology()
    assert actions.resolve_ping_target(topo, "db2").label == "db2"
    assert actions.resolve_ping_target(topo, "parent").target == "parent"
    assert actions.resolve_ping_target(topo, "10.1.2.3").target == "10.1.2.3"
    import pytest
    from ipvlan_tui.errors import ValidationError
    with pytest.raises(ValidationError):
        actions.resolve_ping_target(topo, "no-such-thing")
    with pytest.raises(ValidationError):
        actions.resolve_ping_target(Topology(), "")


async def test_ping_pane_live_results_and_verdicts(ctl):
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("4")
        app.query_one("#table-endpoints").select_key("endpoint:db1")
        await pilot.press("p")
        await pilot.pause()
        assert app.query_one("#right").active == "tab-ping"
        pane = app.query_one(PingPane)
        assert pane.query_one("#ping-source").value == "db1"
        pane.query_one("#ping-target").value = "db2"
        pane.query_one("#ping-count").value = "4"
        pane.query_one("#ping-interval").value = "0.01"
        await pilot.click("#ping-go")
        await until(pilot, lambda: "expected" in text_of(pane.query_one("#ping-expect")),
                    what="the verdict")
        assert pane.query_one("#ping-replies").row_count == 4
        assert len(pane.query_one("#ping-spark").data) == 4
        summary = text_of(pane.query_one("#ping-summary"))
        assert "4 sent, 4 received" in summary and "0% loss" in summary
        assert "simulated" in summary
        # The parent: unreachable by design, and the pane says why (expected, not a mystery).
        pane.query_one("#ping-target").value = "parent"
        pane.query_one("#ping-count").value = "1"
        await pilot.click("#ping-go")
        await until(pilot, lambda: "✓ expected" in text_of(pane.query_one("#ping-expect")),
                    what="the parent verdict")
        said = text_of(pane.query_one("#ping-expect"))
        assert "parent" in said and "kernel" in said
        # A bad target is refused with the reason.
        pane.query_one("#ping-target").value = "nowhere"
        pane.query_one("#ping-target").focus()
        await pilot.pause()
        await pilot.press("enter")  # Input.Submitted starts a ping too (no click a toast can eat)
        await until(pilot, lambda: "neither an endpoint" in text_of(pane.query_one("#ping-expect")),
                    what="the refusal")


async def test_ping_matrix_for_a_network_and_all(ctl):
    app = app_for(ctl)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        app.query_one("#table-networks").select_key("network:web_l3")
        await pilot.press("p")
        await pilot.pause()
        pane = app.query_one(PingPane)
        assert pane.query_one("#ping-network").value == "web_l3"
        await pilot.click("#ping-matrix-go")
        verdicts = pane.query_one("#matrix-verdicts")
        await until(pilot, lambda: verdicts.row_count == 2, what="2 pairs")
        grid = pane.query_one("#matrix-grid")
        assert grid.row_count == 2 and len(grid.columns) == 3
        pane.query_one("#ping-network").value = "__all__"
        await pilot.pause()
        pane.focus()
        await pilot.press("m")
        await until(pilot, lambda: verdicts.row_count == 20, what="20 pairs")
        rows = [verdicts.get_row_at(i) for i in range(verdicts.row_count)]
        assert all(str(r[3]).endswith("expected") for r in rows)
        reasons = " ".join(str(r[4]) for r in rows)
        assert "L3" in reasons and ("router" in reasons or "isolated" in reasons
                                    or "internal" in reasons)
