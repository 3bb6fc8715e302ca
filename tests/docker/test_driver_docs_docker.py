"""Every Docker example of the ipvlan driver docs, through our controller with --engine docker,
against a real dockerd inside the lab VM (tests/docker/conftest.py).

The networks are checked the way `docker network inspect` shows them (every
gateway set explicitly), routes and addresses inside the containers through
`docker exec`, reachability with busybox ping between containers.
"""

from __future__ import annotations

import threading
import time

import pytest

from ipvlan_tui.errors import EngineError, PlanFailed, ValidationError
from ipvlan_tui.model import PARENT_VLAN, EndpointRequest, NetworkRequest
from tests.docker.conftest import IMAGE, sh

pytestmark = pytest.mark.docker
LAB_SECONDS = 600  # its expected time in the TCG lab VM (deals the docker modules to two VMs)


def create(ctl, name, *, subnets=(), gateways=(), ip_ranges=(), aux=(), opts=(), internal=False, ipv6=False):
    req = NetworkRequest(name=name, subnets=tuple(subnets), gateways=tuple(gateways),
                         ip_ranges=tuple(ip_ranges), aux_addresses=tuple(aux), options=tuple(opts),
                         internal=internal, ipv6=ipv6, engine="docker")
    return ctl.create_network(req)


def run(ctl, name, network, ip=None, ip6=None):
    t0 = time.monotonic()
    req = EndpointRequest(name=name, network=network, ipv4=ip, ipv6=ip6, engine="docker",
                          image=IMAGE, command=("/bin/sh",))
    ctl.run_endpoint(req)
    ep = ctl.docker.endpoint(name)
    assert ep is not None and ep.state == "running", ep
    print(f"  run {name}: {time.monotonic() - t0:.1f} s")
    return ep


def inspect(d, name) -> dict:
    """What `docker network inspect NAME` prints (the CLI passes the API's JSON through),
    asked of the API: the Go CLI takes 2-4 s to start under TCG."""
    client = d.client()
    try:
        return client.api.inspect_network(name)
    finally:
        client.close()


def route(d, c, six=False) -> str:
    return d.exec(c, "ip", *(["-6"] if six else []), "route").stdout


# --------------------------------------------------------------------------- L2 on eth0
def test_l2_db_net_and_default_gateway(docker_env):
    ctl, eng, d = docker_env
    res = create(ctl, "db_net", subnets=["192.168.1.0/24"], gateways=["192.168.1.1"],
                 opts=["ipvlan_mode=l2", "parent=eth0"])
    assert res.plan.steps[0].command.startswith("docker network create -d ipvlan --subnet=192.168.1.0/24 "
                                                "--gateway=192.168.1.1 -o parent=eth0 -o ipvlan_mode=l2")
    info = inspect(d, "db_net")
    assert info["IPAM"]["Config"][0]["Gateway"] == "192.168.1.1"
    assert info["Options"]["parent"] == "eth0" and info["Options"]["ipvlan_mode"] == "l2"
    ipv1 = run(ctl, "ipv1", "db_net")
    ipv2 = run(ctl, "ipv2", "db_net")
    assert "default via 192.168.1.1 dev eth0" in route(d, "ipv1")
    assert d.ping("ipv1", ipv2.ipv4)
    assert not d.ping("ipv1", "192.168.1.250")  # the parent's own address: isolated by the kernel
    # Listing: both containers, with the namespace the ICMP probe enters.
    (net,) = [n for n in ctl.networks() if n.spec.name == "db_net"]
    assert net.spec.engine == "docker" and net.spec.host == "lab"
    eps = {e.name: e for e in net.endpoints}
    assert set(eps) == {"ipv1", "ipv2"}
    assert eps["ipv1"].netns.startswith("/proc/") and sh("test", "-e", eps["ipv1"].netns).returncode == 0
    # One ipvlan network per parent: refused before Docker is asked.
    with pytest.raises(ValidationError, match="already the parent of ipvlan network db_net"):
        create(ctl, "db_net_ipv", subnets=["192.168.1.0/24"], opts=["parent=eth0"])
    # Removal: with containers attached only with force.
    with pytest.raises(ValidationError, match="still attached"):
        ctl.remove_network("db_net")
    ctl.remove_network("db_net", force=True)
    assert not eng.has_network("db_net") and not eng.has_container("ipv1")
    # The same network without --gateway: the first usable address, passed explicitly.
    create(ctl, "db_net_ipv", subnets=["192.168.1.0/24"], opts=["parent=eth0"])
    info = inspect(d, "db_net_ipv")
    assert info["IPAM"]["Config"][0]["Gateway"] == "192.168.1.1"
    assert info["Options"]["ipvlan_mode"] == "l2"


# --------------------------------------------------------------------------- isolated
def test_isolated_networks_get_docker_dummy_parents(docker_env):
    ctl, eng, d = docker_env
    create(ctl, "isolated1", subnets=["192.168.10.0/24"])
    create(ctl, "isolated2", subnets=["192.168.11.0/24"], internal=True)
    res = create(ctl, "isolated3")
    assert "--subnet=172.18.0.0/16" in res.plan.steps[0].command  # the default pool, explicit
    ids = {n: inspect(d, n)["Id"] for n in ("isolated1", "isolated2", "isolated3")}
    dummies = {f"di-{i[:12]}" for i in ids.values()}
    assert dummies <= d.links()
    for n in ids:
        spec = next(x.spec for x in eng.networks() if x.spec.name == n)
        assert spec.isolated and spec.parent.name == f"di-{ids[n][:12]}"
        assert inspect(d, n)["Options"].get("parent") is None
    assert [c["Subnet"] for c in inspect(d, "isolated3")["IPAM"]["Config"]] == ["172.18.0.0/16"]
    run(ctl, "cid1", "isolated1")
    assert "default" not in route(d, "cid1")  # isolated L2: no gateway, no default route
    for n in ids:
        ctl.remove_network(n, force=True)
    assert not (dummies & d.links())


# --------------------------------------------------------------------------- 802.1q
def test_vlan_20_30_created_and_removed_and_multi_subnet(docker_env):
    ctl, eng, d = docker_env
    create(ctl, "ipvlan20", subnets=["192.168.20.0/24"], gateways=["192.168.20.1"], opts=["parent=eth0.20"])
    create(ctl, "ipvlan30", subnets=["192.168.30.0/24"], gateways=["192.168.30.1"],
           opts=["parent=eth0.30", "ipvlan_mode=l2"])
    link = sh("ip", "-d", "link", "show", "eth0.20").stdout
    assert "vlan protocol 802.1Q id 20" in link
    spec20 = next(n.spec for n in eng.networks() if n.spec.name == "ipvlan20")
    assert spec20.parent.kind == PARENT_VLAN and spec20.parent.create
    # (Two containers on one VLAN pinging each other: see ipvlan114 below; containers are slow in TCG.)
    t1 = run(ctl, "ivlan_test1", "ipvlan20")
    t3 = run(ctl, "ivlan_test3", "ipvlan30")
    assert not d.ping("ivlan_test1", t3.ipv4)  # different VLANs need a router
    r = route(d, "ivlan_test3")
    assert "default via 192.168.30.1 dev eth0" in r and "192.168.30.0/24 dev eth0" in r
    ctl.remove_network("ipvlan20", force=True)
    ctl.remove_network("ipvlan30", force=True)
    assert not {"eth0.20", "eth0.30"} & d.links()  # Docker deleted what it made
    # Multi-subnet L2 with static addresses.
    create(ctl, "ipvlan114", subnets=["192.168.114.0/24", "192.168.116.0/24"],
           gateways=["192.168.114.254", "192.168.116.254"], opts=["parent=eth0.114", "ipvlan_mode=l2"])
    cfg = inspect(d, "ipvlan114")["IPAM"]["Config"]
    assert [c["Gateway"] for c in cfg] == ["192.168.114.254", "192.168.116.254"]
    assert run(ctl, "s10", "ipvlan114", ip="192.168.114.10").ipv4 == "192.168.114.10"
    assert run(ctl, "s11", "ipvlan114", ip="192.168.114.11").ipv4 == "192.168.114.11"
    assert d.ping("s10", "192.168.114.11")
    assert "default via 192.168.114.254" in route(d, "s10")
    assert t1.ipv4 and t1.ipv4.startswith("192.168.20.")


# --------------------------------------------------------------------------- L3
def test_l3_routes_between_subnets(docker_env):
    ctl, eng, d = docker_env
    res = create(ctl, "ipnet210", subnets=["192.168.214.0/24", "10.1.214.0/24"], opts=["ipvlan_mode=l3"])
    assert "--gateway" not in res.plan.steps[0].command and "--internal" not in res.plan.steps[0].command
    run(ctl, "l3a", "ipnet210", ip="192.168.214.10")
    run(ctl, "l3b", "ipnet210", ip="10.1.214.10")
    r = route(d, "l3a")
    assert "default dev eth0" in r
    assert d.ping("l3a", "10.1.214.10") and d.ping("l3b", "192.168.214.10")
    ctl.remove_network("ipnet210", force=True)
    # Dual stack L3 on eth0, static v4/v6.
    create(ctl, "ipnet110", subnets=["192.168.110.0/24", "192.168.112.0/24", "2001:db8:abc6::/64"],
           opts=["parent=eth0", "ipvlan_mode=l3"])
    assert inspect(d, "ipnet110")["EnableIPv6"] is True
    c10 = run(ctl, "c10", "ipnet110", ip6="2001:db8:abc6::10")
    c50 = run(ctl, "c50", "ipnet110", ip="192.168.112.50", ip6="2001:db8:abc6::50")
    assert c10.ipv6 == "2001:db8:abc6::10" and c50.ipv4 == "192.168.112.50"
    assert "default dev eth0" in route(d, "c50", six=True)
    assert d.ping("c10", "2001:db8:abc6::50")
    assert d.ping("c50", c10.ipv4)  # 192.168.112.50 -> 192.168.110.x across subnets
    # Reusing a released --ip6 works (the driver docs' "Address already in use" bug).
    ctl.remove_endpoint("c10")
    assert run(ctl, "c10b", "ipnet110", ip6="2001:db8:abc6::10").ipv6 == "2001:db8:abc6::10"
    # The routes the upstream router needs for this L3 network.
    from ipvlan_tui import routes

    found, _ = routes.needed_routes([n.spec for n in ctl.networks()], ctl.inventory(), only="ipnet110")
    assert "ip route add 192.168.110.0/24 via 192.168.1.250" in routes.render_ip(found)


# --------------------------------------------------------------------------- dual stack L2
def test_dual_stack_l2(docker_env):
    ctl, eng, d = docker_env
    create(ctl, "v6ipvlan139", subnets=["2001:db8:abc2::/64"], gateways=["2001:db8:abc2::22"],
           opts=["parent=eth0.139"])
    cfg = inspect(d, "v6ipvlan139")["IPAM"]["Config"]
    assert {c["Subnet"] for c in cfg} == {"2001:db8:abc2::/64", "172.18.0.0/16"}  # default v4 pool
    x = run(ctl, "x1", "v6ipvlan139")
    y = run(ctl, "x2", "v6ipvlan139")
    assert x.ipv6 and x.ipv6.startswith("2001:db8:abc2::") and x.ipv4.startswith("172.18.")
    assert "default via 2001:db8:abc2::22 dev eth0" in route(d, "x1", six=True)
    assert d.ping("x1", y.ipv6)
    create(ctl, "ipvlan140", subnets=["192.168.140.0/24", "192.168.142.0/24", "2001:db8:abc9::/64"],
           gateways=["192.168.140.1", "192.168.142.1", "2001:db8:abc9::22"],
           opts=["parent=eth0.140", "ipvlan_mode=l2"])
    # The docs' own example passes --ip6=2001:db8:abc2::51, outside ipvlan140: refused up front.
    with pytest.raises(ValidationError, match="not inside any IPv6 subnet of ipvlan140"):
        run(ctl, "bad", "ipvlan140", ip6="2001:db8:abc2::51")
    z = run(ctl, "z1", "ipvlan140", ip="192.168.140.10")
    assert z.ipv4 == "192.168.140.10" and z.ipv6.startswith("2001:db8:abc9::")
    assert "default via 192.168.140.1 dev eth0" in route(d, "z1")
    assert "default via 2001:db8:abc9::22 dev eth0" in route(d, "z1", six=True)


# --------------------------------------------------------------------------- manual links, connect, plain CLI
def test_manual_parent_connect_disconnect_plain_cli_and_events(docker_env):
    ctl, eng, d = docker_env
    events: list[dict] = []
    stop = threading.Event()
    watcher = threading.Thread(target=eng.events, args=(events.append, stop.is_set), daemon=True)
    watcher.start()
    sh("ip", "link", "add", "link", "eth0", "name", "foo", "type", "vlan", "id", "40")
    sh("ip", "link", "set", "foo", "up")
    try:
        create(ctl, "ipvlan40", subnets=["192.168.40.0/24"], gateways=["192.168.40.1"], opts=["parent=foo"])
        # A second network on foo, straight to the engine (no validation): Docker's refusal, readable.
        from ipvlan_tui.spec import validate_network

        other = validate_network(NetworkRequest(name="dup", subnets=("10.41.0.0/24",), options=("parent=foo",),
                                                engine="docker"), ctl.inventory(), [])
        with pytest.raises(PlanFailed) as failed:
            eng.plan_network_create(other).execute()
        assert isinstance(failed.value.cause, EngineError)
        assert "parent foo already holds ipvlan network ipvlan40" in str(failed.value.cause)
        run(ctl, "ivlan_test5", "ipvlan40")
        # A network made with the plain docker CLI shows up in our listing.
        d.cli("network", "create", "-d", "ipvlan", "--subnet=10.77.0.0/24", "-o", "parent=eth0.77", "plain77")
        plain = next(n for n in ctl.networks() if n.spec.name == "plain77")
        assert plain.spec.engine == "docker" and plain.spec.parent.name == "eth0.77"
        assert plain.spec.subnets[0].cidr == "10.77.0.0/24"
        # connect / disconnect, with a static address.
        ep, plan = eng.plan_connect("plain77", "ivlan_test5", ipv4="10.77.0.9")
        assert plan.steps[0].command == "docker network connect --ip 10.77.0.9 plain77 ivlan_test5"
        plan.execute()
        assert "10.77.0.9/24" in d.exec("ivlan_test5", "ip", "-4", "addr").stdout
        names = {e.name for n in eng.networks() if n.spec.name == "plain77" for e in n.endpoints}
        assert names == {"ivlan_test5"}
        _, plan = eng.plan_disconnect("plain77", "ivlan_test5")
        plan.execute()
        assert "10.77.0.9" not in d.exec("ivlan_test5", "ip", "-4", "addr").stdout
        ctl.remove_network("ipvlan40", force=True)
        ctl.remove_network("plain77")
        assert "foo" in d.links()  # made by hand: never deleted
    finally:
        sh("ip", "link", "del", "foo", check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e["action"] == "destroy" and e["name"] == "plain77"
                                                      for e in events):
            time.sleep(0.2)
        stop.set()
        watcher.join(timeout=5)
    seen = {(e["type"], e["action"], e["name"]) for e in events}
    for want in [("network", "create", "ipvlan40"), ("network", "connect", "plain77"),
                 ("network", "disconnect", "plain77"), ("network", "destroy", "plain77"),
                 ("container", "start", "ivlan_test5")]:
        assert want in seen, (want, sorted(seen))
    assert not watcher.is_alive()
