"""`network create --hosts A,B`: one VLAN network on two real dockerds, disjoint --ip-range slices.

Both daemons run in the same lab VM (fixture `second_dockerd`: own
containerd, data-root, exec-root, socket, pidfile, all on its own tmpfs), so
they share one kernel and the same parent eth0.20. What this proves: the
subnet is sliced per host, each daemon allocates only from its own slice,
one command creates (and rolls back, and removes) the network on both, and
containers of the two daemons reach each other on the shared L2 segment.
It does NOT prove the 802.1q wire between two machines: that needs two VMs.
The swarm part (--config-only per node, --scope swarm --config-from) runs on
the second daemon as a one-node swarm, with a container of the first part.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from ipvlan_tui.plan import FAIL_AT_ENV
from tests.docker.conftest import IMAGE
from tests.docker.test_cli_docker import inspect, run_cli

pytestmark = pytest.mark.docker
LAB_SECONDS = 280  # its expected time in the TCG lab VM (deals the docker modules to two VMs)

SUBNET = "192.168.20.0/24"
SLICES = ("192.168.20.0/25", "192.168.20.128/25")


def names(d) -> set[str]:
    c = d.client()
    try:
        return {n["Name"] for n in c.api.networks()}
    finally:
        c.close()


def test_one_command_two_daemons_disjoint_slices_rollback_ping_and_swarm(docker_env, second_dockerd, tmp_path,
                                                                   monkeypatch):
    _, _, a = docker_env
    b = second_dockerd
    b.clean()
    st = ["--state-dir", str(tmp_path / "state")]
    hosts = f"{a.base_url},{b.base_url}"
    create = [*st, "network", "create", "--hosts", hosts, "--subnet", SUBNET, "--gateway", "192.168.20.1",
              "-o", "parent=eth0.20"]
    try:
        # The plan shows each host's slice and Docker's --ip-range; nothing is made.
        code, out, err = run_cli(*create, "--dry-run", "vlan20")
        assert code == 0, err
        assert "network create vlan20 on 2 hosts:" in out
        for host, rng in zip((a.base_url, b.base_url), SLICES):
            assert f"[{host}] create Docker ipvlan network vlan20" in out
            assert f"allocates only from {rng} (128 addresses)" in out
            assert f"--ip-range={rng}" in out
        assert "vlan20" not in names(a) | names(b)

        # Docker B already has a (macvlan) network of that name: refused, naming host B; nothing on A.
        cb = b.client()
        try:
            cb.networks.create("taken20", driver="macvlan", internal=True)
        finally:
            cb.close()
        code, out, err = run_cli(*st, "network", "create", "--hosts", hosts, "--subnet", SUBNET,
                                 "-o", "parent=eth0.20", "taken20")
        assert code == 2 and f"on {b.base_url}" in err and "driver macvlan" in err, err
        assert "taken20" not in names(a) and "eth0.20" not in a.links()

        # All or nothing: host B's step fails, host A's network (already made) is removed again.
        monkeypatch.setenv(FAIL_AT_ENV, "network create vlan20 on:2")
        code, out, err = run_cli(*create, "vlan20")
        monkeypatch.delenv(FAIL_AT_ENV)
        assert code == 1 and "rolled back 1 step" in err, err
        assert "vlan20" not in names(a) | names(b) and "eth0.20" not in a.links()

        # For real.
        code, out, err = run_cli(*create, "vlan20")
        assert code == 0, err
        lines = [ln.split("\t") for ln in out.strip().splitlines()]
        assert [(h, rng) for h, _, rng in lines] == [(a.base_url, f"{SLICES[0]} (128 addresses)"),
                                                     (b.base_url, f"{SLICES[1]} (128 addresses)")]
        for d, rng in zip((a, b), SLICES):
            (cfg,) = inspect(d, "vlan20")["IPAM"]["Config"]
            assert cfg == {"Subnet": SUBNET, "IPRange": rng, "Gateway": "192.168.20.1"}
            assert inspect(d, "vlan20")["Options"]["parent"] == "eth0.20"

        # A container on each daemon, addresses from Docker's IPAM: each inside its host's slice.
        got = {}
        for d, cname in ((a, "ha"), (b, "hb")):
            code, out, err = run_cli(*st, "--engine", "docker", "--host", d.base_url, "run", "--net", "vlan20",
                                     "--name", cname, IMAGE, "sleep", "1000")
            assert code == 0, err
            got[cname] = out.strip().split("\t")[2]
        assert ipaddress.ip_address(got["ha"]) in ipaddress.ip_network(SLICES[0])
        assert ipaddress.ip_address(got["hb"]) in ipaddress.ip_network(SLICES[1])
        assert got["ha"] != "192.168.20.1" and got["hb"] != "192.168.20.1"

        # They reach each other: our probe from ha's namespace, busybox ping from hb.
        code, out, err = run_cli(*st, "--engine", "docker", "--host", a.base_url, "ping", "-c", "1", "-W", "3",
                                 "ha", got["hb"])
        assert code == 0 and "1 packets transmitted, 1 received" in out, out + err
        assert b.ping("hb", got["ha"])

        # Swarm, on daemon B, with hb (already running) joining the swarm network.
        swarm_part(b, "hb", tmp_path)

        # One command removes it from both (containers too, with -f).
        code, out, err = run_cli(*st, "network", "rm", "-f", "--hosts", hosts, "vlan20")
        assert code == 0, err
        assert "vlan20" not in names(a) | names(b) and "eth0.20" not in a.links()
    finally:
        monkeypatch.delenv(FAIL_AT_ENV, raising=False)
        b.clean()
        cb = b.client()
        try:
            for n in cb.api.networks(names=["taken20"]):
                cb.api.remove_network(n["Id"])
        finally:
            cb.close()


# --------------------------------------------------------------------------- swarm: --config-only / --config-from
def swarm_part(b, ctr: str, tmp_path) -> None:
    """Docker's swarm recipe for ipvlan, through the raw API (the SDK has no keyword for it):
    a --config-only network per node holds the parent and IPAM (here a slice, as --hosts
    would make it), and one --scope swarm --config-from network uses it. One node: daemon
    `b` becomes a single-node swarm on the dummy eth0's address (and leaves again). The
    running container `ctr` joins the attachable swarm network (no container start: they
    cost 20-60 s each under TCG)."""
    st = ["--state-dir", str(tmp_path / "state-b"), "--engine", "docker", "--host", b.base_url]
    cfg_create = [*st, "network", "create", "--config-only", "--subnet", "192.168.21.0/24",
                  "--gateway", "192.168.21.1", "--ip-range", "192.168.21.128/25", "-o", "parent=eth0.21"]
    cb = b.client()
    try:
        code, out, err = run_cli(*cfg_create, "swcfg")
        assert code == 0, err
        info = inspect(b, "swcfg")
        assert info["ConfigOnly"] is True and info["Driver"] == "null"
        assert info["Options"]["parent"] == "eth0.21" and info["Options"]["ipvlan_mode"] == "l2"
        assert info["IPAM"]["Config"] == [{"Subnet": "192.168.21.0/24", "IPRange": "192.168.21.128/25",
                                           "Gateway": "192.168.21.1"}]
        assert "eth0.21" not in b.links()  # nothing in the kernel until a network uses it

        # Docker's rules on which fields go where, checked before Docker is asked.
        refusals = (
            (["network", "create", "--config-from", "swcfg", "--subnet", "10.9.0.0/24", "swnet"],
             "--subnet 10.9.0.0/24", "put it on the --config-only network swcfg"),
            (["network", "create", "--config-from", "swcfg", "-o", "parent=eth0.22", "swnet"], "-o parent=eth0.22"),
            (["network", "create", "--config-only", "--internal", "-o", "parent=eth0.23", "c23"], "--internal",
             "--config-from network instead"),
            (["network", "create", "--config-only", "--attachable", "-o", "parent=eth0.23", "c23"], "--attachable"),
            (["network", "create", "--config-from", "nosuch", "swnet"], "--config-from nosuch",
             "--config-only"),
            (["network", "create", "--config-from", "swcfg", "--scope", "swarm", "swnet"], "--scope swarm",
             "not a swarm manager", "docker swarm init"),
        )
        for argv, *words in refusals:
            before = sorted(n["Name"] for n in cb.api.networks())
            code, out, err = run_cli(*st, *argv)
            assert code == 2 and all(w in err for w in words), (argv, err)
            assert sorted(n["Name"] for n in cb.api.networks()) == before

        t0 = time.monotonic()
        cb.swarm.init(advertise_addr="192.168.1.250", listen_addr="192.168.1.250:2377")
        print(f"  swarm init: {time.monotonic() - t0:.1f} s")
        code, out, err = run_cli(*st, "network", "create", "-d", "ipvlan", "--scope", "swarm",
                                 "--config-from", "swcfg", "--attachable", "swnet")
        assert code == 0, err
        info = inspect(b, "swnet")
        assert info["Scope"] == "swarm" and info["Driver"] == "ipvlan" and info["Attachable"] is True
        assert info["ConfigFrom"] == {"Network": "swcfg"}
        code, out, err = run_cli(*st, "network", "ls", "--json")
        (doc,) = [n for n in json.loads(out) if n["Name"] == "swnet"]
        assert doc["Options"]["parent"] == "eth0.21"  # read through its config network
        assert doc["IPAM"]["Config"][0]["IPRange"] == "192.168.21.128/25"

        # The running container joins the attachable swarm network: an address from the node's slice.
        code, out, err = run_cli(*st, "network", "connect", "swnet", ctr)
        assert code == 0, err
        ip = out.strip().split("\t")[2]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("192.168.21.128/25")
        assert "eth0.21" in b.links()
        assert f"inet {ip}/24" in b.exec(ctr, "ip", "-4", "addr").stdout

        code, out, err = run_cli(*st, "network", "rm", "swcfg")
        assert code == 2 and "is the configuration of network(s) swnet" in err, err
        code, out, err = run_cli(*st, "network", "disconnect", "swnet", ctr)
        assert code == 0, err
        code, out, err = run_cli(*st, "network", "rm", "swnet", "swcfg")
        assert code == 0, err
        assert not {"swnet", "swcfg"} & {n["Name"] for n in cb.api.networks()}
    finally:
        try:
            for name in ("swnet", "swcfg"):
                for n in cb.api.networks(names=[name]):
                    if n["Name"] == name:
                        cb.api.remove_network(n["Id"])
        finally:
            try:
                cb.swarm.leave(force=True)
            except Exception:  # noqa: BLE001 - not in a swarm
                pass
            cb.close()


# --------------------------------------------------------------------------- --host A --host B: listings
def _daemon_state(d) -> tuple:
    c = d.client()
    try:
        return (sorted(n["Name"] for n in c.api.networks()),
                sorted((x["Names"][0], x["State"]) for x in c.api.containers(all=True)))
    finally:
        c.close()


def test_two_daemons_listed_side_by_side_labelled_and_one_daemon_commands_refused(docker_env, second_dockerd,
                                                                                  tmp_path, monkeypatch):
    """`--host A --host B network ls|inspect`, `ps` (table and --json) list both real daemons, every
    row with its host; B is given as a Docker context; a third, absent daemon is named on one line
    and the others still list; run/rm/network create|rm|connect with two --host change nothing."""
    from docker.context import ContextAPI

    _, _, a = docker_env
    b = second_dockerd
    b.clean()
    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    (cfg / "config.json").write_text("{}")  # the SDK keeps contexts beside config.json
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    ContextAPI.create_context("lab-b", host=b.base_url)
    st = ["--state-dir", str(tmp_path / "state")]
    try:
        # One --host each: a URL for A, the context name for B (resolved to B's socket).
        for host, name, cidr in ((a.base_url, "shared", "10.61.0.0/24"), (a.base_url, "only-a", "10.62.0.0/24"),
                                 ("lab-b", "shared", "10.61.0.0/24"), ("lab-b", "only-b", "10.63.0.0/24")):
            code, out, err = run_cli(*st, "--engine", "docker", "--host", host, "network", "create", "--internal",
                                     "--subnet", cidr, name)
            assert code == 0, err
        assert "only-b" in _daemon_state(b)[0] and "only-b" not in _daemon_state(a)[0]
        # A container on each daemon's "shared" (created, not started: starts cost 20-60 s under TCG).
        for d, cname in ((a, "ca"), (b, "cb")):
            c = d.client()
            try:
                c.containers.create(IMAGE, ["sleep", "1000"], name=cname, network="shared")
            finally:
                c.close()
        two = [*st, "--host", a.base_url, "--host", "lab-b"]

        code, out, err = run_cli(*two, "network", "ls")
        assert code == 0 and err == "", err
        lines = out.strip().splitlines()
        assert lines[0].split()[:5] == ["NETWORK", "ID", "NAME", "DRIVER", "ENGINE"] and "HOST" in lines[0]
        assert [(ln.split()[1], ln.split()[4]) for ln in lines[1:]] == [
            ("only-a", a.base_url), ("shared", a.base_url), ("only-b", "lab-b"), ("shared", "lab-b")]

        code, out, err = run_cli(*two, "network", "ls", "--json")
        assert code == 0, err
        docs = json.loads(out)
        assert [(n["Name"], n["Host"], n["Engine"]) for n in docs] == [
            ("only-a", a.base_url, "docker"), ("shared", a.base_url, "docker"),
            ("only-b", "lab-b", "docker"), ("shared", "lab-b", "docker")]
        assert {n["Host"]: list(n["Containers"]) for n in docs if n["Name"] == "shared"} == {
            a.base_url: ["ca"], "lab-b": ["cb"]}
        assert {n["Id"] for n in docs if n["Name"] == "shared"} == {inspect(a, "shared")["Id"],
                                                                     inspect(b, "shared")["Id"]}

        code, out, err = run_cli(*two, "ps", "--json")
        assert code == 0, err
        assert [(e["Name"], e["Host"], e["Network"]) for e in json.loads(out)] == [
            ("ca", a.base_url, "shared"), ("cb", "lab-b", "shared")]
        code, out, err = run_cli(*two, "ps")
        assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "ENGINE", "HOST"], out
        assert sorted((ln.split()[0], ln.split()[2]) for ln in out.strip().splitlines()[1:]) == [
            ("ca", a.base_url), ("cb", "lab-b")]

        code, out, err = run_cli(*two, "network", "inspect", "shared", "only-b")
        assert code == 0, err
        assert [(n["Name"], n["Host"]) for n in json.loads(out)] == [
            ("shared", a.base_url), ("shared", "lab-b"), ("only-b", "lab-b")]

        # A third daemon that is not there: named on one line, A and B still listed, exit 0.
        gone = "unix:///run/ipvlan-tui-no-such-dockerd.sock"
        code, out, err = run_cli(*two, "--host", gone, "network", "ls", "--json")
        assert code == 0
        (line,) = err.splitlines()
        assert line.startswith(f"error: --host {gone}: not listed: Docker daemon unreachable") and \
            "(the other daemons are listed)" in line, err
        assert {n["Host"] for n in json.loads(out)} == {a.base_url, "lab-b"}

        # Commands that change one daemon: refused with two --host, nothing changed on either.
        before = (_daemon_state(a), _daemon_state(b))
        for argv in (["--engine", "docker", "run", "--net", "shared", "--name", "cx", IMAGE, "sleep", "1"],
                     ["rm", "ca"],
                     ["--engine", "docker", "network", "create", "--internal", "--subnet", "10.64.0.0/24", "n64"],
                     ["network", "rm", "only-a"],
                     ["network", "connect", "only-a", "ca"]):
            code, out, err = run_cli(*two, *argv)
            assert code == 2 and "--host" in err and "pick one --host" in err, (argv, err)
        assert (_daemon_state(a), _daemon_state(b)) == before
    finally:
        b.clean()
        ContextAPI.remove_context("lab-b")
