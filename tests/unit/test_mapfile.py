"""The declarative VLAN map on the in-memory kernel: parse, check, diff, apply, export, import.

Breadth only; tests/kernel/test_mapfile_kernel.py proves the same on a real kernel.
"""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from ipvlan_tui import cli, mapcli, mapfile
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import EndpointRequest, NetworkRequest
from ipvlan_tui.store import Store
from tests.netops import netops_map

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

NETOPS_DOC = netops_map()
NETOPS_FIXED = NETOPS_DOC.replace("172.16.50.0/22", "172.16.48.0/22").replace("10.1.100.0/16", "10.1.0.0/16")


@pytest.fixture
def ctl(tmp_path, monkeypatch):
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc", root=True)
    monkeypatch.setattr(cli, "_ctl", lambda args: c)
    yield c
    c.store.close()


def run(*argv: str) -> tuple[int, str, str]:
    """The command through cli.main once the lead wired it, else through our own parser."""
    out, err = io.StringIO(), io.StringIO()
    if "diff" in cli.HANDLERS:
        rc = cli.main(list(argv), out, err)
    else:
        top = cli._Parser(prog="ipvlan-tui", allow_abbrev=False)
        cli._common(top, sub=False)
        subs = top.add_subparsers(dest="cmd", parser_class=cli._Parser)
        mapcli.add_parsers(subs)
        args = top.parse_args(list(argv))
        rc = mapcli.HANDLERS[args.cmd](args, out, err)
    return rc, out.getvalue(), err.getvalue()


def write(tmp_path, text: str, name: str = "map.toml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def problems(text: str, ctl) -> list[ValidationError]:
    with pytest.raises(ValidationError) as info:
        mapfile.compute_diff(mapfile.parse(text, "map.toml"), ctl)
    return info.value.errors


def state(c: Controller):
    inv = c.kernel.inventory()
    return (sorted((l.netns, l.name) for l in inv.links), c.store.networks(), c.store.endpoints())


# ----------------------------------------------------------------- the NetOps table
def test_netops_table_reports_both_host_bit_mistakes_at_once(ctl):
    errs = problems(NETOPS_DOC, ctl)
    assert len(errs) == 2
    by_field = {e.field: e for e in errs}
    e20 = by_field["networks[1] (vlan20).subnets[0].subnet"]
    e30 = by_field["networks[2] (vlan30).subnets[0].subnet"]
    assert "host bits" in e20.problem and "172.16.48.0/22" in e20.fix
    assert "host bits" in e30.problem and "10.1.0.0/16" in e30.fix
    # The gateways typed with them are not reported a second time.
    assert not any("gateway" in e.field for e in errs)


def test_netops_table_through_the_cli_exit_2_nothing_changed(ctl, tmp_path):
    before = state(ctl)
    for cmd in (["diff"], ["apply"], ["apply", "--dry-run"]):
        rc, out, err = run(*cmd, write(tmp_path, NETOPS_DOC))
        assert rc == 2, (cmd, out, err)
        assert "2 problems" in err and "172.16.48.0/22" in err and "10.1.0.0/16" in err
        assert "networks[1] (vlan20).subnets[0]" in err
    assert state(ctl) == before


def test_corrected_table_applies_then_second_apply_changes_nothing(ctl, tmp_path):
    path = write(tmp_path, NETOPS_FIXED)
    rc, out, _ = run("diff", path)
    assert rc == 1 and out.count("missing") >= 3
    rc, out, err = run("apply", path)
    assert rc == 0, err
    assert "ip link add link eth0 name eth0.20 type vlan id 20" in out  # the plan, with commands
    for vid in (10, 20, 30):
        assert ctl.kernel.link_exists(f"eth0.{vid}")
    specs = {s.name: s for s, _ in ctl.store.networks()}
    assert specs["vlan20"].subnets[0].cidr == "172.16.48.0/22"
    assert specs["vlan20"].subnets[0].gateway == "172.16.50.1"
    rc, out, _ = run("diff", path)
    assert rc == 0 and "in sync" in out
    calls = list(ctl.kernel.calls)
    before = state(ctl)
    rc, out, _ = run("apply", path)
    assert rc == 0 and "nothing to do" in out
    assert ctl.kernel.calls == calls and state(ctl) == before


def test_dry_run_shows_the_plan_and_changes_nothing(ctl, tmp_path):
    before = state(ctl)
    rc, out, _ = run("apply", "--dry-run", write(tmp_path, NETOPS_FIXED))
    assert rc == 0
    assert out.startswith("apply map.toml:")
    assert "1. record network vlan10" in out and "$ ip link add link eth0 name eth0.10" in out
    assert "dry run" in out
    assert state(ctl) == before


# ------------------------------------------------------------------------ bad maps
BAD_MAP = """\
version = 1
[defaults]
trunk = "eth0"
mdoe = "l2"

[[networks]]
name = "a"
vlan = 5000
subnets = [{ subnet = "10.10.0.0/24" }]

[[networks]]
name = "a"
vlan = 11
subnets = [{ subnet = "10.20.0.0/24", gatway = "10.20.0.1" }]

[[networks]]
name = "b"
vlan = 12
subnets = [{ subnet = "10.20.0.0/25" }]

[[networks]]
name = "c"
vlan = 12
mode = "l4"
subnets = [{ subnet = "10.30.0.0/24" }]
"""


def test_bad_map_every_problem_at_once(ctl, tmp_path):
    errs = problems(BAD_MAP, ctl)
    text = "\n".join(str(e) for e in errs)
    assert "defaults.mdoe" in text and "did you mean mode" in text
    assert "networks[0] (a).vlan 5000" in text and "1-4094" in text
    assert "networks[1] (a).name a: is also the name of networks[0] (a)" in text
    assert "networks[1] (a).subnets[0].gatway" in text and "did you mean gateway" in text
    assert "networks[2] (b).subnets[0].subnet 10.20.0.0/25: overlaps 10.20.0.0/24" in text
    assert "networks[3] (c).vlan eth0.12: is also the parent of networks[2] (b)" in text
    assert "networks[3] (c).mode l4" in text
    before = state(ctl)
    rc, out, err = run("apply", write(tmp_path, BAD_MAP))
    assert rc == 2 and "nothing was changed" in err
    assert err.count("\n  ") >= 7
    assert state(ctl) == before


def test_bad_toml_is_exit_2(ctl, tmp_path):
    rc, _, err = run("diff", write(tmp_path, "[[networks]\nname = 1\n"))
    assert rc == 2 and "not valid TOML" in err


def test_missing_file_is_exit_2(ctl, tmp_path):
    rc, _, err = run("diff", str(tmp_path / "nope.toml"))
    assert rc == 2 and "no such file" in err


@pytest.mark.parametrize("body,field,words", [
    ('name = "x"\nvlan = "20"', "networks[0] (x).vlan", "no quotes"),
    ('name = "x"\nvlan = 0', "networks[0] (x).vlan", "1-4094"),
    ('name = "x"\nparent = "eth9"', "networks[0] (x).parent", "no such link"),
    ('name = "x"\nparent = "eth0.21"\nvlan = 20', "networks[0] (x).parent", "VLAN 21"),
    ('name = "x"\nparent = "eth1"\nvlan = 20', "networks[0] (x).parent", 'trunk = "eth1"'),
    ('name = "x"\nparent = "foo"\nvlan = 20', "networks[0] (x).parent", "is VLAN 40"),
    ('name = "x"\ntrunk = "eth1"', "networks[0] (x).trunk", "only used with vlan"),
    ('name = "x"\nvlan = 40', "networks[0] (x).vlan", "already exists as foo"),
    ('name = "x"\nsubnets = [{ subnet = "10.9.0.0/24", gateway = "10.8.0.1" }]',
     "networks[0] (x).subnets[0].gateway", "not inside its subnet"),
    ('name = "x"\nsubnets = [{ subnet = "192.168.1.0/24" }]\nendpoints = [{ name = "e", ip = "10.0.0.1" }]',
     "networks[0] (x).endpoints[0] (e).ip", "not inside"),
    ('name = "x"\nsubnets = [{ subnet = "10.9.0.0/24", ip_range = "10.9.1.0/28" }]',
     "networks[0] (x).subnets[0].ip_range", "not inside its subnet 10.9.0.0/24"),
    ('name = "x"\nsubnets = [{ subnet = "10.9.0.0/24" }, { subnet = "10.8.0.0/24", gateway = "10.9.0.1" }]',
     "networks[0] (x).subnets[1].gateway", "not inside its subnet 10.8.0.0/24"),
    ('name = "x"\nvlan = 9\nsubnets = [{ subnet = "10.9.0.0/24", aux_addresses = { r = "10.9.0.1" } }]',
     "networks[0] (x).subnets[0].aux_addresses.r", "default gateway"),
    ('vlan = 20', "networks[0].name", "is missing"),
])
def test_entry_problems_name_entry_and_field(ctl, body, field, words):
    doc = f'[defaults]\ntrunk = "eth0"\n[[networks]]\n{body}\n'
    errs = problems(doc, ctl)
    hit = [e for e in errs if e.field.startswith(field)]
    assert hit, [str(e) for e in errs]
    assert any(words in str(e) for e in hit), [str(e) for e in hit]


def test_map_entry_clashing_with_live_network_not_in_map(ctl):
    ctl.create_network(NetworkRequest("other", subnets=("172.16.80.0/25",), options=("parent=eth0.10",)))
    errs = problems(NETOPS_FIXED, ctl)
    text = "\n".join(map(str, errs))
    assert "networks[0] (vlan10).subnets[0].subnet 172.16.80.0/24: overlaps 172.16.80.0/25 of network other" in text
    assert "networks[0] (vlan10).vlan" in text and "already the parent of ipvlan network other" in text


def test_hosts_guard(ctl):
    errs = problems('[defaults]\nhosts = ["some-other-machine"]\n[[networks]]\nname = "x"\n', ctl)
    assert errs[0].field == "defaults.hosts"


# ------------------------------------------------------------------- diff and drift
def test_diff_reports_missing_extra_and_drift(ctl, tmp_path):
    run("apply", write(tmp_path, NETOPS_FIXED))
    ctl.create_network(NetworkRequest("old", subnets=("10.77.0.0/24",), options=("parent=eth1",)))
    drifted = NETOPS_FIXED.replace('name = "vlan30"\nvlan = 30', 'name = "vlan30"\nvlan = 30\nmode = "l3"')
    drifted = drifted.replace('"10.1.0.0/16", gateway = "10.1.100.1"', '"10.1.0.0/24", gateway = "10.1.0.1"') + \
        '\n[[networks]]\nname = "vlan40"\nvlan = 41\nsubnets = [{ subnet = "10.41.0.0/24" }]\n'
    rc, out, _ = run("diff", "--json", write(tmp_path, drifted))
    assert rc == 1
    import json
    changes = {c["network"]: c for c in json.loads(out)["changes"] if c["endpoint"] is None}
    assert changes["vlan10"]["kind"] == "in-sync"
    assert changes["vlan30"]["kind"] == "drift"
    assert any("mode: map l3, live l2" in d for d in changes["vlan30"]["details"])
    assert any("subnets: map 10.1.0.0/24; live 10.1.0.0/16 gw 10.1.100.1" in d for d in changes["vlan30"]["details"])
    assert changes["vlan40"]["kind"] == "missing"
    assert changes["old"]["kind"] == "extra"


def test_apply_leaves_drift_and_extras_alone_unless_asked(ctl, tmp_path):
    run("apply", write(tmp_path, NETOPS_FIXED))
    ctl.run_endpoint(EndpointRequest("a30", "vlan30"))
    ctl.create_network(NetworkRequest("old", subnets=("10.77.0.0/24",), options=("parent=eth1",)))
    drifted = write(tmp_path, NETOPS_FIXED.replace('vlan = 30', 'vlan = 30\nmode = "l3"'), "drift.toml")
    rc, out, err = run("apply", drifted)
    assert rc == 0 and "nothing to do" in out
    assert "vlan30: drifted" in err and "--replace" in err
    assert "network old: extra" in err and "--prune" in err
    assert ctl.store.network("old") is not None
    assert ctl.store.network("vlan30")[0].mode == "l2"

    rc, out, err = run("apply", "--replace", "--prune", drifted)
    assert rc == 0, err
    assert ctl.store.network("old") is None and not ctl.kernel.link_exists("itd-old")
    assert ctl.store.network("vlan30")[0].mode == "l3"
    assert ctl.kernel.link_exists("eth0.30") and ctl.kernel.link_exists("eth1")
    assert run("diff", drifted)[0] == 0


def test_prune_never_touches_links_made_by_hand(ctl, tmp_path):
    ctl.create_network(NetworkRequest("v40", subnets=("10.40.0.0/24",), options=("parent=foo",)))
    rc, _, err = run("apply", "--prune", write(tmp_path, NETOPS_FIXED))
    assert rc == 0, err
    assert ctl.store.network("v40") is None and ctl.kernel.link_exists("foo")


def test_vlan_deleted_by_hand_shows_in_diff_and_apply_repairs(ctl, tmp_path):
    path = write(tmp_path, NETOPS_FIXED.replace(
        'gateway = "172.16.50.1" }]', 'gateway = "172.16.50.1" }]\n'
        'endpoints = [{ name = "a20", ip = "172.16.48.10" }, { name = "b20" }]'))
    assert run("apply", path)[0] == 0
    assert ctl.kernel.link_exists("eth0", ) and ctl.kernel.link_exists("eth0", "a20")
    ctl.kernel.delete_link("eth0.20")  # `ip link del eth0.20` by hand (its ipvlans go with it)
    rc, out, _ = run("diff", path)
    assert rc == 1
    assert "network vlan20: broken (parent eth0.20 is missing from the kernel" in out
    assert "endpoint a20 on vlan20: broken" in out
    rc, out, err = run("apply", path)
    assert rc == 0, err
    assert "restore" in out
    assert ctl.kernel.link_exists("eth0.20") and ctl.kernel.link_exists("eth0", "a20")
    assert run("diff", path)[0] == 0


def test_endpoints_missing_extra_and_drift(ctl, tmp_path):
    doc = NETOPS_FIXED.replace('gateway = "172.16.80.1" }]', 'gateway = "172.16.80.1" }]\n'
                               'endpoints = [{ name = "a10", ip = "172.16.80.10" }, { name = "b10" }]')
    path = write(tmp_path, doc)
    assert run("apply", path)[0] == 0
    assert ctl.store.endpoint("a10").ipv4 == "172.16.80.10"
    assert ctl.store.endpoint("b10").ipv4 == "172.16.80.2"
    ctl.run_endpoint(EndpointRequest("stray", "vlan10"))
    moved = write(tmp_path, doc.replace("172.16.80.10", "172.16.80.11"), "moved.toml")
    rc, out, _ = run("diff", moved)
    assert rc == 1
    assert "~ endpoint a10 on vlan10: drift (ip: map 172.16.80.11, live 172.16.80.10)" in out
    assert "- endpoint stray on vlan10: extra" in out
    rc, out, err = run("apply", "--replace", "--prune", moved)
    assert rc == 0, err
    assert ctl.store.endpoint("a10").ipv4 == "172.16.80.11" and ctl.store.endpoint("stray") is None
    assert run("diff", moved)[0] == 0


def test_failed_network_is_rolled_back_others_kept(ctl, tmp_path, monkeypatch):
    monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", "network create vlan20:2")
    before_links = {l.name for l in ctl.kernel.inventory().links}
    rc, out, err = run("apply", write(tmp_path, NETOPS_FIXED))
    assert rc == 1
    assert "vlan20" in err and "injected fault" in err
    assert ctl.store.network("vlan20") is None and not ctl.kernel.link_exists("eth0.20")
    assert ctl.store.network("vlan10") and ctl.store.network("vlan30")
    assert {l.name for l in ctl.kernel.inventory().links} == before_links | {"eth0.10", "eth0.30"}


def test_endpoint_failure_rolls_back_its_network(ctl, tmp_path, monkeypatch):
    doc = NETOPS_FIXED.replace('gateway = "172.16.80.1" }]', 'gateway = "172.16.80.1" }]\n'
                               'endpoints = [{ name = "a10" }]')
    monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", "run a10:3")
    rc, _, err = run("apply", write(tmp_path, doc))
    assert rc == 1 and "rolled back" in err
    assert ctl.store.network("vlan10") is None and not ctl.kernel.link_exists("eth0.10")
    assert ctl.store.endpoint("a10") is None and not ctl.kernel.netns_exists("a10")


def test_not_root_apply_fails_before_touching_anything(ctl, tmp_path):
    ctl.root = False
    before = state(ctl)
    rc, _, err = run("apply", write(tmp_path, NETOPS_FIXED))
    assert rc == 1 and "root" in err
    assert state(ctl) == before
    assert run("apply", "--dry-run", write(tmp_path, NETOPS_FIXED))[0] == 0


# -------------------------------------------------------------------------- export
def _populate(ctl):
    ctl.create_network(NetworkRequest("vlan20", subnets=("172.16.48.0/22",), gateways=("172.16.50.1",),
                                      options=("parent=eth0.20",)))
    ctl.create_network(NetworkRequest("v40", subnets=("192.168.40.0/24",), options=("parent=foo",),
                                      aux_addresses=("router=192.168.40.5",), ip_ranges=("192.168.40.128/25",)))
    ctl.create_network(NetworkRequest("l3net", subnets=("192.168.214.0/24", "2001:db8:abc6::/64"),
                                      options=("parent=eth1", "ipvlan_mode=l3")))
    ctl.create_network(NetworkRequest("iso", subnets=("192.168.11.0/24",), internal=True))
    ctl.run_endpoint(EndpointRequest("a20", "vlan20", ipv4="172.16.48.9"))
    ctl.run_endpoint(EndpointRequest("b214", "l3net", ipv4="192.168.214.7", ipv6="2001:db8:abc6::7"))


def _shape(ctl):
    out = {}
    for s, st in ctl.store.networks():
        out[s.name] = (s.mode, s.flag, s.internal, s.isolated,
                       None if s.isolated else s.parent.name,
                       tuple((x.cidr, x.gateway, x.ip_range, x.aux_addresses) for x in s.subnets), st)
    eps = {e.name: (e.network, e.ipv4, e.ipv6) for e, _ in ctl.store.endpoints()}
    return out, eps


def test_export_delete_apply_round_trip(ctl, tmp_path):
    _populate(ctl)
    before = _shape(ctl)
    rc, text, _ = run("export")
    assert rc == 0
    doc = tomllib.loads(text)
    assert {n["name"] for n in doc["networks"]} == {"vlan20", "v40", "l3net", "iso"}
    assert next(n for n in doc["networks"] if n["name"] == "vlan20")["vlan"] == 20
    assert next(n for n in doc["networks"] if n["name"] == "v40")["parent"] == "foo"
    path = write(tmp_path, text, "export.toml")
    assert run("diff", path)[0] == 0  # the export is in sync with what it came from
    for name in ("vlan20", "v40", "l3net", "iso"):
        ctl.remove_network(name, force=True)
    assert not ctl.kernel.link_exists("eth0.20") and ctl.kernel.link_exists("foo")
    rc, out, err = run("apply", path)
    assert rc == 0, err
    assert _shape(ctl) == before
    assert run("diff", path)[0] == 0


def test_export_named_networks_and_unknown_name(ctl):
    _populate(ctl)
    rc, text, _ = run("export", "vlan20")
    assert rc == 0 and [n["name"] for n in tomllib.loads(text)["networks"]] == ["vlan20"]
    rc, _, err = run("export", "nope")
    assert rc == 2 and "no such network" in err


def test_export_compose_block(ctl):
    _populate(ctl)
    rc, text, _ = run("export", "--format", "compose")
    assert rc == 0
    import yaml
    doc = yaml.safe_load(text)["networks"]
    assert doc["vlan20"]["driver"] == "ipvlan"
    assert doc["vlan20"]["driver_opts"] == {"parent": "eth0.20", "ipvlan_mode": "l2", "ipvlan_flag": "bridge"}
    assert doc["vlan20"]["ipam"]["config"] == [{"subnet": "172.16.48.0/22", "gateway": "172.16.50.1"}]
    assert doc["v40"]["ipam"]["config"][0]["aux_addresses"] == {"router": "192.168.40.5"}
    assert doc["v40"]["ipam"]["config"][0]["ip_range"] == "192.168.40.128/25"
    assert doc["l3net"]["driver_opts"]["ipvlan_mode"] == "l3"
    assert doc["l3net"]["enable_ipv6"] is True
    assert "gateway" not in doc["l3net"]["ipam"]["config"][0]
    assert doc["iso"]["internal"] is True and "parent" not in doc["iso"]["driver_opts"]


def test_export_docker_lines_recreate_the_same_networks(ctl, tmp_path):
    _populate(ctl)
    before = _shape(ctl)[0]
    rc, text, _ = run("export", "--format", "docker")
    assert rc == 0
    lines = text.strip().splitlines()
    assert len(lines) == 4 and all(l.startswith("docker network create -d ipvlan ") for l in lines)
    assert ("docker network create -d ipvlan --subnet=172.16.48.0/22 --gateway=172.16.50.1 "
            "-o parent=eth0.20 -o ipvlan_mode=l2 -o ipvlan_flag=bridge vlan20") in lines
    # Every line is a valid `network create` for our own CLI too: replay them on a fresh host.
    import shlex
    fresh = Controller(FakeKernel.demo(), Store(tmp_path / "fresh"), hosts_root=tmp_path / "etc2", root=True)
    p = cli.build_parser()
    for line in lines:
        argv = shlex.split(line)[1:]
        args = p.parse_args(argv)
        fresh.create_network(NetworkRequest(
            name=args.name, subnets=tuple(args.subnet), gateways=tuple(args.gateway),
            ip_ranges=tuple(args.ip_range), aux_addresses=tuple(args.aux_address),
            options=tuple(args.opt), internal=args.internal, ipv6=args.ipv6))
    after = {n: v for n, v in _shape(fresh)[0].items()}
    strip = lambda d: {k: v[:3] + v[4:] for k, v in d.items()}  # isolated dummy names differ
    assert strip(after) == strip(before)
    fresh.store.close()


# -------------------------------------------------------------------- import-table
def test_import_table_netops_example(ctl, tmp_path):
    out_path = tmp_path / "netops.toml"
    rc, out, err = run("import-table", str(EXAMPLES / "netops.csv"), "-o", str(out_path))
    assert rc == 2  # written, but the table has NetOps' two host-bit mistakes
    assert "172.16.48.0/22" in err and "10.1.0.0/16" in err
    assert "networks[1] (vlan20).subnets[0].subnet" in err
    doc = tomllib.loads(out_path.read_text())
    assert doc["defaults"]["trunk"] == "eth0"
    assert [(n["name"], n["vlan"], n["subnets"]) for n in doc["networks"]] == [
        ("vlan10", 10, [{"subnet": "172.16.80.0/24", "gateway": "172.16.80.1"}]),
        ("vlan20", 20, [{"subnet": "172.16.50.0/22", "gateway": "172.16.50.1"}]),
        ("vlan30", 30, [{"subnet": "10.1.100.0/16", "gateway": "10.1.100.1"}]),
    ]


def test_import_table_merges_secondary_subnets_and_parents(ctl, tmp_path):
    table = ("114,192.168.114.0/24,192.168.114.254\n114,192.168.116.0/24,192.168.116.254\n"
             "40,192.168.40.0/24,192.168.40.1,foo\n50,10.50.0.0/24,,eth1.50\n")
    rc, out, err = run("import-table", write(tmp_path, table, "t.csv"))
    assert rc == 0, err
    doc = tomllib.loads(out)
    nets = {n["name"]: n for n in doc["networks"]}
    assert len(nets["vlan114"]["subnets"]) == 2
    assert nets["vlan40"]["parent"] == "foo" and nets["vlan40"]["vlan"] == 40
    assert nets["vlan50"]["trunk"] == "eth1" and "gateway" not in nets["vlan50"]["subnets"][0]
    rc, out2, _ = run("apply", write(tmp_path, out, "t.toml"))
    assert rc == 0
    assert ctl.kernel.link_exists("eth1.50") and ctl.kernel.link_exists("eth0.114")


def test_import_table_bad_lines_all_at_once(ctl, tmp_path):
    rc, out, err = run("import-table", write(tmp_path, "x,10.0.0.0/24,10.0.0.1\n5000,10.1.0.0/24\n1\n", "t.csv"))
    assert rc == 2 and out == ""
    assert "t.csv:1.vlan" in err and "t.csv:2.vlan" in err and "t.csv:3" in err


# ------------------------------------------------------------------ examples, toml
def test_example_map_is_valid_and_applies(ctl, tmp_path):
    mf = mapfile.load(EXAMPLES / "netops.toml")
    assert not mf.problems
    d = mapfile.compute_diff(mf, ctl)
    res = mapfile.apply(ctl, d)
    assert not res.failed
    assert mapfile.compute_diff(mf, ctl).in_sync


@pytest.mark.parametrize("value", ["plain", 'quo"te', "back\\slash", "tab\tnl\n", "ünï", "x" * 3])
def test_toml_writer_round_trips_strings(value):
    doc = {"version": 1, "defaults": {"k": value},
           "networks": [{"name": value, "subnets": [{"subnet": value, "aux_addresses": {value: value}}]}]}
    assert tomllib.loads(mapfile.render_toml(doc)) == doc


def test_half_made_network_is_undone_and_made_again(ctl, tmp_path):
    req = NetworkRequest("vlan10", subnets=("172.16.80.0/24",), options=("parent=eth0.10",))
    ctl.store.add_network(ctl.validate_network(req), state="creating")  # a crash after step 1
    path = write(tmp_path, NETOPS_FIXED)
    rc, out, _ = run("diff", path)
    assert rc == 1 and "network vlan10: broken (half made" in out
    rc, out, err = run("apply", path)
    assert rc == 0, err
    assert ctl.store.network("vlan10")[1] == "ready" and ctl.kernel.link_exists("eth0.10")
    assert run("diff", path)[0] == 0


def test_endpoint_name_of_a_foreign_namespace_is_refused_up_front(ctl, tmp_path):
    ctl.kernel.create_netns("web10")  # made by someone else
    doc = NETOPS_FIXED.replace('gateway = "172.16.80.1" }]', 'gateway = "172.16.80.1" }]\n'
                               'endpoints = [{ name = "web10" }]')
    errs = problems(doc, ctl)
    assert errs[0].field == "networks[0] (vlan10).endpoints[0] (web10).name"
    assert "namespace" in errs[0].problem


def test_drifted_network_left_alone_still_gets_its_vlan_back(ctl, tmp_path):
    run("apply", write(tmp_path, NETOPS_FIXED))
    ctl.kernel.delete_link("eth0.30")
    drifted = write(tmp_path, NETOPS_FIXED.replace('vlan = 30', 'vlan = 30\nmode = "l3"'), "d.toml")
    rc, out, _ = run("diff", drifted)
    assert "~ network vlan30: drift (mode: map l3, live l2;" in out
    assert "parent eth0.30 is missing from the kernel" in out
    rc, out, err = run("apply", drifted)
    assert rc == 0 and "vlan30: drifted" in err
    assert ctl.kernel.link_exists("eth0.30") and ctl.store.network("vlan30")[0].mode == "l2"


def test_missing_trunk_reported_once_where_it_was_typed(ctl):
    errs = problems(NETOPS_FIXED.replace('trunk = "eth0"', 'trunk = "eth9"'), ctl)
    assert [e.field for e in errs] == ["defaults.trunk"]
    assert "eth9 does not exist" in errs[0].problem


def test_fixes_speak_map_keys_not_cli_flags(ctl):
    errs = problems('[defaults]\ntrunk = "eth0"\n[[networks]]\nname = "x"\nvlan = 40\n', ctl)
    assert 'use parent = "foo"' in errs[0].fix, errs[0].fix


def test_half_made_endpoint_is_undone_and_made_again(ctl, tmp_path):
    doc = NETOPS_FIXED.replace('gateway = "172.16.80.1" }]', 'gateway = "172.16.80.1" }]\n'
                               'endpoints = [{ name = "a10", ip = "172.16.80.10" }]')
    path = write(tmp_path, doc)
    assert run("apply", path)[0] == 0
    ctl.store.set_endpoint_state("a10", "creating")  # as a crash mid-run leaves it
    rc, out, _ = run("diff", path)
    assert rc == 1 and "endpoint a10 on vlan10: broken (half done" in out
    rc, out, err = run("apply", path)
    assert rc == 0, err
    assert ctl.store.endpoint("a10").ipv4 == "172.16.80.10" and ctl.kernel.netns_exists("a10")
    assert run("diff", path)[0] == 0


def test_static_addresses_are_placed_before_dynamic_ones(ctl, tmp_path):
    doc = NETOPS_FIXED.replace('gateway = "172.16.80.1" }]', 'gateway = "172.16.80.1" }]\n'
                               'endpoints = [{ name = "dyn" }, { name = "st", ip = "172.16.80.2" }]')
    rc, _, err = run("apply", write(tmp_path, doc))
    assert rc == 0, err
    assert ctl.store.endpoint("st").ipv4 == "172.16.80.2" and ctl.store.endpoint("dyn").ipv4 == "172.16.80.3"


def test_static_address_held_by_a_live_endpoint_that_stays_is_refused(ctl, tmp_path):
    doc = NETOPS_FIXED.replace('gateway = "172.16.80.1" }]', 'gateway = "172.16.80.1" }]\n'
                               'endpoints = [{ name = "b10" }]')
    assert run("apply", write(tmp_path, doc))[0] == 0  # b10 gets 172.16.80.2
    doc2 = doc.replace('{ name = "b10" }', '{ name = "b10" }, { name = "c10", ip = "172.16.80.2" }')
    errs = problems(doc2, ctl)
    assert errs[0].field == "networks[0] (vlan10).endpoints[1] (c10).ip"
    # Moving b10 away in the same map frees it.
    doc3 = doc2.replace('{ name = "b10" }', '{ name = "b10", ip = "172.16.80.9" }')
    rc, _, err = run("apply", "--replace", write(tmp_path, doc3, "m3.toml"))
    assert rc == 0, err
    assert ctl.store.endpoint("c10").ipv4 == "172.16.80.2" and ctl.store.endpoint("b10").ipv4 == "172.16.80.9"


def test_diff_all_lists_vlan_links_nobody_uses_and_prune_leaves_them(ctl, tmp_path):
    path = write(tmp_path, NETOPS_FIXED)
    assert run("apply", path)[0] == 0
    rc, out, _ = run("diff", path)
    assert rc == 0 and "foo" not in out
    rc, out, _ = run("diff", "--all", path)
    assert rc == 1 and "- link foo: extra (VLAN 40 on eth0, owner other; no network uses it)" in out
    rc, out, err = run("apply", "--prune", path)
    assert rc == 0 and ctl.kernel.link_exists("foo")


def test_replace_plan_shows_the_vlan_made_again(ctl, tmp_path):
    assert run("apply", write(tmp_path, NETOPS_FIXED))[0] == 0
    drifted = write(tmp_path, NETOPS_FIXED.replace('vlan = 20', 'vlan = 20\nmode = "l3"'), "d.toml")
    rc, out, _ = run("apply", "--dry-run", "--replace", drifted)
    assert rc == 0
    assert out.index("$ ip link del eth0.20") < out.index("$ ip link add link eth0 name eth0.20 type vlan id 20")


def test_prune_frees_a_parent_the_map_needs(ctl, tmp_path):
    ctl.create_network(NetworkRequest("old", subnets=("10.99.0.0/24",), options=("parent=eth0.20",)))
    path = write(tmp_path, NETOPS_FIXED)
    rc, _, err = run("apply", path)
    assert rc == 2 and "already the parent of ipvlan network old" in err
    rc, out, err = run("apply", "--prune", path)
    assert rc == 0, err
    assert out.index("$ ip link del eth0.20") < out.index("$ ip link add link eth0 name eth0.20 type vlan id 20")
    assert ctl.store.network("old") is None and ctl.kernel.link_exists("eth0.20")
    assert run("diff", path)[0] == 0
