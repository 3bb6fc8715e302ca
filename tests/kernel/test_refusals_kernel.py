"""The kernel refuses midway, on a real kernel: EBUSY/EEXIST/ENOSPC injected at every step.

For network create, run, rm and network rm, step n fails with one of the
errnos in turn (IPVLAN_TUI_FAIL_AT="<plan>:<n>:<ERRNO>", plan.py). Each must
exit 1 with ONE error line naming the step and the refusal; a creation is
rolled back to exactly the state before; a removal is rolled back or, once
a namespace or link is gone, left `removing` for `restore` to finish. Kernel
and store agree afterwards and nothing leaked. The matrix is printed.
"""

from __future__ import annotations

import json

import pytest

from tests.kernel.conftest import sh

pytestmark = pytest.mark.kernel
LAB_SECONDS = 250  # its expected time in the TCG lab VM (balances the lab VMs)

ERRNOS = ("EBUSY", "EEXIST", "ENOSPC")
TEXT = {"EBUSY": "device or resource busy", "EEXIST": "file exists",
        "ENOSPC": "no space left on device"}
NET = ["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20"]
CASES = [
    ("network create", 3, [], NET),
    ("run", 6, [NET, ["run", "--net=v20", "--name=keep"]], ["run", "--net=v20", "--name=victim"]),
    ("rm", 3, [NET, ["run", "--net=v20", "--name=victim"]], ["rm", "victim"]),
    ("network rm", 6, [NET, ["run", "--net=v20", "--name=victim"]],
     ["network", "rm", "--force", "v20"]),
]


def world(host):
    return (host.links(), host.namespaces(), host.ok("network", "ls", "--json"),
            host.ok("ps", "--json"), sh("ip", "-o", "addr").stdout)


def consistent(host) -> None:
    nets = json.loads(host.ok("network", "ls", "--json"))
    eps = json.loads(host.ok("ps", "--json"))
    assert all(e["State"] == "running" for e in eps), eps
    assert host.namespaces() == {e["Name"] for e in eps}
    made = {l for l in host.links() if l.startswith("eth0.")}
    assert made == {l for n in nets for l in n["CreatedLinks"]}
    assert "nothing to do" in host.ok("restore")


def test_kernel_refuses_at_every_step(host, monkeypatch):
    matrix = []
    k = 0
    for title, steps, setup, cmd in CASES:
        for n in range(1, steps + 1):
            name = ERRNOS[k % len(ERRNOS)]
            k += 1
            for args in setup:
                host.ok(*args)
            before = world(host)
            monkeypatch.setenv("IPVLAN_TUI_FAIL_AT", f"{title}:{n}:{name}")
            rc, out, err = host.cli(*cmd)
            monkeypatch.delenv("IPVLAN_TUI_FAIL_AT")
            lines = [l for l in err.splitlines() if l.strip()]
            assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: "), (title, n, err)
            assert f"step {n} (" in lines[0] and TEXT[name] in lines[0], lines[0]
            if world(host) == before:
                outcome = "rolled back"
            else:
                assert title in ("rm", "network rm"), (title, n, before, world(host))
                assert "stays marked removing" in lines[0]
                host.ok("restore")
                outcome = "finished by restore"
            consistent(host)
            matrix.append(f"{title:15} step {n} {name:6}: {outcome}")
            for net in json.loads(host.ok("network", "ls", "--json")):
                host.ok("network", "rm", "--force", net["Name"])
            assert host.namespaces() == set() and not {l for l in host.links() if l.startswith("eth0.")}
    print("\n".join(["refusal matrix:", *matrix, f"{len(matrix)} refusals injected, 0 leaks"]))
    assert len(matrix) == 18
