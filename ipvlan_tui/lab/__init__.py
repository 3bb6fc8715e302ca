"""The kernel lab: a throwaway qemu VM with a real ipvlan/8021q/dummy kernel.

Public API:
    ipvlan_tui.lab.cli.main(argv) -> int          `ipvlan-tui lab setup|exec|shell`
    ipvlan_tui.lab.vm.run_in_lab(argv, memory_mb=1024, timeout=None, env=None, ...) -> int
    ipvlan_tui.lab.vm.run_shell(memory_mb=1024, ...) -> int
    ipvlan_tui.lab.vm.host_has_ipvlan() -> bool
    ipvlan_tui.lab.vm.in_lab() -> bool
    ipvlan_tui.lab.provision.setup() -> bool      (True when it changed something)
pytest plugin: ipvlan_tui.lab.pytest_plugin (markers `kernel`, `docker`).
"""
