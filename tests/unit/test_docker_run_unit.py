"""Docker engine edge cases found by the lab's CLI tests, pinned without a daemon."""

from __future__ import annotations

import types

import docker.errors
import pytest

from ipvlan_tui.engines import docker as dk
from ipvlan_tui.errors import PlanFailed
from ipvlan_tui.model import ENGINE_DOCKER, EndpointRequest, NetworkRequest
from tests.unit.test_docker_unit import INV


class FailingStartAPI:
    """create_container works, start is refused (e.g. the image lacks the command)."""

    def __init__(self):
        self.removed: list[str] = []

    def create_endpoint_config(self, **kw):
        return kw

    def create_host_config(self, **kw):
        return kw

    def create_networking_config(self, cfg):
        return cfg

    def create_container(self, *a, **kw):
        return {"Id": "c0ffee" * 10 + "abcd"}

    def start(self, cid):
        raise docker.errors.APIError("400", explanation='failed to create shim task: exec: "nosuchprog": '
                                     'executable file not found in $PATH: unknown')

    def remove_container(self, cid, force=False):
        self.removed.append(cid)


def test_a_container_that_fails_to_start_is_removed_not_left_created():
    from ipvlan_tui.spec import validate_network

    spec = validate_network(NetworkRequest(name="vlan44", subnets=("192.168.44.0/24",),
                                           options=("parent=eth0.44",), engine=ENGINE_DOCKER), INV, [])
    eng = dk.DockerEngine("unix:///nonexistent.sock")
    api = FailingStartAPI()
    eng._client = types.SimpleNamespace(api=api, close=lambda: None)
    eng._spec = lambda name, field="--net": spec
    eng._used = lambda s: set()
    eng._container_names = lambda: set()
    eng._image_present = lambda image: True
    _, plan = eng.plan_run(EndpointRequest(name="x4", network="vlan44", engine=ENGINE_DOCKER, image="busybox",
                                           command=("nosuchprog",)))
    with pytest.raises(PlanFailed) as ei:
        plan.execute()
    assert "Docker refused to run x4" in str(ei.value) and "\n" not in str(ei.value)
    assert api.removed == ["c0ffee" * 10 + "abcd"]
