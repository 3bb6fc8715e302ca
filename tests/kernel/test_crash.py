"""Crash at every step: SIGKILL after each plan step, then `restore` makes it whole.

For network create, run, rm and network rm, the process kills itself right
after step n (IPVLAN_TUI_KILL_AT, see plan.py). `ipvlan-tui restore` must then
leave kernel and store consistent: the operation finished or fully undone,
nothing leaked, nothing that someone else made touched. The matrix of steps
x outcomes is printed (pytest -s, or the lab's replayed output).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.kernel.conftest import sh

pytestmark = pytest.mark.kernel
LAB_SECONDS = 250  # its expected time in the TCG lab VM (balances the lab VMs)

MATRIX: list[str] = []


def crash(host, kill_at: str, *args: str) -> int:
    env = dict(os.environ, IPVLAN_TUI_KILL_AT=kill_at, IPVLAN_TUI_STATE_DIR=str(host.state_dir))
    res = subprocess.run([sys.executable, "-m", "ipvlan_tui", *args], env=env,
                         capture_output=True, text=True, timeout=120)
    return res.returncode


def consistent(host, foreign_links: set[str]) -> dict:
    """Kernel and store agree; returns a summary of what exists."""
    nets = {n["Name"]: n for n in json.loads(host.ok("network", "ls", "--json"))}
    eps = {e["Name"]: e for e in json.loads(host.ok("ps", "--json"))}
    links = host.links()
    namespaces = host.namespaces()
    for ep in eps.values():
        assert ep["State"] == "running", ep
        assert ep["Name"] in namespaces
    for net in nets.values():
        for made in net["CreatedLinks"]:
            assert made in links, (made, net)
    assert namespaces == set(eps), (namespaces, set(eps))
    assert foreign_links <= links  # what others made is untouched
    assert "nothing to do" in host.ok("restore")
    return {"networks": sorted(nets), "endpoints": sorted(eps),
            "vlan": "eth0.20" in links}


def test_crash_at_every_step(host):
    sh("ip", "link", "add", "link", "eth0", "name", "eth0.99", "type", "vlan", "id", "99")
    foreign = {"eth0", "eth0.99"}
    cases = [
        ("network create", 3, lambda: None,
         ["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "cn"]),
        ("run", 6, lambda: (host.ok("network", "create", "--subnet=192.168.20.0/24", "-o",
                                    "parent=eth0.20", "cn"),
                            host.ok("run", "--net=cn", "--name=keep")),
         ["run", "--net=cn", "--name=victim"]),
        ("rm", 3, lambda: (host.ok("network", "create", "--subnet=192.168.20.0/24", "-o",
                                   "parent=eth0.20", "cn"),
                           host.ok("run", "--net=cn", "--name=victim")),
         ["rm", "victim"]),
        ("network rm", 6, lambda: (host.ok("network", "create", "--subnet=192.168.20.0/24", "-o",
                                           "parent=eth0.20", "cn"),
                                   host.ok("run", "--net=cn", "--name=victim")),
         ["network", "rm", "--force", "cn"]),
    ]
    tried = 0
    for title, steps, setup, args in cases:
        for n in range(1, steps + 1):
            setup()
            rc = crash(host, f"{title}:{n}", *args)
            assert rc == -9, f"{title} step {n}: expected SIGKILL, got {rc}"
            report = host.ok("restore")
            state = consistent(host, foreign)
            tried += 1
            verdict = ("finished" if ("victim" in state["endpoints"]) == (title == "run")
                       and (("cn" in state["networks"]) == (title != "network rm"))
                       else "undone")
            MATRIX.append(f"{title:15} kill after step {n}: {verdict:8} "
                          f"restore said: {report.strip().splitlines()[0] if report.strip() else '-'}")
            # Clean slate for the next crash point (our own objects only).
            for name in state["networks"]:
                host.ok("network", "rm", "--force", name)
            assert host.namespaces() == set()
            assert "eth0.20" not in host.links() and foreign <= host.links()
    print("\n".join(["crash matrix:", *MATRIX, f"{tried} crash points, 0 leaks"]))
    assert tried == 18
