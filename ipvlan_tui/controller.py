"""The one facade for the CLI and the console: validate -> plan -> apply/roll back -> report.

It owns no UI and no netlink: the kernel backend (engines/) does the work,
the store remembers what we made, spec/ipam/plan decide what to do.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ipvlan_tui import ipam, spec as specmod
from ipvlan_tui.engines import hostsfile
from ipvlan_tui.engines.base import KernelBackend
from ipvlan_tui.errors import EngineError, HostLinkInUse, ValidationError
from ipvlan_tui.model import (
    ENDPOINT_IFNAME,
    ENGINE_DOCKER,
    ENGINE_NETNS,
    OWNER_DOCKER,
    OWNER_TOOL,
    PARENT_DUMMY,
    PARENT_VLAN,
    Endpoint,
    EndpointRequest,
    Inventory,
    Link,
    Network,
    NetworkRequest,
    NetworkSpec,
    Topology,
)
from ipvlan_tui.plan import Plan, Step
from ipvlan_tui.store import Store

ProgressFn = Callable[[int, Step, str], None]


@dataclass(frozen=True)
class LogEntry:
    when: float
    action: str
    commands: tuple[str, ...]
    outcome: str  # "ok", "dry-run", "failed: ...", "rolled back: ..."


@dataclass(frozen=True)
class OpResult:
    plan: Plan
    dry_run: bool = False
    network: NetworkSpec | None = None
    endpoint: Endpoint | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    root: bool
    drivers: dict[str, bool]
    docker: str  # "ok", or why Docker cannot be reached, or "off"

    @property
    def missing_drivers(self) -> list[str]:
        return [d for d, ok in self.drivers.items() if not ok]

    @property
    def can_change(self) -> bool:
        return self.root and not self.missing_drivers

    @property
    def why_read_only(self) -> str:
        if not self.root:
            return "read-only: not root (needs root or CAP_NET_ADMIN)"
        if self.missing_drivers:
            return ("this kernel lacks the " + ", ".join(self.missing_drivers)
                    + " driver(s); try `ipvlan-tui lab shell`")
        return ""


@dataclass(frozen=True)
class RestoreReport:
    repaired: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    orphans_in_kernel: tuple[str, ...] = ()  # ours by record, but no network/endpoint row
    missing_in_kernel: tuple[str, ...] = ()  # could not be recreated
    unchanged: bool = True
    finished: tuple[str, ...] = ()  # removals a crash interrupted, now completed


def _new_id() -> str:
    return secrets.token_hex(32)


def _is_root() -> bool:
    return os.geteuid() == 0


class Controller:
    def __init__(
        self,
        kernel: KernelBackend,
        store: Store,
        *,
        hosts_root: Path | None = None,
        root: bool | None = None,
        docker: object | None = None,
    ) -> None:
        self.kernel = kernel
        self.store = store
        self.hosts_root = hosts_root or hostsfile.DEFAULT_ROOT
        self.root = _is_root() if root is None else root
        self.docker = docker  # a DockerEngine when one is reachable (engines/docker.py)
        self.log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self._drivers: dict[str, bool] | None = None

    # ------------------------------------------------------------------ reads
    def capabilities(self) -> Capabilities:
        if self._drivers is None:
            try:
                self._drivers = self.kernel.probe_drivers()
            except EngineError:
                self._drivers = {"ipvlan": False, "8021q": False, "dummy": False}
        docker = "off"
        if self.docker is not None:
            docker = getattr(self.docker, "status", lambda: "ok")()
        return Capabilities(root=self.root, drivers=dict(self._drivers), docker=docker)

    def inventory(self) -> Inventory:
        inv = self.kernel.inventory()
        return self._mark_owners(inv)

    def _mark_owners(self, inv: Inventory) -> Inventory:
        owned = {(r["name"], r["netns"]) for r in self.store.owned("link")}
        owned_ns = {r["name"] for r in self.store.owned("netns")}
        links = []
        for link in inv.links:
            owner = link.owner
            if (link.name, link.netns) in owned or (link.netns and link.netns in owned_ns):
                owner = OWNER_TOOL
            elif link.kind == "dummy" and link.name.startswith("di-"):
                owner = OWNER_DOCKER
            elif link.netns.startswith("pid:"):
                owner = OWNER_DOCKER
            links.append(replace(link, owner=owner) if owner != link.owner else link)
        return replace(inv, links=tuple(links))

    def network_specs(self) -> list[NetworkSpec]:
        specs = [s for s, _ in self.store.networks()]
        if self.docker is not None:
            try:
                specs.extend(n.spec for n in self.docker.networks())
            except EngineError:
                pass
        return specs

    def networks(self, inventory: Inventory | None = None) -> list[Network]:
        inv = inventory or self.kernel.inventory()
        eps = self._netns_endpoints(inv)
        owned = self.store.owned("link")
        result = []
        for spec, state in self.store.networks():
            made = tuple(r["name"] for r in owned if r["network"] == spec.name and not r["endpoint"])
            result.append(Network(spec=spec, endpoints=tuple(e for e in eps if e.network == spec.name),
                                  created_links=made))
        if self.docker is not None:
            try:
                result.extend(self.docker.networks())
            except EngineError:
                pass
        return result

    def endpoints(self, inventory: Inventory | None = None) -> list[Endpoint]:
        """Every endpoint: ours (netns) with its live state, and Docker's containers."""
        result = self._netns_endpoints(inventory or self.kernel.inventory())
        if self.docker is not None:
            try:
                result.extend(e for n in self.docker.networks() for e in n.endpoints)
            except EngineError:
                pass  # unreachable daemon: the netns side still lists
        return result

    def _netns_endpoints(self, inv: Inventory) -> list[Endpoint]:
        # One pass over the links, not one scan per endpoint (thousands of each).
        with_eth0 = {l.netns for l in inv.links if l.name == ENDPOINT_IFNAME and l.netns}
        result = []
        for ep, state in self.store.endpoints():
            if state in ("creating", "removing"):
                live = state
            elif ep.netns in with_eth0:
                live = "running"
            else:
                live = "missing"
            result.append(replace(ep, state=live))
        return result

    def topology(self) -> Topology:
        inv = self.inventory()
        status = [(ENGINE_NETNS, "ok")]
        if self.docker is not None:
            status.append((ENGINE_DOCKER, self.capabilities().docker))
        return Topology(inventory=inv, networks=tuple(self.networks(inv)),
                        engines_status=tuple(status))

    def network(self, name: str) -> Network:
        for net in self.networks():
            if net.spec.name == name:
                return net
        raise ValidationError("network", name, "no such network",
                              "see `ipvlan-tui network ls` for the names")

    # ------------------------------------------------------------ validation
    def _require_change(self) -> None:
        if not self.root:
            raise EngineError("read-only: this needs root (or CAP_NET_ADMIN)",
                              hint="run it again with sudo")

    def validate_network(self, req: NetworkRequest, inventory: Inventory | None = None,
                         network_id: str = "") -> NetworkSpec:
        inv = inventory or self.kernel.inventory()
        return specmod.validate_network(req, inv, self.network_specs(),
                                        network_id=network_id or _new_id())

    def suggest_subnet(self) -> str:
        inv = self.kernel.inventory()
        taken = [s.cidr for n in self.network_specs() for s in n.subnets]
        taken += list(inv.host_routes)
        taken += [a for l in inv.host_links() for a in l.addresses]
        return ipam.default_pool(taken)

    # --------------------------------------------------------------- logging
    def _log(self, action: str, plan: Plan, outcome: str) -> None:
        with self._log_lock:
            self.log.append(LogEntry(time.time(), action,
                                     tuple(s.command for s in plan.steps), outcome))

    def _run_plan(self, action: str, plan: Plan, dry_run: bool,
                  on_progress: ProgressFn | None) -> None:
        if dry_run:
            self._log(action, plan, "dry-run")
            return
        try:
            plan.execute(on_progress)
        except Exception as exc:
            self._log(action, plan, f"failed: {exc}")
            raise
        self._log(action, plan, "ok")

    # ------------------------------------------------------- network create
    def plan_network_create(self, req: NetworkRequest,
                            network_id: str = "") -> tuple[NetworkSpec, Plan]:
        """The validated spec and its plan. Pass the same `network_id` to
        create_network to build exactly what was reviewed (dummy parent name)."""
        if req.engine == ENGINE_DOCKER:
            docker = self._docker()
            spec = self.validate_network(req, network_id=network_id)
            return spec, docker.plan_network_create(spec)
        spec = self.validate_network(req, network_id=network_id)
        k, store = self.kernel, self.store

        def lock_check(others: list[NetworkSpec]) -> None:
            clash = specmod.conflicts(spec, others)
            if clash is not None:
                raise clash

        steps: list[Step] = [Step(
            f"record network {spec.name} ({spec.mode} {spec.flag})",
            f"# store: network {spec.name} " + " ".join(s.cidr for s in spec.subnets),
            do=lambda: store.add_network(spec, state="creating", check=lock_check),
            undo=lambda: store.delete_network(spec.name),
            undo_command=f"# store: forget network {spec.name}",
        )]
        parent = spec.parent
        assert parent is not None
        if parent.create and parent.kind == PARENT_VLAN:
            def make_vlan(p=parent):
                store.own("link", p.name, spec.name, claim=True)
                idx = k.create_vlan(p.base, p.vlan_id, p.name)
                store.own("link", p.name, spec.name, ifindex=idx)

            def drop_vlan(p=parent):
                if k.link_exists(p.name):
                    k.delete_link(p.name)
                store.disown("link", p.name)

            steps.append(Step(
                f"create 802.1q sub-interface {parent.name} (VLAN {parent.vlan_id} on {parent.base})",
                f"ip link add link {parent.base} name {parent.name} type vlan id {parent.vlan_id}"
                f" && ip link set {parent.name} up",
                do=make_vlan, undo=drop_vlan, undo_command=f"ip link del {parent.name}"))
        elif parent.create and parent.kind == PARENT_DUMMY:
            def make_dummy(p=parent):
                store.own("link", p.name, spec.name, claim=True)
                idx = k.create_dummy(p.name)
                store.own("link", p.name, spec.name, ifindex=idx)

            def drop_dummy(p=parent):
                if k.link_exists(p.name):
                    k.delete_link(p.name)
                store.disown("link", p.name)

            steps.append(Step(
                f"create isolated dummy parent {parent.name}",
                f"ip link add {parent.name} type dummy && ip link set {parent.name} up",
                do=make_dummy, undo=drop_dummy, undo_command=f"ip link del {parent.name}"))
        steps.append(Step(
            f"mark network {spec.name} ready",
            f"# store: network {spec.name} ready",
            do=lambda: store.set_network_state(spec.name, "ready"),
        ))
        return spec, Plan(f"network create {spec.name}", steps)

    def create_network(self, req: NetworkRequest, *, dry_run: bool = False,
                       on_progress: ProgressFn | None = None, network_id: str = "") -> OpResult:
        spec, plan = self.plan_network_create(req, network_id)
        if not dry_run:
            self._require_change()
        self._run_plan(f"network create {spec.name}", plan, dry_run, on_progress)
        if not dry_run and spec.engine == ENGINE_DOCKER:
            # Show what Docker made: its own id, and its `di-` dummy for isolated networks.
            made = self._docker().network(spec.name)
            spec = made.spec if made is not None else spec
        return OpResult(plan=plan, dry_run=dry_run, network=spec, warnings=spec.warnings)

    # ---------------------------------------------------------- network rm
    def _owned_link_is_ours(self, row: dict) -> bool:
        """The link still is the one we made (same index), not a namesake."""
        idx = self.kernel.link_index(row["name"], row["netns"])
        return idx is not None and (row["ifindex"] is None or row["ifindex"] == idx)

    def host_use(self, link: str, inventory: Inventory | None = None, *,
                 containers: bool = True) -> list[str]:
        """What the host would lose with its link `link`: the host's addresses on it,
        routes through it, links on top of it that ipvlan-tui did not make. [] = nothing.

        A parent ipvlan-tui made can be taken over by the host later (an address
        or the default route put on eth0.20 by hand); deleting it then could cut
        the host off. IPv6 link-local addresses are the kernel's own, not a use.
        """
        inv = inventory or self.kernel.inventory()
        me = inv.by_name(link)
        if me is None:
            return []
        reasons: list[str] = []
        if link == "lo":
            reasons.append("it is the host's loopback link")
        addrs = [a for a in me.addresses if not a.lower().startswith("fe80:")]
        if addrs:
            reasons.append("the host's address" + ("es " if len(addrs) > 1 else " ") + ", ".join(addrs))
        reader = getattr(self.kernel, "host_routes_by_link", None)
        try:
            routes = reader().get(link, ()) if reader is not None else ()
        except EngineError as exc:
            routes = (f"(the host's routes could not be read: {exc})",)
        if routes:
            reasons.append("the host's route" + ("s " if len(routes) > 1 else " ") + "; ".join(routes))
        owned_ns = {r["name"] for r in self.store.owned("netns")}
        owned = {(r["name"], r["netns"]) for r in self.store.owned("link")}
        for child in inv.children_of(link):
            if child.netns in owned_ns or (child.name, child.netns) in owned:
                continue
            if not containers and child.netns.startswith("pid:"):
                continue  # a Docker network's own containers, removed with it
            where = f" in namespace {child.netns}" if child.netns else ""
            reasons.append(f"{child.kind} link {child.name}{where} on top of it (not made by "
                           f"ipvlan-tui; it would go with it)")
        return reasons

    def _check_host_links(self, name: str, rows: list[dict], allow_host_cutoff: bool) -> list[str]:
        """Refuse (HostLinkInUse) to delete links we made for `name` that the host now uses.

        With allow_host_cutoff the risk was confirmed: returns the warnings to show."""
        if not rows:
            return []
        inv = self.kernel.inventory()
        warnings = []
        for row in rows:
            if row["netns"] or not self._owned_link_is_ours(row):
                continue  # gone, or a namesake: it is left alone anyway
            warnings += self._refuse_host_cutoff(name, row["name"], "ipvlan-tui",
                                                 self.host_use(row["name"], inv), allow_host_cutoff)
        return warnings

    @staticmethod
    def _refuse_host_cutoff(network: str, link: str, maker: str, reasons: list[str],
                            allow_host_cutoff: bool) -> list[str]:
        if not reasons:
            return []
        if not allow_host_cutoff:
            raise HostLinkInUse(
                "network", network,
                f"{link} (made by {maker} for it) is now used by the host: "
                + "; ".join(reasons) + f"; deleting {link} could cut the host off",
                f"move those off {link} first, or pass --allow-host-cutoff to delete it anyway")
        return [f"deleting {link} although the host uses it (" + "; ".join(reasons)
                + "): --allow-host-cutoff"]

    def _check_docker_parent(self, spec: NetworkSpec, allow_host_cutoff: bool) -> list[str]:
        """Docker deletes the parent it made with its network: the same guard, on this host."""
        p = spec.parent
        if p is None or not p.create or spec.host:
            return []  # nothing deleted, or another host's kernel (not ours to read)
        return self._refuse_host_cutoff(spec.name, p.name, "Docker",
                                        self.host_use(p.name, containers=False), allow_host_cutoff)

    def plan_network_remove(self, name: str, force: bool = False,
                            allow_host_cutoff: bool = False) -> tuple[NetworkSpec, Plan]:
        return self._plan_network_remove(name, force, allow_host_cutoff)[:2]

    def _plan_network_remove(self, name: str, force: bool,
                             allow_host_cutoff: bool) -> tuple[NetworkSpec, Plan, list[str]]:
        found = self.store.network(name)
        if found is None:
            if self.docker is not None and self.docker.has_network(name):
                spec, plan = self.docker.plan_network_remove(name, force)
                warnings = self._check_docker_parent(spec, allow_host_cutoff)
                if plan.steps:  # checked again when it runs, right before Docker deletes it
                    last = plan.steps[-1]
                    plan.steps[-1] = replace(last, do=lambda: (
                        self._check_docker_parent(spec, allow_host_cutoff), last.do()))
                return spec, plan, warnings
            raise ValidationError("network", name, "no such network",
                                  "see `ipvlan-tui network ls` for the names")
        spec, _ = found
        eps = [e for e, _ in self.store.endpoints(name)]
        steps: list[Step] = []
        if eps and not force:
            raise ValidationError(
                "network", name,
                f"{len(eps)} endpoint(s) still attached: " + ", ".join(e.name for e in eps),
                "remove them first (`ipvlan-tui rm NAME`) or pass --force")
        rows = [r for r in self.store.owned("link") if r["network"] == name and not r["endpoint"]]
        warnings = self._check_host_links(name, rows, allow_host_cutoff)

        def mark():
            # Checked again when it runs: the host may have taken the link since the plan.
            self._check_host_links(name, rows, allow_host_cutoff)
            self.store.mark_network_removing(name, {e.name for e in eps})

        present = [r["name"] for r in rows if not r["netns"] and self._owned_link_is_ours(r)]

        def unmark():
            # A deleted link cannot be given back: stay `removing`, restore finishes it.
            gone = [n for n in present if not self.kernel.link_exists(n)]
            if gone:
                raise EngineError(f"{', '.join(gone)} is already deleted, so network {name} "
                                  "stays marked removing for `ipvlan-tui restore` to finish")
            self.store.set_network_state(name, "ready")

        steps.append(Step(f"mark network {name} removing"
                          + (f" (after checking the host does not use "
                             f"{', '.join(r['name'] for r in rows)})" if rows else ""),
                          f"# store: network {name} removing", do=mark, undo=unmark,
                          undo_command="ipvlan-tui restore"))
        for ep in eps:
            steps.extend(self._endpoint_remove_steps(ep))
        for row in rows:
            def drop(r=row):
                if self._owned_link_is_ours(r):
                    self._check_host_links(name, [r], allow_host_cutoff)  # one last look
                    self.kernel.delete_link(r["name"], r["netns"])
                self.store.disown("link", r["name"], r["netns"])
            risk = next((w for w in warnings if w.startswith(f"deleting {row['name']} ")), "")
            steps.append(Step(f"delete {row['name']} (made by ipvlan-tui for {name})"
                              + (f"; WARNING: {risk}" if risk else ""),
                              f"ip link del {row['name']}", do=drop))
        def forget():
            self.store.delete_network(name)
            hostsfile.remove_network(self._hosts_dir, name)

        steps.append(Step(f"forget network {name}", f"# store: forget network {name}", do=forget))
        return spec, Plan(f"network rm {name}", steps), warnings

    def remove_network(self, name: str, *, force: bool = False, dry_run: bool = False,
                       on_progress: ProgressFn | None = None,
                       allow_host_cutoff: bool = False) -> OpResult:
        """Remove a network and the links made for it. A link the host has taken
        over since (addresses, routes, links on it) is refused (HostLinkInUse)
        unless allow_host_cutoff confirms that risk."""
        spec, plan, warnings = self._plan_network_remove(name, force, allow_host_cutoff)
        if not dry_run:
            self._require_change()
        self._run_plan(f"network rm {name}", plan, dry_run, on_progress)
        return OpResult(plan=plan, dry_run=dry_run, network=spec, warnings=tuple(warnings))

    # -------------------------------------------------------------- endpoints
    def _docker(self):
        if self.docker is None:
            raise EngineError("Docker is not reachable", hint="start dockerd or use --engine netns")
        return self.docker

    def plan_endpoint_create(self, req: EndpointRequest) -> tuple[Endpoint, Plan]:
        found = self.store.network(req.network)
        if found is None:
            if self.docker is not None and self.docker.has_network(req.network):
                return self.docker.plan_run(req)
            raise ValidationError("--net", req.network, "no such network",
                                  "create it first with `ipvlan-tui network create`")
        spec, state = found
        if state != "ready":
            raise ValidationError("--net", req.network, f"the network is in state {state!r}",
                                  "run `ipvlan-tui restore` to finish or undo it")
        # only "is this name taken" is asked: one indexed lookup, not every endpoint decoded
        taken = {req.name} if req.name and self.store.endpoint(req.name) is not None else set()
        used = self.store.used_addresses(spec.name)
        specmod.validate_endpoint(req, spec, used, taken)
        if self.kernel.netns_exists(req.name):
            raise ValidationError("--name", req.name,
                                  "a network namespace with this name already exists "
                                  "(not made by ipvlan-tui for this endpoint)",
                                  "pick another --name; ipvlan-tui never takes over a namespace")
        parent = spec.parent
        assert parent is not None
        k, store = self.kernel, self.store
        # Predict the addresses for display; the real pick happens under the store lock.
        v4, v6 = self._pick(spec, req, used)
        routes = specmod.endpoint_routes(spec, v4, v6)
        state_box: dict[str, Endpoint] = {}

        def reserve():
            # Under the store's lock: the predicted addresses when still free (one
            # indexed lookup), else picked again from what is used now.
            ep = Endpoint(name=req.name, network=spec.name, engine=ENGINE_NETNS, netns=req.name)
            state_box["ep"] = store.reserve_endpoint(ep, lambda now: self._pick(spec, req, now),
                                                     prefer=(v4, v6))

        def unreserve():
            # Its lines are in no file unless marking it ready got as far as the edit
            # and no further (a failed commit): taken out then too.
            store.delete_endpoint(req.name, then=lambda: self._hosts_leave(spec.name, req.name))

        def make_ns():
            store.own("netns", req.name, spec.name, endpoint=req.name, claim=True)
            k.create_netns(req.name)

        def drop_ns():
            if k.netns_exists(req.name):
                k.delete_netns(req.name)
            store.disown("netns", req.name)

        def make_link():
            k.create_endpoint_link(req.name, parent.name, spec.mode, spec.flag, ENDPOINT_IFNAME)

        def configure():
            ep = state_box["ep"]
            addrs = self._cidrs(spec, ep)
            k.configure_endpoint(req.name, ENDPOINT_IFNAME, addrs,
                                 specmod.endpoint_routes(spec, ep.ipv4, ep.ipv6))

        def hosts():
            self._link_hosts(req.name, spec.name)

        def finish():
            # Peers resolve it from here on: its lines join the network's file in the
            # same transaction that marks it ready (edits ordered as the store's).
            ep = state_box["ep"]
            store.set_endpoint_state(req.name, "ready",
                                     then=lambda: self._hosts_join(spec.name, req.name, ep.ipv4, ep.ipv6))

        cidrs = self._cidrs(spec, Endpoint(req.name, spec.name, ipv4=v4, ipv6=v6))
        ns = req.name
        addr_cmds = " && ".join(
            f"ip -n {ns} addr add {c} dev {ENDPOINT_IFNAME}" + (" nodad" if ":" in c else "")
            for c in cidrs)
        route_cmds = " && ".join(f"ip -n {ns} " + r.ip_command()[3:] for r in routes)
        steps = [
            Step(f"reserve {', '.join(a for a in (v4, v6) if a)} for {req.name} in {spec.name}",
                 f"# store: endpoint {req.name} {v4 or ''} {v6 or ''}".rstrip(),
                 do=reserve, undo=unreserve, undo_command=f"# store: release {req.name}"),
            Step(f"create network namespace {ns}", f"ip netns add {ns}",
                 do=make_ns, undo=drop_ns, undo_command=f"ip netns del {ns}"),
            Step(f"create ipvlan {ENDPOINT_IFNAME} in {ns} on {parent.name} ({spec.mode} {spec.flag})",
                 f"ip link add link {parent.name} name {ENDPOINT_IFNAME} netns {ns} "
                 f"type ipvlan mode {spec.mode} {spec.flag}",
                 do=make_link),
            Step(f"bring up lo and {ENDPOINT_IFNAME}, add addresses and routes in {ns}",
                 f"ip -n {ns} link set lo up && ip -n {ns} link set {ENDPOINT_IFNAME} up"
                 + (f" && {addr_cmds}" if addr_cmds else "")
                 + (f" && {route_cmds}" if route_cmds else ""),
                 do=configure),
            Step(f"write /etc/netns/{ns}/hosts for name resolution of peers",
                 f"# /etc/netns/{ns}/hosts", do=hosts,
                 undo=lambda: hostsfile.remove(self.hosts_root, req.name)),
            Step(f"mark endpoint {req.name} ready", f"# store: endpoint {req.name} ready", do=finish),
        ]
        ep = Endpoint(name=req.name, network=spec.name, engine=ENGINE_NETNS, ipv4=v4, ipv6=v6,
                      netns=ns, state="planned")
        return ep, Plan(f"run {req.name}", steps)

    def run_endpoint(self, req: EndpointRequest, *, dry_run: bool = False,
                     on_progress: ProgressFn | None = None) -> OpResult:
        ep, plan = self.plan_endpoint_create(req)
        if not dry_run:
            self._require_change()
        self._run_plan(f"run {req.name}", plan, dry_run, on_progress)
        if not dry_run:
            ep = self.store.endpoint(req.name) or (
                self.docker.endpoint(req.name) if self.docker is not None else None) or ep
        return OpResult(plan=plan, dry_run=dry_run, endpoint=ep)

    def _pick(self, spec: NetworkSpec, req: EndpointRequest, used: set[str]):
        """(ipv4, ipv6) for an endpoint: the static ones asked for, else the lowest free."""
        picked: list[str | None] = []
        used = ipam.UsedAddresses.of(used)  # parsed once for both families and every subnet
        for version, wanted in ((4, req.ipv4), (6, req.ipv6)):
            if wanted:
                sub = ipam.subnet_for(spec, wanted)
                if sub is None:  # validate_endpoint said so already; keep the message anyway
                    raise ValidationError("--ip6" if version == 6 else "--ip", wanted,
                                          f"not inside any subnet of {spec.name}",
                                          "use an address from " + ", ".join(
                                              s.cidr for s in spec.subnets_v(version)))
                picked.append(ipam.allocate(sub, used, wanted))
            else:
                sub = ipam.pick_subnet(spec, version, used)
                picked.append(ipam.allocate(sub, used) if sub else None)
        return picked[0], picked[1]

    @staticmethod
    def _cidrs(spec: NetworkSpec, ep: Endpoint) -> list[str]:
        out = []
        for addr in (ep.ipv4, ep.ipv6):
            if addr:
                sub = ipam.subnet_for(spec, addr)
                prefix = sub.cidr.split("/")[1] if sub else ("32" if ":" not in addr else "128")
                out.append(f"{addr}/{prefix}")
        return out

    @property
    def _hosts_dir(self) -> Path:
        return self.store.state_dir / "hosts"

    def _hosts_entries(self, network: str):
        return lambda: self.store.hosts_entries(network)

    def _hosts_join(self, network: str, name: str, ipv4: str | None, ipv6: str | None) -> None:
        """Add `name` to the network's one hosts file (inside the store transaction that
        makes it ready): an append, whatever the number of endpoints."""
        hostsfile.add(self._hosts_dir, network, name, ipv4, ipv6, self._hosts_entries(network))

    def _hosts_leave(self, network: str, name: str) -> None:
        """Take `name` out of the network's hosts file (inside the transaction that forgets it)."""
        hostsfile.drop(self._hosts_dir, network, name, self._hosts_entries(network))

    def _link_hosts(self, name: str, network: str) -> None:
        """/etc/netns/NAME/hosts -> the network's file, for a namespace we made only."""
        if self.store.owns("netns", name):
            hostsfile.link(self.hosts_root, name, hostsfile.network_file(self._hosts_dir, network))

    def _rebuild_hosts(self, network: str) -> None:
        """The network's file written whole from the store when it is out of step (restore)."""
        with self.store.transaction():
            entries = self.store.hosts_entries(network)
            if not entries:
                hostsfile.remove_network(self._hosts_dir, network)
            elif not hostsfile.matches(self._hosts_dir, network, entries):
                hostsfile.write_network(self._hosts_dir, network, entries)

    def _endpoint_remove_steps(self, ep: Endpoint) -> list[Step]:
        k, store = self.kernel, self.store
        owned_ns = store.owns("netns", ep.netns)

        def drop_ns():
            if owned_ns and k.netns_exists(ep.netns):
                k.delete_netns(ep.netns)

        def forget():
            store.delete_endpoint(ep.name, then=lambda: self._hosts_leave(ep.network, ep.name))
            hostsfile.remove(self.hosts_root, ep.name)

        def unmark():
            # A deleted namespace cannot be given back: stay `removing`, restore finishes it.
            if owned_ns and not k.netns_exists(ep.netns):
                raise EngineError(f"namespace {ep.netns} is already deleted, so endpoint {ep.name} "
                                  "stays marked removing for `ipvlan-tui restore` to finish")
            store.set_endpoint_state(ep.name, "ready")

        # Marked first, so a crash part-way is finished by `restore`, not undone.
        steps = [Step(f"mark endpoint {ep.name} removing", f"# store: endpoint {ep.name} removing",
                      do=lambda: store.set_endpoint_state(ep.name, "removing"), undo=unmark,
                      undo_command="ipvlan-tui restore")]
        if owned_ns:
            steps.append(Step(f"delete namespace {ep.netns} (its {ENDPOINT_IFNAME} goes with it)",
                              f"ip netns del {ep.netns}", do=drop_ns))
        steps.append(Step(f"release {', '.join(a for a in (ep.ipv4, ep.ipv6) if a) or 'nothing'}"
                          f" and forget endpoint {ep.name}",
                          f"# store: forget endpoint {ep.name}", do=forget))
        return steps

    def _purge_endpoint(self, ep: Endpoint) -> None:
        """Remove an endpoint's namespace (only when we made it), hosts file and rows."""
        if self.store.owns("netns", ep.netns) and self.kernel.netns_exists(ep.netns):
            self.kernel.delete_netns(ep.netns)
        hostsfile.remove(self.hosts_root, ep.name)
        self.store.delete_endpoint(ep.name, then=lambda: self._hosts_leave(ep.network, ep.name))

    def _purge_network(self, name: str) -> list[str]:
        """Remove a network's endpoints, the links we made for it (if still ours) and rows.

        A link the host has taken over since is left in place (never cut the
        host off unasked); returns what was left that way, said plainly."""
        left = []
        for ep, _ in self.store.endpoints(name):
            self._purge_endpoint(ep)
        inv = None
        for row in self.store.owned("link"):
            if row["network"] == name and not row["endpoint"]:
                if self._owned_link_is_ours(row):
                    inv = inv or self.kernel.inventory()
                    reasons = [] if row["netns"] else self.host_use(row["name"], inv)
                    if reasons:
                        left.append(f"link {row['name']} (made by ipvlan-tui for {name}) left in "
                                    f"place: the host uses it ({'; '.join(reasons)}); delete it "
                                    f"with `ip link del {row['name']}` once the host no longer needs it")
                    else:
                        self.kernel.delete_link(row["name"], row["netns"])
                self.store.disown("link", row["name"], row["netns"])
        self.store.delete_network(name)
        hostsfile.remove_network(self._hosts_dir, name)
        return left

    def plan_endpoint_remove(self, name: str) -> tuple[Endpoint, Plan]:
        ep = self.store.endpoint(name)
        if ep is None:
            if self.docker is not None and self.docker.has_container(name):
                return self.docker.plan_rm(name)
            raise ValidationError("endpoint", name, "no such endpoint",
                                  "see `ipvlan-tui ps` for the names")
        return ep, Plan(f"rm {name}", self._endpoint_remove_steps(ep))

    def remove_endpoint(self, name: str, *, dry_run: bool = False,
                        on_progress: ProgressFn | None = None) -> OpResult:
        ep, plan = self.plan_endpoint_remove(name)
        if not dry_run:
            self._require_change()
        self._run_plan(f"rm {name}", plan, dry_run, on_progress)
        return OpResult(plan=plan, dry_run=dry_run, endpoint=ep)

    def exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        """The argument list that runs argv inside endpoint `name` (hosts file included)."""
        ep = self.store.endpoint(name)
        if ep is None:
            if self.docker is not None and self.docker.has_container(name) and argv:
                return self.docker.exec_argv(name, argv)
            raise ValidationError("endpoint", name, "no such endpoint",
                                  "see `ipvlan-tui ps` for the names")
        if not argv:
            raise ValidationError("command", "", "nothing to run", "give it after --, e.g. -- ip route")
        return ["ip", "netns", "exec", ep.netns, *argv]

    # --------------------------------------------------------------- restore
    def restore(self, *, dry_run: bool = False) -> RestoreReport:
        """Bring kernel and store back in line after a crash or a reboot."""
        if not dry_run:
            self._require_change()
        k, store = self.kernel, self.store
        repaired: list[str] = []
        rolled: list[str] = []
        finished: list[str] = []
        orphans: list[str] = []
        missing: list[str] = []
        networks = {s.name: (s, st) for s, st in store.networks()}
        endpoints = {e.name: (e, st) for e, st in store.endpoints()}

        # 1. Endpoints caught mid-run are undone; mid-removal, the removal is finished.
        for name, (ep, st) in endpoints.items():
            if st == "ready":
                continue
            (rolled if st == "creating" else finished).append(f"endpoint {name}")
            if not dry_run:
                self._purge_endpoint(ep)
        # 2. Networks likewise.
        for name, (spec, st) in networks.items():
            if st == "ready":
                continue
            (rolled if st == "creating" else finished).append(f"network {name}")
            if not dry_run:
                orphans.extend(self._purge_network(name))
        # 3. Ready networks: re-create missing parents we own.
        for name, (spec, st) in networks.items():
            if st != "ready" or spec.parent is None:
                continue
            p = spec.parent
            if k.link_exists(p.name):
                continue
            if p.create and p.kind == PARENT_VLAN:
                repaired.append(f"link {p.name} (VLAN {p.vlan_id} on {p.base}) for {name}")
                if not dry_run:
                    try:
                        idx = k.create_vlan(p.base, p.vlan_id, p.name)
                        store.own("link", p.name, name, ifindex=idx)
                    except EngineError as exc:
                        missing.append(f"link {p.name}: {exc}")
            elif p.create and p.kind == PARENT_DUMMY:
                repaired.append(f"link {p.name} (dummy) for {name}")
                if not dry_run:
                    try:
                        idx = k.create_dummy(p.name)
                        store.own("link", p.name, name, ifindex=idx)
                    except EngineError as exc:
                        missing.append(f"link {p.name}: {exc}")
            else:
                missing.append(f"parent {p.name} of {name} is gone and was not made by ipvlan-tui")
        # 4. Ready endpoints: re-create missing namespaces/links.
        inv = k.inventory()
        for name, (ep, st) in endpoints.items():
            if st != "ready" or networks.get(ep.network, (None, ""))[1] != "ready":
                continue  # purged above with its network
            spec = networks[ep.network][0]
            has_ns = ep.netns in inv.namespaces or k.netns_exists(ep.netns)
            has_link = has_ns and inv.by_name(ENDPOINT_IFNAME, ep.netns) is not None
            if has_ns and has_link:
                continue
            repaired.append(f"endpoint {name} ({'link' if has_ns else 'namespace and link'})")
            if dry_run:
                continue
            try:
                if not has_ns:
                    k.create_netns(ep.netns)
                    store.own("netns", ep.netns, spec.name, endpoint=name)
                k.create_endpoint_link(ep.netns, spec.parent.name, spec.mode, spec.flag,
                                       ENDPOINT_IFNAME)
                k.configure_endpoint(ep.netns, ENDPOINT_IFNAME, self._cidrs(spec, ep),
                                     specmod.endpoint_routes(spec, ep.ipv4, ep.ipv6))
                self._link_hosts(ep.name, spec.name)
            except EngineError as exc:
                missing.append(f"endpoint {name}: {exc}")
        # 4b. Hosts files follow the store again: one cut short between a store change and
        #     its edit, or emptied, is written whole; links of ready endpoints are made.
        if not dry_run:
            for name, (spec, st) in networks.items():
                if st != "ready":
                    continue
                try:
                    self._rebuild_hosts(name)
                    for ep, ep_state in store.endpoints(name):
                        if ep_state == "ready":
                            self._link_hosts(ep.name, name)
                except OSError as exc:
                    missing.append(f"hosts file of network {name}: {exc}")
        # 5. Orphans both ways: owned rows whose network is gone; our-looking links unknown to us.
        live_networks = {s.name for s, _ in store.networks()}
        for row in store.owned():
            if row["network"] not in live_networks:
                orphans.append(f"{row['kind']} {row['name']} (recorded for vanished network "
                               f"{row['network']}; left alone)")
        owned_names = {r["name"] for r in store.owned("link")}
        for link in inv.host_links():
            if link.name.startswith("itd-") and link.name not in owned_names:
                orphans.append(f"link {link.name} looks like ipvlan-tui's but is not recorded; "
                               f"left alone (delete with `ip link del {link.name}` if unwanted)")
        unchanged = not (repaired or rolled or finished)
        return RestoreReport(tuple(repaired), tuple(rolled), tuple(orphans), tuple(missing),
                             unchanged, tuple(finished))

    # ------------------------------------------------------------------ ping
    def resolve_target(self, target: str, topology: Topology | None = None):
        """An endpoint by name, or the address as given."""
        topo = topology or self.topology()
        for net in topo.networks:
            for ep in net.endpoints:
                if ep.name == target:
                    return ep
        return target


def network_id_for(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def open_controller(state_dir: str | None = None, *, demo: bool = False,
                    engine: str | None = None, hosts: Sequence[str] = ()) -> Controller:
    """Build a Controller for this machine (or a demo one with an in-memory kernel).

    Docker joins when asked for (--engine docker, --host) or when a daemon
    socket is there; an unreachable daemon is reported, never fatal.
    """
    root = _is_root()
    if demo:
        from ipvlan_tui.engines.fake import FakeKernel
        import tempfile
        tmp = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="ipvlan-tui-demo-"))
        return Controller(FakeKernel.demo(), Store(tmp), hosts_root=tmp / "netns-etc", root=True)
    from ipvlan_tui.engines.kernel import KernelEngine
    store = Store(state_dir, read_only=not root)
    docker = None
    if hosts or engine == ENGINE_DOCKER or os.environ.get("DOCKER_HOST") \
            or os.path.exists("/var/run/docker.sock"):
        from ipvlan_tui.engines.docker import DockerEngine
        docker = DockerEngine(hosts[0] if hosts else None, host_label=hosts[0] if hosts else "")
    return Controller(KernelEngine(), store, root=root, docker=docker)
