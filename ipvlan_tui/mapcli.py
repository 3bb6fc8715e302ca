"""The map file commands: import-table, diff, apply, export.

cli.py wires them in: `add_parsers(subparsers)` inside build_parser() and
`HANDLERS` merged into cli.HANDLERS. Each handler is `fn(args, out, err) -> int`
and reports its own errors (so it also works called directly):
0 done / in sync, 1 not in sync (diff) or a unit failed (apply, rolled back),
2 bad map or bad input (nothing changed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ipvlan_tui import mapfile
from ipvlan_tui.errors import EngineError, IpvlanTuiError, PlanFailed, ValidationError
from ipvlan_tui.model import DEFAULT_FLAG, DEFAULT_MODE, FLAGS, MODES

EXIT_OK, EXIT_FAIL, EXIT_BAD = 0, 1, 2


def add_parsers(subparsers) -> None:
    """Register import-table, diff, apply and export on cli.build_parser()'s subparsers."""
    from ipvlan_tui.cli import _common

    it = subparsers.add_parser("import-table", allow_abbrev=False,
                               help="turn a NetOps table (vlan,subnet,gateway[,parent] per line) into a map file")
    _common(it, sub=True)
    it.add_argument("table", help="CSV file, or - for stdin")
    it.add_argument("-o", "--output", help="write the map here (default: stdout)")
    it.add_argument("--trunk", default="eth0", help="the 802.1q trunk link (default eth0)")
    it.add_argument("--name-format", default="vlan{vlan}",
                    help="network names, with {vlan} and {parent} (default vlan{vlan})")
    it.add_argument("--mode", choices=MODES, default=DEFAULT_MODE)
    it.add_argument("--flag", choices=FLAGS, default=DEFAULT_FLAG)
    it.add_argument("--no-check", action="store_true",
                    help="do not check the map against this host")

    df = subparsers.add_parser("diff", allow_abbrev=False,
                               help="what differs between a map file and this host (exit 0 in sync, 1 not, 2 bad map)")
    _common(df, sub=True)
    df.add_argument("map", help="map file (TOML), or - for stdin")
    df.add_argument("--all", action="store_true",
                    help="also list extra networks not made by ipvlan-tui (Docker's)")
    df.add_argument("--json", action="store_true")

    ap = subparsers.add_parser("apply", allow_abbrev=False,
                               help="create what a map file has and this host lacks")
    _common(ap, sub=True)
    ap.add_argument("map", help="map file (TOML), or - for stdin")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    ap.add_argument("--prune", action="store_true",
                    help="also remove networks (and managed endpoints) made by ipvlan-tui that the map lacks")
    ap.add_argument("--replace", action="store_true",
                    help="re-create drifted networks and endpoints from the map")

    ex = subparsers.add_parser("export", allow_abbrev=False,
                               help="the live networks as a map file, a compose networks: block, "
                                    "or docker network create lines")
    _common(ex, sub=True)
    ex.add_argument("names", nargs="*", metavar="NET", help="networks to export (default: all)")
    ex.add_argument("--format", choices=mapfile.FORMATS, default="toml")
    ex.add_argument("-o", "--output", help="write here (default: stdout)")
    ex.add_argument("--no-endpoints", action="store_true", help="toml: leave endpoints out")


def _ctl(args):
    from ipvlan_tui import cli
    return cli._ctl(args)


def _report(exc: ValidationError, err, source: str = "") -> None:
    problems = exc.errors
    where = f"{source}: " if source else ""
    if len(problems) == 1:
        print(f"error: {where}{problems[0]}", file=err)
    else:
        print(f"error: {where}{len(problems)} problems:", file=err)
        for p in problems:
            print(f"  {ValidationError.__str__(p)}", file=err)


def _guarded(fn):
    def run(args, out, err) -> int:
        try:
            return fn(args, out, err)
        except ValidationError as exc:
            _report(exc, err, getattr(args, "map", "") or "")
            print("nothing was changed", file=err)
            return EXIT_BAD
        except (PlanFailed, EngineError, IpvlanTuiError) as exc:
            print(f"error: {exc}", file=err)
            return EXIT_FAIL
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _read_text(path: str) -> tuple[str, str]:
    if path == "-":
        import sys
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8"), Path(path).name
    except FileNotFoundError:
        raise ValidationError(path, "", "no such file", "give the path of the NetOps CSV table") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(path, "", f"cannot be read: {exc}", "") from None


def _write(text: str, output: str | None, out) -> None:
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
    else:
        out.write(text)


@_guarded
def cmd_import_table(args, out, err) -> int:
    text, source = _read_text(args.table)
    engine = getattr(args, "engine", None) or "netns"
    toml_text = mapfile.import_table(text, source, trunk=args.trunk, name_format=args.name_format,
                                     engine=engine, mode=args.mode, flag=args.flag)
    _write(toml_text, args.output, out)
    target = args.output if args.output and args.output != "-" else "stdout"
    if args.output and args.output != "-":
        print(f"wrote {args.output}", file=err)
    if args.no_check:
        return EXIT_OK
    mf = mapfile.parse(toml_text, Path(args.output).name if args.output and args.output != "-" else source)
    ctl = _ctl(args)
    try:
        mapfile.check(mf, ctl.inventory(), ctl.networks())
    except ValidationError as exc:
        _report(exc, err, f"the map ({target}) as imported")
        print("fix these in the map (or the table) before `ipvlan-tui apply`", file=err)
        return EXIT_BAD
    print(f"checked against this host: {len(mf.networks)} network(s), no problems", file=err)
    return EXIT_OK


@_guarded
def cmd_diff(args, out, err) -> int:
    mf = mapfile.load(args.map)
    ctl = _ctl(args)
    d = mapfile.compute_diff(mf, ctl, include_all=args.all)
    if args.json:
        print(json.dumps({"map": mf.source, "in_sync": d.in_sync,
                          "changes": [c.as_dict() for c in d.changes]}, indent=2), file=out)
    else:
        print(d.render(), file=out)
    return EXIT_OK if d.in_sync else EXIT_FAIL


@_guarded
def cmd_apply(args, out, err) -> int:
    mf = mapfile.load(args.map)
    ctl = _ctl(args)
    d = mapfile.compute_diff(mf, ctl, prune=args.prune)
    res = mapfile.apply(ctl, d, dry_run=True, prune=args.prune, replace=args.replace)
    for line in res.left_alone:
        print(f"left alone: {line}", file=err)
    if res.nothing_to_do:
        n_eps = sum(len(e.endpoints or ()) for e in mf.networks)
        eps = f" and {n_eps} endpoint(s)" if n_eps else ""
        state = "matches" if d.in_sync else "has nothing more to apply from"
        print(f"nothing to do: this host {state} {mf.source} ({len(mf.networks)} network(s){eps}); "
              "no change made", file=out)
        return EXIT_OK
    print(res.plan.render(), file=out)
    if args.dry_run:
        print("dry run: nothing changed", file=out)
        return EXIT_OK
    res = mapfile.apply(ctl, d, prune=args.prune, replace=args.replace,
                        on_unit=lambda line, ok: print(line if ok else f"error: {line}",
                                                       file=out if ok else err))
    if res.failed:
        print(f"{len(res.done)} done, {len(res.failed)} failed (each failed one was rolled back)", file=err)
        return EXIT_FAIL
    print(f"applied {mf.source}: {len(res.done)} change(s)", file=out)
    return EXIT_OK


@_guarded
def cmd_export(args, out, err) -> int:
    ctl = _ctl(args)
    nets = ctl.networks()
    if args.names:
        by = {n.spec.name: n for n in nets}
        unknown = [n for n in args.names if n not in by]
        if unknown:
            raise ValidationError("NET", ", ".join(unknown), "no such network",
                                  "see `ipvlan-tui network ls` for the names")
        nets = [by[n] for n in args.names]
    if args.format == "toml":
        import socket
        text = mapfile.export_toml(nets, endpoints=not args.no_endpoints,
                                   comment=f"ipvlan-tui map, exported from {socket.gethostname()}\n"
                                           "re-create with: ipvlan-tui apply FILE")
    elif args.format == "compose":
        text = mapfile.export_compose(nets)
    else:
        text = mapfile.export_docker(nets)
    _write(text, args.output, out)
    return EXIT_OK


HANDLERS = {"import-table": cmd_import_table, "diff": cmd_diff, "apply": cmd_apply,
            "export": cmd_export}
