"""Hostile and bad input through the CLI: exit 2, one clear message, nothing changed.

Runs on the in-memory kernel (the validator is the same one the real
engines use); tests/kernel/test_driver_docs.py repeats the main cases on a
real kernel.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tests.fuzz import examples

from ipvlan_tui.cli import main as cli_main
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.store import Store


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """The CLI bound to one FakeKernel and one store for the whole test."""
    kernel = FakeKernel.demo()
    state = tmp_path / "state"

    def fake_open(state_dir=None, **_options):
        return Controller(kernel, Store(state), hosts_root=tmp_path / "etc", root=True)

    monkeypatch.setattr("ipvlan_tui.controller.open_controller", fake_open)

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        rc = cli_main(list(args), out, err)
        return rc, out.getvalue(), err.getvalue()

    run.kernel = kernel
    run.state = lambda: (sorted((l.netns, l.name) for l in kernel.inventory().links),
                         kernel.inventory().namespaces,
                         [s.name for s, _ in Store(state).networks()])
    return run


BAD_NETWORKS = [
    (["--subnet=10.1.100.0/16", "-o", "parent=eth0.30", "n"], "10.1.0.0/16"),
    (["--subnet=172.16.50.0/22", "n"], "172.16.48.0/22"),
    (["--subnet=0.0.0.0/0", "n"], "--subnet"),
    (["--subnet=fe80::/64", "n"], "link-local"),
    (["--subnet=10.0.0.0/24", "--subnet=10.0.0.128/25", "n"], "overlap"),
    (["--subnet=10.0.0.0/24", "--gateway=10.0.1.1", "n"], "--gateway"),
    (["--subnet=10.0.0.0/24", "--gateway=10.0.0.0", "n"], "--gateway"),
    (["--subnet=10.0.0.0/24", "--ip-range=10.0.1.0/25", "n"], "--ip-range"),
    (["--subnet=10.0.0.0/24", "--aux-address=router", "n"], "--aux-address"),
    (["--subnet=banana", "n"], "--subnet"),
    (["-o", "parent=lo", "n"], "lo"),
    (["-o", "parent=eth0.0", "n"], "4094"),
    (["-o", "parent=eth0.4095", "n"], "4094"),
    (["-o", "parent=eth0.-1", "n"], "parent"),
    (["-o", "parent=eth0.1e3", "n"], "parent"),
    (["-o", "parent=averyveryverylongname0", "n"], "15"),
    (["-o", "parent=nosuch0", "n"], "nosuch0"),
    (["-o", "ipvlan_mdoe=l3", "n"], "ipvlan_mode"),
    (["-o", "ipvlan_mode=l4", "n"], "l3s"),
    (["-o", "ipvlan_flag=loud", "n"], "vepa"),
    (["-o", "ipvlan_mode=l2", "-o", "ipvlan_mode=l3", "n"], "ipvlan_mode"),
    (["-d", "macvlan", "n"], "ipvlan"),
    (["bad name"], "name"),
    (["x;rm -rf /"], "name"),
    (["$(reboot)"], "name"),
    (["ünïcode"], "name"),
    ([""], "name"),
]


@pytest.mark.parametrize("args,needle", BAD_NETWORKS)
def test_bad_network_input(cli, args, needle):
    before = cli.state()
    rc, out, err = cli("network", "create", *args)
    assert rc == 2, (args, out, err)
    assert needle.lower() in err.lower(), err
    assert "Traceback" not in err
    assert cli.state() == before


def test_both_netops_mistakes_are_named(cli):
    rc, out, err = cli("network", "create", "--subnet=172.16.50.0/22", "--subnet=10.1.100.0/16",
                       "n")
    assert rc == 2 and "172.16.48.0/22" in err and "10.1.0.0/16" in err


BAD_RUNS = [
    (["--net=nosuch", "--name=a"], "nosuch"),
    (["--net=l2", "--ip=10.9.9.9", "--name=a"], "--ip"),
    (["--net=l2", "--ip=192.168.1.1", "--name=a"], "gateway"),
    (["--net=l2", "--ip=192.168.1.0", "--name=a"], "--ip"),
    (["--net=l2", "--ip=192.168.1.255", "--name=a"], "broadcast"),
    (["--net=l2", "--ip=192.168.1.5/24", "--name=a"], "--ip"),
    (["--net=l2", "--ip6=2001:db8::5", "--name=a"], "IPv6"),
    (["--net=l2", "--name=bad/name"], "--name"),
    (["--net=l2", "--name=" + "x" * 80], "--name"),
]


@pytest.mark.parametrize("args,needle", BAD_RUNS)
def test_bad_run_input(cli, args, needle):
    assert cli("network", "create", "--subnet=192.168.1.0/24", "-o", "parent=eth0", "l2")[0] == 0
    before = cli.state()
    rc, out, err = cli("run", *args)
    assert rc == 2, (args, out, err)
    assert needle.lower() in err.lower(), err
    assert "Traceback" not in err and cli.state() == before


def test_address_in_use_is_refused(cli):
    cli("network", "create", "--subnet=192.168.1.0/24", "-o", "parent=eth0", "l2")
    assert cli("run", "--net=l2", "--ip=192.168.1.9", "--name=a")[0] == 0
    rc, out, err = cli("run", "--net=l2", "--ip=192.168.1.9", "--name=b")
    assert rc == 2 and "in use" in err


@pytest.mark.parametrize("args", [["run", "--net=--", "--name=x"], ["run", "--net=l2", "--name=--"],
                                  ["run", "--net=l2", "--ip=--", "--name=x"],
                                  ["network", "create", "--subnet=--", "n"]])
def test_a_double_dash_value_is_refused_not_dropped(cli, args):
    """argparse turns `--net=--` into an empty list (a traceback, or a made-up name)."""
    before = cli.state()
    rc, out, err = cli(*args)
    assert rc == 2 and '"--" is not a value' in err and "Traceback" not in err, err
    assert cli.state() == before


def test_unknown_flag_and_missing_args(cli):
    for args in (["network", "create"], ["network", "create", "--bogus", "n"], ["run", "--name=x"],
                 ["network", "creat", "n"], ["frobnicate"]):
        rc, out, err = cli(*args)
        assert rc == 2, args
        assert "Traceback" not in err


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
cidrish = st.one_of(text, st.from_regex(r"[0-9a-f:.]{1,20}/[0-9]{1,3}", fullmatch=True))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=text, subnets=st.lists(cidrish, max_size=3), gateways=st.lists(cidrish, max_size=2),
       opts=st.lists(text, max_size=3), ranges=st.lists(cidrish, max_size=1),
       aux=st.lists(text, max_size=2), internal=st.booleans())
def test_fuzzed_network_create_never_crashes(cli, name, subnets, gateways, opts, ranges, aux,
                                             internal):
    args = ["network", "create", "--dry-run"]
    args += [f"--subnet={s}" for s in subnets] + [f"--gateway={g}" for g in gateways]
    args += [f"--ip-range={r}" for r in ranges] + [f"--aux-address={a}" for a in aux]
    for o in opts:
        args += ["-o", o]
    if internal:
        args.append("--internal")
    args += ["--", name]
    rc, out, err = cli(*args)
    assert rc in (0, 2), (args, rc, err)
    assert "Traceback" not in err
    if rc == 2:
        assert err.strip(), args


def test_global_options_before_a_sub_program(cli, tmp_path):
    # `--state-dir DIR ping ...`: the value of a global option is not the command.
    rc, out, err = cli("--state-dir", str(tmp_path), "ping", "nosuch", "peer")
    assert "unrecognized arguments" not in err
    assert rc == 2 and ("needs root" in err or "no such endpoint" in err), err
