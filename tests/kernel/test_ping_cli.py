"""`ipvlan-tui ping` and `ping --matrix` on a real kernel: predictions match measurements."""

from __future__ import annotations

import io
import json
import time

import pytest

pytestmark = pytest.mark.kernel
LAB_SECONDS = 60  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)


def ping(host, *args):
    from ipvlan_tui.cli import main
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--state-dir", str(host.state_dir), "ping", *args], out, err)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def three_networks(host):
    host.ok("network", "create", "--subnet=192.168.1.0/24", "-o", "parent=eth0", "lan")
    host.ok("network", "create", "--subnet=10.30.1.0/24", "--subnet=10.30.2.0/24",
            "-o", "parent=eth0.30", "-o", "ipvlan_mode=l3", "l3net")
    host.ok("network", "create", "--subnet=192.168.50.0/24", "--subnet=2001:db8:50::/64",
            "--internal", "iso")
    for i in range(4):
        host.ok("run", "--net=lan", f"--name=lan{i}")
        host.ok("run", "--net=l3net", f"--ip=10.30.{1 + i % 2}.{10 + i}", f"--name=l3-{i}")
        host.ok("run", "--net=iso", f"--name=iso{i}")
    return host


def test_ping_reachable_and_parent_isolated(three_networks):
    host = three_networks
    rc, out, err = ping(host, "-c", "2", "-i", "0.2", "lan0", "lan1")
    assert rc == 0, err
    assert "2 packets transmitted, 2 received, 0% packet loss" in out
    assert "rtt min/avg/max/mdev" in out and "verdict: expected" in out
    rc, out, err = ping(host, "-c", "1", "--verdict", "lan0", "parent")
    assert rc == 0, out + err  # not reachable, as predicted
    assert "192.168.1.250" in out and "expected" in out and "parent" in out.lower()
    rc, out, err = ping(host, "-c", "1", "lan0", "parent")
    assert rc == 1  # like ping: no reply


def test_ping_ipv6_and_bad_input(three_networks):
    host = three_networks
    rc, out, err = ping(host, "-6", "-c", "1", "iso0", "iso1")
    assert rc == 0 and "2001:db8:50::" in out, out + err
    rc, out, err = ping(host, "nosuch", "iso1")
    assert rc == 2 and "no such endpoint" in err and "Traceback" not in err
    rc, out, err = ping(host, "iso0", "not-an-address")
    assert rc == 2 and "Traceback" not in err


def test_matrix_of_12_endpoints_has_no_surprises(three_networks):
    host = three_networks
    t0 = time.monotonic()
    rc, out, err = ping(host, "--matrix", "--json", "-W", "1")
    elapsed = time.monotonic() - t0
    doc = json.loads(out)
    print(f"matrix of {doc['count']} pairs: {elapsed:.2f} s")
    surprising = [p for p in doc["pairs"] if p["verdict"] != "expected"]
    assert doc["count"] == 132
    assert surprising == [] and doc["surprises"] == 0 and rc == 0
    reached = {(p["source"], p["target"]) for p in doc["pairs"] if p["received"]}
    assert ("l3-0", "l3-1") in reached  # L3 across subnets on one parent
    assert ("lan0", "l3-0") not in reached and ("iso0", "lan0") not in reached
    assert elapsed < 15  # about one timeout, not 132 of them
