"""Layers stay clean: domain, controller and engines never pull in Textual;
the TUI never imports pyroute2 or docker (it goes through the controller)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "ipvlan_tui"

# Every module outside tui/ (discovered, so a new one is checked too).
HEADLESS = sorted(
    "ipvlan_tui." + ".".join(p.relative_to(PKG).with_suffix("").parts)
    for p in PKG.rglob("*.py")
    if p.relative_to(PKG).parts[0] != "tui" and p.name != "__main__.py"
)


def test_headless_modules_do_not_import_textual():
    assert {"ipvlan_tui.controller", "ipvlan_tui.cli", "ipvlan_tui.spec"} <= set(HEADLESS)
    code = ("import sys, importlib\n"
            f"for m in {HEADLESS!r}:\n"
            "    importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Textual imported by the headless layers: {out.stdout}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_textual_outside_tui_and_no_engine_libraries_inside_it():
    checked = 0
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        names = _imports(path)
        if rel.parts[0] == "tui":
            assert not names & {"pyroute2", "docker"}, f"{rel} imports an engine library"
        else:
            assert "textual" not in names, f"{rel} imports textual outside tui/"
        checked += 1
    assert checked > 10
