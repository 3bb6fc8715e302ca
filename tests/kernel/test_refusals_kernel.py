"""The kernel refuses midway, on a real kernel: EBUSY/EEXIST/ENOSPC injected at every step.

For network create, run, rm and network rm, step n fails with one of the
errnos in turn (IPVLAN_TUI_FAIL_AT="<plan>:<n>:<ERRNO>", plan.py). Each must
exit 1 with ONE error line naming the step and the refusal; a creation is
rolled back to exactly the state before; a removal is rolled back or, once
a namespace or link is gone, left `removing` for `restore` to finish. Kernel
and store agree afterwards and nothing leaked. The matrix is printed. The cases follow each other on
one host: what a case leaves is brought to the next one's starting state with
the fewest commands (conftest.arrange).
"""

from __future__ import annotations

import json

import pytest
from pyroute2 import IPRoute

from tests.kernel.conftest import arrange

pytestmark = pytest.mark.kernel
LAB_SECONDS = 155  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)

ERRNOS = ("EBUSY", "EEXIST", "ENOSPC")
TEXT = {"EBUSY": "device or resource busy", "EEXIST": "file exists",
        "ENOSPC": "no space left on device"}
NET = ["network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20"]
# (plan, steps, endpoints on network v20 before the command (None: no network), command)
CASES = [
    ("network create", 3, None, NET),
    ("run", 6, ("keep",), ["run", "--net=v20", "--name=victim"]),
    ("rm", 3, ("victim",), ["rm", "victim"]),
    ("network rm", 6, ("victim",), ["network", "rm", "--force", "v20"]),
]


def addresses() -> list[tuple]:
    """Every address in the test's namespace (what `ip -o addr` lists: interface, family,
    address, prefix, scope, flags), from netlink in-process: `ip` costs a second under TCG."""
    with IPRoute() as ipr:
        return sorted((a["index"], a.get_attr("IFA_LABEL") or "", a["family"],
                       a.get_attr("IFA_ADDRESS"), a.get_attr("IFA_LOCAL"), a["prefixlen"],
                       a["scope"], a.get_attr("IFA_FLAGS") or a["flags"])
                      for a in ipr.get_addr())


def world(host):
    return (host.links(), host.namespaces(), host.ok("network", "ls", "--json"),
            host.ok("ps", "--json"), addresses())


def consistent(host) -> tuple[list[str], list[str]]:
    """Kernel and store agree, nothing leaked; the names of the networks and endpoints."""
    nets = json.loads(host.ok("network", "ls", "--json"))
    eps = json.loads(host.ok("ps", "--json"))
    assert all(e["State"] == "running" for e in eps), eps
    assert host.namespaces() == {e["Name"] for e in eps}
    made = {l for l in host.links() if l.startswith("eth0.")}
    assert made == {l for n in nets for l in n["CreatedLinks"]}
    assert "nothing to do" in host.ok("restore")
    return [n["Name"] for n in nets], [e["Name"] for e in eps]


def emptied(host) -> None:
    assert host.namespaces() == set() and not {l for l in host.links() if l.startswith("eth0.")}


def test_kernel_refuses_at_every_step(host, monkeypatch):
    matrix = []
    k = 0
    state: tuple[list[str], list[str]] = ([], [])
    for title, steps, endpoints, cmd in CASES:
        for n in range(1, steps + 1):
            name = ERRNOS[k % len(ERRNOS)]
            k += 1
            arrange(host, NET, endpoints, *state, lambda: emptied(host))
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
            state = consistent(host)
            matrix.append(f"{title:15} step {n} {name:6}: {outcome}")
    arrange(host, NET, None, *state, lambda: emptied(host))  # what the last case left goes cleanly
    print("\n".join(["refusal matrix:", *matrix, f"{len(matrix)} refusals injected, 0 leaks"]))
    assert len(matrix) == 18
