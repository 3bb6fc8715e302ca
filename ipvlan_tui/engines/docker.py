"""The Docker engine: ipvlan networks and containers through the Docker SDK.

What it promises the controller:
- every value the domain layer computed (subnet, gateway, --ip-range,
  --aux-address, parent, mode, flag, internal, IPv6) is passed to Docker
  explicitly, so the network is the same on every Docker version (Docker 29
  no longer picks an L2 gateway by itself; Docker 20.10 ignores IPv6
  subnets without --ipv6 and silently ignores -o ipvlan_flag);
- listings show what Docker actually did (inspect, not what we asked for);
- a daemon refusal becomes errors.EngineError with one readable line.

Rules Docker enforces (one ipvlan network per parent, VLAN ids, `lo`) are
checked by spec.validate_network before this engine is called; the daemon's
own refusal is still mapped here, in case another client raced us.

No Textual here; calls block, so the console runs them in thread workers.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ipvlan_tui import ipam
from ipvlan_tui import spec as specmod
from ipvlan_tui.errors import EngineError, ValidationError
from ipvlan_tui.model import (
    DEFAULT_FLAG,
    DEFAULT_MODE,
    ENDPOINT_IFNAME,
    ENGINE_DOCKER,
    PARENT_DUMMY,
    PARENT_EXISTING,
    PARENT_VLAN,
    Endpoint,
    EndpointRequest,
    Network,
    NetworkSpec,
    ParentPlan,
    Subnet,
)
from ipvlan_tui.plan import Plan, Step

DRIVER = "ipvlan"
DOCKER_DUMMY_PREFIX = "di-"  # Docker names an isolated network's dummy parent di-<12 chars of id>
DEFAULT_IMAGE = "alpine"
DEFAULT_COMMAND: tuple[str, ...] = ("/bin/sh",)

# Labels this tool puts on the networks it creates, so a listing can tell
# them apart and knows what Docker cannot report (who made the VLAN link).
LABEL_OWNER = "org.ipvlan-tui.created-by"
LABEL_PARENT_CREATED = "org.ipvlan-tui.parent-created"

# Docker 23.0 (API 1.42) brought l3s and -o ipvlan_flag; older daemons refuse
# l3s and silently drop ipvlan_flag (seen on 20.10 in the lab).
FLAGS_API = (1, 42)

EVENT_ACTIONS = ("create", "destroy", "connect", "disconnect", "start", "die")

# The daemon stopping must not freeze a caller: reachability is checked with a
# short timeout, and once it is known to be down, reads fail at once (one new
# probe per DOWN_RECHECK_S) instead of each waiting for its own timeout.
PROBE_TIMEOUT = 10.0  # seconds; a loaded TCG lab VM answers /_ping well within this
DOWN_RECHECK_S = 1.0
RECONNECT_S = 1.0  # events(): how often to look for the daemon again

_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # Docker's rule: 2 characters at least
_VLAN_NAME = re.compile(r"(.+)\.([0-9]{1,4})")
_PARENT_IN_USE = re.compile(r"network (di-[0-9a-f]{12}) is already using parent interface (\S+)")


# ----------------------------------------------------------------------------- errors
_HINTS: tuple[tuple[str, str], ...] = (
    ("address already in use", "another container holds that address; pick another --ip/--ip6"),
    ("already using parent interface", "one ipvlan network per parent; use a VLAN sub-interface such as eth0.N"),
    ("failed to create the ipvlan port", "this kernel lacks ipvlan; try `ipvlan-tui lab shell`"),
    ("no such image", "pull or import the image first (docker pull IMAGE)"),
    ("is already in use by container", "choose another --name, or remove the old container first"),
    ("already exists", "choose another name, or remove the old one first"),
    ("pool overlaps", "another Docker network (of any driver) holds an overlapping subnet; pick another --subnet"),
    ("has active endpoints", "remove or disconnect its containers first (or pass --force)"),
    ("is not valid", "this Docker version refuses that option value"),
    ("permission denied", "run as root or as a member of the docker group"),
)


def explain(exc: BaseException, doing: str = "") -> EngineError:
    """A Docker SDK exception as an EngineError with one readable line and a hint."""
    import docker.errors as derr

    text = ""
    if isinstance(exc, derr.APIError):
        text = exc.explanation if isinstance(exc.explanation, str) and exc.explanation else ""
        if not text:
            text = str(exc)
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())  # one line
    if text.startswith("Error response from daemon: "):
        text = text[len("Error response from daemon: "):]
    lowered = text.lower()
    hint = next((h for key, h in _HINTS if key in lowered), "")
    prefix = f"Docker refused to {doing}: " if doing else "Docker: "
    return EngineError(prefix + text, hint=hint)


class DockerUnreachable(EngineError):
    """The daemon cannot be reached (stopped, socket gone, no permission): nothing
    can be known about it until it is back, so this is never "no such network"."""


# Connection failures after which a request may have reached the daemon (it went
# away while answering): what was asked may or may not have been done.
_MAYBE_DONE = ("connection aborted", "remotedisconnected", "connection reset", "broken pipe",
               "read timed out", "response ended prematurely", "incompleteread")


# ...but urllib3 also says "Connection aborted." for a socket that is not there or refuses:
# then nothing was sent.
_NEVER_SENT = ("no such file", "filenotfounderror", "connection refused", "connectionrefusederror")


def _maybe_done(exc: BaseException) -> bool:
    text = " ".join(str(exc).split()).lower()
    return any(k in text for k in _MAYBE_DONE) and not any(k in text for k in _NEVER_SENT)


def _reachability_reason(exc: BaseException, where: str) -> str:
    """Why the daemon cannot be used, in one line (status())."""
    text = " ".join(str(exc).split())
    low = text.lower()
    if _maybe_done(exc) and "timed out" not in low:
        return f"Docker daemon unreachable at {where}: it closed the connection (did it stop?)"
    if "permission denied" in low or isinstance(exc, PermissionError):
        return f"permission denied on the Docker socket {where} (run as root or join the docker group)"
    if "no such file" in low or "filenotfounderror" in low:
        return f"Docker daemon unreachable: no socket at {where} (is dockerd running?)"
    if "connection refused" in low:
        return f"Docker daemon unreachable at {where}: connection refused"
    if "timed out" in low or "timeout" in low:
        return f"Docker daemon unreachable at {where}: timed out"
    return f"Docker daemon unreachable at {where}: {text}"


# ----------------------------------------------------------------------------- contexts
@dataclass(frozen=True)
class DockerContext:
    name: str
    host: str  # the daemon URL, e.g. unix:///var/run/docker.sock, ssh://u@h, tcp://h:2376
    current: bool = False
    description: str = ""


def list_contexts() -> list[DockerContext]:
    """The Docker CLI's contexts (~/.docker/contexts), the current one marked."""
    from docker.context import ContextAPI

    try:
        current = ContextAPI.get_current_context().name  # docker SDK 7: no get_current_context_name
        found = ContextAPI.contexts()
    except Exception as exc:  # noqa: BLE001 - a broken context store is reported, not fatal
        raise EngineError(f"cannot read Docker contexts: {exc}") from exc
    out = []
    for ctx in found:
        host = ctx.Host or ""
        out.append(DockerContext(name=ctx.name, host=host, current=ctx.name == current,
                                 description=getattr(ctx, "description", "") or ""))
    return out


def resolve_host(host: str, contexts: dict[str, DockerContext] | None = None) -> str | None:
    """A --host value as the daemon URL to connect to: a URL (unix://, tcp://, ssh://) as it
    is, a Docker context name as its endpoint's host, ""/"local"/"default" as None (the
    local default: DOCKER_HOST or /var/run/docker.sock). `contexts` saves re-reading them."""
    if host in ("", "local", "default"):
        return None
    if "://" in host:
        return host
    if contexts is None:
        contexts = {c.name: c for c in list_contexts()}
    ctx = contexts.get(host)
    if ctx is None:
        known = ", ".join(sorted(contexts)) or "none"
        raise ValidationError("--host", host, "is neither a daemon URL nor a Docker context",
                              f"give unix://, tcp:// or ssh://..., or one of the contexts: {known}")
    return ctx.host or None


def engines_for(hosts: Sequence[str]) -> list["DockerEngine"]:
    """One DockerEngine per --host value: a URL (unix://, tcp://, ssh://), a context name,
    or ""/"local" for the local default. Each engine labels its listings with the value given."""
    engines: list[DockerEngine] = []
    contexts: dict[str, DockerContext] | None = None
    for host in hosts or [""]:
        if "://" not in host and host not in ("", "local", "default") and contexts is None:
            contexts = {c.name: c for c in list_contexts()}
        engines.append(DockerEngine(resolve_host(host, contexts), host_label=host))
    return engines


# ----------------------------------------------------------------------------- reading
def _api_tuple(version: str) -> tuple[int, int]:
    try:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except (ValueError, AttributeError):
        return (0, 0)


def _strip_prefix(addr: str | None) -> str | None:
    if not addr:
        return None
    return addr.split("/", 1)[0] or None


def parent_plan_from_docker(options: dict, network_id: str, labels: dict) -> ParentPlan:
    """What Docker reports as the parent, as a ParentPlan (the read-back side)."""
    name = (options or {}).get("parent", "") or ""
    dummy = DOCKER_DUMMY_PREFIX + network_id[:12]
    if not name or name == dummy:
        return ParentPlan(kind=PARENT_DUMMY, name=dummy, create=True)
    created = (labels or {}).get(LABEL_PARENT_CREATED) == "true"
    m = _VLAN_NAME.fullmatch(name)
    if m and 1 <= int(m.group(2)) <= 4094:
        return ParentPlan(kind=PARENT_VLAN, name=name, base=m.group(1), vlan_id=int(m.group(2)),
                          create=created)
    return ParentPlan(kind=PARENT_EXISTING, name=name, create=False)


def spec_from_docker(info: dict, host_label: str = "") -> NetworkSpec:
    """A `docker network inspect` dict as a NetworkSpec (what Docker actually holds)."""
    options = info.get("Options") or {}
    labels = info.get("Labels") or {}
    net_id = info.get("Id", "")
    subnets = []
    for cfg in (info.get("IPAM") or {}).get("Config") or []:
        cidr = cfg.get("Subnet")
        net = ipam.parse_cidr(cidr)
        if net is None:
            continue
        gw = cfg.get("Gateway") or None
        aux = tuple(sorted((cfg.get("AuxiliaryAddresses") or {}).items()))
        subnets.append(Subnet(cidr=str(net.cidr), gateway=gw, gateway_given=gw is not None,
                              ip_range=cfg.get("IPRange") or None, aux_addresses=aux))
    return NetworkSpec(
        name=info.get("Name", ""),
        mode=options.get("ipvlan_mode") or DEFAULT_MODE,
        flag=options.get("ipvlan_flag") or DEFAULT_FLAG,
        parent=parent_plan_from_docker(options, net_id, labels),
        subnets=tuple(subnets),
        internal=bool(info.get("Internal")),
        ipv6=bool(info.get("EnableIPv6")),
        engine=ENGINE_DOCKER,
        host=host_label,
        network_id=net_id,
    )


# ----------------------------------------------------------------------------- the engine
class DockerEngine:
    """ipvlan networks and containers on one Docker daemon."""

    def __init__(self, base_url: str | None = None, host_label: str = "", *,
                 default_image: str = DEFAULT_IMAGE, timeout: int = 120,
                 probe_timeout: float = PROBE_TIMEOUT) -> None:
        self.base_url = base_url
        self.host_label = host_label
        self.default_image = default_image
        self.timeout = timeout
        self.probe_timeout = min(probe_timeout, timeout)
        self._client = None
        self._lock = threading.Lock()
        self._down: str | None = None  # why the daemon was unreachable at the last try
        self._down_at = 0.0
        self.last_created: dict[str, str] = {}  # network name -> id, set by a create plan

    # ------------------------------------------------------------ connection
    @property
    def where(self) -> str:
        return self.base_url or "the default Docker socket (DOCKER_HOST or /var/run/docker.sock)"

    def client(self):
        """The SDK client, made on first use (the constructor already talks to the daemon:
        it asks for the API version, so it gets the short probe timeout)."""
        with self._lock:
            if self._client is None:
                import docker

                try:
                    if self.base_url:
                        client = docker.DockerClient(base_url=self.base_url, timeout=self.probe_timeout)
                    else:
                        client = docker.DockerClient.from_env(timeout=self.probe_timeout)
                except Exception as exc:  # noqa: BLE001 - DockerException, OSError, requests errors
                    raise self._mark_down(_reachability_reason(exc, self.where)) from exc
                client.api.timeout = self.timeout
                self._client = client
            return self._client

    @property
    def api(self):
        if self._down is not None:  # known down: fail fast, look again now and then
            if time.monotonic() - self._down_at < DOWN_RECHECK_S:
                raise DockerUnreachable(self._down, hint="netns networks and endpoints keep working")
            self._probe()
        return self.client().api

    def _mark_down(self, reason: str) -> DockerUnreachable:
        self._down, self._down_at = reason, time.monotonic()
        return DockerUnreachable(reason, hint="netns networks and endpoints keep working")

    def _probe(self) -> None:
        """GET /_ping with the short timeout; clears or sets the down state."""
        try:
            api = self.client().api
            res = api.get(api._url("/_ping"), timeout=self.probe_timeout)
            res.raise_for_status()
        except DockerUnreachable:
            raise
        except Exception as exc:  # noqa: BLE001 - requests/urllib3/OS errors alike
            self.close()  # a new client (and API version check) once it is back
            raise self._mark_down(_reachability_reason(exc, self.where)) from exc
        self._down = None

    @property
    def reachable(self) -> bool:
        """What the last contact said (no I/O)."""
        return self._down is None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None

    def status(self) -> str:
        """"ok", or one line saying why the daemon cannot be used (at most probe_timeout s)."""
        if self._down is not None and time.monotonic() - self._down_at < DOWN_RECHECK_S:
            return self._down
        try:
            self._probe()
        except EngineError as exc:
            return exc.message
        return "ok"

    def api_version(self) -> tuple[int, int]:
        return _api_tuple(self.api.api_version)

    def _unreachable(self, exc: BaseException, doing: str = "") -> DockerUnreachable:
        """A connection failure as DockerUnreachable (and the engine marked down). When the
        request may have reached the daemon before it went away, the message says so."""
        reason = _reachability_reason(exc, self.where)
        self._mark_down(reason)
        if doing and _maybe_done(exc):
            return DockerUnreachable(f"{reason}, while trying to {doing}: whether it was done "
                                     "is unknown until the daemon is back",
                                     hint="check with `ipvlan-tui network ls` / `ipvlan-tui ps` "
                                          "once dockerd runs again")
        if doing:
            return DockerUnreachable(f"{reason}; not done: {doing}",
                                     hint="start dockerd and retry; netns networks and endpoints "
                                          "keep working")
        return DockerUnreachable(reason, hint="netns networks and endpoints keep working")

    def _call(self, doing: str, fn: Callable[[], Any]) -> Any:
        import docker.errors as derr

        try:
            return fn()
        except EngineError:
            raise
        except derr.DockerException as exc:
            raise self._explain(exc, doing) from exc
        except OSError as exc:  # requests' ConnectionError and friends are OSErrors
            raise self._unreachable(exc, doing) from exc

    def _explain(self, exc: BaseException, doing: str) -> EngineError:
        err = explain(exc, doing)
        m = _PARENT_IN_USE.search(err.message)
        if m:  # Docker names the other network by its dummy name; say its real name
            holder = self._network_by_short_id(m.group(1)[len(DOCKER_DUMMY_PREFIX):])
            if holder:
                err = EngineError(f"Docker refused to {doing}: parent {m.group(2)} already holds "
                                  f"ipvlan network {holder} (Docker said: {m.group(0)})", hint=err.hint)
        return err

    def _network_by_short_id(self, short: str) -> str | None:
        try:
            for n in self.api.networks(filters={"driver": DRIVER}):
                if n.get("Id", "").startswith(short):
                    return n.get("Name")
        except Exception:  # noqa: BLE001 - only for a nicer message
            return None
        return None

    # ------------------------------------------------------------ reads
    def _ipvlan_networks_raw(self) -> list[dict]:
        return self._call("list networks", lambda: self.api.networks(filters={"driver": DRIVER}))

    def _inspect_any(self, name: str) -> dict | None:
        """`docker network inspect NAME` of any driver, or None when there is none."""
        import docker.errors as derr

        try:
            return self.api.inspect_network(name)
        except derr.NotFound:
            return None
        except derr.DockerException as exc:
            raise self._explain(exc, f"inspect network {name}") from exc
        except OSError as exc:
            raise self._unreachable(exc) from exc

    def _inspect_network(self, name: str) -> dict | None:
        info = self._inspect_any(name)
        if info is None or info.get("Driver") != DRIVER:
            return None
        return self._with_config(info)

    def _with_config(self, info: dict) -> dict:
        """A --config-from network as it behaves: Docker reports it with no options and no
        IPAM of its own; the parent, mode and subnets are those of its --config-only network."""
        src = (info.get("ConfigFrom") or {}).get("Network")
        if not src:
            return info
        try:
            cfg = self.api.inspect_network(src)
        except Exception:  # noqa: BLE001 - the config network went away: show what Docker shows
            return info
        merged = dict(info)
        merged["Options"] = {**(cfg.get("Options") or {}), **(info.get("Options") or {})}
        if not (info.get("IPAM") or {}).get("Config"):
            merged["IPAM"] = cfg.get("IPAM") or {}
        merged["Labels"] = {**(cfg.get("Labels") or {}), **(info.get("Labels") or {})}
        if cfg.get("EnableIPv6"):
            merged["EnableIPv6"] = True
        return merged

    def networks(self) -> list[Network]:
        """Every ipvlan network on the daemon with its containers (running or not)."""
        raw = self._ipvlan_networks_raw()
        by_id = {n["Id"]: self._with_config(n) for n in raw}
        containers = self._call("list containers", lambda: self.api.containers(all=True))
        eps: dict[str, list[Endpoint]] = {nid: [] for nid in by_id}
        # A container that was created but never started has no NetworkID yet: its name says.
        by_name = {info.get("Name"): nid for nid, info in by_id.items()}
        for c in containers:
            nets = ((c.get("NetworkSettings") or {}).get("Networks") or {})
            mine = [(nname, ninfo, ninfo.get("NetworkID") or by_name.get(nname)) for nname, ninfo in nets.items()]
            mine = [m for m in mine if m[2] in by_id]
            if not mine:
                continue
            pid = self._pid(c) if c.get("State") == "running" else 0
            for nname, ninfo, nid in mine:
                eps[nid].append(self._endpoint(c, nname, ninfo, pid))
        result = []
        for nid, info in by_id.items():
            spec = spec_from_docker(info, self.host_label)
            result.append(Network(spec=spec, endpoints=tuple(sorted(eps[nid], key=lambda e: e.name)),
                                  created_links=self._created_links(spec)))
        return sorted(result, key=lambda n: n.spec.name)

    def network(self, name: str) -> Network | None:
        for net in self.networks():
            if net.spec.name == name or (len(name) >= 12 and net.spec.network_id.startswith(name)):
                return net
        return None

    @staticmethod
    def _created_links(spec: NetworkSpec) -> tuple[str, ...]:
        p = spec.parent
        return (p.name,) if p is not None and p.create else ()

    def _pid(self, container: dict) -> int:
        import docker.errors as derr

        try:
            return int(self.api.inspect_container(container["Id"])["State"].get("Pid") or 0)
        except (derr.DockerException, KeyError, TypeError, ValueError):
            return 0
        except OSError as exc:  # gone mid-listing: no half-read listing
            raise self._unreachable(exc) from exc

    def _endpoint(self, c: dict, nname: str, ninfo: dict, pid: int) -> Endpoint:
        names = c.get("Names") or [c.get("Id", "")[:12]]
        name = names[0].lstrip("/")
        static = ninfo.get("IPAMConfig") or {}
        v4 = ninfo.get("IPAddress") or static.get("IPv4Address") or None
        v6 = ninfo.get("GlobalIPv6Address") or static.get("IPv6Address") or None
        return Endpoint(name=name, network=nname, engine=ENGINE_DOCKER, host=self.host_label,
                        ipv4=v4, ipv6=v6, netns=f"/proc/{pid}/ns/net" if pid else "",
                        state=c.get("State") or "unknown", container_id=c.get("Id"))

    def has_network(self, name: str) -> bool:
        """An ipvlan network by that name on the daemon. Raises DockerUnreachable when the
        daemon cannot be asked: "no such network" would be a guess, and a wrong one when
        the network is there and dockerd merely stopped."""
        try:
            info = self._inspect_any(name)  # one inspect answers both questions
            return info is not None and (info.get("Driver") == DRIVER or bool(info.get("ConfigOnly")))
        except DockerUnreachable as exc:
            raise self._cannot_tell(exc, f"whether network {name} is on Docker") from exc
        except EngineError:
            return False

    def has_container(self, name: str) -> bool:
        """A container by that name (or id) that is attached to an ipvlan network
        (DockerUnreachable when the daemon cannot be asked, as has_network)."""
        try:
            return self._container_on_ipvlan(name) is not None
        except DockerUnreachable as exc:
            raise self._cannot_tell(exc, f"whether {name} is a Docker container") from exc
        except EngineError:
            return False

    @staticmethod
    def _cannot_tell(exc: DockerUnreachable, what: str) -> DockerUnreachable:
        return DockerUnreachable(f"{exc.message}; cannot tell {what}",
                                 hint="start dockerd and retry; netns networks and endpoints keep working")

    def exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        """The argument list that runs argv inside container `name` (`docker exec`)."""
        if not argv:
            raise ValidationError("command", "", "nothing to run", "give it after --, e.g. -- ip route")
        host = ["-H", self.base_url] if self.base_url else []
        return ["docker", *host, "exec", name, *argv]

    def _container_on_ipvlan(self, name: str) -> dict | None:
        import docker.errors as derr

        try:
            info = self.api.inspect_container(name)
        except derr.NotFound:
            return None
        except derr.DockerException:
            return None
        except OSError as exc:
            raise self._unreachable(exc) from exc
        nets = ((info.get("NetworkSettings") or {}).get("Networks") or {})
        ids = {n["Id"] for n in self._ipvlan_networks_raw()}
        if any(v.get("NetworkID") in ids for v in nets.values()):
            return info
        return None

    def _spec(self, name: str, field: str = "--net") -> NetworkSpec:
        info = self._inspect_network(name)
        if info is None:
            raise ValidationError(field, name, "no such ipvlan network on Docker"
                                  + (f" ({self.host_label})" if self.host_label else ""),
                                  "see `ipvlan-tui network ls`")
        return spec_from_docker(info, self.host_label)

    def _used(self, spec: NetworkSpec) -> set[str]:
        """Addresses taken on the network: running endpoints and static ones of stopped containers."""
        used: set[str] = set()
        for net in self.networks():
            if net.spec.network_id != spec.network_id:
                continue
            for ep in net.endpoints:
                used.update(a for a in (ep.ipv4, ep.ipv6) if a)
        return used

    def _container_names(self) -> set[str]:
        cs = self._call("list containers", lambda: self.api.containers(all=True))
        return {n.lstrip("/") for c in cs for n in (c.get("Names") or [])}

    # ------------------------------------------------------------ network create / rm
    def create_kwargs(self, spec: NetworkSpec) -> dict:
        """The arguments of client.networks.create() for `spec`, every value explicit."""
        from docker.types import IPAMConfig, IPAMPool

        options = {"ipvlan_mode": spec.mode, "ipvlan_flag": spec.flag}
        labels = {LABEL_OWNER: "ipvlan-tui"}
        parent = spec.parent
        if parent is not None and parent.kind != PARENT_DUMMY:
            options = {"parent": parent.name, **options}
            if parent.kind == PARENT_VLAN and parent.create:
                labels[LABEL_PARENT_CREATED] = "true"
        pools = [IPAMPool(subnet=s.cidr, iprange=s.ip_range, gateway=s.gateway,
                          aux_addresses=dict(s.aux_addresses) or None) for s in spec.subnets]
        return dict(driver=DRIVER, options=options, ipam=IPAMConfig(driver="default", pool_configs=pools),
                    internal=self._docker_internal(spec),
                    enable_ipv6=spec.ipv6 or bool(spec.subnets_v(6)), labels=labels)

    @staticmethod
    def _docker_internal(spec: NetworkSpec) -> bool:
        # No parent + L2: Docker would route via a gateway on its own dummy;
        # --internal makes it set no default route, as the isolated spec says.
        return spec.internal or (spec.isolated and spec.mode == "l2")

    def create_command(self, spec: NetworkSpec) -> str:
        kw = self.create_kwargs(spec)
        parts = ["docker", "network", "create", "-d", DRIVER]
        for pool in kw["ipam"]["Config"]:
            parts.append(f"--subnet={pool['Subnet']}")
        for pool in kw["ipam"]["Config"]:
            if pool.get("Gateway"):
                parts.append(f"--gateway={pool['Gateway']}")
        for pool in kw["ipam"]["Config"]:
            if pool.get("IPRange"):
                parts.append(f"--ip-range={pool['IPRange']}")
        for pool in kw["ipam"]["Config"]:
            for aname, aip in (pool.get("AuxiliaryAddresses") or {}).items():
                parts.append(f"--aux-address={aname}={aip}")
        for key, value in kw["options"].items():
            parts += ["-o", f"{key}={value}"]
        if kw["internal"]:
            parts.append("--internal")
        if kw["enable_ipv6"]:
            parts.append("--ipv6")
        for key, value in kw["labels"].items():
            parts += ["--label", f"{key}={value}"]
        parts.append(spec.name)
        return " ".join(parts)

    def _check_features(self, spec: NetworkSpec) -> None:
        if spec.mode != "l3s" and spec.flag == DEFAULT_FLAG:
            return
        version = self.api_version()
        if version >= FLAGS_API:
            return
        shown = ".".join(map(str, version))
        if spec.mode == "l3s":
            raise ValidationError("-o ipvlan_mode", "l3s", f"this Docker daemon (API {shown}) has no l3s mode",
                                  "use -o ipvlan_mode=l3, --engine netns, or Docker 23.0 or newer")
        raise ValidationError("-o ipvlan_flag", spec.flag,
                              f"this Docker daemon (API {shown}) ignores -o ipvlan_flag and would make "
                              "a bridge network",
                              "leave the flag at bridge, use --engine netns, or Docker 23.0 or newer")

    def name_taken(self, name: str) -> str | None:
        """The driver of a Docker network (of any driver) named exactly `name`, or None.
        Docker's own `name` filter matches substrings, hence the exact comparison."""
        found = self._call("list networks", lambda: self.api.networks(names=[name]))
        return next((n.get("Driver") or "?" for n in found if n.get("Name") == name), None)

    def plan_network_create(self, spec: NetworkSpec) -> Plan:
        self._check_features(spec)
        try:
            taken = self.name_taken(spec.name)
        except EngineError:  # unreachable: the create step will say so in Docker's words
            taken = None
        if taken is not None:  # the validator sees ipvlan networks only; Docker's names span every driver
            where = f" on {self.host_label}" if self.host_label else ""
            raise ValidationError("name", spec.name, f"a Docker network of that name already exists{where} "
                                  f"(driver {taken})", "pick another name, or remove that network first")
        kwargs = self.create_kwargs(spec)
        name = spec.name
        box: dict[str, str] = {}

        def create() -> None:
            net = self._call(f"create network {name}", lambda: self.client().networks.create(name, **kwargs))
            box["id"] = net.id
            self.last_created[name] = net.id

        def remove() -> None:
            self._call(f"remove network {name}", lambda: self.api.remove_network(box.get("id") or name))

        parent = spec.parent
        if parent is None or parent.kind == PARENT_DUMMY:
            where = ("no parent: Docker makes its own dummy parent di-<network id>, isolated"
                     + (", --internal so no default route" if kwargs["internal"] and not spec.internal else ""))
        elif parent.kind == PARENT_VLAN and parent.create:
            where = f"Docker creates 802.1q {parent.name} (VLAN {parent.vlan_id} on {parent.base})"
        else:
            where = f"parent {parent.name}"
        gws = [s.gateway for s in spec.subnets if s.gateway]
        what = f"create Docker ipvlan network {name} ({spec.mode} {spec.flag}; {where}"
        what += f"; gateway {', '.join(gws)} passed explicitly)" if gws else ")"
        step = Step(what, self.create_command(spec), do=create, undo=remove,
                    undo_command=f"docker network rm {name}")
        return Plan(f"network create {name}", [step])

    # ------------------------------------------------------------ swarm: --config-only / --config-from
    def _create_raw(self, body: dict) -> dict:
        """POST /networks/create with fields the SDK has no keyword for (ConfigOnly, ConfigFrom)."""
        api = self.api
        return api._result(api._post_json(api._url("/networks/create"), data=body), json=True)

    def swarm_manager(self) -> bool:
        info = self._call("read swarm state", lambda: self.api.info())
        swarm = info.get("Swarm") or {}
        return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))

    def plan_config_only_create(self, spec: NetworkSpec) -> Plan:
        """`docker network create --config-only ...`: the node's parent and IPAM, for a
        --config-from network to use. Docker's rules: only network-specific fields (no
        --internal, --attachable, --scope, ingress) and no driver of its own (Docker stores
        it as driver "null"); nothing is made in the kernel until a network uses it."""
        parent = spec.parent
        if parent is None or parent.kind == PARENT_DUMMY:
            raise ValidationError("-o parent", "", "a --config-only network needs a parent: it describes "
                                  "this node's uplink for a network spanning nodes",
                                  "give -o parent=eth0.N (the VLAN every node shares)")
        if spec.internal:
            raise ValidationError("--internal", "", "is not allowed on a --config-only network (Docker: "
                                  "operator fields like internal are not supported there)",
                                  "put --internal on the --config-from network instead")
        self._check_features(spec)
        kw = self.create_kwargs(spec)
        name = spec.name
        body = {"Name": name, "CheckDuplicate": True, "ConfigOnly": True, "Driver": DRIVER,
                "Options": kw["options"], "IPAM": kw["ipam"], "EnableIPv6": kw["enable_ipv6"],
                "Labels": kw["labels"]}
        box: dict[str, str] = {}

        def create() -> None:
            box["id"] = self._call(f"create config-only network {name}", lambda: self._create_raw(body))["Id"]

        def remove() -> None:
            self._call(f"remove network {name}", lambda: self.api.remove_network(box.get("id") or name))

        command = self.create_command(spec).replace("docker network create -d ipvlan ",
                                                    "docker network create --config-only ", 1)
        step = Step(f"create config-only network {name} (parent {parent.name}, "
                    + ", ".join(s.cidr for s in spec.subnets)
                    + "; no link is made until a --config-from network uses it)",
                    command, do=create, undo=remove, undo_command=f"docker network rm {name}")
        return Plan(f"network create --config-only {name}", [step])

    def plan_config_from_create(self, name: str, config_from: str, *, scope: str = "swarm",
                                attachable: bool = False, internal: bool = False) -> Plan:
        """`docker network create -d ipvlan --config-from CFG [--scope swarm] NAME`. Docker's rules:
        the config network must be --config-only; this one carries no subnets, options, IPv6
        or labels of its own; a swarm-scoped one needs a swarm manager."""
        import docker.errors as derr

        if not _CONTAINER_NAME.fullmatch(name or ""):
            raise ValidationError("name", name, "is not a valid Docker network name",
                                  "use letters, digits, '_', '.', '-', at least 2 characters")
        try:
            cfg = self.api.inspect_network(config_from)
        except derr.NotFound:
            raise ValidationError("--config-from", config_from, "no such network on this Docker daemon",
                                  "create it first on every node: ipvlan-tui --engine docker network create "
                                  f"--config-only --subnet ... -o parent=eth0.N {config_from}") from None
        except derr.DockerException as exc:
            raise self._explain(exc, f"inspect network {config_from}") from exc
        if not cfg.get("ConfigOnly"):
            raise ValidationError("--config-from", config_from, "is not a --config-only network "
                                  f"(driver {cfg.get('Driver')})",
                                  "name a network made with --config-only")
        if scope not in ("local", "swarm"):
            raise ValidationError("--scope", scope, "is not local or swarm", "use --scope swarm (or local)")
        if scope == "swarm" and not self.swarm_manager():
            raise ValidationError("--scope", scope, "this Docker daemon is not a swarm manager",
                                  "run `docker swarm init` (or use a manager's --host)")
        taken = self.name_taken(name)
        if taken is not None:
            raise ValidationError("name", name, f"a Docker network of that name already exists (driver {taken})",
                                  "pick another name, or remove that network first")
        body = {"Name": name, "CheckDuplicate": True, "Driver": DRIVER, "Scope": scope,
                "ConfigFrom": {"Network": config_from}, "Attachable": attachable, "Internal": internal}
        box: dict[str, str] = {}

        def create() -> None:
            box["id"] = self._call(f"create network {name}", lambda: self._create_raw(body))["Id"]

        def remove() -> None:
            self._call(f"remove network {name}", lambda: self.api.remove_network(box.get("id") or name))

        argv = ["docker", "network", "create", "-d", DRIVER, "--scope", scope, "--config-from", config_from]
        argv += ["--attachable"] if attachable else []
        argv += ["--internal"] if internal else []
        step = Step(f"create {scope}-scoped ipvlan network {name} with the parent and IPAM of {config_from}"
                    + (" on each node" if scope == "swarm" else ""),
                    " ".join([*argv, name]), do=create, undo=remove, undo_command=f"docker network rm {name}")
        return Plan(f"network create {name} --config-from {config_from}", [step])

    def _config_only(self, name: str) -> dict | None:
        """The --config-only network `name` (Docker lists it with driver "null"), or None."""
        info = self._inspect_any(name)
        return info if info is not None and info.get("ConfigOnly") else None

    def _plan_config_only_remove(self, info: dict) -> tuple[NetworkSpec, Plan]:
        name, nid = info.get("Name", ""), info.get("Id", "")
        users = [n["Name"] for n in self._ipvlan_networks_raw()
                 if (n.get("ConfigFrom") or {}).get("Network") == name]
        if users:
            raise ValidationError("network", name, "is the configuration of network(s) " + ", ".join(users),
                                  "remove those first (`ipvlan-tui network rm " + " ".join(users) + "`)")
        step = Step(f"remove config-only network {name}", f"docker network rm {name}",
                    do=lambda: self._call(f"remove network {name}", lambda: self.api.remove_network(nid)))
        return spec_from_docker(info, self.host_label), Plan(f"network rm {name}", [step])

    def plan_network_remove(self, name: str, force: bool = False) -> tuple[NetworkSpec, Plan]:
        net = self.network(name)
        if net is None:
            cfg = self._config_only(name)
            if cfg is not None:
                return self._plan_config_only_remove(cfg)
            raise ValidationError("network", name, "no such ipvlan network on Docker",
                                  "see `ipvlan-tui network ls`")
        spec = net.spec
        steps: list[Step] = []
        if net.endpoints and not force:
            raise ValidationError("network", name,
                                  f"{len(net.endpoints)} container(s) still attached: "
                                  + ", ".join(e.name for e in net.endpoints),
                                  "remove them first (`ipvlan-tui rm NAME`) or pass --force")
        for ep in net.endpoints:
            steps.append(self._rm_step(ep.name, ep.container_id or ep.name))
        p = spec.parent
        goes = ""
        if p is not None and p.kind == PARENT_DUMMY:
            goes = f"; Docker deletes its dummy parent {p.name}"
        elif p is not None and p.create:
            goes = f"; Docker deletes {p.name}, which it created"
        net_id = spec.network_id

        def remove() -> None:
            self._call(f"remove network {name}", lambda: self.api.remove_network(net_id))

        steps.append(Step(f"remove Docker network {name}{goes}", f"docker network rm {name}", do=remove))
        return spec, Plan(f"network rm {name}", steps)

    # ------------------------------------------------------------ containers
    @staticmethod
    def _addresses(req: EndpointRequest) -> tuple[str | None, str | None]:
        """The --ip/--ip6 to pass: only what was asked. Docker's IPAM knows its own
        reservations (Docker 20.10 holds the first usable address of every subnet as a
        gateway, even in L3 and --internal networks, without showing it), so a dynamic
        address is left to Docker and read back afterwards (`endpoint(name)`)."""
        return req.ipv4 or None, req.ipv6 or None

    def _image_present(self, image: str) -> bool:
        import docker.errors as derr

        try:
            self.api.inspect_image(image)
            return True
        except derr.ImageNotFound:
            return False
        except derr.DockerException as exc:
            raise self._explain(exc, f"inspect image {image}") from exc
        except OSError as exc:
            raise self._unreachable(exc) from exc

    def plan_run(self, req: EndpointRequest) -> tuple[Endpoint, Plan]:
        """`docker run -itd --net NET --ip A --ip6 B --name NAME IMAGE CMD` as a plan."""
        if isinstance(req.name, str) and not _CONTAINER_NAME.fullmatch(req.name):
            raise ValidationError("--name", req.name, "is not a valid Docker container name "
                                  "(Docker wants at least 2 characters: [a-zA-Z0-9][a-zA-Z0-9_.-]+)",
                                  f"use a longer name, e.g. --name={req.name}1")
        spec = self._spec(req.network)
        used = self._used(spec)
        specmod.validate_endpoint(req, spec, used, self._container_names())
        v4, v6 = self._addresses(req)
        image = req.image or self.default_image
        command = list(req.command) or list(DEFAULT_COMMAND)
        steps: list[Step] = []
        if not self._image_present(image):
            steps.append(Step(f"pull image {image}", f"docker pull {image}",
                              do=lambda: self._call(f"pull {image}", lambda: self.client().images.pull(image))))
        box: dict[str, str] = {}
        net = spec.name

        def run() -> None:
            api = self.api

            def go() -> str:
                endpoint = api.create_endpoint_config(ipv4_address=v4, ipv6_address=v6)
                c = api.create_container(
                    image, command, name=req.name, detach=True, tty=True, stdin_open=True,
                    host_config=api.create_host_config(network_mode=net),
                    # keyed by the network of network_mode, else Docker drops --ip/--ip6
                    networking_config=api.create_networking_config({net: endpoint}))
                box["id"] = c["Id"]
                try:
                    api.start(c["Id"])
                except BaseException:
                    # The step failed, so the plan will not undo it: remove the created
                    # container here, or it stays behind in state "created" holding the name.
                    try:
                        api.remove_container(c["Id"], force=True)
                    except Exception:  # noqa: BLE001 - the start error is the one to report
                        pass
                    raise
                return c["Id"]

            self._call(f"run {req.name}", go)

        def undo() -> None:
            target = box.get("id") or req.name
            self._call(f"remove {req.name}", lambda: self.api.remove_container(target, force=True))

        argv = ["docker", "run", "-itd", "--net", net]
        if v4:
            argv += ["--ip", v4]
        if v6:
            argv += ["--ip6", v6]
        argv += ["--name", req.name, image, *command]
        addrs = ", ".join(a for a in (v4, v6) if a) or "an address picked by Docker's IPAM"
        steps.append(Step(f"run container {req.name} on {net} with {addrs} ({expected_routes(spec)})",
                          " ".join(argv), do=run, undo=undo, undo_command=f"docker rm -f {req.name}"))
        ep = Endpoint(name=req.name, network=net, engine=ENGINE_DOCKER, host=self.host_label,
                      ipv4=v4, ipv6=v6, state="planned")
        return ep, Plan(f"run {req.name}", steps)

    def endpoint(self, name: str) -> Endpoint | None:
        """The container `name` as it is now (addresses Docker gave it, netns), or None."""
        info = self._container_on_ipvlan(name)
        return self._endpoint_from_inspect(info) if info is not None else None

    def _rm_step(self, name: str, target: str) -> Step:
        return Step(f"remove container {name} (its {ENDPOINT_IFNAME} goes with it)", f"docker rm -f {name}",
                    do=lambda: self._call(f"remove {name}",
                                          lambda: self.api.remove_container(target, force=True)))

    def plan_rm(self, name: str) -> tuple[Endpoint, Plan]:
        info = self._container_on_ipvlan(name)
        if info is None:
            raise ValidationError("endpoint", name, "no such container on an ipvlan network",
                                  "see `ipvlan-tui ps` for the names")
        ep = self._endpoint_from_inspect(info)
        return ep, Plan(f"rm {name}", [self._rm_step(ep.name, info["Id"])])

    def _endpoint_from_inspect(self, info: dict) -> Endpoint:
        ids = {n["Id"]: n["Name"] for n in self._ipvlan_networks_raw()}
        nets = ((info.get("NetworkSettings") or {}).get("Networks") or {})
        nname, ninfo = next(((k, v) for k, v in nets.items() if v.get("NetworkID") in ids), ("", {}))
        state = (info.get("State") or {})
        pid = int(state.get("Pid") or 0)
        c = {"Id": info["Id"], "Names": [info.get("Name", "")], "State": state.get("Status")}
        return self._endpoint(c, nname, ninfo, pid)

    def plan_connect(self, network: str, container: str, ipv4: str | None = None,
                     ipv6: str | None = None) -> tuple[Endpoint, Plan]:
        """`docker network connect [--ip A] [--ip6 B] NET CONTAINER` as a plan."""
        spec = self._spec(network, field="network")
        import docker.errors as derr

        try:
            info = self.api.inspect_container(container)
        except derr.NotFound:
            raise ValidationError("container", container, "no such container",
                                  "see `docker ps -a` for the names") from None
        except derr.DockerException as exc:
            raise self._explain(exc, f"inspect {container}") from exc
        except OSError as exc:
            raise self._unreachable(exc) from exc
        nets = ((info.get("NetworkSettings") or {}).get("Networks") or {})
        if any(v.get("NetworkID") == spec.network_id for v in nets.values()):
            raise ValidationError("container", container, f"is already connected to {spec.name}",
                                  f"disconnect it first: ipvlan-tui network disconnect {spec.name} {container}")
        used = self._used(spec)
        req = EndpointRequest(name=container, network=spec.name, ipv4=ipv4, ipv6=ipv6,
                              engine=ENGINE_DOCKER)
        # The container's name is taken by itself: check only the addresses.
        specmod.validate_endpoint(req, spec, used, ())
        v4, v6 = self._addresses(req)
        cid = info["Id"]

        def connect() -> None:
            self._call(f"connect {container} to {spec.name}",
                       lambda: self.api.connect_container_to_network(cid, spec.network_id,
                                                                     ipv4_address=v4, ipv6_address=v6))

        def disconnect() -> None:
            self._call(f"disconnect {container} from {spec.name}",
                       lambda: self.api.disconnect_container_from_network(cid, spec.network_id, force=True))

        argv = ["docker", "network", "connect"]
        if v4:
            argv += ["--ip", v4]
        if v6:
            argv += ["--ip6", v6]
        argv += [spec.name, container]
        name = (info.get("Name") or container).lstrip("/")
        step = Step(f"connect {name} to {spec.name} with "
                    + (", ".join(a for a in (v4, v6) if a) or "addresses picked by Docker"),
                    " ".join(argv), do=connect, undo=disconnect,
                    undo_command=f"docker network disconnect {spec.name} {container}")
        ep = Endpoint(name=name, network=spec.name, engine=ENGINE_DOCKER, host=self.host_label,
                      ipv4=v4, ipv6=v6, state="planned", container_id=cid)
        return ep, Plan(f"network connect {spec.name} {container}", [step])

    def plan_disconnect(self, network: str, container: str, force: bool = False) -> tuple[Endpoint, Plan]:
        """`docker network disconnect NET CONTAINER` as a plan."""
        net = self.network(network)
        if net is None:
            raise ValidationError("network", network, "no such ipvlan network on Docker",
                                  "see `ipvlan-tui network ls`")
        ep = next((e for e in net.endpoints
                   if e.name == container or (e.container_id or "").startswith(container)), None)
        if ep is None:
            raise ValidationError("container", container, f"is not connected to {net.spec.name}",
                                  f"connected: {', '.join(e.name for e in net.endpoints) or 'none'}")
        nid, cid = net.spec.network_id, ep.container_id or ep.name
        v4, v6 = ep.ipv4, ep.ipv6

        def disconnect() -> None:
            self._call(f"disconnect {ep.name} from {net.spec.name}",
                       lambda: self.api.disconnect_container_from_network(cid, nid, force=force))

        def reconnect() -> None:
            self._call(f"reconnect {ep.name} to {net.spec.name}",
                       lambda: self.api.connect_container_to_network(cid, nid, ipv4_address=v4,
                                                                     ipv6_address=v6))

        step = Step(f"disconnect {ep.name} from {net.spec.name} (releases "
                    + (", ".join(a for a in (v4, v6) if a) or "nothing") + ")",
                    f"docker network disconnect {'-f ' if force else ''}{net.spec.name} {ep.name}",
                    do=disconnect, undo=reconnect,
                    undo_command=f"docker network connect {net.spec.name} {ep.name}")
        return ep, Plan(f"network disconnect {net.spec.name} {ep.name}", [step])

    # ------------------------------------------------------------ events
    def _daemon_event(self, action: str, reason: str = "") -> dict:
        """The daemon itself went away ("down", reason in name) or came back ("up")."""
        return {"engine": ENGINE_DOCKER, "host": self.host_label, "type": "daemon", "action": action,
                "id": "", "name": reason, "network": None, "container": None, "time": time.time(),
                "raw": {}}

    def events(self, callback: Callable[[dict], None], stop: Callable[[], bool],
               poll: float = 0.5, *, reconnect: bool = True, retry: float = RECONNECT_S) -> None:
        """Block (in a worker thread) calling callback(event) per Docker change until stop().

        Events: network create/destroy/connect/disconnect of ipvlan networks,
        container start/die. Each is a dict: engine, host, type, action, id,
        name, network (network events), container (connect/disconnect: its id),
        time, raw (Docker's own event).

        The daemon is an event source too: when the stream breaks or cannot be
        opened, {"type": "daemon", "action": "down", "name": why} (once); with
        `reconnect` (the default) the daemon is looked for again every `retry`
        seconds and, once it answers, {"type": "daemon", "action": "up"} comes
        before its events: what happened meanwhile is not replayed, so the
        consumer re-reads everything then. Without `reconnect`, a broken stream
        raises EngineError (a clean end returns).
        """
        filters = {"type": ["network", "container"], "event": list(EVENT_ACTIONS)}
        current: dict[str, Any] = {}
        done = threading.Event()

        def closer() -> None:  # a blocked read only ends when its stream is closed
            while not done.wait(poll):
                if stop():
                    stream = current.get("stream")
                    if stream is not None:
                        try:
                            stream.close()
                        except Exception:  # noqa: BLE001 - closing a dead stream
                            pass
                    return

        watcher = threading.Thread(target=closer, name="docker-events-stop", daemon=True)
        watcher.start()
        down = False
        try:
            while not stop():
                try:
                    stream = self._call("watch events", lambda: self.api.events(decode=True, filters=filters))
                except EngineError as exc:
                    if not reconnect:
                        raise
                    if not down:
                        down = True
                        callback(self._daemon_event("down", exc.message))
                    if done.wait(retry) or stop():
                        break
                    continue
                current["stream"] = stream
                if down:
                    down = False
                    callback(self._daemon_event("up"))
                broke = self._follow(stream, callback, stop)
                current.pop("stream", None)
                try:
                    stream.close()
                except Exception:  # noqa: BLE001
                    pass
                if stop():
                    break
                if not reconnect:
                    if broke:
                        raise EngineError(f"Docker event stream ended: {broke}")
                    return
                # The stream ended under us: dockerd stopped (or restarted). Say so, and
                # make sure the next call probes instead of trusting the old connection.
                status = self.status()
                reason = status if status != "ok" else f"Docker event stream ended: {broke or 'closed'}"
                if status == "ok":
                    self.close()
                down = True
                callback(self._daemon_event("down", reason))
                if done.wait(retry):
                    break
        finally:
            done.set()
            stream = current.pop("stream", None)
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001
                    pass

    def _follow(self, stream, callback: Callable[[dict], None], stop: Callable[[], bool]) -> str:
        """Hand over the stream's events until it ends: "" for a clean end, else why it broke."""
        try:
            for raw in stream:
                if stop():
                    return ""
                ev = normalize_event(raw, self.host_label)
                if ev is not None:
                    callback(ev)
        except Exception as exc:  # noqa: BLE001 - a closed or broken stream ends the loop
            return " ".join(str(exc).split()) or type(exc).__name__
        return ""


def expected_routes(spec: NetworkSpec) -> str:
    """The routes Docker's ipvlan driver puts in a container of `spec`, in words."""
    if spec.internal:
        return "no routes besides its own subnet: --internal"
    if spec.mode == "l2":
        gws = [s.gateway for s in spec.subnets if s.gateway]
        return f"default via {' / '.join(gws)}" if gws else "default via the gateway Docker reserved"
    return f"default dev {ENDPOINT_IFNAME}"


def normalize_event(raw: dict, host_label: str = "") -> dict | None:
    """Docker's event dict as the console's event dict, or None when it is not ours to show."""
    kind = raw.get("Type") or raw.get("type")
    action = (raw.get("Action") or raw.get("status") or "").split(":", 1)[0]
    actor = raw.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    if kind == "network":
        if attrs.get("type") != DRIVER or action not in EVENT_ACTIONS[:4]:
            return None
        return {"engine": ENGINE_DOCKER, "host": host_label, "type": "network", "action": action,
                "id": actor.get("ID", ""), "name": attrs.get("name", ""), "network": attrs.get("name", ""),
                "container": attrs.get("container"), "time": raw.get("time"), "raw": raw}
    if kind == "container":
        if action not in ("start", "die"):
            return None
        return {"engine": ENGINE_DOCKER, "host": host_label, "type": "container", "action": action,
                "id": actor.get("ID", ""), "name": attrs.get("name", ""), "network": None,
                "container": actor.get("ID", ""), "time": raw.get("time"), "raw": raw}
    return None


__all__ = ["DockerEngine", "DockerUnreachable", "DockerContext", "list_contexts", "engines_for", "resolve_host", "explain",
           "spec_from_docker", "parent_plan_from_docker", "normalize_event", "LABEL_OWNER",
           "LABEL_PARENT_CREATED", "DOCKER_DUMMY_PREFIX"]
