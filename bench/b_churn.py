"""Benchmark 2: endpoint churn: create then remove N netns endpoints on one network.

ours:     Controller.run_endpoint() N times, then remove_endpoint() N times
          (KernelEngine, a Store in a temp dir, hosts files in a temp dir)
ip:       the same steps as `ip` commands in a generated script run with `sh FILE`
          (netns add, link add ... netns NS type ipvlan mode l2, lo up, eth0 up,
          addr add, route add default via, then netns del)
floor:    a minimal pyroute2 script sending the same netlink requests with no
          validation and no store: namespace made by a thread (unshare +
          bind mount, no fork), link created straight into it (IFLA_NET_NS_FD),
          then an IPRoute opened inside the namespace for lo/eth0 up, address,
          default route; removal = umount + unlink.
Needs ipvlan: runs in the lab VM.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import tempfile
import threading
from pathlib import Path

from bench import nsenv
from bench.common import Config, Result, log, med, timed, unique

SUBNET = "10.88.0.0/16"
GATEWAY = "10.88.0.1"
SIZES = (50, 200)
LAB_SIZES = (10, 20)  # under TCG every `ip` process costs 1-2 s: the script at N=200 would take an hour
QUICK_SIZES = (5,)

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2


def _addr(i: int) -> str:
    i += 2  # .0.0 is the network, .0.1 the gateway
    return f"10.88.{i // 256}.{i % 256}"


# ----------------------------------------------------------------------------- ip script
def write_script(path: Path, names: list[str], parent: str, kind: str = "ipvlan mode l2") -> None:
    lines = ["set -e"]
    for i, ns in enumerate(names):
        lines += [
            f"ip netns add {ns}",
            f"ip link add link {parent} name eth0 netns {ns} type {kind}",
            f"ip -n {ns} link set lo up",
            f"ip -n {ns} link set eth0 up",
            f"ip -n {ns} addr add {_addr(i)}/16 dev eth0",
            f"ip -n {ns} route add default via {GATEWAY}",
        ]
    lines += [f"ip netns del {ns}" for ns in names]
    path.write_text("\n".join(lines) + "\n")


def run_script(path: Path) -> None:
    subprocess.run(["sh", str(path)], check=True, capture_output=True)


# ----------------------------------------------------------------------------- pyroute2 floor
def _in_thread(fn):
    box: dict = {}

    def body():
        try:
            box["v"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["e"] = exc

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box.get("v")


def _floor_create_ns(name: str) -> None:
    path = f"/run/netns/{name}"

    def body():
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None) != 0:
            raise OSError(ctypes.get_errno(), "mount")
        # the thread ends inside the namespace; the bind mount keeps it

    _in_thread(body)


def _floor_remove_ns(name: str) -> None:
    path = f"/run/netns/{name}"
    _libc.umount2(path.encode(), MNT_DETACH)
    os.unlink(path)


def floor(names: list[str], parent: str, standin: bool = False) -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        pidx = ipr.link_lookup(ifname=parent)[0]
        for i, ns in enumerate(names):
            _floor_create_ns(ns)
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if standin:
                    ipr.link("add", ifname="eth0", kind="macvlan", link=pidx, net_ns_fd=fd, macvlan_mode="bridge")
                else:
                    ipr.link("add", ifname="eth0", kind="ipvlan", link=pidx, net_ns_fd=fd, ipvlan_mode=0)

                def configure(fd=fd, i=i):
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                    with IPRoute() as nr:
                        idx = nr.link_lookup(ifname="eth0")[0]
                        nr.link("set", index=1, state="up")
                        nr.link("set", index=idx, state="up")
                        nr.addr("add", index=idx, address=_addr(i), prefixlen=16)
                        nr.route("add", dst="0.0.0.0/0", gateway=GATEWAY)

                _in_thread(configure)
            finally:
                os.close(fd)
    for ns in names:
        _floor_remove_ns(ns)


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# ----------------------------------------------------------------------------- ours
def standin_engine():
    """A KernelEngine whose endpoint links are macvlan (bridge) links: for hosts without ipvlan."""
    from ipvlan_tui.engines.kernel import KernelEngine

    class MacvlanEndpoints(KernelEngine):
        def create_endpoint_link(self, netns, parent, mode="l2", flag="bridge", ifname="eth0", **kw):
            kw.setdefault("link_kind", "macvlan")
            return super().create_endpoint_link(netns, parent, mode, "bridge", ifname, **kw)

    return MacvlanEndpoints()


def make_controller(tmp: str, parent: str, net: str = "bnet", standin: bool = False):
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.kernel import KernelEngine
    from ipvlan_tui.model import NetworkRequest
    from ipvlan_tui.store import Store

    engine = standin_engine() if standin else KernelEngine()
    ctl = Controller(engine, Store(Path(tmp) / "state"), hosts_root=Path(tmp) / "netns-etc", root=True)
    ctl.create_network(NetworkRequest(name=net, subnets=(SUBNET,), gateways=(GATEWAY,),
                                      options=(f"parent={parent}", "ipvlan_mode=l2")))
    return ctl, engine


def ours(ctl, names: list[str], net: str = "bnet") -> None:
    from ipvlan_tui.model import EndpointRequest

    for ns in names:
        ctl.run_endpoint(EndpointRequest(name=ns, network=net))
    for ns in names:
        ctl.remove_endpoint(ns)


def run(cfg: Config, *, where: str, standin: bool = False, lab: bool = False) -> list[Result]:
    results: list[Result] = []
    runs = 1 if lab else min(cfg.n_runs, 3)
    sizes = QUICK_SIZES if cfg.quick else (LAB_SIZES if lab else SIZES)
    parent = "bpar0"
    prefix = unique("bc")
    kind = "macvlan mode bridge" if standin else "ipvlan mode l2"
    with nsenv.disposable_host(prefix, ((parent, "veth" if standin else "dummy"),)) as tracker, \
            tempfile.TemporaryDirectory(prefix="bench-churn-") as tmp:
        ctl, engine = make_controller(tmp, parent, standin=standin)
        try:
            for n in sizes:
                names = [f"{prefix}{i}" for i in range(n)]
                script = Path(tmp) / f"churn{n}.sh"
                write_script(script, names, parent, kind)
                fns = {"ours": lambda: ours(ctl, names), "ip": lambda: run_script(script),
                       "floor": lambda: floor(names, parent, standin)}
                times: dict[str, list[float]] = {k: [] for k in fns}
                cpu: dict[str, list[float]] = {k: [] for k in fns}
                settled: list[float] = []
                # warm-up once at the smallest size only (each run at N=200 takes long under TCG)
                warm = cfg.warmup if n == sizes[0] and not lab else 0
                for i in range(warm + runs):
                    for key, fn in fns.items():
                        waited = nsenv.settle()  # the previous contender's namespace teardown, untimed
                        settled.append(waited)
                        c0 = _cpu()
                        try:
                            t = timed(fn)
                        finally:
                            left = tracker.ours()
                            if left:  # a failed run: clean up before the next contender
                                log(f"churn: {len(left)} namespaces left after {key}; deleting")
                                nsenv.delete_namespaces(left)
                                for ep, _ in ctl.store.endpoints():
                                    ctl.store.delete_endpoint(ep.name)
                        if i >= warm:
                            times[key].append(t)
                            cpu[key].append(_cpu() - c0)
                    log(f"churn N={n} run {i}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v))
                o, s, f = med(times["ours"]), med(times["ip"]), med(times["floor"])
                note = ("create + remove; " + f"{o / n * 1000:.1f} ms per endpoint (ours), "
                        f"{s / n * 1000:.1f} (ip script), {f / n * 1000:.1f} (floor)"
                        + ("; macvlan endpoints on a veth parent stand in for ipvlan" if standin else "")
                        + ("; no warm-up (each ip process costs 1-2 s under TCG)" if lab else "")
                        + f"; before each contender, untimed: waited for the kernel to finish tearing down the "
                          f"namespaces deleted so far (nsenv.settle, up to {max(settled):.1f} s)"
                        + "; CPU seconds (process + children, median): "
                        + ", ".join(f"{k} {med(v):.2f}" for k, v in cpu.items())
                        + f"; CPU ratios: ours/ip {med(cpu['ours']) / med(cpu['ip']):.2f}, "
                          f"ours/floor {med(cpu['ours']) / med(cpu['floor']):.2f}")
                results.append(Result("churn.vs_ip_script", n, o, "sh FILE of ip commands", s, "<= 0.33",
                                      where=where, note=note, runs=runs, ours_runs=times["ours"],
                                      baseline_runs=times["ip"]))
                results.append(Result("churn.vs_pyroute2_floor", n, o, "minimal pyroute2 script (floor)", f,
                                      "<= 1.5", where=where, note=note, runs=runs, ours_runs=times["ours"],
                                      baseline_runs=times["floor"]))
        finally:
            engine.close()
    return results
