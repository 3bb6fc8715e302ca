"""Shared pieces of the benchmark suite: results, timing, machine facts, namespaces.

A Result is one line of the table and one JSON object of `--json`:
{"name", "n", "ours_s", "baseline", "baseline_s", "ratio", "target", "ok"}
with ratio = ours_s / baseline_s. `where` and `note` go to the table and
RESULTS.md only. Benchmarks never fail anything: `ok` is information.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

JSON_KEYS = ("name", "n", "ours_s", "baseline", "baseline_s", "ratio", "target", "ok")


@dataclass
class Result:
    name: str
    n: int
    ours_s: float | None
    baseline: str
    baseline_s: float | None
    target: str  # "<= 1.0"
    where: str = "host"  # "host", "host (macvlan/veth stand-ins)", "lab VM (TCG)", ...
    note: str = ""
    runs: int = 0
    ours_runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.ours_s is None or not self.baseline_s:
            return None
        return self.ours_s / self.baseline_s

    @property
    def ok(self) -> bool | None:
        r = self.ratio
        if r is None:
            return None
        op, _, limit = self.target.partition(" ")
        if op == "<=":
            return r <= float(limit)
        if op == ">=":
            return r >= float(limit)
        return None

    def to_json(self) -> dict:
        def rnd(x):
            return None if x is None else round(x, 6)

        return {"name": self.name, "n": self.n, "ours_s": rnd(self.ours_s), "baseline": self.baseline,
                "baseline_s": rnd(self.baseline_s), "ratio": rnd(self.ratio), "target": self.target,
                "ok": self.ok}

    def to_record(self) -> dict:
        """Everything, for passing results from the lab VM back to the host."""
        d = self.to_json()
        d.update(where=self.where, note=self.note, runs=self.runs, ours_runs=self.ours_runs,
                 baseline_runs=self.baseline_runs)
        return d

    @classmethod
    def from_record(cls, d: dict) -> "Result":
        return cls(name=d["name"], n=d["n"], ours_s=d["ours_s"], baseline=d["baseline"],
                   baseline_s=d["baseline_s"], target=d["target"], where=d.get("where", ""),
                   note=d.get("note", ""), runs=d.get("runs", 0), ours_runs=d.get("ours_runs", []),
                   baseline_runs=d.get("baseline_runs", []))


def skipped(name: str, n: int, baseline: str, target: str, why: str, where: str = "") -> Result:
    return Result(name, n, None, baseline, None, target, where=where, note=f"skipped: {why}")


@dataclass
class Config:
    quick: bool = False
    runs: int = 5  # timed runs per figure (median); 1 with --quick
    warmup: int = 1

    @property
    def n_runs(self) -> int:
        return 1 if self.quick else self.runs


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_of(fn: Callable[[], object], runs: int, warmup: int = 1,
              setup: Callable[[], object] | None = None,
              teardown: Callable[[], object] | None = None) -> tuple[float, list[float]]:
    """Median wall time of fn over `runs` runs after `warmup` untimed ones.

    setup/teardown run around each call, untimed.
    """
    times: list[float] = []
    for i in range(warmup + runs):
        if setup is not None:
            setup()
        try:
            t = timed(fn)
        finally:
            if teardown is not None:
                teardown()
        if i >= warmup:
            times.append(t)
    return statistics.median(times), times


def interleaved(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 1,
                setup: dict[str, Callable[[], object]] | None = None,
                teardown: dict[str, Callable[[], object]] | None = None) -> dict[str, list[float]]:
    """Time several contenders in turns (A B A B ...), so load drift hits them alike."""
    setup = setup or {}
    teardown = teardown or {}
    out: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(warmup + runs):
        for key, fn in fns.items():
            if key in setup:
                setup[key]()
            try:
                t = timed(fn)
            finally:
                if key in teardown:
                    teardown[key]()
            if i >= warmup:
                out[key].append(t)
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- machine
def machine() -> dict:
    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"] * 3
    try:
        import textual
        textual_v = textual.__version__
    except Exception:  # noqa: BLE001
        textual_v = "?"
    try:
        import pyroute2
        pyroute2_v = pyroute2.__version__
    except Exception:  # noqa: BLE001
        pyroute2_v = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load": " ".join(load),
        "textual": textual_v,
        "pyroute2": pyroute2_v,
        "ip": out(["ip", "-V"]),
    }


def dump_records(results: list[Result], fh) -> None:
    for r in results:
        fh.write("BENCHREC " + json.dumps(r.to_record()) + "\n")
    fh.flush()


def unique(prefix: str) -> str:
    """A short name unique to this run (namespace names are global on the machine)."""
    return f"{prefix}{os.getpid() % 10000}{uuid.uuid4().hex[:3]}"
