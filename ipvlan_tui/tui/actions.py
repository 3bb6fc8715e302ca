"""Things the console needs from the controller that the controller does not offer (yet).

Each function takes the controller and does one job; they block, so the app
calls them from thread workers only. Candidates to move into controller.py:
`watch_events`, `is_demo`, `populate_demo`, `ping_plan`/`simulated_probe_many`.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from ipvlan_tui.errors import EngineError, ValidationError
from ipvlan_tui.model import Endpoint, EndpointRequest, NetworkRequest, Topology

WATCH_UNSUPPORTED = "watch-unsupported"


def watch_events(ctl, callback: Callable[[dict], None], stop: Callable[[], bool]) -> None:
    """Block (in a worker thread) feeding kernel and Docker change events to callback.

    Raises EngineError/NotImplementedError when no event source exists; the
    app then falls back to a visible refresh interval.
    """
    watch = getattr(ctl.kernel, "watch", None)
    if watch is None:
        raise NotImplementedError("this kernel backend has no event stream")
    docker = getattr(ctl, "docker", None)
    docker_watch = None
    if docker is not None:  # DockerEngine.events(callback, stop): network/container events
        docker_watch = getattr(docker, "events", None) or getattr(docker, "watch", None)
    if docker_watch is not None:
        t = threading.Thread(target=_quiet, args=(docker_watch, callback, stop),
                             name="docker-events", daemon=True)
        t.start()
    watch(callback, stop)


def _quiet(fn, callback, stop) -> None:
    try:
        fn(callback, stop)
    except Exception as exc:  # noqa: BLE001 - Docker events are a bonus; the kernel's go on
        callback({"kind": "docker-events-lost", "name": str(exc), "netns": ""})


def is_demo(ctl) -> bool:
    """True when the controller drives the in-memory demo kernel (nothing real is touched)."""
    return type(ctl.kernel).__name__ == "FakeKernel"


def populate_demo(ctl) -> None:
    """A few networks and endpoints, made through the controller, for the demo and screenshots."""
    if ctl.store.networks():
        return
    ctl.create_network(NetworkRequest(
        "db_net", subnets=("192.168.10.0/24", "2001:db8:10::/64"), options=("parent=eth0.10",),
        ipv6=True))
    ctl.create_network(NetworkRequest(
        "web_l3", subnets=("10.20.0.0/24", "10.21.0.0/24"),
        options=("parent=eth1", "ipvlan_mode=l3")))
    ctl.create_network(NetworkRequest(
        "lab_iso", subnets=("172.30.5.0/24",), internal=True))
    for name, net, ip in (("db1", "db_net", None), ("db2", "db_net", "192.168.10.20"),
                          ("web1", "web_l3", None), ("web2", "web_l3", "10.21.0.9"),
                          ("probe", "lab_iso", None)):
        ctl.run_endpoint(EndpointRequest(name, net, ipv4=ip))


# ---------------------------------------------------------------------------- ping
@dataclass(frozen=True)
class PingTarget:
    label: str
    target: object  # Endpoint | "parent" | an address


def resolve_ping_target(topo: Topology, text: str) -> PingTarget:
    """An endpoint name, "parent", or an address (checked), as expect.predict wants it."""
    from ipvlan_tui import expect

    text = text.strip()
    if not text:
        raise ValidationError("target", text, "is empty", "type an endpoint name, an address or 'parent'")
    if text == expect.PARENT:
        return PingTarget("parent", expect.PARENT)
    for net in topo.networks:
        for ep in net.endpoints:
            if ep.name == text:
                return PingTarget(ep.name, ep)
    import ipaddress
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValidationError("target", text, "is neither an endpoint, an address nor 'parent'",
                              "pick an endpoint name, type an IP address, or 'parent'") from None
    return PingTarget(text, text)


def simulated_probe_many(jobs: Sequence, topo: Topology, on_result=None, cancel=None) -> list:
    """The demo kernel has no namespaces: answer as the prediction says, with made-up RTTs.

    Deterministic per (source, address, seq) so screenshots are stable. The
    ping pane labels these results "simulated".
    """
    from ipvlan_tui import expect
    from ipvlan_tui.probe import PingResult

    eps = {ep.netns: ep for net in topo.networks for ep in net.endpoints}
    out = []
    for job in jobs:
        if cancel is not None and cancel.is_set():
            break
        src = eps.get(job.netns)
        target = next((ep for ep in eps.values() if job.address in (ep.ipv4, ep.ipv6)), job.address)
        ok = False
        if src is not None:
            try:
                exp = expect.predict(topo, src, target)
                ok = exp.reachable
            except ValidationError:
                ok = False
        rtts = []
        for seq in range(job.count):
            h = int(hashlib.sha256(f"{job.netns}|{job.address}|{seq}".encode()).hexdigest()[:6], 16)
            rtts.append(0.04 + (h % 400) / 1000.0)
        fam = 6 if ":" in job.address else 4
        if ok:
            res = PingResult(job.source or job.netns, job.target or job.address, job.address, fam,
                             sent=job.count, received=job.count, loss=0.0, rtt_min=min(rtts),
                             rtt_avg=sum(rtts) / len(rtts), rtt_max=max(rtts), rtt_mdev=0.0,
                             ttl=64, netns=job.netns, rtts=tuple(rtts), socket_kind="simulated")
        else:
            res = PingResult(job.source or job.netns, job.target or job.address, job.address, fam,
                             sent=job.count, received=0, loss=1.0, error="timed out (simulated)",
                             netns=job.netns, socket_kind="simulated")
        if on_result is not None:
            on_result(res)
        out.append(res)
    return out


def probe_many(ctl, topo: Topology, jobs: Sequence, on_result=None, cancel=None) -> list:
    """Real ICMP from the endpoints' namespaces, or the simulation on the demo kernel."""
    if is_demo(ctl):
        return simulated_probe_many(jobs, topo, on_result, cancel)
    from ipvlan_tui import probe
    jobs = list(jobs)
    # All in flight at once: a matrix takes about one timeout, not one per wave.
    return probe.probe_many(jobs, max_in_flight=min(1024, max(1, len(jobs))),
                            on_result=on_result, cancel=cancel)


def endpoints_of(topo: Topology, network: str | None) -> list[Endpoint]:
    return [ep for net in topo.networks for ep in net.endpoints
            if network in (None, "", net.spec.name)]


__all__ = ["watch_events", "is_demo", "populate_demo", "resolve_ping_target", "probe_many",
           "simulated_probe_many", "endpoints_of", "PingTarget", "EngineError"]
