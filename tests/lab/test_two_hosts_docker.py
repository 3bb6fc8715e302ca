"""Two Docker hosts on one 802.1q trunk: two lab VMs on one wire, a dockerd in each.

The issue's multi-host proof, end to end through the ipvlan-tui CLI:
- one `network create --hosts A,B` makes VLAN 20 on both daemons with
  disjoint --ip-range slices; a container on each gets an address from its
  host's slice, and they ping each other across the trunk (VLAN 20 frames
  counted on both VMs' eth0.20);
- an L3 network on each host (VLAN 30, different subnets): no reach before,
  then the routes `ipvlan-tui routes --format ip` prints on each host are
  applied on the other, and the containers reach each other both ways;
- `rm` and one `network rm --hosts A,B` remove everything, the VLAN links too.

The scenario runs in VM A (tests/lab/two_hosts_guest.py); VM B serves its
dockerd and a control channel over the wire's untagged management subnet.
Runs on the host (it boots the two VMs itself), not inside a lab VM.
"""

from __future__ import annotations

import io
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from ipvlan_tui.lab import vm

pytestmark = pytest.mark.skipif(vm.in_lab(), reason="the lab VM cannot start itself (no nested lab)")

TIMEOUT = 1200  # seconds per VM, boot included


class Scenario:
    """The two VMs, run in threads of their own: started early by tests/lab/conftest.py (while
    the host-only tests use one core and the other idles), awaited by the test, which runs last."""

    def __init__(self, workdir: Path) -> None:
        self.sock = str(workdir / "wire.sock")
        self.results: dict[str, object] = {}
        self.outputs = {"a": io.BytesIO(), "b": io.BytesIO()}
        self.threads: list[threading.Thread] = []
        self.t0 = 0.0
        self.wall = 0.0

    def _run(self, role: str, server: bool, mac: str) -> None:
        try:
            self.results[role] = vm.run_in_lab([sys.executable, "-m", "tests.lab.two_hosts_guest", role],
                                               memory_mb=vm.DOCKER_MEMORY_MB, timeout=TIMEOUT,
                                               stdout=self.outputs[role], stderr=self.outputs[role],
                                               wire=vm.Wire(self.sock, server=server, mac=mac))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.results[role] = exc

    def start(self) -> "Scenario":
        self.t0 = time.monotonic()
        first = threading.Thread(target=self._run, args=("a", True, "52:54:00:00:21:01"), daemon=True)
        first.start()
        time.sleep(2)  # the wire's server side listens first
        second = threading.Thread(target=self._run, args=("b", False, "52:54:00:00:21:02"), daemon=True)
        second.start()
        self.threads = [first, second]
        return self

    def wait(self) -> None:
        for t in self.threads:
            t.join(TIMEOUT + 60)
        self.wall = time.monotonic() - self.t0


_started: Scenario | None = None


def start_early(workdir: Path) -> None:
    global _started
    if _started is None:
        _started = Scenario(workdir).start()


def test_two_docker_hosts_on_one_trunk(lab_ready, tmp_path):
    scenario = _started or Scenario(tmp_path).start()
    scenario.wait()
    if scenario is _started:
        shutil.rmtree(Path(scenario.sock).parent, ignore_errors=True)  # its own temp dir
    text = {k: v.getvalue().decode(errors="replace") for k, v in scenario.outputs.items()}
    report = f"--- VM A:\n{text['a']}\n--- VM B:\n{text['b']}"
    print(report)
    print(f"two-VM Docker test: {scenario.wall:.1f} s wall from its start (both VMs, boot included)")
    assert scenario.results == {"a": 0, "b": 0}, f"{scenario.results}\n{report}"
    assert re.search(r"TWO-HOST OK in [\d.]+ s", text["a"]), report
    assert "VLAN 20 across the trunk: ca <-> cb both ways" in text["a"]
    assert "L3 across hosts with the printed routes: ra <-> rb both ways" in text["a"]
    assert "stopped by A" in text["b"]
