"""Benchmark 3: reachability matrix of 20 endpoints (380 ordered pairs, half unreachable).

Two L2 networks of 10 endpoints each on two dummy parents, made through the
controller: pairs inside a network answer, pairs across networks do not (no
gateway answers ARP), so 180 of 380 pairs are reachable and 200 time out.

ours:     probe.matrix(endpoints, count=1, timeout=1)
baseline: `ip netns exec SRC busybox ping -c 1 -W 1 DST`, pair by pair. Only
          a sample of pairs is timed (reachable and unreachable ones apart)
          and the total is extrapolated: mean(reachable) * 180 + mean(unreachable) * 200.
Needs ipvlan: runs in the lab VM.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import time
from pathlib import Path

from bench import nsenv
from bench.common import Config, Result, log, med, median_of, unique


def run(cfg: Config, *, where: str, standin: bool = False, lab: bool = False) -> list[Result]:
    from ipvlan_tui import probe
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.kernel import KernelEngine
    from ipvlan_tui.model import EndpointRequest, NetworkRequest
    from ipvlan_tui.store import Store

    per_net = 2 if cfg.quick else 10
    sample_r, sample_u = (2, 2) if cfg.quick else ((10, 5) if lab else (30, 10))
    prefix = unique("bm")
    kind = "veth" if standin else "dummy"
    with nsenv.disposable_host(prefix, (("bpa", kind), ("bpb", kind))), \
            tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        if standin:
            from bench.b_churn import standin_engine

            engine = standin_engine()
        else:
            engine = KernelEngine()
        try:
            ctl = Controller(engine, Store(Path(tmp) / "state"), hosts_root=Path(tmp) / "etc", root=True)
            for net, parent, sub in (("bma", "bpa", "10.91.0"), ("bmb", "bpb", "10.92.0")):
                ctl.create_network(NetworkRequest(name=net, subnets=(f"{sub}.0/24",), gateways=(f"{sub}.1",),
                                                  options=(f"parent={parent}", "ipvlan_mode=l2")))
                for i in range(per_net):
                    ctl.run_endpoint(EndpointRequest(name=f"{prefix}{net[-1]}{i}", network=net))
            eps = [e for e in ctl.endpoints() if e.name.startswith(prefix)]
            n = len(eps)
            pairs = n * (n - 1)
            res = probe.matrix(eps, count=1, timeout=1.0)
            reach = sum(1 for r in res if r.reachable)
            log(f"matrix: {n} endpoints, {len(res)} pairs, {reach} reachable")
            ours_med, ours_runs = median_of(lambda: probe.matrix(eps, count=1, timeout=1.0),
                                            cfg.n_runs, cfg.warmup)

            by_name = {e.name: e for e in eps}
            same = [(a, b) for a in eps for b in eps if a is not b and a.network == b.network]
            cross = [(a, b) for a in eps for b in eps if a is not b and a.network != b.network]
            rng = random.Random(7)
            samples = {"reachable": rng.sample(same, min(sample_r, len(same))),
                       "unreachable": rng.sample(cross, min(sample_u, len(cross)))}
            means: dict[str, float] = {}
            outcomes: dict[str, list[int]] = {}
            for kind, chosen in samples.items():
                times = []
                codes = []
                for a, b in chosen:
                    t0 = time.perf_counter()
                    rc = subprocess.run(["ip", "netns", "exec", a.netns, "busybox", "ping", "-c", "1",
                                         "-W", "1", b.ipv4], capture_output=True).returncode
                    times.append(time.perf_counter() - t0)
                    codes.append(rc)
                means[kind] = sum(times) / len(times)
                outcomes[kind] = codes
            n_same, n_cross = len(same), len(cross)
            base = means["reachable"] * n_same + means["unreachable"] * n_cross
            ok_r = sum(1 for c in outcomes["reachable"] if c == 0)
            ok_u = sum(1 for c in outcomes["unreachable"] if c != 0)
            log(f"matrix: ours {ours_med:.3f} s; ping per pair: reachable {means['reachable']:.3f} s "
                f"({ok_r}/{len(outcomes['reachable'])} answered), unreachable {means['unreachable']:.3f} s "
                f"({ok_u}/{len(outcomes['unreachable'])} silent) -> {base:.1f} s extrapolated")
            note = (f"{reach}/{pairs} pairs reachable by ours; baseline extrapolated from a sample of "
                    f"{len(samples['reachable'])} reachable ({means['reachable'] * 1000:.0f} ms each) + "
                    f"{len(samples['unreachable'])} unreachable pairs ({means['unreachable'] * 1000:.0f} ms each)"
                    + ("; macvlan endpoints on veth parents stand in for ipvlan" if standin else ""))
            del by_name
            return [Result("matrix", pairs, ours_med, "ip netns exec SRC busybox ping -c1 -W1 DST per pair",
                           base, "<= 0.05", where=where, note=note, runs=cfg.n_runs, ours_runs=ours_runs)]
        finally:
            engine.close()
