"""Docker tests: one private dockerd per session, inside the lab VM.

The lab VM has no network device, so the session first makes a dummy `eth0`
(192.168.1.250/24) in the VM's root namespace for `-o parent=eth0` and the
VLANs on it. dockerd (and its own containerd) is started by
ipvlan_tui.lab.dockerd: no iptables, no bridge, vfs storage, every piece of
state on a tmpfs of its own with its own socket and pidfile; only the
daemons this session started are stopped at the end. No registry is
reachable, so the test image is made with `docker import` from a tarball of
busybox-static and a few applet links.

Fixtures for every test file here:
- `dockerd` (session): .proc, .containerd, .base_url, .log, .root, .clean(),
  .cli(*args), .exec(container, *argv), .ping(container, addr), .links(), .client()
- `docker_env`: a clean daemon and (Controller, DockerEngine, dockerd)
- `second_dockerd` (session, started on first use): another daemon next to
  the first one, for multi-host tests (same VM kernel, so same links)

Outside the lab (IPVLAN_TUI_IN_LAB unset) nothing here touches the machine:
the lab's pytest plugin runs the `docker`-marked tests inside the VM.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ipvlan_tui.lab import dockerd as labdockerd
from ipvlan_tui.lab.dockerd import APPLETS, IMAGE, Dockerd, docker_cli, image_tarball, sh  # noqa: F401

ROOT = Path("/run/ipvlan-tui-docker-test")
SOCK = ROOT / "docker.sock"
BASE_URL = f"unix://{SOCK}"
SECOND_ROOT = Path("/run/ipvlan-tui-docker-test-b")
DOCKERD_FLAGS = labdockerd.DOCKERD_FLAGS
PARENT_ADDR = "192.168.1.250/24"


def in_lab() -> bool:
    return os.environ.get("IPVLAN_TUI_IN_LAB") == "1"


def _need_lab() -> None:
    if not in_lab():
        pytest.skip("docker tests run inside the lab VM only (they make eth0 and start dockerd); "
                    "the lab's pytest plugin sends them there")


def _started(root: Path, what: str) -> Dockerd:
    t0 = time.monotonic()
    d = labdockerd.start(root)
    try:
        labdockerd.import_image(d, IMAGE)
    except BaseException:
        d.stop()
        raise
    print(f"{what} ready (daemon {d.started_in:.1f} s) with image {IMAGE} in {time.monotonic() - t0:.1f} s")
    return d


def _teardown(d: Dockerd) -> None:
    try:
        d.clean()
    except Exception:  # noqa: BLE001 - stopping dockerd matters more
        pass
    d.stop()


@pytest.fixture(scope="session")
def dockerd():
    _need_lab()
    labdockerd.ensure_dummy("eth0", PARENT_ADDR)
    d = _started(ROOT, "dockerd")
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = d.base_url
    try:
        yield d
    finally:
        if saved is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = saved
        _teardown(d)


@pytest.fixture(scope="session")
def second_dockerd(dockerd):
    """A second daemon (own containerd, roots, socket) beside `dockerd`, for --hosts tests."""
    d = _started(SECOND_ROOT, "second dockerd")
    try:
        yield d
    finally:
        _teardown(d)


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
