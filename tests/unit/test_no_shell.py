"""No shell anywhere: every external program runs from an argument list.

A static check over the whole package: no `shell=True`, no os.system /
os.popen / commands, and no subprocess call whose program is one string
(which would need a shell to be split, and would let a hostile name such as
`x;rm -rf /` become a command).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "ipvlan_tui"
CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    if isinstance(func, ast.Name):
        return func.id
    return "?"


def offences() -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(PKG.parent)}:{node.lineno}"
            name = _name(node.func)
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{where}: {name}(shell=...)")
            if name in ("os.system", "os.popen", "commands.getoutput", "subprocess.getoutput",
                        "subprocess.getstatusoutput"):
                found.append(f"{where}: {name}()")
            if name.split(".")[-1] in CALLS and name.startswith("subprocess.") and node.args:
                first = node.args[0]
                if isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)) and not (
                        isinstance(first, ast.Constant) and not isinstance(first.value, str)):
                    found.append(f"{where}: {name}() with a command string")
    return found


def test_no_shell_anywhere():
    assert offences() == []


def test_the_check_catches_a_shell(tmp_path, monkeypatch):
    bad = tmp_path / "ipvlan_tui"
    bad.mkdir()
    (bad / "m.py").write_text("import os, subprocess\nsubprocess.run('ip link', shell=True)\n"
                              "os.system('x')\nsubprocess.Popen(f'ip {1}')\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", bad)
    assert len(offences()) == 4
