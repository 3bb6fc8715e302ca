"""The probe against this host's kernel: namespaces joined by veth (no ipvlan here).

Every address pinged lives in a namespace these fixtures create; nothing
outside them is ever pinged. Namespaces are deleted even when a test fails.
Needs root (namespaces, raw sockets).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

import pytest

from ipvlan_tui import probe
from ipvlan_tui.expect import Expectation, verdict
from ipvlan_tui.model import Endpoint
from ipvlan_tui.probe import PingResult, ProbeJob, format_summary, matrix, ping, probe_many

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and raw sockets")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def sysctl(ns: str, key: str, value: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"],
                   check=True, capture_output=True, text=True)


def ns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


class Namespaces:
    """Named namespaces made for one test; all deleted at the end."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.names: list[str] = []

    def add(self, short: str) -> str:
        name = f"ipvt-pr-{self.tag}-{short}"
        ip("netns", "add", name)
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, a: str, a_if: str, b: str, b_if: str) -> None:
        # Made straight inside the namespaces: nothing appears on the host.
        ip("link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b)
        ip("-n", a, "link", "set", a_if, "up")
        ip("-n", b, "link", "set", b_if, "up")

    def cleanup(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def nss():
    made = Namespaces()
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def pair(nss):
    """a (10.200.0.1, fd00:200::1) <-veth-> b (10.200.0.2, fd00:200::2), b routes on to
    10.201.0.0/16 and fd00:201::/32 where it answers with ICMP errors
    (an `unreachable` route and a `prohibit` route)."""
    a, b = nss.add("a"), nss.add("b")
    nss.veth(a, "va", b, "vb")
    ip("-n", a, "addr", "add", "10.200.0.1/24", "dev", "va")
    ip("-n", b, "addr", "add", "10.200.0.2/24", "dev", "vb")
    ip("-n", a, "addr", "add", "fd00:200::1/64", "dev", "va", "nodad")
    ip("-n", b, "addr", "add", "fd00:200::2/64", "dev", "vb", "nodad")
    ip("-n", a, "route", "add", "10.201.0.0/16", "via", "10.200.0.2")
    ip("-n", a, "-6", "route", "add", "fd00:201::/32", "via", "fd00:200::2")
    sysctl(b, "net.ipv4.ip_forward", "1")
    sysctl(b, "net.ipv6.conf.all.forwarding", "1")
    ip("-n", b, "route", "add", "unreachable", "10.201.1.0/24")
    ip("-n", b, "route", "add", "prohibit", "10.201.2.0/24")
    ip("-n", b, "-6", "route", "add", "unreachable", "fd00:201:1::/64")
    ip("-n", b, "-6", "route", "add", "prohibit", "fd00:201:2::/64")
    return a, b


# ---------------------------------------------------------------------------
# Replies, errors, timeouts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("addr,family", [("10.200.0.2", 4), ("fd00:200::2", 6)])
def test_replies_with_rtt(pair, addr, family):
    a, _ = pair
    r = ping(a, addr, count=3, interval=0.05, timeout=1, source="a", target="b")
    assert (r.sent, r.received, r.loss, r.error, r.errors) == (3, 3, 0.0, None, 0)
    assert (r.source, r.target, r.address, r.family, r.netns) == ("a", "b", addr, family, a)
    assert 0 < r.rtt_min <= r.rtt_avg <= r.rtt_max < 1000
    assert r.rtt_mdev >= 0 and len(r.rtts) == 3
    assert r.ttl == 64
    assert r.reachable and r.socket_kind == "raw"
    text = format_summary(r)
    assert text.startswith(f"--- {addr} ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss")
    assert "\nrtt min/avg/max/mdev = " in text and text.endswith(" ms")


@pytest.mark.parametrize("addr", ["10.99.0.1", "fd00:99::1"])
def test_network_unreachable_is_data(pair, addr):
    a, _ = pair
    t0 = time.monotonic()
    r = ping(a, addr, count=3, timeout=1)
    assert time.monotonic() - t0 < 0.5  # a local routing failure ends the probe at once
    assert r.received == 0 and r.loss == 1.0 and r.errors == 1
    assert r.error == "Network is unreachable"
    assert "error: Network is unreachable" in format_summary(r)


@pytest.mark.parametrize("addr", ["10.200.0.99", "fd00:200::99"])
def test_timeout_is_total_loss(pair, addr):
    a, _ = pair
    t0 = time.monotonic()
    r = ping(a, addr, count=1, timeout=0.5)
    elapsed = time.monotonic() - t0
    assert 0.45 < elapsed < 1.0
    assert (r.sent, r.received, r.loss, r.rtt_avg) == (1, 0, 1.0, None)
    assert r.error == "no reply within 0.5 s"
    assert "1 packets transmitted, 0 received, 100% packet loss" in format_summary(r)


@pytest.mark.parametrize("addr,text", [
    ("10.200.0.77", "Destination Host Unreachable"),
    ("fd00:200::77", "Destination unreachable: Address unreachable"),
])
def test_local_neighbour_failure_gives_icmp_error(pair, addr, text):
    a, _ = pair
    # Give up on ARP / neighbour discovery fast so the kernel's error comes in time.
    for fam in ("ipv4", "ipv6"):
        sysctl(a, f"net.{fam}.neigh.va.mcast_solicit", "1")
        sysctl(a, f"net.{fam}.neigh.va.retrans_time_ms", "100")
    r = ping(a, addr, count=1, timeout=3)
    assert r.received == 0 and r.errors == 1
    assert r.error == text


@pytest.mark.parametrize("sock_type", ["raw", "dgram"])
@pytest.mark.parametrize("addr,text", [
    ("10.201.1.5", "Destination Host Unreachable"),
    ("10.201.2.5", "Packet filtered"),
    ("fd00:201:1::5", "Destination unreachable: No route"),
    ("fd00:201:2::5", "Destination unreachable: Administratively prohibited"),
])
def test_remote_icmp_errors_are_data(pair, addr, text, sock_type):
    a, _ = pair
    if sock_type == "dgram":
        sysctl(a, "net.ipv4.ping_group_range", "0 2147483647")
    r = ping(a, addr, count=1, timeout=2, sock_type=sock_type)
    assert r.socket_kind == sock_type
    assert (r.sent, r.received, r.errors) == (1, 0, 1)
    assert r.error == text
    assert "+1 errors" in format_summary(r)


@pytest.mark.parametrize("addr", ["10.200.0.2", "fd00:200::2"])
def test_ping_sockets_when_allowed(pair, addr):
    a, _ = pair
    sysctl(a, "net.ipv4.ping_group_range", "0 2147483647")  # covers ICMPv6 ping sockets too
    r = ping(a, addr, count=2, interval=0.05, sock_type="dgram")
    assert (r.received, r.socket_kind, r.ttl) == (2, "dgram", 64)


def test_ping_sockets_refused_is_data(pair):
    a, _ = pair  # ping_group_range is "1 0" (nobody) in a new namespace
    r = ping(a, "10.200.0.2", count=1, sock_type="dgram")
    assert r.sent == 0 and r.error.startswith("cannot open an ICMP socket")


def test_missing_namespace_is_data():
    r = ping(f"ipvt-pr-missing-{uuid.uuid4().hex[:6]}", "10.200.0.2", count=1)
    assert r.sent == 0 and r.loss == 1.0
    assert r.error.startswith("cannot enter namespace") and "No such file or directory" in r.error


def test_bad_options_raise_before_sending():
    for bad in (dict(count=0), dict(size=4), dict(timeout=0), dict(sock_type="tcp")):
        with pytest.raises(ValueError):
            probe_many([ProbeJob("x", "10.0.0.1", **bad)])
    r = probe_many([ProbeJob("x", "not-an-ip")])[0]
    assert r.error.startswith("not an IP address")


# ---------------------------------------------------------------------------
# No ping program, no subprocess, the caller's namespace untouched
# ---------------------------------------------------------------------------


def test_no_program_runs_and_caller_namespace_is_unchanged(pair, monkeypatch):
    a, b = pair

    def forbidden(*args, **kwargs):
        raise AssertionError("the probe must not start a process")

    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, forbidden)
    for name in ("fork", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, forbidden)
    monkeypatch.setenv("PATH", "/nonexistent")  # and no ping binary to be found anyway

    before = ns_inode()
    results = probe_many([ProbeJob(a, "10.200.0.2", count=2, interval=0.05),
                          ProbeJob(b, "fd00:200::1", count=2, interval=0.05),
                          ProbeJob(a, "10.99.0.1")])
    assert ns_inode() == before
    assert [r.received for r in results] == [2, 2, 0]
    # From a non-main thread too.
    seen: list[int] = []

    def worker():
        start = ns_inode()
        ping(b, "10.200.0.1", count=1)
        seen.extend([start, ns_inode()])

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen[0] == seen[1] == before


def test_socket_stays_in_its_namespace(pair):
    a, b = pair
    sock, kind = probe.open_icmp_socket(b, 4)
    try:
        # Pinging b's own address from a socket made in b goes over b's loopback.
        r = probe_many([ProbeJob(b, "10.200.0.2")])[0]
        assert r.received == 1
        assert kind == "raw"
    finally:
        sock.close()
    assert probe.in_netns(a, ns_inode) != ns_inode()
    assert probe.in_netns("", ns_inode) == ns_inode()


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------


def test_hundred_silent_probes_take_about_one_timeout(pair):
    a, _ = pair
    # Lower bounds are what the waves force (a load spike only adds time); the upper
    # bound is far from the 100 s that one probe after another would take.
    t0 = time.monotonic()
    results = probe_many([ProbeJob(a, "10.200.0.99", timeout=1) for _ in range(100)])
    two_waves = time.monotonic() - t0
    assert 1.9 <= two_waves < 30.0, two_waves  # 64 in flight at most: two waves of 1 s, not 100 s
    assert len(results) == 100 and all(r.received == 0 and r.loss == 1.0 for r in results)
    t0 = time.monotonic()
    probe_many([ProbeJob(a, "10.200.0.98", timeout=1) for _ in range(100)], max_in_flight=100)
    one_wave = time.monotonic() - t0
    assert 0.9 <= one_wave < two_waves, (one_wave, two_waves)  # all 100 at once: one wave


def test_concurrent_probes_do_not_steal_replies(pair):
    """Two loops at once, same namespace and target, plus a stranger's raw socket."""
    a, b = pair
    stranger, _ = probe.open_icmp_socket(a, 4)  # sees every reply in `a`, reads none
    out: dict[str, list[PingResult]] = {}

    def run(key: str, jobs):
        out[key] = probe_many(jobs)

    jobs1 = [ProbeJob(a, "10.200.0.2", count=3, interval=0.02) for _ in range(20)]
    jobs2 = [ProbeJob(a, "10.200.0.2", count=2, interval=0.02) for _ in range(20)]
    jobs2 += [ProbeJob(a, "fd00:200::2", count=2, interval=0.02) for _ in range(10)]
    threads = [threading.Thread(target=run, args=("one", jobs1)),
               threading.Thread(target=run, args=("two", jobs2))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stranger.close()
    assert [r.received for r in out["one"]] == [3] * 20
    assert [r.received for r in out["two"]] == [2] * 30
    assert all(len(r.rtts) == r.sent for r in out["one"] + out["two"])


def test_results_stream_in_completion_order(pair):
    a, _ = pair
    streamed: list[tuple[str, float]] = []
    t0 = time.monotonic()
    jobs = [ProbeJob(a, "10.200.0.99", target="silent", timeout=0.6),
            ProbeJob(a, "10.200.0.2", target="fast", timeout=0.6)]
    results = probe_many(jobs, on_result=lambda r: streamed.append((r.target, time.monotonic() - t0)))
    assert [r.target for r in results] == ["silent", "fast"]  # returned in job order
    assert [t for t, _ in streamed] == ["fast", "silent"]  # streamed as they finish
    assert streamed[0][1] < 0.3 and streamed[1][1] >= 0.55


def test_cancel_stops_everything(pair):
    a, _ = pair
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    t0 = time.monotonic()
    results = probe_many([ProbeJob(a, "10.200.0.99", count=5, timeout=5) for _ in range(3)],
                         max_in_flight=2, cancel=cancel)
    assert time.monotonic() - t0 < 1.0
    assert [r.error for r in results] == ["cancelled"] * 3


def test_matrix_all_pairs_in_about_one_timeout(nss):
    """20 namespaces on a bridge (in a hub namespace): 380 ordered pairs at once."""
    hub = nss.add("hub")
    ip("-n", hub, "link", "add", "br0", "type", "bridge")
    ip("-n", hub, "link", "set", "br0", "up")
    endpoints = []
    for i in range(1, 21):
        ns = nss.add(f"e{i}")
        nss.veth(ns, "eth0", hub, f"p{i}")
        ip("-n", hub, "link", "set", f"p{i}", "master", "br0")
        ip("-n", ns, "addr", "add", f"10.210.0.{i}/24", "dev", "eth0")
        ip("-n", ns, "addr", "add", f"fd00:210::{i}/64", "dev", "eth0", "nodad")
        endpoints.append(Endpoint(f"e{i}", "lan", ipv4=f"10.210.0.{i}", ipv6=f"fd00:210::{i}", netns=ns))
    streamed: list[PingResult] = []
    t0 = time.monotonic()
    results = matrix(endpoints, timeout=1.0, on_result=streamed.append)
    elapsed = time.monotonic() - t0
    assert len(results) == 380 and len(streamed) == 380
    assert all(r.received == 1 and r.family == 4 for r in results), [r for r in results if not r.received][:3]
    assert elapsed < 1.5, elapsed
    assert (results[0].source, results[0].target) == ("e1", "e2")

    # -6, and pairs that cannot be probed are results too (streamed first).
    v4only = Endpoint("v4only", "lan", ipv4="10.210.0.99", netns=endpoints[0].netns)
    nowhere = Endpoint("nowhere", "lan", ipv4="10.210.0.98", ipv6="fd00:210::98", netns="")
    streamed.clear()
    results = matrix(endpoints[:3] + [v4only, nowhere], family=6, timeout=0.5, on_result=streamed.append)
    by_pair = {(r.source, r.target): r for r in results}
    assert len(results) == 20
    assert by_pair[("e1", "e2")].received == 1 and by_pair[("e1", "e2")].family == 6
    assert by_pair[("e1", "v4only")].error == "no common IPv6 family between e1 and v4only"
    assert by_pair[("nowhere", "e1")].error == "endpoint nowhere has no network namespace"
    assert by_pair[("e1", "nowhere")].error == "no reply within 0.5 s"
    assert streamed[0].sent == 0


def test_verdict_on_measured_results(pair):
    a, _ = pair
    ok = ping(a, "10.200.0.2", count=1)
    gone = ping(a, "10.99.0.1", count=1)
    yes = Expectation(True, "same subnet 10.200.0.0/24", "same-subnet", "10.200.0.2", 4)
    no = Expectation(False, "different parents", "different-parent", "10.99.0.1", 4)
    assert verdict(yes, ok)[0] == "expected"
    assert verdict(no, gone) == ("expected", "expected: no reply (Network is unreachable), as predicted: "
                                             "different parents")
    kind, text = verdict(no, ok)
    assert kind == "surprising" and text.startswith("surprising: 1/1 replies, but predicted not reachable")
    assert verdict(yes, gone)[0] == "surprising"
