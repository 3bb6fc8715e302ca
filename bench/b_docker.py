"""Benchmark 6: one ipvlan network and 10 containers, through our Docker engine vs the docker CLI.

Inside the lab VM only (dockerd cannot attach ipvlan containers on this
host). Starts a private containerd + dockerd (no iptables, no bridge, vfs
storage, roots on a tmpfs of its own) through ipvlan_tui.lab.dockerd, as
tests/docker/conftest.py does, imports a busybox image from a tarball (no
registry), and stops only the daemons it started.

ours:     Controller(..., docker=DockerEngine).create_network(engine="docker") +
          10 x run_endpoint(engine="docker", image, sleep 3600)  (= `--engine docker`)
baseline: `docker network create -d ipvlan ...` + 10 x `docker run -d --net ...`
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.common import Config, Result, log, med, skipped
from ipvlan_tui.lab import dockerd as labdockerd

IMAGE = "ipvlan-tui-bench:latest"
ROOT = Path("/run/ipvlan-tui-bench-docker")
PARENT = "bdk0"
N = 10
NAME = "docker.run10"
TARGET = "none"  # the brief sets no target: information only
BASELINE = "docker CLI: network create + 10 x docker run -d"


def _sh(*argv: str, check: bool = True, env=None):
    return labdockerd.sh(*argv, check=check, env=env)


def _clean(api) -> None:
    for c in api.containers(all=True, quiet=True):
        api.remove_container(c["Id"], force=True)
    for n in api.networks(filters={"driver": "ipvlan"}):
        api.remove_network(n["Id"])


def run(cfg: Config, *, where: str) -> list[Result]:
    missing = labdockerd.missing_tools()
    if missing:
        return [skipped(NAME, N, BASELINE, TARGET, f"{missing[0]} is not installed", where)]
    try:
        import docker  # noqa: F401

        from ipvlan_tui.engines.docker import DockerEngine  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return [skipped(NAME, N, BASELINE, TARGET, f"Docker engine not importable: {exc}", where)]
    n = 2 if cfg.quick else N
    d = client = None
    _sh("ip", "link", "add", PARENT, "type", "dummy")
    _sh("ip", "link", "set", PARENT, "up")
    try:
        t0 = time.monotonic()
        d = labdockerd.start(ROOT, timeout=240)
        base_url = d.base_url
        client = d.client(timeout=300)
        api = client.api
        labdockerd.import_image(d, IMAGE, applets=("sh", "sleep", "ip", "ping"))
        log(f"docker: dockerd ready in {time.monotonic() - t0:.1f} s")
        env = dict(os.environ, DOCKER_HOST=base_url)
        cli = labdockerd.docker_cli()
        # warm-up: one container start, untimed (first start loads the image layers)
        _sh(cli, "run", "--rm", "--net", "none", IMAGE, "sleep", "0", env=env)

        def ours() -> None:
            from ipvlan_tui.controller import Controller
            from ipvlan_tui.engines.docker import DockerEngine
            from ipvlan_tui.engines.kernel import KernelEngine
            from ipvlan_tui.model import EndpointRequest, NetworkRequest
            from ipvlan_tui.store import Store

            with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
                engine = DockerEngine(base_url, host_label="lab", default_image=IMAGE)
                kernel = KernelEngine()
                try:
                    ctl = Controller(kernel, Store(Path(tmp) / "state"), hosts_root=Path(tmp) / "etc", root=True,
                                     docker=engine)
                    ctl.create_network(NetworkRequest(name="bdn", subnets=("10.95.0.0/24",),
                                                      gateways=("10.95.0.1",),
                                                      options=(f"parent={PARENT}", "ipvlan_mode=l2"),
                                                      engine="docker"))
                    for i in range(n):
                        ctl.run_endpoint(EndpointRequest(name=f"bdo{i}", network="bdn", engine="docker",
                                                         image=IMAGE, command=("sleep", "3600")))
                finally:
                    engine.close()
                    kernel.close()

        def baseline() -> None:
            _sh(cli, "network", "create", "-d", "ipvlan", "--subnet", "10.95.0.0/24", "--gateway", "10.95.0.1",
                "-o", f"parent={PARENT}", "-o", "ipvlan_mode=l2", "bdn", env=env)
            for i in range(n):
                _sh(cli, "run", "-d", "--net", "bdn", "--name", f"bdc{i}", IMAGE, "sleep", "3600", env=env)

        times: dict[str, list[float]] = {"ours": [], "cli": []}
        runs = 1 if cfg.quick else 2
        for i in range(runs):
            for key, fn in (("ours", ours), ("cli", baseline)):
                _clean(api)
                t0 = time.perf_counter()
                try:
                    fn()
                finally:
                    t = time.perf_counter() - t0
                running = len(api.containers(filters={"status": "running"}))
                times[key].append(t)
                log(f"docker run {i}: {key} {t:.1f} s ({running} running)")
                _clean(api)
        return [Result(NAME, n, med(times["ours"]), BASELINE, med(times["cli"]), TARGET, where=where,
                       runs=runs, ours_runs=times["ours"], baseline_runs=times["cli"],
                       note="our controller with --engine docker vs the docker CLI, same dockerd; "
                            "one untimed container start first; no separate warm-up per contender")]
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, never fails the suite
        log(f"docker: failed: {type(exc).__name__}: {exc}")
        return [skipped(NAME, n, BASELINE, TARGET, f"failed: {type(exc).__name__}: {exc}", where)]
    finally:
        if client is not None:
            client.close()
        if d is not None:
            try:
                d.clean()
            except Exception:  # noqa: BLE001
                pass
            d.stop()
        _sh("ip", "link", "del", PARENT, check=False)
