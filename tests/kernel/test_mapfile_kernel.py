"""The declarative VLAN map on a real kernel: the driver docs' NetOps table end to end.

Parent `eth0` is a dummy link in the test's own namespace (tests/kernel/conftest.py);
VLANs eth0.10/20/30 sit on it, so endpoints on one VLAN reach each other and
nothing on another VLAN (there is no router).
"""

from __future__ import annotations

import io
import json
import tomllib

import pytest

from tests.netops import netops_map

pytestmark = pytest.mark.kernel
LAB_SECONDS = 70  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)

NETOPS_AS_WRITTEN = netops_map()

ENDPOINTS = {
    "vlan10": ["a10", "172.16.80.10", "b10", "172.16.80.11"],
    "vlan20": ["a20", "172.16.48.10", "b20", "172.16.48.11"],
    "vlan30": ["a30", "10.1.0.10", "b30", "10.1.0.11"],
}


def corrected() -> str:
    text = NETOPS_AS_WRITTEN.replace("172.16.50.0/22", "172.16.48.0/22").replace("10.1.100.0/16", "10.1.0.0/16")
    for net, (a, aip, b, bip) in ENDPOINTS.items():
        marker = f'name = "{net}"\n'
        text = text.replace(marker, marker + f'endpoints = [{{ name = "{a}", ip = "{aip}" }}, '
                                              f'{{ name = "{b}", ip = "{bip}" }}]\n')
    return text


def mapcmd(host, *args: str) -> tuple[int, str, str]:
    """`ipvlan-tui <map command>` with the test's store; through cli.main once it is wired."""
    from ipvlan_tui import cli, mapcli

    if "diff" in cli.HANDLERS:
        return host.cli(*args)
    top = cli._Parser(prog="ipvlan-tui", allow_abbrev=False)
    cli._common(top, sub=False)
    subs = top.add_subparsers(dest="cmd", parser_class=cli._Parser)
    mapcli.add_parsers(subs)
    parsed = top.parse_args(["--state-dir", str(host.state_dir), *args])
    out, err = io.StringIO(), io.StringIO()
    rc = mapcli.HANDLERS[parsed.cmd](parsed, out, err)
    return rc, out.getvalue(), err.getvalue()


def kernel_state(host):
    from tests.kernel.conftest import sh
    return sh("ip", "-o", "-d", "link", "show").stdout, sorted(host.namespaces())


def reach_matrix(host) -> None:
    """Every endpoint reaches its VLAN peer and no endpoint of another VLAN."""
    for net, (a, _, _, bip) in ENDPOINTS.items():
        assert host.ping(a, bip), f"{a} cannot reach its peer {bip} on {net}"
        for other, (_, oaip, _, _) in ENDPOINTS.items():
            if other != net:
                assert not host.ping(a, oaip), f"{a} on {net} reaches {oaip} on {other}"


def test_netops_table_checked_applied_isolated_idempotent_and_repaired(host, tmp_path):
    # The table as NetOps wrote it: both host-bit mistakes in one report, exit 2, nothing touched.
    bad = tmp_path / "netops-as-written.toml"
    bad.write_text(NETOPS_AS_WRITTEN)
    before = kernel_state(host)
    rc, out, err = mapcmd(host, "apply", str(bad))
    assert rc == 2, (out, err)
    assert "2 problems" in err
    assert "networks[1] (vlan20).subnets[0].subnet 172.16.50.0/22" in err and "172.16.48.0/22" in err
    assert "networks[2] (vlan30).subnets[0].subnet 10.1.100.0/16" in err and "10.1.0.0/16" in err
    assert kernel_state(host) == before

    # Corrected, it applies: the plan with its commands, then the VLANs and endpoints.
    good = tmp_path / "netops.toml"
    good.write_text(corrected())
    assert mapcmd(host, "diff", str(good))[0] == 1
    rc, out, err = mapcmd(host, "apply", str(good))
    assert rc == 0, (out, err)
    assert "$ ip link add link eth0 name eth0.20 type vlan id 20" in out
    assert {"eth0.10", "eth0.20", "eth0.30"} <= host.links()
    vlan = {l["Name"]: l for l in json.loads(host.ok("links", "--json"))}
    assert vlan["eth0.20"]["VlanId"] == 20 and vlan["eth0.20"]["Owner"] == "ipvlan-tui"
    routes = host.in_ns("a20", "ip", "route").stdout
    assert "default via 172.16.50.1 dev eth0" in routes and "172.16.48.0/22 dev eth0" in routes
    reach_matrix(host)

    # Apply twice: the second run makes no change and says so.
    assert mapcmd(host, "diff", str(good))[0] == 0
    before = kernel_state(host)
    rc, out, err = mapcmd(host, "apply", str(good))
    assert rc == 0 and "nothing to do" in out, (out, err)
    assert kernel_state(host) == before

    # `ip link del eth0.20` by hand: diff shows it, a re-apply repairs it.
    from tests.kernel.conftest import sh
    sh("ip", "link", "del", "eth0.20")
    rc, out, _ = mapcmd(host, "diff", str(good))
    assert rc == 1
    assert "network vlan20: broken (parent eth0.20 is missing from the kernel" in out
    assert "endpoint a20 on vlan20: broken" in out
    rc, out, err = mapcmd(host, "apply", str(good))
    assert rc == 0, (out, err)
    assert "eth0.20" in host.links()
    assert mapcmd(host, "diff", str(good))[0] == 0
    reach_matrix(host)


def test_export_delete_apply_round_trip(host, tmp_path):
    from tests.kernel.conftest import sh
    sh("ip", "link", "add", "link", "eth0", "name", "foo", "type", "vlan", "id", "40")
    sh("ip", "link", "set", "foo", "up")
    host.ok("network", "create", "--subnet=172.16.48.0/22", "--gateway=172.16.50.1",
            "-o", "parent=eth0.20", "vlan20")
    host.ok("network", "create", "--subnet=192.168.40.0/24", "--aux-address=router=192.168.40.5",
            "--ip-range=192.168.40.128/25", "-o", "parent=foo", "ipvlan40")
    host.ok("network", "create", "--subnet=192.168.214.0/24", "--subnet=2001:db8:abc6::/64",
            "-o", "ipvlan_mode=l3", "ipnet210")
    host.ok("run", "--net=vlan20", "--ip=172.16.48.9", "--name=r20a")
    host.ok("run", "--net=vlan20", "--name=r20b")
    host.ok("run", "--net=ipvlan40", "--name=r40")
    host.ok("run", "--net=ipnet210", "--ip=192.168.214.7", "--ip6=2001:db8:abc6::7", "--name=r210")

    def shape():
        nets = json.loads(host.ok("network", "inspect", "vlan20", "ipvlan40", "ipnet210"))
        # An isolated network's dummy parent is named after its (new) id: compare the kind only.
        return [(n["Name"], n["Options"] | {"parent": n["Parent"]["kind"] if n["Isolated"] else n["Options"]["parent"]},
                 n["IPAM"], n["Internal"], n["Isolated"],
                 {k: (v["IPv4Address"], v["IPv6Address"]) for k, v in n["Containers"].items()})
                for n in nets]

    before = shape()
    rc, text, err = mapcmd(host, "export")
    assert rc == 0, err
    doc = tomllib.loads(text)
    assert {n["name"] for n in doc["networks"]} == {"vlan20", "ipvlan40", "ipnet210"}
    path = tmp_path / "export.toml"
    path.write_text(text)
    assert mapcmd(host, "diff", str(path))[0] == 0

    host.ok("network", "rm", "--force", "vlan20", "ipvlan40", "ipnet210")
    assert "eth0.20" not in host.links() and "foo" in host.links()
    rc, out, err = mapcmd(host, "apply", str(path))
    assert rc == 0, (out, err)
    assert shape() == before
    assert "eth0.20" in host.links()
    assert host.ping("r20b", "172.16.48.9")
    assert mapcmd(host, "diff", str(path))[0] == 0


def test_bad_map_reported_at_once_exit_2_nothing_changed(host, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("""\
[defaults]
trunk = "eth0"
[[networks]]
name = "a"
vlan = 4095
colour = "blue"
subnets = [{ subnet = "10.10.0.0/24" }]
[[networks]]
name = "a"
vlan = 11
subnets = [{ subnet = "10.10.0.0/25" }]
""")
    before = kernel_state(host)
    for cmd in ("diff", "apply"):
        rc, out, err = mapcmd(host, cmd, str(bad))
        assert rc == 2, (cmd, out, err)
        assert "networks[0] (a).vlan 4095" in err
        assert "networks[0] (a).colour" in err
        assert "networks[1] (a).name a: is also the name of networks[0] (a)" in err
        assert "networks[1] (a).subnets[0].subnet 10.10.0.0/25: overlaps 10.10.0.0/24" in err
    assert kernel_state(host) == before
