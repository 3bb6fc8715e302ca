"""Shared pytest setup: the kernel lab plugin runs `kernel`/`docker`-marked tests
inside the lab VM when the host kernel lacks ipvlan/8021q/dummy (see
ipvlan_tui/lab/pytest_plugin.py). `pytester` is used by tests/lab."""

pytest_plugins = ["ipvlan_tui.lab.pytest_plugin", "pytester"]
