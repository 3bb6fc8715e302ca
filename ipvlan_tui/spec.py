"""`docker network create -d ipvlan` options -> NetworkSpec, or ValidationError.

Pure: reads only its arguments (the request, an Inventory snapshot, the
networks already known on this host). Every problem is reported as a
ValidationError naming the field, the bad value and the fix, all of them at
once (ValidationErrors) when there are several, and before anything is
touched. Any input yields a NetworkSpec or a ValidationError, never another
exception (tests/unit/test_spec.py proves it with hypothesis).

Where a rule comes from:
- Docker's ipvlan driver: modes, flags, parent forms, dummy parent for
  no parent / --internal, first usable address as the L2 gateway, gateway
  ignored in L3, one ipvlan network per parent, no macvlan on the same parent;
- Docker's CLI/IPAM: --gateway/--ip-range/--aux-address paired with a
  --subnet by containment, no overlapping subnets, default pools;
- the kernel: one ipvlan mode and flag per parent (the newest wins for all
  links on it), 15-character link names, VLAN ids 1-4094, no VLAN on `lo`.

Subnet.gateway in the spec returned (the address IPAM never hands out):
- l2 with --gateway: that address (gateway_given True), isolated or not;
- l2 without, parent given: the first usable address (gateway_given False);
- l2 without, isolated (no parent or --internal): None, nothing reserved;
- l3/l3s: always None; a typed --gateway is still checked, then dropped
  (gateway_given True) with a warning in spec.warnings.
endpoint_routes() turns this into routes: only non-isolated l2 gets a
`default via`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Sequence

from netaddr import IPAddress, IPNetwork

from ipvlan_tui import ipam
from ipvlan_tui.errors import ValidationError, ValidationErrors
from ipvlan_tui.model import (
    DEFAULT_FLAG,
    DEFAULT_MODE,
    ENGINE_DOCKER,
    ENGINE_NETNS,
    FLAGS,
    MODES,
    PARENT_DUMMY,
    PARENT_EXISTING,
    PARENT_VLAN,
    EndpointRequest,
    Inventory,
    NetworkRequest,
    NetworkSpec,
    ParentPlan,
    Route,
    Subnet,
)

OPT_PARENT = "parent"
OPT_MODE = "ipvlan_mode"
OPT_FLAG = "ipvlan_flag"
KNOWN_OPTIONS = (OPT_PARENT, OPT_MODE, OPT_FLAG)
ENGINES = (ENGINE_NETNS, ENGINE_DOCKER)

DUMMY_PREFIX = "itd-"
IFNAMSIZ = 16  # kernel limit incl. NUL: names are at most 15 characters
MAX_ENDPOINT_NAME = 64

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NETWORK_ID_RE = re.compile(r"[0-9a-f]{12,64}")
_VLAN_ID_RE = re.compile(r"[0-9]+", re.ASCII)
# Link kinds without an Ethernet header: the kernel refuses them as ipvlan masters.
# ("tun" is left out: pyroute2 reports tap devices, which are Ethernet, as tun too.)
_NON_ETHERNET_KINDS = frozenset({"wireguard", "ipip", "sit", "gre", "ip6gre", "ip6tnl", "vti", "vti6",
                                 "can", "vcan", "ppp"})
_LINK_LOCAL_V6 = IPNetwork("fe80::/10")
_LOOPBACK = (IPNetwork("127.0.0.0/8"), IPNetwork("::1/128"))
_MULTICAST = (IPNetwork("224.0.0.0/4"), IPNetwork("ff00::/8"))

_F_DRIVER = "--driver"
_F_NAME = "name"
_F_OPT = "-o"
_F_PARENT = "-o parent"
_F_MODE = "-o ipvlan_mode"
_F_FLAG = "-o ipvlan_flag"
_F_SUBNET = "--subnet"
_F_GATEWAY = "--gateway"
_F_RANGE = "--ip-range"
_F_AUX = "--aux-address"
_F_ENGINE = "--engine"


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def closest(word: str, choices: Sequence[str], cutoff: float = 0.6) -> str | None:
    """The choice `word` was most likely meant to be (case-insensitive), or None."""
    if not isinstance(word, str) or not word:
        return None
    lowered = {c.lower(): c for c in choices}
    hit = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[hit[0]] if hit else None


def closest_option(key: str) -> str | None:
    """The known -o key closest to `key`: ipvlan_mdoe -> ipvlan_mode."""
    return closest(key, KNOWN_OPTIONS)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    hit = closest(word, choices)
    return f"did you mean {hit}? " if hit and hit != word else ""


def _as_tuple(value: object) -> tuple:
    """Request sequences as a tuple; a lone string counts as one item."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        return (value,)


def valid_name(name: object) -> bool:
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def stable_network_id(name: str) -> str:
    """12 hex characters derived from the network name (for netns networks)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def dummy_name(network_id: str) -> str:
    """The isolated network's dummy parent, as Docker names it: 15 characters at most."""
    return DUMMY_PREFIX + network_id[:11]


def valid_ifname(name: str) -> str | None:
    """Why `name` cannot be a Linux link name (dev_valid_name), or None when it can."""
    if not name:
        return "is empty"
    if len(name) >= IFNAMSIZ:
        return f"is {len(name)} characters long; Linux link names have at most {IFNAMSIZ - 1}"
    if name in (".", ".."):
        return "is not a valid link name"
    bad = sorted({c for c in name if c in "/:" or c.isspace() or not c.isprintable()})
    if bad:
        return "contains " + ", ".join(repr(c) for c in bad) + ", which Linux link names cannot hold"
    return None


def parse_aux(text: object) -> tuple[str, IPAddress]:
    """`NAME=IP` of --aux-address -> (name, address). Raises ValidationError."""
    if not isinstance(text, str) or "=" not in text:
        raise ValidationError(_F_AUX, text, "is not of the form NAME=IP",
                              "write it as --aux-address=NAME=IP, e.g. --aux-address=router=192.168.1.5")
    name, _, ip = text.partition("=")
    if not name or re.search(r"\s", name) or not name.isprintable():
        raise ValidationError(_F_AUX, text, f"the name {name!r} is empty or holds spaces",
                              "give a plain name before '=', e.g. --aux-address=router=192.168.1.5")
    addr = ipam.parse_address(ip)
    if addr is None:
        raise ValidationError(_F_AUX, text, f"{ip!r} is not an IP address",
                              f"write a plain address after '=', e.g. --aux-address={name}=192.168.1.5")
    return name, addr


def _host_bits_fix(field: str, text: str, net: IPNetwork) -> ValidationError:
    meant = str(net.cidr)
    return ValidationError(field, text, f"has host bits set ({net.ip} is not the first address of a /{net.prefixlen})",
                           f"did you mean {meant}?")


def _parse_network_arg(field: str, text: object, errors: list[ValidationError],
                       broken: list[IPNetwork] | None = None) -> IPNetwork | None:
    """A --subnet/--ip-range value as a network with zero host bits, or None (error recorded).

    A value refused for its host bits goes to `broken` as what was meant, so
    the --gateway typed with it is not reported a second time.
    """
    net = ipam.parse_cidr(text)
    if net is None:
        if ipam.parse_address(text) is not None:
            errors.append(ValidationError(field, text, "has no prefix length",
                                          f"write it as address/prefix, e.g. {field}={text}/24"
                                          if ":" not in str(text) else
                                          f"write it as address/prefix, e.g. {field}={text}/64"))
        else:
            errors.append(ValidationError(field, text, "is not a CIDR subnet",
                                          f"write it as address/prefix, e.g. {field}=192.168.1.0/24 "
                                          f"or {field}=2001:db8::/64"))
        return None
    if net.ip != net.network:
        errors.append(_host_bits_fix(field, text, net))  # type: ignore[arg-type]
        if broken is not None:
            broken.append(net.cidr)
        return None
    return net


def _host_net(addr: IPAddress) -> IPNetwork:
    return IPNetwork((int(addr), 32 if addr.version == 4 else 128), version=addr.version)


def _inside_any(probe: IPNetwork, nets: list[IPNetwork]) -> bool:
    return any(ipam.contains(n, probe) for n in nets)


def _owner_of(cidr: IPNetwork, given: list[tuple[IPNetwork, object]]) -> list[int]:
    return [i for i, (net, _) in enumerate(given) if ipam.contains(net, cidr)]


# --------------------------------------------------------------------------
# Network validation
# --------------------------------------------------------------------------
def validate_network(
    req: NetworkRequest,
    inventory: Inventory,
    networks: Sequence[NetworkSpec],
    *,
    network_id: str = "",
) -> NetworkSpec:
    """Validate a `docker network create -d ipvlan` request into a NetworkSpec.

    `networks` are every network already on this host (all engines), checked
    for name, parent and subnet clashes. `network_id` is the hex id the caller
    assigns (Docker's 64-hex id, or "" to derive 12 hex from the name); it
    names the dummy parent of isolated networks ("itd-" + 11 chars).

    Raises ValidationError (one problem) or ValidationErrors (several).
    """
    errors: list[ValidationError] = []
    warnings: list[str] = []
    networks = tuple(n for n in _as_tuple(networks) if isinstance(n, NetworkSpec))

    # -- driver, engine, name -------------------------------------------------
    driver = req.driver
    if driver != "ipvlan":
        hint = _did_you_mean(driver, ("ipvlan",)) if isinstance(driver, str) else ""
        errors.append(ValidationError(_F_DRIVER, driver, "is not ipvlan; this tool builds ipvlan networks only",
                                      f"{hint}use -d ipvlan".strip()))
    engine = req.engine
    if engine not in ENGINES:
        errors.append(ValidationError(_F_ENGINE, engine, "is not a known engine",
                                      f"{_did_you_mean(engine, ENGINES)}use one of: {', '.join(ENGINES)}"))
    name = req.name
    if not valid_name(name):
        errors.append(ValidationError(
            _F_NAME, name, "is not a valid network name",
            "start with a letter or digit and use only letters, digits, '_', '.' and '-', e.g. db_net"))
    else:
        for other in networks:
            if other.name == name:
                errors.append(ValidationError(
                    _F_NAME, name, f"a network named {name} already exists ({other.engine} engine)",
                    f"choose another name, or remove network {name} first"))
                break

    if network_id == "":
        network_id = stable_network_id(name if isinstance(name, str) else repr(name))
    elif not isinstance(network_id, str) or not _NETWORK_ID_RE.fullmatch(network_id):
        raise ValueError(f"network_id must be 12-64 lowercase hex characters, got {network_id!r}")

    # -- options ----------------------------------------------------------------
    opts = _parse_options(_as_tuple(req.options), errors)
    mode = opts.get(OPT_MODE) or DEFAULT_MODE
    flag = opts.get(OPT_FLAG) or DEFAULT_FLAG
    mode_ok = flag_ok = True
    if mode not in MODES:
        mode_ok = False
        errors.append(ValidationError(_F_MODE, mode, "is not an ipvlan mode",
                                      f"{_did_you_mean(mode, MODES)}use one of: {', '.join(MODES)} (default {DEFAULT_MODE})"))
        mode = DEFAULT_MODE
    if flag not in FLAGS:
        flag_ok = False
        errors.append(ValidationError(_F_FLAG, flag, "is not an ipvlan flag",
                                      f"{_did_you_mean(flag, FLAGS)}use one of: {', '.join(FLAGS)} (default {DEFAULT_FLAG})"))
        flag = DEFAULT_FLAG
    internal = req.internal is True

    # -- parent -----------------------------------------------------------------
    parent_text = opts.get(OPT_PARENT) or ""
    if internal or not parent_text:
        parent = ParentPlan(kind=PARENT_DUMMY, name=dummy_name(network_id), create=True)
        if internal and parent_text:
            warnings.append(f"-o parent={parent_text} ignored: --internal networks get their own "
                            f"dummy parent {parent.name}, so nothing outside the network is reachable")
    else:
        parent = _check_parent(parent_text, mode if mode_ok else None, flag if flag_ok else None,
                               inventory, networks, errors)

    # -- subnets ----------------------------------------------------------------
    given: list[tuple[IPNetwork, object]] = []
    broken: list[IPNetwork] = []  # refused subnets: values inside them are not reported again
    for text in _as_tuple(req.subnets):
        net = _parse_network_arg(_F_SUBNET, text, errors, broken)
        if net is None:
            continue
        problem = _subnet_problem(net, text, given, networks)
        if problem is not None:
            errors.append(problem)
            broken.append(net)
            continue
        given.append((net, text))

    v6_given = any(net.version == 6 for net, _ in given)
    v4_given = any(net.version == 4 for net, _ in given)
    subnet_errors = any(e.field == _F_SUBNET for e in errors)
    default_v4: IPNetwork | None = None
    if not v4_given and not subnet_errors:
        try:
            default_v4 = IPNetwork(ipam.default_pool(_taken_for_pool(inventory, networks)))
        except ValidationError as err:
            errors.append(err)

    # -- gateways, ranges, aux addresses, paired by containment -------------------
    gateways: dict[int, IPAddress] = {}
    for text in _as_tuple(req.gateways):
        addr = ipam.parse_address(text)
        if addr is None:
            fix = "give a plain address inside its --subnet, e.g. --gateway=192.168.1.1"
            if ipam.parse_cidr(text) is not None:
                fix = f"give it without the prefix: --gateway={str(text).split('/', 1)[0]}"
            errors.append(ValidationError(_F_GATEWAY, text, "is not an IP address", fix))
            continue
        owners = _owner_of(_host_net(addr), given)
        if not owners:
            if not _inside_any(_host_net(addr), broken):
                errors.append(_not_inside(_F_GATEWAY, str(addr), addr.version, given, subnet_errors))
            continue
        i = owners[0]
        net = given[i][0]
        if i in gateways:
            errors.append(ValidationError(_F_GATEWAY, str(addr), f"is a second gateway for {net} (first: {gateways[i]})",
                                          f"give one --gateway per --subnet; keep {gateways[i]} or {addr}"))
            continue
        lo, hi = ipam.usable_range(net)
        if not lo <= int(addr) <= hi:
            what = "network" if int(addr) == net.first else "broadcast"
            if net.version == 6:
                what = "subnet-router anycast"
            errors.append(ValidationError(_F_GATEWAY, str(addr), f"is the {what} address of {net}",
                                          f"use a usable address, e.g. --gateway={IPAddress(lo, net.version)}"))
            continue
        gateways[i] = addr

    ranges: dict[int, IPNetwork] = {}
    for text in _as_tuple(req.ip_ranges):
        rng = _parse_network_arg(_F_RANGE, text, errors)
        if rng is None:
            continue
        owners = _owner_of(rng, given)
        if not owners:
            if not _inside_any(rng, broken):
                errors.append(_not_inside(_F_RANGE, str(rng), rng.version, given, subnet_errors))
            continue
        i = owners[0]
        if i in ranges:
            errors.append(ValidationError(_F_RANGE, str(rng), f"is a second --ip-range for {given[i][0]} (first: {ranges[i]})",
                                          "give at most one --ip-range per --subnet"))
            continue
        ranges[i] = rng

    aux: dict[int, list[tuple[str, str]]] = {}
    aux_names: dict[str, str] = {}
    aux_ips: dict[int, str] = {}
    for text in _as_tuple(req.aux_addresses):
        try:
            aname, addr = parse_aux(text)
        except ValidationError as err:
            errors.append(err)
            continue
        owners = _owner_of(_host_net(addr), given)
        if not owners:
            if not _inside_any(_host_net(addr), broken):
                errors.append(_not_inside(_F_AUX, text, addr.version, given, subnet_errors))
            continue
        i = owners[0]
        net = given[i][0]
        if aname in aux_names:
            errors.append(ValidationError(_F_AUX, text, f"the name {aname} is already used for {aux_names[aname]}",
                                          "give each --aux-address its own name"))
            continue
        if int(addr) in aux_ips:
            errors.append(ValidationError(_F_AUX, text, f"{addr} is already reserved as {aux_ips[int(addr)]}",
                                          "reserve each address once"))
            continue
        lo, hi = ipam.usable_range(net)
        if not lo <= int(addr) <= hi:
            errors.append(ValidationError(_F_AUX, text, f"{addr} is the network or broadcast address of {net}",
                                          f"reserve a usable address of {net}"))
            continue
        gw = gateways.get(i)
        if gw is not None and gw == addr and mode == "l2":  # l3/l3s: the gateway is dropped, not reserved
            errors.append(ValidationError(_F_AUX, text, f"{addr} is the --gateway of {net}",
                                          "the gateway is reserved already; reserve another address"))
            continue
        aux_names[aname] = str(addr)
        aux_ips[int(addr)] = aname
        aux.setdefault(i, []).append((aname, str(addr)))

    # -- build the subnets --------------------------------------------------------
    isolated = parent is not None and parent.kind == PARENT_DUMMY
    l2 = mode == "l2"
    subnets: list[Subnet] = []
    if default_v4 is not None:
        subnets.append(_make_subnet(default_v4, None, None, (), l2, isolated, errors))
    ignored: list[str] = []
    for i, (net, _) in enumerate(given):
        gw = gateways.get(i)
        if gw is not None and not l2:
            ignored.append(str(gw))
        subnets.append(_make_subnet(net, gw, ranges.get(i), tuple(aux.get(i, ())), l2, isolated, errors))
    if ignored:
        warnings.append(f"--gateway {', '.join(ignored)} ignored: in {mode} mode endpoints use "
                        f"'default dev eth0' (the parent routes; there is no next hop)")
    if l2 and not isolated:
        for sub in subnets:
            net = IPNetwork(sub.cidr)
            if net.size == 1 and sub.gateway is not None:
                warnings.append(f"{sub.cidr} holds one address and it is the gateway: no endpoint fits; "
                                f"use a /31 or larger, or l3 mode")
    if not l2 and parent is not None and parent.kind == PARENT_EXISTING:
        link = inventory.by_name(parent.name)
        host_nets = [n for n in (ipam.parse_cidr(a) for a in (link.addresses if link else ())) if n is not None]
        for sub in subnets:
            net = IPNetwork(sub.cidr)
            for hn in host_nets:
                if ipam.overlaps(net, hn.cidr):
                    warnings.append(f"{sub.cidr} overlaps {hn.cidr} of the parent {parent.name}: in {mode} mode "
                                    f"the network should be on its own subnet, routed to the host")

    if errors:
        raise errors[0] if len(errors) == 1 else ValidationErrors(errors)

    return NetworkSpec(
        name=name,
        mode=mode,
        flag=flag,
        parent=parent,
        subnets=tuple(subnets),
        internal=internal,
        ipv6=bool(req.ipv6 is True or v6_given),
        engine=engine,
        host=req.host if isinstance(req.host, str) else "",
        network_id=network_id,
        warnings=tuple(warnings),
    )


def _subnet_problem(net: IPNetwork, text: object, given: list[tuple[IPNetwork, object]],
                    networks: tuple[NetworkSpec, ...]) -> ValidationError | None:
    """Why a well-formed --subnet cannot be used, or None."""
    if net.prefixlen == 0:
        return ValidationError(_F_SUBNET, text, "covers the whole address space",
                               "give the subnet the endpoints really use, e.g. --subnet=192.168.1.0/24")
    if ipam.overlaps(net, _LINK_LOCAL_V6):
        return ValidationError(_F_SUBNET, text, "is IPv6 link-local (fe80::/10), which every link already has",
                               "use a global or unique-local prefix, e.g. --subnet=2001:db8:abc2::/64 or fd00:1::/64")
    if any(ipam.overlaps(net, lb) for lb in _LOOPBACK):
        return ValidationError(_F_SUBNET, text, "is a loopback range, which the kernel never routes off lo",
                               "use a private range such as --subnet=10.10.0.0/24")
    if any(ipam.overlaps(net, mc) for mc in _MULTICAST):
        return ValidationError(_F_SUBNET, text, "is a multicast range, which cannot hold host addresses",
                               "use a private range such as --subnet=10.10.0.0/24")
    clash = next((g for g, _ in given if ipam.overlaps(net, g)), None)
    if clash is not None:
        return ValidationError(_F_SUBNET, str(net), f"overlaps {clash}, also given for this network",
                               "give each --subnet once and make them disjoint")
    other = _overlapping_network(net, networks)
    if other is not None:
        oname, ocidr = other
        return ValidationError(_F_SUBNET, str(net), f"overlaps {ocidr} of network {oname}",
                               f"pick a subnet outside {ocidr}, or add endpoints to {oname} instead")
    return None


def _parse_options(options: tuple, errors: list[ValidationError]) -> dict[str, str]:
    """-o key=value pairs; unknown keys and conflicting repeats are errors."""
    seen: dict[str, str] = {}
    for item in options:
        if not isinstance(item, str) or "=" not in item:
            errors.append(ValidationError(_F_OPT, item, "is not of the form key=value",
                                          f"write -o key=value with key one of: {', '.join(KNOWN_OPTIONS)}"))
            continue
        key, _, value = item.partition("=")
        if key not in KNOWN_OPTIONS:
            hit = closest_option(key)
            mean = f"did you mean {hit}? " if hit else ""
            errors.append(ValidationError(_F_OPT, item, f"unknown option {key!r}",
                                          f"{mean}known options: {', '.join(KNOWN_OPTIONS)}"))
            continue
        if key in seen and seen[key] != value:
            errors.append(ValidationError(f"-o {key}", value, f"given twice with different values ({seen[key]!r} and {value!r})",
                                          f"give -o {key} once"))
            continue
        seen[key] = value
    return seen


def _check_parent(
    text: str,
    mode: str | None,
    flag: str | None,
    inventory: Inventory,
    networks: tuple[NetworkSpec, ...],
    errors: list[ValidationError],
) -> ParentPlan | None:
    """-o parent=NAME -> ParentPlan, or None (errors recorded)."""
    host_names = [l.name for l in inventory.host_links()]
    isolated_fix = "or leave -o parent out for an isolated network"
    if text == "lo":
        errors.append(ValidationError(_F_PARENT, text, "the loopback link cannot be an ipvlan parent",
                                      f"use a physical or VLAN link such as eth0 or eth0.10, {isolated_fix}"))
        return None
    bad = valid_ifname(text)
    if bad:
        errors.append(ValidationError(_F_PARENT, text, bad,
                                      "name an existing link (e.g. eth0) or a VLAN sub-interface base.vlan_id "
                                      "(e.g. eth0.10) of at most 15 characters"))
        return None

    existing = inventory.by_name(text)
    if existing is not None:
        is_vlan = existing.kind == "vlan"
        plan = ParentPlan(kind=PARENT_EXISTING, name=text, base=existing.parent_name if is_vlan else None,
                          vlan_id=existing.vlan_id if is_vlan else None, create=False)
    elif "." in text:
        base, _, vid = text.rpartition(".")
        if "." in base or not base:
            errors.append(ValidationError(_F_PARENT, text, "does not exist and is not of the form base.vlan_id",
                                          "create it first, or use one dot: e.g. -o parent=eth0.10"))
            return None
        if not _VLAN_ID_RE.fullmatch(vid) or not 1 <= int(vid) <= 4094:
            errors.append(ValidationError(_F_PARENT, text, f"VLAN id {vid!r} is not a number from 1 to 4094",
                                          f"use a VLAN id 1-4094, e.g. -o parent={base}.10"))
            return None
        vlan_id = int(vid)
        if base == "lo":
            errors.append(ValidationError(_F_PARENT, text, "the loopback link cannot carry VLANs",
                                          f"put the VLAN on a physical link, e.g. -o parent=eth0.{vlan_id}"))
            return None
        if inventory.by_name(base) is None:
            errors.append(ValidationError(_F_PARENT, text, f"its base link {base} does not exist on this host",
                                          _link_fix(base, host_names, f".{vlan_id}")))
            return None
        twin = next((l for l in inventory.host_links()
                     if l.kind == "vlan" and l.parent_name == base and l.vlan_id == vlan_id), None)
        if twin is not None:
            errors.append(ValidationError(_F_PARENT, text, f"VLAN {vlan_id} on {base} already exists as {twin.name} "
                                          "(the kernel allows one link per VLAN id and base)",
                                          f"use -o parent={twin.name}"))
            return None
        return ParentPlan(kind=PARENT_VLAN, name=text, base=base, vlan_id=vlan_id, create=True)
    else:
        errors.append(ValidationError(_F_PARENT, text, "no such link on this host", _link_fix(text, host_names, "")))
        return None

    # The parent exists: the kernel wants an Ethernet-like master (EINVAL otherwise).
    if existing.kind in _NON_ETHERNET_KINDS:
        errors.append(ValidationError(_F_PARENT, text, f"is a {existing.kind} link, not an Ethernet link; "
                                      "ipvlan needs an Ethernet parent",
                                      f"use a physical or VLAN link such as eth0 or eth0.10, {isolated_fix}"))
        return None
    # Check what already hangs off it.
    children = inventory.children_of(text)
    macvlans = [l for l in children if l.kind == "macvlan"]
    if macvlans:
        errors.append(ValidationError(_F_PARENT, text,
                                      f"already carries macvlan link(s) {_link_list(macvlans)}; the kernel refuses "
                                      "ipvlan and macvlan on one parent (EBUSY)",
                                      f"use another parent (e.g. a VLAN {text}.N), {isolated_fix}"))
    for other in networks:
        if other.parent is not None and other.parent.kind != PARENT_DUMMY and other.parent.name == text:
            errors.append(ValidationError(_F_PARENT, text,
                                          f"is already the parent of ipvlan network {other.name} "
                                          "(one ipvlan network per parent)",
                                          f"add the subnet to {other.name} with --subnet instead, "
                                          f"or use a VLAN sub-interface such as {text}.N"))
            break
    if mode is not None and flag is not None:
        ipvlans = [l for l in children if l.kind == "ipvlan"]
        differ = [l for l in ipvlans if (l.ipvlan_mode, l.ipvlan_flag) != (mode, flag)]
        if differ:
            errors.append(ValidationError(
                _F_PARENT, text,
                f"has ipvlan link(s) in another mode/flag: {_link_list(differ, modes=True)}; the kernel keeps one "
                f"mode and flag per parent and would silently switch them all to {mode} {flag}",
                f"use -o ipvlan_mode={_common(differ, 'ipvlan_mode', mode)} "
                f"-o ipvlan_flag={_common(differ, 'ipvlan_flag', flag)} to match them, or another parent"))
    return plan


def _common(links: list, attr: str, fallback: str) -> str:
    values = {getattr(l, attr) for l in links}
    return values.pop() if len(values) == 1 and None not in values else fallback


def _link_list(links: list, modes: bool = False) -> str:
    parts = []
    for l in links:
        where = f" in {l.netns}" if l.netns else ""
        how = f" ({l.ipvlan_mode or 'mode unknown'} {l.ipvlan_flag or 'flag unknown'})" if modes else ""
        parts.append(f"{l.name}{where}{how}")
    return ", ".join(parts)


def _link_fix(name: str, host_names: list[str], suffix: str) -> str:
    hit = closest(name, host_names)
    if hit:
        return f"did you mean -o parent={hit}{suffix}?"
    shown = ", ".join(sorted(n for n in host_names if n != "lo")[:8])
    return f"name an existing link ({shown})" if shown else "name an existing link"


def _not_inside(field: str, value: str, version: int, given: list[tuple[IPNetwork, object]],
                subnet_errors: bool) -> ValidationError:
    same = [str(n) for n, _ in given if n.version == version]
    if same:
        fix = f"give an address inside {' or '.join(same)}, or add the --subnet it belongs to"
    elif subnet_errors:
        fix = "fix the --subnet errors first; every such value is paired with the --subnet containing it"
    else:
        fix = f"add the IPv{version} --subnet it belongs to (values are paired with the --subnet containing them)"
    return ValidationError(field, value, f"is not inside any IPv{version} --subnet", fix)


def conflicts(spec: NetworkSpec, others) -> ValidationError | None:
    """The first clash of a validated spec with networks recorded meanwhile.

    Checked again under the store's write lock when the network is recorded:
    two processes may both have validated against the same older list (one
    ipvlan network per parent, no overlapping subnets)."""
    others = tuple(o for o in others if o.name != spec.name)
    p = spec.parent
    if p is not None and p.kind != PARENT_DUMMY:
        for other in others:
            if other.parent is not None and other.parent.kind != PARENT_DUMMY and other.parent.name == p.name:
                return ValidationError(_F_PARENT, p.name,
                                       f"became the parent of ipvlan network {other.name} meanwhile "
                                       "(created by another ipvlan-tui at the same time; one ipvlan "
                                       "network per parent)",
                                       f"add the subnet to {other.name} with --subnet instead, or use "
                                       f"another VLAN such as {p.base or p.name}.N")
    for sub in spec.subnets:
        net = ipam.parse_cidr(sub.cidr)
        hit = _overlapping_network(net, others) if net is not None else None
        if hit is not None:
            oname, ocidr = hit
            return ValidationError(_F_SUBNET, sub.cidr,
                                   f"overlaps {ocidr} of network {oname}, created meanwhile by "
                                   "another ipvlan-tui",
                                   f"pick a subnet outside {ocidr}, or add endpoints to {oname} instead")
    return None


def _overlapping_network(net: IPNetwork, networks: tuple[NetworkSpec, ...]) -> tuple[str, str] | None:
    for other in networks:
        for sub in other.subnets:
            onet = ipam.parse_cidr(sub.cidr)
            if onet is not None and ipam.overlaps(net, onet):
                return other.name, sub.cidr
    return None


def _taken_for_pool(inventory: Inventory, networks: tuple[NetworkSpec, ...]) -> list[str]:
    taken = [s.cidr for n in networks for s in n.subnets]
    taken.extend(r for r in inventory.host_routes if isinstance(r, str))
    for link in inventory.host_links():
        for a in link.addresses:
            net = ipam.parse_cidr(a)
            if net is not None:
                taken.append(str(net.cidr))
    return taken


def _make_subnet(net: IPNetwork, gw: IPAddress | None, rng: IPNetwork | None,
                 aux: tuple[tuple[str, str], ...], l2: bool, isolated: bool,
                 errors: list[ValidationError]) -> Subnet:
    given = gw is not None
    if not l2:
        gateway = None  # L3/L3S: ignored, never reserved
    elif given:
        gateway = str(gw)
    elif isolated:
        gateway = None  # isolated L2 reserves none
    else:
        gateway = ipam.first_usable(str(net))
        clash = next((a for a in aux if a[1] == gateway), None)
        if clash is not None:
            errors.append(ValidationError(_F_AUX, f"{clash[0]}={clash[1]}",
                                          f"{gateway} is the default gateway of {net} (its first usable address)",
                                          f"pass --gateway explicitly, or reserve another address"))
    return Subnet(cidr=str(net), gateway=gateway, gateway_given=given,
                  ip_range=str(rng) if rng is not None else None, aux_addresses=aux)


# --------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------
def validate_endpoint(
    req: EndpointRequest,
    network: NetworkSpec,
    used: Collection[str],
    existing_names: Collection[str],
) -> None:
    """Check an endpoint's name and static --ip/--ip6 before anything is touched.

    `used`: addresses already allocated on `network`; `existing_names`:
    endpoint names already taken (any network). "" for --ip/--ip6 means none.
    """
    errors: list[ValidationError] = []
    name = req.name
    if not valid_name(name):
        errors.append(ValidationError("--name", name, "is not a valid endpoint name",
                                      "start with a letter or digit and use only letters, digits, '_', '.' and '-'"))
    elif len(name) > MAX_ENDPOINT_NAME:
        errors.append(ValidationError("--name", name, f"is {len(name)} characters long",
                                      f"use at most {MAX_ENDPOINT_NAME} characters"))
    elif name in existing_names:
        errors.append(ValidationError("--name", name, "an endpoint with this name already exists",
                                      f"choose another name, or remove {name} first"))
    for field, text, version in (("--ip", req.ipv4, 4), ("--ip6", req.ipv6, 6)):
        if text is None or text == "":
            continue
        err = _check_static(field, text, version, network, used)
        if err is not None:
            errors.append(err)
    if errors:
        raise errors[0] if len(errors) == 1 else ValidationErrors(errors)


def _check_static(field: str, text: object, version: int, network: NetworkSpec,
                  used: Collection[str]) -> ValidationError | None:
    subs = network.subnets_v(version)
    addr = ipam.parse_address(text)
    if addr is None:
        if ipam.parse_cidr(text) is not None:
            return ValidationError(field, text, "takes a plain address, not a CIDR",
                                   f"give it without the prefix: {field}={str(text).split('/', 1)[0]}")
        where = " or ".join(s.cidr for s in subs)
        return ValidationError(field, text, "is not an IP address",
                               f"give an address inside {where}" if where else f"give an IPv{version} address")
    if addr.version != version:
        other = "--ip6" if addr.version == 6 else "--ip"
        return ValidationError(field, str(addr), f"is an IPv{addr.version} address", f"pass it with {other}")
    if not subs:
        return ValidationError(field, str(addr), f"network {network.name} has no IPv{version} subnet",
                               f"leave {field} out, or create the network with an IPv{version} --subnet")
    sub = ipam.subnet_for(network, str(addr))
    if sub is None:
        return ValidationError(field, str(addr), f"is not inside any IPv{version} subnet of {network.name}",
                               f"give an address inside {' or '.join(s.cidr for s in subs)}")
    try:
        ipam.check_address(sub, str(addr), used, field=field)
    except ValidationError as err:
        return err
    return None


def endpoint_routes(network: NetworkSpec, ipv4: str | None, ipv6: str | None) -> tuple[Route, ...]:
    """Routes to add inside an endpoint, besides the connected route the kernel adds.

    L2: `default via GW` per family whose subnet has a gateway; isolated L2: none.
    L3/L3S: `default dev eth0` per family the endpoint has; with --internal,
    one on-link route per other subnet of that family instead, and no default.
    """
    routes: list[Route] = []
    for version, addr in ((4, ipv4), (6, ipv6)):
        if not addr:
            continue
        own = ipam.subnet_for(network, addr)
        if network.mode == "l2":
            if network.isolated or own is None or own.gateway is None:
                continue
            routes.append(Route(dst="default", via=own.gateway, family=version))
        elif network.internal:
            for sub in network.subnets_v(version):
                if own is None or sub.cidr != own.cidr:
                    routes.append(Route(dst=sub.cidr, via=None, family=version))
        else:
            routes.append(Route(dst="default", via=None, family=version))
    return tuple(routes)
