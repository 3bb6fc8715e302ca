"""Host protection: a change that would cut the host off is refused unless that risk is confirmed.

Creating a network on the parent of the host's default route is the normal
use and stays allowed. What is guarded: deleting a link ipvlan-tui made (a
VLAN sub-interface, a dummy parent) once the host uses it: an address on it,
a route through it, a link on top of it that ipvlan-tui did not make. Then
`network rm`, `restore` and `apply --prune` refuse (or leave the link) unless
`--allow-host-cutoff` names the risk.

Breadth on the in-memory kernel; tests/kernel/test_host_protection_kernel.py
proves the same on a real kernel in the lab.
"""

from __future__ import annotations


import pytest

from ipvlan_tui.controller import Controller
from ipvlan_tui.errors import HostLinkInUse, PlanFailed
from ipvlan_tui.model import EndpointRequest, NetworkRequest
from tests.cli_harness import demo_controller, run_cli


@pytest.fixture
def ctl(tmp_path, monkeypatch):
    c = demo_controller(tmp_path, monkeypatch)
    yield c
    c.store.close()


run = run_cli


def snapshot(c: Controller):
    inv = c.kernel.inventory()
    return (sorted((l.netns, l.name, l.addresses) for l in inv.links), inv.namespaces,
            c.store.networks(), c.store.endpoints(), sorted(map(str, c.store.owned())))


def vlan20(c: Controller, endpoint: bool = True) -> None:
    c.create_network(NetworkRequest("v20", subnets=("192.168.20.0/24",),
                                    options=("parent=eth0.20",)))
    if endpoint:
        c.run_endpoint(EndpointRequest("a", "v20"))


def test_a_network_on_the_default_route_parent_is_the_normal_use(ctl):
    assert ctl.host_use("eth0")  # it does carry the host: address and default route
    rc, out, err = run("network", "create", "--subnet=192.168.1.0/24", "-o", "parent=eth0", "n")
    assert rc == 0, err
    assert run("run", "--net=n", "--name=a")[0] == 0
    rc, out, err = run("network", "rm", "--force", "n")
    assert rc == 0, err
    assert ctl.kernel.link_exists("eth0")
    assert ctl.kernel.host_routes_by_link()["eth0"] == ("default via 192.168.1.1",)


def test_host_use_names_every_reason(ctl):
    vlan20(ctl, endpoint=True)
    assert ctl.host_use("eth0.20") == []  # our own endpoint on it is no use by the host
    ctl.kernel.add_address("eth0.20", "fe80::1/64")  # the kernel's own: not a use
    assert ctl.host_use("eth0.20") == []
    ctl.kernel.add_address("eth0.20", "192.168.20.5/24")
    ctl.kernel.with_route("eth0.20", "default via 192.168.20.1")
    ctl.kernel.create_vlan("eth0.20", 5, "eth0.20.5")
    reasons = "\n".join(ctl.host_use("eth0.20"))
    assert "192.168.20.5/24" in reasons and "fe80" not in reasons
    assert "default via 192.168.20.1" in reasons
    assert "eth0.20.5" in reasons and "not made by ipvlan-tui" in reasons
    assert "loopback" in " ".join(ctl.host_use("lo"))


@pytest.mark.parametrize("takeover,needle", [
    (lambda k: k.add_address("eth0.20", "192.168.20.5/24"), "192.168.20.5/24"),
    (lambda k: k.with_route("eth0.20", "default via 192.168.20.1"), "default via 192.168.20.1"),
    (lambda k: k.with_route("eth0.20", "10.50.0.0/16 via 192.168.20.9"), "10.50.0.0/16"),
    (lambda k: k.add_address("eth0.20", "2001:db8:20::5/64"), "2001:db8:20::5/64"),
    (lambda k: k.create_vlan("eth0.20", 7, "mgmt"), "mgmt"),
])
@pytest.mark.parametrize("dry", [False, True])
def test_network_rm_refuses_a_parent_the_host_took_over(ctl, takeover, needle, dry):
    vlan20(ctl)
    takeover(ctl.kernel)
    before = snapshot(ctl)
    rc, out, err = run("network", "rm", "--force", *(["--dry-run"] if dry else []), "v20")
    assert rc == 2, (out, err)
    assert "eth0.20" in err and needle in err and "cut the host off" in err
    assert "--allow-host-cutoff" in err  # the fix names the confirmation
    assert "Traceback" not in err
    assert snapshot(ctl) == before  # nothing changed: endpoint, VLAN, store


def test_allow_host_cutoff_is_the_explicit_confirmation(ctl):
    vlan20(ctl)
    ctl.kernel.add_address("eth0.20", "192.168.20.5/24")
    rc, out, err = run("network", "rm", "--force", "--allow-host-cutoff", "--dry-run", "v20")
    assert rc == 0 and "WARNING" in out and "192.168.20.5/24" in out
    assert ctl.kernel.link_exists("eth0.20")
    rc, out, err = run("network", "rm", "--force", "--allow-host-cutoff", "v20")
    assert rc == 0, err
    assert "warning:" in err and "192.168.20.5/24" in err and "--allow-host-cutoff" in err
    assert not ctl.kernel.link_exists("eth0.20") and ctl.store.networks() == []
    assert ctl.kernel.link_exists("eth0")


def test_isolated_dummy_parent_is_guarded_too(ctl):
    ctl.create_network(NetworkRequest("iso", subnets=("10.9.0.0/24",)))
    dummy = ctl.network("iso").created_links[0]
    ctl.kernel.add_address(dummy, "10.77.0.1/24")
    with pytest.raises(HostLinkInUse) as info:
        ctl.remove_network("iso")
    assert info.value.field == "network" and dummy in info.value.problem
    assert ctl.kernel.link_exists(dummy)


def test_host_takes_the_link_between_plan_and_run(ctl):
    """The check runs again when the plan runs: step 1 refuses, nothing is done."""
    vlan20(ctl)
    _, plan = ctl.plan_network_remove("v20", force=True)
    ctl.kernel.with_route("eth0.20", "default via 192.168.20.1")
    before = snapshot(ctl)
    with pytest.raises(PlanFailed) as info:
        plan.execute()
    assert info.value.step_index == 0 and isinstance(info.value.cause, HostLinkInUse)
    assert snapshot(ctl) == before


def test_a_namesake_is_left_alone_without_asking(ctl):
    """Our eth0.20 was replaced by a hand-made one: never ours to delete, so no question."""
    vlan20(ctl, endpoint=False)
    ctl.kernel.delete_link("eth0.20")
    ctl.kernel.create_vlan("eth0", 20, "eth0.20")
    ctl.kernel.add_address("eth0.20", "192.168.20.5/24")
    ctl.remove_network("v20")
    assert ctl.kernel.link_exists("eth0.20")


def test_restore_leaves_a_link_the_host_took_over(ctl):
    """A crash in `network rm` (state removing), then the host takes the VLAN: restore
    finishes the removal but leaves the link, and says why."""
    vlan20(ctl, endpoint=False)
    ctl.store.set_network_state("v20", "removing")
    ctl.kernel.add_address("eth0.20", "192.168.20.5/24")
    rep = ctl.restore()
    assert "network v20" in rep.finished
    assert ctl.kernel.link_exists("eth0.20")
    said = "\n".join(rep.orphans_in_kernel)
    assert "eth0.20" in said and "host uses it" in said and "192.168.20.5/24" in said
    assert ctl.store.networks() == [] and ctl.store.owned() == []


def test_apply_prune_leaves_a_network_whose_parent_the_host_took(ctl, tmp_path):
    vlan20(ctl, endpoint=False)
    ctl.kernel.with_route("eth0.20", "default via 192.168.20.1")
    path = tmp_path / "map.toml"
    path.write_text('version = 1\n[defaults]\ntrunk = "eth0"\n\n[[networks]]\nname = "v30"\n'
                    'vlan = 30\nsubnets = [{ subnet = "192.168.30.0/24" }]\n')
    rc, out, err = run("apply", "--prune", str(path))
    text = out + err
    assert "v20" in text and "not pruned" in text and "default via 192.168.20.1" in text, text
    assert ctl.kernel.link_exists("eth0.20") and ctl.store.network("v20") is not None
    assert ctl.store.network("v30") is not None  # the rest of the map still applied


class StubDocker:
    """Just enough of engines.docker.DockerEngine for a network rm: one network whose
    parent Docker made (Docker deletes it with the network)."""

    def __init__(self, spec):
        from ipvlan_tui.plan import Plan, Step
        self.spec, self.removed = spec, []
        self._plan = lambda: Plan(f"network rm {spec.name}", [Step(
            f"remove Docker network {spec.name}", f"docker network rm {spec.name}",
            do=lambda: self.removed.append(spec.name))])

    def has_network(self, name):
        return name == self.spec.name

    def plan_network_remove(self, name, force=False):
        return self.spec, self._plan()

    def networks(self):
        return []


def docker_spec(host=""):
    from ipvlan_tui.model import ENGINE_DOCKER, NetworkSpec, ParentPlan, Subnet
    return NetworkSpec(name="d20", engine=ENGINE_DOCKER, host=host, network_id="ab" * 32,
                       parent=ParentPlan(kind="vlan", name="eth0.20", base="eth0", vlan_id=20,
                                         create=True),
                       subnets=(Subnet("192.168.20.0/24", "192.168.20.1"),))


def test_docker_deleting_the_vlan_it_made_is_guarded_too(ctl):
    ctl.kernel.create_vlan("eth0", 20, "eth0.20")  # made by Docker for d20
    ctl.docker = StubDocker(docker_spec())
    ctl.remove_network("d20", dry_run=True)  # nobody uses it: fine
    ctl.kernel.with_route("eth0.20", "default via 192.168.20.1")
    with pytest.raises(HostLinkInUse) as info:
        ctl.remove_network("d20")
    assert "made by Docker" in info.value.problem and "default via 192.168.20.1" in info.value.problem
    assert ctl.docker.removed == []
    res = ctl.remove_network("d20", allow_host_cutoff=True)
    assert ctl.docker.removed == ["d20"] and "default via 192.168.20.1" in res.warnings[0]


def test_docker_on_another_host_is_not_judged_by_this_kernel(ctl):
    ctl.kernel.create_vlan("eth0", 20, "eth0.20")
    ctl.kernel.add_address("eth0.20", "192.168.20.5/24")  # this host's eth0.20, not theirs
    ctl.docker = StubDocker(docker_spec(host="tcp://far:2375"))
    ctl.remove_network("d20")
    assert ctl.docker.removed == ["d20"]


def test_apply_replace_leaves_a_drifted_network_whose_parent_the_host_took(ctl, tmp_path):
    vlan20(ctl, endpoint=False)
    ctl.kernel.add_address("eth0.20", "192.168.20.5/24")
    path = tmp_path / "map.toml"
    path.write_text('version = 1\n[defaults]\ntrunk = "eth0"\n\n[[networks]]\nname = "v20"\n'
                    'vlan = 20\nsubnets = [{ subnet = "192.168.21.0/24" }]\n')
    for dry in (["--dry-run"], []):
        rc, out, err = run("apply", "--replace", *dry, str(path))
        text = out + err
        assert "not replaced" in text and "192.168.20.5/24" in text, text
        assert "ip link add link eth0 name eth0.20" not in text  # no plan that cannot run
    assert ctl.kernel.link_exists("eth0.20")
    assert ctl.store.network("v20")[0].subnets[0].cidr == "192.168.20.0/24"
