"""`ipvlan-tui routes` for a network on a remote Docker host: no next hop from this machine's links."""

from __future__ import annotations

import pytest

from ipvlan_tui import routes
import dataclasses

from ipvlan_tui.model import ENGINE_DOCKER, Inventory, Link, NetworkRequest, NetworkSpec
from ipvlan_tui.spec import validate_network

INV = Inventory(links=(Link(2, "eth0", "dummy", addresses=("192.168.1.250/24",)),
                       Link(3, "eth0.30", "vlan", parent_ifindex=2, parent_name="eth0", vlan_id=30,
                            addresses=("10.30.0.1/24",))))


def l3(name: str, host: str) -> NetworkSpec:
    req = NetworkRequest(name=name, engine=ENGINE_DOCKER, subnets=("10.31.0.0/24",),
                         options=("parent=eth0.30", "ipvlan_mode=l3"))
    return dataclasses.replace(validate_network(req, INV, [], network_id="0" * 64), host=host)


@pytest.mark.parametrize("host, url, remote", [
    ("", None, False),
    ("unix:///run/docker.sock", None, False),
    ("tcp://127.0.0.1:2375", None, False),
    ("tcp://localhost:2375", None, False),
    ("tcp://[::1]:2375", None, False),
    ("ssh://root@localhost", None, False),
    ("tcp://10.99.0.2:2375", None, True),
    ("ssh://root@vm2", None, True),
    ("https://[2001:db8::2]:2376", None, True),
    ("vm2", None, False),  # a context name alone: taken as this machine
    ("vm2", "ssh://root@vm2", True),  # ... unless its URL says otherwise
    ("here", "unix:///var/run/docker.sock", False),
])
def test_is_remote(host, url, remote):
    assert routes.is_remote(host, url) is remote


def test_a_url_to_this_machines_own_address_or_name_is_local():
    mine = ("10.99.0.2/24", "192.168.1.250/24", "2001:db8::2/64")
    assert not routes.is_remote("tcp://10.99.0.2:2375", local_addresses=mine)
    assert not routes.is_remote("tcp://[2001:db8::2]:2375", local_addresses=mine)
    assert routes.is_remote("tcp://10.99.0.1:2375", local_addresses=mine)
    assert not routes.is_remote("ssh://root@node2", local_names=("node2",))
    assert routes.is_remote("ssh://root@node1", local_names=("node2",))


def test_local_network_routes_via_this_hosts_parent_address():
    found, _ = routes.needed_routes([l3("l3a", "unix:///run/a.sock")], INV)
    assert [(r.subnet, r.via) for r in found] == [("10.31.0.0/24", "10.30.0.1")]


def test_remote_network_gets_no_next_hop_from_this_machine():
    found, _ = routes.needed_routes([l3("l3b", "tcp://10.99.0.2:2375")], INV)
    assert found[0].via is None
    assert "on the Docker host tcp://10.99.0.2:2375" in found[0].problem
    text = routes.render_ip(found)
    assert "via 10.30.0.1" not in text
    assert "# ip route add 10.31.0.0/24 via ?" in text and "run `ipvlan-tui routes` on that host" in text
    found, _ = routes.needed_routes([l3("l3b", "vm2")], INV, urls={"vm2": "ssh://root@vm2"})
    assert found[0].via is None


def test_a_url_to_this_machine_still_routes_via_its_parent():
    found, _ = routes.needed_routes([l3("l3b", "tcp://192.168.1.250:2375")], INV)
    assert [(r.subnet, r.via) for r in found] == [("10.31.0.0/24", "10.30.0.1")]
    found, _ = routes.needed_routes([l3("l3b", "ssh://root@me")], INV, local_names=("me",))
    assert found[0].via == "10.30.0.1"


def test_routes_command_passes_the_daemon_url_of_a_context():
    """`--host CONTEXT routes`: the context's URL decides, not its name."""
    import argparse
    import io

    from ipvlan_tui import dockercli
    from ipvlan_tui.model import Network

    class Docker:
        host_label = "vm2"
        base_url = "ssh://root@vm2"

    class Ctl:
        docker = Docker()

        def networks(self):
            return [Network(spec=l3("l3b", "vm2"))]

        def inventory(self):
            return INV

    out = io.StringIO()
    assert dockercli.cmd_routes(Ctl(), argparse.Namespace(network=None, format="ip"), out, io.StringIO()) == 0
    assert "via ?" in out.getvalue() and "on the Docker host vm2" in out.getvalue()
    Docker.base_url = "unix:///run/docker.sock"
    out = io.StringIO()
    dockercli.cmd_routes(Ctl(), argparse.Namespace(network=None, format="ip"), out, io.StringIO())
    assert "ip route add 10.31.0.0/24 via 10.30.0.1" in out.getvalue()
