"""A private containerd + dockerd inside the lab VM, and a tiny busybox image.

One place for what tests/docker/conftest.py, bench/b_docker.py and the
two-daemon test all need:

    d = dockerd.start(Path("/run/my-docker"))      # tmpfs root, own sockets
    dockerd.import_image(d, "ipvlan-tui-busybox:latest")
    ... d.client(), d.cli("network", "ls"), d.exec("c1", "ip", "route") ...
    d.stop()                                       # only the daemons it started

Each daemon gets a root directory of its own, mounted as a tmpfs: its
containerd (dockerd's own start of it times out on a busy TCG VM), data-root,
exec-root, sockets, pidfile and logs all live there, so two daemons side by
side never share state (containerd namespaces, libnetwork's store, netns
files). dockerd runs with no iptables, no bridge and vfs storage. No
registry is reachable in the lab, so images are made with `docker import`
from a tarball of busybox-static and a few applet links.

Nothing here runs at import time; only the lab (IPVLAN_TUI_IN_LAB=1, root)
should call start(). No Textual, and `docker` (the SDK) is imported lazily.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

IMAGE = "ipvlan-tui-busybox:latest"
APPLETS = ("sh", "ping", "ping6", "ip", "sleep", "cat")
DOCKERD_FLAGS = ("--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs")
READY_TIMEOUT = 180.0


def sh(*argv: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, env=env)


def docker_cli() -> str:
    """The docker CLI that matches the packaged dockerd (docker.io puts it in /usr/bin)."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def missing_tools() -> list[str]:
    """The programs start() needs that this machine lacks."""
    return [t for t in ("containerd", "dockerd") if shutil.which(t) is None]


def busybox_path() -> str:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(cand).exists():
            return cand
    raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")


def image_tarball(applets: tuple[str, ...] = APPLETS) -> bytes:
    """A root filesystem of bin/busybox plus applet links, as an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox_path(), arcname="bin/busybox")
        for applet in applets:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buf.getvalue()


def ensure_dummy(name: str, address: str | None = None) -> None:
    """`lo` up, and a dummy link `name` (with `address`) up: a parent in a VM with no NIC.
    A link of that name that already exists is used as it is."""
    sh("ip", "link", "set", "lo", "up")
    if sh("ip", "link", "show", name, check=False).returncode != 0:
        sh("ip", "link", "add", name, "type", "dummy")
        if address:
            sh("ip", "addr", "add", address, "dev", name)
    sh("ip", "link", "set", name, "up")


def stop_process(proc: subprocess.Popen | None, timeout: float = 30) -> None:
    """Stop a daemon this code started, by its PID only (SIGTERM, then SIGKILL)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def _wait_for(what: str, proc: subprocess.Popen, log: Path, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if ready():
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready within {timeout:g} s ({last}):\n{_tail(log)}")


@dataclass
class Dockerd:
    """A running private dockerd (and its containerd)."""

    proc: subprocess.Popen
    base_url: str
    log: Path
    containerd: subprocess.Popen | None = None
    root: Path | None = None  # the tmpfs everything lives on; unmounted by stop()
    started_in: float = 0.0  # seconds from start() to a daemon answering ping
    _mounted: bool = field(default=False, repr=False)

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

    @staticmethod
    def links() -> set[str]:
        """Link names in the VM's root namespace (shared by every daemon in it)."""
        out = sh("ip", "-o", "link", "show").stdout
        return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}

    def client(self, timeout: int = 120):
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

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

    def stop(self) -> None:
        """Stop dockerd, then its containerd, then drop the tmpfs. Only what start() made."""
        stop_process(self.proc)
        stop_process(self.containerd)
        if self._mounted and self.root is not None:
            sh("umount", "-l", str(self.root), check=False)
            self._mounted = False


def start(root: Path, *, timeout: float = READY_TIMEOUT, flags: tuple[str, ...] = DOCKERD_FLAGS) -> Dockerd:
    """containerd, then dockerd, both with all their state under `root` (a fresh tmpfs).

    The socket is ROOT/docker.sock. Raises RuntimeError with the log's tail when a
    daemon exits or does not answer in `timeout` seconds; whatever was started is
    stopped again then.
    """
    t0 = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", "mode=0711", "tmpfs", str(root))
    sock = root / "docker.sock"
    base_url = f"unix://{sock}"
    ctr_sock = root / "containerd.sock"
    ctr_log = root / "containerd.log"
    ctr_conf = root / "containerd.toml"
    ctr = proc = None
    try:
        ctr_conf.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        ctr = _spawn(["containerd", f"--config={ctr_conf}", f"--address={ctr_sock}",
                      f"--root={root / 'data' / 'containerd'}", f"--state={root / 'exec' / 'containerd'}",
                      "--log-level=warn"], ctr_log)
        _wait_for("containerd", ctr, ctr_log, ctr_sock.exists, timeout)
        log = root / "dockerd.log"
        proc = _spawn(["dockerd", *flags, f"--containerd={ctr_sock}",
                       f"--data-root={root / 'data'}", f"--exec-root={root / 'exec'}",
                       f"--pidfile={root / 'dockerd.pid'}", f"--host={base_url}"], log)
        import docker

        def ping() -> bool:
            if not sock.exists():
                return False
            c = docker.APIClient(base_url=base_url, timeout=10)
            try:
                return bool(c.ping())
            finally:
                c.close()

        _wait_for("dockerd", proc, log, ping, timeout)
    except BaseException:
        stop_process(proc)
        stop_process(ctr)
        sh("umount", "-l", str(root), check=False)
        raise
    return Dockerd(proc, base_url, log, ctr, root=root, started_in=time.monotonic() - t0, _mounted=True)


def import_image(d: Dockerd, image: str = IMAGE, applets: tuple[str, ...] = APPLETS) -> None:
    """`docker import` of the busybox tarball as `image` (repository:tag)."""
    repo, _, tag = image.partition(":")
    client = d.client(timeout=300)
    try:
        client.api.import_image_from_data(image_tarball(applets), repository=repo, tag=tag or "latest")
    finally:
        client.close()


__all__ = ["Dockerd", "start", "import_image", "image_tarball", "ensure_dummy", "stop_process",
           "missing_tools", "docker_cli", "sh", "IMAGE", "APPLETS", "DOCKERD_FLAGS"]
