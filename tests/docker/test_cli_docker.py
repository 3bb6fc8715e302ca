"""`ipvlan-tui --engine docker ...`: the real CLI, with Docker's flags, against the lab's dockerd.

Runs `ipvlan_tui.cli.main([...])` in-process (a `python -m ipvlan_tui`
subprocess costs about 40 s of imports under TCG; tests/kernel/test_crash.py
covers that entry point) and checks what Docker holds through the SDK and
`docker exec`, not through our own listings alone. Container starts cost
20-70 s each under TCG, so the whole file starts one container.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from ipvlan_tui import cli
from tests.docker.conftest import IMAGE

pytestmark = pytest.mark.docker
LAB_SECONDS = 80  # its expected time in the TCG lab VM (deals the docker modules to two VMs)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    code = cli.main(list(argv), out=out, err=err)
    print(f"  ipvlan-tui {' '.join(argv[4:])[:90]} -> {code} in {time.monotonic() - t0:.1f} s")
    return code, out.getvalue(), err.getvalue()


def base(d, tmp_path) -> list[str]:
    return ["--state-dir", str(tmp_path / "state"), "--engine", "docker", "--host", d.base_url]


def inspect(d, name) -> dict:
    c = d.client()
    try:
        return c.api.inspect_network(name)
    finally:
        c.close()


def state(d) -> tuple:
    """What an invalid command must leave exactly as it was: networks, containers, links."""
    c = d.client()
    try:
        nets = sorted(n["Name"] for n in c.api.networks())
        ctrs = sorted((x["Names"][0], x["State"]) for x in c.api.containers(all=True))
    finally:
        c.close()
    return nets, ctrs, sorted(d.links())


def container_state(d, name) -> str | None:
    import docker.errors

    c = d.client()
    try:
        return c.api.inspect_container(name)["State"]["Status"]
    except docker.errors.NotFound:
        return None
    finally:
        c.close()


# --------------------------------------------------------------------------- the happy path
def test_cli_create_run_ls_ping_connect_disconnect_rm(docker_env, tmp_path):
    ctl, eng, d = docker_env
    b = base(d, tmp_path)
    create20 = [*b, "network", "create", "-d", "ipvlan", "--subnet", "192.168.20.0/24",
                "--gateway", "192.168.20.1", "-o", "parent=eth0.20"]

    # --dry-run prints the docker command and changes nothing.
    before = state(d)
    code, out, err = run_cli(*create20, "--dry-run", "vlan20")
    assert code == 0, err
    assert ("docker network create -d ipvlan --subnet=192.168.20.0/24 --gateway=192.168.20.1 "
            "-o parent=eth0.20 -o ipvlan_mode=l2 -o ipvlan_flag=bridge") in out
    assert "Docker creates 802.1q eth0.20 (VLAN 20 on eth0)" in out
    assert state(d) == before

    code, out, err = run_cli(*create20, "vlan20")
    assert code == 0, err
    info = inspect(d, "vlan20")
    assert out.strip() == info["Id"]
    assert info["Driver"] == "ipvlan"
    assert info["Options"] == {"parent": "eth0.20", "ipvlan_mode": "l2", "ipvlan_flag": "bridge"}
    assert info["IPAM"]["Config"] == [{"Subnet": "192.168.20.0/24", "Gateway": "192.168.20.1"}]
    assert "eth0.20" in d.links()

    # run, detached, with a static address (dynamic ones: test_hosts_docker.py).
    code, out, err = run_cli(*b, "run", "-d", "--net", "vlan20", "--ip", "192.168.20.10", "--name", "c1",
                             IMAGE, "sleep", "1000")
    assert code == 0, err
    assert out.strip() == "c1\tvlan20\t192.168.20.10"
    assert container_state(d, "c1") == "running"
    assert "default via 192.168.20.1 dev eth0" in d.exec("c1", "ip", "route").stdout

    # network ls: the host, the mode, the parent; --json: the containers with their addresses.
    code, out, err = run_cli(*b, "network", "ls")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split()[:6] == ["NETWORK", "ID", "NAME", "DRIVER", "ENGINE", "HOST"]
    row = next(r for r in rows if " vlan20 " in r).split()
    assert row[1:6] == ["vlan20", "ipvlan", "docker", d.base_url, "l2"]
    assert row[-3:] == ["eth0.20", "192.168.20.0/24", "1"]
    code, out, err = run_cli(*b, "network", "ls", "--json")
    (doc,) = [n for n in json.loads(out) if n["Name"] == "vlan20"]
    assert doc["Host"] == d.base_url and doc["Engine"] == "docker" and doc["Id"] == info["Id"]
    assert doc["Containers"]["c1"]["IPv4Address"] == "192.168.20.10"
    assert doc["Containers"]["c1"]["Namespace"].startswith("/proc/")
    code, out, err = run_cli(*b, "ps")
    c1row = next(r for r in out.splitlines() if r.startswith("c1 ")).split()
    assert c1row == ["c1", "docker", d.base_url, "vlan20", "192.168.20.10", "running"]

    # ping: the probe enters c1's namespace by the container's PID (no ping program needed). Its
    # own address answers only from inside that namespace (the VM's root namespace has no route).
    # The parent is unreachable by ipvlan's design: --verdict exits 0 (as predicted).
    # (A ping with replies between two containers: test_hosts_docker.py.)
    code, out, err = run_cli(*b, "ping", "-c", "1", "-W", "3", "c1", "192.168.20.10")
    assert code == 0, out + err
    assert "from c1" in out and "1 packets transmitted, 1 received" in out
    code, out, err = run_cli(*b, "ping", "-c", "1", "-W", "1", "--verdict", "c1", "parent")
    assert code == 0 and "verdict: expected" in out, out + err

    # network connect --ip to a second VLAN network, then disconnect.
    code, out, err = run_cli(*b, "network", "create", "--subnet=192.168.30.0/24", "-o", "parent=eth0.30", "vlan30")
    assert code == 0, err
    assert inspect(d, "vlan30")["IPAM"]["Config"][0]["Gateway"] == "192.168.30.1"  # first usable, explicit
    code, out, err = run_cli(*b, "network", "connect", "--ip", "192.168.30.5", "vlan30", "c1")
    assert code == 0, err
    assert out.strip() == "c1\tvlan30\t192.168.30.5"  # its address on vlan30, not its first network's
    assert "inet 192.168.30.5/24" in d.exec("c1", "ip", "-4", "addr").stdout
    assert "192.168.30.5" in json.dumps(inspect(d, "vlan30")["Containers"])
    code, out, err = run_cli(*b, "network", "disconnect", "vlan30", "c1")
    assert code == 0, err
    assert out.strip() == "c1\tvlan30"
    assert "192.168.30.5" not in d.exec("c1", "ip", "-4", "addr").stdout
    assert not inspect(d, "vlan30")["Containers"]

    # rm, network rm: Docker deletes the VLAN links it made.
    code, out, err = run_cli(*b, "rm", "c1")
    assert code == 0, err
    assert out.split() == ["c1"] and container_state(d, "c1") is None
    code, out, err = run_cli(*b, "network", "rm", "vlan20", "vlan30")
    assert code == 0, err
    assert not eng.has_network("vlan20") and not eng.has_network("vlan30")
    assert not {"eth0.20", "eth0.30"} & d.links()


# --------------------------------------------------------------------------- error paths
def _refused(d, b, argv, *words, code=2, before=None):
    """The command exits `code` with one line naming every word, and changes nothing
    (`before`: the state it must leave, when the caller already read it)."""
    before = state(d) if before is None else before
    got, out, err = run_cli(*b, *argv)
    assert got == code, (argv, got, out, err)
    lines = err.strip().splitlines()
    assert lines and "Traceback" not in err, err
    assert all(ln.startswith(("error: ", "ipvlan-tui")) for ln in lines), err
    if code == 1:
        assert len(lines) == 1, err  # a daemon refusal: one readable line
    for w in words:
        assert w in err, (w, err)
    assert state(d) == before, argv
    return err


def test_cli_errors_name_the_field_and_the_fix_and_change_nothing(docker_env, tmp_path):
    ctl, eng, d = docker_env
    b = base(d, tmp_path)
    code, _, err = run_cli(*b, "network", "create", "--subnet", "192.168.44.0/24", "-o", "parent=eth0.44",
                           "vlan44")
    assert code == 0, err

    now = state(d)  # every refusal below must leave exactly this

    def refused(argv, *words):
        return _refused(d, b, argv, *words, before=now)

    # One ipvlan network per parent, naming the network that holds it.
    refused(["network", "create", "--subnet", "192.168.41.0/24", "-o", "parent=eth0.44", "other44"],
            "-o parent eth0.44", "already the parent of ipvlan network vlan44", "add the subnet to vlan44")
    # Bad VLAN ids, lo, a bad subnet, an unknown flag, an unknown -o key.
    refused(["network", "create", "--subnet", "192.168.50.0/24", "-o", "parent=eth0.5000", "v5000"],
            "-o parent eth0.5000", "VLAN id '5000'", "1-4094")
    refused(["network", "create", "--subnet", "192.168.50.0/24", "-o", "parent=eth0.0", "v0"],
            "VLAN id '0'")
    refused(["network", "create", "-o", "parent=lo", "lonet"], "-o parent lo", "loopback")
    refused(["network", "create", "--subnet", "192.168.50.0/33", "n50"], "--subnet 192.168.50.0/33",
            "--subnet=192.168.1.0/24")
    refused(["network", "create", "--subnett", "192.168.50.0/24", "n50"], "--subnett")
    refused(["network", "create", "-o", "ipvlan_mdoe=l3", "n50"], "-o ipvlan_mdoe=l3", "did you mean ipvlan_mode")
    # A name Docker already uses with another driver ("host"): checked before Docker is asked.
    refused(["network", "create", "--subnet", "192.168.51.0/24", "host"], "name host",
            "already exists", "driver host")
    # run / connect / disconnect / rm with bad input.
    refused(["run", "--net", "nosuch", "--name", "x1", IMAGE], "--net nosuch", "no such network", "network create")
    refused(["run", "--net", "vlan44", "--ip", "10.0.0.5", "--name", "x2", IMAGE], "--ip 10.0.0.5",
            "give an address inside 192.168.44.0/24")
    refused(["run", "--net", "vlan44", "--ip", "192.168.44.1", "--name", "x2", IMAGE], "--ip 192.168.44.1",
            "is the gateway",
            "--ip=192.168.44.2")
    refused(["run", "--net", "vlan44", "--name", "x", IMAGE], "--name x", "2 characters")
    refused(["run", "--name", "x3", IMAGE], "--net")
    refused(["network", "connect", "vlan44", "nosuchctr"], "container nosuchctr", "no such container")
    refused(["network", "disconnect", "vlan44", "nosuchctr"], "container nosuchctr", "is not connected")
    refused(["rm", "nosuchctr"], "endpoint nosuchctr", "ipvlan-tui ps")
    refused(["network", "rm", "nosuchnet"], "network nosuchnet")

    # A daemon refusal: Docker's IPAM refuses a subnet that overlaps a network of another driver
    # (our validator knows only ipvlan networks). One readable line, exit 1, nothing made.
    c = d.client()
    try:
        c.networks.create("mac60", driver="macvlan", internal=True,
                          ipam={"Driver": "default", "Config": [{"Subnet": "192.168.60.0/24"}]})
        err = _refused(d, b, ["network", "create", "--subnet", "192.168.60.0/24", "-o", "parent=eth0.61", "n60"],
                       "error: step 1", "Docker refused to create network n60", "overlap", code=1)
        assert "eth0.61" not in d.links()
    finally:
        for n in c.api.networks(names=["mac60"]):
            c.api.remove_network(n["Id"])
        c.close()
