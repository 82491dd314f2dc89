"""The policy snapshot: every grant, tag, mask, user and table the authorizer needs, in memory.

Built once from the store, then kept current from ``policy_log``: every policy change (and
every catalog change the sync applies) appends a row in the same transaction, and
``refresh`` applies the rows after its version (grants and tables one by one, the small
rest by reloading). A decision therefore never uses a revoked grant once the revoke has
committed and the caller refreshed (the Mesh refreshes at the start of every operation).
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, func, insert, select

from lakemesh.access import tags as tagmod
from lakemesh.access.actions import DATA_ACTIONS, Reason, grant_reason
from lakemesh.access.principals import User
from lakemesh.store import tables as t
from lakemesh.typedef import now

#: The data actions a grant may give (``ALL`` is the first four).
ACTIONS = DATA_ACTIONS


def changed(conn: Connection, entity: str, entity_id: str) -> None:
    """Record a policy change in the caller's transaction (bumps the policy version)."""
    conn.execute(_LOG_INSERT, {"entity": entity, "entity_id": entity_id, "changed_at": now()})


_LOG_INSERT = insert(t.policy_log)


class _Decisive:
    """The fields of a grant that a decision reads. A subclass's slots come after its
    base's in memory, so these share the first cache lines of every ``GrantEntry``: a
    decision reads a grant in fewer memory misses (at 100k grants, most of its time)."""

    __slots__ = (
        "bits",
        "columns",
        "exclude",
        "expires",
        "gives",
        "id",
        "label",
        "parent_id",
        "row_filter",
        "until",
        "whole",
    )


class GrantEntry(_Decisive):
    """One active grant, shaped for fast decisions."""

    __slots__ = (
        "actions",
        "expr",
        "grantable",
        "granted_by",
        "kind",
        "principal",
        "resource",
        "scope",
    )
    id: str
    principal: str
    kind: str
    row_filter: str | None
    parent_id: str | None
    granted_by: str

    def __init__(self, row: Sequence[Any]) -> None:
        """``row``: the ``_GRANT_COLUMNS`` of a grant, in that order (read by position:
        reading 13 columns by name was a third of the time a load spends on a grant)."""
        (
            self.id,
            self.principal,
            actions,
            self.kind,
            resource,
            scope,
            columns,
            exclude,
            self.row_filter,
            grantable,
            expires_at,
            self.parent_id,
            self.granted_by,
        ) = row
        self.actions = _names(actions)
        #: The actions it allows: its own and, if any, DESCRIBE (you may see what you may use).
        self.gives = _gives(self.actions)
        #: The same as bits (``action_bit``): a decision tests one int it shares with every
        #: grant of the same actions, where a set lookup reads the set's own table.
        self.bits = _bits(self.gives)
        self.resource: str = sys.intern(resource)  # see TableMeta
        self.expr = _expression(resource) if self.kind == "tags" else None
        #: Why a decision this grant took part in went as it did (its audit label).
        self.label: Reason = grant_reason(self.id, str(self.expr) if self.expr else None)
        self.scope: str | None = None if scope is None else sys.intern(scope)
        self.columns = _names(columns) if columns else None
        self.exclude = _names(exclude) if exclude else None
        #: No column list: it shows every column of what it covers.
        self.whole = self.columns is None and self.exclude is None
        self.grantable = bool(grantable)
        self.expires: float | None = expires_at.timestamp() if expires_at else None
        #: ``expires``, or never: one comparison decides whether it is still in force.
        self.until: float = math.inf if self.expires is None else self.expires

    def allows(self, action: str, at: float) -> bool:
        """Not expired at ``at`` (server time: SPEC 2.7), and ``action`` is one it gives."""
        return at < self.until and action in self.gives


@functools.lru_cache(maxsize=65536)
def _names(text: str) -> frozenset[str]:
    """Grants repeat the same action and column lists: parse each distinct one once."""
    return frozenset(json.loads(text))


@functools.lru_cache(maxsize=256)
def _gives(actions: frozenset[str]) -> frozenset[str]:
    """Any action implies DESCRIBE (you may see what you may use)."""
    return actions | {"DESCRIBE"} if actions else actions


_ACTION_BITS: dict[str, int] = {}


def action_bit(action: str) -> int:
    """The bit that stands for ``action`` in ``GrantEntry.bits`` (given on first use: the
    grants of a mesh may name actions this version does not know)."""
    bit = _ACTION_BITS.get(action)
    if bit is None:
        bit = _ACTION_BITS.setdefault(action, 1 << len(_ACTION_BITS))
    return bit


@functools.lru_cache(maxsize=256)
def _bits(actions: frozenset[str]) -> int:
    bits = 0
    for action in actions:
        bits |= action_bit(action)
    return bits


@functools.lru_cache(maxsize=65536)
def _keyset(keys: frozenset[str]) -> frozenset[str]:
    """One shared object per distinct set of tag keys (tables and expressions repeat a
    few): subset tests then read objects that stay in the cache."""
    return keys


#: Tag-expression grants that need the same keys and have the same scope.
TagGroup = tuple[frozenset[str], str | None, tuple[GrantEntry, ...]]


class Grantee:
    """One grantee's active grants, filed for decisions: named ones by resource (the
    dict ``Snapshot.named`` holds under its name), tag-expression ones in a list (the one
    ``Snapshot.tagged`` holds) and grouped by the keys they need and the domain they are
    scoped to (``regroup``), so that a decision tests each group against a table without
    reading its grants: a table that lacks a key, or is another domain's, matches none."""

    __slots__ = ("name", "named", "tag_groups", "tagged")

    def __init__(
        self,
        name: str,
        named: dict[str, tuple[GrantEntry, ...]],
        tagged: list[GrantEntry],
        tag_groups: tuple[TagGroup, ...] = (),
    ) -> None:
        self.name = name
        self.named = named
        self.tagged = tagged
        self.tag_groups = tag_groups

    def regroup(self) -> None:
        """Group ``tagged`` again, after its grants changed."""
        groups: dict[tuple[frozenset[str], str | None], list[GrantEntry]] = {}
        for g in self.tagged:
            assert g.expr is not None
            groups.setdefault((_keyset(g.expr.keys), g.scope), []).append(g)
        self.tag_groups = tuple((keys, scope, tuple(gs)) for (keys, scope), gs in groups.items())


class Seat(Grantee):
    """A user as a decision reads it: its own grants (it replaces the user's ``Grantee``,
    taking over its containers), its domain and its role's grants, in one object, so that
    a decision looks up one name where it looked up three (the user, its grants, its
    role's) and touches fewer scattered objects: at 100k grants, memory misses are most
    of a decision's time."""

    __slots__ = ("domain", "role", "user")

    def __init__(self, user: User, own: Grantee, role: Grantee) -> None:
        super().__init__(own.name, own.named, own.tagged, own.tag_groups)
        self.user = user
        self.domain = user.domain
        self.role = role


@functools.lru_cache(maxsize=16384)
def _expression(text: str) -> tagmod.TagExpression:
    return tagmod.TagExpression.parse(text)


def _freeze() -> None:
    """Freeze what is alive now; unfreeze at exit so that interpreter shutdown still
    finalises everything (extension types complain about instances never freed)."""
    global _UNFREEZE_AT_EXIT
    gc.freeze()
    if not _UNFREEZE_AT_EXIT:
        atexit.register(gc.unfreeze)
        _UNFREEZE_AT_EXIT = True


_UNFREEZE_AT_EXIT = False

_GRANT_COLUMNS = (
    "id",
    "principal",
    "actions",
    "resource_kind",
    "resource",
    "scope_domain",
    "columns",
    "exclude_columns",
    "row_filter",
    "grantable",
    "expires_at",
    "parent_id",
    "granted_by",
)


class TableMeta:
    __slots__ = (
        "colset",
        "column_tags",
        "columns",
        "database",
        "domain",
        "masks",
        "name",
        "overrides",
        "product",
        "table_tags",
        "tag_cols",
        "tag_keys",
    )

    def __init__(self, name: str, columns: tuple[str, ...]) -> None:
        # Names are interned (as users' domains and grants' resources are): comparing
        # and looking them up then stops at identity, without reading a second copy.
        self.name = sys.intern(name)
        domain, db, _ = name.split(".")
        self.domain = sys.intern(domain)
        self.database = sys.intern(f"{domain}.{db}")
        self.columns = columns
        self.colset = frozenset(columns)
        self.table_tags: dict[str, str] = {}
        self.column_tags: dict[str, dict[str, str]] = {}
        self.masks: Mapping[str, MaskRule] = NO_MASKS
        self.product = False
        #: Columns whose tags differ from the table's (set or overridden on the column).
        self.overrides: tuple[str, ...] = ()
        #: Every tag key on the table or any of its columns.
        self.tag_keys: frozenset[str] = frozenset()
        #: Tag expression (canonical text) -> its matching columns; a TableMeta is rebuilt
        #: whenever the table's tags change, so this memo cannot go stale.
        self.tag_cols: dict[str, frozenset[str]] = {}


@dataclass(frozen=True, slots=True)
class MaskRule:
    id: str
    target_kind: str  #: "column" or "tag"
    target: str  #: dom.db.t.col, or key=value
    method: str
    expression: str | None


#: The masks of a table without any (shared: nothing to read per table).
NO_MASKS: Mapping[str, MaskRule] = MappingProxyType({})


@dataclass
class Snapshot:
    version: int = 0
    users: dict[str, User] = field(default_factory=dict)
    domains: set[str] = field(default_factory=set)
    tables: dict[str, TableMeta] = field(default_factory=dict)
    by_id: dict[str, GrantEntry] = field(default_factory=dict)
    #: grantee -> resource (table or database name) -> grants
    named: dict[str, dict[str, tuple[GrantEntry, ...]]] = field(default_factory=dict)
    #: grantee -> tag-expression grants
    tagged: dict[str, list[GrantEntry]] = field(default_factory=dict)
    #: grantee -> its grants filed for decisions (the same containers as above)
    grantees: dict[str, Grantee] = field(default_factory=dict)
    #: user name -> the user with its grants and its role's
    seats: dict[str, Seat] = field(default_factory=dict)
    raw_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    #: (key, value) -> tables where the table or one of its columns carries it
    tag_index: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: (key, value) -> tables whose own (table-level, inherited) tags carry it
    table_tag_index: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: tables with a column whose tags differ from the table's
    overriding: set[str] = field(default_factory=set)
    masks_by_column: dict[str, MaskRule] = field(default_factory=dict)
    masks_by_tag: dict[tuple[str, str], MaskRule] = field(default_factory=dict)
    db_tables: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    domain_tables: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    products: set[str] = field(default_factory=set)
    #: Derived, per snapshot state; cleared by every change (see ``_changed``):
    #: (domain, action) -> table -> the domain's permits there, with their labels and the
    #: span of time they hold for (``authorizer.Ceiling``)
    ceilings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (grantee, action) -> (tables covered whole, column-limited, valid from, valid until)
    coverage: dict[tuple[str, str], tuple[set[str], dict[str, frozenset[str]], float, float]] = (
        field(default_factory=dict)
    )
    #: (expression, scope) -> (tables matched whole, tables matched on some columns)
    tag_cover: dict[tuple[str, str | None], tuple[set[str], dict[str, frozenset[str]]]] = field(
        default_factory=dict
    )
    #: databases with a table that has a ``pii=true`` column (None: not derived yet)
    pii_databases: set[str] | None = None

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, conn: Connection) -> Snapshot:
        """Everything, from the store.

        The load makes hundreds of thousands of objects that live as long as the process.
        The collector is paused while they are made (each generation-2 pass over them was
        about 40% of the load time at 100k grants), and they are frozen afterwards
        (``gc.freeze``): otherwise the first full collection after the load, billed to
        whatever runs next, scans them all (measured: ~0.9 s on a 100k-table listing).
        Snapshots are loaded once per process and then refreshed in place, so freezing
        does not keep dead snapshots alive in practice."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            snap = cls(version=_version(conn))
            snap._load_context(conn)
            ga = t.grants
            rows = conn.execute(
                select(*(ga.c[c] for c in _GRANT_COLUMNS)).where(ga.c.revoked_at.is_(None))
            )
            for row in rows:
                snap._add_grant(GrantEntry(row))
            for grantee in snap.grantees.values():
                grantee.regroup()
            _freeze()
            return snap
        finally:
            if was_enabled:
                gc.enable()

    def _load_context(self, conn: Connection) -> None:
        """Everything except grants: users, domains, tables, tags, masks, products."""
        self.users = {
            r.name: User(r.name, sys.intern(r.domain), r.role)
            for r in conn.execute(select(t.users.c.name, t.users.c.domain, t.users.c.role))
        }
        self.seats = {}
        for name, u in self.users.items():
            own, role = u.principals
            seat = Seat(u, self.grantee(own), self.grantee(role))
            self.seats[name] = self.grantees[name] = seat
        self.domains = set(conn.execute(select(t.domains.c.name)).scalars())
        self.raw_tags = tagmod.assignments(conn)
        self.masks_by_column, self.masks_by_tag = {}, {}
        for r in conn.execute(select(t.masks).where(t.masks.c.removed_at.is_(None))):
            rule = MaskRule(r.id, r.target_kind, r.target, r.method, r.expression)
            if r.target_kind == "column":
                self.masks_by_column[r.target] = rule
            else:
                key, _, value = r.target.partition("=")
                self.masks_by_tag[(key, value)] = rule
        self.tables, self.tag_index, self.table_tag_index = {}, {}, {}
        self.overriding = set()
        self.db_tables, self.domain_tables = defaultdict(set), defaultdict(set)
        self.products = set()
        columns: dict[int, list[str]] = defaultdict(list)
        for r in conn.execute(
            select(t.columns.c.table_id, t.columns.c.name).order_by(
                t.columns.c.table_id, t.columns.c.ordinal
            )
        ):
            columns[r.table_id].append(r.name)
        products = set(conn.execute(select(t.data_products.c.table_id)).scalars())
        for r in conn.execute(select(t.catalog_tables.c.id, t.catalog_tables.c.full_name)):
            self._put_table(r.full_name, tuple(columns[r.id]), r.id in products)

    def _put_table(self, name: str, columns: tuple[str, ...], product: bool) -> None:
        self._drop_table(name)
        tm = TableMeta(name, columns)
        tm.product = product
        tm.table_tags, tm.column_tags = tagmod.effective(self.raw_tags, name, columns)
        tm.overrides = tuple(c for c in columns if tm.column_tags[c] != tm.table_tags)
        tm.tag_keys = _keyset(
            frozenset(tm.table_tags).union(*(tm.column_tags[c] for c in tm.overrides))
        )
        masks: dict[str, MaskRule] = {}
        for col, ctags in tm.column_tags.items():
            rule = self.masks_by_column.get(f"{name}.{col}")
            if rule is None:
                rule = next(
                    (
                        self.masks_by_tag[kv]
                        for kv in sorted(ctags.items())
                        if kv in self.masks_by_tag
                    ),
                    None,
                )
            if rule is not None:
                masks[col] = rule
        if masks:  # else the shared empty mapping: a decision reads no object per table
            tm.masks = masks
        for kv in {
            *tm.table_tags.items(),
            *(kv for c in tm.column_tags.values() for kv in c.items()),
        }:
            self.tag_index.setdefault(kv, set()).add(name)
        for kv in tm.table_tags.items():
            self.table_tag_index.setdefault(kv, set()).add(name)
        if tm.overrides:
            self.overriding.add(name)
        self.tables[tm.name] = tm
        self.db_tables[tm.database].add(name)
        self.domain_tables[tm.domain].add(name)
        if product:
            self.products.add(name)

    def _drop_table(self, name: str) -> None:
        old = self.tables.pop(name, None)
        if old is None:
            return
        self.db_tables[old.database].discard(name)
        self.domain_tables[old.domain].discard(name)
        self.products.discard(name)
        for index in (self.tag_index, self.table_tag_index):
            for names in index.values():
                names.discard(name)
        self.overriding.discard(name)

    def grantee(self, name: str) -> Grantee:
        """``name``'s grants (none yet: empty containers, kept for when some come)."""
        found = self.grantees.get(name)
        if found is None:
            named, tagged = (
                self.named.setdefault(name, {}),
                self.tagged.setdefault(name, []),
            )
            found = self.grantees[name] = Grantee(name, named, tagged)
        return found

    def _add_grant(self, g: GrantEntry) -> None:
        """File a grant (a tag-expression grant: ``Grantee.regroup`` it afterwards)."""
        self.by_id[g.id] = g
        grantee = self.grantee(g.principal)
        if g.kind == "tags":
            grantee.tagged.append(g)
        else:  # tuples: a decision reads one object where a list is two
            grantee.named[g.resource] = (*grantee.named.get(g.resource, ()), g)

    def _remove_grant(self, grant_id: str) -> None:
        g = self.by_id.pop(grant_id, None)
        if g is None:
            return
        grantee = self.grantees[g.principal]
        if g.kind == "tags":
            grantee.tagged.remove(g)
        else:
            grantee.named[g.resource] = tuple(x for x in grantee.named[g.resource] if x is not g)

    # ------------------------------------------------------------------ refreshing

    def refresh(self, conn: Connection) -> bool:
        """Apply policy changes committed since this snapshot's version; True if any."""
        pl = t.policy_log
        rows = conn.execute(
            select(pl.c.version, pl.c.entity, pl.c.entity_id)
            .where(pl.c.version > self.version)
            .order_by(pl.c.version)
        ).all()
        if not rows:
            return False
        grants, tables, context = set(), set(), False
        for r in rows:
            if r.entity == "grant":
                grants.add(r.entity_id)
            elif r.entity == "table":
                tables.add(r.entity_id)
            else:
                context = True
        if context:
            self._load_context(conn)
        else:
            self._reload_tables(conn, tables)
        ga = t.grants
        affected = {self.by_id[g].principal for g in grants if g in self.by_id}
        for gid in grants:
            self._remove_grant(gid)
        if grants:
            for row in conn.execute(
                select(*(ga.c[c] for c in _GRANT_COLUMNS)).where(
                    ga.c.id.in_(sorted(grants)), ga.c.revoked_at.is_(None)
                )
            ):
                entry = GrantEntry(row)
                affected.add(entry.principal)
                self._add_grant(entry)
        for name in affected:
            self.grantee(name).regroup()
        self.version = rows[-1].version
        self._forget(everything=context or bool(tables), principals=affected)
        return True

    def _forget(self, *, everything: bool, principals: set[str]) -> None:
        """Drop derived memos a change invalidates: all of them when tables, tags, masks
        or users changed; only the changed grantees' when just grants did."""
        if everything:
            self.coverage.clear()
            self.ceilings.clear()
            self.tag_cover.clear()
            self.pii_databases = None
            return
        for key in [k for k in self.coverage if k[0] in principals]:
            del self.coverage[key]
        for ckey in [k for k in self.ceilings if k[0] in principals]:
            del self.ceilings[ckey]

    def _reload_tables(self, conn: Connection, names: set[str]) -> None:
        ct = t.catalog_tables
        present = {
            r.full_name: r.id
            for r in conn.execute(
                select(ct.c.id, ct.c.full_name).where(ct.c.full_name.in_(sorted(names)))
            )
        }
        products = set(
            conn.execute(
                select(t.data_products.c.table_id).where(
                    t.data_products.c.table_id.in_(list(present.values()))
                )
            ).scalars()
        )
        for name in names:
            if name not in present:
                self._drop_table(name)
                continue
            cols = tuple(
                conn.execute(
                    select(t.columns.c.name)
                    .where(t.columns.c.table_id == present[name])
                    .order_by(t.columns.c.ordinal)
                ).scalars()
            )
            self._put_table(name, cols, present[name] in products)


def _version(conn: Connection) -> int:
    return int(
        conn.execute(select(func.coalesce(func.max(t.policy_log.c.version), 0))).scalar_one()
    )


def pii_columns(column_tags: Mapping[str, Mapping[str, str]], columns: Iterable[str]) -> bool:
    """The derived ``pii`` flag: some column is tagged ``pii=true`` (directly or by
    inheritance). Access-request rules read it."""
    return any(column_tags.get(c, {}).get("pii") == "true" for c in columns)


def database_has_pii(snapshot: Snapshot, database: str) -> bool:
    """A database's derived ``pii`` flag: one of its tables has it. Derived for every
    database at once and kept until the tables or tags change: a table page asks on every
    read, and a database may hold thousands of tables."""
    if snapshot.pii_databases is None:
        snapshot.pii_databases = {
            tm.database
            for tm in snapshot.tables.values()
            if pii_columns(tm.column_tags, tm.columns)
        }
    return database in snapshot.pii_databases
