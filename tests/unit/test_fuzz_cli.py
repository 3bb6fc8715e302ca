"""Fuzzing every headless command with hostile input (hypothesis).

On the in-memory kernel: whatever the arguments, the CLI exits 0, 1 or 2
with a message and no traceback, a refusal (exit 2) changes nothing, and
whatever it accepts it can take back. test_cli_hostile.py fuzzes `network
create`; this file covers run, rm, network rm, inspect and mixed argv.
Scale the counts with IPVLAN_TUI_FUZZ_SCALE (tests/fuzz.py).
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tests.fuzz import examples

from ipvlan_tui.cli import main as cli_main
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.model import NetworkRequest
from ipvlan_tui.store import Store

HOSTILE = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=24),
    st.sampled_from(["", " ", "-", "--", "a b", "x;rm -rf /", "$(reboot)", "`id`", "../../etc",
                     "a/b", "ünï", "a" * 15, "a" * 16, "a" * 64, "a" * 65, "eth0", "lo", "keep",
                     "l2", "-rf", "\n", "\x00", "名前", "it's", '"q"', "*", "~root"]),
)
ADDRESS = st.one_of(HOSTILE, st.sampled_from([
    "192.168.1.7", "192.168.1.1", "192.168.1.0", "192.168.1.255", "192.168.1.300", "10.0.0.1",
    "fe80::1", "2001:db8::1", "::", "0.0.0.0", "192.168.1.7/24", "1e3", "-1", "4095"]))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


@pytest.fixture
def cli(tmp_path, monkeypatch):
    kernel = FakeKernel.demo()
    state = tmp_path / "state"
    ctl = Controller(kernel, Store(state), hosts_root=tmp_path / "etc", root=True)
    ctl.create_network(NetworkRequest("l2", subnets=("192.168.1.0/24",), options=("parent=eth0",)))

    def fake_open(state_dir=None, **_options):
        return Controller(kernel, Store(state), hosts_root=tmp_path / "etc", root=True)

    monkeypatch.setattr("ipvlan_tui.controller.open_controller", fake_open)

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        rc = cli_main(list(args), out, err)
        return rc, out.getvalue(), err.getvalue()

    def world():
        inv = kernel.inventory()
        s = Store(state)
        try:
            return (sorted((l.netns, l.name) for l in inv.links), inv.namespaces,
                    [(n.name, st_) for n, st_ in s.networks()],
                    [(e.name, e.ipv4, e.ipv6, st_) for e, st_ in s.endpoints()])
        finally:
            s.close()

    run.world = world
    return run


def clean(rc: int, err: str) -> None:
    assert rc in (0, 1, 2), rc
    assert "Traceback" not in err
    if rc:
        assert err.strip()


@settings(max_examples=examples(200), **SETTINGS)
@given(name=HOSTILE, net=st.one_of(st.just("l2"), HOSTILE), ip=st.one_of(st.none(), ADDRESS),
       ip6=st.one_of(st.none(), ADDRESS))
def test_fuzzed_run_then_rm(cli, name, net, ip, ip6):
    before = cli.world()
    args = ["run", f"--net={net}", f"--name={name}"]
    args += [f"--ip={ip}"] if ip is not None else []
    args += [f"--ip6={ip6}"] if ip6 is not None else []
    rc, out, err = cli(*args)
    clean(rc, err)
    if "--" in (name, net, ip, ip6):  # argparse would drop it: refused before parsing
        assert rc == 2 and '"--" is not a value' in err, (args, err)
    if rc != 0:
        assert rc == 2, (args, err)  # bad input, never a half-done failure
        assert cli.world() == before
        return
    # Accepted: one namespace named exactly so (an empty --name gets one made up, as
    # docker does); rm takes it all back.
    made = set(cli.world()[1]) - set(before[1])
    assert made == {name} or (name == "" and len(made) == 1), (name, made)
    rc, out, err = cli("rm", "--", made.pop())
    assert rc == 0, err
    assert cli.world() == before


@settings(max_examples=examples(150), **SETTINGS)
@given(names=st.lists(HOSTILE, min_size=1, max_size=3), force=st.booleans(),
       which=st.sampled_from([["rm"], ["network", "rm"], ["network", "inspect"]]))
def test_fuzzed_removals_never_touch_what_they_do_not_name(cli, names, force, which):
    before = cli.world()
    names = [n for n in names if n not in ("l2",)]  # the one real network stays
    if not names:
        return
    args = [*which, *(["--force"] if force and which == ["network", "rm"] else []), "--", *names]
    rc, out, err = cli(*args)
    clean(rc, err)
    assert rc in (0, 2)
    assert cli.world() == before  # nothing of that name exists, so nothing goes


ARGV = st.lists(st.one_of(
    HOSTILE, st.sampled_from(["--subnet=10.0.0.0/24", "--gateway=10.0.0.1", "-o", "parent=eth0.20",
                              "ipvlan_mode=l3", "--internal", "--ipv6", "--ip", "--ip6", "--net",
                              "--name", "--force", "--json", "-d", "ipvlan", "--dry-run", "--",
                              "-h", "--bogus", "=", "--net=l2"])), max_size=8)


@settings(max_examples=examples(250), **SETTINGS)
@given(cmd=st.sampled_from([["network", "create", "--dry-run"], ["network", "rm", "--dry-run"],
                            ["network", "ls"], ["network", "inspect"], ["run", "--dry-run"],
                            ["rm", "--dry-run"], ["ps"], ["links"], ["restore", "--dry-run"],
                            ["network"]]),
       argv=ARGV)
def test_fuzzed_argv_for_every_command(cli, cmd, argv):
    before = cli.world()
    rc, out, err = cli(*cmd, *argv)
    clean(rc, err)
    assert cli.world() == before  # dry runs and reads change nothing
