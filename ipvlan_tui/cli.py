"""Headless front end with Docker's flag names. Talks only to the controller.

Exit codes: 0 done, 1 failure (rolled back), 2 bad input (nothing changed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from ipvlan_tui import dockercli, hostlisting, mapcli
from ipvlan_tui.errors import EngineError, IpvlanTuiError, PlanFailed, ValidationError
from ipvlan_tui.model import ENGINE_DOCKER, ENGINE_NETNS, EndpointRequest, NetworkRequest

EXIT_OK, EXIT_FAIL, EXIT_BAD = 0, 1, 2


class UsageError(Exception):
    """Bad command-line words: one line for the caller's stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its usage errors become one clear line and exit 2."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _common(p: argparse.ArgumentParser, sub: bool) -> None:
    d = argparse.SUPPRESS if sub else None
    p.add_argument("--state-dir", default=d, help="where the store lives (default /var/lib/ipvlan-tui, "
                   "or $IPVLAN_TUI_STATE_DIR)")
    p.add_argument("--engine", choices=(ENGINE_NETNS, ENGINE_DOCKER),
                   default=d if sub else ENGINE_NETNS,
                   help="engine for commands that change things (default netns)")
    # After the command word the values go to sub_host: argparse would otherwise let
    # `--host A network ls --host B` forget A (main() joins the two lists).
    p.add_argument("--host", action="append", default=d, dest="sub_host" if sub else "host",
                   help="Docker daemon URL or context (repeatable: network ls, network inspect "
                        "and ps list every daemon given; other commands take one)")
    p.add_argument("--demo", action="store_true", default=d if sub else False,
                   help="use an in-memory demo kernel (nothing on this machine is touched)")


def _listing_hosts_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hosts", action="append", default=[], metavar="A,B[,C...]",
                   help="list these Docker daemons too (URLs or contexts), each row labelled with its host")


def build_parser() -> argparse.ArgumentParser:
    top = _Parser(prog="ipvlan-tui", allow_abbrev=False,
                  description="ipvlan networks, 802.1q VLANs and endpoints, with Docker's flag names. "
                              "With no command, the console starts.")
    _common(top, sub=False)
    cmds = top.add_subparsers(dest="cmd", parser_class=_Parser)

    net = cmds.add_parser("network", help="create, remove, list, inspect networks", allow_abbrev=False)
    netcmds = net.add_subparsers(dest="netcmd", parser_class=_Parser)
    c = netcmds.add_parser("create", help="create an ipvlan network", allow_abbrev=False)
    _common(c, sub=True)
    c.add_argument("-d", "--driver", default="ipvlan")
    c.add_argument("--subnet", action="append", default=[])
    c.add_argument("--gateway", action="append", default=[])
    c.add_argument("--ip-range", action="append", default=[])
    c.add_argument("--aux-address", action="append", default=[], metavar="NAME=IP")
    c.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="parent=IFACE, ipvlan_mode=l2|l3|l3s, ipvlan_flag=bridge|private|vepa")
    c.add_argument("--internal", action="store_true")
    c.add_argument("--ipv6", action="store_true")
    c.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    c.add_argument("--hosts", action="append", default=[], metavar="A,B[,C...]",
                   help="the same network on each of these Docker daemons (URLs or contexts), the "
                        "subnet split into one disjoint --ip-range slice per host (implies --engine docker)")
    dockercli.add_swarm_create_args(c)
    c.add_argument("name")
    r = netcmds.add_parser("rm", help="remove networks", allow_abbrev=False)
    _common(r, sub=True)
    r.add_argument("-f", "--force", action="store_true", help="also remove attached endpoints")
    r.add_argument("--allow-host-cutoff", action="store_true",
                   help="delete a parent ipvlan-tui made even though the host now uses it "
                        "(its addresses, routes or links on it): this can cut the host off")
    r.add_argument("--dry-run", action="store_true")
    r.add_argument("--hosts", action="append", default=[], metavar="A,B[,C...]",
                   help="remove the network from each of these Docker daemons")
    r.add_argument("names", nargs="+")
    ls = netcmds.add_parser("ls", help="list networks", allow_abbrev=False)
    _common(ls, sub=True)
    ls.add_argument("--json", action="store_true")
    _listing_hosts_arg(ls)
    ins = netcmds.add_parser("inspect", help="show networks in detail", allow_abbrev=False)
    _common(ins, sub=True)
    ins.add_argument("--json", action="store_true")
    _listing_hosts_arg(ins)
    ins.add_argument("names", nargs="+")
    sub_common = lambda p: _common(p, sub=True)  # noqa: E731
    dockercli.add_connect_parser(netcmds, common=sub_common)
    dockercli.add_disconnect_parser(netcmds, common=sub_common)

    run = cmds.add_parser("run", help="attach a new endpoint (namespace with an ipvlan eth0)",
                          allow_abbrev=False)
    _common(run, sub=True)
    run.add_argument("--net", "--network", dest="net", required=True)
    run.add_argument("--ip")
    run.add_argument("--ip6")
    run.add_argument("--name")
    run.add_argument("-i", "--interactive", action="store_true", help="accepted for docker parity")
    run.add_argument("-t", "--tty", action="store_true", help="accepted for docker parity")
    run.add_argument("-d", "--detach", action="store_true", help="accepted for docker parity")
    run.add_argument("--rm", action="store_true", help="accepted for docker parity")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("image", nargs="?", help="image (docker engine); ignored by the netns engine")
    run.add_argument("command", nargs=argparse.REMAINDER)

    ex = cmds.add_parser("exec", help="run a command inside an endpoint", allow_abbrev=False)
    _common(ex, sub=True)
    ex.add_argument("name")
    ex.add_argument("command", nargs=argparse.REMAINDER)

    rm = cmds.add_parser("rm", help="remove endpoints", allow_abbrev=False)
    _common(rm, sub=True)
    rm.add_argument("-f", "--force", action="store_true", help="accepted for docker parity")
    rm.add_argument("--dry-run", action="store_true")
    rm.add_argument("names", nargs="+")

    ps = cmds.add_parser("ps", help="list endpoints", allow_abbrev=False)
    _common(ps, sub=True)
    ps.add_argument("--json", action="store_true")
    _listing_hosts_arg(ps)

    ln = cmds.add_parser("links", help="parents and VLAN sub-interfaces with their owners",
                         allow_abbrev=False)
    _common(ln, sub=True)
    ln.add_argument("--json", action="store_true")
    ln.add_argument("--all", action="store_true", help="every link in every namespace")

    rs = cmds.add_parser("restore", help="re-create missing links and namespaces; report orphans",
                         allow_abbrev=False)
    _common(rs, sub=True)
    rs.add_argument("--dry-run", action="store_true")

    dockercli.add_routes_parser(cmds, common=sub_common)
    mapcli.add_parsers(cmds)

    cmds.add_parser("lab", help="the kernel lab VM: setup, exec, shell", add_help=False)
    cmds.add_parser("ping", help="ICMP from inside an endpoint, with the predicted verdict",
                    add_help=False)
    return top


# ----------------------------------------------------------------------------- output
def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(c))) for w, c in zip(widths, row)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("   ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def network_to_dict(net) -> dict:
    spec = net.spec
    return {
        "Name": spec.name,
        "Id": spec.network_id,
        "Driver": "ipvlan",
        "Engine": spec.engine,
        "Host": spec.host or "local",
        "EnableIPv6": spec.ipv6,
        "Internal": spec.internal,
        "Isolated": spec.isolated,
        "IPAM": {"Config": [
            {k: v for k, v in (("Subnet", s.cidr), ("Gateway", s.gateway),
                               ("IPRange", s.ip_range),
                               ("AuxiliaryAddresses", dict(s.aux_addresses) or None)) if v}
            for s in spec.subnets]},
        "Options": {"parent": spec.parent.name if spec.parent else "",
                    "ipvlan_mode": spec.mode, "ipvlan_flag": spec.flag},
        "Parent": {"name": spec.parent.name, "kind": spec.parent.kind,
                   "created_by_ipvlan_tui": spec.parent.create,
                   "vlan_id": spec.parent.vlan_id, "base": spec.parent.base} if spec.parent else None,
        "CreatedLinks": list(net.created_links),
        "Containers": {e.name: {"IPv4Address": e.ipv4, "IPv6Address": e.ipv6,
                                "Namespace": e.netns, "State": e.state} for e in net.endpoints},
        "Warnings": list(spec.warnings),
    }


def _print_networks(nets, as_json: bool, out) -> None:
    if as_json:
        print(json.dumps([network_to_dict(n) for n in nets], indent=2), file=out)
        return
    rows = [[n.spec.network_id[:12], n.spec.name, "ipvlan", n.spec.engine, n.spec.host or "local",
             f"{n.spec.mode} {n.spec.flag}", n.spec.parent.name if n.spec.parent else "",
             ",".join(s.cidr for s in n.spec.subnets), str(len(n.endpoints))] for n in nets]
    print(_table(rows, ["NETWORK ID", "NAME", "DRIVER", "ENGINE", "HOST", "MODE", "PARENT",
                        "SUBNETS", "ENDPOINTS"]), file=out)


def _print_endpoints(eps, as_json: bool, out) -> None:
    if as_json:
        print(json.dumps([{"Name": e.name, "Network": e.network, "Engine": e.engine,
                           "Host": e.host or "local", "IPv4": e.ipv4, "IPv6": e.ipv6, "Namespace": e.netns,
                           "State": e.state} for e in eps], indent=2), file=out)
        return
    rows = [[e.name, e.engine, e.host or "local", e.network, e.ipv4 or "", e.ipv6 or "", e.state]
            for e in eps]
    print(_table(rows, ["NAME", "ENGINE", "HOST", "NETWORK", "IPV4", "IPV6", "STATE"]), file=out)


def _print_plan(result, out) -> None:
    print(result.plan.render(), file=out)


# ----------------------------------------------------------------------------- commands
def _console_hosts(args) -> list[str]:
    """The one --host (if any) as the daemon URL the controller connects to: a Docker
    context name (or "local") resolved. main() refused more than one for every command but
    the listings."""
    hosts = list(args.host or ())[:1]
    if hosts and not args.demo and "://" not in hosts[0]:
        url = dockercli.daemon_url(hosts[0])
        hosts = [url] if url else []
    return hosts


def _ctl(args):
    from ipvlan_tui.controller import open_controller
    return open_controller(args.state_dir, demo=args.demo, engine=args.engine, hosts=_console_hosts(args))


def _local_ctl(args):
    """This machine's controller for the netns side of a multi-daemon listing; the daemons
    themselves are asked by dockercli.list_across, one engine each."""
    from ipvlan_tui.controller import open_controller
    ctl = open_controller(args.state_dir, demo=args.demo, engine=ENGINE_NETNS, hosts=())
    ctl.docker = None  # the local default daemon is listed only when given as a --host (e.g. local)
    return ctl


# ----------------------------------------------------------------------------- several daemons
# Commands that list every --host given; every other command works on one daemon.
LISTINGS = (("network", "ls"), ("network", "inspect"), ("ps", None))


def _listing_hosts(args) -> list[str] | None:
    """The daemons a listing asks when there are several (or --hosts was used), else None
    (one --host or none: the controller lists, as for every other command)."""
    hosts = hostlisting.listing_hosts(args.host or [], getattr(args, "hosts", None) or [])
    return hosts if len(hosts) > 1 or getattr(args, "hosts", None) else None


def _refuse_many_hosts(args) -> None:
    hosts = args.host or []
    where = (args.cmd, getattr(args, "netcmd", None))
    if len(hosts) < 2 or args.cmd is None or where in LISTINGS:
        return
    what = " ".join(w for w in where if w)
    raise ValidationError("--host", " ".join(hosts),
                          f"names {len(hosts)} Docker daemons, but `{what}` works on one; nothing was changed",
                          "pick one --host (network ls, network inspect and ps list several; "
                          "network create and network rm take --hosts A,B to act on each)")


def _across(args, err):
    """(this machine's controller, every daemon's listing, exit code) for a listing of several
    daemons. Each daemon that could not be listed is named on one line of stderr; the exit
    code is 1 only when none of them could be (the others' rows are worth having)."""
    listings = dockercli.list_across(_listing_hosts(args))
    down = [l for l in listings if not l.ok]
    rest = "no daemon could be listed" if len(down) == len(listings) else "the other daemons are listed"
    for l in down:
        print(f"error: --host {l.host}: not listed: {l.error} ({rest})", file=err)
    return _local_ctl(args), listings, (EXIT_FAIL if down and len(down) == len(listings) else EXIT_OK)


def _inspect_across(args, out, err) -> int:
    """Each name on every daemon that has it (and here, for a netns network), each labelled."""
    ctl, listings, code = _across(args, err)
    local = ctl.networks()
    found = []
    for name in args.names:
        hits = [n for n in local if n.spec.name == name]
        hits += [h for h in (hostlisting.find_network(l.networks, name) for l in listings) if h]
        if not hits:
            print(f"error: network {name}: no such network here or on any daemon that answered; "
                  f"see `ipvlan-tui network ls` for the names", file=err)
            code = code or EXIT_BAD
        found.extend(network_to_dict(n) for n in hits)
    print(json.dumps(found, indent=2), file=out)
    return code


def cmd_network(args, out, err) -> int:
    if args.netcmd is None:
        print("usage: ipvlan-tui network {create,rm,ls,inspect} ...", file=err)
        return EXIT_BAD
    if args.netcmd in ("ls", "inspect") and _listing_hosts(args):
        if args.netcmd == "inspect":
            return _inspect_across(args, out, err)
        ctl, listings, code = _across(args, err)
        _print_networks(ctl.networks() + [n for l in listings for n in l.networks], args.json, out)
        return code
    ctl = _ctl(args)
    if args.netcmd in ("connect", "disconnect"):
        return args.dockercli_handler(ctl, args, out, err)
    if args.netcmd == "create":
        req = NetworkRequest(
            name=args.name, driver=args.driver, subnets=tuple(args.subnet),
            gateways=tuple(args.gateway), ip_ranges=tuple(args.ip_range),
            aux_addresses=tuple(args.aux_address), options=tuple(args.opt),
            internal=args.internal, ipv6=args.ipv6,
            engine=ENGINE_DOCKER if args.hosts else args.engine,
            host=(args.host or [""])[0])
        if args.hosts:
            return dockercli.cmd_create_across(ctl, req, args.hosts, args, out, err)
        if dockercli.is_config_create(args):
            return dockercli.cmd_create_config(ctl, req, args, out, err)
        result = ctl.create_network(req, dry_run=args.dry_run)
        for w in result.warnings:
            print(f"warning: {w}", file=err)
        if args.dry_run:
            _print_plan(result, out)
        else:
            print(result.network.network_id, file=out)
        return EXIT_OK
    if args.netcmd == "rm":
        if args.hosts:
            return dockercli.cmd_rm_across(ctl, args.names, args.hosts, args, out, err)
        return _remove_each(args, lambda name: ctl.remove_network(
            name, force=args.force, dry_run=args.dry_run,
            allow_host_cutoff=args.allow_host_cutoff), out, err)
    if args.netcmd == "ls":
        _print_networks(ctl.networks(), args.json, out)
        return EXIT_OK
    if args.netcmd == "inspect":
        found = []
        code = EXIT_OK
        for name in args.names:
            try:
                found.append(network_to_dict(ctl.network(name)))
            except ValidationError as exc:
                print(f"error: {exc}", file=err)
                code = EXIT_BAD
        print(json.dumps(found, indent=2), file=out)
        return code
    return EXIT_BAD


def cmd_run(args, out, err) -> int:
    ctl = _ctl(args)
    name = args.name
    if not name:
        import secrets
        name = f"{args.net}-{secrets.token_hex(3)}"[:60]
    req = EndpointRequest(name=name, network=args.net, ipv4=args.ip, ipv6=args.ip6,
                          engine=args.engine, image=args.image,
                          command=tuple(c for c in args.command if c != "--"))
    result = ctl.run_endpoint(req, dry_run=args.dry_run)
    if args.dry_run:
        _print_plan(result, out)
        return EXIT_OK
    ep = result.endpoint
    addrs = " ".join(a for a in (ep.ipv4, ep.ipv6) if a)
    print(f"{ep.name}\t{ep.network}\t{addrs}", file=out)
    return EXIT_OK


def cmd_exec(args, out, err) -> int:
    ctl = _ctl(args)
    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    full = ctl.exec_argv(args.name, argv)
    out.flush()
    err.flush()
    import subprocess
    return subprocess.call(full)


def cmd_rm(args, out, err) -> int:
    ctl = _ctl(args)
    return _remove_each(args, lambda name: ctl.remove_endpoint(name, dry_run=args.dry_run),
                        out, err)


def _remove_each(args, remove, out, err) -> int:
    """Remove each named thing in turn, like docker: an unknown name does not stop the rest."""
    code = EXIT_OK
    for name in args.names:
        try:
            result = remove(name)
        except ValidationError as exc:
            print(f"error: {exc}", file=err)
            code = EXIT_BAD
            continue
        for w in getattr(result, "warnings", ()):
            print(f"warning: {w}", file=err)
        if args.dry_run:
            _print_plan(result, out)
        else:
            print(name, file=out)
    return code


def cmd_ps(args, out, err) -> int:
    if _listing_hosts(args):
        ctl, listings, code = _across(args, err)
        _print_endpoints(ctl.endpoints() + [e for l in listings for e in l.endpoints], args.json, out)
        return code
    _print_endpoints(_ctl(args).endpoints(), args.json, out)
    return EXIT_OK


def cmd_links(args, out, err) -> int:
    ctl = _ctl(args)
    inv = ctl.inventory()
    if args.all:
        links = list(inv.links)
    else:
        # Parents (host links that are not endpoints) and VLAN sub-interfaces.
        links = [l for l in inv.host_links() if l.kind not in ("ipvlan",) and l.name != "lo"]
    if args.json:
        print(json.dumps([{"Name": l.name, "Index": l.ifindex, "Kind": l.kind,
                           "Namespace": l.netns, "State": l.state, "MTU": l.mtu, "MAC": l.mac,
                           "Parent": l.parent_name, "VlanId": l.vlan_id,
                           "IpvlanMode": l.ipvlan_mode, "IpvlanFlag": l.ipvlan_flag,
                           "Addresses": list(l.addresses), "Owner": l.owner} for l in links],
                         indent=2), file=out)
        return EXIT_OK
    kids: dict[str, int] = {}
    for l in inv.links:
        if l.parent_name and l.kind == "ipvlan":
            kids[l.parent_name] = kids.get(l.parent_name, 0) + 1
    rows = [[l.name, l.kind, l.netns or "-", l.state, str(l.mtu), l.parent_name or "",
             str(l.vlan_id or ""), str(kids.get(l.name, "")), l.owner,
             ",".join(l.addresses)] for l in links]
    print(_table(rows, ["NAME", "KIND", "NETNS", "STATE", "MTU", "PARENT", "VLAN", "IPVLANS",
                        "OWNER", "ADDRESSES"]), file=out)
    return EXIT_OK


def cmd_restore(args, out, err) -> int:
    ctl = _ctl(args)
    rep = ctl.restore(dry_run=args.dry_run)
    verb = "would " if args.dry_run else ""
    for line in rep.rolled_back:
        print(f"{verb}undo half-made {line}", file=out)
    for line in rep.finished:
        print(f"{verb}finish interrupted removal of {line}", file=out)
    for line in rep.repaired:
        print(f"{verb}re-create {line}", file=out)
    for line in rep.missing_in_kernel:
        print(f"cannot re-create {line}", file=err)
    for line in rep.orphans_in_kernel:
        print(f"orphan: {line}", file=out)
    if rep.unchanged and not rep.orphans_in_kernel and not rep.missing_in_kernel:
        print("kernel and store agree; nothing to do", file=out)
    return EXIT_FAIL if rep.missing_in_kernel else EXIT_OK


def cmd_routes(args, out, err) -> int:
    return dockercli.cmd_routes(_ctl(args), args, out, err)


HANDLERS = {"network": cmd_network, "run": cmd_run, "exec": cmd_exec, "rm": cmd_rm,
            "ps": cmd_ps, "links": cmd_links, "restore": cmd_restore, "routes": cmd_routes,
            **mapcli.HANDLERS}


_VALUED_GLOBALS = ("--state-dir", "--engine", "--host")


def _command_index(argv: list[str]) -> int | None:
    """Where the command word is, past the global options and their values."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED_GLOBALS:
            i += 2
            continue
        if not arg.startswith("-"):
            return i
        i += 1
    return None


def _host_values(argv: list[str]) -> list[str]:
    """Every --host value on a command line (for the sub-programs with their own parsers)."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    found = [v for a, v in zip(words, words[1:] + [""]) if a == "--host"]
    return found + [a.split("=", 1)[1] for a in words if a.startswith("--host=")]


def main(argv: Sequence[str] | None = None, out=None, err=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    # Sub-programs with their own parsers.
    first = _command_index(argv)
    if first is not None and argv[first] == "ping" and len(_host_values(argv)) > 1:
        hosts = _host_values(argv)
        refused = ValidationError("--host", " ".join(hosts), f"names {len(hosts)} Docker daemons, "
                                  "but `ping` works on one", "pick one --host")
        print(f"error: {refused}", file=err)
        return EXIT_BAD
    if first is not None and argv[first] == "lab":
        from ipvlan_tui.lab.cli import main as lab_main
        return lab_main(argv[first + 1:])
    if first is not None and argv[first] == "ping":
        from ipvlan_tui.pingcli import main as ping_main
        return ping_main(argv[:first] + argv[first + 1:], out, err)
    parser = build_parser()
    # argparse drops a "--" given as an option's value (`--net=--` reads as an empty list,
    # which no handler expects); no option of ours takes "--", so refuse it here.
    for token in argv[:argv.index("--") if "--" in argv else len(argv)]:
        if token.startswith("-") and token.endswith("=--"):
            opt = token[:-3]
            print(f"error: {opt} --: \"--\" is not a value for {opt}; give a real one, "
                  f"e.g. {opt}=NAME", file=err)
            return EXIT_BAD
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(exc, file=err)
        return EXIT_BAD
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    args.host = (args.host or []) + (getattr(args, "sub_host", None) or [])
    if args.cmd is None:
        from ipvlan_tui.tui.app import run_app
        try:
            if len(args.host) > 1:
                raise ValidationError("--host", " ".join(args.host), f"names {len(args.host)} Docker daemons, "
                                      "but the console shows one", "pick one --host (the listings `network ls` "
                                      "and `ps` take several)")
            hosts = _console_hosts(args)
        except ValidationError as exc:
            print(f"error: {exc}", file=err)
            return EXIT_BAD
        return run_app(state_dir=args.state_dir, demo=args.demo, hosts=hosts)
    try:
        _refuse_many_hosts(args)
        return HANDLERS[args.cmd](args, out, err)
    except ValidationError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD
    except PlanFailed as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAIL
    except (EngineError, IpvlanTuiError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
