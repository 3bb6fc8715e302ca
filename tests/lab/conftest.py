"""Fixtures of the lab's own tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ipvlan_tui.lab import provision, vm
from ipvlan_tui.lab.errors import LabError

TWO_HOSTS = "test_two_hosts_docker.py::test_two_docker_hosts_on_one_trunk"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """The two-VM Docker test runs last: its VMs start once this directory's other tests
    are done (below) and run while the host-only tests (one core) go on; the test awaits them."""
    late = [it for it in items if it.nodeid.endswith(TWO_HOSTS)]
    if late:
        items[:] = [it for it in items if it not in late] + late


def pytest_runtest_teardown(item, nextitem):
    """After the last test here that boots VMs of its own (the next one is elsewhere:
    the console and unit tests, on one core), start the two-VM scenario."""
    if nextitem is None or vm.in_lab() or Path(nextitem.path).parent == HERE:
        return
    if not any(it.nodeid.endswith(TWO_HOSTS) for it in item.session.items):
        return
    try:
        provision.find_qemu()
        provision.load_manifest()
    except LabError:
        return  # the test fails through lab_ready, with the reason
    from tests.lab import test_two_hosts_docker

    test_two_hosts_docker.start_early(Path(tempfile.mkdtemp(prefix="ipvlan-tui-two-hosts-")))


@pytest.fixture(scope="session")
def lab_ready():
    try:
        provision.find_qemu()
        return provision.load_manifest()
    except LabError as exc:  # fail, never skip: CI must have run `lab setup`
        pytest.fail(f"{exc}\n(run `python -m ipvlan_tui.lab setup` before the tests)")
