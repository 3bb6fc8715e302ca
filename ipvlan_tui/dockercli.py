"""CLI commands for the Docker engine and routing: network connect/disconnect, routes.

The lead's cli.py registers these parsers and calls the handlers:

    ipvlan-tui network connect [--ip A] [--ip6 B] [--dry-run] NET CONTAINER
    ipvlan-tui network disconnect [-f] [--dry-run] NET CONTAINER
    ipvlan-tui routes [--format ip|frr] [NET]

Handlers take (ctl, args, out, err) and return an exit code (0 done, 1
failed, 2 bad input); ValidationError/EngineError/PlanFailed propagate to
cli.main, which prints them and picks the exit code. They talk only to the
controller (and its Docker engine, `ctl.docker`).
"""

from __future__ import annotations

import argparse

from ipvlan_tui import routes as routesmod
from ipvlan_tui.errors import EngineError

EXIT_OK = 0


def _docker(ctl):
    docker = getattr(ctl, "docker", None)
    if docker is None:
        raise EngineError("Docker is not reachable", hint="start dockerd, or pass --host URL|CONTEXT")
    return docker


def _run(ctl, action: str, plan, dry_run: bool, out) -> None:
    if dry_run:
        print(plan.render(), file=out)
        return
    runner = getattr(ctl, "_run_plan", None)  # the controller logs what it ran
    if runner is not None:
        runner(action, plan, False, None)
    else:
        plan.execute()


# ----------------------------------------------------------------------------- parsers
def add_connect_parser(subparsers, common=None) -> argparse.ArgumentParser:
    p = subparsers.add_parser("connect", help="connect a Docker container to an ipvlan network",
                              allow_abbrev=False)
    if common is not None:
        common(p)
    p.add_argument("--ip", help="static IPv4 address on the network")
    p.add_argument("--ip6", help="static IPv6 address on the network")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("network", metavar="NET")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(dockercli_handler=cmd_connect)
    return p


def add_disconnect_parser(subparsers, common=None) -> argparse.ArgumentParser:
    p = subparsers.add_parser("disconnect", help="disconnect a Docker container from an ipvlan network",
                              allow_abbrev=False)
    if common is not None:
        common(p)
    p.add_argument("-f", "--force", action="store_true", help="force the disconnection")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("network", metavar="NET")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(dockercli_handler=cmd_disconnect)
    return p


def add_routes_parser(subparsers, common=None) -> argparse.ArgumentParser:
    p = subparsers.add_parser("routes", help="routes other hosts or the router need for L3/L3S networks",
                              allow_abbrev=False)
    if common is not None:
        common(p)
    p.add_argument("--format", choices=routesmod.FORMATS, default="ip",
                   help="ip: `ip route add` lines; frr: an FRR static-route snippet")
    p.add_argument("network", metavar="NET", nargs="?", help="only this network")
    p.set_defaults(dockercli_handler=cmd_routes)
    return p


# ----------------------------------------------------------------------------- handlers
def cmd_connect(ctl, args, out, err) -> int:
    docker = _docker(ctl)
    ep, plan = docker.plan_connect(args.network, args.container, ipv4=args.ip or None,
                                   ipv6=args.ip6 or None)
    _run(ctl, plan.title, plan, args.dry_run, out)
    if not args.dry_run:
        now = docker.endpoint(ep.name) or ep
        addrs = " ".join(a for a in (now.ipv4, now.ipv6) if a)
        print(f"{ep.name}\t{ep.network}\t{addrs}".rstrip(), file=out)
    return EXIT_OK


def cmd_disconnect(ctl, args, out, err) -> int:
    docker = _docker(ctl)
    ep, plan = docker.plan_disconnect(args.network, args.container, force=getattr(args, "force", False))
    _run(ctl, plan.title, plan, args.dry_run, out)
    if not args.dry_run:
        print(f"{ep.name}\t{ep.network}", file=out)
    return EXIT_OK


def cmd_routes(ctl, args, out, err) -> int:
    specs = [n.spec for n in ctl.networks()]
    only = getattr(args, "network", None)
    if only is not None and only not in {s.name for s in specs}:
        from ipvlan_tui.errors import ValidationError

        raise ValidationError("network", only, "no such network", "see `ipvlan-tui network ls` for the names")
    found, skipped = routesmod.needed_routes(specs, ctl.inventory(), only=only)
    print(routesmod.render(getattr(args, "format", "ip") or "ip", found, skipped), file=out)
    return EXIT_OK
