"""Docker engine, routes and docker CLI handlers without a daemon."""

from __future__ import annotations

import argparse
import io

import docker.errors
import pytest

from ipvlan_tui import dockercli, routes
from ipvlan_tui.engines import docker as dk
from ipvlan_tui.errors import EngineError, ValidationError
from ipvlan_tui.model import (
    ENGINE_DOCKER,
    PARENT_DUMMY,
    PARENT_EXISTING,
    PARENT_VLAN,
    Inventory,
    Link,
    Network,
    NetworkRequest,
)
from ipvlan_tui.spec import validate_network

INV = Inventory(links=(
    Link(1, "lo", "device", addresses=("127.0.0.1/8",)),
    Link(2, "eth0", "device", state="up", addresses=("192.168.1.250/24", "fe80::1/64", "2001:db8:1::250/64")),
    Link(3, "foo", "vlan", parent_ifindex=2, parent_name="eth0", vlan_id=40),
))
NET_ID = "ab" * 32


def spec_of(*argv_opts, name="n", **kw):
    req = NetworkRequest(name=name, engine=ENGINE_DOCKER, **kw)
    return validate_network(req, INV, [], network_id=NET_ID)


# ----------------------------------------------------------------------------- errors
def _api_error(explanation: str) -> docker.errors.APIError:
    return docker.errors.APIError("500 Server Error: Internal Server Error", explanation=explanation)


@pytest.mark.parametrize("explanation, line, hint", [
    ("network di-581f3b107907 is already using parent interface eth0.139",
     "Docker refused to create network x: network di-581f3b107907 is already using parent interface eth0.139",
     "one ipvlan network per parent"),
    ("Address already in use", "Docker refused to create network x: Address already in use",
     "pick another --ip"),
    ("requested ipvlan mode 'l3s' is not valid, 'l2' mode is the ipvlan driver default",
     "Docker refused to create network x: requested ipvlan mode 'l3s' is not valid, "
     "'l2' mode is the ipvlan driver default", "refuses that option value"),
    ("failed to create the ipvlan port: operation not supported",
     "Docker refused to create network x: failed to create the ipvlan port: operation not supported",
     "lacks ipvlan"),
])
def test_api_error_explanation_becomes_one_readable_line(explanation, line, hint):
    err = dk.explain(_api_error(explanation), "create network x")
    assert isinstance(err, EngineError)
    assert err.message == line
    assert hint in err.hint
    assert "\n" not in str(err)


def test_multi_line_explanation_is_folded_and_prefix_dropped():
    err = dk.explain(_api_error("Error response from daemon: bad\n  thing"))
    assert err.message == "Docker: bad thing"


def test_parent_in_use_names_the_holding_network():
    eng = dk.DockerEngine("unix:///nonexistent/docker.sock")
    eng._network_by_short_id = lambda short: "db_net" if short == "581f3b107907" else None
    err = eng._explain(_api_error("network di-581f3b107907 is already using parent interface eth0"),
                       "create network x")
    assert "parent eth0 already holds ipvlan network db_net" in err.message


def test_status_says_why_the_daemon_is_unreachable(tmp_path):
    eng = dk.DockerEngine(f"unix://{tmp_path}/missing.sock", timeout=2)
    reason = eng.status()
    assert reason != "ok"
    assert "unreachable" in reason and "missing.sock" in reason
    assert "\n" not in reason


def test_call_maps_sdk_errors_to_engine_error():
    eng = dk.DockerEngine("unix:///nonexistent/docker.sock")

    def boom():
        raise _api_error("network with name db_net already exists")

    with pytest.raises(EngineError) as info:
        eng._call("create network db_net", boom)
    assert info.value.message == "Docker refused to create network db_net: network with name db_net already exists"


# ----------------------------------------------------------------------------- create arguments
def test_l2_network_passes_the_default_gateway_explicitly():
    spec = spec_of(subnets=("192.168.1.0/24",), options=("parent=eth0",), name="db_net_ipv")
    eng = dk.DockerEngine("unix:///x")
    kw = eng.create_kwargs(spec)
    assert kw["driver"] == "ipvlan"
    assert kw["options"] == {"parent": "eth0", "ipvlan_mode": "l2", "ipvlan_flag": "bridge"}
    assert kw["ipam"]["Config"] == [{"Subnet": "192.168.1.0/24", "IPRange": None,
                                     "Gateway": "192.168.1.1", "AuxiliaryAddresses": None}]
    assert kw["internal"] is False and kw["enable_ipv6"] is False
    assert eng.create_command(spec) == (
        "docker network create -d ipvlan --subnet=192.168.1.0/24 --gateway=192.168.1.1 "
        "-o parent=eth0 -o ipvlan_mode=l2 -o ipvlan_flag=bridge "
        "--label org.ipvlan-tui.created-by=ipvlan-tui db_net_ipv")


def test_isolated_l2_has_no_parent_option_no_gateway_and_is_internal():
    spec = spec_of(subnets=("192.168.10.0/24",), name="isolated1")
    kw = dk.DockerEngine("unix:///x").create_kwargs(spec)
    assert "parent" not in kw["options"]
    assert kw["ipam"]["Config"][0]["Gateway"] is None
    assert kw["internal"] is True  # else Docker routes via a gateway on its dummy
    plan = dk.DockerEngine("unix:///x").plan_network_create(spec)
    assert "Docker makes its own dummy parent" in plan.steps[0].description
    assert "--internal" in plan.steps[0].command


def test_l3_without_parent_is_not_internal_and_has_no_gateway():
    spec = spec_of(subnets=("192.168.214.0/24", "10.1.214.0/24"), options=("ipvlan_mode=l3",),
                   name="ipnet210")
    kw = dk.DockerEngine("unix:///x").create_kwargs(spec)
    assert kw["internal"] is False  # L3 containers keep `default dev eth0`
    assert [p["Gateway"] for p in kw["ipam"]["Config"]] == [None, None]
    assert kw["options"] == {"ipvlan_mode": "l3", "ipvlan_flag": "bridge"}


def test_everything_explicit_vlan_dual_stack_range_aux():
    spec = spec_of(subnets=("192.168.140.0/24", "192.168.142.0/24", "2001:db8:abc9::/64"),
                   gateways=("192.168.140.1", "192.168.142.1", "2001:db8:abc9::22"),
                   ip_ranges=("192.168.140.128/25",), aux_addresses=("router=192.168.140.5",),
                   options=("parent=eth0.140", "ipvlan_mode=l2"), name="ipvlan140")
    eng = dk.DockerEngine("unix:///x")
    kw = eng.create_kwargs(spec)
    assert kw["enable_ipv6"] is True  # Docker 20.10 drops v6 subnets without it
    assert kw["labels"][dk.LABEL_PARENT_CREATED] == "true"
    cmd = eng.create_command(spec)
    for part in ("--subnet=192.168.140.0/24", "--subnet=2001:db8:abc9::/64", "--gateway=192.168.142.1",
                 "--gateway=2001:db8:abc9::22", "--ip-range=192.168.140.128/25",
                 "--aux-address=router=192.168.140.5", "-o parent=eth0.140", "--ipv6"):
        assert part in cmd
    plan = eng.plan_network_create(spec)
    assert "Docker creates 802.1q eth0.140 (VLAN 140 on eth0)" in plan.steps[0].description
    assert plan.steps[0].undo is not None


def test_old_docker_refuses_flags_instead_of_dropping_them():
    eng = dk.DockerEngine("unix:///x")
    eng.api_version = lambda: (1, 41)
    with pytest.raises(ValidationError) as info:
        eng.plan_network_create(spec_of(options=("parent=eth0", "ipvlan_flag=private")))
    assert info.value.field == "-o ipvlan_flag" and "1.41" in info.value.problem
    with pytest.raises(ValidationError):
        eng.plan_network_create(spec_of(options=("parent=eth0", "ipvlan_mode=l3s")))
    eng.api_version = lambda: (1, 43)
    assert eng.plan_network_create(spec_of(options=("parent=eth0", "ipvlan_mode=l3s")))


# ----------------------------------------------------------------------------- reading back
INSPECT = {
    "Name": "ipvlan140", "Id": NET_ID, "Driver": "ipvlan", "EnableIPv6": True, "Internal": False,
    "IPAM": {"Driver": "default", "Config": [
        {"Subnet": "192.168.140.0/24", "Gateway": "192.168.140.1", "IPRange": "192.168.140.128/25",
         "AuxiliaryAddresses": {"router": "192.168.140.5"}},
        {"Subnet": "2001:db8:abc9::/64", "Gateway": "2001:db8:abc9::22"}]},
    "Options": {"parent": "eth0.140", "ipvlan_mode": "l2"},
    "Labels": {dk.LABEL_OWNER: "ipvlan-tui", dk.LABEL_PARENT_CREATED: "true"},
}


def test_spec_from_docker_reads_what_docker_holds():
    spec = dk.spec_from_docker(INSPECT, "lab")
    assert spec.engine == "docker" and spec.host == "lab" and spec.network_id == NET_ID
    assert spec.mode == "l2" and spec.flag == "bridge" and spec.ipv6
    assert spec.parent.kind == PARENT_VLAN and spec.parent.base == "eth0" and spec.parent.vlan_id == 140
    assert spec.parent.create
    first, six = spec.subnets
    assert first.gateway == "192.168.140.1" and first.ip_range == "192.168.140.128/25"
    assert first.aux_addresses == (("router", "192.168.140.5"),)
    assert six.version == 6 and six.gateway == "2001:db8:abc9::22"


def test_parent_read_back():
    assert dk.parent_plan_from_docker({}, NET_ID, {}).name == "di-" + NET_ID[:12]
    assert dk.parent_plan_from_docker({}, NET_ID, {}).kind == PARENT_DUMMY
    foo = dk.parent_plan_from_docker({"parent": "foo"}, NET_ID, {})
    assert foo.kind == PARENT_EXISTING and not foo.create
    manual = dk.parent_plan_from_docker({"parent": "eth0.40"}, NET_ID, {})
    assert manual.kind == PARENT_VLAN and not manual.create


class FakeAPI:
    api_version = "1.41"

    def __init__(self):
        self.nets = [INSPECT, {**INSPECT, "Name": "other", "Id": "cd" * 32, "Options": {}, "Labels": {},
                               "IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]}}]

    def networks(self, filters=None):
        return self.nets

    def containers(self, all=False):  # noqa: A002 - the SDK's name
        return [
            {"Id": "c1" * 32, "Names": ["/web"], "State": "running", "NetworkSettings": {"Networks": {
                "ipvlan140": {"NetworkID": NET_ID, "IPAddress": "192.168.140.130",
                              "GlobalIPv6Address": "2001:db8:abc9::2", "IPAMConfig": None}}}},
            {"Id": "c2" * 32, "Names": ["/stopped"], "State": "exited", "NetworkSettings": {"Networks": {
                "ipvlan140": {"NetworkID": NET_ID, "IPAddress": "",
                              "IPAMConfig": {"IPv4Address": "192.168.140.10"}}}}},
            {"Id": "c3" * 32, "Names": ["/bridged"], "State": "running", "NetworkSettings": {"Networks": {
                "bridge": {"NetworkID": "ff" * 32, "IPAddress": "172.17.0.2"}}}},
        ]

    def inspect_container(self, cid):
        return {"State": {"Pid": 4242}}


def test_networks_lists_containers_with_addresses_and_netns():
    eng = dk.DockerEngine("unix:///x", host_label="lab")
    eng._client = type("C", (), {"api": FakeAPI(), "close": lambda self: None})()
    nets = {n.spec.name: n for n in eng.networks()}
    assert set(nets) == {"ipvlan140", "other"}
    eps = {e.name: e for e in nets["ipvlan140"].endpoints}
    assert eps["web"].ipv4 == "192.168.140.130" and eps["web"].ipv6 == "2001:db8:abc9::2"
    assert eps["web"].netns == "/proc/4242/ns/net" and eps["web"].state == "running"
    assert eps["web"].host == "lab" and eps["web"].engine == "docker"
    assert eps["stopped"].ipv4 == "192.168.140.10" and eps["stopped"].netns == ""
    assert nets["other"].endpoints == ()
    assert nets["other"].spec.parent.kind == PARENT_DUMMY
    assert nets["ipvlan140"].created_links == ("eth0.140",)


# ----------------------------------------------------------------------------- events
def test_events_are_normalised_and_filtered():
    raw = {"Type": "network", "Action": "connect", "Actor": {"ID": NET_ID, "Attributes": {
        "container": "c1" * 32, "name": "ipnet210", "type": "ipvlan"}}, "time": 1}
    ev = dk.normalize_event(raw, "lab")
    assert ev["type"] == "network" and ev["action"] == "connect" and ev["network"] == "ipnet210"
    assert ev["container"] == "c1" * 32 and ev["host"] == "lab"
    bridge = {**raw, "Actor": {"ID": "x", "Attributes": {"name": "b", "type": "bridge"}}}
    assert dk.normalize_event(bridge) is None
    die = {"Type": "container", "Action": "die", "Actor": {"ID": "c1", "Attributes": {"name": "web"}}}
    assert dk.normalize_event(die)["name"] == "web"
    assert dk.normalize_event({**die, "Action": "exec_start: sh"}) is None


# ----------------------------------------------------------------------------- hosts
def test_engines_for_urls_and_local():
    engines = dk.engines_for(["", "tcp://10.0.0.5:2375", "unix:///run/other.sock"])
    assert [e.host_label for e in engines] == ["", "tcp://10.0.0.5:2375", "unix:///run/other.sock"]
    assert engines[1].base_url == "tcp://10.0.0.5:2375"
    assert engines[0].base_url is None


def test_engines_for_unknown_context(monkeypatch):
    monkeypatch.setattr(dk, "list_contexts", lambda: [dk.DockerContext("vm2", "ssh://root@vm2", False)])
    with pytest.raises(ValidationError) as info:
        dk.engines_for(["nosuch"])
    assert "vm2" in info.value.fix
    (eng,) = dk.engines_for(["vm2"])
    assert eng.base_url == "ssh://root@vm2" and eng.host_label == "vm2"


# ----------------------------------------------------------------------------- routes
def _l3(name, subnets, parent="eth0", **kw):
    return spec_of(subnets=subnets, options=(f"parent={parent}", "ipvlan_mode=l3"), name=name, **kw)


def test_routes_for_l3_networks_via_host_address():
    specs = [_l3("ipnet110", ("192.168.110.0/24", "192.168.112.0/24", "2001:db8:abc6::/64")),
             spec_of(subnets=("192.168.1.0/24",), options=("parent=foo",), name="l2net"),
             spec_of(subnets=("192.168.214.0/24",), options=("ipvlan_mode=l3",), name="iso")]
    found, skipped = routes.needed_routes(specs, INV)
    assert [(r.subnet, r.via) for r in found] == [
        ("192.168.110.0/24", "192.168.1.250"), ("192.168.112.0/24", "192.168.1.250"),
        ("2001:db8:abc6::/64", "2001:db8:1::250")]  # never the link-local fe80::1
    assert {s.network for s in skipped} == {"l2net", "iso"}
    text = routes.render_ip(found, skipped)
    assert "ip route add 192.168.110.0/24 via 192.168.1.250" in text.splitlines()
    assert "ip -6 route add 2001:db8:abc6::/64 via 2001:db8:1::250" in text.splitlines()
    frr = routes.render_frr(found, skipped).splitlines()
    assert "ip route 192.168.112.0/24 192.168.1.250" in frr
    assert "ipv6 route 2001:db8:abc6::/64 2001:db8:1::250" in frr
    assert all(line.startswith(("!", "ip route", "ipv6 route")) for line in frr)


def test_routes_say_when_the_parent_has_no_address():
    found, _ = routes.needed_routes([_l3("n40", ("10.40.0.0/24",), parent="foo")], INV)
    assert found[0].via is None and "no IPv4 address" in found[0].problem
    assert routes.render_ip(found).splitlines()[-1].startswith("# ip route add 10.40.0.0/24 via ?")
    assert routes.needed_routes([_l3("n40", ("10.40.0.0/24",), parent="foo")], INV, only="x") == ([], [])


def test_routes_cli_handler():
    class Ctl:
        docker = None

        def networks(self):
            return [Network(spec=_l3("ipnet110", ("192.168.110.0/24",)))]

        def inventory(self):
            return INV

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    dockercli.add_routes_parser(sub)
    args = parser.parse_args(["routes", "--format", "frr", "ipnet110"])
    out = io.StringIO()
    assert args.dockercli_handler(Ctl(), args, out, io.StringIO()) == 0
    assert "ip route 192.168.110.0/24 192.168.1.250" in out.getvalue()
    with pytest.raises(ValidationError):
        dockercli.cmd_routes(Ctl(), parser.parse_args(["routes", "nope"]), out, io.StringIO())
    with pytest.raises(EngineError):
        dockercli.cmd_connect(Ctl(), argparse.Namespace(network="n", container="c", ip=None, ip6=None,
                                                        dry_run=True), out, io.StringIO())


def test_connect_and_disconnect_parsers():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="netcmd")
    dockercli.add_connect_parser(sub)
    dockercli.add_disconnect_parser(sub)
    a = parser.parse_args(["connect", "--ip", "192.168.1.9", "--ip6", "2001:db8::9", "db_net", "c1"])
    assert (a.network, a.container, a.ip, a.ip6, a.dockercli_handler) == (
        "db_net", "c1", "192.168.1.9", "2001:db8::9", dockercli.cmd_connect)
    d = parser.parse_args(["disconnect", "-f", "db_net", "c1"])
    assert d.force and d.dockercli_handler is dockercli.cmd_disconnect


def test_one_character_container_names_are_refused_before_docker():
    from ipvlan_tui.model import EndpointRequest

    eng = dk.DockerEngine("unix:///nonexistent/docker.sock")
    with pytest.raises(ValidationError) as info:
        eng.plan_run(EndpointRequest(name="a", network="n", engine="docker"))
    assert info.value.field == "--name" and "2 characters" in info.value.problem


def test_unreachable_daemon_cannot_tell_instead_of_no_such(tmp_path):
    # "no such network" would be a guess: the network may be there, dockerd merely stopped.
    eng = dk.DockerEngine(f"unix://{tmp_path}/missing.sock", timeout=2)
    with pytest.raises(dk.DockerUnreachable, match="unreachable.*cannot tell whether c1"):
        eng.has_container("c1")
    with pytest.raises(dk.DockerUnreachable, match="cannot tell whether network n is on Docker"):
        eng.has_network("n")
    with pytest.raises(EngineError, match="unreachable"):
        eng.networks()


def test_known_down_fails_fast_and_probes_again(tmp_path, monkeypatch):
    eng = dk.DockerEngine(f"unix://{tmp_path}/missing.sock", timeout=2)
    assert eng.status() != "ok" and not eng.reachable
    probes = []
    monkeypatch.setattr(eng, "_probe", lambda: probes.append(1))
    with pytest.raises(dk.DockerUnreachable):
        eng.api  # within DOWN_RECHECK_S of the failure: no new attempt
    assert probes == []
    eng._down_at -= dk.DOWN_RECHECK_S
    eng._client = type("C", (), {"api": "the api", "close": lambda self: None})()
    assert eng.api == "the api" and probes == [1]


def test_in_flight_connection_loss_says_the_outcome_is_unknown():
    import requests

    eng = dk.DockerEngine("unix:///nonexistent/docker.sock")
    lost = requests.exceptions.ConnectionError(
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))")
    with pytest.raises(dk.DockerUnreachable) as info:
        eng._call("run web1", lambda: (_ for _ in ()).throw(lost))
    assert "closed the connection" in info.value.message
    assert "whether it was done is unknown" in info.value.message and not eng.reachable
    refused = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
    with pytest.raises(dk.DockerUnreachable, match="connection refused; not done: run web1"):
        eng._call("run web1", lambda: (_ for _ in ()).throw(refused))


class _Stream:
    def __init__(self, items, broken=None):
        self.items, self.broken, self.closed = list(items), broken, False

    def __iter__(self):
        yield from self.items
        if self.broken:
            raise self.broken

    def close(self):
        self.closed = True


def test_events_say_daemon_down_and_up_and_reconnect(monkeypatch):
    import requests

    eng = dk.DockerEngine("unix:///x", host_label="lab")
    start = {"Type": "container", "Action": "start", "Actor": {"ID": "c1", "Attributes": {"name": "web"}}}
    opened = []
    plan = [_Stream([start], broken=requests.exceptions.ChunkedEncodingError("Connection broken")),
            requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
            _Stream([start])]

    class API:
        def events(self, decode, filters):
            item = plan.pop(0) if plan else _Stream([])
            opened.append(item)
            if isinstance(item, Exception):
                raise item
            return item

    eng._client = type("C", (), {"api": API(), "close": lambda self: None})()
    statuses = iter(["Docker daemon unreachable at x: connection refused"])
    monkeypatch.setattr(eng, "status", lambda: next(statuses, "ok"))
    monkeypatch.setattr(eng, "_probe", lambda: setattr(eng, "_down", None))
    got = []
    eng.events(got.append, lambda: len(got) >= 4, poll=0.01, retry=0.01)
    assert [(e["type"], e["action"]) for e in got] == [
        ("container", "start"), ("daemon", "down"), ("daemon", "up"), ("container", "start")]
    assert "connection refused" in got[1]["name"] and got[1]["host"] == "lab"
    assert all(s.closed for s in opened if isinstance(s, _Stream))
    with pytest.raises(EngineError, match="event stream ended"):  # without reconnect: raised
        plan[:] = [_Stream([], broken=requests.exceptions.ChunkedEncodingError("broken"))]
        eng.events(got.append, lambda: False, poll=0.01, reconnect=False)


def test_exec_argv():
    assert dk.DockerEngine("unix:///run/d.sock").exec_argv("c1", ["ip", "route"]) == [
        "docker", "-H", "unix:///run/d.sock", "exec", "c1", "ip", "route"]
    assert dk.DockerEngine().exec_argv("c1", ["sh"]) == ["docker", "exec", "c1", "sh"]
    with pytest.raises(ValidationError):
        dk.DockerEngine().exec_argv("c1", [])
