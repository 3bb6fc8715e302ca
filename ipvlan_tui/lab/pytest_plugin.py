"""pytest plugin: run `kernel`- and `docker`-marked tests in the lab VM when needed.

Load it from tests/conftest.py with `pytest_plugins = ["ipvlan_tui.lab.pytest_plugin"]`.

- Inside the lab (IPVLAN_TUI_IN_LAB=1), or when the host kernel can make
  dummy/802.1q/ipvlan links: marked tests run directly, as usual.
- Otherwise the outer pytest boots lab VMs ONCE for all selected marked tests:
  IPVLAN_TUI_LAB_VMS of them at once (default 4; the `docker` tests in two
  of 2048 MB, kernel test modules dealt to the others, 1024 MB; see deal()), each runs
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
import threading
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
DEFAULT_TEST_SECONDS = 8.0  # lab time of a test whose module gives no LAB_SECONDS
DEFAULT_VMS = 4  # lab VMs at once (IPVLAN_TUI_LAB_VMS)
SLOWEST = 5  # the slowest tests of each VM, named in the summary (for balancing the VMs)
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

    _lock = threading.Lock()  # two VMs echo to one terminal: whole lines, never interleaved

    def __init__(self, live: Any | None, prefix: bytes = b"") -> None:
        self.buf = bytearray()
        self.live = live
        self.prefix = prefix
        self._pending = b""

    def flush_pending(self) -> None:
        if self.live is not None and self._pending:
            with self._lock:
                self.live.write(self.prefix + self._pending + b"\n")
                self.live.flush()
            self._pending = b""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buf += data
        if self.live is not None:
            if not self.prefix:
                self.live.write(bytes(data))
                self.live.flush()
                return len(data)
            *lines, self._pending = (self._pending + bytes(data)).split(b"\n")
            if lines:
                with self._lock:
                    self.live.write(b"".join(self.prefix + ln + b"\n" for ln in lines))
                    self.live.flush()
        return len(data)


def _lab_seconds(items: list[pytest.Item]) -> float:
    """A module's expected lab time: its LAB_SECONDS (a module-level estimate for the
    VM under TCG) when it sets one, else DEFAULT_TEST_SECONDS per test."""
    module = getattr(items[0], "module", None)
    hint = getattr(module, "LAB_SECONDS", None)
    if isinstance(hint, (int, float)) and hint > 0:
        return float(hint)
    return DEFAULT_TEST_SECONDS * len(items)


def _vm_count() -> int:
    try:
        return max(1, int(os.environ.get("IPVLAN_TUI_LAB_VMS", str(DEFAULT_VMS))))
    except ValueError:
        return DEFAULT_VMS


def _deal_modules(items: list[pytest.Item], bins: int) -> list[list[pytest.Item]]:
    """Whole modules into `bins` groups, the longest (LAB_SECONDS) first, each to the
    group with the least work so far."""
    by_module: dict[str, list[pytest.Item]] = {}
    for it in items:
        by_module.setdefault(it.nodeid.split("::")[0], []).append(it)
    weight = {mod: _lab_seconds(its) for mod, its in by_module.items()}
    out: list[list[pytest.Item]] = [[] for _ in range(max(1, min(bins, len(by_module))))]
    load = [0.0] * len(out)
    for mod in sorted(by_module, key=lambda m: (-weight[m], m)):
        i = load.index(min(load))
        out[i].extend(by_module[mod])
        load[i] += weight[mod]
    return out


def deal(items: list[pytest.Item], n: int) -> list[list[pytest.Item]]:
    """The marked tests split over `n` VMs run at once.

    Docker tests never share a VM with kernel tests (their session makes eth0 and
    runs dockerd); with 4 VMs or more they get two VMs of their own (each starts its
    dockerd once), else one. Kernel test modules go to the remaining VMs. Modules are
    dealt whole, by their LAB_SECONDS estimate, the longest first.
    """
    if n == 1:
        return [list(items)]
    docker = [it for it in items if it.get_closest_marker("docker")]
    kernel = [it for it in items if not it.get_closest_marker("docker")]
    if not kernel:
        docker_vms = n
    else:
        docker_vms = 0 if not docker else (2 if n >= 4 else 1)
    groups = _deal_modules(docker, docker_vms) if docker else []
    if kernel:
        groups.extend(_deal_modules(kernel, n - docker_vms))
    order = {it.nodeid: i for i, it in enumerate(items)}
    return [sorted(g, key=lambda it: order[it.nodeid]) for g in groups if g]


class _LabRun:
    """One lab VM running one group of the marked tests (in a thread of its own)."""

    def __init__(self, plugin: "LabPlugin", index: int, items: list[pytest.Item], of: int) -> None:
        self.plugin, self.index, self.items = plugin, index, items
        docker = any(it.get_closest_marker("docker") for it in items)
        self.memory = vm.DOCKER_MEMORY_MB if docker else vm.DEFAULT_MEMORY_MB
        self.share = Path(tempfile.mkdtemp(prefix="ipvlan-tui-lab-pytest-"))
        self.reports = self.share / "reports.jsonl"
        self.junit = self.share / "junit.xml"
        self.rc: int | None = None
        self.failure: str | None = None
        self.tail = ""
        self.elapsed = 0.0
        self.prefix = f"[vm{index + 1}] ".encode() if of > 1 else b""

    def argv(self) -> list[str]:
        config = self.plugin.config
        argv = [sys.executable, "-m", "pytest", "-p", "ipvlan_tui.lab.pytest_plugin",
                "-p", "no:cacheprovider", f"--rootdir={config.rootpath}",
                f"--junitxml={self.junit}", "-o", "junit_logging=all", "-rfEsxX"]
        if config.inipath:
            argv += ["-c", str(config.inipath)]
        tb = getattr(config.option, "tbstyle", "auto")
        if tb and tb != "auto":
            argv.append(f"--tb={tb}")
        if getattr(config.option, "runxfail", False):
            argv.append("--runxfail")
        verbose = config.getoption("verbose", 0) or 0
        if verbose > 0:
            argv.append("-" + "v" * min(verbose, 3))
        return argv + [it.nodeid for it in self.items]

    def run(self) -> None:
        config = self.plugin.config
        verbose = config.getoption("verbose", 0) or 0
        timeout = float(os.environ.get("IPVLAN_TUI_LAB_TIMEOUT", "3600"))
        live = (os.environ.get("IPVLAN_TUI_LAB_VERBOSE") == "1" or verbose >= 2
                or getattr(config.option, "capture", "") == "no")
        tee = _Tee(sys.__stdout__.buffer if live and sys.__stdout__ else None, self.prefix)
        t0 = time.monotonic()
        try:
            self.rc = vm.run_in_lab(self.argv(), memory_mb=self.memory, timeout=timeout,
                                    cwd=str(config.rootpath), env={REPORT_ENV: str(self.reports)},
                                    stdout=tee, stderr=tee,  # type: ignore[arg-type]
                                    share_dir=self.share)
        except LabError as exc:
            self.failure = "the kernel lab could not run this test: " + exc.full_text()
        except Exception as exc:  # noqa: BLE001 - any failure must fail the tests, not skip them
            self.failure = f"the kernel lab could not run this test: {type(exc).__name__}: {exc}"
        tee.flush_pending()
        self.elapsed = time.monotonic() - t0
        self.tail = "\n".join(tee.buf.decode(errors="replace").splitlines()[-TAIL_LINES:])


class LabPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.lab_items: list[pytest.Item] = []
        self.lab_ids: set[str] = set()
        self.results: dict[str, list[Any]] | None = None
        self.failures: dict[str, str] = {}  # node id -> why its VM could not run it
        self.tails: dict[str, str] = {}  # node id -> the tail of its VM's output
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

    def _groups(self) -> list[list[pytest.Item]]:
        return deal(self.lab_items, _vm_count())

    def _run_lab(self) -> None:
        self.results = {}
        groups = self._groups()
        runs = [_LabRun(self, i, g, len(groups)) for i, g in enumerate(groups)]
        sizes = " + ".join(str(len(g)) for g in groups)
        self._write(f"kernel lab: booting {len(runs)} VM(s) at once for {len(self.lab_items)} "
                    f"kernel/docker test(s) ({sizes}) ...")
        t0 = time.monotonic()
        threads = [threading.Thread(target=r.run, name=f"lab-vm-{r.index}", daemon=True)
                   for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in runs:
            try:
                self._load_reports(r.reports, r.junit, r)
            finally:
                shutil.rmtree(r.share, ignore_errors=True)
            ran = sum(1 for it in r.items if self.results.get(it.nodeid))
            self.summary.append(f"kernel lab VM {r.index + 1}/{len(runs)}: {ran}/{len(r.items)} "
                                f"marked test(s) ran inside it in {r.elapsed:.1f} s "
                                f"({r.memory} MB; inner pytest exit code {r.rc})")
            spent = sorted(((sum(getattr(rep, "duration", 0.0) or 0.0
                                 for rep in self.results.get(it.nodeid, [])), it.nodeid)
                            for it in r.items), reverse=True)[:SLOWEST]
            if spent:
                self.summary.append("  slowest: " + "; ".join(f"{nid.split('/')[-1]} {d:.0f} s"
                                                              for d, nid in spent))
            if r.failure:
                self.summary.append(f"kernel lab VM {r.index + 1} FAILED: "
                                    + r.failure.splitlines()[0])
            for it in r.items:
                self.tails[it.nodeid] = r.tail
                if r.failure:
                    self.failures[it.nodeid] = r.failure
        self._write(f"kernel lab: done in {time.monotonic() - t0:.1f} s, replaying results")

    def _load_reports(self, reports: Path, junit: Path, run: "_LabRun") -> None:
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
            self._load_junit(junit, run.items)
        if collect_errors:
            msg = "\n".join(collect_errors)
            run.failure = f"{run.failure}\n{msg}" if run.failure else msg

    def _load_junit(self, junit: Path, items: list[pytest.Item]) -> None:
        """Fallback when the per-report file is missing: outcomes from the JUnit XML."""
        assert self.results is not None
        by_case: dict[tuple[str, str], pytest.Item] = {}
        for it in items:
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
            why = (self.failures.get(item.nodeid)
                   or "the test did not report a result from inside the kernel lab")
            text = f"{why}\n(not run inside the lab VM: {item.nodeid})"
            reps = self._synth(item, "failed", text, "call")
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for rep in reps:
            tail = self.tails.get(item.nodeid)
            if rep.failed and tail:
                rep.sections.append(("inner lab output (tail)", tail))
            ihook.pytest_runtest_logreport(report=rep)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.summary:
            terminalreporter.write_line(line, red="FAILED" in line, bold=True)
        if self.skipped_off:
            terminalreporter.write_sep("!", f"{self.skipped_off} kernel/docker test(s) SKIPPED: "
                                       "IPVLAN_TUI_LAB=off", red=True, bold=True)
