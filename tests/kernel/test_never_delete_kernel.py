"""Never delete what the tool did not create, whatever its name looks like (real kernel).

Made by hand before the tool runs: a VLAN `eth0.10`, a dummy named like
Docker's (`di-...`), a dummy named like ours (`itd-...`) and a namespace
named like an endpoint. Every command that deletes something (rm, network rm
--force, restore, apply --prune) is tried against them; all survive.
"""

from __future__ import annotations

import pytest

from tests.kernel.conftest import sh

pytestmark = pytest.mark.kernel
LAB_SECONDS = 15  # its time in the TCG lab VM, measured with 3 VMs on a 2-core host (balances the lab VMs)

FOREIGN_LINKS = {"eth0.10", "di-0123456789ab", "itd-0123456789a"}


def test_lookalikes_survive_every_deleting_command(host, tmp_path):
    sh("ip", "link", "add", "link", "eth0", "name", "eth0.10", "type", "vlan", "id", "10")
    sh("ip", "link", "add", "di-0123456789ab", "type", "dummy")
    sh("ip", "link", "add", "itd-0123456789a", "type", "dummy")
    sh("ip", "netns", "add", "web1")
    # A namespace named like the endpoint asked for is never taken over.
    host.ok("network", "create", "--subnet=192.168.10.0/24", "-o", "parent=eth0.10", "v10")
    rc, out, err = host.cli("run", "--net=v10", "--name=web1")
    assert rc == 2 and "never takes over" in err, err
    host.ok("run", "--net=v10", "--name=web2")
    host.ok("network", "create", "--subnet=10.77.0.0/24", "iso")
    host.ok("run", "--net=iso", "--name=iso1")
    # Names that are not ours: refused, nothing touched.
    for args in (["rm", "web1"], ["network", "rm", "--force", "di-0123456789ab"],
                 ["network", "rm", "--force", "itd-0123456789a"], ["network", "rm", "eth0.10"]):
        rc, out, err = host.cli(*args)
        assert rc == 2 and "no such" in err, (args, err)
    out = host.ok("restore")
    assert "itd-0123456789a" in out and "left alone" in out  # reported, not deleted
    path = tmp_path / "map.toml"
    path.write_text('version = 1\n[defaults]\ntrunk = "eth0"\n\n[[networks]]\nname = "v30"\n'
                    'vlan = 30\nsubnets = [{ subnet = "192.168.30.0/24" }]\n')
    host.ok("apply", "--prune", str(path))  # prunes v10 and iso: only what the tool made
    assert FOREIGN_LINKS <= host.links() and "web1" in host.namespaces()
    assert {"web2", "iso1"}.isdisjoint(host.namespaces())
    host.ok("network", "rm", "--force", "v30")
    host.ok("restore")
    assert FOREIGN_LINKS <= host.links() and host.namespaces() == {"web1"}
    assert not {l for l in host.links() if l.startswith(("eth0.3", "itd-"))} - FOREIGN_LINKS
