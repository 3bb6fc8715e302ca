"""The pytest plugin: marked tests go to the lab VM once, results come back as normal reports."""

from __future__ import annotations

import pytest

from ipvlan_tui.lab import provision, vm

REAL_CACHE = str(provision.cache_dir())  # before pytester moves HOME

pytestmark = pytest.mark.skipif(vm.in_lab(), reason="the lab VM cannot start itself (no nested lab)")

SAMPLE = '''
import os
import pytest

def test_on_host():
    assert os.environ.get("IPVLAN_TUI_IN_LAB") != "1"

@pytest.mark.kernel
def test_in_lab_passes():
    assert os.environ["IPVLAN_TUI_IN_LAB"] == "1"
    assert os.path.exists("/sys/module/ipvlan")
    print("inner-marker-output")

@pytest.mark.kernel
def test_in_lab_fails():
    value = 1
    assert value == 2, "the inner failure message"

@pytest.mark.kernel
def test_in_lab_skips():
    pytest.skip("inner skip reason")

@pytest.mark.kernel
@pytest.mark.parametrize("n", [1, 2])
def test_in_lab_param(n):
    assert n in (1, 2)

@pytest.mark.kernel
@pytest.mark.xfail(reason="known inner bug", strict=True)
def test_in_lab_xfail():
    assert False
'''


SAMPLE2 = '''
import os
import pytest

@pytest.mark.kernel
def test_in_second_vm():
    assert os.environ["IPVLAN_TUI_IN_LAB"] == "1"
'''


def _setup(pytester, monkeypatch):
    # pytester moves HOME; keep the real lab cache
    monkeypatch.setenv("IPVLAN_TUI_LAB_CACHE", REAL_CACHE)
    pytester.makepyfile(test_sample=SAMPLE)
    pytester.makeini("[pytest]\nmarkers =\n    kernel: k\n    docker: d\n")
    monkeypatch.setenv("IPVLAN_TUI_LAB", "force")  # use the lab even on a host with ipvlan
    monkeypatch.delenv("IPVLAN_TUI_IN_LAB", raising=False)


def test_marked_tests_run_in_two_vms_at_once_and_are_replayed(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    pytester.makepyfile(test_sample2=SAMPLE2)
    monkeypatch.setenv("IPVLAN_TUI_LAB_VMS", "2")
    res = pytester.runpytest_subprocess("-p", "ipvlan_tui.lab.pytest_plugin", "-rA", timeout=600)
    res.assert_outcomes(passed=5, failed=1, skipped=1, xfailed=1)
    out = res.stdout.str()
    # modules dealt to the VMs whole, the bigger first: one boot each, both at once
    assert out.count("kernel lab: booting 2 VM(s) at once for 7 kernel/docker test(s) (6 + 1)") == 1
    assert "kernel lab VM 1/2: 6/6 marked test(s) ran inside it" in out
    assert "kernel lab VM 2/2: 1/1 marked test(s) ran inside it" in out
    assert "slowest: test_sample2.py::test_in_second_vm " in out  # per-VM timings, named
    assert "test_in_second_vm PASSED" in out or "PASSED test_sample2.py::test_in_second_vm" in out
    assert "the inner failure message" in out and "assert 1 == 2" in out
    assert "inner lab output (tail)" in out
    assert "inner skip reason" in out
    assert "test_sample.py::test_in_lab_param[2] PASSED" in out or "PASSED test_sample.py::test_in_lab_param[2]" in out


def test_lab_that_cannot_boot_fails_the_tests(pytester, monkeypatch, tmp_path):
    _setup(pytester, monkeypatch)
    monkeypatch.setenv("IPVLAN_TUI_LAB_CACHE", str(tmp_path / "empty-cache"))
    res = pytester.runpytest_subprocess("-p", "ipvlan_tui.lab.pytest_plugin", timeout=120)
    res.assert_outcomes(passed=1, failed=6)
    assert "the lab is not set up" in res.stdout.str()


def test_opt_out_skips_loudly(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    monkeypatch.setenv("IPVLAN_TUI_LAB", "off")
    res = pytester.runpytest_subprocess("-p", "ipvlan_tui.lab.pytest_plugin", "-rs", timeout=120)
    res.assert_outcomes(passed=1, skipped=6)
    out = res.stdout.str()
    assert "KERNEL LAB DISABLED" in out and "SKIPPED: IPVLAN_TUI_LAB=off" in out
