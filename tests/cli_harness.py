"""The CLI in-process on the in-memory demo kernel, for unit tests."""

from __future__ import annotations

import io

from ipvlan_tui import cli
from ipvlan_tui.controller import Controller
from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.store import Store


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`ipvlan-tui ARGV...` -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    rc = cli.main(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def demo_controller(tmp_path, monkeypatch) -> Controller:
    """A root Controller on FakeKernel.demo() with its own store; every CLI command uses it."""
    c = Controller(FakeKernel.demo(), Store(tmp_path / "state"), hosts_root=tmp_path / "etc",
                   root=True)
    monkeypatch.setattr(cli, "_ctl", lambda args: c)
    return c
