"""The console's network detail shows the routes an L3 network needs elsewhere (as `ipvlan-tui routes`)."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from ipvlan_tui import routes
from ipvlan_tui.tui import detail, rows


def _render(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


def test_l3_network_detail_shows_the_routes_the_cli_prints(ctl):
    topo = ctl.topology()
    built, idx = rows.build_rows(topo)
    web = next(r.obj for r in built[rows.NETWORKS] if r.key == "network:web_l3")
    text = _render(detail.detail_for(web, idx))
    assert "Routes other hosts need" in text and "ipvlan-tui routes web_l3" in text
    found, _ = routes.needed_routes([n.spec for n in topo.networks], topo.inventory, only="web_l3")
    assert found, "the demo's L3 network needs routes"
    for line in routes.render_ip(found).splitlines():
        if line.startswith("ip "):
            assert line in text  # the same next hop the CLI prints
    for r in found:
        assert f"ip route add {r.subnet} via ?" in text
    assert "? parent eth1 has no IPv4 address to route to" in text  # the fix, said once

    # Once the parent has an address, the detail shows it as the next hop.
    eth1 = dataclasses.replace(idx.link_by_name["eth1"], addresses=("10.0.5.2/24",))
    idx2 = dataclasses.replace(idx, link_by_name={**idx.link_by_name, "eth1": eth1})
    text = _render(detail.detail_for(web, idx2))
    assert "ip route add 10.20.0.0/24 via 10.0.5.2" in text and "ip route add 10.21.0.0/24 via 10.0.5.2" in text
    assert "via ?" not in text


def test_l2_network_detail_has_no_routes_section(ctl):
    built, idx = rows.build_rows(ctl.topology())
    db = next(r.obj for r in built[rows.NETWORKS] if r.key == "network:db_net")
    assert "Routes other hosts need" not in _render(detail.detail_for(db, idx))
