"""Benchmarks 4 and 5: the console's first screen, one event, and peak memory.

A recorded inventory (1,000 host links, 200 networks on VLAN parents, 2,000
endpoints: each endpoint namespace holds lo + eth0, so the inventory has
5,000 links in all) is made once through the controller on the fake engine,
saved to a directory (the store + the fake kernel's links), and loaded for
every run, in-process and in the memory subprocesses.

4a first screen: IpvlanApp constructed -> app.run_test -> first topology on
   screen (app.loaded) + one more frame, vs a minimal Textual app with one
   DataTable of 2,000 rows (constructed -> rows added on mount + one frame).
4b event: a link added in the (fake) kernel until its row is in the links
   table (the watcher's event, a targeted update), vs a full refresh showing
   the same kind of change (request_refresh: full read + every panel refilled).
5  memory: peak RSS (getrusage maxrss) of a subprocess showing the console's
   first screen vs one showing the minimal app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Config, Result, log, med

SIZE = (160, 48)
FULL = {"links": 1000, "networks": 200, "endpoints": 2000}
QUICK = {"links": 60, "networks": 5, "endpoints": 20}


# ----------------------------------------------------------------------------- data
def build(dirpath: Path, links: int, networks: int, endpoints: int) -> None:
    """Make the inventory through the controller on a FakeKernel; save it to dirpath."""
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.fake import FakeKernel
    from ipvlan_tui.model import EndpointRequest, Link, NetworkRequest
    from ipvlan_tui.store import Store

    host = [Link(1, "lo", "device", state="unknown", mtu=65536, admin_up=True, addresses=("127.0.0.1/8",)),
            Link(2, "eth0", "device", state="up", mtu=1500, mac="52:54:00:12:34:56", admin_up=True,
                 addresses=("192.168.1.250/24",))]
    filler = links - len(host) - networks
    for i in range(filler):
        idx = 3 + i
        if i % 2:
            host.append(Link(idx, f"ens{i}.{i % 4000 + 1}", "vlan", state="up", mtu=1500, parent_ifindex=2,
                             parent_name="eth0", vlan_id=i % 4000 + 1, admin_up=True))
        else:
            host.append(Link(idx, f"ens{i}", "device", state="up", mtu=1500, admin_up=True,
                             mac=f"52:54:01:00:{i // 256 % 256:02x}:{i % 256:02x}",
                             addresses=(f"172.{16 + i // 65536}.{i // 256 % 256}.{i % 256 or 1}/32",)))
    kernel = FakeKernel(host, host_routes=("192.168.1.0/24", "0.0.0.0/0"))
    ctl = Controller(kernel, Store(dirpath / "state"), hosts_root=dirpath / "etc", root=True)
    per = max(1, endpoints // networks)
    for i in range(networks):
        vid = 4094 - i  # VLAN ids apart from the filler's
        ctl.create_network(NetworkRequest(name=f"net{i}", subnets=(f"10.{100 + i // 256}.{i % 256}.0/24",),
                                          options=(f"parent=eth0.{vid}",)))
    made = 0
    for i in range(networks):
        for j in range(per):
            if made >= endpoints:
                break
            ctl.run_endpoint(EndpointRequest(name=f"ep{i}x{j}", network=f"net{i}"))
            made += 1
    inv = kernel.inventory()
    (dirpath / "kernel.pickle").write_bytes(pickle.dumps((list(inv.links), list(kernel.host_routes))))
    shutil.rmtree(dirpath / "etc", ignore_errors=True)


def load(dirpath: Path, work: Path):
    """A Controller on a FakeKernel with the recorded inventory and a copy of the store."""
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.fake import FakeKernel
    from ipvlan_tui.store import Store

    links, routes = pickle.loads((dirpath / "kernel.pickle").read_bytes())
    state = work / "state"
    if state.exists():
        shutil.rmtree(state)
    shutil.copytree(dirpath / "state", state)
    return Controller(FakeKernel(links, routes), Store(state), hosts_root=work / "etc", root=True)


# ----------------------------------------------------------------------------- apps
def _minimal_app_class():
    from textual.app import App
    from textual.widgets import DataTable

    class Minimal(App):
        def __init__(self, rows) -> None:
            super().__init__()
            self.rows = rows
            self.filled = False

        def compose(self):
            yield DataTable()

        def on_mount(self) -> None:
            t = self.query_one(DataTable)
            t.add_columns("name", "network", "engine", "ipv4", "ipv6", "state")
            t.add_rows(self.rows)
            self.filled = True

    return Minimal


def minimal_rows(n: int) -> list[tuple[str, ...]]:
    return [(f"ep{i}", f"net{i // 10}", "netns", f"10.{100 + i // 2560}.{i // 10 % 256}.{i % 10 + 2}", "",
             "running") for i in range(n)]


async def _wait(pilot, cond, timeout: float = 120.0, step: float = 0.005) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        await pilot.pause(step)


async def _wait_light(cond, timeout: float = 120.0, step: float = 0.002) -> None:
    """Poll cond without driving the app: Pilot.pause posts a callback to every widget
    and renders a frame per poll, work the app would not do on its own (it cost a
    polled 0.1 s event more CPU than the event itself). The frame that shows the
    result is the caller's pilot.pause() after this."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(step)


CPU: dict[str, float] = {}  # CPU seconds of the last first-screen run, per contender


async def first_screen_ours(ctl, expect_endpoints: int) -> float:
    from ipvlan_tui.tui.app import IpvlanApp

    c0 = time.process_time()
    t0 = time.perf_counter()
    app = IpvlanApp(ctl, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot, app.loaded.is_set)
        await pilot.pause()
        t = time.perf_counter() - t0
        CPU["ours"] = time.process_time() - c0
        rows = app.query_one("#table-endpoints").row_count
        if rows < min(expect_endpoints, 1):
            raise RuntimeError(f"endpoints table has {rows} rows")
    return t


async def first_screen_minimal(rows) -> float:
    Minimal = _minimal_app_class()
    c0 = time.process_time()
    t0 = time.perf_counter()
    app = Minimal(rows)
    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot, lambda: app.filled)
        await pilot.pause()
        t = time.perf_counter() - t0
        CPU["minimal"] = time.process_time() - c0
    return t


async def _settle(pilot, app) -> None:
    """Until the start-up refresh and its events are over (nothing queued, nothing running)."""
    await _wait(pilot, app.loaded.is_set)
    await pilot.pause(0.3)
    await _wait(pilot, lambda: not app._refreshing and app._coalesce_timer is None
                and not app._event_posted.is_set())
    await pilot.pause(0.2)


async def event_vs_refresh(ctl, tag: str) -> tuple[float, float, dict]:
    """(a link added in the kernel -> its row on screen through the event path,
    the same kind of change shown by a full refresh, extra figures).

    Both sides time the same thing: from the kernel change to the new row in the
    links table and one more frame (polled with asyncio.sleep, see _wait_light). The event side starts before create_dummy
    (so the watcher's delivery is inside); the full-refresh side makes its link,
    then times request_refresh (a full read and every panel refilled: what the
    console did per event before targeted updates). Separate app instances: the
    baseline app has no watcher, so the event path cannot race it.
    """
    from ipvlan_tui.tui.app import IpvlanApp

    extra: dict = {}
    # --- baseline: a full refresh that shows a new link
    app = IpvlanApp(ctl, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot, app)
        # a full refresh that finds nothing changed (what this bench timed before: no redraw)
        old = app.topology
        t0 = time.perf_counter()
        app.request_refresh()
        await _wait_light(lambda: app.topology is not old)
        await pilot.pause()
        extra["unchanged_refresh"] = time.perf_counter() - t0
        await pilot.pause(0.3)
        name = f"bfr{tag}"
        key = f"link:{name}"
        table = app.query_one("#table-links")
        ctl.kernel.create_dummy(name)
        c0 = time.process_time()
        t0 = time.perf_counter()
        app.request_refresh()
        await _wait_light(lambda: any(r.key == key for r in table.items))
        await pilot.pause()
        full = time.perf_counter() - t0
        extra["full_cpu"] = time.process_time() - c0
    # --- ours: the event path
    app = IpvlanApp(ctl, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot, app)
        name = f"bev{tag}"
        key = f"link:{name}"
        table = app.query_one("#table-links")
        reads, patches = app.live.full_reads, app.patches_applied
        c0 = time.process_time()
        t0 = time.perf_counter()
        ctl.kernel.create_dummy(name)
        await _wait_light(lambda: any(r.key == key for r in table.items))
        await pilot.pause()
        event = time.perf_counter() - t0
        extra["event_cpu"] = time.process_time() - c0
        extra["event_full_reads"] = app.live.full_reads - reads
        extra["event_patches"] = app.patches_applied - patches
    return event, full, extra


# ----------------------------------------------------------------------------- memory child
def child(mode: str, data: str) -> None:
    """Run in a subprocess: show the first screen, print {"maxrss_kb": ..., "seconds": ...}."""
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as work:
        if mode == "ours":
            ctl = load(Path(data), Path(work))
            n = len(ctl.store.endpoints())
            secs = asyncio.run(first_screen_ours(ctl, n))
        else:
            n = int(data)
            secs = asyncio.run(first_screen_minimal(minimal_rows(n)))
        print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                          "hwm_kb": _vm_hwm_kb(), "seconds": secs}))


def _vm_hwm_kb() -> int:
    """Peak RSS of this process's own memory map (VmHWM; reset at exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _child_rss(mode: str, data: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.b_console", "--child", mode, data],
                         capture_output=True, text=True, check=True, cwd=str(Path(__file__).resolve().parent.parent))
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- run
def run(cfg: Config, *, where: str = "host", memory: bool = True, events: bool = True) -> list[Result]:
    sizes = QUICK if cfg.quick else FULL
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        data, work = Path(tmp) / "data", Path(tmp) / "work"
        data.mkdir()
        work.mkdir()
        t0 = time.perf_counter()
        build(data, sizes["links"], sizes["networks"], sizes["endpoints"])
        log(f"console: recorded inventory built in {time.perf_counter() - t0:.1f} s "
            f"({sizes['links']} host links, {sizes['networks']} networks, {sizes['endpoints']} endpoints)")
        rows = minimal_rows(sizes["endpoints"])
        ours_t: list[float] = []
        base_t: list[float] = []
        ours_cpu: list[float] = []
        base_cpu: list[float] = []
        for i in range(cfg.warmup + cfg.n_runs):
            ctl = load(data, work)
            o = asyncio.run(first_screen_ours(ctl, sizes["endpoints"]))
            b = asyncio.run(first_screen_minimal(rows))
            if i >= cfg.warmup:
                ours_t.append(o)
                base_t.append(b)
                ours_cpu.append(CPU["ours"])
                base_cpu.append(CPU["minimal"])
            log(f"console first screen run {i}: ours {o:.3f} s (CPU {CPU['ours']:.3f}), "
                f"minimal {b:.3f} s (CPU {CPU['minimal']:.3f})")
        n_links = len(load(data, work).kernel.inventory().links)
        results.append(Result("console.first_screen", sizes["endpoints"], med(ours_t),
                              f"minimal Textual app, one DataTable of {sizes['endpoints']} rows", med(base_t),
                              "<= 2.0", where=where, runs=cfg.n_runs, ours_runs=ours_t, baseline_runs=base_t,
                              note=f"fake engine, recorded inventory: {n_links} links in all "
                                   f"({sizes['links']} host), {sizes['networks']} networks, "
                                   f"{sizes['endpoints']} endpoints; App() to first screen, app.run_test; "
                                   f"process CPU time: ours {med(ours_cpu):.3f} s vs {med(base_cpu):.3f} s "
                                   f"(ratio {med(ours_cpu) / med(base_cpu):.2f}, less sensitive to the load)"))
        ev_t: list[float] = []
        full_t: list[float] = []
        ev_cpu: list[float] = []
        full_cpu: list[float] = []
        unchanged: list[float] = []
        for i in range(cfg.warmup + cfg.n_runs if events else 0):
            ctl = load(data, work)
            e, f, x = asyncio.run(event_vs_refresh(ctl, str(i)))
            if i >= cfg.warmup:
                ev_t.append(e)
                full_t.append(f)
                ev_cpu.append(x["event_cpu"])
                full_cpu.append(x["full_cpu"])
                unchanged.append(x["unchanged_refresh"])
            log(f"console event run {i}: event {e:.3f} s (CPU {x['event_cpu']:.3f}, "
                f"{x['event_patches']} targeted update(s), {x['event_full_reads']} full read(s)), "
                f"full refresh {f:.3f} s (CPU {x['full_cpu']:.3f}); a refresh that finds nothing "
                f"changed {x['unchanged_refresh']:.3f} s")
        if events:
            results.append(Result("console.event", sizes["endpoints"], med(ev_t),
                                  "full refresh of the same inventory showing the same change",
                                  med(full_t), "<= 0.05", where=where, runs=cfg.n_runs, ours_runs=ev_t,
                                  baseline_runs=full_t,
                                  note="create_dummy in the fake kernel until its row is in the links table "
                                       "+ one frame: ours through the watcher (targeted update), the "
                                       "baseline by request_refresh (full read + every panel refilled); "
                                       f"process CPU time: ours {med(ev_cpu):.3f} s vs {med(full_cpu):.3f} s "
                                       f"(ratio {med(ev_cpu) / max(med(full_cpu), 1e-9):.3f}); a refresh "
                                       f"that finds nothing changed (no redraw, what this row timed "
                                       f"before): {med(unchanged):.3f} s"))
        if memory:
            o_kb, b_kb, o_max, b_max = [], [], [], []
            for i in range(1 if cfg.quick else 3):
                o, b = _child_rss("ours", str(data)), _child_rss("minimal", str(sizes["endpoints"]))
                o_kb.append(o["hwm_kb"])
                b_kb.append(b["hwm_kb"])
                o_max.append(o["maxrss_kb"])
                b_max.append(b["maxrss_kb"])
                log(f"console memory run {i}: ours {o_kb[-1] / 1024:.0f} MiB, minimal {b_kb[-1] / 1024:.0f} MiB "
                    f"(getrusage maxrss {o_max[-1] / 1024:.0f} / {b_max[-1] / 1024:.0f} MiB)")
            o_mb, b_mb = med(o_kb) / 1024, med(b_kb) / 1024
            results.append(Result("console.memory", sizes["endpoints"], o_mb, "minimal Textual app, peak RSS", b_mb,
                                  "<= 2.0", where=where, runs=len(o_kb),
                                  note=f"peak RSS in MiB (not seconds): ours {o_mb:.0f} MiB vs {b_mb:.0f} MiB; "
                                       "separate subprocesses after the first screen; figure = VmHWM of the "
                                       "child's own memory map, because getrusage(RUSAGE_SELF).ru_maxrss of a "
                                       "child started by this (larger) process carries the parent's peak over "
                                       f"fork+exec (it read {med(o_max) / 1024:.0f} / {med(b_max) / 1024:.0f} MiB)"))
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DATA"))
    args = ap.parse_args()
    if args.child:
        child(*args.child)
