"""Docker daemon stops (issue 8): while the console runs and while operations are
in flight. The console says so (banner) without a key pressed, the netns side
keeps working (a link made outside appears, a netns endpoint is attached through
the console), the operations in flight report failure with what is known (never
a hang, never a false success, never "no such network"), and once dockerd is
back the console reconnects by itself: banner gone, Docker networks back, live
Docker events again.

The daemon is the session's own (tests/docker/conftest.py): it is frozen
(SIGSTOP) so requests are sent and left unanswered, then killed (SIGKILL), then
started again with its own command line read from /proc. Whatever happens, it
is left running and answering at the end: the other Docker tests follow.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

from ipvlan_tui.errors import PlanFailed
from ipvlan_tui.model import NetworkRequest
from tests.docker.conftest import sh
from tests.patience import patient

pytestmark = pytest.mark.docker
LAB_SECONDS = 150  # its expected time in the TCG lab VM (deals the docker modules to two VMs)

SIZE = (160, 48)
SLOW = 240.0  # TCG lab VM: dockerd takes tens of seconds to start; be patient, not flaky


# ----------------------------------------------------------------------------- the daemon
def _argv_of(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return [a.decode() for a in fh.read().split(b"\0") if a]


def _answers(base_url: str) -> bool:
    import docker

    try:
        c = docker.APIClient(base_url=base_url, timeout=10)
    except Exception:  # noqa: BLE001 - not up (the constructor asks for the version)
        return False
    try:
        return bool(c.ping())
    except Exception:  # noqa: BLE001
        return False
    finally:
        c.close()


def _kill(d) -> None:
    """SIGKILL the session's dockerd (by its PID; works on a stopped process too)."""
    if d.proc.poll() is None:
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=60)


def _restart(d, argv: list[str]) -> float:
    """dockerd again, with the same command line and log; the fixture stops the new one."""
    t0 = time.monotonic()
    with open(d.log, "ab") as fh:
        d.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    deadline = time.monotonic() + SLOW
    while not _answers(d.base_url):
        if d.proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {d.proc.returncode} on restart")
        if time.monotonic() > deadline:
            raise RuntimeError("dockerd restarted but does not answer")
        time.sleep(0.3)
    return time.monotonic() - t0


def _leave_healthy(d, argv: list[str]) -> None:
    """Whatever happened: a running dockerd that answers."""
    if d.proc.poll() is None:
        os.kill(d.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _answers(d.base_url):
            time.sleep(0.5)
        if _answers(d.base_url):
            return
        _kill(d)
    _restart(d, argv)


# ----------------------------------------------------------------------------- the console
def keys(app, panel: str) -> list[str]:
    return [r.key for r in app.query_one(f"#table-{panel}").items]


def text_of(widget) -> str:
    from tests.tui.conftest import text_of as render
    return render(widget)


async def drive(ctl, d, argv: list[str]) -> dict:  # noqa: C901 - one story, told in order
    from ipvlan_tui.tui.app import IpvlanApp
    from ipvlan_tui.tui.attach import AttachScreen
    from ipvlan_tui.tui.confirm import ConfirmScreen

    seen: dict = {}
    app = IpvlanApp(ctl, watch=True)
    said: list[tuple[str, str]] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        said.append((str(kwargs.get("title", "")), str(message)))
        return notify(message, *args, **kwargs)

    app.notify = recording

    async with app.run_test(size=SIZE) as pilot:
        patient(pilot, SLOW)
        async def until(cond, what: str, timeout: float = SLOW) -> None:
            end = time.monotonic() + timeout
            while not cond():
                if time.monotonic() > end:
                    raise AssertionError(f"timed out waiting for {what}; said {said}")
                await pilot.pause(0.05)

        banner = app.query_one("#banner-docker")
        await until(lambda: {"network:dnet", "network:nnet"} <= set(keys(app, "networks")),
                    "both networks")
        assert not banner.display
        # --- the console's delete of dnet, confirmed while the daemon is frozen
        await pilot.press("3")
        app.query_one("#table-networks").select_key("network:dnet")
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the delete confirmation")
        # ... and an engine-level plan made while dockerd answers, executed once it froze
        _, plan = ctl.plan_network_remove("dnet")
        os.kill(d.proc.pid, signal.SIGSTOP)
        box: dict = {}

        def execute() -> None:
            try:
                plan.execute()
                box["done"] = True
            except Exception as exc:  # noqa: BLE001 - looked at below
                box["error"] = exc
            box["at"] = time.monotonic()

        runner = threading.Thread(target=execute, daemon=True)
        runner.start()
        await pilot.press("y")
        await pilot.pause(2.0)  # both requests sent, unanswered
        assert runner.is_alive() and not said
        killed = time.monotonic()
        _kill(d)
        await until(lambda: not runner.is_alive(), "the in-flight remove to report", 60)
        seen["engine_outcome"] = box
        seen["engine_took"] = box["at"] - killed
        await until(lambda: any(t == "delete network dnet failed" for t, _ in said),
                    "the console's delete to report", 60)
        seen["console_outcome"] = [m for t, m in said if t == "delete network dnet failed"][0]
        seen["console_said"] = list(said)
        # --- the console says Docker is down, by itself
        await until(lambda: banner.display and "unreachable" in text_of(banner), "the Docker banner", 60)
        await until(lambda: "network:dnet" not in keys(app, "networks"), "Docker networks hidden", 60)
        seen["banner_after"] = time.monotonic() - killed
        seen["banner"] = text_of(banner)
        seen["topbar_down"] = text_of(app.query_one("#topbar"))
        # --- the netns side keeps working: a link made outside, an endpoint attached here
        sh("ip", "link", "add", "outside0", "type", "dummy")
        await until(lambda: "link:outside0" in keys(app, "links"), "a link made outside", 60)
        await pilot.press("3")
        app.query_one("#table-networks").select_key("network:nnet")
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, AttachScreen) and bool(app.screen.query("#attach-go")),
                    "the attach dialog")
        screen = app.screen
        screen.query_one("#ep-name").value = "ns1"
        await until(lambda: not screen.query_one("#attach-go").disabled
                    and screen._ok_serial == screen._serial, "a valid attach form", 120)
        screen.query_one("#attach-go").press()
        await until(lambda: "endpoint:ns1" in keys(app, "endpoints"), "the netns endpoint row", 120)
        ep = next(e for n in app.topology.networks for e in n.endpoints if e.name == "ns1")
        seen["ns1"] = (ep.engine, ep.state, ep.ipv4)
        assert banner.display  # still down all along
        # --- dockerd back: the console notices by itself
        seen["restart"] = _restart(d, argv)
        back = time.monotonic()
        await until(lambda: not banner.display, "the banner to go", 120)
        await until(lambda: "network:dnet" in keys(app, "networks"), "dnet to reappear", 60)
        seen["back_after"] = time.monotonic() - back
        seen["topbar_up"] = text_of(app.query_one("#topbar"))
        # --- live Docker events again: a network made behind the console's back (an
        # existing parent: no link changes, so no netlink event to ride on)
        from docker.types import IPAMConfig, IPAMPool

        client = d.client()
        try:
            client.networks.create("live1", driver="ipvlan", options={"parent": "outside0"},
                                   ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="10.68.0.0/24")]))
        finally:
            client.close()
        made = time.monotonic()
        await until(lambda: "network:live1" in keys(app, "networks"), "a network made with Docker", 60)
        seen["live_after"] = time.monotonic() - made
        seen["fallback"] = app._fallback_timer
        seen["networks"] = sorted(keys(app, "networks"))
    return seen


def test_daemon_stops_and_comes_back_under_the_console(docker_env):
    from ipvlan_tui.engines.docker import DockerUnreachable

    ctl, eng, d = docker_env
    argv = _argv_of(d.proc.pid)
    assert os.path.basename(argv[0]) == "dockerd", argv
    t0 = time.monotonic()
    try:
        ctl.create_network(NetworkRequest("dnet", subnets=("10.66.0.0/24",), engine="docker"))
        ctl.create_network(NetworkRequest("nnet", subnets=("10.67.0.0/24",)))
        seen = asyncio.run(drive(ctl, d, argv))
        print(f"\ndaemon stop: engine-level remove reported {seen['engine_took']:.1f} s after the kill; "
              f"banner {seen['banner_after']:.1f} s after; dockerd restarted in {seen['restart']:.1f} s, "
              f"console back {seen['back_after']:.1f} s after; a Docker-made network shown "
              f"{seen['live_after']:.1f} s after; whole test {time.monotonic() - t0:.1f} s")
        print(f"console said: {seen['console_outcome']}")
        print(f"engine said: {seen['engine_outcome'].get('error')}")
        # The operations in flight: failed, with the truth (no false success, no "no such")
        outcome = seen["engine_outcome"]
        assert "done" not in outcome, "the remove claimed success while dockerd was gone"
        err = outcome["error"]
        assert isinstance(err, PlanFailed) and isinstance(err.cause, DockerUnreachable), repr(err)
        assert "whether it was done is unknown" in str(err.cause) or "not done" in str(err.cause)
        assert seen["engine_took"] < 30
        console = seen["console_outcome"]
        assert "unreachable" in console and "cannot tell whether network dnet" in console, console
        assert "no such" not in console
        assert not any(t == "" and "done" in m and "dnet" in m for t, m in seen["console_said"])
        # ... and the truth once dockerd is back: it never removed dnet
        assert eng.has_network("dnet")
        assert "network:dnet" in seen["networks"]
        # The console said Docker was down, and kept the netns side working
        assert "Docker is unreachable" in seen["banner"] and "reconnects" in seen["banner"]
        assert "unreachable" in seen["topbar_down"] and "unreachable" not in seen["topbar_up"]
        engine, state, ipv4 = seen["ns1"]
        assert engine == "netns" and state == "running" and ipv4 and ipv4.startswith("10.67.0.")
        # Reconnected by itself, live events included
        assert seen["fallback"] is None
        assert "network:live1" in seen["networks"]
    finally:
        _leave_healthy(d, argv)
        client = d.client()
        try:
            for n in client.api.networks(names=["live1"]):
                client.api.remove_network(n["Id"])
        except Exception:  # noqa: BLE001 - the fixture cleans the rest
            pass
        finally:
            client.close()
        try:
            ctl.remove_network("nnet", force=True)
        except Exception:  # noqa: BLE001
            pass
        sh("ip", "link", "del", "outside0", check=False)
    assert _answers(d.base_url)
