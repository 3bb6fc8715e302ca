"""The declarative VLAN map: parse, check, diff, apply, export, import.

NetOps hands over a table (VLAN id, subnet, gateway) for the 802.1q trunk
into a host. A map file holds that table as TOML (read with tomllib; written
by `render_toml` below, no new dependency):

    version = 1

    [defaults]
    engine = "netns"        # netns | docker
    trunk = "eth0"          # the 802.1q trunk: vlan = 10 means parent eth0.10
    mode = "l2"             # l2 | l3 | l3s
    flag = "bridge"         # bridge | private | vepa
    # hosts = ["node1"]     # the machines this map is for (guard)

    [[networks]]
    name = "vlan10"
    vlan = 10               # or parent = "foo" (an existing link), or neither: isolated
    subnets = [
      { subnet = "172.16.80.0/24", gateway = "172.16.80.1" },
    ]
    endpoints = [           # optional; when present, the network's endpoints are managed
      { name = "web10", ip = "172.16.80.10" },
    ]

Every entry goes through the same validator as `network create`
(spec.validate_network), against the live state and against the other
entries of the map; every problem of the whole map is reported at once
(ValidationErrors), fields named like `networks[1] (vlan20).subnets[0].subnet`.

Built only on the controller's public API (networks, inventory,
plan_network_create/create_network, plan_network_remove/remove_network,
plan_endpoint_create/run_endpoint, remove_endpoint, restore, capabilities).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import socket
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from netaddr import IPNetwork

from ipvlan_tui import ipam, spec as specmod
from ipvlan_tui.errors import EngineError, HostLinkInUse, PlanFailed, ValidationError, ValidationErrors
from ipvlan_tui.model import (
    DEFAULT_FLAG,
    DEFAULT_MODE,
    ENGINE_DOCKER,
    ENGINE_NETNS,
    FLAGS,
    MODES,
    PARENT_DUMMY,
    EndpointRequest,
    Inventory,
    Network,
    NetworkRequest,
    NetworkSpec,
    OWNER_TOOL,
)
from ipvlan_tui.plan import Plan, Step

MAP_VERSION = 1
ENGINES = (ENGINE_NETNS, ENGINE_DOCKER)
FORMATS = ("toml", "compose", "docker")

_TOP_KEYS = ("version", "defaults", "networks")
_DEFAULT_KEYS = ("engine", "host", "hosts", "trunk", "mode", "flag")
_NET_KEYS = ("name", "vlan", "parent", "trunk", "mode", "flag", "internal", "ipv6", "engine",
             "subnets", "endpoints")
_SUBNET_KEYS = ("subnet", "gateway", "ip_range", "aux_addresses")
_EP_KEYS = ("name", "ip", "ip6")
_ANY_HOST = ("", "local", "localhost")

# Kinds of difference between the map and the host.
IN_SYNC = "in-sync"
MISSING = "missing"
EXTRA = "extra"
DRIFT = "drift"
BROKEN = "broken"
_MARK = {IN_SYNC: "=", MISSING: "+", EXTRA: "-", DRIFT: "~", BROKEN: "!"}


# --------------------------------------------------------------------------
# The parsed map
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class MapSubnet:
    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MapEndpoint:
    name: str
    ip: str | None = None
    ip6: str | None = None


@dataclass(frozen=True)
class MapNetwork:
    index: int
    name: str
    vlan: int | None = None
    parent: str | None = None  # explicit parent as typed
    trunk: str | None = None  # effective trunk (entry or defaults)
    trunk_field: str = ""  # where the trunk came from
    mode: str = DEFAULT_MODE
    mode_field: str = ""
    flag: str = DEFAULT_FLAG
    flag_field: str = ""
    engine: str = ENGINE_NETNS
    engine_field: str = ""
    internal: bool = False
    ipv6: bool = False
    subnets: tuple[MapSubnet, ...] = ()
    endpoints: tuple[MapEndpoint, ...] | None = None  # None: endpoints not managed by the map
    usable: bool = True  # False when the entry is too broken to validate further

    @property
    def label(self) -> str:
        return f"networks[{self.index}] ({self.name})" if self.name else f"networks[{self.index}]"

    @property
    def parent_name(self) -> str | None:
        """The -o parent this entry asks for (None: isolated)."""
        if self.parent:
            return self.parent
        if self.vlan is not None and self.trunk:
            return f"{self.trunk}.{self.vlan}"
        return None

    @property
    def parent_field(self) -> str:
        return f"{self.label}.parent" if self.parent else f"{self.label}.vlan"


@dataclass(frozen=True)
class MapFile:
    source: str
    networks: tuple[MapNetwork, ...]
    hosts: tuple[str, ...] = ()
    engine: str = ENGINE_NETNS
    trunk: str | None = None
    mode: str = DEFAULT_MODE
    flag: str = DEFAULT_FLAG
    problems: tuple[ValidationError, ...] = ()  # structural problems found while reading

    def entry(self, name: str) -> MapNetwork | None:
        return next((n for n in self.networks if n.name == name), None)


def _mean(key: str, choices: Sequence[str]) -> str:
    hit = specmod.closest(key, choices)
    return f"did you mean {hit}? " if hit and hit != key else ""


def _unknown_keys(table: dict, allowed: Sequence[str], where: str, errors: list) -> None:
    for key in table:
        if key not in allowed:
            errors.append(ValidationError(f"{where}.{key}" if where else key, "", "unknown key",
                                          f"{_mean(key, allowed)}known keys: {', '.join(allowed)}"))


def _str(table: dict, key: str, where: str, errors: list, *, required: bool = False) -> str | None:
    if key not in table:
        if required:
            errors.append(ValidationError(f"{where}.{key}", "", "is missing",
                                          f"add {key} = \"...\" to {where}"))
        return None
    value = table[key]
    if not isinstance(value, str):
        errors.append(ValidationError(f"{where}.{key}", _show(value), "must be a string",
                                      f"write it in quotes: {key} = \"{value}\""))
        return None
    return value


def _bool(table: dict, key: str, where: str, errors: list) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        errors.append(ValidationError(f"{where}.{key}", _show(value), "must be true or false",
                                      f"write {key} = true or {key} = false (no quotes)"))
        return False
    return value


def _choice(table: dict, key: str, where: str, choices: Sequence[str], errors: list) -> str | None:
    value = _str(table, key, where, errors)
    if value is None:
        return None
    if value not in choices:
        errors.append(ValidationError(f"{where}.{key}", value, f"is not a known {key}",
                                      f"{_mean(value, choices)}use one of: {', '.join(choices)}"))
        return None
    return value


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:60]
    return str(value)


def _toml_problem(source: str, exc: tomllib.TOMLDecodeError) -> ValidationError:
    return ValidationError(source, "", f"is not valid TOML: {exc}",
                           "fix the syntax at that line (strings in double quotes, "
                           "one [[networks]] table per network)")


def parse(text: str, source: str = "map") -> MapFile:
    """TOML text -> MapFile. Bad TOML raises ValidationError; every other
    problem is collected in MapFile.problems and reported with the rest by `check`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_problem(source, exc) from None
    errors: list[ValidationError] = []
    _unknown_keys(doc, _TOP_KEYS, "", errors)
    if "version" in doc and doc["version"] != MAP_VERSION:
        errors.append(ValidationError("version", _show(doc["version"]),
                                      f"this tool reads map files of version {MAP_VERSION}",
                                      f"write version = {MAP_VERSION}"))

    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        errors.append(ValidationError("defaults", _show(defaults), "must be a table",
                                      "write it as a [defaults] section"))
        defaults = {}
    _unknown_keys(defaults, _DEFAULT_KEYS, "defaults", errors)
    d_engine = _choice(defaults, "engine", "defaults", ENGINES, errors) or ENGINE_NETNS
    d_mode = _choice(defaults, "mode", "defaults", MODES, errors) or DEFAULT_MODE
    d_flag = _choice(defaults, "flag", "defaults", FLAGS, errors) or DEFAULT_FLAG
    d_trunk = _str(defaults, "trunk", "defaults", errors)
    if d_trunk is not None:
        bad = specmod.valid_ifname(d_trunk)
        if bad:
            errors.append(ValidationError("defaults.trunk", d_trunk, bad, "name the trunk link, e.g. eth0"))
            d_trunk = None
    hosts: list[str] = []
    if "host" in defaults and "hosts" in defaults:
        errors.append(ValidationError("defaults.host", "", "host and hosts are both given",
                                      "keep one: hosts = [\"node1\", \"node2\"]"))
    one = _str(defaults, "host", "defaults", errors)
    if one is not None:
        hosts.append(one)
    many = defaults.get("hosts")
    if many is not None:
        if not isinstance(many, list) or not all(isinstance(h, str) for h in many):
            errors.append(ValidationError("defaults.hosts", _show(many), "must be a list of host names",
                                          "write hosts = [\"node1\", \"node2\"]"))
        else:
            hosts.extend(many)

    raw_nets = doc.get("networks", [])
    if not isinstance(raw_nets, list):
        errors.append(ValidationError("networks", _show(raw_nets), "must be a list of tables",
                                      "write one [[networks]] section per network"))
        raw_nets = []
    if not raw_nets and "networks" not in doc:
        errors.append(ValidationError("networks", "", "the map has no networks",
                                      "add one [[networks]] section per VLAN"))
    nets = []
    for i, raw in enumerate(raw_nets):
        nets.append(_parse_network(i, raw, d_engine, d_mode, d_flag, d_trunk, errors))
    return MapFile(source=source, networks=tuple(nets), hosts=tuple(hosts), engine=d_engine,
                   trunk=d_trunk, mode=d_mode, flag=d_flag, problems=tuple(errors))


def _parse_network(i: int, raw: object, d_engine: str, d_mode: str, d_flag: str,
                   d_trunk: str | None, errors: list) -> MapNetwork:
    where = f"networks[{i}]"
    if not isinstance(raw, dict):
        errors.append(ValidationError(where, _show(raw), "must be a table",
                                      "write it as a [[networks]] section"))
        return MapNetwork(index=i, name="", usable=False)
    name = _str(raw, "name", where, errors, required=True) or ""
    if name and not specmod.valid_name(name):
        errors.append(ValidationError(f"{where}.name", name, "is not a valid network name",
                                      "start with a letter or digit and use only letters, digits, "
                                      "'_', '.' and '-', e.g. vlan20"))
        name = ""
    label = f"{where} ({name})" if name else where
    usable = bool(name)
    _unknown_keys(raw, _NET_KEYS, label, errors)

    vlan = None
    if "vlan" in raw:
        v = raw["vlan"]
        if isinstance(v, bool) or not isinstance(v, int):
            fix = f"write vlan = {v} (a number, no quotes)" if isinstance(v, str) and v.isdigit() \
                else "write vlan = N with N from 1 to 4094"
            errors.append(ValidationError(f"{label}.vlan", _show(v), "must be a number", fix))
            usable = False
        elif not 1 <= v <= 4094:
            errors.append(ValidationError(f"{label}.vlan", str(v), "is out of range: 802.1q VLAN ids are 1-4094",
                                          "use the VLAN id NetOps gave for this subnet (1-4094)"))
            usable = False
        else:
            vlan = v
    parent = _str(raw, "parent", label, errors)
    if parent is not None and not parent:
        errors.append(ValidationError(f"{label}.parent", "\"\"", "is empty",
                                      "leave parent out for an isolated network, or name a link"))
        parent, usable = None, False
    e_trunk = _str(raw, "trunk", label, errors)
    trunk, trunk_field = (e_trunk, f"{label}.trunk") if e_trunk is not None else (d_trunk, "defaults.trunk")
    if e_trunk is not None and "vlan" not in raw:
        errors.append(ValidationError(f"{label}.trunk", e_trunk, "is only used with vlan",
                                      f"add vlan = N (parent {e_trunk}.N), or for an untagged network "
                                      f"write parent = \"{e_trunk}\""))
    if vlan is not None and parent is None and not trunk:
        errors.append(ValidationError(f"{label}.vlan", str(vlan), "has no trunk to sit on",
                                      f"set trunk = \"eth0\" in [defaults] (parent eth0.{vlan}), "
                                      f"or give parent = \"...\""))
        usable = False
    if vlan is not None and parent is not None and "." in parent:
        base, _, vid = parent.rpartition(".")
        if vid.isdigit() and int(vid) != vlan:
            errors.append(ValidationError(f"{label}.parent", parent,
                                          f"is VLAN {vid} by its name but vlan = {vlan}",
                                          f"write parent = \"{base}.{vlan}\", or drop one of the two"))
            usable = False

    mode = _choice(raw, "mode", label, MODES, errors)
    flag = _choice(raw, "flag", label, FLAGS, errors)
    engine = _choice(raw, "engine", label, ENGINES, errors)
    internal = _bool(raw, "internal", label, errors)
    ipv6 = _bool(raw, "ipv6", label, errors)

    subnets: list[MapSubnet] = []
    raw_subs = raw.get("subnets", [])
    if not isinstance(raw_subs, list):
        errors.append(ValidationError(f"{label}.subnets", _show(raw_subs), "must be a list of tables",
                                      "write subnets = [ { subnet = \"192.168.20.0/24\", "
                                      "gateway = \"192.168.20.1\" } ]"))
        raw_subs, usable = [], False
    for j, rs in enumerate(raw_subs):
        sw = f"{label}.subnets[{j}]"
        if isinstance(rs, str):  # a bare CIDR is accepted as { subnet = "..." }
            rs = {"subnet": rs}
        if not isinstance(rs, dict):
            errors.append(ValidationError(sw, _show(rs), "must be a table",
                                          "write { subnet = \"...\", gateway = \"...\" }"))
            usable = False
            continue
        _unknown_keys(rs, _SUBNET_KEYS, sw, errors)
        cidr = _str(rs, "subnet", sw, errors, required=True)
        gw = _str(rs, "gateway", sw, errors)
        rng = _str(rs, "ip_range", sw, errors)
        aux_raw = rs.get("aux_addresses", {})
        aux: list[tuple[str, str]] = []
        if not isinstance(aux_raw, dict):
            errors.append(ValidationError(f"{sw}.aux_addresses", _show(aux_raw), "must be a table",
                                          "write aux_addresses = { router = \"192.168.20.5\" }"))
        else:
            for k, v in aux_raw.items():
                if not isinstance(v, str):
                    errors.append(ValidationError(f"{sw}.aux_addresses.{k}", _show(v), "must be a string",
                                                  f"write {k} = \"192.168.20.5\""))
                else:
                    aux.append((k, v))
        if cidr is None:
            usable = False
            continue
        subnets.append(MapSubnet(cidr, gw, rng, tuple(aux)))

    endpoints: list[MapEndpoint] | None = None
    if "endpoints" in raw:
        endpoints = []
        raw_eps = raw["endpoints"]
        if not isinstance(raw_eps, list):
            errors.append(ValidationError(f"{label}.endpoints", _show(raw_eps), "must be a list of tables",
                                          "write endpoints = [ { name = \"web1\", ip = \"...\" } ]"))
            raw_eps = []
        for j, re_ in enumerate(raw_eps):
            ew = f"{label}.endpoints[{j}]"
            if not isinstance(re_, dict):
                errors.append(ValidationError(ew, _show(re_), "must be a table",
                                              "write { name = \"web1\", ip = \"...\" }"))
                continue
            _unknown_keys(re_, _EP_KEYS, ew, errors)
            ename = _str(re_, "name", ew, errors, required=True)
            ip = _str(re_, "ip", ew, errors)
            ip6 = _str(re_, "ip6", ew, errors)
            if ename:
                endpoints.append(MapEndpoint(ename, ip or None, ip6 or None))

    return MapNetwork(
        index=i, name=name, vlan=vlan, parent=parent, trunk=trunk, trunk_field=trunk_field,
        mode=mode or d_mode, mode_field=f"{label}.mode" if mode else "defaults.mode",
        flag=flag or d_flag, flag_field=f"{label}.flag" if flag else "defaults.flag",
        engine=engine or d_engine, engine_field=f"{label}.engine" if engine else "defaults.engine",
        internal=internal, ipv6=ipv6, subnets=tuple(subnets),
        endpoints=tuple(endpoints) if endpoints is not None else None, usable=usable)


def load(path: str | Path) -> MapFile:
    """Read a map file ("-" is stdin)."""
    if str(path) == "-":
        import sys
        return parse(sys.stdin.read(), "<stdin>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(str(path), "", "no such file",
                              "give the path of a map file (see `ipvlan-tui import-table` "
                              "or `ipvlan-tui export`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(str(path), "", f"cannot be read: {exc}", "") from None
    return parse(text, p.name)


# --------------------------------------------------------------------------
# Map entry -> the same request the CLI builds
# --------------------------------------------------------------------------
def entry_request(entry: MapNetwork) -> NetworkRequest:
    opts = []
    parent = entry.parent_name
    if parent:
        opts.append(f"parent={parent}")
    opts.append(f"ipvlan_mode={entry.mode}")
    opts.append(f"ipvlan_flag={entry.flag}")
    return NetworkRequest(
        name=entry.name,
        subnets=tuple(s.subnet for s in entry.subnets),
        gateways=tuple(s.gateway for s in entry.subnets if s.gateway),
        ip_ranges=tuple(s.ip_range for s in entry.subnets if s.ip_range),
        aux_addresses=tuple(f"{n}={ip}" for s in entry.subnets for n, ip in s.aux_addresses),
        options=tuple(opts),
        internal=entry.internal,
        ipv6=entry.ipv6,
        engine=entry.engine,
    )


def request_argv(req: NetworkRequest, prog: Sequence[str] = ("ipvlan-tui", "network", "create")) -> list[str]:
    """The command line that makes the same request (for plans and the docker export)."""
    argv = [*prog, "-d", "ipvlan"]
    argv += [f"--subnet={s}" for s in req.subnets]
    argv += [f"--gateway={g}" for g in req.gateways]
    argv += [f"--ip-range={r}" for r in req.ip_ranges]
    argv += [f"--aux-address={a}" for a in req.aux_addresses]
    for o in req.options:
        argv += ["-o", o]
    if req.internal:
        argv.append("--internal")
    if req.ipv6:
        argv.append("--ipv6")
    argv.append(req.name)
    return argv


# --------------------------------------------------------------------------
# Checking a whole map
# --------------------------------------------------------------------------
def _same_net(a: object, b: object) -> bool:
    if a == b:
        return True
    na, nb = ipam.parse_cidr(a), ipam.parse_cidr(b)
    return na is not None and nb is not None and na == nb


def _same_addr(a: object, b: object) -> bool:
    if a == b:
        return True
    na, nb = ipam.parse_address(a), ipam.parse_address(b)
    return na is not None and nb is not None and na == nb


def _relabel(err: ValidationError, entry: MapNetwork) -> ValidationError:
    """A spec error (CLI flag names) -> the same error with the map field."""
    f, v = err.field, err.value
    where = entry.label
    if f == "--subnet":
        for j, s in enumerate(entry.subnets):
            if _same_net(s.subnet, v):
                where = f"{entry.label}.subnets[{j}].subnet"
                break
        else:
            where = f"{entry.label}.subnets"
    elif f == "--gateway":
        j = next((j for j, s in enumerate(entry.subnets) if s.gateway and _same_addr(s.gateway, v)), None)
        where = f"{entry.label}.subnets[{j}].gateway" if j is not None else f"{entry.label}.subnets"
    elif f == "--ip-range":
        j = next((j for j, s in enumerate(entry.subnets) if s.ip_range and _same_net(s.ip_range, v)), None)
        where = f"{entry.label}.subnets[{j}].ip_range" if j is not None else f"{entry.label}.subnets"
    elif f == "--aux-address":
        where = f"{entry.label}.subnets"
        for j, s in enumerate(entry.subnets):
            for n, ip in s.aux_addresses:
                if f"{n}={ip}" == v or (isinstance(v, str) and v.startswith(f"{n}=")):
                    where = f"{entry.label}.subnets[{j}].aux_addresses.{n}"
    elif f == "-o parent":
        where = entry.parent_field
        if not entry.parent and entry.vlan is not None:
            if "base link" in err.problem:  # the trunk is missing: one report, where it was typed
                where, v = entry.trunk_field, entry.trunk
            else:
                v = f"{v} (trunk {entry.trunk}, vlan {entry.vlan})"
    elif f == "-o ipvlan_mode":
        where = entry.mode_field
    elif f == "-o ipvlan_flag":
        where = entry.flag_field
    elif f == "name":
        where = f"{entry.label}.name"
    elif f == "--engine":
        where = entry.engine_field
    elif f in ("--name", "--ip", "--ip6"):
        where = f"{entry.label}.endpoints"
    else:
        where = f"{entry.label} {f}".strip()
    return ValidationError(where, v, _map_words(err.problem), _map_words(err.fix))


# The validator speaks in CLI flags; a map file has keys.
_FLAG_KEYS = {"-o parent": "parent", "-o ipvlan_mode": "mode", "-o ipvlan_flag": "flag",
              "--subnet": "subnet", "--gateway": "gateway", "--ip-range": "ip_range",
              "--internal": "internal = true"}
_FLAG_VALUE = re.compile(r"(-o parent|-o ipvlan_mode|-o ipvlan_flag|--subnet|--gateway|--ip-range)"
                         r"=([^\s,;?)]+)")
_FLAG_BARE = re.compile(r"(-o parent|-o ipvlan_mode|-o ipvlan_flag|--subnet|--gateway|--ip-range|--internal)"
                        r"(?![\w=-])")


def _map_words(text: str) -> str:
    if not text:
        return text
    text = _FLAG_VALUE.sub(lambda m: f'{_FLAG_KEYS[m.group(1)]} = "{m.group(2)}"', text)
    return _FLAG_BARE.sub(lambda m: _FLAG_KEYS[m.group(1)], text)


def _clean_subnets(entry: MapNetwork) -> list[tuple[int, IPNetwork]]:
    out = []
    for j, s in enumerate(entry.subnets):
        net = ipam.parse_cidr(s.subnet)
        if net is not None and net.ip == net.network:
            out.append((j, net))
    return out


def _without_endpoint_links(inv: Inventory, namespaces: set[str]) -> Inventory:
    if not namespaces:
        return inv
    return replace(inv, links=tuple(l for l in inv.links if l.netns not in namespaces))


def check(mf: MapFile, inventory: Inventory, live: Sequence[Network], *,
          removing: Sequence[str] = ()) -> dict[str, NetworkSpec]:
    """Validate every entry against the live state and the other entries.

    `live`: the networks on this host. A live network with the name of an
    entry is that entry's current state (compared by `diff`, not a clash);
    names in `removing` (extras about to be pruned) do not count either.
    Returns {name: validated spec}; raises ValidationErrors with every problem.
    """
    errors: list[ValidationError] = list(mf.problems)
    names = {e.name for e in mf.networks if e.name}
    gone = set(removing) | names
    others = [n.spec for n in live if n.spec.name not in gone]
    ep_ns = {n.spec.name: {e.netns for e in n.endpoints if e.netns} for n in live}
    skip_ns = set().union(*(ep_ns.get(n, set()) for n in removing)) if removing else set()

    this = socket.gethostname()
    if mf.hosts and not any(h in _ANY_HOST or h == this for h in mf.hosts):
        errors.append(ValidationError("defaults.hosts", ", ".join(mf.hosts),
                                      f"this map is not for this machine ({this})",
                                      f"add \"{this}\" to hosts, or apply it on {mf.hosts[0]}"))

    # -- cross-entry: names, parents, subnets, endpoint names -------------------------
    first_name: dict[str, MapNetwork] = {}
    first_parent: dict[str, MapNetwork] = {}
    seen_subnets: list[tuple[MapNetwork, int, IPNetwork]] = []
    first_ep: dict[str, tuple[MapNetwork, int]] = {}
    own_fields: set[str] = set()  # reported here already: the spec's wording for them is dropped
    for e in mf.networks:
        if e.name:
            if e.name in first_name:
                errors.append(ValidationError(f"{e.label}.name", e.name,
                                              f"is also the name of {first_name[e.name].label}",
                                              "give every network its own name (e.g. vlan<id>)"))
            else:
                first_name[e.name] = e
        p = e.parent_name
        if p and not e.internal:
            if p in first_parent:
                o = first_parent[p]
                errors.append(ValidationError(e.parent_field, p, f"is also the parent of {o.label}; "
                                              "Docker's driver allows one ipvlan network per parent",
                                              f"put both subnets in {o.label}, or use another VLAN"))
            else:
                first_parent[p] = e
        for j, net in _clean_subnets(e):
            for o, oj, onet in seen_subnets:
                if o is not e and ipam.overlaps(net, onet):
                    errors.append(ValidationError(f"{e.label}.subnets[{j}].subnet", str(net),
                                                  f"overlaps {onet} of {o.label}.subnets[{oj}]",
                                                  "every VLAN needs its own subnet; check the NetOps table"))
                    break
            seen_subnets.append((e, j, net))
            s = e.subnets[j]
            sw = f"{e.label}.subnets[{j}]"
            gw = ipam.parse_address(s.gateway) if s.gateway else None
            if gw is not None and not ipam.contains(net, gw):
                own_fields.add(f"{sw}.gateway")
                errors.append(ValidationError(f"{sw}.gateway", s.gateway,
                                              f"is not inside its subnet {net}",
                                              f"give a gateway inside {net}, e.g. {ipam.first_usable(str(net))}"))
            rng = ipam.parse_cidr(s.ip_range) if s.ip_range else None
            if rng is not None and not ipam.contains(net, rng.cidr):
                own_fields.add(f"{sw}.ip_range")
                errors.append(ValidationError(f"{sw}.ip_range", s.ip_range, f"is not inside its subnet {net}",
                                              f"give a range inside {net}, e.g. {net.network}/{min(net.prefixlen + 1, 32 if net.version == 4 else 128)}"))
            for an, aip in s.aux_addresses:
                a = ipam.parse_address(aip)
                if a is not None and not ipam.contains(net, a):
                    own_fields.add(f"{sw}.aux_addresses.{an}")
                    errors.append(ValidationError(f"{sw}.aux_addresses.{an}", aip,
                                                  f"is not inside its subnet {net}",
                                                  f"reserve an address inside {net}"))
        for j, s in enumerate(e.subnets):  # the gateway typed with a subnet whose host bits are set
            bad = ipam.parse_cidr(s.subnet)
            gw = ipam.parse_address(s.gateway) if s.gateway else None
            if bad is not None and bad.ip != bad.network and gw is not None and not ipam.contains(bad.cidr, gw):
                errors.append(ValidationError(f"{e.label}.subnets[{j}].gateway", s.gateway,
                                              f"is not inside {bad.cidr} either", "check the NetOps table"))
        for j, ep in enumerate(e.endpoints or ()):
            if ep.name in first_ep:
                o, oj = first_ep[ep.name]
                errors.append(ValidationError(f"{e.label}.endpoints[{j}].name", ep.name,
                                              f"is also the name of {o.label}.endpoints[{oj}]",
                                              "give every endpoint its own name"))
            else:
                first_ep[ep.name] = (e, j)

    # -- each entry through the CLI's validator -----------------------------------------
    desired: dict[str, NetworkSpec] = {}
    for e in mf.networks:
        if not e.usable or first_name.get(e.name) is not e:
            continue
        inv = _without_endpoint_links(inventory, ep_ns.get(e.name, set()) | skip_ns)
        if e.vlan is not None and e.parent:
            link = inv.by_name(e.parent)
            if link is not None and link.kind == "vlan" and link.vlan_id not in (None, e.vlan):
                errors.append(ValidationError(f"{e.label}.parent", e.parent,
                                              f"is VLAN {link.vlan_id} on this host but vlan = {e.vlan}",
                                              f"fix vlan, or use the link that carries VLAN {e.vlan}"))
                continue
            if link is not None and link.kind != "vlan":
                errors.append(ValidationError(f"{e.label}.parent", e.parent,
                                              f"is a {link.kind} link, not a VLAN, but vlan = {e.vlan} is given",
                                              f"did you mean trunk = \"{e.parent}\" (parent {e.parent}.{e.vlan})?"))
                continue
        try:
            spec = specmod.validate_network(entry_request(e), inv, others)
        except ValidationError as err:
            for x in err.errors:
                r = _relabel(x, e)
                if r.field not in own_fields:
                    errors.append(r)
            continue
        desired[e.name] = spec

    # -- endpoints: static addresses inside the entry's subnets, not taken -----------------
    live_by_name = {n.spec.name: n for n in live}
    pruned = set(removing)
    for e in mf.networks:
        spec = desired.get(e.name)
        if spec is None or not e.endpoints:
            continue
        taken_names = {ep.name for n in live for ep in n.endpoints
                       if n.spec.name != e.name and n.spec.name not in pruned}
        mapped = {ep.name: ep for ep in e.endpoints}
        cur = live_by_name.get(e.name)
        # Addresses that stay: live endpoints not in the map, and mapped ones whose address the map keeps.
        keep: dict[str, set[str]] = {}
        for lep in cur.endpoints if cur is not None else ():
            m = mapped.get(lep.name)
            keep[lep.name] = {have for have, want in ((lep.ipv4, m.ip if m else None), (lep.ipv6, m.ip6 if m else None))
                              if have and (m is None or want is None or _same_addr(want, have))}
        from_map: set[str] = set()
        live_eps = set(keep)
        for j, ep in enumerate(e.endpoints):
            used = from_map.union(*(a for n, a in keep.items() if n != ep.name))
            if ep.name not in live_eps and ep.name in inventory.namespaces:
                errors.append(ValidationError(f"{e.label}.endpoints[{j}] ({ep.name}).name", ep.name,
                                              "a network namespace with this name already exists "
                                              "(not made by ipvlan-tui for this endpoint)",
                                              "pick another name; ipvlan-tui never takes over a namespace"))
                continue
            try:
                specmod.validate_endpoint(EndpointRequest(ep.name, e.name, ep.ip, ep.ip6), spec,
                                          used, taken_names)
            except ValidationError as err:
                for x in err.errors:
                    key = {"--name": "name", "--ip": "ip", "--ip6": "ip6"}.get(x.field, x.field)
                    errors.append(ValidationError(f"{e.label}.endpoints[{j}] ({ep.name}).{key}", x.value,
                                                  x.problem, x.fix))
                continue
            from_map.update(a for a in (ep.ip, ep.ip6) if a)

    if errors:
        uniq: list[ValidationError] = []
        seen = set()
        for err in errors:
            key = (err.field, str(err.value), err.problem)
            if key not in seen:
                seen.add(key)
                uniq.append(err)
        raise ValidationErrors(uniq)
    return desired


# --------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    kind: str  # IN_SYNC | MISSING | EXTRA | DRIFT | BROKEN
    network: str
    details: tuple[str, ...] = ()
    endpoint: str | None = None
    owned: bool = True  # made by ipvlan-tui (extras that are not are never pruned)
    redo: bool = False  # half done: restore undoes or finishes it, then apply makes it again
    subject: str = "network"  # "network", or "link" for a VLAN link no network uses (diff --all)

    def line(self) -> str:
        what = f"endpoint {self.endpoint} on {self.network}" if self.endpoint else f"{self.subject} {self.network}"
        text = f"{_MARK[self.kind]} {what}: {self.kind.replace('-', ' ')}"
        if self.details:
            text += " (" + "; ".join(self.details) + ")"
        return text

    def as_dict(self) -> dict:
        return {"kind": self.kind, "subject": "endpoint" if self.endpoint else self.subject,
                "network": self.network, "endpoint": self.endpoint,
                "details": list(self.details), "owned": self.owned}


@dataclass
class MapDiff:
    mapfile: MapFile
    desired: dict[str, NetworkSpec]
    changes: list[Change] = field(default_factory=list)
    half_made: tuple[str, ...] = ()  # from restore(dry_run=True): rolled back or finished
    repairs: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return all(c.kind == IN_SYNC for c in self.changes)

    def of(self, kind: str, endpoints: bool | None = None) -> list[Change]:
        return [c for c in self.changes if c.kind == kind
                and (endpoints is None or (c.endpoint is not None) == endpoints)]

    def summary(self) -> str:
        parts = []
        for what, endpoints in (("network", False), ("endpoint", True)):
            counts = Counter(c.kind for c in self.changes if (c.endpoint is not None) == endpoints)
            if counts:
                total = sum(counts.values())
                parts.append(f"{total} {what}{'s' if total != 1 else ''}: " + ", ".join(
                    f"{counts[k]} {k.replace('-', ' ')}" for k in (IN_SYNC, MISSING, DRIFT, BROKEN, EXTRA)
                    if counts[k]))
        return "; ".join(parts) or "nothing in the map or on the host"

    def render(self) -> str:
        lines = [f"map {self.mapfile.source} vs this host:"]
        lines += ["  " + c.line() for c in self.changes]
        lines.append(("in sync: " if self.in_sync else "not in sync: ") + self.summary())
        return "\n".join(lines)


def _parent_desc(spec: NetworkSpec) -> str:
    if spec.parent is None:
        return "none"
    if spec.isolated:
        return "isolated (dummy parent)"
    return spec.parent.name


def _subnet_desc(s) -> str:
    text = s.cidr
    if s.gateway:
        text += f" gw {s.gateway}"
    if s.ip_range:
        text += f" range {s.ip_range}"
    if s.aux_addresses:
        text += " aux " + ",".join(f"{n}={ip}" for n, ip in sorted(s.aux_addresses))
    return text


def drift(entry: MapNetwork, want: NetworkSpec, have: NetworkSpec) -> list[str]:
    """What differs between the map's entry and the live network of that name."""
    out = []
    if want.engine != have.engine:
        out.append(f"engine: map {want.engine}, live {have.engine}")
    if want.isolated != have.isolated or (not want.isolated and _parent_desc(want) != _parent_desc(have)):
        out.append(f"parent: map {_parent_desc(want)}, live {_parent_desc(have)}")
    if want.mode != have.mode:
        out.append(f"mode: map {want.mode}, live {have.mode}")
    if want.flag != have.flag:
        out.append(f"flag: map {want.flag}, live {have.flag}")
    if want.internal != have.internal:
        out.append(f"internal: map {str(want.internal).lower()}, live {str(have.internal).lower()}")
    if entry.subnets:
        w = sorted(_subnet_desc(s) for s in want.subnets)
        h = sorted(_subnet_desc(s) for s in have.subnets)
        if w != h:
            out.append(f"subnets: map {', '.join(w)}; live {', '.join(h)}")
    if entry.ipv6 and not have.ipv6:
        out.append("ipv6: map true, live false")
    return out


def compute_diff(mf: MapFile, ctl, *, include_all: bool = False, prune: bool = False) -> MapDiff:
    """Check the map (raises ValidationErrors) and compare it with the host."""
    inventory = ctl.inventory()
    live = list(ctl.networks(inventory))
    names = {e.name for e in mf.networks}
    extras = [n for n in live if n.spec.name not in names
              and (include_all or n.spec.engine == ENGINE_NETNS)]
    removing = [n.spec.name for n in extras if n.spec.engine == ENGINE_NETNS] if prune else []
    desired = check(mf, inventory, live, removing=removing)
    try:
        report = ctl.restore(dry_run=True)
        half = tuple(report.rolled_back) + tuple(getattr(report, "finished", ()))
        repairs = tuple(report.repaired)
    except (EngineError, ValidationError):
        half, repairs = (), ()
    host_links = {l.name for l in inventory.host_links()}
    live_by_name = {n.spec.name: n for n in live}
    result = MapDiff(mf, desired, half_made=half, repairs=repairs)
    for e in mf.networks:
        want = desired[e.name]
        cur = live_by_name.get(e.name)
        if cur is None:
            p = want.parent
            how = "isolated" if want.isolated else (f"{p.name}, new VLAN {p.vlan_id} on {p.base}"
                                                     if p and p.create else (p.name if p else ""))
            subs = ", ".join(_subnet_desc(s) for s in want.subnets)
            result.changes.append(Change(MISSING, e.name, (f"{how}; {subs}",)))
            for ep in e.endpoints or ():
                result.changes.append(Change(MISSING, e.name, _ep_addrs(ep), endpoint=ep.name))
            continue
        have = cur.spec
        diffs = drift(e, want, have)
        broken = []
        if f"network {e.name}" in half:
            broken.append("half made or half removed (a crash?); apply runs restore to undo it, "
                          "then creates it")
        elif have.parent is not None and have.parent.name not in host_links and have.engine == ENGINE_NETNS:
            broken.append(f"parent {have.parent.name} is missing from the kernel"
                          + (" (made by ipvlan-tui: apply re-creates it)" if have.parent.create
                             else " (not made by ipvlan-tui: re-create it by hand)"))
        if diffs:
            result.changes.append(Change(DRIFT, e.name, tuple(diffs + broken)))
        elif broken:
            result.changes.append(Change(BROKEN, e.name, tuple(broken)))
        else:
            result.changes.append(Change(IN_SYNC, e.name))
        if e.endpoints is None:
            continue
        live_eps = {ep.name: ep for ep in cur.endpoints}
        for ep in e.endpoints:
            got = live_eps.get(ep.name)
            if got is None:
                result.changes.append(Change(MISSING, e.name, _ep_addrs(ep), endpoint=ep.name))
                continue
            d = []
            if ep.ip and not _same_addr(ep.ip, got.ipv4):
                d.append(f"ip: map {ep.ip}, live {got.ipv4 or 'none'}")
            if ep.ip6 and not _same_addr(ep.ip6, got.ipv6):
                d.append(f"ip6: map {ep.ip6}, live {got.ipv6 or 'none'}")
            if d:
                result.changes.append(Change(DRIFT, e.name, tuple(d), endpoint=ep.name))
            elif got.state in ("creating", "removing"):
                result.changes.append(Change(BROKEN, e.name, (f"half done (state {got.state}, a crash?); apply "
                                                             "runs restore, then creates it",),
                                             endpoint=ep.name, redo=True))
            elif got.state == "missing":
                result.changes.append(Change(BROKEN, e.name, ("its namespace or link is gone; apply re-creates it",),
                                             endpoint=ep.name))
            else:
                result.changes.append(Change(IN_SYNC, e.name, endpoint=ep.name))
        mapped = {ep.name for ep in e.endpoints}
        for name, got in live_eps.items():
            if name not in mapped:
                result.changes.append(Change(EXTRA, e.name, (f"{got.ipv4 or ''} {got.ipv6 or ''}".strip()
                                                             + "; not in the map",), endpoint=name))
    for n in extras:
        owned = n.spec.engine == ENGINE_NETNS
        who = "made by ipvlan-tui" if owned else f"{n.spec.engine} network, not made by ipvlan-tui"
        result.changes.append(Change(EXTRA, n.spec.name,
                                     (f"{who}; {_parent_desc(n.spec)}; "
                                      + ", ".join(s.cidr for s in n.spec.subnets),), owned=owned))
    if include_all:  # VLAN links on the map's trunks that no network (live or mapped) uses
        trunks = {e.trunk for e in mf.networks if e.trunk} | ({mf.trunk} if mf.trunk else set())
        used = {n.spec.parent.name for n in live if n.spec.parent} | {e.parent_name for e in mf.networks}
        for link in inventory.host_links():
            if link.kind == "vlan" and link.parent_name in trunks and link.name not in used:
                who = "made by ipvlan-tui" if link.owner == OWNER_TOOL else f"owner {link.owner}"
                result.changes.append(Change(EXTRA, link.name, (f"VLAN {link.vlan_id} on {link.parent_name}, "
                                                                f"{who}; no network uses it",),
                                             owned=False, subject="link"))
    return result


def _ep_addrs(ep: MapEndpoint) -> tuple[str, ...]:
    addrs = " ".join(a for a in (ep.ip, ep.ip6) if a)
    return (addrs or "next free address",)


# --------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------
@dataclass
class Unit:
    """One all-or-nothing piece of an apply: its display steps and what runs it."""

    title: str
    steps: list[Step]
    run: Callable[[], str]  # returns a one-line report; raises on failure (after its own rollback)


@dataclass
class ApplyResult:
    plan: Plan
    dry_run: bool
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    nothing_to_do: bool = False


def _display_create_steps(ctl, req: NetworkRequest, want: NetworkSpec,
                          freed: frozenset[str] = frozenset()) -> list[Step]:
    """The controller's own plan when it can make it now, else the same steps from the map's spec.

    `freed`: links that earlier units of the same apply delete (a parent the
    map keeps is then made again)."""
    p = want.parent
    if p is None or p.name not in freed:
        try:
            return list(ctl.plan_network_create(req)[1].steps)
        except (ValidationError, EngineError):
            pass
    steps = [Step(f"record network {want.name} ({want.mode} {want.flag})",
                  f"# store: network {want.name} " + " ".join(s.cidr for s in want.subnets), do=_nothing)]
    remade = p is not None and p.name in freed and p.base and p.vlan_id
    if p is not None and (p.create or remade) and p.kind != PARENT_DUMMY:
        steps.append(Step(f"create 802.1q sub-interface {p.name} (VLAN {p.vlan_id} on {p.base})",
                          f"ip link add link {p.base} name {p.name} type vlan id {p.vlan_id}"
                          f" && ip link set {p.name} up", do=_nothing))
    elif p is not None and p.kind == PARENT_DUMMY:
        steps.append(Step("create isolated dummy parent", "ip link add itd-... type dummy", do=_nothing))
    steps.append(Step(f"mark network {want.name} ready", f"# store: network {want.name} ready", do=_nothing))
    return steps


def _nothing() -> None:
    return None


def _ep_request(net: str, ep: MapEndpoint, engine: str) -> EndpointRequest:
    return EndpointRequest(name=ep.name, network=net, ipv4=ep.ip, ipv6=ep.ip6, engine=engine)


def _ep_steps(ctl, req: EndpointRequest, network_exists: bool) -> list[Step]:
    if network_exists:
        try:
            return list(ctl.plan_endpoint_create(req)[1].steps)
        except (ValidationError, EngineError):
            pass
    argv = ["ipvlan-tui", "run", f"--net={req.network}"]
    if req.ipv4:
        argv.append(f"--ip={req.ipv4}")
    if req.ipv6:
        argv.append(f"--ip6={req.ipv6}")
    argv.append(f"--name={req.name}")
    addrs = ", ".join(a for a in (req.ipv4, req.ipv6) if a) or "next free address"
    return [Step(f"run endpoint {req.name} on {req.network} ({addrs})", shlex.join(argv), do=_nothing)]


def spec_request(spec: NetworkSpec) -> NetworkRequest:
    """A live network -> the request that makes it again (for --replace rollback and export)."""
    opts = []
    p = spec.parent
    if p is not None and p.kind != PARENT_DUMMY and not spec.internal:
        opts.append(f"parent={p.name}")
    opts += [f"ipvlan_mode={spec.mode}", f"ipvlan_flag={spec.flag}"]
    return NetworkRequest(
        name=spec.name,
        subnets=tuple(s.cidr for s in spec.subnets),
        gateways=tuple(s.gateway for s in spec.subnets if s.gateway and (s.gateway_given or spec.mode == "l2")),
        ip_ranges=tuple(s.ip_range for s in spec.subnets if s.ip_range),
        aux_addresses=tuple(f"{n}={ip}" for s in spec.subnets for n, ip in s.aux_addresses),
        options=tuple(opts), internal=spec.internal, ipv6=spec.ipv6, engine=spec.engine, host=spec.host)


def _create_unit(ctl, entry: MapNetwork, want: NetworkSpec, *, old: Network | None = None,
                 freed: set[str] | None = None) -> Unit:
    """Create a network and its endpoints, all or nothing. With `old`, replace that network."""
    req = entry_request(entry)
    # Static addresses first, so an endpoint without one cannot take an address the map gives another.
    eps = [_ep_request(entry.name, ep, entry.engine)
           for ep in sorted(entry.endpoints or (), key=lambda x: not (x.ip or x.ip6))]
    steps: list[Step] = []
    if old is not None:
        try:
            steps += ctl.plan_network_remove(old.spec.name, force=True)[1].steps
        except ValidationError:
            pass
    if old is not None and freed is not None:
        freed.update(old.created_links)
    steps += _display_create_steps(ctl, req, want, frozenset(freed or ()))
    for r in eps:
        steps += _ep_steps(ctl, r, network_exists=False)

    def run() -> str:
        if old is not None:
            ctl.remove_network(old.spec.name, force=True)
        try:
            res = ctl.create_network(req)
        except Exception:
            if old is not None:
                _put_back(ctl, old)
            raise
        made = []
        try:
            for r in eps:
                made.append(ctl.run_endpoint(r).endpoint)
        except Exception as exc:
            try:
                ctl.remove_network(entry.name, force=True)
            except Exception as undo:  # noqa: BLE001 - reported with the cause
                raise EngineError(f"endpoint failed ({exc}) and network {entry.name} could not be "
                                  f"rolled back: {undo}") from exc
            if old is not None:
                _put_back(ctl, old)
            raise EngineError(f"{exc}; network {entry.name} rolled back") from exc
        spec = res.network
        where = _parent_desc(spec)
        text = f"{'re-created' if old else 'created'} network {spec.name} ({where}; " \
               + ", ".join(_subnet_desc(s) for s in spec.subnets) + ")"
        if made:
            text += "; endpoints " + ", ".join(f"{e.name} {e.ipv4 or e.ipv6 or ''}".strip() for e in made)
        return text

    title = f"{'replace' if old else 'create'} network {entry.name}"
    return Unit(title, steps, run)


def _put_back(ctl, old: Network) -> None:
    """Best effort: bring a replaced network back as it was (endpoints with their addresses)."""
    try:
        ctl.create_network(spec_request(old.spec))
        for ep in old.endpoints:
            ctl.run_endpoint(EndpointRequest(ep.name, old.spec.name, ep.ipv4, ep.ipv6, ep.engine))
    except Exception:  # noqa: BLE001 - the original failure is what gets reported
        pass


def plan_apply(ctl, d: MapDiff, *, prune: bool = False, replace: bool = False) -> tuple[list[Unit], list[str]]:
    """The units an apply runs, in order, and what it leaves alone (with why)."""
    mf = d.mapfile
    units: list[Unit] = []
    left: list[str] = []
    live = {n.spec.name: n for n in ctl.networks()}
    freed: set[str] = set()  # links deleted by earlier units (shown as made again when a map entry needs them)

    # 1. extras: pruned only when asked, and only what the tool made
    for c in d.of(EXTRA, endpoints=False):
        if not prune:
            left.append(f"{c.subject} {c.network}: extra, not in the map"
                        + (" (--prune removes it)" if c.owned else "; made by someone else, never pruned"))
        elif not c.owned:
            left.append(f"{c.subject} {c.network}: extra but not made by ipvlan-tui; never pruned")
        else:
            try:
                steps = list(ctl.plan_network_remove(c.network, force=True)[1].steps)
            except HostLinkInUse as exc:  # never prune what would cut the host off
                left.append(f"network {c.network}: extra, but not pruned: {exc.problem}; "
                            f"`ipvlan-tui network rm --force --allow-host-cutoff {c.network}` "
                            "removes it anyway")
                continue
            if c.network in live:
                freed.update(live[c.network].created_links)
            units.append(Unit(f"remove network {c.network}", steps,
                              (lambda n=c.network: (ctl.remove_network(n, force=True),
                                                    f"removed network {n}")[1])))
    for c in d.of(EXTRA, endpoints=True):
        if not prune:
            left.append(f"endpoint {c.endpoint} on {c.network}: extra, not in the map (--prune removes it)")
            continue
        steps = list(ctl.plan_endpoint_remove(c.endpoint)[1].steps)
        units.append(Unit(f"remove endpoint {c.endpoint}", steps,
                          (lambda n=c.endpoint: (ctl.remove_endpoint(n), f"removed endpoint {n}")[1])))

    # 2. broken: the controller's restore re-creates what we made and undoes half-made work
    drifted_nets = {c.network for c in d.of(DRIFT, endpoints=False)}
    # Drifted networks left alone still get their missing links back (restore only re-creates).
    broken = d.of(BROKEN) or ([] if replace else [
        c for c in d.of(DRIFT, endpoints=False) if any("missing from the kernel" in x for x in c.details)])
    if broken or (d.half_made and any(f"network {e.name}" in d.half_made for e in mf.networks)):
        lines = list(d.half_made) + list(d.repairs)
        steps = [Step(f"restore: {'finish or undo half-done' if l in d.half_made else 're-create'} {l}",
                      "ipvlan-tui restore", do=_nothing) for l in lines] or \
                [Step("restore: reconcile kernel and store", "ipvlan-tui restore", do=_nothing)]

        def run_restore() -> str:
            rep = ctl.restore()
            if rep.missing_in_kernel:
                raise EngineError("restore could not re-create: " + "; ".join(rep.missing_in_kernel))
            return "restored: " + ("; ".join(list(rep.rolled_back) + list(rep.repaired)) or "nothing needed")
        units.append(Unit("restore", steps, run_restore))

    # 3. drift: left alone unless --replace
    for c in d.of(DRIFT, endpoints=False):
        if not replace:
            left.append(f"network {c.network}: drifted ({'; '.join(c.details)}); --replace re-creates it")
            continue
        e = mf.entry(c.network)
        assert e is not None
        if live.get(e.name) is not None:
            try:
                ctl.plan_network_remove(e.name, force=True)
            except HostLinkInUse as exc:  # replacing deletes the parent: never cut the host off
                left.append(f"network {c.network}: drifted, but not replaced: {exc.problem}; "
                            f"`ipvlan-tui network rm --force --allow-host-cutoff {c.network}` "
                            "then apply again")
                continue
            except ValidationError:
                pass
        units.append(_create_unit(ctl, e, d.desired[e.name], old=live.get(e.name), freed=freed))
    half_nets = {e.name for e in mf.networks if f"network {e.name}" in d.half_made}
    for c in d.of(DRIFT, endpoints=True):
        if c.network in drifted_nets:
            continue
        if not replace:
            left.append(f"endpoint {c.endpoint} on {c.network}: drifted ({'; '.join(c.details)}); "
                        "--replace re-creates it")
            continue
        e = mf.entry(c.network)
        ep = next(x for x in e.endpoints or () if x.name == c.endpoint)
        req = _ep_request(e.name, ep, e.engine)
        steps = list(ctl.plan_endpoint_remove(ep.name)[1].steps) + _ep_steps(ctl, req, False)

        def run_ep_replace(req=req) -> str:
            ctl.remove_endpoint(req.name)
            res = ctl.run_endpoint(req)
            return f"re-created endpoint {req.name} ({res.endpoint.ipv4 or res.endpoint.ipv6})"
        units.append(Unit(f"replace endpoint {ep.name}", steps, run_ep_replace))

    # 4. missing networks (with their endpoints), then missing endpoints of networks that are there;
    #    a half-made network is undone by restore above and made again here
    for name in sorted(half_nets - (drifted_nets if replace else set())):
        e = mf.entry(name)
        if name in drifted_nets:
            left.append(f"network {name}: half made and drifted; restore undoes it, the next apply creates it")
            continue
        units.append(_create_unit(ctl, e, d.desired[name], freed=freed))
    for c in d.of(MISSING, endpoints=False):
        e = mf.entry(c.network)
        assert e is not None
        units.append(_create_unit(ctl, e, d.desired[e.name], freed=freed))
    redo = [c for c in d.of(BROKEN, endpoints=True) if c.redo]

    def dynamic(c: Change) -> bool:
        e = mf.entry(c.network)
        ep = next((x for x in (e.endpoints if e else None) or () if x.name == c.endpoint), None)
        return not (ep and (ep.ip or ep.ip6))
    for c in sorted(d.of(MISSING, endpoints=True) + redo, key=dynamic):
        if c.network not in live or c.network in drifted_nets and not replace:
            if c.network in drifted_nets and not replace:
                left.append(f"endpoint {c.endpoint} on {c.network}: missing, but its network drifted")
            continue
        if c.network in drifted_nets or c.network in half_nets:
            continue  # re-created with its network
        e = mf.entry(c.network)
        ep = next(x for x in e.endpoints or () if x.name == c.endpoint)
        req = _ep_request(e.name, ep, e.engine)

        def run_ep(req=req) -> str:
            res = ctl.run_endpoint(req)
            return f"created endpoint {req.name} on {req.network} ({res.endpoint.ipv4 or res.endpoint.ipv6})"
        units.append(Unit(f"run endpoint {ep.name}", _ep_steps(ctl, req, True), run_ep))
    return units, left


def apply(ctl, d: MapDiff, *, dry_run: bool = False, prune: bool = False, replace: bool = False,
          on_unit: Callable[[str, bool], None] | None = None) -> ApplyResult:
    """Show the plan and, unless dry_run, run each unit (each all-or-nothing)."""
    units, left = plan_apply(ctl, d, prune=prune, replace=replace)
    steps = [s for u in units for s in u.steps]
    plan = Plan(f"apply {d.mapfile.source}", steps)
    result = ApplyResult(plan=plan, dry_run=dry_run, left_alone=left, nothing_to_do=not units)
    if dry_run or not units:
        return result
    if not ctl.capabilities().root:
        raise EngineError("read-only: applying a map needs root (or CAP_NET_ADMIN)",
                          hint="run it again with sudo, or use --dry-run")
    for u in units:
        try:
            line = u.run()
        except (ValidationError, EngineError, PlanFailed) as exc:
            result.failed.append(f"{u.title}: {exc}")
            if on_unit:
                on_unit(f"{u.title}: FAILED, rolled back: {exc}", False)
            continue
        result.done.append(line)
        if on_unit:
            on_unit(line, True)
    return result


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
def _most_common_trunk(nets: Sequence[Network]) -> str | None:
    bases = Counter(n.spec.parent.base for n in nets
                    if n.spec.parent and n.spec.parent.base and n.spec.parent.vlan_id
                    and n.spec.parent.name == f"{n.spec.parent.base}.{n.spec.parent.vlan_id}")
    return bases.most_common(1)[0][0] if bases else None


def network_entry(net: Network, trunk: str | None, *, engine: str = ENGINE_NETNS,
                  mode: str = DEFAULT_MODE, flag: str = DEFAULT_FLAG, endpoints: bool = True) -> dict:
    s = net.spec
    e: dict = {"name": s.name}
    if s.engine != engine:
        e["engine"] = s.engine
    p = s.parent
    if p is not None and p.kind != PARENT_DUMMY and not s.internal:
        if p.vlan_id and p.base and p.name == f"{p.base}.{p.vlan_id}":
            e["vlan"] = p.vlan_id
            if p.base != trunk:
                e["trunk"] = p.base
        else:
            e["parent"] = p.name
    if s.mode != mode:
        e["mode"] = s.mode
    if s.flag != flag:
        e["flag"] = s.flag
    if s.internal:
        e["internal"] = True
    if s.ipv6 and not s.subnets_v(6):
        e["ipv6"] = True
    subs = []
    for sub in s.subnets:
        d: dict = {"subnet": sub.cidr}
        if sub.gateway:
            d["gateway"] = sub.gateway
        if sub.ip_range:
            d["ip_range"] = sub.ip_range
        if sub.aux_addresses:
            d["aux_addresses"] = dict(sub.aux_addresses)
        subs.append(d)
    e["subnets"] = subs
    if endpoints and s.engine == ENGINE_NETNS:
        eps = []
        for ep in net.endpoints:
            d = {"name": ep.name}
            if ep.ipv4:
                d["ip"] = ep.ipv4
            if ep.ipv6:
                d["ip6"] = ep.ipv6
            eps.append(d)
        if eps:
            e["endpoints"] = eps
    return e


def export_doc(nets: Sequence[Network], *, endpoints: bool = True) -> dict:
    trunk = _most_common_trunk(nets)
    defaults: dict = {"engine": ENGINE_NETNS}
    if trunk:
        defaults["trunk"] = trunk
    defaults["mode"] = DEFAULT_MODE
    defaults["flag"] = DEFAULT_FLAG
    return {"version": MAP_VERSION, "defaults": defaults,
            "networks": [network_entry(n, trunk, endpoints=endpoints) for n in nets]}


def export_toml(nets: Sequence[Network], *, endpoints: bool = True, comment: str = "") -> str:
    return render_toml(export_doc(nets, endpoints=endpoints), comment=comment)


def _docker_argv(spec: NetworkSpec) -> list[str]:
    req = spec_request(spec)
    # Pass every computed value, so every Docker version builds the same network.
    gws = tuple(s.gateway for s in spec.subnets if s.gateway)
    req = replace(req, gateways=gws)
    return request_argv(req, prog=("docker", "network", "create"))


def export_docker(nets: Sequence[Network]) -> str:
    lines = []
    for n in nets:
        lines.append(shlex.join(_docker_argv(n.spec)))
    return "\n".join(lines) + ("\n" if lines else "")


def _y(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def export_compose(nets: Sequence[Network]) -> str:
    """A docker compose `networks:` block (driver ipvlan, driver_opts, ipam config)."""
    out = ["networks:"]
    for n in nets:
        s = n.spec
        out.append(f"  {_y(s.name)}:")
        out.append("    driver: \"ipvlan\"")
        out.append("    driver_opts:")
        p = s.parent
        if p is not None and p.kind != PARENT_DUMMY and not s.internal:
            out.append(f"      parent: {_y(p.name)}")
        out.append(f"      ipvlan_mode: {_y(s.mode)}")
        out.append(f"      ipvlan_flag: {_y(s.flag)}")
        if s.internal:
            out.append("    internal: true")
        if s.ipv6:
            out.append("    enable_ipv6: true")
        out.append("    ipam:")
        out.append("      driver: \"default\"")
        out.append("      config:")
        for sub in s.subnets:
            out.append(f"        - subnet: {_y(sub.cidr)}")
            if sub.gateway:
                out.append(f"          gateway: {_y(sub.gateway)}")
            if sub.ip_range:
                out.append(f"          ip_range: {_y(sub.ip_range)}")
            if sub.aux_addresses:
                out.append("          aux_addresses:")
                for an, ip in sub.aux_addresses:
                    out.append(f"            {_y(an)}: {_y(ip)}")
    if not nets:
        out[0] = "networks: {}"
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# TOML writer (tomllib only reads)
# --------------------------------------------------------------------------
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else json.dumps(k)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON escapes are valid TOML basic-string escapes
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            return "[\n" + "".join(f"  {_value(x)},\n" for x in v) + "]"
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def render_toml(doc: dict, comment: str = "") -> str:
    """A map document as TOML: scalars, then [tables], then [[arrays of tables]]."""
    out: list[str] = [f"# {line}".rstrip() for line in comment.splitlines()]
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)
               and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
    for k, v in scalars.items():
        out.append(f"{_key(k)} = {_value(v)}")
    for k, v in doc.items():
        if isinstance(v, dict):
            out += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in v.items()]
    for k, v in doc.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                out += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_value(b)}" for a, b in item.items()]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# import-table: the NetOps form (vlan,subnet,gateway[,parent]) -> a map
# --------------------------------------------------------------------------
def import_table(text: str, source: str = "table", *, trunk: str = "eth0", name_format: str = "vlan{vlan}",
                 engine: str = ENGINE_NETNS, mode: str = DEFAULT_MODE, flag: str = DEFAULT_FLAG) -> str:
    """CSV lines `vlan,subnet,gateway[,parent]` -> map TOML. Rows with the same VLAN
    (and parent) become one network with several subnets (secondary subnets on an SVI).
    Values are copied as written: `check` reports what is wrong with them."""
    errors: list[ValidationError] = []
    order: list[tuple] = []
    groups: dict[tuple, list[dict]] = {}
    rows = csv.reader(io.StringIO(text), skipinitialspace=True)
    for lineno, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if cells[0].lower() in ("vlan", "vlan id", "vlan_id", "vid"):
            continue  # header
        where = f"{source}:{lineno}"
        if len(cells) < 2 or len(cells) > 4:
            errors.append(ValidationError(where, ",".join(cells), f"has {len(cells)} column(s)",
                                          "write vlan,subnet,gateway[,parent] per line, "
                                          "e.g. 20,172.16.48.0/22,172.16.50.1"))
            continue
        vid_text, subnet = cells[0], cells[1]
        gateway = cells[2] if len(cells) > 2 and cells[2] else None
        parent = cells[3] if len(cells) > 3 and cells[3] else None
        vid_text = re.sub(r"(?i)^vlan\s*", "", vid_text)
        if not vid_text.isdigit() or not 1 <= int(vid_text) <= 4094:
            errors.append(ValidationError(f"{where}.vlan", cells[0], "is not a VLAN id from 1 to 4094",
                                          "the first column is the 802.1q VLAN id"))
            continue
        vid = int(vid_text)
        key = (vid, parent)
        if key not in groups:
            groups[key] = []
            order.append(key)
        sub: dict = {"subnet": subnet}
        if gateway:
            sub["gateway"] = gateway
        groups[key].append(sub)
    if errors:
        raise ValidationErrors(errors)
    if not order:
        raise ValidationError(source, "", "holds no rows", "write vlan,subnet,gateway[,parent] per line")
    nets = []
    for vid, parent in order:
        try:
            name = name_format.format(vlan=vid, parent=parent or trunk)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValidationError("--name-format", name_format, f"cannot be filled in: {exc}",
                                  "use {vlan} (and {parent}), e.g. --name-format vlan{vlan}") from None
        e: dict = {"name": name, "vlan": vid}
        if parent and parent != f"{trunk}.{vid}":
            if "." in parent and parent.rpartition(".")[2] == str(vid):
                e["trunk"] = parent.rpartition(".")[0]
            else:
                e["parent"] = parent
        e["subnets"] = groups[(vid, parent)]
        nets.append(e)
    doc = {"version": MAP_VERSION,
           "defaults": {"engine": engine, "trunk": trunk, "mode": mode, "flag": flag},
           "networks": nets}
    return render_toml(doc, comment=f"ipvlan-tui map, imported from the NetOps table {source}\n"
                                    f"check: ipvlan-tui diff FILE   apply: ipvlan-tui apply FILE")
