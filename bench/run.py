"""`python -m bench`: run every benchmark, print a table, write bench/RESULTS.md.

    python -m bench [--quick] [--json] [--runs N] [--only NAMES] [--no-lab]
                    [--parallel-lab] [--no-write] [--results PATH]

Benchmarks (names for --only): inventory, churn, matrix, console, docker.
Kernel benchmarks (inventory, churn, matrix, docker) need ipvlan: on a host
without it they run inside ONE lab VM (`python -m ipvlan_tui.lab exec --
python -m bench --inside ...`), whose records come back on stdout and are
merged; the inventory also runs on the host with macvlan/veth stand-ins for a
quick figure. The console benchmarks are pure Python and run on the host.

--json prints one JSON object per result line:
{"name", "n", "ours_s", "baseline", "baseline_s", "ratio", "target", "ok"}
(ratio = ours_s / baseline_s). Benchmarks are not tests: the exit code is 0
whatever the figures say (2 only for bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import Config, Result, dump_records, log, machine, skipped

ALL = ("inventory", "churn", "matrix", "console", "docker")
KERNEL = ("inventory", "churn", "matrix", "docker")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAB_MEMORY_MB = 2048
LAB_TIMEOUT_S = 5400


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="ipvlan-tui benchmark suite")
    p.add_argument("--quick", action="store_true", help="small N, one run each (a smoke test)")
    p.add_argument("--json", action="store_true", help="print one JSON object per result")
    p.add_argument("--runs", type=int, default=3, help="timed runs per figure (median), after a warm-up")
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--no-lab", action="store_true", help="never boot the lab VM (kernel benchmarks "
                   "that need ipvlan are then reported as skipped)")
    p.add_argument("--parallel-lab", action="store_true",
                   help="run the host benchmarks while the lab VM runs (faster; figures disturb each other)")
    p.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"), help="where to write the results")
    p.add_argument("--records", metavar="PATH", help="also write every result, with its notes, as JSON lines")
    p.add_argument("--merge", metavar="PATH", action="append", default=[],
                   help="add results recorded by an earlier --records run (a row of this run with the same "
                        "name, N and place replaces it)")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)  # in the lab VM
    return p


def _guard(name: str, fn, *a, **kw) -> list[Result]:
    """Run one benchmark; its failure becomes a skipped row, never an exception."""
    try:
        return fn(*a, **kw)
    except Exception as exc:  # noqa: BLE001
        import traceback

        traceback.print_exc(file=sys.stderr)
        return [skipped(name, 0, "-", "-", f"failed: {type(exc).__name__}: {exc}")]


# ----------------------------------------------------------------------------- kernel parts
def run_kernel(cfg: Config, only: set[str], where: str, lab: bool = False) -> list[Result]:
    from bench import b_churn, b_docker, b_inventory, b_matrix

    out: list[Result] = []
    if "inventory" in only:
        out += _guard("inventory", b_inventory.run, cfg, standin=False, where=where)
    if "churn" in only:
        out += _guard("churn", b_churn.run, cfg, where=where, lab=lab)
    if "matrix" in only:
        out += _guard("matrix", b_matrix.run, cfg, where=where, lab=lab)
    if "docker" in only:
        out += _guard("docker", b_docker.run, cfg, where=where)
    return out


def inside(cfg: Config, only: set[str]) -> int:
    """In the lab VM: run the kernel benchmarks, write records to stdout."""
    info = machine()
    sys.stdout.write("BENCHMACHINE " + json.dumps(info) + "\n")
    results = run_kernel(cfg, only, where="lab VM (TCG)", lab=True)
    dump_records(results, sys.stdout)
    return 0


def run_lab(cfg: Config, only: set[str]) -> tuple[list[Result], dict | None]:
    argv = [sys.executable, "-m", "ipvlan_tui.lab", "exec", "--memory", str(LAB_MEMORY_MB),
            "--timeout", str(LAB_TIMEOUT_S), "--", sys.executable, "-m", "bench", "--inside",
            "--runs", str(cfg.runs), "--only", ",".join(sorted(only))]
    if cfg.quick:
        argv.append("--quick")
    log("booting the lab VM once for the kernel benchmarks: " + " ".join(argv[1:]))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=str(REPO), stdout=subprocess.PIPE, stderr=None, text=True)
    results: list[Result] = []
    info = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("BENCHREC "):
            results.append(Result.from_record(json.loads(line[9:])))
        elif line.startswith("BENCHMACHINE "):
            info = json.loads(line[13:])
        else:
            sys.stderr.write("[lab] " + line)
    rc = proc.wait()
    log(f"lab VM done in {time.monotonic() - t0:.0f} s (exit {rc})")
    if not results:
        results = [skipped(name, 0, "-", "-", f"lab VM run failed (exit {rc}); see stderr", "lab VM")
                   for name in sorted(only)]
    return results, info


# ----------------------------------------------------------------------------- output
def _fmt(x, unit: str = "s") -> str:
    if x is None:
        return "-"
    if unit == "MiB":
        return f"{x:.0f} MiB"
    return f"{x:.3f} s" if x < 100 else f"{x:.0f} s"


def table(results: list[Result]) -> str:
    head = ["benchmark", "N", "where", "ours", "baseline", "baseline time", "ratio", "target", "ok"]
    rows = []
    for r in results:
        unit = "MiB" if r.name == "console.memory" else "s"
        ok = {True: "yes", False: "NO", None: "-"}[r.ok]
        rows.append([r.name, str(r.n), r.where, _fmt(r.ours_s, unit), r.baseline, _fmt(r.baseline_s, unit),
                     "-" if r.ratio is None else f"{r.ratio:.3f}", r.target, ok])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def notes(results: list[Result]) -> str:
    out = []
    for r in results:
        runs = f"median of {r.runs} run(s)" if r.runs else ""
        detail = "; ".join(x for x in (runs, r.note) if x)
        if r.ours_runs:
            detail += "; ours runs: " + ", ".join(f"{t:.3f}" for t in r.ours_runs)
        if r.baseline_runs:
            detail += "; baseline runs: " + ", ".join(f"{t:.3f}" for t in r.baseline_runs)
        out.append(f"- **{r.name}** (N={r.n}, {r.where}): {detail}")
    return "\n".join(out)


def write_results(path: Path, results: list[Result], host: dict, lab: dict | None, argv: list[str],
                  cfg: Config, parallel: bool) -> None:
    parts = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench {' '.join(argv)}`".rstrip() + f" on {host['date']}.",
        "Ratios are ours / baseline; each figure is the median of the runs listed below, "
        f"after {cfg.warmup} untimed warm-up run(s) unless said otherwise. Benchmarks are not tests: "
        "`ok` is information, never a CI failure.",
        "",
        "## Machine",
        "",
        f"- host: nproc {host['nproc']}, kernel {host['kernel']}, Python {host['python']}, "
        f"load average {host['load']} (at the end of the run), textual {host['textual']}, "
        f"pyroute2 {host['pyroute2']}, {host['ip']}",
    ]
    if lab:
        parts.append(f"- lab VM (qemu, inside the host above): nproc {lab['nproc']}, kernel {lab['kernel']}, "
                     f"Python {lab['python']}, load average {lab['load']} (inside the VM, when it started)")
    if parallel:
        parts.append("- the host benchmarks ran while the lab VM ran (--parallel-lab): they share the CPU")
    parts += ["", "## Results", "", table(results), "", "## Notes per row", "", notes(results), ""]
    findings = HERE / "FINDINGS.md"  # the analysis of unmet targets, written by hand from profiles
    if findings.exists():
        parts += [findings.read_text().rstrip(), ""]
    path.write_text("\n".join(parts) + "\n")


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    bad = only - set(ALL)
    if bad:
        print(f"unknown benchmark(s): {', '.join(sorted(bad))} (known: {', '.join(ALL)})", file=sys.stderr)
        return 2
    cfg = Config(quick=args.quick, runs=max(1, args.runs), warmup=0 if args.quick else 1)
    if args.inside:
        return inside(cfg, only)

    from bench import b_churn, b_console, b_inventory, b_matrix, nsenv

    results: list[Result] = []
    lab_info = None
    kernel_wanted = only & set(KERNEL)
    native = False
    if kernel_wanted:
        try:
            native = os.geteuid() == 0 and nsenv.has_kind("ipvlan") and nsenv.has_kind("vlan")
        except Exception:  # noqa: BLE001
            native = False
    lab_box: dict = {}
    lab_thread = None

    def lab_job() -> None:
        lab_box["res"] = run_lab(cfg, kernel_wanted)

    if kernel_wanted and not native and not args.no_lab and args.parallel_lab:
        lab_thread = threading.Thread(target=lab_job)
        lab_thread.start()
    # host part
    if only & {"inventory", "churn", "matrix"} and not native and os.geteuid() == 0 \
            and nsenv.has_kind("macvlan") and nsenv.has_kind("veth"):
        # quick native figures with stand-ins; the real ipvlan figures come from the lab
        standin = "host (macvlan/veth stand-ins)"
        if "inventory" in only:
            results += _guard("inventory", b_inventory.run, cfg, standin=True, where=standin)
        if "churn" in only:
            results += _guard("churn", b_churn.run, cfg, standin=True, where=standin)
        if "matrix" in only:
            results += _guard("matrix", b_matrix.run, cfg, standin=True, where=standin)
    if "console" in only:
        results += _guard("console", b_console.run, cfg, where="host (fake engine)")
    if kernel_wanted:
        if native:
            results += run_kernel(cfg, kernel_wanted, where="host")
        elif args.no_lab:
            results += [skipped(k, 0, "-", "-", "needs ipvlan; the host lacks it and --no-lab was given")
                        for k in sorted(kernel_wanted)]
        else:
            if lab_thread is None:
                lab_job()
            else:
                lab_thread.join()
            lab_res, lab_info = lab_box["res"]
            results += lab_res
    host = machine()
    if args.merge:
        merged: list[Result] = []
        for path in args.merge:
            for line in Path(path).read_text().splitlines():
                if line.startswith("BENCHMACHINE "):
                    lab_info = lab_info or json.loads(line[13:])
                elif line.startswith("BENCHREC "):
                    merged.append(Result.from_record(json.loads(line[9:])))
        fresh = {(r.name, r.n, r.where) for r in results}
        results = [r for r in merged if (r.name, r.n, r.where) not in fresh] + results
        # a benchmark that failed in one run and has figures from another: keep the figures
        measured = {r.name.split(".")[0] for r in results if r.ours_s is not None}
        results = [r for r in results if r.ours_s is not None or not r.note.startswith("skipped: failed")
                   or r.name.split(".")[0] not in measured]
    if args.records:
        with open(args.records, "w") as fh:
            if lab_info:
                fh.write("BENCHMACHINE " + json.dumps(lab_info) + "\n")
            dump_records(results, fh)
    if args.json:
        for r in results:
            print(json.dumps(r.to_json()))
    else:
        print(table(results))
    if not args.no_write:
        write_results(Path(args.results), results, host, lab_info, argv, cfg,
                      parallel=lab_thread is not None)
        log(f"wrote {args.results}")
    return 0
