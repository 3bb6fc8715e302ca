"""Every example of the ipvlan driver's documentation, through our CLI, on a real kernel.

`docker network create -d ipvlan ...` becomes `ipvlan-tui network create ...`,
`docker run --net=N --ip=A --name=C alpine` becomes `ipvlan-tui run --net=N --ip=A --name=C`.
Parent `eth0` is a dummy link in the test's own namespace (tests/kernel/conftest.py).
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.kernel
LAB_SECONDS = 285  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)


def routes(host, ns: str, six: bool = False) -> str:
    argv = ["ip", "-6", "route"] if six else ["ip", "route"]
    return host.in_ns(ns, *argv).stdout


def addr_of(host, ns: str) -> str:
    return host.in_ns(ns, "ip", "-o", "addr", "show", "dev", "eth0").stdout


# --------------------------------------------------------------------------- L2
def test_l2_on_parent_db_net(host):
    t0 = time.monotonic()
    host.ok("network", "create", "-d", "ipvlan", "--subnet=192.168.1.0/24",
            "--gateway=192.168.1.1", "-o", "ipvlan_mode=l2", "-o", "parent=eth0", "db_net")
    host.ok("run", "--net=db_net", "--name=ipv1")
    host.ok("run", "--net=db_net", "-it", "--rm", "--name=ipv2", "alpine", "/bin/sh")
    elapsed = time.monotonic() - t0
    print(f"network create + run of two endpoints: {elapsed:.2f} s")
    eps = {e["Name"]: e for e in json.loads(host.ok("ps", "--json"))}
    assert eps["ipv1"]["IPv4"] == "192.168.1.2"  # .1 is the gateway
    assert eps["ipv2"]["IPv4"] == "192.168.1.3"
    assert "default via 192.168.1.1 dev eth0" in routes(host, "ipv1")
    # The kernel keeps the mode on the link we made.
    link = host.in_ns("ipv1", "ip", "-d", "link", "show", "eth0").stdout
    assert "ipvlan" in link and "mode l2" in link and "bridge" in link
    # Peers reach each other, by address and by name.
    assert host.ping("ipv1", "192.168.1.3")
    assert host.in_ns("ipv2", "busybox", "ping", "-c", "1", "-W", "1", "ipv1",
                      check=False).returncode == 0
    # The parent's own address is isolated by the kernel.
    assert not host.ping("ipv1", "192.168.1.250")


def test_l2_default_gateway_is_first_usable(host):
    host.ok("network", "create", "-d", "ipvlan", "--subnet=192.168.1.0/24", "-o", "parent=eth0",
            "db_net_ipv")
    host.ok("run", "--net=db_net_ipv", "--name=ipv1")
    assert "default via 192.168.1.1 dev eth0" in routes(host, "ipv1")
    info = json.loads(host.ok("network", "inspect", "db_net_ipv"))[0]
    assert info["IPAM"]["Config"][0]["Gateway"] == "192.168.1.1"
    assert info["Options"]["ipvlan_mode"] == "l2"


# ------------------------------------------------------------------- isolated
@pytest.mark.parametrize("args,name", [
    (["--subnet=192.168.10.0/24"], "isolated1"),
    (["--subnet=192.168.11.0/24", "--internal"], "isolated2"),
    (["--subnet=192.168.12.0/24", "--internal", "-o", "parent=eth0"], "isolated4"),
])
def test_isolated_networks_get_a_dummy_parent(host, args, name):
    before = host.links()
    host.ok("network", "create", "-d", "ipvlan", *args, name)
    info = json.loads(host.ok("network", "inspect", name))[0]
    dummy = info["Parent"]["name"]
    assert info["Parent"]["kind"] == "dummy" and dummy not in before and dummy in host.links()
    assert "Gateway" not in info["IPAM"]["Config"][0]  # isolated L2 reserves none
    host.ok("run", f"--net={name}", f"--name={name}-a")
    host.ok("run", f"--net={name}", f"--name={name}-b")
    peer = json.loads(host.ok("ps", "--json"))
    b_addr = next(e["IPv4"] for e in peer if e["Name"] == f"{name}-b")
    assert b_addr.endswith(".2") or b_addr.endswith(".1")
    assert "default" not in routes(host, f"{name}-a")
    assert host.ping(f"{name}-a", b_addr)
    assert host.in_ns(f"{name}-a", "busybox", "ping", "-c", "1", "-W", "1", f"{name}-b",
                      check=False).returncode == 0
    assert not host.ping(f"{name}-a", "192.168.1.250")  # nothing outside
    host.ok("network", "rm", "--force", name)
    assert dummy not in host.links()
    assert eth0_untouched(host)


def eth0_untouched(host) -> bool:
    from tests.kernel.conftest import sh
    return "192.168.1.250/24" in sh("ip", "-o", "addr", "show", "dev", "eth0").stdout


def test_no_subnet_gets_default_pool(host):
    host.ok("network", "create", "-d", "ipvlan", "isolated3")
    info = json.loads(host.ok("network", "inspect", "isolated3"))[0]
    assert info["IPAM"]["Config"][0]["Subnet"] == "172.18.0.0/16"
    host.ok("run", "--net=isolated3", "--name=cid3")
    assert "172.18.0." in addr_of(host, "cid3")


@pytest.mark.parametrize("mode", ["l2-internal", "l3"])
def test_slash31_holds_two_endpoints(host, mode):
    extra = ["--internal"] if mode == "l2-internal" else ["-o", "ipvlan_mode=l3"]
    host.ok("network", "create", "--subnet=10.31.0.0/31", *extra, "p2p")
    host.ok("run", "--net=p2p", "--name=p2p-a")
    host.ok("run", "--net=p2p", "--name=p2p-b")
    eps = {e["Name"]: e["IPv4"] for e in json.loads(host.ok("ps", "--json"))}
    assert sorted(eps.values()) == ["10.31.0.0", "10.31.0.1"]
    assert host.ping("p2p-a", eps["p2p-b"])


# ---------------------------------------------------------------- 802.1q VLANs
def test_vlans_made_on_demand_isolated_and_removed(host):
    host.ok("network", "create", "-d", "ipvlan", "--subnet=192.168.20.0/24",
            "--gateway=192.168.20.1", "-o", "parent=eth0.20", "ipvlan20")
    host.ok("network", "create", "-d", "ipvlan", "--subnet=192.168.30.0/24",
            "--gateway=192.168.30.1", "-o", "parent=eth0.30", "-o", "ipvlan_mode=l2", "ipvlan30")
    assert {"eth0.20", "eth0.30"} <= host.links()
    for name, net in (("ivlan_test1", "ipvlan20"), ("ivlan_test2", "ipvlan20"),
                      ("ivlan_test3", "ipvlan30"), ("ivlan_test4", "ipvlan30")):
        host.ok("run", f"--net={net}", "-it", f"--name={name}", "--rm", "alpine", "/bin/sh")
    assert host.ping("ivlan_test1", "192.168.20.3")
    assert host.ping("ivlan_test3", "192.168.30.3")
    r = routes(host, "ivlan_test3")
    assert "default via 192.168.30.1 dev eth0" in r
    assert "192.168.30.0/24 dev eth0" in r
    # Different VLANs never meet without a router.
    assert not host.ping("ivlan_test1", "192.168.30.2")
    vlan = json.loads(host.ok("links", "--json"))
    v20 = next(l for l in vlan if l["Name"] == "eth0.20")
    assert v20["Kind"] == "vlan" and v20["VlanId"] == 20 and v20["Owner"] == "ipvlan-tui"
    host.ok("network", "rm", "--force", "ipvlan20", "ipvlan30")
    assert not ({"eth0.20", "eth0.30"} & host.links())
    assert "eth0" in host.links()


@pytest.mark.parametrize("linkname", ["eth0.40", "foo"])
def test_premade_vlan_link_is_used_and_never_deleted(host, linkname):
    from tests.kernel.conftest import sh
    sh("ip", "link", "add", "link", "eth0", "name", linkname, "type", "vlan", "id", "40")
    sh("ip", "link", "set", linkname, "up")
    host.ok("network", "create", "-d", "ipvlan", "--subnet=192.168.40.0/24",
            "--gateway=192.168.40.1", "-o", f"parent={linkname}", "ipvlan40")
    host.ok("run", "--net=ipvlan40", "--name=ivlan_test5")
    host.ok("run", "--net=ipvlan40", "--name=ivlan_test6")
    assert host.ping("ivlan_test5", "192.168.40.3")
    links = {l["Name"]: l for l in json.loads(host.ok("links", "--json"))}
    assert links[linkname]["Owner"] == "other"
    host.ok("network", "rm", "--force", "ipvlan40")
    assert linkname in host.links()  # made by hand: left alone


def test_l2_two_subnets_do_not_reach_each_other(host):
    host.ok("network", "create", "-d", "ipvlan",
            "--subnet=192.168.114.0/24", "--subnet=192.168.116.0/24",
            "--gateway=192.168.114.254", "--gateway=192.168.116.254",
            "-o", "parent=eth0.114", "-o", "ipvlan_mode=l2", "ipvlan114")
    host.ok("run", "--net=ipvlan114", "--ip=192.168.114.10", "--name=a114")
    host.ok("run", "--net=ipvlan114", "--ip=192.168.114.11", "--name=b114")
    host.ok("run", "--net=ipvlan114", "--ip=192.168.116.10", "--name=c116")
    assert host.ping("a114", "192.168.114.11")
    assert "default via 192.168.114.254" in routes(host, "a114")
    assert "default via 192.168.116.254" in routes(host, "c116")
    assert not host.ping("a114", "192.168.116.10")


# ------------------------------------------------------------------------- L3
def test_l3_routes_across_subnets_and_ignores_gateway(host):
    rc, out, err = host.cli("network", "create", "-d", "ipvlan", "--subnet=192.168.214.0/24",
                            "--subnet=10.1.214.0/24", "--gateway=192.168.214.1",
                            "-o", "ipvlan_mode=l3", "ipnet210")
    assert rc == 0, err
    assert "gateway" in err.lower() and "ignored" in err.lower()
    host.ok("run", "--net=ipnet210", "--ip=192.168.214.10", "--name=l3a")
    host.ok("run", "--net=ipnet210", "--ip=10.1.214.10", "--name=l3b")
    host.ok("run", "--net=ipnet210", "--ip=192.168.214.9", "--name=l3c")
    r = routes(host, "l3a")
    assert "default dev eth0" in r and "via" not in r
    assert host.ping("l3c", "10.1.214.10")
    assert host.ping("l3b", "192.168.214.10")


def test_l3_internal_routes_only_own_subnets(host):
    host.ok("network", "create", "--subnet=172.28.230.0/24", "--subnet=172.28.231.0/24",
            "-o", "ipvlan_mode=l3", "--internal", "l3int")
    host.ok("run", "--net=l3int", "--ip=172.28.230.5", "--name=l3i-a")
    host.ok("run", "--net=l3int", "--ip=172.28.231.5", "--name=l3i-b")
    r = routes(host, "l3i-a")
    assert "default" not in r and "172.28.231.0/24 dev eth0" in r
    assert host.ping("l3i-a", "172.28.231.5")
    res = host.in_ns("l3i-a", "busybox", "ping", "-c", "1", "-W", "1", "10.9.9.9", check=False)
    assert res.returncode != 0 and "unreachable" in (res.stdout + res.stderr).lower()


# ----------------------------------------------------------------- dual stack
def test_ipv6_only_network_gets_ipv4_pool_too(host):
    host.ok("network", "create", "-d", "ipvlan", "--subnet=2001:db8:abc2::/64",
            "--gateway=2001:db8:abc2::22", "-o", "parent=eth0.139", "v6ipvlan139")
    host.ok("run", "--net=v6ipvlan139", "--name=v6a")
    host.ok("run", "--net=v6ipvlan139", "--name=v6b")
    a = addr_of(host, "v6a")
    assert "172.18.0." in a and "2001:db8:abc2::" in a
    assert "default via 2001:db8:abc2::22 dev eth0" in routes(host, "v6a", six=True)
    eps = {e["Name"]: e for e in json.loads(host.ok("ps", "--json"))}
    assert host.ping("v6a", eps["v6b"]["IPv6"])


def test_dual_stack_l2_static_ip6(host):
    host.ok("network", "create", "-d", "ipvlan",
            "--subnet=192.168.140.0/24", "--subnet=192.168.142.0/24",
            "--gateway=192.168.140.1", "--gateway=192.168.142.1",
            "--subnet=2001:db8:abc9::/64", "--gateway=2001:db8:abc9::22",
            "-o", "parent=eth0.140", "-o", "ipvlan_mode=l2", "ipvlan140")
    host.ok("run", "--net=ipvlan140", "--ip6=2001:db8:abc9::51", "--name=ds1")
    host.ok("run", "--net=ipvlan140", "--ip=192.168.140.10", "--name=ds2")
    a = addr_of(host, "ds1")
    assert "192.168.140.2/24" in a and "2001:db8:abc9::51/64" in a
    assert "default via 192.168.140.1 dev eth0" in routes(host, "ds1")
    assert "default via 2001:db8:abc9::22 dev eth0" in routes(host, "ds1", six=True)
    assert host.ping("ds2", "192.168.140.2")
    assert host.ping("ds2", "2001:db8:abc9::51")


def test_dual_stack_l3_and_reuse_of_released_ip6(host):
    host.ok("network", "create", "-d", "ipvlan", "--subnet=192.168.110.0/24",
            "--subnet=192.168.112.0/24", "--subnet=2001:db8:abc6::/64",
            "-o", "parent=eth0", "-o", "ipvlan_mode=l3", "ipnet110")
    host.ok("run", "--net=ipnet110", "--name=n1")
    host.ok("run", "--net=ipnet110", "--ip6=2001:db8:abc6::10", "--name=n2")
    host.ok("run", "--net=ipnet110", "--ip=192.168.112.30", "--name=n3")
    host.ok("run", "--net=ipnet110", "--ip6=2001:db8:abc6::50", "--ip=192.168.112.50", "--name=n4")
    assert "default dev eth0" in routes(host, "n3")
    assert "default dev eth0" in routes(host, "n4", six=True)
    assert host.ping("n3", "192.168.110.2")  # across subnets in L3
    assert host.ping("n4", "2001:db8:abc6::10")
    # The driver docs' bug: a released --ip6 must be usable again at once.
    for _ in range(3):
        host.ok("rm", "n2")
        host.ok("run", "--net=ipnet110", "--ip6=2001:db8:abc6::10", "--name=n2")
    assert host.ping("n4", "2001:db8:abc6::10")


# --------------------------------------------------------- safety and rollback
def test_bad_input_exits_2_and_creates_nothing(host):
    before_links, before_ns = host.links(), host.namespaces()
    for args in (
        ["network", "create", "--subnet=172.16.50.0/22", "-o", "parent=eth0.20", "bad1"],
        ["network", "create", "-o", "parent=lo", "bad2"],
        ["network", "create", "-o", "parent=eth0.4095", "bad3"],
        ["network", "create", "-o", "ipvlan_mdoe=l3", "bad4"],
        ["network", "create", "-d", "macvlan", "bad5"],
        ["network", "create", "-o", "parent=nosuch0", "bad6"],
    ):
        rc, out, err = host.cli(*args)
        assert rc == 2, (args, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) >= 1
    rc, out, err = host.cli("network", "create", "--subnet=172.16.50.0/22", "x")
    assert "172.16.48.0/22" in err
    assert host.links() == before_links and host.namespaces() == before_ns
    assert json.loads(host.ok("network", "ls", "--json")) == []


def test_second_ipvlan_network_on_a_parent_is_refused(host):
    host.ok("network", "create", "--subnet=192.168.1.0/24", "-o", "parent=eth0", "first")
    rc, out, err = host.cli("network", "create", "--subnet=192.168.7.0/24", "-o", "parent=eth0",
                            "second")
    assert rc == 2 and "first" in err


def test_macvlan_parent_is_refused(host):
    from tests.kernel.conftest import sh
    sh("ip", "link", "add", "link", "eth0", "name", "mv0", "type", "macvlan")
    rc, out, err = host.cli("network", "create", "--subnet=192.168.1.0/24", "-o", "parent=eth0",
                            "mvnet")
    assert rc == 2 and "macvlan" in err


def _state(host):
    return (host.links(), host.namespaces(), host.ok("network", "ls", "--json"),
            host.ok("ps", "--json"))


@pytest.mark.parametrize("step", [1, 2, 3])
def test_network_create_rolls_back_at_every_step(host, monkeypatch, step):
    before = _state(host)
    monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", f"network create:{step}")
    rc, out, err = host.cli("network", "create", "--subnet=192.168.20.0/24",
                            "-o", "parent=eth0.20", "rb")
    assert rc == 1 and "injected" in err and "Traceback" not in err
    monkeypatch.delenv("IPVLAN_TUI_FAIL_AT")
    assert _state(host) == before


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6])
def test_run_rolls_back_at_every_step(host, monkeypatch, step):
    host.ok("network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "rbn")
    host.ok("run", "--net=rbn", "--name=keep")
    before = _state(host)
    monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", f"run:{step}")
    rc, out, err = host.cli("run", "--net=rbn", "--name=victim")
    assert rc == 1 and "injected" in err, err
    monkeypatch.delenv("IPVLAN_TUI_FAIL_AT")
    assert _state(host) == before
    # The address the failed run held is free again.
    host.ok("run", "--net=rbn", "--name=victim")
    eps = {e["Name"]: e["IPv4"] for e in json.loads(host.ok("ps", "--json"))}
    assert eps["victim"] == "192.168.20.3"


def test_restore_recreates_missing_pieces(host):
    from tests.kernel.conftest import sh
    host.ok("network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "rs")
    host.ok("run", "--net=rs", "--name=rs1")
    host.ok("run", "--net=rs", "--name=rs2")
    sh("ip", "netns", "del", "rs1")
    sh("ip", "link", "del", "eth0.20")  # takes rs2's eth0 with it
    out = host.ok("restore")
    assert "eth0.20" in out and "rs1" in out
    assert host.ping("rs1", "192.168.20.3")
    assert "nothing to do" in host.ok("restore")
