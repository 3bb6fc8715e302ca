"""What this tool created and owns, and the addresses it handed out (sqlite3).

One transaction per change, WAL mode, a busy timeout so a second process
waits instead of failing or corrupting. Rows carry a state: `creating`
rows are what a crash (kill -9) left half done; `restore` reconciles them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from ipvlan_tui.errors import EngineError
from ipvlan_tui.model import Endpoint, NetworkSpec, ParentPlan, Subnet

SCHEMA_VERSION = 1
DEFAULT_STATE_DIR = "/var/lib/ipvlan-tui"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS networks (
    name TEXT PRIMARY KEY,
    engine TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    network_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    network TEXT NOT NULL REFERENCES networks(name),
    engine TEXT NOT NULL,
    ipv4 TEXT,
    ipv6 TEXT,
    netns TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS allocations (
    network TEXT NOT NULL REFERENCES networks(name),
    address TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    PRIMARY KEY (network, address)
);
CREATE TABLE IF NOT EXISTS owned (
    kind TEXT NOT NULL,          -- 'link' | 'netns'
    name TEXT NOT NULL,
    netns TEXT NOT NULL DEFAULT '',
    network TEXT NOT NULL,
    endpoint TEXT NOT NULL DEFAULT '',
    ifindex INTEGER,             -- set once the kernel gave it: guards against re-used names
    PRIMARY KEY (kind, name, netns)
);
-- Lookups per endpoint operation (no full scans: endpoint churn is O(1) per step in sqlite).
-- Added without a schema bump: an older ipvlan-tui reads and writes the store as before.
CREATE INDEX IF NOT EXISTS endpoints_by_network ON endpoints(network, name);
CREATE INDEX IF NOT EXISTS allocations_by_endpoint ON allocations(endpoint);
CREATE INDEX IF NOT EXISTS owned_by_endpoint ON owned(endpoint);
"""


def resolve_state_dir(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get("IPVLAN_TUI_STATE_DIR") or DEFAULT_STATE_DIR)


def spec_to_json(spec: NetworkSpec) -> str:
    return json.dumps(asdict(spec), sort_keys=True)


def spec_from_json(text: str) -> NetworkSpec:
    data = json.loads(text)
    parent = ParentPlan(**data["parent"]) if data.get("parent") else None
    subnets = tuple(
        Subnet(
            cidr=s["cidr"],
            gateway=s["gateway"],
            gateway_given=s["gateway_given"],
            ip_range=s["ip_range"],
            aux_addresses=tuple(tuple(p) for p in s["aux_addresses"]),
        )
        for s in data["subnets"]
    )
    return NetworkSpec(
        name=data["name"], mode=data["mode"], flag=data["flag"], parent=parent,
        subnets=subnets, internal=data["internal"], ipv6=data["ipv6"],
        engine=data["engine"], host=data.get("host", ""), network_id=data["network_id"],
        warnings=tuple(data.get("warnings", ())),
    )


class Store:
    """The tool's memory. Open one per process; it is safe across processes."""

    def __init__(self, state_dir: str | os.PathLike | None = None, *, read_only: bool = False):
        self.state_dir = resolve_state_dir(state_dir)
        self.path = self.state_dir / "state.db"
        self.read_only = read_only
        if not read_only:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if read_only and not self.path.exists():
            self._db = sqlite3.connect(":memory:", isolation_level=None)
            self._db.executescript(_SCHEMA)
            return
        new = not self.path.exists()
        if new and not read_only:
            # Created 0600 before sqlite opens it.
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
        uri = f"file:{self.path}?mode={'ro' if read_only else 'rwc'}"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._check()  # before anything writes: a refused file stays byte for byte
            if not read_only:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise EngineError(
                f"the store {self.path} is unreadable ({exc})",
                hint="it was left untouched; move it aside to start afresh",
            ) from exc

    def _check(self) -> None:
        """Refuse a store from a newer ipvlan-tui or a file that is not ours (read only)."""
        tables = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise EngineError(
                    f"the store {self.path} is from a newer ipvlan-tui (schema {version}, "
                    f"this one knows {SCHEMA_VERSION})",
                    hint="upgrade ipvlan-tui; the store was not touched",
                )
        elif tables:
            raise EngineError(f"{self.path} is not an ipvlan-tui store",
                              hint="it was left untouched; point --state-dir elsewhere")

    def _migrate(self) -> None:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                self._db.execute(stmt)
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)",
                         (str(SCHEMA_VERSION),))
        os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: a second writer waits for the first (busy timeout)."""
        if self.read_only:
            raise EngineError("read-only: not root, nothing can be changed",
                              hint="run as root (or with CAP_NET_ADMIN)")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # ---- networks --------------------------------------------------------------
    def add_network(self, spec: NetworkSpec, state: str = "creating", check=None) -> None:
        """Record a network. `check(others: list[NetworkSpec])` runs under the write
        lock and may raise to refuse (a clash with a network another process
        recorded since this one validated)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM networks WHERE name=?", (spec.name,)).fetchone():
                raise EngineError(f"a network named {spec.name} already exists",
                                  hint="pick another name or remove it first")
            if check is not None:
                check([spec_from_json(r[0]) for r in db.execute("SELECT spec FROM networks")])
            db.execute(
                "INSERT INTO networks(name, engine, host, network_id, spec, state, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (spec.name, spec.engine, spec.host, spec.network_id, spec_to_json(spec),
                 state, time.time()),
            )

    def mark_network_removing(self, name: str, endpoints: set[str]) -> None:
        """State `removing`, only if its endpoints are still exactly the planned ones
        (an endpoint another process added meanwhile would be left behind)."""
        with self.transaction() as db:
            now = {r[0] for r in db.execute("SELECT name FROM endpoints WHERE network=?", (name,))}
            if now - endpoints:
                raise EngineError(f"endpoint(s) {', '.join(sorted(now - endpoints))} joined network "
                                  f"{name} meanwhile (another ipvlan-tui at the same time)",
                                  hint="nothing was removed; run the command again")
            db.execute("UPDATE networks SET state='removing' WHERE name=?", (name,))

    def set_network_state(self, name: str, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE networks SET state=? WHERE name=?", (state, name))

    def delete_network(self, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM allocations WHERE network=?", (name,))
            db.execute("DELETE FROM owned WHERE network=? AND endpoint=''", (name,))
            db.execute("DELETE FROM networks WHERE name=?", (name,))

    def networks(self, engine: str | None = None) -> list[tuple[NetworkSpec, str]]:
        sql = "SELECT spec, state FROM networks"
        args: tuple = ()
        if engine:
            sql += " WHERE engine=?"
            args = (engine,)
        return [(spec_from_json(s), st) for s, st in self._db.execute(sql + " ORDER BY name", args)]

    def network(self, name: str) -> tuple[NetworkSpec, str] | None:
        row = self._db.execute("SELECT spec, state FROM networks WHERE name=?", (name,)).fetchone()
        return (spec_from_json(row[0]), row[1]) if row else None

    # ---- endpoints and addresses ---------------------------------------------------
    def reserve_endpoint(self, endpoint: Endpoint, pick,
                         prefer: tuple[str | None, str | None] | None = None) -> Endpoint:
        """Insert the endpoint and its addresses in one transaction.

        `pick(used: set[str]) -> (ipv4, ipv6)` chooses the addresses while the
        write lock is held, so two processes never hand out the same one.
        `prefer`: the addresses the plan showed (picked from the same store
        moments before); when none of them is taken they are the ones reserved,
        checked by one indexed lookup instead of listing the network's addresses
        for `pick` (which still decides when one was taken meanwhile).
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM endpoints WHERE name=?", (endpoint.name,)).fetchone():
                raise EngineError(f"an endpoint named {endpoint.name} already exists",
                                  hint="pick another --name or remove it first")
            row = db.execute("SELECT state FROM networks WHERE name=?", (endpoint.network,)).fetchone()
            if row is None or row[0] != "ready":
                raise EngineError(f"network {endpoint.network} is "
                                  + ("gone" if row is None else f"{row[0]} (another ipvlan-tui at the same time)"),
                                  hint="nothing was changed; see `ipvlan-tui network ls`")
            wanted = [a for a in (prefer or ()) if a]
            if wanted and not db.execute(
                    "SELECT 1 FROM allocations WHERE network=? AND address IN (%s) LIMIT 1"
                    % ",".join("?" * len(wanted)), (endpoint.network, *wanted)).fetchone():
                ipv4, ipv6 = prefer
            else:
                used = {r[0] for r in db.execute(
                    "SELECT address FROM allocations WHERE network=?", (endpoint.network,))}
                ipv4, ipv6 = pick(used)
            db.execute(
                "INSERT INTO endpoints(name, network, engine, ipv4, ipv6, netns, state, created_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (endpoint.name, endpoint.network, endpoint.engine, ipv4, ipv6, endpoint.netns,
                 "creating", time.time()),
            )
            for addr in (ipv4, ipv6):
                if addr:
                    db.execute("INSERT INTO allocations(network, address, endpoint) VALUES (?,?,?)",
                               (endpoint.network, addr, endpoint.name))
        return Endpoint(name=endpoint.name, network=endpoint.network, engine=endpoint.engine,
                        ipv4=ipv4, ipv6=ipv6, netns=endpoint.netns, state="creating")

    def set_endpoint_state(self, name: str, state: str, then=None) -> None:
        """`then()`, when given, runs inside the same transaction after the change (it
        sees it; the hosts files are edited there, so their edits are serialized
        with the store's and follow its order). When it raises, nothing changes."""
        with self.transaction() as db:
            db.execute("UPDATE endpoints SET state=? WHERE name=?", (state, name))
            if then is not None:
                then()

    def delete_endpoint(self, name: str, then=None) -> None:
        """Forget the endpoint, its addresses and what it owned; `then` as above."""
        with self.transaction() as db:
            db.execute("DELETE FROM allocations WHERE endpoint=?", (name,))
            db.execute("DELETE FROM owned WHERE endpoint=?", (name,))
            db.execute("DELETE FROM endpoints WHERE name=?", (name,))
            if then is not None:
                then()

    def hosts_entries(self, network: str) -> list[tuple[str, str | None, str | None]]:
        """(name, ipv4, ipv6) of the endpoints of `network` that peers resolve: the ready
        ones and those being removed (not those still being created), by name.
        One indexed query; no Endpoint objects."""
        return self._db.execute(
            "SELECT name, ipv4, ipv6 FROM endpoints WHERE network=? AND state IN ('ready', 'removing')"
            " ORDER BY name", (network,)).fetchall()

    def endpoints(self, network: str | None = None) -> list[tuple[Endpoint, str]]:
        sql = "SELECT name, network, engine, ipv4, ipv6, netns, state FROM endpoints"
        args: tuple = ()
        if network:
            sql += " WHERE network=?"
            args = (network,)
        return [
            (Endpoint(name=n, network=net, engine=eng, ipv4=v4, ipv6=v6, netns=ns, state=st), st)
            for n, net, eng, v4, v6, ns, st in self._db.execute(sql + " ORDER BY name", args)
        ]

    def endpoint(self, name: str) -> Endpoint | None:
        """One endpoint by name (an indexed lookup: endpoint churn calls it per step)."""
        row = self._db.execute("SELECT name, network, engine, ipv4, ipv6, netns, state"
                               " FROM endpoints WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        n, net, eng, v4, v6, ns, st = row
        return Endpoint(name=n, network=net, engine=eng, ipv4=v4, ipv6=v6, netns=ns, state=st)

    def used_addresses(self, network: str) -> set[str]:
        return {r[0] for r in self._db.execute(
            "SELECT address FROM allocations WHERE network=?", (network,))}

    # ---- ownership --------------------------------------------------------------------
    def own(self, kind: str, name: str, network: str, *, netns: str = "",
            endpoint: str = "", ifindex: int | None = None, claim: bool = False) -> None:
        """Record that we made (or are about to make) a link or namespace.

        claim=True: refuse when it is recorded already for another network or
        endpoint (two processes making the same link at once: one wins)."""
        with self.transaction() as db:
            if claim:
                row = db.execute("SELECT network, endpoint FROM owned WHERE kind=? AND name=? AND netns=?",
                                 (kind, name, netns)).fetchone()
                if row is not None and tuple(row) != (network, endpoint):
                    whose = f"endpoint {row[1]}" if row[1] else f"network {row[0]}"
                    raise EngineError(f"{kind} {name} is being made by ipvlan-tui for {whose} already "
                                      "(another ipvlan-tui at the same time)",
                                      hint="nothing of it was touched; try again once that one is done")
            db.execute(
                "INSERT OR REPLACE INTO owned(kind, name, netns, network, endpoint, ifindex)"
                " VALUES (?,?,?,?,?,?)", (kind, name, netns, network, endpoint, ifindex))

    def disown(self, kind: str, name: str, netns: str = "") -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM owned WHERE kind=? AND name=? AND netns=?", (kind, name, netns))

    def owned(self, kind: str | None = None) -> list[dict]:
        sql = "SELECT kind, name, netns, network, endpoint, ifindex FROM owned"
        args: tuple = ()
        if kind:
            sql += " WHERE kind=?"
            args = (kind,)
        cols = ("kind", "name", "netns", "network", "endpoint", "ifindex")
        return [dict(zip(cols, row)) for row in self._db.execute(sql, args)]

    def owned_link(self, name: str, netns: str = "") -> dict | None:
        row = self._db.execute("SELECT kind, name, netns, network, endpoint, ifindex FROM owned"
                               " WHERE kind='link' AND name=? AND netns=?", (name, netns)).fetchone()
        cols = ("kind", "name", "netns", "network", "endpoint", "ifindex")
        return dict(zip(cols, row)) if row else None

    def owns(self, kind: str, name: str) -> bool:
        """Whether a `kind` named `name` (in any namespace) is recorded as ours: one
        indexed lookup (the primary key's prefix), not a listing."""
        return self._db.execute("SELECT 1 FROM owned WHERE kind=? AND name=? LIMIT 1",
                                (kind, name)).fetchone() is not None
