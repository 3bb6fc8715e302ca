"""CLI commands for the Docker engine and routing: network connect/disconnect, routes.

The lead's cli.py registers these parsers and calls the handlers:

    ipvlan-tui network connect [--ip A] [--ip6 B] [--dry-run] NET CONTAINER
    ipvlan-tui network disconnect [-f] [--dry-run] NET CONTAINER
    ipvlan-tui routes [--format ip|frr] [NET]
    ipvlan-tui network create --hosts A,B[,C...] [create flags] NET
    ipvlan-tui network rm --hosts A,B[,C...] [-f] NET
    ipvlan-tui network create --config-only [create flags] CFG       (on each swarm node)
    ipvlan-tui network create --config-from CFG [--scope swarm] [--attachable] NET
    ipvlan-tui --host A --host B network ls|inspect | ps    (list_across: every daemon, labelled)

Handlers take (ctl, args, out, err) and return an exit code (0 done, 1
failed, 2 bad input); ValidationError/EngineError/PlanFailed propagate to
cli.main, which prints them and picks the exit code. They talk only to the
controller (and its Docker engine, `ctl.docker`).
"""

from __future__ import annotations

import argparse
import dataclasses
import socket

from ipvlan_tui import hostlisting, multihost
from ipvlan_tui import routes as routesmod
from ipvlan_tui import spec as specmod
from ipvlan_tui.errors import EngineError, ValidationError, ValidationErrors
from ipvlan_tui.plan import Plan

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
        # The container as it is on *this* network (endpoint() reports its first ipvlan network).
        net = docker.network(ep.network)
        now = next((e for e in (net.endpoints if net else ()) if e.name == ep.name), ep)
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
    # A network on another machine's daemon gets no next hop from this machine's links.
    docker = getattr(ctl, "docker", None)
    urls = {docker.host_label: docker.base_url} if docker is not None and docker.base_url else {}
    found, skipped = routesmod.needed_routes(specs, ctl.inventory(), only=only, urls=urls,
                                             local_names=(socket.gethostname(),))
    print(routesmod.render(getattr(args, "format", "ip") or "ip", found, skipped), file=out)
    return EXIT_OK


# ----------------------------------------------------------------------------- --hosts
def _engines(hosts):
    """One DockerEngine per host, each checked reachable before anything is planned."""
    from ipvlan_tui.engines.docker import engines_for

    engines = engines_for(hosts)
    down = [(e.host_label, e.status()) for e in engines]
    down = [(h, why) for h, why in down if why != "ok"]
    if down:
        for e in engines:
            e.close()
        raise EngineError("; ".join(f"{h}: {why}" for h, why in down),
                          hint="nothing was changed on any host; fix or drop that host from --hosts")
    return engines


def _on_host(exc: ValidationError, host: str) -> ValidationError:
    """The same validation error, saying which host refused."""
    errs = [e if f"on {host}" in e.problem else ValidationError(e.field, e.value, f"on {host}: {e.problem}", e.fix)
            for e in exc.errors]
    return errs[0] if len(errs) == 1 else ValidationErrors(errs)


def _check_parent_free(spec, others, host: str) -> None:
    """One ipvlan network per parent, on each host. spec.validate_network checks it only for a
    parent that exists in *this* machine's kernel; a remote host's eth0.20 is not there."""
    p = spec.parent
    if p is None or p.kind == "dummy":
        return
    holder = next((o for o in others if o.parent is not None and o.parent.kind != "dummy"
                   and o.parent.name == p.name), None)
    if holder is not None:
        raise ValidationError("-o parent", p.name, f"on {host}: is already the parent of ipvlan network "
                              f"{holder.name} (one ipvlan network per parent)",
                              f"add the subnet to {holder.name} with --subnet instead, or use another VLAN "
                              f"such as {p.base or p.name}.N")


def _prefixed(plan: Plan, host: str, extra: str = "") -> list:
    return [dataclasses.replace(st, description=f"[{host}] {st.description}{extra}") for st in plan.steps]


def plan_create_across(ctl, req, hosts, engines=None, config_only=False):
    """The same network on every host, host i allocating only from slice i of each subnet.

    Validated against each daemon's own networks (name, parent, subnets) and
    this machine's links; every host's plan is built before anything runs, and
    the one combined plan rolls back the hosts already done when a later one fails.
    Returns (specs per host, plan, engines).
    """
    hosts = multihost.parse_hosts(hosts)
    engines = engines if engines is not None else _engines(hosts)
    inv = ctl.kernel.inventory()
    base = None
    for eng in engines:
        others = [n.spec for n in eng.networks()]
        try:
            spec = specmod.validate_network(req, inv, others)
        except ValidationError as exc:
            raise _on_host(exc, eng.host_label) from None
        _check_parent_free(spec, others, eng.host_label)
        base = base or spec
    specs = multihost.slice_specs(base, [e.host_label for e in engines])
    assert multihost.disjoint(specs)
    steps = []
    for eng, spec in zip(engines, specs):
        try:
            plan = eng.plan_config_only_create(spec) if config_only else eng.plan_network_create(spec)
        except ValidationError as exc:
            raise _on_host(exc, eng.host_label) from None
        steps.extend(_prefixed(plan, eng.host_label, f"; allocates only from {multihost.slice_text(spec)}"))
    kind = "--config-only " if config_only else ""
    return specs, Plan(f"network create {kind}{req.name} on {len(engines)} hosts", steps), engines


def cmd_create_across(ctl, req, hosts, args, out, err) -> int:
    hosts = multihost.parse_hosts(hosts)
    engines = _engines(hosts)
    try:
        if getattr(args, "config_from", None) or getattr(args, "scope", None) \
                or getattr(args, "attachable", False):
            raise ValidationError("--hosts", ",".join(hosts), "goes with --config-only (one per node), not with "
                                  "--config-from/--scope/--attachable",
                                  "create the --config-from network once, on a swarm manager, with --host")
        specs, plan, _ = plan_create_across(ctl, req, hosts, engines,
                                            config_only=getattr(args, "config_only", False))
        for w in specs[0].warnings:
            print(f"warning: {w}", file=err)
        if args.dry_run:
            print(plan.render(), file=out)
            return EXIT_OK
        ctl._require_change()
        _run(ctl, plan.title, plan, False, out)
        for eng, spec in zip(engines, specs):
            made = eng.api.inspect_network(spec.name)
            print(f"{eng.host_label}\t{made.get('Id', '?')}\t{multihost.slice_text(spec)}", file=out)
        return EXIT_OK
    finally:
        for eng in engines:
            eng.close()


def cmd_rm_across(ctl, names, hosts, args, out, err) -> int:
    """`network rm --hosts A,B NET`: every host must hold NET; planned on all before any runs."""
    hosts = multihost.parse_hosts(hosts)
    engines = _engines(hosts)
    try:
        for name in names:
            steps = []
            for eng in engines:
                try:
                    _, plan = eng.plan_network_remove(name, force=args.force)
                except ValidationError as exc:
                    raise _on_host(exc, eng.host_label) from None
                steps.extend(_prefixed(plan, eng.host_label))
            plan = Plan(f"network rm {name} on {len(engines)} hosts", steps)
            if args.dry_run:
                print(plan.render(), file=out)
                continue
            ctl._require_change()
            _run(ctl, plan.title, plan, False, out)
            print(name, file=out)
        return EXIT_OK
    finally:
        for eng in engines:
            eng.close()


# ----------------------------------------------------------------------------- --host A --host B
def list_across(hosts) -> list[hostlisting.HostListing]:
    """Every daemon's ipvlan networks and containers, one engine per --host value (a URL or a
    Docker context name), asked at once; a daemon that cannot be asked is a listing with its
    error, and the others still list. A name that is neither URL nor context: ValidationError."""
    from ipvlan_tui.engines.docker import engines_for

    engines = engines_for(hosts)
    try:
        return hostlisting.list_hosts(engines)
    finally:
        for eng in engines:
            eng.close()


def daemon_url(host: str) -> str | None:
    """One --host value as the daemon URL (a Docker context name resolved to its endpoint)."""
    from ipvlan_tui.engines.docker import resolve_host

    return resolve_host(host)


# ----------------------------------------------------------------------------- swarm
def add_swarm_create_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-only", action="store_true",
                   help="Docker: only hold parent and IPAM for a --config-from network (per swarm node)")
    p.add_argument("--config-from", metavar="CFG",
                   help="Docker: take parent and IPAM from the --config-only network CFG")
    p.add_argument("--scope", choices=("local", "swarm"), help="Docker: with --config-from (default swarm)")
    p.add_argument("--attachable", action="store_true",
                   help="Docker: plain `docker run` containers may join the swarm network")


def is_config_create(args) -> bool:
    return bool(getattr(args, "config_only", False) or getattr(args, "config_from", None)
                or getattr(args, "scope", None) or getattr(args, "attachable", False))


def _config_from_rules(req, args) -> None:
    """Docker's rule: a --config-from network carries nothing of its own but the operator fields."""
    fix = f"put it on the --config-only network {args.config_from} instead"
    own = (("--subnet", req.subnets), ("--gateway", req.gateways), ("--ip-range", req.ip_ranges),
           ("--aux-address", req.aux_addresses), ("-o", req.options))
    for field, values in own:
        if values:
            raise ValidationError(field, values[0], f"is not allowed with --config-from (the network takes "
                                  f"its configuration from {args.config_from})", fix)
    if req.ipv6:
        raise ValidationError("--ipv6", "", "is not allowed with --config-from", fix)
    if args.config_only:
        raise ValidationError("--config-only", "", "cannot be combined with --config-from (a configuration "
                              "network cannot depend on another one)", "drop one of the two")
    if req.driver != "ipvlan":
        raise ValidationError("-d", req.driver, "is not ipvlan; this tool builds ipvlan networks only",
                              "use -d ipvlan")


def cmd_create_config(ctl, req, args, out, err) -> int:
    """`network create --config-only ...` or `network create --config-from CFG [--scope swarm] NET`."""
    docker = _docker(ctl)
    if args.config_from:
        _config_from_rules(req, args)
        plan = docker.plan_config_from_create(req.name, args.config_from, scope=args.scope or "swarm",
                                              attachable=args.attachable, internal=req.internal)
    elif args.config_only:
        for field, on in (("--scope", args.scope), ("--attachable", args.attachable), ("--internal", req.internal)):
            if on:
                raise ValidationError(field, on if isinstance(on, str) else "",
                                      "is not allowed on a --config-only network (Docker: operator fields "
                                      "are not supported there)", "put it on the --config-from network instead")
        spec = ctl.validate_network(dataclasses.replace(req, engine="docker"))
        plan = docker.plan_config_only_create(spec)
    else:
        field = "--scope" if args.scope else "--attachable"
        raise ValidationError(field, args.scope or "", "only applies to a --config-from network",
                              "add --config-from CFG (a --config-only network), or drop it")
    if args.dry_run:
        print(plan.render(), file=out)
        return EXIT_OK
    ctl._require_change()
    _run(ctl, plan.title, plan, False, out)
    info = docker.api.inspect_network(req.name)
    print(info.get("Id", ""), file=out)
    return EXIT_OK
