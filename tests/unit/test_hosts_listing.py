"""Several Docker daemons at once: `--host A --host B network ls|inspect`, `ps` list every
daemon, each row labelled with its host; an unreachable one is named and the others still
list; commands that change one daemon refuse two --host values before anything is opened.

Without a daemon: the engines here are stand-ins (engines_for is replaced);
tests/docker/test_hosts_docker.py proves the same against two real dockerds in the lab.
"""

from __future__ import annotations

import json
import threading

import pytest

from ipvlan_tui import cli, controller, hostlisting
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines import docker as dk
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import ENGINE_DOCKER, Endpoint, Network, NetworkRequest, NetworkSpec, ParentPlan, Subnet
from ipvlan_tui.store import Store
from tests.cli_harness import run_cli

A, B = "unix:///run/a.sock", "ssh://root@b"


def _net(name, host, cidr, containers=(), net_id=None):
    spec = NetworkSpec(name=name, mode="l2", flag="bridge", parent=ParentPlan(kind="existing", name="eth0.20"),
                       subnets=(Subnet(cidr=cidr),), engine=ENGINE_DOCKER, host=host,
                       network_id=net_id or f"{name}-{host}".encode().hex().ljust(64, "0"))
    eps = tuple(Endpoint(name=c, network=name, engine=ENGINE_DOCKER, host=host, ipv4=ip, state="running")
                for c, ip in containers)
    return Network(spec=spec, endpoints=eps)


class FakeDaemon:
    """What a listing asks of a DockerEngine: host_label, networks(), close()."""

    def __init__(self, label, nets=(), down="", barrier=None):
        self.host_label, self.nets, self.down, self.barrier = label, list(nets), down, barrier
        self.closed = False

    def networks(self):
        if self.barrier is not None:
            self.barrier.wait()  # both daemons inside networks() at once, or BrokenBarrierError
        if self.down:
            raise dk.DockerUnreachable(self.down, hint="netns networks and endpoints keep working")
        return sorted((n for n in self.nets if n.spec.host == self.host_label), key=lambda n: n.spec.name)

    def close(self):
        self.closed = True


@pytest.fixture
def daemons(monkeypatch):
    """engines_for replaced: each --host value gets the FakeDaemon registered under it."""
    made: dict[str, FakeDaemon] = {}
    asked: list[list[str]] = []

    def engines_for(hosts):
        asked.append(list(hosts))
        return [made.setdefault(h, FakeDaemon(h)) for h in hosts]

    monkeypatch.setattr(dk, "engines_for", engines_for)
    made["asked"] = asked  # type: ignore[assignment]
    return made


@pytest.fixture
def local(tmp_path, monkeypatch):
    """This machine: a demo kernel with one netns network and endpoint of its own."""
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc", root=True)
    c.create_network(NetworkRequest(name="here", subnets=("10.50.0.0/24",), options=("parent=eth1",)))
    from ipvlan_tui.model import EndpointRequest
    c.run_endpoint(EndpointRequest(name="ns1", network="here"))
    monkeypatch.setattr(cli, "_local_ctl", lambda args: c)
    monkeypatch.setattr(cli, "_ctl", lambda args: pytest.fail("a multi-host listing used the one-daemon controller"))
    yield c
    c.store.close()


def _two(daemons, b_down=""):
    daemons[A] = FakeDaemon(A, [_net("vlan20", A, "192.168.20.0/24", [("ca", "192.168.20.2")]),
                                _net("onlya", A, "10.1.0.0/24")])
    daemons[B] = FakeDaemon(B, [_net("vlan20", B, "192.168.20.0/24", [("cb", "192.168.20.130")])], down=b_down)


def _rows(out):
    lines = out.strip().splitlines()
    head = lines[0].split()
    return [dict(zip(("ID", "NAME", "DRIVER", "ENGINE", "HOST"), ln.split()[:5])) for ln in lines[1:]], head


def test_network_ls_lists_every_daemon_each_row_with_its_host(daemons, local):
    _two(daemons)
    code, out, err = run_cli("--host", A, "--host", B, "network", "ls")
    assert code == 0 and err == "", err
    rows, head = _rows(out)
    assert "HOST" in head
    assert [(r["NAME"], r["HOST"]) for r in rows] == [("here", "local"), ("onlya", A), ("vlan20", A),
                                                      ("vlan20", B)]  # this machine, then each daemon
    assert daemons["asked"] == [[A, B]] and daemons[A].closed and daemons[B].closed


def test_network_ls_json_names_the_host_of_every_network(daemons, local):
    _two(daemons)
    code, out, err = run_cli("--host", A, "--host", B, "network", "ls", "--json")
    assert code == 0, err
    docs = json.loads(out)
    assert [(d["Name"], d["Engine"], d["Host"]) for d in docs] == [
        ("here", "netns", "local"), ("onlya", "docker", A), ("vlan20", "docker", A), ("vlan20", "docker", B)]
    (b20,) = [d for d in docs if d["Host"] == B]
    assert list(b20["Containers"]) == ["cb"]


def test_ps_lists_containers_of_every_daemon_with_their_host(daemons, local):
    _two(daemons)
    code, out, err = run_cli("--host", A, "--host", B, "ps", "--json")
    assert code == 0, err
    assert [(e["Name"], e["Host"], e["Network"]) for e in json.loads(out)] == [
        ("ns1", "local", "here"), ("ca", A, "vlan20"), ("cb", B, "vlan20")]
    code, out, err = run_cli("--host", A, "--host", B, "ps")
    table = {ln.split()[0]: ln.split()[2] for ln in out.strip().splitlines()[1:]}
    assert out.splitlines()[0].split()[:3] == ["NAME", "ENGINE", "HOST"]
    assert table == {"ns1": "local", "ca": A, "cb": B}


def test_inspect_shows_a_name_on_each_daemon_that_has_it(daemons, local):
    _two(daemons)
    code, out, err = run_cli("--host", A, "--host", B, "network", "inspect", "vlan20", "onlya")
    assert code == 0, err
    assert [(d["Name"], d["Host"]) for d in json.loads(out)] == [("vlan20", A), ("vlan20", B), ("onlya", A)]
    code, out, err = run_cli("--host", A, "--host", B, "network", "inspect", "vlan20", "nosuch")
    assert code == 2 and "network nosuch: no such network" in err
    assert [(d["Name"], d["Host"]) for d in json.loads(out)] == [("vlan20", A), ("vlan20", B)]


def test_hosts_flag_on_a_listing_is_the_same_as_repeating_host(daemons, local):
    _two(daemons)
    code, out, err = run_cli("network", "ls", "--hosts", f"{A},{B}", "--json")
    assert code == 0, err
    assert {d["Host"] for d in json.loads(out)} == {"local", A, B}
    code, out, err = run_cli("--host", A, "ps", "--hosts", B)
    assert code == 0 and daemons["asked"][-1] == [A, B]


def test_host_before_and_after_the_command_word_are_both_kept(daemons, local):
    """argparse alone forgets the first list (`--host A network ls --host B` listed only B)."""
    _two(daemons)
    code, out, err = run_cli("--host", A, "network", "ls", "--host", B, "--json")
    assert code == 0, err
    assert daemons["asked"] == [[A, B]]
    assert {d["Host"] for d in json.loads(out)} == {"local", A, B}


def test_an_unreachable_daemon_is_named_once_and_the_others_still_list(daemons, local):
    _two(daemons, b_down=f"Docker daemon unreachable at {B}: connection refused")
    code, out, err = run_cli("--host", A, "--host", B, "network", "ls")
    assert code == 0
    assert err.splitlines() == [f"error: --host {B}: not listed: Docker daemon unreachable at {B}: "
                                "connection refused (the other daemons are listed)"]
    rows, _ = _rows(out)
    assert [(r["NAME"], r["HOST"]) for r in rows] == [("here", "local"), ("onlya", A), ("vlan20", A)]
    code, out, err = run_cli("--host", A, "--host", B, "ps", "--json")
    assert code == 0 and len(err.splitlines()) == 1 and B in err
    assert {e["Host"] for e in json.loads(out)} == {"local", A}


def test_exit_code_1_only_when_no_daemon_could_be_listed(daemons, local):
    daemons[A] = FakeDaemon(A, down=f"Docker daemon unreachable: no socket at {A} (is dockerd running?)")
    daemons[B] = FakeDaemon(B, down=f"Docker daemon unreachable at {B}: timed out")
    code, out, err = run_cli("--host", A, "--host", B, "network", "ls", "--json")
    assert code == 1
    assert len(err.splitlines()) == 2 and all("(no daemon could be listed)" in ln for ln in err.splitlines())
    assert [d["Host"] for d in json.loads(out)] == ["local"]  # this machine's own networks still list


def test_daemons_are_asked_at_once_not_one_after_the_other(daemons, local):
    both = threading.Barrier(2, timeout=10)
    _two(daemons)
    daemons[A].barrier = daemons[B].barrier = both
    code, out, err = run_cli("--host", A, "--host", B, "network", "ls")
    assert code == 0, err


def test_one_host_still_goes_through_the_controller(monkeypatch, tmp_path):
    seen = []

    def open_controller(state_dir, *, demo=False, engine=None, hosts=()):
        seen.append(list(hosts))
        return Controller(FakeKernel.demo(), Store(tmp_path / "s"), hosts_root=tmp_path / "e", root=True)

    monkeypatch.setattr(controller, "open_controller", open_controller)
    monkeypatch.setattr(dk, "engines_for", lambda hosts: pytest.fail("one --host made the multi-host listing"))
    code, out, err = run_cli("--host", A, "network", "ls")
    assert code == 0 and seen == [[A]], err


# --------------------------------------------------------------------------- one daemon only
CHANGES = [
    ["run", "--net", "vlan20", "--name", "c1", "busybox"],
    ["rm", "c1"],
    ["exec", "c1", "true"],
    ["network", "connect", "vlan20", "c1"],
    ["network", "disconnect", "vlan20", "c1"],
    ["network", "create", "--subnet", "10.9.0.0/24", "n9"],
    ["network", "create", "--dry-run", "--subnet", "10.9.0.0/24", "n9"],
    ["network", "rm", "vlan20"],
    ["routes"],
    ["apply", "map.toml"],
]


@pytest.mark.parametrize("argv", CHANGES, ids=[" ".join(a[:2]) for a in CHANGES])
def test_a_one_daemon_command_with_two_hosts_is_refused_before_anything_opens(argv, monkeypatch):
    monkeypatch.setattr(controller, "open_controller",
                        lambda *a, **k: pytest.fail("opened a controller: the command would have run on --host A"))
    monkeypatch.setattr(dk, "engines_for", lambda hosts: pytest.fail("opened Docker engines"))
    code, out, err = run_cli("--host", A, "--host", B, *argv)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"error: --host {A} {B}: names 2 Docker daemons, but `")
    assert "works on one; nothing was changed; pick one --host" in line and "--hosts A,B" in line


def test_ping_with_two_hosts_is_refused_too(monkeypatch):
    monkeypatch.setattr(controller, "open_controller", lambda *a, **k: pytest.fail("opened a controller"))
    code, out, err = run_cli("--host", A, "ping", f"--host={B}", "c1", "10.0.0.1")
    assert code == 2 and "--host" in err and "ping` works on one; pick one --host" in err


def test_network_create_with_hosts_and_one_host_is_still_allowed(monkeypatch):
    """--hosts A,B is the way to change several daemons; one --host beside it is not refused."""
    called = []
    monkeypatch.setattr(cli, "_ctl", lambda args: called.append(args.host) or object())
    monkeypatch.setattr(cli.dockercli, "cmd_create_across", lambda ctl, req, hosts, args, out, err: 0)
    code, out, err = run_cli("--host", A, "network", "create", "--hosts", f"{A},{B}", "--subnet",
                             "10.9.0.0/24", "n9")
    assert code == 0 and called == [[A]], err


# --------------------------------------------------------------------------- contexts
def test_one_host_context_name_is_resolved_to_its_daemon_url(monkeypatch, tmp_path):
    monkeypatch.setattr(dk, "list_contexts", lambda: [dk.DockerContext("vm2", "ssh://root@vm2")])
    seen = []

    def open_controller(state_dir, *, demo=False, engine=None, hosts=()):
        seen.append(list(hosts))
        return Controller(FakeKernel.demo(), Store(tmp_path / "s"), hosts_root=tmp_path / "e", root=True)

    monkeypatch.setattr(controller, "open_controller", open_controller)
    code, out, err = run_cli("--host", "vm2", "ps")
    assert code == 0 and seen == [["ssh://root@vm2"]], err
    code, out, err = run_cli("--host", "vm3", "ps")
    assert code == 2 and "--host vm3: is neither a daemon URL nor a Docker context" in err and "vm2" in err


def test_contexts_are_read_with_the_installed_docker_sdk(monkeypatch, tmp_path):
    """The real ContextAPI (no stand-in): a context made in a private DOCKER_CONFIG resolves."""
    from docker.context import ContextAPI

    (tmp_path / "config.json").write_text("{}")  # without it the SDK keeps contexts under the cwd
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    ContextAPI.create_context("labb", host="unix:///run/b.sock")
    found = {c.name: c for c in dk.list_contexts()}
    assert found["default"].current and not found["labb"].current
    assert dk.resolve_host("labb").endswith("unix:///run/b.sock")  # the SDK says http+unix://
    (eng,) = dk.engines_for(["labb"])
    assert eng.host_label == "labb" and eng.base_url == found["labb"].host


# --------------------------------------------------------------------------- pieces
def test_listing_hosts_merges_and_refuses_repeats_and_blanks():
    assert hostlisting.listing_hosts([A], [f"{B},c"]) == [A, B, "c"]
    with pytest.raises(ValidationError) as ei:
        hostlisting.listing_hosts([A], [A])
    assert ei.value.field == "--host" and "more than once" in ei.value.problem and ei.value.fix
    with pytest.raises(ValidationError) as ei:
        hostlisting.listing_hosts([], [f"{A},,{B}"])
    assert ei.value.field == "--hosts" and ei.value.fix


def test_find_network_by_name_or_long_id_prefix():
    nets = [_net("a", A, "10.1.0.0/24", net_id="ab" * 32), _net("b", A, "10.2.0.0/24", net_id="cd" * 32)]
    assert hostlisting.find_network(nets, "b").spec.name == "b"
    assert hostlisting.find_network(nets, "cd" * 6).spec.name == "b"
    assert hostlisting.find_network(nets, "cdcd") is None  # short prefixes are names only


def test_local_ctl_leaves_the_default_daemon_out(monkeypatch):
    class Ctl:
        docker = object()

    monkeypatch.setattr(controller, "open_controller", lambda *a, **k: Ctl())
    args = cli.build_parser().parse_args(["--host", A, "--host", B, "ps"])
    assert cli._local_ctl(args).docker is None


def test_a_missing_socket_is_named_as_missing_not_as_a_dropped_connection(tmp_path):
    eng = dk.DockerEngine(f"unix://{tmp_path}/none.sock", timeout=2)
    assert eng.status() == f"Docker daemon unreachable: no socket at unix://{tmp_path}/none.sock (is dockerd running?)"


def test_a_created_never_started_container_is_listed_on_its_network():
    """Docker reports no NetworkID for a container that never ran (seen in the lab): the network's
    name in its NetworkSettings still places it, so `ps` across daemons shows it."""
    net = {"Name": "shared", "Id": "ab" * 32, "Driver": "ipvlan", "Options": {}, "Labels": {},
           "IPAM": {"Config": [{"Subnet": "10.61.0.0/24"}]}}

    class Api:
        def networks(self, filters=None):
            return [net]

        def containers(self, all=False):  # noqa: A002 - the SDK's name
            return [{"Id": "c1" * 32, "Names": ["/ca"], "State": "created", "NetworkSettings": {"Networks": {
                "shared": {"NetworkID": "", "IPAddress": "", "IPAMConfig": None}}}},
                    {"Id": "c2" * 32, "Names": ["/other"], "State": "created", "NetworkSettings": {"Networks": {
                        "bridge": {"NetworkID": "", "IPAddress": ""}}}}]

    eng = dk.DockerEngine("unix:///x", host_label=A)
    eng._client = type("C", (), {"api": Api(), "close": lambda self: None})()
    (listing,) = hostlisting.list_hosts([eng])
    assert [(e.name, e.network, e.host, e.state) for e in listing.endpoints] == [("ca", "shared", A, "created")]
