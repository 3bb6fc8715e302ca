"""pytest plugin: run `kernel`- and `docker`-marked tests in the lab VM when needed.

Load it from tests/conftest.py with `pytest_plugins = ["ipvlan_tui.lab.pytest_plugin"]`.

- Inside the lab (IPVLAN_TUI_IN_LAB=1), or when the host kernel can make
  dummy/802.1q/ipvlan links: marked tests run directly, as usual.
- Otherwise the outer pytest boots the lab ONCE for all selected marked tests
  (2048 MB when any `docker` test is among them, else 1024 MB), runs
  `python -m pytest <node ids> --junitxml=<share>/junit.xml` inside, and
  replays every inner report (pass, failure with its traceback, skip, xfail)
  into this session. Failures also carry the tail of the inner output.
- If the lab cannot boot, those tests FAIL with the reason.
- IPVLAN_TUI_LAB=off: opt out locally; the tests are reported as SKIPPED with
  a loud reason. Never set it in CI. IPVLAN_TUI_LAB=force: use the lab even
  when the host kernel has the drivers.
- IPVLAN_TUI_LAB_TIMEOUT (seconds, default 3600) bounds boot + inner run;
  IPVLAN_TUI_LAB_VERBOSE=1 (or -vv, or -s) streams the inner output live.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from _pytest.reports import TestReport

from ipvlan_tui.lab import vm
from ipvlan_tui.lab.errors import LabError

REPORT_ENV = "IPVLAN_TUI_LAB_REPORT"
MARKERS = ("kernel", "docker")
TAIL_LINES = 40
OFF_REASON = ("KERNEL LAB DISABLED (IPVLAN_TUI_LAB=off): this test needs ipvlan/8021q/dummy "
              "(or dockerd) and the host kernel lacks them; it did NOT run. Unset IPVLAN_TUI_LAB "
              "to run it in the lab VM (CI must never set it).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kernel: needs a kernel with ipvlan, 8021q and dummy")
    config.addinivalue_line("markers", "docker: needs a real dockerd (runs inside the lab VM)")
    if not config.pluginmanager.has_plugin("ipvlan-tui-lab"):
        config.pluginmanager.register(LabPlugin(config), "ipvlan-tui-lab")


def _marked(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) for m in MARKERS)


class _Tee(io.RawIOBase):
    """Keeps everything written (for the failure tail), optionally echoes it live."""

    def __init__(self, live: Any | None) -> None:
        self.buf = bytearray()
        self.live = live

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buf += data
        if self.live is not None:
            self.live.write(bytes(data))
            self.live.flush()
        return len(data)


class LabPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.lab_items: list[pytest.Item] = []
        self.lab_ids: set[str] = set()
        self.results: dict[str, list[Any]] | None = None
        self.failure: str | None = None
        self.tail = ""
        self.summary: list[str] = []
        self.skipped_off = 0
        self.report_file = None
        path = os.environ.get(REPORT_ENV)
        if vm.in_lab() and path:
            self.report_file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    # ------------------------------------------------------------ inside the lab
    def _record(self, report: Any) -> None:
        if self.report_file is None:
            return
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        if data is None:
            return
        self.report_file.write(json.dumps(data, default=str) + "\n")
        self.report_file.flush()
        os.fsync(self.report_file.fileno())

    def pytest_runtest_logreport(self, report: Any) -> None:
        self._record(report)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self._record(report)

    def pytest_unconfigure(self) -> None:
        if self.report_file is not None:
            self.report_file.close()

    # ------------------------------------------------------------ outside
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        marked = [it for it in items if _marked(it)]
        if not marked or vm.in_lab():
            return
        mode = os.environ.get("IPVLAN_TUI_LAB", "auto").strip().lower()
        if mode == "off":
            for it in marked:
                it.add_marker(pytest.mark.skip(reason=OFF_REASON))
            self.skipped_off = len(marked)
            return
        if mode != "force" and vm.host_has_ipvlan():
            return
        self.lab_items = marked
        self.lab_ids = {it.nodeid for it in marked}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if item.nodeid not in self.lab_ids:
            return None
        if self.results is None:
            self._run_lab()
        self._replay(item)
        # What the last host-run item left set up (collectors shared with this
        # one) must be torn down as runtestprotocol would, or the next host-run
        # item finds a stale stack ("previous item was not torn down properly").
        item.session._setupstate.teardown_exact(nextitem)
        return True

    def _write(self, text: str) -> None:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.ensure_newline()
            tr.write_line(text, yellow=True, bold=True)
        else:
            print(text, file=sys.stderr)

    def _run_lab(self) -> None:
        self.results = {}
        docker = any(it.get_closest_marker("docker") for it in self.lab_items)
        memory = vm.DOCKER_MEMORY_MB if docker else vm.DEFAULT_MEMORY_MB
        timeout = float(os.environ.get("IPVLAN_TUI_LAB_TIMEOUT", "3600"))
        rootdir = str(self.config.rootpath)
        share = Path(tempfile.mkdtemp(prefix="ipvlan-tui-lab-pytest-"))
        reports = share / "reports.jsonl"
        junit = share / "junit.xml"
        argv = [sys.executable, "-m", "pytest", "-p", "ipvlan_tui.lab.pytest_plugin",
                "-p", "no:cacheprovider", f"--rootdir={rootdir}", f"--junitxml={junit}",
                "-o", "junit_logging=all", "-rfEsxX"]
        if self.config.inipath:
            argv += ["-c", str(self.config.inipath)]
        tb = getattr(self.config.option, "tbstyle", "auto")
        if tb and tb != "auto":
            argv.append(f"--tb={tb}")
        if getattr(self.config.option, "runxfail", False):
            argv.append("--runxfail")
        verbose = self.config.getoption("verbose", 0) or 0
        if verbose > 0:
            argv.append("-" + "v" * min(verbose, 3))
        argv += [it.nodeid for it in self.lab_items]
        live = (os.environ.get("IPVLAN_TUI_LAB_VERBOSE") == "1" or verbose >= 2
                or getattr(self.config.option, "capture", "") == "no")
        tee = _Tee(sys.__stdout__.buffer if live and sys.__stdout__ else None)
        self._write(f"kernel lab: booting the VM once for {len(self.lab_items)} kernel/docker test(s) "
                    f"({memory} MB, timeout {timeout:g} s) ...")
        t0 = time.monotonic()
        rc: int | None = None
        try:
            rc = vm.run_in_lab(argv, memory_mb=memory, timeout=timeout, cwd=rootdir,
                               env={REPORT_ENV: str(reports)}, stdout=tee, stderr=tee,  # type: ignore[arg-type]
                               share_dir=share)
        except LabError as exc:
            self.failure = "the kernel lab could not run this test: " + exc.full_text()
        except Exception as exc:  # noqa: BLE001 - any failure must fail the tests, not skip them
            self.failure = f"the kernel lab could not run this test: {type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - t0
        self.tail = "\n".join(tee.buf.decode(errors="replace").splitlines()[-TAIL_LINES:])
        try:
            self._load_reports(reports, junit)
        finally:
            shutil.rmtree(share, ignore_errors=True)
        ran = sum(1 for v in self.results.values() if v)
        self.summary.append(f"kernel lab: {ran}/{len(self.lab_items)} marked test(s) ran inside the "
                            f"VM in {elapsed:.1f} s (inner pytest exit code {rc})")
        if self.failure:
            self.summary.append("kernel lab FAILED: " + self.failure.splitlines()[0])
        self._write(f"kernel lab: done in {elapsed:.1f} s, replaying results")

    def _load_reports(self, reports: Path, junit: Path) -> None:
        assert self.results is not None
        collect_errors: list[str] = []
        if reports.exists():
            for line in reports.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    rep = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
                except Exception:  # noqa: BLE001 - a half-written last line after a crash
                    continue
                if isinstance(rep, TestReport):
                    if isinstance(rep.longrepr, list):  # a skip's (path, line, reason) after JSON
                        rep.longrepr = tuple(rep.longrepr)
                    self.results.setdefault(rep.nodeid, []).append(rep)
                elif rep is not None and rep.failed:
                    collect_errors.append(f"collecting {rep.nodeid} inside the lab failed:\n"
                                          f"{rep.longreprtext}")
        elif junit.exists():
            self._load_junit(junit)
        if collect_errors:
            msg = "\n".join(collect_errors)
            self.failure = f"{self.failure}\n{msg}" if self.failure else msg

    def _load_junit(self, junit: Path) -> None:
        """Fallback when the per-report file is missing: outcomes from the JUnit XML."""
        assert self.results is not None
        by_case: dict[tuple[str, str], pytest.Item] = {}
        for it in self.lab_items:
            parts = it.nodeid.split("::")
            mod = parts[0][:-3].replace("/", ".") if parts[0].endswith(".py") else parts[0]
            cls = ".".join([mod, *parts[1:-1]])
            by_case[(cls, parts[-1])] = it
        try:
            tree = ET.parse(junit)
        except ET.ParseError:
            return
        for case in tree.iter("testcase"):
            it = by_case.get((case.get("classname", ""), case.get("name", "")))
            if it is None:
                continue
            outcome, longrepr, when = "passed", None, "call"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed"
                    longrepr = (child.get("message", "") + "\n" + (child.text or "")).strip()
                    when = "setup" if child.tag == "error" else "call"
                elif child.tag == "skipped":
                    outcome = "skipped"
                    longrepr = (str(it.path), (it.location[1] or 0) + 1, child.get("message", "skipped"))
                    when = "setup"
            dur = float(case.get("time", "0") or 0)
            self.results[it.nodeid] = self._synth(it, outcome, longrepr, when, dur)

    @staticmethod
    def _synth(item: pytest.Item, outcome: str, longrepr: Any, when: str, duration: float = 0.0) -> list[Any]:
        kw = {k: 1 for k in item.keywords}
        reps = []
        if when != "setup":
            reps.append(TestReport(item.nodeid, item.location, kw, "passed", None, "setup"))
        reps.append(TestReport(item.nodeid, item.location, kw, outcome, longrepr, when, duration=duration))
        reps.append(TestReport(item.nodeid, item.location, kw, "passed", None, "teardown"))
        return reps

    def _replay(self, item: pytest.Item) -> None:
        assert self.results is not None
        reps = self.results.get(item.nodeid)
        if not reps:
            why = self.failure or "the test did not report a result from inside the kernel lab"
            text = f"{why}\n(not run inside the lab VM: {item.nodeid})"
            reps = self._synth(item, "failed", text, "call")
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for rep in reps:
            if rep.failed and self.tail:
                rep.sections.append(("inner lab output (tail)", self.tail))
            ihook.pytest_runtest_logreport(report=rep)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.summary:
            terminalreporter.write_line(line, red="FAILED" in line, bold=True)
        if self.skipped_off:
            terminalreporter.write_sep("!", f"{self.skipped_off} kernel/docker test(s) SKIPPED: "
                                       "IPVLAN_TUI_LAB=off", red=True, bold=True)
