"""Fixtures of the lab's own tests."""

from __future__ import annotations

import pytest

from ipvlan_tui.lab import provision
from ipvlan_tui.lab.errors import LabError


@pytest.fixture(scope="session")
def lab_ready():
    try:
        provision.find_qemu()
        return provision.load_manifest()
    except LabError as exc:  # fail, never skip: CI must have run `lab setup`
        pytest.fail(f"{exc}\n(run `python -m ipvlan_tui.lab setup` before the tests)")
