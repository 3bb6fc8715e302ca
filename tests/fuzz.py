"""How many examples each hypothesis fuzz test runs: the suite's count, scaled for a long run.

IPVLAN_TUI_FUZZ_SCALE=N multiplies every fuzz test's examples (default 1;
e.g. `IPVLAN_TUI_FUZZ_SCALE=20 python -m pytest tests/unit -q -k fuzz or total
or arbitrary or never` for a nightly run). `--hypothesis-show-statistics`
prints the cases each test ran.
"""

from __future__ import annotations

import os

ENV = "IPVLAN_TUI_FUZZ_SCALE"


def scale() -> int:
    value = os.environ.get(ENV, "1").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV}={value!r}: expected a whole number from 1")
    return int(value)


def examples(n: int) -> int:
    """n for the suite, n * IPVLAN_TUI_FUZZ_SCALE for a long run."""
    return n * scale()
