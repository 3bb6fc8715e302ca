"""Docker tests: one private dockerd per session, inside the lab VM.

The lab VM has no network device, so the session first makes a dummy `eth0`
(192.168.1.250/24) in the VM's root namespace for `-o parent=eth0` and the
VLANs on it. dockerd runs with no iptables, no bridge and vfs storage, its
data-root and exec-root on a tmpfs of its own, its own socket and pidfile;
only the dockerd this session started is stopped at the end. No registry is
reachable, so the test image is made with `docker import` from a tarball of
busybox-static and a few applet links.

Outside the lab (IPVLAN_TUI_IN_LAB unset) nothing here touches the machine:
the lab's pytest plugin runs the `docker`-marked tests inside the VM.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

IMAGE = "ipvlan-tui-busybox:latest"
APPLETS = ("sh", "ping", "ping6", "ip", "sleep", "cat")
ROOT = Path("/run/ipvlan-tui-docker-test")
SOCK = ROOT / "docker.sock"
BASE_URL = f"unix://{SOCK}"
DOCKERD_FLAGS = ("--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs")
PARENT_ADDR = "192.168.1.250/24"


def in_lab() -> bool:
    return os.environ.get("IPVLAN_TUI_IN_LAB") == "1"


def sh(*argv: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, env=env)


def docker_cli() -> str:
    """The docker CLI that matches the packaged dockerd (docker.io puts it in /usr/bin)."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def _busybox() -> str:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(cand).exists():
            return cand
    raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")


def image_tarball() -> bytes:
    """A root filesystem of bin/busybox plus applet links, as an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(_busybox(), arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buf.getvalue()


@dataclass
class Dockerd:
    proc: subprocess.Popen
    base_url: str
    log: Path
    containerd: subprocess.Popen | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOCKER_HOST=self.base_url)
        res = sh(docker_cli(), *args, check=False, env=env)
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def exec(self, container: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """`docker exec CONTAINER ARGV` through the API (the Go CLI starts slowly under TCG)."""
        client = self.client()
        try:
            code, output = client.containers.get(container).exec_run(list(argv), demux=True)
        finally:
            client.close()
        stdout, stderr = (output or (None, None))
        res = subprocess.CompletedProcess(list(argv), code, (stdout or b"").decode(), (stderr or b"").decode())
        if check and code != 0:
            raise AssertionError(f"docker exec {container} {' '.join(argv)} -> {code}\n{res.stdout}\n{res.stderr}")
        return res

    def ping(self, container: str, addr: str, count: int = 1) -> bool:
        fam = ["-6"] if ":" in addr else []
        return self.exec(container, "ping", *fam, "-c", str(count), "-W", "2", addr,
                         check=False).returncode == 0

    def links(self) -> set[str]:
        out = sh("ip", "-o", "link", "show").stdout
        return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=120)

    def clean(self) -> None:
        """Remove every container and every ipvlan network (between tests)."""
        client = self.client()
        try:
            for c in client.api.containers(all=True, quiet=True):
                client.api.remove_container(c["Id"], force=True)
            for n in client.api.networks(filters={"driver": "ipvlan"}):
                client.api.remove_network(n["Id"])
        finally:
            client.close()


def _prepare_host_namespace() -> None:
    sh("ip", "link", "set", "lo", "up")
    if sh("ip", "link", "show", "eth0", check=False).returncode != 0:
        sh("ip", "link", "add", "eth0", "type", "dummy")
        sh("ip", "addr", "add", PARENT_ADDR, "dev", "eth0")
    sh("ip", "link", "set", "eth0", "up")


def _wait_for(what: str, proc: subprocess.Popen, log: Path, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready within {timeout:g} s ({last}):\n{log.read_text()[-3000:]}")


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _start_dockerd() -> Dockerd:
    """containerd first (dockerd's own start of it times out on a busy TCG VM), then dockerd."""
    ROOT.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", "mode=0711", "tmpfs", str(ROOT))
    ctr_sock = ROOT / "containerd.sock"
    ctr_log = ROOT / "containerd.log"
    ctr_conf = ROOT / "containerd.toml"
    ctr_conf.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
    ctr = _spawn(["containerd", f"--config={ctr_conf}", f"--address={ctr_sock}", f"--root={ROOT / 'data' / 'containerd'}",
                  f"--state={ROOT / 'exec' / 'containerd'}", "--log-level=warn"], ctr_log)
    try:
        _wait_for("containerd", ctr, ctr_log, ctr_sock.exists, 180)
        log = ROOT / "dockerd.log"
        proc = _spawn(["dockerd", *DOCKERD_FLAGS, f"--containerd={ctr_sock}",
                       f"--data-root={ROOT / 'data'}", f"--exec-root={ROOT / 'exec'}",
                       f"--pidfile={ROOT / 'dockerd.pid'}", f"--host={BASE_URL}"], log)
        import docker

        def ping() -> bool:
            if not SOCK.exists():
                return False
            c = docker.APIClient(base_url=BASE_URL, timeout=10)
            try:
                return bool(c.ping())
            finally:
                c.close()

        try:
            _wait_for("dockerd", proc, log, ping, 180)
        except BaseException:
            _stop(proc)
            raise
    except BaseException:
        _stop(ctr)
        raise
    return Dockerd(proc, BASE_URL, log, ctr)


def _stop(proc: subprocess.Popen | None) -> None:
    """Stop a daemon this session started, by its PID only."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _import_image(d: Dockerd) -> None:
    client = d.client()
    try:
        client.api.import_image_from_data(image_tarball(), repository=IMAGE.split(":")[0],
                                          tag=IMAGE.split(":")[1])
    finally:
        client.close()


@pytest.fixture(scope="session")
def dockerd():
    if not in_lab():
        pytest.skip("docker tests run inside the lab VM only (they make eth0 and start dockerd); "
                    "the lab's pytest plugin sends them there")
    t0 = time.monotonic()
    _prepare_host_namespace()
    d = _start_dockerd()
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = d.base_url
    try:
        _import_image(d)
        print(f"dockerd ready with image {IMAGE} in {time.monotonic() - t0:.1f} s")
        yield d
    finally:
        if saved is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = saved
        try:
            d.clean()
        except Exception:  # noqa: BLE001 - stopping dockerd matters more
            pass
        _stop(d.proc)
        _stop(d.containerd)
        sh("umount", "-l", str(ROOT), check=False)


@pytest.fixture
def docker_env(dockerd, tmp_path):
    """A clean daemon for one test, and a Controller whose Docker engine talks to it."""
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.docker import DockerEngine
    from ipvlan_tui.engines.kernel import KernelEngine
    from ipvlan_tui.store import Store

    dockerd.clean()
    engine = DockerEngine(dockerd.base_url, host_label="lab", default_image=IMAGE)
    kernel = KernelEngine()
    ctl = Controller(kernel, Store(tmp_path / "state"), hosts_root=tmp_path / "netns-etc",
                     root=True, docker=engine)
    t0 = time.monotonic()
    try:
        yield ctl, engine, dockerd
    finally:
        print(f"test body: {time.monotonic() - t0:.1f} s")
        engine.close()
        kernel.close()
        dockerd.clean()
