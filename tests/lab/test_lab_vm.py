"""The lab VM end to end: `lab exec` exit codes, output streams, isolation, timeout, panic.

Each test that boots costs one VM boot (~10-25 s under TCG); they are kept few.
These run on the host (they start qemu), never inside the lab itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ipvlan_tui.lab import vm
from ipvlan_tui.lab.errors import EXIT_KERNEL_PANIC, EXIT_QEMU_MISSING, EXIT_TIMEOUT

pytestmark = pytest.mark.skipif(vm.in_lab(), reason="the lab VM cannot start itself (no nested lab)")

ROOT = Path(__file__).resolve().parents[2]


def lab(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "ipvlan_tui.lab", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)


def qemu_pids_with(marker: str) -> list[int]:
    """qemu processes whose environment carries `marker` (only ever ours)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            if not comm.startswith("qemu-system"):
                continue
            if marker.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def test_exec_true_exits_zero(lab_ready):
    t0 = time.monotonic()
    res = lab("exec", "--", "true")
    print(f"lab exec -- true: {time.monotonic() - t0:.1f} s")
    assert res.returncode == 0, res.stderr


def test_exit_code_streams_and_isolation(lab_ready):
    probe = ROOT / "tests" / "lab" / f".written-in-lab-{uuid.uuid4().hex[:8]}"
    script = (f"echo to-stdout; echo to-stderr >&2; echo inside > {probe}; cat {probe}; "
              'echo "in_lab=$IPVLAN_TUI_IN_LAB cwd=$(pwd)"; exit 7')
    try:
        res = lab("exec", "--", "sh", "-c", script)
        assert res.returncode == 7, res.stderr
        assert "to-stdout" in res.stdout and "to-stderr" not in res.stdout
        assert "to-stderr" in res.stderr and "to-stdout" not in res.stderr
        # the guest wrote and read the file back (output channel works)...
        assert "inside" in res.stdout
        assert f"in_lab=1 cwd={ROOT}" in res.stdout
        # ...but the host's tree is untouched
        assert not probe.exists()
        # no kernel noise in the command's streams
        assert "Linux version" not in res.stdout + res.stderr
    finally:
        probe.unlink(missing_ok=True)


def test_timeout_kills_the_vm(lab_ready):
    marker = f"IPVLAN_TUI_TEST_MARK={uuid.uuid4().hex}"
    key, value = marker.split("=", 1)
    t0 = time.monotonic()
    res = lab("exec", "--timeout", "20", "--", "sleep", "600", env={key: value})
    elapsed = time.monotonic() - t0
    assert res.returncode == EXIT_TIMEOUT, res.stderr
    assert "did not finish within 20 s" in res.stderr
    assert 19 <= elapsed < 40, elapsed
    assert qemu_pids_with(marker) == []


def test_kernel_panic_is_reported(lab_ready):
    res = lab("exec", "--timeout", "120", "--", "sh", "-c", "echo c > /proc/sysrq-trigger; sleep 60")
    assert res.returncode == EXIT_KERNEL_PANIC, res.stderr
    assert "kernel panicked" in res.stderr


def test_qemu_missing_is_reported(lab_ready, tmp_path):
    res = lab("exec", "--", "true", env={"IPVLAN_TUI_LAB_QEMU": str(tmp_path / "no-qemu")})
    assert res.returncode == EXIT_QEMU_MISSING
    assert "qemu-system-x86_64 is not installed" in res.stderr and "apt-get install" in res.stderr


def test_not_set_up_is_reported(tmp_path):
    res = lab("exec", "--", "true", env={"IPVLAN_TUI_LAB_CACHE": str(tmp_path / "empty")})
    assert res.returncode == 125
    assert "not set up" in res.stderr and "lab setup" in res.stderr


def test_setup_is_idempotent(lab_ready):
    res = lab("setup")
    assert res.returncode == 0, res.stderr
    assert "nothing to do" in res.stdout


def test_missing_command_is_usage_error():
    res = lab("exec")
    assert res.returncode == 2 and "missing command" in res.stderr


def test_host_probe_does_not_touch_host_links():
    before = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    vm.host_has_ipvlan.cache_clear()
    assert isinstance(vm.host_has_ipvlan(), bool)
    after = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert [l.split(":")[1] for l in before.splitlines()] == [l.split(":")[1] for l in after.splitlines()]


def test_sigterm_kills_the_vm_and_cleans_up(lab_ready):
    marker = f"IPVLAN_TUI_TEST_MARK={uuid.uuid4().hex}"
    key, value = marker.split("=", 1)
    proc = subprocess.Popen([sys.executable, "-m", "ipvlan_tui.lab", "exec", "--", "sleep", "600"], cwd=ROOT,
                            env=dict(os.environ, **{key: value}), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not qemu_pids_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert qemu_pids_with(marker), "qemu did not start"
        proc.terminate()  # SIGTERM to the CLI we started
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + 15
    assert qemu_pids_with(marker) == []
