"""The authorization fixture: a governed mesh written by bulk SQL, shared by the authz_* runs.

``generate`` builds, from one seeded ``random.Random``, an in-memory ``World``: domains,
databases, tables with columns, users in roles, tag definitions and assignments, and grant
rows shaped exactly as ``lakemesh.access.grants.create`` stores them (ids ``g`` + 16 hex digits,
actions and column lists as JSON text, ``resource_kind`` table/database/tags, canonical row
filters and tag expressions, ``scope_domain`` on tag grants made by a domain steward,
``parent_id`` on grants a domain admin delegated from its domain's grant). ``write`` creates
a fresh mesh (``Mesh.init``, SQLite) and inserts every row with SQLAlchemy Core executemany
in one write transaction, then one ``policy_log`` row so the policy version is above 0.
Going through ``mesh.access.grant`` would validate and audit each of the 100,000 grants one by one.

Grants, by grantee (named grants; the tag-expression grants are extra):

* 10% to domains: the ceilings. Each domain holds table grants (90%) and database grants
  (10%) on other domains' resources, mostly grantable, a few with row filters or expiry.
* 20% to ``domain:role`` and 70% to users: 35% on the own domain's resources, 50% inside
  the domain's ceiling (half of those delegated: ``parent_id`` set, actions, row filter and
  expiry inherited), 15% on random resources of other domains (mostly outside the ceiling,
  so the ceiling denies them). Table grants carry a column list (20%, always with ``id`` and
  ``region``) or a row filter (10%); 8% expire in the future and 4% have already expired.
* Tag-expression grants (1% of the named count): 40% to users, 40% to roles, 20% to
  domains; one or two of the table-level keys (sensitivity, tier, geo), users' and roles'
  sometimes also ``pii=yes`` (a column-level tag); half unscoped (by the mesh admin), half
  scoped to a domain (by its steward). Domains' tag grants use table-level keys only, so a
  ceiling always covers whole tables and the peers' table-level answers stay exact.

Tags: 10% of databases carry ``geo``, 30% of tables ``sensitivity`` (half of them also
``tier``), and 20% of tables ``pii=yes`` on their personal columns (email, phone, name).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from benchmarks._common import QUICK, Size, log, timed
from lakemesh.access.filters import parse_row_filter
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.access.tags import TagExpression
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from lakemesh.typedef import now

SEED = 20_240_611
COLUMN_POOL = (
    "email",
    "amount",
    "status",
    "created_at",
    "country",
    "name",
    "phone",
    "score",
    "channel",
    "notes",
)
PII_COLUMNS = frozenset({"email", "phone", "name"})
TAG_DEFS = {
    "sensitivity": ("confidential", "internal", "public", "restricted"),
    "tier": ("bronze", "gold", "silver"),
    "geo": ("apac", "eu", "us"),
    "pii": ("no", "yes"),
}
TABLE_KEYS = ("sensitivity", "tier", "geo")
REGIONS = ("eu", "us", "apac")
PROBE_DOMAIN = "probe"
PROBE_USER = f"analyst@{PROBE_DOMAIN}"


@dataclass(frozen=True)
class AuthzSize:
    domains: int
    databases: int  #: per domain
    tables: int
    users: int
    grants: int  #: named (table and database) grants
    tag_grants: int
    wide_tables: int  #: the catalog of the listing benchmark
    decisions: int  #: timed decisions of ours per repetition
    reps: int
    warmup: int
    peer_samples: int  #: at most, per peer
    peer_budget_s: float  #: per peer: fewer samples when a peer is slower than this allows
    filter_reps: int
    revokes: int
    cold_reps: int


FULL = AuthzSize(
    domains=20,
    databases=10,
    tables=20_000,
    users=5_000,
    grants=100_000,
    tag_grants=1_000,
    wide_tables=100_000,
    decisions=20_000,
    reps=3,
    warmup=2_000,
    peer_samples=2_000,
    peer_budget_s=60.0,
    filter_reps=5,
    revokes=200,
    cold_reps=3,
)
#: 1/20 of everything (the domains stay 20, with fewer databases each).
QUICK_AUTHZ = AuthzSize(
    domains=20,
    databases=5,
    tables=1_000,
    users=250,
    grants=5_000,
    tag_grants=50,
    wide_tables=5_000,
    decisions=2_000,
    reps=3,
    warmup=500,
    peer_samples=200,
    peer_budget_s=10.0,
    filter_reps=3,
    revokes=20,
    cold_reps=2,
)


def authz_size(size: Size) -> AuthzSize:
    return QUICK_AUTHZ if size == QUICK else FULL


# --------------------------------------------------------------------------- the world


@dataclass(frozen=True, slots=True)
class TableRow:
    name: str
    domain: str
    database: str
    columns: tuple[str, ...]


@dataclass
class World:
    stamp: datetime
    domains: list[str]
    databases: list[str]  #: dom.db
    tables: list[TableRow]
    users: dict[str, tuple[str, str]]  #: name -> (domain, role)
    tags: dict[str, dict[str, str]]  #: resource -> {key: value}, as stored
    grants: list[dict[str, Any]]  #: rows of the grants table
    probe: str | None = None

    def table_tags(self, table: TableRow) -> set[str]:
        """``key=value`` pairs a tag expression may match somewhere on the table: the
        table's inherited tags (database, then table) plus its columns' own tags."""
        inherited = {**self.tags.get(table.database, {}), **self.tags.get(table.name, {})}
        out = {f"{k}={v}" for k, v in inherited.items()}
        for c in table.columns:
            out |= {f"{k}={v}" for k, v in self.tags.get(f"{table.name}.{c}", {}).items()}
        return out


class _Gen:
    def __init__(self, size: AuthzSize, tables: int, seed: int) -> None:
        self.size, self.rng, self.stamp = size, random.Random(seed), now()
        self.ids: set[str] = set()
        self.filters = [
            parse_row_filter(f"region = '{r}'", {"id": "", "region": ""}).sql for r in REGIONS
        ]
        rng = self.rng
        doms = [f"dom{i:02d}" for i in range(size.domains)]
        dbs = [f"{d}.db{j}" for d in doms for j in range(size.databases)]
        rows = []
        for k in range(tables):
            db = dbs[k % len(dbs)]
            extra = rng.sample(COLUMN_POOL, rng.randint(3, 8))
            rows.append(TableRow(f"{db}.t{k:06d}", db.split(".")[0], db, ("id", "region", *extra)))
        users: dict[str, tuple[str, str]] = {}
        per = max(3, size.users // size.domains)
        for d in doms:
            for j in range(per):
                role = "admin" if j % 25 == 0 else "steward" if j % 25 in (1, 2) else "member"
                users[f"u{len(users):05d}@{d}"] = (d, role)
        self.world = World(self.stamp, doms, dbs, rows, users, {}, [])
        self.by_domain: dict[str, list[TableRow]] = defaultdict(list)
        self.by_db: dict[str, list[TableRow]] = defaultdict(list)
        for r in rows:
            self.by_domain[r.domain].append(r)
            self.by_db[r.database].append(r)
        self.dbs_of: dict[str, list[str]] = defaultdict(list)
        for db in dbs:
            self.dbs_of[db.split(".")[0]].append(db)
        self.people: dict[tuple[str, str], list[str]] = defaultdict(list)
        for name, (d, role) in users.items():
            self.people[(d, role)].append(name)
        self.ceilings: dict[str, list[dict[str, Any]]] = defaultdict(list)

    # ------------------------------------------------------------------ helpers

    def gid(self) -> str:
        while True:
            g = f"g{self.rng.getrandbits(64):016x}"
            if g not in self.ids:
                self.ids.add(g)
                return g

    def expiry(self, future: float, past: float) -> datetime | None:
        r = self.rng.random()
        if r < future:
            return self.stamp + timedelta(days=self.rng.randint(7, 90))
        if r < future + past:
            return self.stamp - timedelta(days=self.rng.randint(1, 30))
        return None

    def actions(self) -> list[str]:
        r = self.rng.random()
        return ["SELECT"] if r < 0.8 else ["DESCRIBE"] if r < 0.9 else ["DESCRIBE", "SELECT"]

    def steward(self, domain: str) -> str:
        found = self.people.get((domain, "steward"))
        return self.rng.choice(found) if found else MESH_ADMIN

    def add(self, principal: str, kind: str, resource: str, **kw: Any) -> dict[str, Any]:
        columns = kw.get("columns")
        row = {
            "id": self.gid(),
            "principal": principal,
            "actions": json.dumps(kw.get("actions") or self.actions()),
            "resource_kind": kind,
            "resource": resource,
            "scope_domain": kw.get("scope"),
            "columns": json.dumps(sorted(columns)) if columns is not None else None,
            "exclude_columns": None,
            "row_filter": kw.get("row_filter"),
            "grantable": bool(kw.get("grantable", False)),
            "expires_at": kw.get("expires"),
            "parent_id": kw.get("parent_id"),
            "granted_by": kw.get("granted_by", MESH_ADMIN),
            "created_at": self.stamp,
            "revoked_at": None,
            "revoked_by": None,
        }
        self.world.grants.append(row)
        return row

    def other_resource(self, domain: str) -> tuple[str, str]:
        rng = self.rng
        other = rng.choice([d for d in self.world.domains if d != domain])
        if rng.random() < 0.1:
            return "database", rng.choice(self.dbs_of[other])
        return "table", rng.choice(self.by_domain[other]).name

    # ------------------------------------------------------------------ tags

    def tag(self) -> None:
        rng, w = self.rng, self.world
        for db in w.databases:
            if rng.random() < 0.1:
                w.tags[db] = {"geo": rng.choice(TAG_DEFS["geo"])}
        for tr in w.tables:
            if rng.random() < 0.3:
                tags = {"sensitivity": rng.choice(TAG_DEFS["sensitivity"])}
                if rng.random() < 0.5:
                    tags["tier"] = rng.choice(TAG_DEFS["tier"])
                w.tags[tr.name] = tags
            if rng.random() < 0.2:
                for c in tr.columns:
                    if c in PII_COLUMNS:
                        w.tags[f"{tr.name}.{c}"] = {"pii": "yes"}

    def expression(self, pii: bool) -> str:
        rng = self.rng
        keys = rng.sample(TABLE_KEYS, rng.choice((1, 1, 2)))
        clauses = {k: rng.sample(TAG_DEFS[k], rng.choice((1, 1, 2))) for k in keys}
        if pii and rng.random() < 0.2:
            clauses["pii"] = ["yes"]
        text = " AND ".join(f"{k}={'|'.join(v)}" for k, v in clauses.items())
        return str(TagExpression.parse(text))  # canonical, as grants.create stores it

    # ------------------------------------------------------------------ grants

    def domain_grants(self, count: int) -> None:
        rng, doms = self.rng, self.world.domains
        for i in range(count):
            d = doms[i % len(doms)]
            kind, resource = self.other_resource(d)
            owner = resource.split(".")[0]
            row = self.add(
                d,
                kind,
                resource,
                grantable=rng.random() < 0.7,
                row_filter=rng.choice(self.filters)
                if kind == "table" and rng.random() < 0.05
                else None,
                expires=self.expiry(0.08, 0.03),
                granted_by=MESH_ADMIN if rng.random() < 0.5 else self.steward(owner),
            )
            self.ceilings[d].append(row)

    def principal_grants(self, principal: str, domain: str, count: int) -> None:
        rng = self.rng
        admins = self.people.get((domain, "admin"), [])
        for _ in range(count):
            r = rng.random()
            if r < 0.5 and self.ceilings[domain]:
                parent = rng.choice(self.ceilings[domain])
                resource = parent["resource"]
                kind = parent["resource_kind"]
                if kind == "database" and rng.random() < 0.7:
                    kind, resource = "table", rng.choice(self.by_db[resource]).name
                if parent["grantable"] and admins and rng.random() < 0.5:
                    self.add(
                        principal,
                        kind,
                        resource,
                        actions=json.loads(parent["actions"]),
                        row_filter=parent["row_filter"] if kind == "table" else None,
                        expires=parent["expires_at"],
                        parent_id=parent["id"],
                        granted_by=rng.choice(admins),
                    )
                    continue
                self.table_or_db(principal, kind, resource, MESH_ADMIN)
            elif r < 0.85:
                if rng.random() < 0.1:
                    kind, resource = "database", rng.choice(self.dbs_of[domain])
                else:
                    kind, resource = "table", rng.choice(self.by_domain[domain]).name
                self.table_or_db(principal, kind, resource, self.steward(domain))
            else:
                kind, resource = self.other_resource(domain)
                self.table_or_db(principal, kind, resource, MESH_ADMIN)

    def table_or_db(self, principal: str, kind: str, resource: str, by: str) -> None:
        rng = self.rng
        columns = row_filter = None
        if kind == "table":
            r = rng.random()
            if r < 0.2:
                tcols = self.table(resource).columns
                columns = {"id", "region", *rng.sample(tcols[2:], min(2, len(tcols) - 2))}
            elif r < 0.3:
                row_filter = rng.choice(self.filters)
        self.add(
            principal,
            kind,
            resource,
            columns=columns,
            row_filter=row_filter,
            expires=self.expiry(0.08, 0.04),
            granted_by=by,
        )

    def table(self, name: str) -> TableRow:
        if not hasattr(self, "_tables"):
            self._tables = {r.name: r for r in self.world.tables}
        return self._tables[name]

    def tag_grants(self, count: int) -> None:
        rng, w = self.rng, self.world
        users = sorted(w.users)
        roles = [f"{d}:{r}" for d in w.domains for r in ("admin", "steward", "member")]
        for _ in range(count):
            r = rng.random()
            if r < 0.4:
                principal, pii = rng.choice(users), True
            elif r < 0.8:
                principal, pii = rng.choice(roles), True
            else:
                principal, pii = rng.choice(w.domains), False
            scope = rng.choice(w.domains) if rng.random() < 0.5 else None
            self.add(
                principal,
                "tags",
                self.expression(pii),
                scope=scope,
                expires=self.expiry(0.05, 0.02),
                granted_by=self.steward(scope) if scope else MESH_ADMIN,
            )

    def populate(self) -> World:
        size, w = self.size, self.world
        self.tag()
        n_dom = size.grants // 10
        n_role = size.grants // 5
        n_user = size.grants - n_dom - n_role
        self.domain_grants(n_dom)
        roles = [(f"{d}:{r}", d) for d in w.domains for r in ("admin", "steward", "member")]
        for i, (role, d) in enumerate(roles):
            self.principal_grants(role, d, n_role // len(roles) + (i < n_role % len(roles)))
        names = sorted(w.users)
        for i, name in enumerate(names):
            n = n_user // len(names) + (i < n_user % len(names))
            self.principal_grants(name, w.users[name][0], n)
        self.tag_grants(size.tag_grants)
        return w

    # ------------------------------------------------------------------ the probe

    def add_probe(self) -> None:
        """A consumer domain with one member whose grants (direct, through its role and
        through tags) make ~10% of the catalog visible, under its domain's ceiling."""
        rng, w = self.rng, self.world
        d, role = PROBE_DOMAIN, f"{PROBE_DOMAIN}:member"
        w.domains.append(d)
        w.users[PROBE_USER] = (d, "member")
        w.probe = PROBE_USER
        dbs = list(w.databases)
        rng.shuffle(dbs)
        n_db = len(dbs)
        ceiling_dbs, outside = dbs[: n_db // 4], dbs[n_db // 4 :]
        for db in ceiling_dbs:
            self.add(d, "database", db, actions=["SELECT"], grantable=True)
        n_t = len(w.tables)
        ceiling_tables = rng.sample(w.tables, n_t // 50)
        for tr in ceiling_tables:
            self.add(d, "table", tr.name, actions=["SELECT"])
        self.add(d, "tags", "tier=gold", actions=["SELECT"])
        self.add(d, "tags", "sensitivity=public", actions=["SELECT"], scope="dom01")
        # the user: databases mostly inside the ceiling, tables half inside
        for db in ceiling_dbs[: max(1, n_db // 25)] + outside[: max(1, n_db // 50)]:
            self.add(PROBE_USER, "database", db, actions=["DESCRIBE"])
        for tr in rng.sample(ceiling_tables, len(ceiling_tables) // 2):
            self.add(PROBE_USER, "table", tr.name, columns={"id", "region"})
        for tr in rng.sample(w.tables, n_t // 100):
            self.add(PROBE_USER, "table", tr.name, row_filter=self.filters[0])
        self.add(PROBE_USER, "tags", "geo=eu AND sensitivity=confidential")
        # the role: a few databases and a tag expression
        for db in ceiling_dbs[-max(1, n_db // 100) :]:
            self.add(role, "database", db)
        self.add(role, "tags", "sensitivity=internal")
        self.add(role, "tags", "pii=yes", scope="dom02")


def generate(size: AuthzSize, tables: int, *, probe: bool = False, seed: int = SEED) -> World:
    gen = _Gen(size, tables, seed)
    world = gen.populate()
    if probe:
        gen.add_probe()
    return world


# --------------------------------------------------------------------------- the store


def write(world: World, home: Path) -> None:
    """A fresh mesh at ``home`` holding ``world``, written in one bulk transaction."""
    mesh = Mesh.init(home)
    try:
        stamp = world.stamp
        dom_id = {d: i for i, d in enumerate(world.domains, start=1)}
        db_id = {db: i for i, db in enumerate(world.databases, start=1)}
        kinds = {PROBE_DOMAIN: "consumer"}
        with mesh.store.write() as conn:
            conn.execute(
                insert(t.domains),
                [
                    {
                        "id": i,
                        "name": d,
                        "storage_uri": f"/lake/{d}",
                        "storage_options": "{}",
                        "catalog_kind": "builtin",
                        "catalog_uri": None,
                        "kind": kinds.get(d, "both"),
                        "owners": "[]",
                        "description": None,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                    for d, i in dom_id.items()
                ],
            )
            conn.execute(
                insert(t.sync_state),
                [{"domain_id": i, "status": "never"} for i in dom_id.values()],
            )
            conn.execute(
                insert(t.databases),
                [
                    {
                        "id": i,
                        "domain_id": dom_id[db.split(".")[0]],
                        "name": db.split(".")[1],
                        "description": None,
                        "created_at": stamp,
                    }
                    for db, i in db_id.items()
                ],
            )
            tables, columns = [], []
            for tid, tr in enumerate(world.tables, start=1):
                _, db, name = tr.name.split(".")
                tables.append(
                    {
                        "id": tid,
                        "domain_id": dom_id[tr.domain],
                        "database_id": db_id[tr.database],
                        "name": name,
                        "full_name": tr.name,
                        "format": "parquet",
                        "location": f"/lake/{tr.domain}/{db}/{name}",
                        "description": None,
                        "owner": None,
                        "schema_version": 1,
                        "schema_fingerprint": hashlib.sha256(
                            ",".join(tr.columns).encode()
                        ).hexdigest(),
                        "partition_keys": "[]",
                        "properties": "{}",
                        "source_version": "1",
                        "file_count": 0,
                        "size_bytes": 0,
                        "row_count": None,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                columns += [
                    {
                        "table_id": tid,
                        "ordinal": i,
                        "name": c,
                        "type": "int64" if c == "id" else "string",
                        "nullable": c != "id",
                        "is_partition": False,
                        "description": None,
                    }
                    for i, c in enumerate(tr.columns)
                ]
            conn.execute(insert(t.catalog_tables), tables)
            conn.execute(insert(t.columns), columns)
            del tables, columns
            conn.execute(
                insert(t.users),
                [
                    {
                        "name": name,
                        "domain": d,
                        "role": role,
                        "token_hash": hashlib.sha256(f"bench-{name}".encode()).hexdigest(),
                        "created_by": MESH_ADMIN,
                        "created_at": stamp,
                    }
                    for name, (d, role) in world.users.items()
                ],
            )
            conn.execute(
                insert(t.tags),
                [
                    {
                        "key": k,
                        "allowed": json.dumps(sorted(v)),
                        "created_by": MESH_ADMIN,
                        "created_at": stamp,
                    }
                    for k, v in TAG_DEFS.items()
                ],
            )
            conn.execute(
                insert(t.tag_assignments),
                [
                    {
                        "resource_kind": ("database", "table", "column")[res.count(".") - 1],
                        "resource": res,
                        "key": k,
                        "value": v,
                        "assigned_by": MESH_ADMIN,
                        "assigned_at": stamp,
                    }
                    for res, kv in world.tags.items()
                    for k, v in kv.items()
                ],
            )
            conn.execute(insert(t.grants), world.grants)
            conn.execute(
                insert(t.policy_log),
                {"entity": "fixture", "entity_id": "bulk-load", "changed_at": now()},
            )
    finally:
        mesh.close()


# --------------------------------------------------------------------------- per run


@dataclass
class Fixture:
    home: Path
    world: World
    size: AuthzSize
    extra: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Mesh:
        return Mesh.open(self.home)

    def copy(self, target: Path) -> Mesh:
        """A private copy of the mesh home (for benchmarks that change the policy)."""
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.home, target)
        return Mesh.open(target)


_BUILT: dict[tuple[Path, str], Fixture] = {}


def _build(ctx: Any, which: str, tables: int, probe: bool) -> Fixture:
    key = (Path(ctx.work), which)
    if key not in _BUILT:
        size = authz_size(ctx.size)
        home = Path(ctx.work) / f"authz-{which}"
        seconds, world = timed(lambda: generate(size, tables, probe=probe))
        log(
            f"fixture: authz world '{which}' generated in {seconds:.1f} s: "
            f"{len(world.domains)} domains, {len(world.tables):,} tables, "
            f"{len(world.users):,} users, {len(world.grants):,} grants (not timed)"
        )
        seconds, _ = timed(lambda: write(world, home))
        log(f"fixture: authz mesh '{which}' written in {seconds:.1f} s (not timed)")
        _BUILT[key] = Fixture(home, world, size)
    return _BUILT[key]


def release(ctx: Any, which: str) -> None:
    """Drop a fixture this run no longer needs (its world in memory and its mesh home)."""
    fx = _BUILT.pop((Path(ctx.work), which), None)
    if fx is not None:
        shutil.rmtree(fx.home, ignore_errors=True)


def main_fixture(ctx: Any) -> Fixture:
    """20 domains, 20,000 tables, 5,000 users, 100,000 + 1,000 grants (full size)."""
    size = authz_size(ctx.size)
    return _build(ctx, "main", size.tables, probe=False)


def wide_fixture(ctx: Any) -> Fixture:
    """The same population over 100,000 tables, plus the listing probe principal."""
    size = authz_size(ctx.size)
    return _build(ctx, "wide", size.wide_tables, probe=True)


# --------------------------------------------------------------------------- sampling


Pair = tuple[str, str, bool]  #: user, table, expected


def is_domain(principal: str) -> bool:
    return "@" not in principal and ":" not in principal


class Sampler:
    """Decisions whose answer is known: allowed ones drawn from the users' (and their
    roles') grants, denied ones drawn uniformly."""

    def __init__(self, w: World, decide: Callable[..., Any], rng: random.Random) -> None:
        self.decide, self.rng = decide, rng
        self.users = sorted(w.users)
        self.tables = [tr.name for tr in w.tables]
        self.by_db: dict[str, list[str]] = {}
        self.by_pair: dict[str, list[str]] = {}
        for tr in w.tables:
            self.by_db.setdefault(tr.database, []).append(tr.name)
            for kv in w.table_tags(tr):
                self.by_pair.setdefault(kv, []).append(tr.name)
        self.members: dict[str, list[str]] = {}
        for name, (d, role) in w.users.items():
            self.members.setdefault(f"{d}:{role}", []).append(name)
        mine = [g for g in w.grants if not is_domain(g["principal"])]
        self.named = [g for g in mine if g["resource_kind"] != "tags"]
        self.tagged = [g for g in mine if g["resource_kind"] == "tags"]

    def allowed_candidate(self) -> tuple[str, str]:
        """A (user, table) one of the user's or its role's grants names (maybe denied:
        expired, outside the ceiling, another action)."""
        rng = self.rng
        tagged = self.tagged and rng.random() < 0.1
        g = rng.choice(self.tagged if tagged else self.named)
        p, res = g["principal"], g["resource"]
        user = p if "@" in p else rng.choice(self.members.get(p) or self.users)
        if g["resource_kind"] == "table":
            return user, res
        if g["resource_kind"] == "database":
            return user, rng.choice(self.by_db[res])
        key, _, values = res.split(" AND ")[0].partition("=")
        value = rng.choice(values.split("|"))
        return user, rng.choice(self.by_pair.get(f"{key}={value}") or self.tables)

    def pairs(self, n: int, action: str = "SELECT") -> list[Pair]:
        rng, decide = self.rng, self.decide
        want, tries = n // 3, 0
        out: list[Pair] = []
        while len(out) < want:
            tries += 1
            if tries > 100 * n:
                raise RuntimeError("the fixture yields too few allowed decisions")
            user, table = self.allowed_candidate()
            if decide(user, action, table).allowed:
                out.append((user, table, True))
        while len(out) < n:
            user, table = rng.choice(self.users), rng.choice(self.tables)
            if not decide(user, action, table).allowed:
                out.append((user, table, False))
        rng.shuffle(out)
        return out
