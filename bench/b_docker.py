"""Benchmark 6: one ipvlan network and 10 containers, through our Docker engine vs the docker CLI.

Inside the lab VM only (dockerd cannot attach ipvlan containers on this
host). Starts a private containerd + dockerd (no iptables, no bridge, vfs
storage, roots on a tmpfs of its own) as tests/docker/conftest.py does,
imports a busybox image from a tarball (no registry), and stops only the
daemons it started.

ours:     Controller(..., docker=DockerEngine).create_network(engine="docker") +
          10 x run_endpoint(engine="docker", image, sleep 3600)  (= `--engine docker`)
baseline: `docker network create -d ipvlan ...` + 10 x `docker run -d --net ...`
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import Config, Result, log, med, skipped

IMAGE = "ipvlan-tui-bench:latest"
ROOT = Path("/run/ipvlan-tui-bench-docker")
SOCK = ROOT / "docker.sock"
BASE_URL = f"unix://{SOCK}"
PARENT = "bdk0"
N = 10
NAME = "docker.run10"
TARGET = "none"  # the brief sets no target: information only
BASELINE = "docker CLI: network create + 10 x docker run -d"


def _sh(*argv: str, check: bool = True, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, env=env)


def _docker_cli() -> str:
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def _tarball() -> bytes:
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).exists()), None)
    if busybox is None:
        raise RuntimeError("busybox is not installed")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "ip", "ping"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buf.getvalue()


def _spawn(argv: list[str], logf: Path) -> subprocess.Popen:
    with open(logf, "wb") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait(what: str, proc: subprocess.Popen, ready, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready in {timeout:g} s")


def _clean(api) -> None:
    for c in api.containers(all=True, quiet=True):
        api.remove_container(c["Id"], force=True)
    for n in api.networks(filters={"driver": "ipvlan"}):
        api.remove_network(n["Id"])


def run(cfg: Config, *, where: str) -> list[Result]:
    for tool in ("dockerd", "containerd"):
        if shutil.which(tool) is None:
            return [skipped(NAME, N, BASELINE, TARGET, f"{tool} is not installed", where)]
    try:
        import docker  # noqa: F401

        from ipvlan_tui.engines.docker import DockerEngine  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return [skipped(NAME, N, BASELINE, TARGET, f"Docker engine not importable: {exc}", where)]
    n = 2 if cfg.quick else N
    ctr = proc = None
    ROOT.mkdir(parents=True, exist_ok=True)
    _sh("mount", "-t", "tmpfs", "-o", "mode=0711", "tmpfs", str(ROOT))
    _sh("ip", "link", "add", PARENT, "type", "dummy")
    _sh("ip", "link", "set", PARENT, "up")
    try:
        t0 = time.monotonic()
        conf = ROOT / "containerd.toml"
        conf.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        ctr_sock = ROOT / "containerd.sock"
        ctr = _spawn(["containerd", f"--config={conf}", f"--address={ctr_sock}", f"--root={ROOT / 'data' / 'ctr'}",
                      f"--state={ROOT / 'exec' / 'ctr'}", "--log-level=warn"], ROOT / "containerd.log")
        _wait("containerd", ctr, ctr_sock.exists)
        proc = _spawn(["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
                       f"--containerd={ctr_sock}", f"--data-root={ROOT / 'data'}", f"--exec-root={ROOT / 'exec'}",
                       f"--pidfile={ROOT / 'dockerd.pid'}", f"--host={BASE_URL}"], ROOT / "dockerd.log")
        import docker

        def ready() -> bool:
            if not SOCK.exists():
                return False
            c = docker.APIClient(base_url=BASE_URL, timeout=10)
            try:
                return bool(c.ping())
            finally:
                c.close()

        _wait("dockerd", proc, ready)
        api = docker.APIClient(base_url=BASE_URL, timeout=300)
        api.import_image_from_data(_tarball(), repository=IMAGE.split(":")[0], tag=IMAGE.split(":")[1])
        log(f"docker: dockerd ready in {time.monotonic() - t0:.1f} s")
        env = dict(os.environ, DOCKER_HOST=BASE_URL)
        cli = _docker_cli()
        # warm-up: one container start, untimed (first start loads the image layers)
        _sh(cli, "run", "--rm", "--net", "none", IMAGE, "sleep", "0", env=env)

        def ours() -> None:
            from ipvlan_tui.controller import Controller
            from ipvlan_tui.engines.docker import DockerEngine
            from ipvlan_tui.engines.kernel import KernelEngine
            from ipvlan_tui.model import EndpointRequest, NetworkRequest
            from ipvlan_tui.store import Store

            with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
                engine = DockerEngine(BASE_URL, host_label="lab", default_image=IMAGE)
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
        try:
            import docker

            _clean(docker.APIClient(base_url=BASE_URL, timeout=60))
        except Exception:  # noqa: BLE001
            pass
        _stop(proc)
        _stop(ctr)
        _sh("ip", "link", "del", PARENT, check=False)
        _sh("umount", "-l", str(ROOT), check=False)
