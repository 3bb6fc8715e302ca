"""The benchmark suite runs: its pure-Python part (the console benchmarks on the
fake engine) at --quick size, and the JSON lines it prints have the promised
schema. Figures are not checked: benchmarks never fail CI."""

from __future__ import annotations

import functools
import json

import pytest

from bench import b_console, run
from bench.common import JSON_KEYS, Result


def test_json_schema_and_ratio():
    r = Result("x", 10, 2.0, "base", 4.0, "<= 1.0")
    d = r.to_json()
    assert tuple(d) == JSON_KEYS
    assert d["ratio"] == 0.5 and d["ok"] is True
    assert Result("x", 1, 3.0, "b", 1.0, "<= 2.0").to_json()["ok"] is False
    assert Result("x", 1, None, "b", None, "<= 2.0").to_json()["ok"] is None
    assert Result.from_record(json.loads(json.dumps(r.to_record()))).to_json() == d


def test_unknown_benchmark_is_refused(capsys):
    assert run.main(["--only", "nope", "--no-write"]) == 2


def test_quick_console_suite_prints_json_lines(capsys, monkeypatch, tmp_path):
    # the memory subprocesses and the event run take longest on a loaded machine (each starts the
    # console again); the first screen proves the suite runs, through the same main() and JSON output
    monkeypatch.setattr(b_console, "run", functools.partial(b_console.run, memory=False, events=False))
    out_md = tmp_path / "RESULTS.md"
    assert run.main(["--quick", "--json", "--only", "console", "--results", str(out_md)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    names = {d["name"] for d in lines}
    assert "console.first_screen" in names
    for d in lines:
        assert tuple(d) == JSON_KEYS
        assert isinstance(d["n"], int) and isinstance(d["baseline"], str) and isinstance(d["target"], str)
        assert d["ours_s"] is None or d["ours_s"] > 0
        if d["ours_s"] is not None and d["baseline_s"]:
            assert d["ratio"] == pytest.approx(d["ours_s"] / d["baseline_s"], rel=1e-3)
            assert isinstance(d["ok"], bool)
    text = out_md.read_text()
    assert "nproc" in text and "load average" in text and "| console.first_screen |" in text
