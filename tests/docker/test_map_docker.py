"""Map files with the Docker engine, against a real dockerd in the lab VM (tests/docker/conftest.py).

Round trip: Docker ipvlan networks exported to TOML, deleted, the export
applied (engine docker): the same networks come back, compared field by
field as `docker network inspect` shows them (driver, parent/mode/flag,
internal, IPAM subnet/gateway/ip-range/aux addresses). Then the compose
export is given to a real consumer: there is no `docker compose` plugin in
the lab (Debian's docker.io has none), so the networks are made from the
parsed compose YAML with the docker CLI itself, and compared the same way.
"""

from __future__ import annotations

import json
import time
import tomllib

import pytest
import yaml

from ipvlan_tui import mapfile, mapops
from ipvlan_tui.mapfile import MISSING
from ipvlan_tui.model import NetworkRequest

pytestmark = pytest.mark.docker
LAB_SECONDS = 80  # its expected time in the TCG lab VM (deals the docker modules to two VMs)

NETS = {
    "dvlan20": dict(subnets=("192.168.20.0/24",), gateways=("192.168.20.1",),
                    ip_ranges=("192.168.20.128/25",), aux_addresses=("router=192.168.20.254",),
                    options=("parent=eth0.20", "ipvlan_mode=l2", "ipvlan_flag=bridge")),
    "dvlan30": dict(subnets=("10.30.0.0/24",), options=("parent=eth0.30", "ipvlan_mode=l3",
                                                        "ipvlan_flag=bridge")),
    "diso": dict(subnets=("172.31.9.0/24",), internal=True),
}


def inspect_all(d, names) -> dict[str, dict]:
    """One `docker network inspect` for all of them (the Go CLI starts slowly under TCG)."""
    return {i["Name"]: i for i in json.loads(d.cli("network", "inspect", *names).stdout)}


def shape(info: dict) -> dict:
    """What must be the same after a round trip (ids, dates and the like may differ)."""
    opts = info.get("Options") or {}
    parent = opts.get("parent")
    if parent and parent.startswith("di-"):  # Docker's own dummy for an internal network: new id, new name
        parent = "di-<dummy>"
    ipam = sorted(({"subnet": c.get("Subnet"), "gateway": c.get("Gateway") or "",
                    "ip_range": c.get("IPRange") or "",
                    "aux": dict(sorted((c.get("AuxiliaryAddresses") or {}).items()))}
                   for c in (info.get("IPAM") or {}).get("Config") or ()), key=lambda c: c["subnet"])
    return {"driver": info["Driver"], "parent": parent, "mode": opts.get("ipvlan_mode"),
            "flag": opts.get("ipvlan_flag"), "internal": bool(info.get("Internal")),
            "ipv6": bool(info.get("EnableIPv6")), "ipam": ipam}


def compose_argv(name: str, net: dict) -> list[str]:
    """`docker network create` from one network of a compose `networks:` block."""
    argv = ["network", "create", "-d", net["driver"]]
    for k, v in (net.get("driver_opts") or {}).items():
        argv += ["-o", f"{k}={v}"]
    if net.get("internal"):
        argv.append("--internal")
    if net.get("enable_ipv6"):
        argv.append("--ipv6")
    ipam = net.get("ipam") or {}
    if ipam.get("driver") not in (None, "default"):
        argv += ["--ipam-driver", ipam["driver"]]
    for c in ipam.get("config") or ():
        argv.append(f"--subnet={c['subnet']}")
        if c.get("gateway"):
            argv.append(f"--gateway={c['gateway']}")
        if c.get("ip_range"):
            argv.append(f"--ip-range={c['ip_range']}")
        for an, ip in (c.get("aux_addresses") or {}).items():
            argv.append(f"--aux-address={an}={ip}")
    return argv + [name]


def test_docker_export_delete_apply_round_trip_and_compose_consumer(docker_env, tmp_path):
    ctl, eng, d = docker_env
    t0 = time.monotonic()
    for name, kw in NETS.items():
        ctl.create_network(NetworkRequest(name=name, engine="docker", **kw))
    before = {n: shape(i) for n, i in inspect_all(d, NETS).items()}
    assert before["dvlan20"]["parent"] == "eth0.20" and before["dvlan30"]["mode"] == "l3"
    assert before["diso"]["internal"]
    print(f"  created {len(NETS)}: {time.monotonic() - t0:.1f} s")

    nets = [n for n in ctl.networks() if n.spec.name in NETS]
    assert {n.spec.engine for n in nets} == {"docker"}
    toml_text = mapfile.export_toml(nets)
    compose_text = mapfile.export_compose(nets)
    doc = tomllib.loads(toml_text)
    assert {e["name"]: e.get("engine") for e in doc["networks"]} == {n: "docker" for n in NETS}
    path = tmp_path / "docker-map.toml"
    path.write_text(toml_text)

    # Delete them; the map now shows every one missing.
    for name in NETS:
        ctl.remove_network(name, force=True)
    assert not any(eng.has_network(n) for n in NETS)
    pv = mapops.preview(ctl, str(path))
    assert pv.ok, [str(e) for e in pv.errors] or pv.other
    assert sorted(c.network for c in pv.diff.of(MISSING)) == sorted(NETS)
    assert all(cmd.startswith("docker network create -d ipvlan") for cmd in
               (s.command for s in pv.plan.steps) if "docker" in cmd), pv.plan.render()

    # Apply the export with the Docker engine: the same networks come back.
    t1 = time.monotonic()
    applied = mapops.apply_map(ctl, pv)
    assert not applied.changed_since_preview and not applied.result.failed, applied.result.failed
    assert len(applied.result.done) == len(NETS)
    after = {n: shape(i) for n, i in inspect_all(d, NETS).items()}
    assert after == before
    print(f"  applied the export: {time.monotonic() - t1:.1f} s")
    again = mapops.preview(ctl, str(path))
    assert again.nothing_to_do, again.diff.render()

    # The compose export, consumed: networks made from the parsed YAML by the docker CLI.
    for name in NETS:
        ctl.remove_network(name, force=True)
    block = yaml.safe_load(compose_text)["networks"]
    assert set(block) == set(NETS)
    assert all(net["driver"] == "ipvlan" for net in block.values())
    t2 = time.monotonic()
    for name, net in block.items():
        d.cli(*compose_argv(name, net))
    from_compose = {n: shape(i) for n, i in inspect_all(d, NETS).items()}
    assert from_compose == before
    print(f"  made from compose with the docker CLI: {time.monotonic() - t2:.1f} s")
    # And the TOML map agrees that the host is in sync with it.
    assert mapfile.compute_diff(mapfile.load(path), ctl).in_sync
    print(f"  whole test: {time.monotonic() - t0:.1f} s")
