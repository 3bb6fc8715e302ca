"""Host protection on a real kernel: nothing the tool does cuts the host off unasked.

The test's host namespace has eth0 192.168.1.250/24 with the host's default
route via 192.168.1.1. A network on eth0 is the normal use. A VLAN the tool
made that the host then takes over (its address and default route moved
onto it, or a hand-made link on top of it) is never deleted by `network rm`,
`restore` or `apply --prune` unless `--allow-host-cutoff` names the risk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.kernel.conftest import sh

pytestmark = pytest.mark.kernel
LAB_SECONDS = 55  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)


def default_routes() -> str:
    return sh("ip", "route", "show", "default").stdout.strip()


@pytest.fixture
def hosted(host):
    sh("ip", "route", "add", "default", "via", "192.168.1.1", "dev", "eth0")
    return host


def test_network_on_the_default_route_parent_leaves_the_host_as_it_was(hosted):
    before = (default_routes(), sh("ip", "-o", "addr", "show", "dev", "eth0").stdout)
    hosted.ok("network", "create", "--subnet=192.168.1.0/24", "--gateway=192.168.1.1",
              "-o", "parent=eth0", "lan")
    hosted.ok("run", "--net=lan", "--name=c1")
    hosted.ok("network", "rm", "--force", "lan")
    assert (default_routes(), sh("ip", "-o", "addr", "show", "dev", "eth0").stdout) == before
    assert "eth0" in hosted.links()


def test_vlan_taken_over_by_the_host_is_not_deleted_unasked(hosted, tmp_path):
    hosted.ok("network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20")
    hosted.ok("run", "--net=v20", "--name=c1")
    # A clean VLAN (only the kernel's own fe80:: address on it) is no host use.
    assert hosted.cli("network", "rm", "--dry-run", "--force", "v20")[0] == 0
    # The admin moves the host onto the VLAN: an address and the default route.
    sh("ip", "addr", "add", "192.168.20.5/24", "dev", "eth0.20")
    sh("ip", "route", "replace", "default", "via", "192.168.20.1", "dev", "eth0.20")
    state = lambda: (hosted.links(), hosted.namespaces(), default_routes(),
                     hosted.ok("network", "ls", "--json"), hosted.ok("ps", "--json"))
    before = state()
    for extra in ([], ["--dry-run"]):
        rc, out, err = hosted.cli("network", "rm", "--force", *extra, "v20")
        assert rc == 2, (out, err)
        assert "eth0.20" in err and "192.168.20.5/24" in err and "default via 192.168.20.1" in err
        assert "cut the host off" in err and "--allow-host-cutoff" in err
        assert state() == before
    # apply --prune leaves it and says why; the rest of the map is applied.
    path = tmp_path / "map.toml"
    path.write_text('version = 1\n[defaults]\ntrunk = "eth0"\n\n[[networks]]\nname = "v30"\n'
                    'vlan = 30\nsubnets = [{ subnet = "192.168.30.0/24" }]\n')
    rc, out, err = hosted.cli("apply", "--prune", str(path))
    assert "not pruned" in out + err and "v20" in out + err, out + err
    assert "eth0.20" in hosted.links() and "eth0.30" in hosted.links()
    assert default_routes() == before[2]
    hosted.ok("network", "rm", "v30")
    # A crash in `network rm` right after the removal was marked; restore finishes the
    # removal but leaves the VLAN the host stands on.
    env = dict(os.environ, IPVLAN_TUI_KILL_AT="network rm:1",
               IPVLAN_TUI_STATE_DIR=str(hosted.state_dir))
    res = subprocess.run([sys.executable, "-m", "ipvlan_tui", "network", "rm", "--force",
                          "--allow-host-cutoff", "v20"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == -9, res.stderr
    out = hosted.ok("restore")
    assert "eth0.20" in out and "host uses it" in out, out
    assert "eth0.20" in hosted.links() and default_routes() == before[2]
    assert json.loads(hosted.ok("network", "ls", "--json")) == []
    assert hosted.namespaces() == set()


def test_allow_host_cutoff_deletes_it_and_says_so(hosted):
    hosted.ok("network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20")
    sh("ip", "addr", "add", "192.168.20.5/24", "dev", "eth0.20")
    rc, out, err = hosted.cli("network", "rm", "--allow-host-cutoff", "v20")
    assert rc == 0, err
    assert "warning:" in err and "192.168.20.5/24" in err
    assert "eth0.20" not in hosted.links() and "eth0" in hosted.links()


def test_a_hand_made_link_on_our_vlan_is_not_taken_down_with_it(hosted):
    hosted.ok("network", "create", "--subnet=192.168.20.0/24", "-o", "parent=eth0.20", "v20")
    sh("ip", "link", "add", "link", "eth0.20", "name", "mgmt", "type", "vlan", "id", "7")
    rc, out, err = hosted.cli("network", "rm", "v20")
    assert rc == 2 and "mgmt" in err and "not made by ipvlan-tui" in err, err
    assert {"eth0.20", "mgmt"} <= hosted.links()
    sh("ip", "link", "del", "mgmt")
    hosted.ok("network", "rm", "v20")
    assert "eth0.20" not in hosted.links()


def test_lo_is_never_a_parent(hosted):
    rc, out, err = hosted.cli("network", "create", "-o", "parent=lo", "lonet")
    assert rc == 2 and "lo" in err
    assert json.loads(hosted.ok("network", "ls", "--json")) == []
