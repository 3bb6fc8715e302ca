"""`network create --hosts`: disjoint --ip-range slices per host, one plan, rollback across hosts.
Without a daemon: the engines here are stand-ins that record what they were asked."""

from __future__ import annotations

import ipaddress
import types

import pytest

from ipvlan_tui import dockercli, multihost
from ipvlan_tui.errors import EngineError, PlanFailed, ValidationError
from ipvlan_tui.model import ENGINE_DOCKER, Inventory, Link, Network, NetworkRequest, NetworkSpec, ParentPlan
from ipvlan_tui.plan import Plan, Step

INV = Inventory(links=(
    Link(1, "lo", "device", addresses=("127.0.0.1/8",)),
    Link(2, "eth0", "device", state="up", addresses=("192.168.1.250/24",)),
))
REQ = NetworkRequest(name="vlan20", subnets=("192.168.20.0/24",), gateways=("192.168.20.1",),
                     options=("parent=eth0.20",), engine=ENGINE_DOCKER)


def test_split_gives_disjoint_equal_blocks_and_leaves_the_spare_one_unused():
    assert multihost.split("192.168.20.0/24", 2) == ["192.168.20.0/25", "192.168.20.128/25"]
    three = multihost.split("10.0.0.0/16", 3)
    assert three == ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"]
    assert multihost.split("2001:db8::/64", 5)[4] == "2001:db8:0:0:8000::/67"
    with pytest.raises(ValidationError) as ei:
        multihost.split("192.168.20.0/29", 4)
    assert ei.value.field == "--hosts" and "too small" in ei.value.problem and "/28" in ei.value.fix


def test_parse_hosts():
    assert multihost.parse_hosts(["a,b", "c"]) == ["a", "b", "c"]
    for bad, word in ((["a"], "at least two"), (["a,a"], "more than once"), (["a,,b"], "empty")):
        with pytest.raises(ValidationError, match=word) as ei:
            multihost.parse_hosts(bad)
        assert ei.value.field == "--hosts" and ei.value.fix


def _spec(ip_range=None):
    from ipvlan_tui.spec import validate_network

    req = REQ if ip_range is None else NetworkRequest(**{**REQ.__dict__, "ip_ranges": (ip_range,)})
    return validate_network(req, INV, [])


def test_slice_specs_split_the_users_own_range_and_keep_the_gateway():
    specs = multihost.slice_specs(_spec("192.168.20.128/25"), ["h1", "h2"])
    assert [s.subnets[0].ip_range for s in specs] == ["192.168.20.128/26", "192.168.20.192/26"]
    assert {s.subnets[0].gateway for s in specs} == {"192.168.20.1"}
    assert [s.host for s in specs] == ["h1", "h2"] and multihost.disjoint(specs)


class FakeDocker:
    """What dockercli asks of a DockerEngine, recorded."""

    def __init__(self, label, networks=(), fail=False):
        self.host_label = label
        self.nets = list(networks)
        self.fail = fail
        self.created: list[NetworkSpec] = []

    def networks(self):
        return [Network(spec=s) for s in self.nets]

    def network(self, name):
        return next((Network(spec=s) for s in self.nets if s.name == name), None)

    def plan_network_create(self, spec):
        def do():
            if self.fail:
                raise EngineError(f"Docker refused on {self.host_label}")
            self.created.append(spec)
            self.nets.append(spec)

        def undo():
            self.nets.remove(spec)

        rng = spec.subnets[0].ip_range
        return Plan("x", [Step(f"create {spec.name}", f"docker network create --ip-range={rng} {spec.name}",
                               do=do, undo=undo)])

    def close(self):
        pass


def _ctl():
    return types.SimpleNamespace(kernel=types.SimpleNamespace(inventory=lambda: INV))


def test_plan_across_shows_each_hosts_slice_and_runs_all_or_nothing():
    a, b = FakeDocker("hostA"), FakeDocker("hostB", fail=True)
    specs, plan, _ = dockercli.plan_create_across(_ctl(), REQ, ["hostA,hostB"], [a, b])
    text = plan.render()
    assert "[hostA] create vlan20; allocates only from 192.168.20.0/25 (128 addresses)" in text
    assert "[hostB] create vlan20; allocates only from 192.168.20.128/25" in text
    assert "--ip-range=192.168.20.128/25" in text
    with pytest.raises(PlanFailed) as ei:
        plan.execute()
    assert "hostB" in str(ei.value)
    assert a.created and a.nets == [] and b.nets == []  # hostA's network was rolled back


def test_a_clash_on_one_host_is_refused_naming_that_host_before_anything_runs():
    holder = NetworkSpec(name="other20", parent=ParentPlan(kind="vlan", name="eth0.20", base="eth0",
                                                           vlan_id=20, create=True),
                         engine=ENGINE_DOCKER)
    a, b = FakeDocker("hostA"), FakeDocker("hostB", networks=[holder])
    with pytest.raises(ValidationError) as ei:
        dockercli.plan_create_across(_ctl(), REQ, ["hostA,hostB"], [a, b])
    err = ei.value
    assert err.field == "-o parent" and "on hostB" in err.problem and "other20" in err.problem
    assert a.created == [] and b.created == []


def test_slices_are_disjoint_for_many_hosts():
    specs = multihost.slice_specs(_spec(), [f"h{i}" for i in range(7)])
    nets = [ipaddress.ip_network(s.subnets[0].ip_range) for s in specs]
    assert len(nets) == 7 and multihost.disjoint(specs)
    assert all(n.subnet_of(ipaddress.ip_network("192.168.20.0/24")) for n in nets)


# ----------------------------------------------------------------------------- swarm fields
@pytest.mark.parametrize("kw, field", [
    ({"subnets": ("10.9.0.0/24",)}, "--subnet"),
    ({"gateways": ("10.9.0.1",)}, "--gateway"),
    ({"ip_ranges": ("10.9.0.0/25",)}, "--ip-range"),
    ({"aux_addresses": ("r=10.9.0.3",)}, "--aux-address"),
    ({"options": ("parent=eth0.20",)}, "-o"),
    ({"ipv6": True}, "--ipv6"),
])
def test_config_from_network_carries_no_configuration_of_its_own(kw, field):
    req = NetworkRequest(name="swnet", engine=ENGINE_DOCKER, **kw)
    args = types.SimpleNamespace(config_from="swcfg", config_only=False)
    with pytest.raises(ValidationError) as ei:
        dockercli._config_from_rules(req, args)
    assert ei.value.field == field and "swcfg" in ei.value.fix


def test_cli_refuses_swarm_flags_in_the_wrong_place(tmp_path):
    import io

    from ipvlan_tui import cli

    for argv, word in ((["network", "create", "--scope", "swarm", "n1"], "--scope swarm: only applies"),
                       (["network", "create", "--config-only", "--config-from", "c", "n1"], "--config-only"),
                       (["network", "create", "--hosts", "a,b", "--config-from", "c", "n1"], "--hosts a,b")):
        out, err = io.StringIO(), io.StringIO()
        ctl = types.SimpleNamespace(docker=object(), kernel=None)
        import unittest.mock as um
        with um.patch("ipvlan_tui.cli._ctl", lambda args: ctl), \
                um.patch("ipvlan_tui.dockercli._engines", lambda hosts: [FakeDocker(h) for h in hosts]):
            code = cli.main(["--state-dir", str(tmp_path), *argv], out=out, err=err)
        assert code == 2 and word in err.getvalue(), err.getvalue()


def test_hosts_with_config_only_makes_a_sliced_config_network_per_node():
    class ConfigDocker(FakeDocker):
        def plan_config_only_create(self, spec):
            plan = self.plan_network_create(spec)
            return Plan("c", [Step("create config-only " + spec.name, plan.steps[0].command.replace(
                "network create", "network create --config-only"), do=plan.steps[0].do)])

    a, b = ConfigDocker("n1"), ConfigDocker("n2")
    specs, plan, _ = dockercli.plan_create_across(_ctl(), REQ, ["n1,n2"], [a, b], config_only=True)
    text = plan.render()
    assert plan.title == "network create --config-only vlan20 on 2 hosts"
    assert "[n1] create config-only vlan20; allocates only from 192.168.20.0/25" in text
    assert "docker network create --config-only --ip-range=192.168.20.128/25 vlan20" in text
