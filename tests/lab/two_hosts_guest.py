"""The guest side of tests/lab/test_two_hosts_docker.py: one of two lab VMs on one wire.

    python -m tests.lab.two_hosts_guest a|b

Each VM has one NIC, `eth0`, on a qemu unix-socket wire to the other VM and
nothing else. Untagged, the wire carries a management subnet (10.99.0.0/24,
A = .1, B = .2) for the Docker API and this test's own control channel;
the ipvlan networks under test ride 802.1q VLANs on the same wire, exactly
as two Docker hosts on one trunk port would.

- B starts its dockerd (unix socket + tcp://10.99.0.2:2375), then serves a
  tiny XML-RPC control channel on 10.99.0.2:7000 so that A can run commands
  on B (`ipvlan-tui routes` must run where the network's parent is), until
  A says stop.
- A starts its own dockerd and drives the whole scenario with the
  ipvlan-tui CLI, printing each step with its time. Any failed check raises;
  A always tells B to stop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
import xmlrpc.client
from pathlib import Path
from xmlrpc.server import SimpleXMLRPCServer

from ipvlan_tui.lab import dockerd as labdockerd

MGMT = {"a": "10.99.0.1", "b": "10.99.0.2"}
DOCKER_PORT = 2375
RPC_PORT = 7000
ROOT = Path("/run/ipvlan-tui-2h")
STATE = "/run/ipvlan-tui-2h-state"
SERVE_SECONDS = 900  # B gives up waiting for A after this
IMAGE = labdockerd.IMAGE

T0 = time.monotonic()


def log(me: str, text: str) -> None:
    print(f"[{me} {time.monotonic() - T0:6.1f}s] {text}", flush=True)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def cli(*args: str, check: bool = True, fresh: bool = False) -> subprocess.CompletedProcess:
    """The CLI with this VM's store: `ipvlan_tui.cli.main` in this process (Python's
    start-up and imports cost 10-30 s per command under TCG), or with `fresh` its
    own process, exactly as a user runs it."""
    argv = ["--state-dir", STATE, *args]
    if fresh:
        return sh(sys.executable, "-m", "ipvlan_tui", *argv, check=check)
    import io

    from ipvlan_tui import cli as climod

    out, err = io.StringIO(), io.StringIO()
    code = climod.main(argv, out, err)
    res = subprocess.CompletedProcess(["ipvlan-tui", *argv], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"ipvlan-tui {' '.join(argv)} -> {code}\n{res.stdout}\n{res.stderr}")
    return res


def counter(link: str, what: str) -> int:
    return int(Path(f"/sys/class/net/{link}/statistics/{what}").read_text())


def bring_up(me: str) -> labdockerd.Dockerd:
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "set", "eth0", "up")
    sh("ip", "addr", "add", f"{MGMT[me]}/24", "dev", "eth0")
    d = labdockerd.start(ROOT, flags=(*labdockerd.DOCKERD_FLAGS, "--tls=false",
                                      f"--host=tcp://{MGMT[me]}:{DOCKER_PORT}"))
    labdockerd.import_image(d, IMAGE)
    log(me, f"dockerd up in {d.started_in:.1f} s, image imported")
    return d


# ------------------------------------------------------------------ B
def serve_b() -> int:
    d = bring_up("b")
    import ipvlan_tui.cli  # noqa: F401 - imported once, before A asks for anything
    done = threading.Event()
    server = SimpleXMLRPCServer((MGMT["b"], RPC_PORT), logRequests=False, allow_none=True)

    def run(argv: list[str]) -> list:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        log("b", f"ran {' '.join(argv)} -> {res.returncode}")
        return [res.returncode, res.stdout, res.stderr]

    def stop() -> bool:
        done.set()
        return True

    def run_cli(args: list[str]) -> list:
        res = cli(*args, check=False)
        log("b", f"ran ipvlan-tui {' '.join(args)} -> {res.returncode}")
        return [res.returncode, res.stdout, res.stderr]

    server.register_function(run, "run")
    server.register_function(stop, "stop")
    server.register_function(run_cli, "cli")
    server.register_function(lambda: True, "ping")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    log("b", f"serving on {MGMT['b']}:{RPC_PORT}")
    stopped = done.wait(SERVE_SECONDS)
    server.shutdown()
    d.clean()
    d.stop()
    log("b", "stopped by A" if stopped else "A never said stop")
    return 0 if stopped else 1


# ------------------------------------------------------------------ A
class B:
    """B, seen from A: its Docker API over the wire, and commands through the control channel."""

    url = f"tcp://{MGMT['b']}:{DOCKER_PORT}"

    def __init__(self) -> None:
        self.rpc = xmlrpc.client.ServerProxy(f"http://{MGMT['b']}:{RPC_PORT}", allow_none=True)
        self.docker = labdockerd.Dockerd(None, self.url, Path("/dev/null"))  # type: ignore[arg-type]

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.rpc.ping()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def sh(self, *argv: str, check: bool = True) -> tuple[int, str, str]:
        code, out, err = self.rpc.run(list(argv))
        if check and code != 0:
            raise AssertionError(f"on B: {' '.join(argv)} -> {code}\n{out}\n{err}")
        return code, out, err

    def cli(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        """The CLI on B (in B's control process, its own store)."""
        code, out, err = self.rpc.cli(list(args))
        if check and code != 0:
            raise AssertionError(f"on B: ipvlan-tui {' '.join(args)} -> {code}\n{out}\n{err}")
        return code, out, err


def both(fa, fb) -> tuple:
    """Run A's step and B's step at once (each VM has its own CPUs); re-raise the first failure."""
    out: dict[int, object] = {}

    def call(i: int, f) -> None:
        try:
            out[i] = f()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i, f)) for i, f in enumerate((fa, fb))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in (0, 1):
        if isinstance(out[i], BaseException):
            raise out[i]  # type: ignore[misc]
    return out[0], out[1]


def route_lines(text: str) -> list[list[str]]:
    """The `ip route add ...` lines of `ipvlan-tui routes --format ip`, as argv lists."""
    return [line.split() for line in text.splitlines() if line.startswith("ip route add ")]


def drive_a() -> int:
    b = B()
    a = None
    try:
        a = bring_up("a")
        import ipvlan_tui.cli  # noqa: F401
        b.wait(600)
        log("a", "B answers on the control channel")
        hosts = f"{a.base_url},{b.url}"

        # ---- one command: VLAN 20 on both hosts, disjoint slices
        res = cli("network", "create", "--hosts", hosts, "--subnet", "192.168.20.0/24",
                  "--gateway", "192.168.20.1", "-o", "parent=eth0.20", "vlan20", fresh=True)
        log("a", "network create --hosts:\n" + res.stdout)
        for url, rng in ((a.base_url, "192.168.20.0/25"), (b.url, "192.168.20.128/25")):
            assert any(line.startswith(url + "\t") and line.endswith(f"{rng} (128 addresses)")
                       for line in res.stdout.splitlines()), res.stdout
        assert Path("/sys/class/net/eth0.20").exists(), "Docker on A made no eth0.20"
        assert b.sh("ip", "link", "show", "eth0.20", check=False)[0] == 0, "Docker on B made no eth0.20"

        both(lambda: cli("--engine", "docker", "--host", a.base_url, "run", "--net", "vlan20", "--name", "ca",
                         IMAGE, "sleep", "3600"),
             lambda: cli("--engine", "docker", "--host", b.url, "run", "--net", "vlan20", "--name", "cb",
                         IMAGE, "sleep", "3600"))
        ips = {}
        for who, d in (("ca", a), ("cb", b.docker)):
            c = d.client()
            try:
                ips[who] = c.api.inspect_container(who)["NetworkSettings"]["Networks"]["vlan20"]["IPAddress"]
            finally:
                c.close()
        log("a", f"ca (on A) {ips['ca']}, cb (on B) {ips['cb']}")
        # Both daemons in one listing, every row naming its host.
        two = ["--host", a.base_url, "--host", b.url]
        listed = json.loads(cli(*two, "network", "ls", "--json").stdout)
        assert sorted((n["Name"], n["Host"]) for n in listed if n["Name"] == "vlan20") == \
            sorted([("vlan20", a.base_url), ("vlan20", b.url)]), listed
        ps = cli(*two, "ps").stdout
        log("a", "ipvlan-tui --host A --host B ps:\n" + ps)
        rows = {(e["Name"], e["Host"]) for e in json.loads(cli(*two, "ps", "--json").stdout)}
        assert {("ca", a.base_url), ("cb", b.url)} <= rows, rows
        assert int(ips["ca"].rsplit(".", 1)[1]) < 128 <= int(ips["cb"].rsplit(".", 1)[1]), ips

        tx = counter("eth0.20", "tx_packets")
        rx_b = int(b.sh("cat", "/sys/class/net/eth0.20/statistics/rx_packets")[1])
        t = time.monotonic()
        assert a.ping("ca", ips["cb"], count=3), "ca (A) cannot reach cb (B) over VLAN 20"
        assert b.docker.ping("cb", ips["ca"], count=3), "cb (B) cannot reach ca (A) over VLAN 20"
        assert counter("eth0.20", "tx_packets") - tx >= 3, "A's pings did not leave through eth0.20"
        assert int(b.sh("cat", "/sys/class/net/eth0.20/statistics/rx_packets")[1]) - rx_b >= 3, \
            "B's eth0.20 received nothing: the frames did not come tagged with VLAN 20"
        log("a", f"VLAN 20 across the trunk: ca <-> cb both ways ({time.monotonic() - t:.1f} s)")

        # ---- L3 on each host (VLAN 30), routes printed by one host applied on the other
        # Each host's own steps, run on that host, both at once. The host's address on
        # the parent (the routes' next hop) is the operator's part.
        def l3_on_a() -> None:
            cli("--engine", "docker", "--host", a.base_url, "network", "create", "--subnet", "10.31.0.0/24",
                "-o", "parent=eth0.30", "-o", "ipvlan_mode=l3", "l3a")
            sh("ip", "addr", "add", "10.30.0.1/24", "dev", "eth0.30")
            cli("--engine", "docker", "--host", a.base_url, "run", "--net", "l3a", "--ip", "10.31.0.10",
                "--name", "ra", IMAGE, "sleep", "3600")

        def l3_on_b() -> None:
            b.cli("--engine", "docker", "--host", b.url, "network", "create", "--subnet", "10.32.0.0/24",
                  "-o", "parent=eth0.30", "-o", "ipvlan_mode=l3", "l3b")
            b.sh("ip", "addr", "add", "10.30.0.2/24", "dev", "eth0.30")
            b.cli("--engine", "docker", "--host", b.url, "run", "--net", "l3b", "--ip", "10.32.0.10",
                  "--name", "rb", IMAGE, "sleep", "3600")

        both(l3_on_a, l3_on_b)
        assert "default dev eth0" in a.exec("ra", "ip", "route").stdout
        assert not a.ping("ra", "10.32.0.10"), "ra reached rb before any route was applied"

        # B names its own daemon by its management address: still this machine for `routes`.
        printed_a, printed_b = both(
            lambda: cli("--engine", "docker", "--host", a.base_url, "routes", "--format", "ip", "l3a").stdout,
            lambda: b.cli("--engine", "docker", "--host", b.url, "routes", "--format", "ip", "l3b")[1])
        log("a", "routes printed on A:\n" + printed_a + "\nroutes printed on B:\n" + printed_b)
        assert route_lines(printed_a) == [["ip", "route", "add", "10.31.0.0/24", "via", "10.30.0.1"]], printed_a
        assert route_lines(printed_b) == [["ip", "route", "add", "10.32.0.0/24", "via", "10.30.0.2"]], printed_b
        for argv in route_lines(printed_a):
            b.sh(*argv)
        for argv in route_lines(printed_b):
            sh(*argv)
        t = time.monotonic()
        assert a.ping("ra", "10.32.0.10", count=3), "ra (A, l3a) cannot reach rb (B, l3b) with the printed routes"
        assert b.docker.ping("rb", "10.31.0.10", count=3), "rb (B) cannot reach ra (A) with the printed routes"
        log("a", f"L3 across hosts with the printed routes: ra <-> rb both ways ({time.monotonic() - t:.1f} s)")

        # ---- tear down through the CLI: containers, then vlan20 on both hosts with one command
        both(lambda: cli("--engine", "docker", "--host", a.base_url, "rm", "ca"),
             lambda: cli("--engine", "docker", "--host", b.url, "rm", "cb"))
        res = cli("network", "rm", "--hosts", hosts, "vlan20")
        log("a", "network rm --hosts:\n" + res.stdout)
        assert not Path("/sys/class/net/eth0.20").exists(), "eth0.20 left behind on A"
        assert b.sh("ip", "link", "show", "eth0.20", check=False)[0] != 0, "eth0.20 left behind on B"
        log("a", f"TWO-HOST OK in {time.monotonic() - T0:.1f} s")
        return 0
    except Exception:  # noqa: BLE001 - reported, and B must still be stopped
        traceback.print_exc()
        if a is not None:
            print("--- dockerd log on A (tail):\n" + labdockerd._tail(a.log), file=sys.stderr)
        return 1
    finally:
        try:
            b.rpc.stop()
        except Exception as exc:  # noqa: BLE001
            log("a", f"could not tell B to stop: {exc}")
        if a is not None:
            a.clean()
            a.stop()


def main(argv: list[str]) -> int:
    if os.environ.get("IPVLAN_TUI_IN_LAB") != "1":
        print("two_hosts_guest runs inside a lab VM only (it starts dockerd and changes eth0)", file=sys.stderr)
        return 2
    role = argv[1] if len(argv) > 1 else ""
    if role == "a":
        return drive_a()
    if role == "b":
        return serve_b()
    print("usage: python -m tests.lab.two_hosts_guest a|b", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
