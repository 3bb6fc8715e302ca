"""Benchmark 1: inventory of N links (VLAN + ipvlan) spread over namespaces.

Layout for N links: N/2 VLAN links in the (disposable) host namespace, each
with an address, on one dummy parent; N/2 ipvlan links spread over N/200
named namespaces (100 per namespace, each with an address), on the VLANs.
On a kernel without ipvlan/8021q/dummy (this project's host) the same layout
is made of stand-ins: a veth parent, macvlan links in place of the VLANs and
of the ipvlan links (the netlink cost per link is the same).

ours:     read_inventory(host + our namespaces), and controller.inventory()
          (the same read plus the store's ownership marks)
baseline: `ip -j -d link show` + `ip -j addr show` as processes in each
          namespace (`ip -n NS ...`), JSON parsed: what a script would do.
"""

from __future__ import annotations

import json
import subprocess
import tempfile

from bench import nsenv
from bench.common import Config, Result, interleaved, log, med, unique

PER_NS = 100  # links per namespace (each namespace costs the baseline two processes)
SIZES = (100, 1000, 4000)
QUICK_SIZES = (100,)


class _OurNamespacesEngine:
    """A KernelEngine whose inventory() reads only this run's namespaces (the host has others')."""

    def __init__(self, names: list[str]) -> None:
        from ipvlan_tui.engines.kernel import KernelEngine

        self._engine = KernelEngine()
        self._names = names

    def inventory(self):
        return self._engine.inventory(self._names)

    def __getattr__(self, name):
        return getattr(self._engine, name)


def _layout(n: int, prefix: str, standin: bool) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """(namespace names, host batch lines, per-namespace batch lines)."""
    half = n // 2
    n_ns = max(1, (n - half) // PER_NS)
    names = [f"{prefix}{j}" for j in range(n_ns)]
    host: list[str] = [f"netns add {ns}" for ns in names]
    per_ns: dict[str, list[str]] = {ns: ["link set lo up"] for ns in names}
    for i in range(1, half + 1):
        name = f"v{i}"
        if standin:
            host.append(f"link add link bpar0 name {name} type macvlan mode bridge")
        else:
            host.append(f"link add link bpar0 name {name} type vlan id {i}")
        host.append(f"link set {name} up")
        host.append(f"addr add 10.{100 + i // 250}.{i % 250}.1/24 dev {name}")
    k = 0
    for i in range(n - half):
        ns = names[i % n_ns]
        parent = f"v{(i % n_ns) + 1}" if not standin else "bpar0"
        k += 1
        name = f"i{k}"
        kind = "macvlan mode bridge" if standin else "ipvlan mode l2"
        host.append(f"link add link {parent} name {name} netns {ns} type {kind}")
        per_ns[ns].append(f"link set {name} up")
        per_ns[ns].append(f"addr add 10.{200 + k // 250}.{k % 250}.2/16 dev {name}")
    return names, host, per_ns


def _script_read(names: list[str]) -> int:
    """The baseline: two `ip` processes per namespace, JSON parsed; returns the link count."""
    count = 0
    for ns in [""] + names:
        pre = ["ip", "-n", ns] if ns else ["ip"]
        links = json.loads(subprocess.run(pre + ["-j", "-d", "link", "show"], capture_output=True,
                                          check=True).stdout)
        addrs = json.loads(subprocess.run(pre + ["-j", "addr", "show"], capture_output=True,
                                          check=True).stdout)
        count += len(links)
        _ = len(addrs)
    return count


def _cpu_times(names: list[str], runs: int) -> dict[str, float]:
    """Median CPU seconds: this process for read_inventory; self + children for the ip baseline."""
    import resource
    import statistics
    import time

    from ipvlan_tui.engines.inventory import read_inventory

    def cpu_all() -> float:
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    ours, ip = [], []
    for _ in range(runs):
        c0 = time.process_time()
        read_inventory(names)
        ours.append(time.process_time() - c0)
        c0 = cpu_all()
        _script_read(names)
        ip.append(cpu_all() - c0)
    return {"ours": statistics.median(ours), "ip": statistics.median(ip)}


def run(cfg: Config, *, standin: bool, where: str) -> list[Result]:
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.inventory import read_inventory
    from ipvlan_tui.store import Store

    results: list[Result] = []
    medians: dict[int, float] = {}
    cpu_by_n: dict[int, float] = {}
    sizes = QUICK_SIZES if cfg.quick else SIZES
    for n in sizes:
        prefix = unique("bi")
        parents = (("bpar0", "veth" if standin else "dummy"),)
        with nsenv.disposable_host(prefix, parents) as _tracker:
            names, host_lines, per_ns = _layout(n, prefix, standin)
            log(f"inventory N={n}: making {len(names)} namespaces and {n} links ({where})")
            nsenv.ip_batch(host_lines)
            for ns, lines in per_ns.items():
                with tempfile.NamedTemporaryFile("w", suffix=".ip") as fh:
                    fh.write("\n".join(lines) + "\n")
                    fh.flush()
                    subprocess.run(["ip", "-n", ns, "-batch", fh.name], check=True, capture_output=True)
            waited = nsenv.settle()  # the previous size's teardown must not run during the timings
            log(f"inventory N={n}: waited {waited:.1f} s for earlier namespaces to be torn down")
            inv = read_inventory(names)
            base_count = _script_read(names)
            made = sum(1 for link in inv.links if link.name.startswith(("v", "i")) and link.name[1:].isdigit())
            log(f"inventory N={n}: read_inventory sees {len(inv.links)} links ({made} made), "
                f"ip sees {base_count}; errors {list(inv.errors)[:3]}")
            with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
                engine = _OurNamespacesEngine(names)
                ctl = Controller(engine, Store(tmp), hosts_root=None, root=True)
                try:
                    times = interleaved({
                        "read_inventory": lambda: read_inventory(names),
                        "controller": ctl.inventory,
                        "ip": lambda: _script_read(names),
                    }, cfg.n_runs, cfg.warmup)
                finally:
                    engine.close()
            cpu = _cpu_times(names, cfg.n_runs)
        base = med(times["ip"])
        note = (f"{len(names)} namespaces + host; {len(inv.links)} links in all (lo etc. included); CPU seconds "
                f"(separate runs): read_inventory {cpu['ours']:.3f}, ip {cpu['ip']:.3f} (its processes + "
                f"JSON parsing), CPU ratio {cpu['ours'] / cpu['ip']:.2f}; ours also dumps the host's routes "
                f"(host_routes), which the ip baseline does not read")
        for key, label in (("read_inventory", "inventory"), ("controller", "inventory.controller")):
            results.append(Result(label, n, med(times[key]), "ip -j -d link + ip -j addr per namespace",
                                  base, "<= 1.0", where=where, note=note + (
                                      "; controller.inventory() adds the store's ownership marks"
                                      if key == "controller" else ""),
                                  runs=cfg.n_runs, ours_runs=times[key], baseline_runs=times["ip"]))
        medians[n] = med(times["read_inventory"])
        cpu_by_n[n] = cpu["ours"]
        log(f"inventory N={n}: ours {medians[n]:.3f} s, controller {med(times['controller']):.3f} s, "
            f"ip {base:.3f} s")
    if 4000 in medians and 1000 in medians:
        results.append(Result("inventory.growth", 4000, medians[4000], "ours at N=1,000", medians[1000],
                              "<= 4.5", where=where,
                              note=f"time(4,000)/time(1,000) of read_inventory; in CPU seconds "
                                   f"{cpu_by_n[4000]:.3f}/{cpu_by_n[1000]:.3f} = {cpu_by_n[4000] / cpu_by_n[1000]:.2f}",
                              runs=cfg.n_runs))
    return results
