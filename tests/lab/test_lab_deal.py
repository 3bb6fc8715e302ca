"""How the lab plugin deals the marked tests to its VMs (no VM booted)."""

from __future__ import annotations

import types

from ipvlan_tui.lab.pytest_plugin import deal


class Item:
    def __init__(self, module: str, name: str, docker: bool, seconds: float | None = None) -> None:
        self.nodeid = f"tests/{module}.py::{name}"
        self.module = types.SimpleNamespace(LAB_SECONDS=seconds) if seconds else None
        self._docker = docker

    def get_closest_marker(self, name: str):
        return object() if name == "docker" and self._docker else None


def items():
    return [Item("docker/a", "t1", True, 600), Item("docker/a", "t2", True, 600),
            Item("docker/b", "t1", True, 280), Item("docker/c", "t1", True, 150),
            Item("docker/d", "t1", True, 80), Item("docker/e", "t1", True, 80),
            Item("kernel/k1", "t1", False, 300), Item("kernel/k2", "t1", False, 250),
            Item("kernel/k3", "t1", False, 200), Item("kernel/k4", "t1", False, 50)]


def modules(group):
    return sorted({it.nodeid.split("::")[0].split("/", 1)[1].removesuffix(".py") for it in group})


def test_four_vms_two_for_docker_two_for_kernel_balanced_by_estimate():
    groups = deal(items(), 4)
    assert [modules(g) for g in groups] == [
        ["docker/a"], ["docker/b", "docker/c", "docker/d", "docker/e"],
        ["kernel/k1", "kernel/k4"], ["kernel/k2", "kernel/k3"]]
    for g in groups:  # never docker and kernel tests in one VM
        assert len({it.get_closest_marker("docker") is not None for it in g}) == 1
    assert sorted(it.nodeid for g in groups for it in g) == sorted(it.nodeid for it in items())


def test_three_vms_docker_together_and_one_vm_all():
    groups = deal(items(), 3)
    assert modules(groups[0]) == ["docker/a", "docker/b", "docker/c", "docker/d", "docker/e"]
    assert len(groups) == 3 and all(not any(it._docker for it in g) for g in groups[1:])
    (everything,) = deal(items(), 1)
    assert [it.nodeid for it in everything] == [it.nodeid for it in items()]


def test_docker_only_or_kernel_only_use_every_vm():
    only_docker = [it for it in items() if it._docker]
    assert len(deal(only_docker, 4)) == 4
    only_kernel = [it for it in items() if not it._docker]
    assert [modules(g) for g in deal(only_kernel, 2)] == [["kernel/k1", "kernel/k4"], ["kernel/k2", "kernel/k3"]]
