"""`ipvlan-tui ping`: ICMP from inside an endpoint, with the predicted verdict.

Exit status as ping's: 0 replies received, 1 none, 2 bad input. With
--verdict: 0 when the result matches the prediction, 3 when it is
surprising. `--matrix`: every ordered pair, then the count of surprises
(exit 0 none, 3 some).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from typing import Sequence

from ipvlan_tui import expect, probe
from ipvlan_tui.errors import EngineError, IpvlanTuiError, ValidationError
from ipvlan_tui.model import Endpoint, Topology

EXIT_REPLY, EXIT_NONE, EXIT_BAD, EXIT_SURPRISE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        from ipvlan_tui.cli import UsageError
        raise UsageError(f"ipvlan-tui ping: {message} (see `ipvlan-tui ping --help`)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ipvlan-tui ping", allow_abbrev=False,
                description="ICMP echo sent from inside SRC's network namespace; TARGET is an "
                            "endpoint or container name, an address, or `parent`.")
    p.add_argument("--state-dir")
    p.add_argument("--demo", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--host", action="append", help=argparse.SUPPRESS)
    p.add_argument("-c", dest="count", type=int, default=3, help="echo requests (default 3)")
    p.add_argument("-i", dest="interval", type=float, default=1.0, help="seconds between requests")
    p.add_argument("-W", dest="timeout", type=float, default=1.0, help="seconds to wait for a reply")
    p.add_argument("-s", dest="size", type=int, default=56, help="payload bytes")
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4)
    fam.add_argument("-6", dest="family", action="store_const", const=6)
    p.add_argument("--verdict", action="store_true",
                   help="exit 0 when the result matches the prediction, 3 when surprising")
    p.add_argument("--matrix", action="store_true", help="every ordered pair of endpoints")
    p.add_argument("--net", help="with --matrix: only this network's endpoints")
    p.add_argument("--json", action="store_true", help="with --matrix: one JSON document")
    p.add_argument("src", nargs="?")
    p.add_argument("target", nargs="?")
    return p


def _all_endpoints(topo: Topology) -> list[Endpoint]:
    return [ep for net in topo.networks for ep in net.endpoints]


def _find(topo: Topology, name: str) -> Endpoint | None:
    for ep in _all_endpoints(topo):
        if ep.name == name:
            return ep
    return None


def _rtt(res: probe.PingResult) -> str:
    return f"{res.rtt_avg:.3f} ms" if res.rtt_avg is not None else "-"


def run_single(ctl, args, out, err) -> int:
    if not args.src or not args.target:
        print("ipvlan-tui ping: give SRC and TARGET (or --matrix)", file=err)
        return EXIT_BAD
    topo = ctl.topology()
    src = _find(topo, args.src)
    if src is None:
        names = ", ".join(sorted(e.name for e in _all_endpoints(topo))) or "none yet"
        print(f"error: SRC {args.src}: no such endpoint or container; known: {names}", file=err)
        return EXIT_BAD
    target: object = _find(topo, args.target)
    if target is None:
        if args.target == expect.PARENT:
            target = expect.PARENT
        else:
            try:
                target = str(ipaddress.ip_address(args.target))
            except ValueError:
                print(f"error: TARGET {args.target}: not an endpoint, container, address or "
                      f"`parent`", file=err)
                return EXIT_BAD
    try:
        exp = expect.predict(topo, src, target, family=args.family)
    except ValidationError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD
    if exp.address is None:
        res = probe.PingResult(src.name, args.target, "", 0, error=exp.reason)
    else:
        if not src.netns:
            print(f"error: {src.name} has no network namespace to send from "
                  f"(state {src.state})", file=err)
            return EXIT_BAD
        print(f"PING {args.target} ({exp.address}) from {src.name}: {args.size} data bytes",
              file=out)
        try:
            res = probe.ping(src.netns, exp.address, count=args.count, interval=args.interval,
                             timeout=args.timeout, size=args.size, source=src.name,
                             target=args.target)
        except ValueError as exc:
            print(f"error: {exc}", file=err)
            return EXIT_BAD
    print(probe.format_summary(res), file=out)
    kind, text = expect.verdict(exp, res)
    print(f"verdict: {text}", file=out)
    if args.verdict:
        return EXIT_OK_VERDICT if kind == "expected" else EXIT_SURPRISE
    return EXIT_REPLY if res.received else EXIT_NONE


EXIT_OK_VERDICT = 0


def run_matrix(ctl, args, out, err) -> int:
    topo = ctl.topology()
    eps = [e for e in _all_endpoints(topo)
           if (not args.net or e.network == args.net) and e.netns]
    if args.net and not any(n.spec.name == args.net for n in topo.networks):
        print(f"error: --net {args.net}: no such network", file=err)
        return EXIT_BAD
    if len(eps) < 2:
        print("error: the matrix needs at least two running endpoints", file=err)
        return EXIT_BAD
    by_name = {e.name: e for e in eps}
    results = probe.matrix(eps, family=args.family, count=1, timeout=args.timeout,
                           size=args.size)
    rows, docs, surprises = [], [], 0
    for res in results:
        a, b = by_name[res.source], by_name[res.target]
        exp = expect.predict(topo, a, b, family=args.family)
        kind, text = expect.verdict(exp, res)
        surprises += kind == "surprising"
        got = f"{res.received}/{res.sent}" if res.sent else "-"
        rows.append([a.name, b.name, res.address or "-", got, _rtt(res),
                     "yes" if exp.reachable else "no", kind.upper() if kind == "surprising"
                     else kind, exp.reason if kind == "expected" else text])
        docs.append({"source": a.name, "target": b.name, "address": res.address,
                     "sent": res.sent, "received": res.received, "rtt_avg_ms": res.rtt_avg,
                     "error": res.error, "predicted_reachable": exp.reachable,
                     "rule": exp.rule, "verdict": kind, "reason": text})
    if args.json:
        print(json.dumps({"pairs": docs, "count": len(docs), "surprises": surprises}, indent=2),
              file=out)
    else:
        from ipvlan_tui.cli import _table
        print(_table(rows, ["SOURCE", "TARGET", "ADDRESS", "REPLIES", "RTT", "PREDICTED",
                            "VERDICT", "REASON"]), file=out)
        print(f"{len(docs)} pairs, {surprises} surprising", file=out)
    return EXIT_SURPRISE if surprises else 0


def main(argv: Sequence[str], out, err) -> int:
    from ipvlan_tui.cli import UsageError
    try:
        args = build_parser().parse_args(list(argv))
    except UsageError as exc:
        print(exc, file=err)
        return EXIT_BAD
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if os.geteuid() != 0 and not args.demo:
        print("error: ping needs root: it enters the endpoint's network namespace "
              "(CAP_SYS_ADMIN) and opens a raw ICMP socket (CAP_NET_RAW); run it with sudo",
              file=err)
        return EXIT_BAD
    from ipvlan_tui.controller import open_controller
    try:
        ctl = open_controller(args.state_dir, demo=args.demo, engine=args.engine, hosts=args.host or ())
        return run_matrix(ctl, args, out, err) if args.matrix else run_single(ctl, args, out, err)
    except ValidationError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD
    except (EngineError, IpvlanTuiError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD
