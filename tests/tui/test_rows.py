"""Pure view-model tests: rows, filter, detail commands (no Textual running)."""

from __future__ import annotations

from rich.console import Console

from ipvlan_tui.tui import detail, rows


def _render(renderable) -> str:
    console = Console(width=200, record=True, file=None)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


def test_rows_per_panel(ctl):
    built, idx = rows.build_rows(ctl.topology())
    names = {p: [r.cells[0].plain for r in built[p]] for p in rows.PANELS}
    assert "eth0" in names[rows.LINKS] and "lo" not in names[rows.LINKS]
    assert set(names[rows.VLANS]) == {"foo", "eth0.10"}
    assert set(names[rows.NETWORKS]) == {"db_net", "web_l3", "lab_iso"}
    assert set(names[rows.ENDPOINTS]) == {"db1", "db2", "web1", "web2", "probe"}
    vlans = {r.cells[0].plain: r.cells[3].plain for r in built[rows.VLANS]}
    assert vlans == {"foo": "by hand", "eth0.10": "this tool"}
    eth0 = next(r for r in built[rows.LINKS] if r.key == "link:eth0")
    assert eth0.cells[6].plain == "2"  # VLANs on eth0: foo, eth0.10
    assert eth0.cells[7].plain == "1"  # networks: db_net via eth0.10


def test_filter_matches_every_word(ctl):
    built, _ = rows.build_rows(ctl.topology())
    nets = built[rows.NETWORKS]
    assert [r.key for r in rows.filter_rows(nets, "l3 eth1")] == ["network:web_l3"]
    assert rows.filter_rows(nets, "") == nets
    assert rows.filter_rows(nets, "nothing-like-this") == []


def test_mode_badge_styles_only_the_mode():
    badge = rows.mode_badge("l3", "private")
    assert badge.plain == " L3  private"
    assert badge.style == ""  # the base style stays plain; the flag is not on the badge colour


def test_network_detail_has_recreate_commands(ctl):
    topo = ctl.topology()
    built, idx = rows.build_rows(topo)
    db = next(r.obj for r in built[rows.NETWORKS] if r.key == "network:db_net")
    text = _render(detail.detail_for(db, idx))
    assert "made by this tool, deleted with the network" in text
    assert "docker network create -d ipvlan --subnet 192.168.10.0/24" in text
    assert "-o parent=eth0.10" in text
    web = next(r.obj for r in built[rows.NETWORKS] if r.key == "network:web_l3")
    cmds = detail.network_commands(web)
    assert "--gateway" not in cmds[0]  # L3: the gateway is ignored
    assert "-o ipvlan_mode=l3" in cmds[0]


def test_endpoint_detail_commands(ctl):
    topo = ctl.topology()
    built, idx = rows.build_rows(topo)
    db2 = next(r.obj for r in built[rows.ENDPOINTS] if r.key == "endpoint:db2")
    cmds = detail.endpoint_commands(db2, idx.network_by_name["db_net"])
    assert "ip netns add db2" in cmds
    assert "ip link add link eth0.10 name eth0 netns db2 type ipvlan mode l2 bridge" in cmds
    assert "ip -n db2 addr add 192.168.10.20/24 dev eth0" in cmds
    assert "ip -n db2 route add default via 192.168.10.1 dev eth0" in cmds
    web1 = next(r.obj for r in built[rows.ENDPOINTS] if r.key == "endpoint:web1")
    cmds = detail.endpoint_commands(web1, idx.network_by_name["web_l3"])
    assert "ip -n web1 route add default dev eth0" in cmds


def test_vlan_by_hand_is_never_deleted_text(ctl):
    topo = ctl.topology()
    built, idx = rows.build_rows(topo)
    foo = next(r.obj for r in built[rows.VLANS] if r.key == "vlan:foo")
    text = _render(detail.detail_for(foo, idx))
    assert "never deleted" in text
    assert "ip link add link eth0 name foo type vlan id 40" in text


def test_tui_imports_no_pyroute2_or_docker():
    import subprocess
    import sys
    code = ("import sys, ipvlan_tui.tui.app, ipvlan_tui.tui.wizard, ipvlan_tui.tui.ping, "
            "ipvlan_tui.tui.attach; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pyroute2', 'docker')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
