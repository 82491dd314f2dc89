"""Grants: their shape, two-level delegation, expiry and revocation.

Who may grant and revoke is decided by the action registry (``grant.create`` and
``grant.revoke`` in ``lakemesh.access.actions``); this module does what the decision
allows (SPEC 1 "Grant", "Two-level delegation"):

* ``resolve`` checks a request against the catalog and the tag vocabulary, before any
  authority is looked at, so an error that depends only on what was typed says so;
* ``create`` stores it on the authority the decision gave: the mesh admin's grants are
  unscoped (tag-expression grants then span every domain); an owning domain's
  tag-expression grants are scoped to its domain; a consumer domain's admin delegates,
  to its own users and roles only, what its domain holds with grant option: each
  delegated grant must fit inside *one* grantable grant of the domain (see
  ``_delegation``), which it records as its parent; what is left unsaid (columns,
  expiry) is inherited from that grant, and its row filter ANDs with the delegation's;
* ``revoke`` compares-and-sets ``revoked_at`` and cascades to grants delegated from the
  revoked one, all in one transaction.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select, update

from lakemesh.access.actions import Reason, Target
from lakemesh.access.authorizer import both
from lakemesh.access.principals import CENTRAL, ROLES, User
from lakemesh.access.snapshot import ACTIONS, GrantEntry, Snapshot, TableMeta
from lakemesh.access.tags import TagExpression, check_expression
from lakemesh.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakemesh.store import tables as t
from lakemesh.typedef import TableName, check_object_name, now

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_actions(text: str) -> tuple[str, ...]:
    names = [a.strip().upper() for a in text.split(",") if a.strip()]
    if names == ["ALL"]:
        return ACTIONS[:4]
    bad = [a for a in names if a not in ACTIONS]
    if not names or bad:
        raise InvalidInput(
            f"invalid action(s) {', '.join(bad) or repr(text)}: expected "
            f"{', '.join(ACTIONS)} or ALL"
        )
    return tuple(sorted(set(names), key=ACTIONS.index))


class Expiry(NamedTuple):
    at: datetime
    #: Set when the text was read with an assumption the caller should hear about.
    note: str | None = None


def parse_expiry(text: str, at: datetime) -> Expiry:
    """``30d``, ``12h``, ``90m``, ``2w`` from now, or an ISO-8601 timestamp (one without a
    zone is UTC, and the note says so); never in the past."""
    text = text.strip()
    note = None
    m = _DURATION.fullmatch(text)
    try:
        if m:
            when = at + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except OverflowError as exc:
        raise InvalidInput(f"invalid expiry {text!r}: too far in the future") from exc
    except ValueError as exc:
        raise InvalidInput(
            f"invalid expiry {text!r}: expected a duration (30d, 12h, 90m, 2w) or an "
            "ISO-8601 timestamp"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
        note = f"expiry {text!r} has no time zone: taken as UTC ({when.isoformat()})"
    if when <= at:
        raise InvalidInput(f"expiry {when.isoformat()} is in the past")
    return Expiry(when, note)


@dataclass
class GrantRequest:
    actions: tuple[str, ...]
    principal: str
    table: str | None = None
    database: str | None = None
    tags: str | None = None
    columns: list[str] | None = None
    exclude_columns: list[str] | None = None
    row_filter: str | None = None
    grantable: bool = False
    expires: str | None = None


class Resolved(NamedTuple):
    """A grant request checked against the catalog and the tag vocabulary: what it is
    on (and which domain owns that), and its options in their stored form."""

    request: GrantRequest
    kind: str  #: "table", "database" or "tags"
    resource: str
    domain: str  #: the owning domain ("" for a tag expression: it may span domains)
    table: TableMeta | None
    expr: TagExpression | None
    columns: frozenset[str] | None
    exclude: frozenset[str] | None
    row_filter: str | None
    expiry: Expiry | None

    @property
    def target(self) -> Target:
        """What ``grant.create`` is decided on."""
        return Target(self.kind, self.resource, self.domain or None)  # type: ignore[arg-type]


def resolve(conn: Connection, s: Snapshot, req: GrantRequest) -> Resolved:
    """Check a request's shape, grantee, resource, columns, filter and expiry: every
    error that depends only on what the caller typed, before any authority is looked at."""
    if sum(x is not None for x in (req.table, req.database, req.tags)) != 1:
        raise InvalidInput("give exactly one of --on TABLE, --on DATABASE or --tags EXPR")
    for option, given in (
        ("--columns", req.columns),
        ("--exclude-columns", req.exclude_columns),
        ("--row-filter", req.row_filter),
    ):  # an empty variable in a script must not widen a grant to everything
        if given is not None and not (given.strip() if isinstance(given, str) else given):
            raise InvalidInput(f"{option} is empty: leave the option out to mean everything")
    if req.columns and req.exclude_columns:
        raise InvalidInput("give --columns or --exclude-columns, not both")
    _check_grantee(s, req.principal)
    kind, resource, domain, tm, expr = _resource(conn, s, req)
    if (req.columns or req.exclude_columns or req.row_filter) and tm is None:
        raise InvalidInput("column lists and row filters apply to a table grant (--on TABLE)")
    return Resolved(
        req,
        kind,
        resource,
        domain,
        tm,
        expr,
        _check_columns(tm, req.columns) if req.columns else None,
        _check_columns(tm, req.exclude_columns) if req.exclude_columns else None,
        _check_filter(tm, req.row_filter) if req.row_filter else None,
        parse_expiry(req.expires, now()) if req.expires else None,
    )


def create(
    conn: Connection, s: Snapshot, actor: User, r: Resolved, authority: Reason
) -> dict[str, Any]:
    """Insert a resolved grant made on ``authority`` (the reason ``grant.create`` was
    allowed); returns the stored grant as a dict, or the identical grant already held.

    The mesh admin's grants are unscoped; an owning domain's tag grants are scoped to
    its own tables; a delegation is fitted inside one grant of the actor's domain."""
    req, stamp = r.request, now()
    columns, exclude, row_filter = r.columns, r.exclude, r.row_filter
    expires = r.expiry.at if r.expiry else None
    scope: str | None = None
    parent_id = None
    if authority.kind == "owner" and r.kind == "tags":
        scope = actor.domain  # a domain tags only its own tables
    elif authority.kind == "delegation":
        if req.grantable:
            raise PermissionDenied("a delegated grant cannot be grantable (two levels only)")
        wanted = columns
        if exclude is not None:  # an exclusion is kept as the columns it leaves
            assert r.table is not None
            wanted = r.table.colset - exclude
        derived = _delegation(s, actor, req, r.kind, r.resource, r.table, r.expr, wanted, expires)
        parent_id, scope = derived.parent.id, derived.parent.scope
        columns, exclude = derived.columns, None
        if derived.parent.row_filter:
            inherited = derived.parent.row_filter
            row_filter = both(row_filter, inherited) if row_filter else inherited
        expires = derived.expires
    values = {
        "id": "g" + secrets.token_hex(8),
        "principal": req.principal,
        "actions": json.dumps(list(req.actions)),
        "resource_kind": r.kind,
        "resource": r.resource,
        "scope_domain": scope,
        "columns": json.dumps(sorted(columns)) if columns is not None else None,
        "exclude_columns": json.dumps(sorted(exclude)) if exclude is not None else None,
        "row_filter": row_filter,
        "grantable": req.grantable,
        "expires_at": expires,
        "parent_id": parent_id,
        "granted_by": actor.name,
        "created_at": stamp,
    }
    same = _held(conn, values, stamp)
    if same is not None:
        return public(same) | {"existing": True}
    conn.execute(insert(t.grants).values(**values))
    out = public(values)
    if r.expiry is not None and r.expiry.note:
        out["notes"] = [r.expiry.note]
    return out


#: What makes two grants the same grant (everything but who, when and how long).
_TERMS = (
    "principal",
    "actions",
    "resource_kind",
    "resource",
    "scope_domain",
    "columns",
    "exclude_columns",
    "row_filter",
    "grantable",
    "parent_id",
)


def _held(conn: Connection, values: dict[str, Any], at: datetime) -> dict[str, Any] | None:
    """An active grant with the same terms that lasts at least as long as ``values``
    would: granting it again changes nothing, so it is returned instead of a duplicate."""
    g = t.grants.c
    q = select(t.grants).where(
        g.revoked_at.is_(None),
        *(g[k].is_(None) if values[k] is None else g[k] == values[k] for k in _TERMS),
    )
    wanted = values["expires_at"]
    for row in conn.execute(q):
        held = row.expires_at
        if held is None or (held > at and wanted is not None and held >= wanted):
            return dict(row._mapping)
    return None


def list_grants(
    conn: Connection,
    visible: Callable[[Target], bool],
    *,
    on: str | None = None,
    to: str | None = None,
    include_inactive: bool = False,
) -> list[dict[str, Any]]:
    """The grants ``visible`` admits (``grant.read``: the ones the caller made or may
    revoke, and the ones that apply to it), newest first.

    ``on`` names a table (its database's grants cover it too) or a database; ``to`` one
    grantee. Revoked and expired grants only with ``include_inactive``."""
    g = t.grants.c
    q = select(t.grants).order_by(g.created_at.desc(), g.id)
    if on is not None:
        q = q.where(g.resource.in_(_covering(on)))
    if to is not None:
        q = q.where(g.principal == to)
    at = now()
    out = []
    for row in conn.execute(q):
        expired = row.expires_at is not None and row.expires_at <= at
        status = "revoked" if row.revoked_at else "expired" if expired else "active"
        if status != "active" and not include_inactive:
            continue
        if visible(target(row)):
            out.append(public(dict(row._mapping)) | {"status": status})
    return out


def target(row: Any) -> Target:
    """A stored grant as the resource ``grant.read`` and ``grant.revoke`` decide on."""
    owner = row.scope_domain if row.resource_kind == "tags" else row.resource.split(".")[0]
    return Target("grant", row.id, owner or None, row.granted_by, row.principal)


def get(conn: Connection, grant_id: str) -> Any:
    row = conn.execute(select(t.grants).where(t.grants.c.id == grant_id)).first()
    if row is None:
        raise NotFound(f"unknown grant {grant_id!r}")
    return row


def _covering(resource: str) -> list[str]:
    """The resource names whose grants cover ``resource`` (a table: also its database)."""
    parts = resource.lower().split(".")
    if len(parts) == 3:
        name = str(TableName.parse(resource))
        return [name, name.rsplit(".", 1)[0]]
    if len(parts) == 2:
        check_object_name(parts[1], "database name")
        return [".".join(parts)]
    raise InvalidInput(f"invalid --on {resource!r}: expected domain.db or domain.db.table")


def revoke(conn: Connection, actor: str, grant_id: str) -> list[str]:
    """Revoke a grant and, transitively, the grants delegated from it; returns their ids.

    Compare-and-set on the grant's state: of two concurrent revokers exactly one wins,
    the other gets ``Conflict`` and changes nothing."""
    stamp, revoked, todo = now(), [], [grant_id]
    while todo:
        gid = todo.pop()
        done = conn.execute(
            update(t.grants)
            .where(t.grants.c.id == gid, t.grants.c.revoked_at.is_(None))
            .values(revoked_at=stamp, revoked_by=actor)
        )
        if done.rowcount == 1:
            revoked.append(gid)
            todo += conn.execute(
                select(t.grants.c.id).where(
                    t.grants.c.parent_id == gid, t.grants.c.revoked_at.is_(None)
                )
            ).scalars()
        elif gid == grant_id:
            raise Conflict(f"grant {grant_id} is already revoked")
    return revoked


def public(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values.items())
    for k in ("actions", "columns", "exclude_columns"):
        if isinstance(out.get(k), str):
            out[k] = json.loads(out[k])
    for k in ("expires_at", "created_at", "revoked_at"):
        if isinstance(out.get(k), datetime):
            out[k] = out[k].isoformat()
    return out


# --------------------------------------------------------------------------- helpers


def _check_grantee(s: Snapshot, principal: str) -> None:
    if "@" in principal:
        if principal not in s.users:
            raise NotFound(f"unknown principal {principal!r}")
        return
    domain, sep, role = principal.partition(":")
    if domain not in s.domains:
        raise NotFound(f"unknown principal {principal!r}")
    if sep and role not in ROLES:
        raise InvalidInput(f"invalid role {role!r} in principal {principal!r}")


def _resource(
    conn: Connection, s: Snapshot, req: GrantRequest
) -> tuple[str, str, str, TableMeta | None, TagExpression | None]:
    if req.table is not None:
        name = str(TableName.parse(req.table))
        tm = s.tables.get(name)
        if tm is None:
            raise NotFound(f"unknown table {name}")
        return "table", name, tm.domain, tm, None
    if req.database is not None:
        domain, _, db = req.database.lower().partition(".")
        check_object_name(db, "database name")
        name = f"{domain}.{db}"
        if name not in s.db_tables or not s.db_tables[name]:
            raise NotFound(f"unknown database {name}")
        return "database", name, domain, None, None
    expr = TagExpression.parse(req.tags or "")
    check_expression(conn, expr)
    return "tags", str(expr), "", None, expr


def _check_columns(tm: TableMeta | None, cols: list[str]) -> frozenset[str]:
    assert tm is not None
    wanted = frozenset(c.strip().lower() for c in cols if c.strip())
    unknown = sorted(wanted - tm.colset)
    if not wanted or unknown:
        raise InvalidInput(f"unknown column(s) {', '.join(unknown) or '(none given)'} in {tm.name}")
    return wanted


def _check_filter(tm: TableMeta | None, text: str) -> str:
    from lakemesh.access.filters import parse_row_filter

    assert tm is not None
    types = dict.fromkeys(tm.columns, "")
    return parse_row_filter(text, types).sql


class _Derived(NamedTuple):
    """A delegation fitted inside one grant of its domain: the parent and what it gets."""

    parent: GrantEntry
    #: None: every column of the table (or not a table grant).
    columns: frozenset[str] | None
    expires: datetime | None


def _delegation(
    s: Snapshot,
    actor: User,
    req: GrantRequest,
    kind: str,
    resource: str,
    tm: TableMeta | None,
    expr: TagExpression | None,
    wanted: frozenset[str] | None,
    expires: datetime | None,
) -> _Derived:
    """Fit a delegation inside one grantable grant of the actor's domain, or refuse.

    A grant *covers* the delegation when it is active, grantable, holds every requested
    action, and reaches the resource: a table through a grant on the table, its database
    or a tag expression of the table's domain that matches some of its columns; a database
    only through a grant on that database; a tag expression only through a grant on the
    same expression. Within the covering grant, the requested columns (``wanted``; None
    when unsaid) must be among the ones it shows, and the expiry no later than its own.

    One grant must cover the whole delegation: two grants are never combined (the columns
    of one with the rows or lifetime of another would show cells neither shows alone), so
    such a request is refused even where the union would reach. Of several covering
    grants the least restrictive is chosen, since unsaid options mean "what the domain
    may pass on": first one without a row filter (a silently inherited filter drops rows
    without a word, a missing column at least fails loudly), then the most columns, then
    the latest expiry (none is latest), then table before database before tag grants (the
    most specific share), then the lowest id. The chosen grant is the parent: its row
    filter ANDs with the delegation's own, its columns and expiry fill in what is unsaid,
    and revoking it revokes the delegation (``revoke`` cascades along ``parent_id``); a
    delegation cannot outlive it, as its expiry is never later.
    """
    if actor.domain == CENTRAL:
        raise PermissionDenied(f"{actor.name} may not grant on {resource}")
    grantee_domain = req.principal.partition("@")[2] or req.principal.partition(":")[0]
    if grantee_domain != actor.domain or req.principal == actor.domain:
        raise PermissionDenied(
            f"{actor.name} may grant only to users and roles of domain {actor.domain}"
        )
    domain, actions = actor.domain, ",".join(req.actions)
    candidates = _covering_grants(s, domain, req, kind, resource, tm, expr, time.time())
    if not candidates:
        raise PermissionDenied(f"domain {domain} holds no grantable {actions} grant on {resource}")
    held = {g.id: _grant_cols(g, tm) if tm is not None else frozenset() for g in candidates}
    if wanted is not None:
        missing = wanted - frozenset().union(*held.values())
        if missing:
            raise PermissionDenied(
                f"domain {domain} holds no grantable {actions} grant on column(s) "
                f"{', '.join(sorted(missing))} of {resource}"
            )
        candidates = [g for g in candidates if wanted <= held[g.id]]
        if not candidates:
            raise PermissionDenied(
                f"no single grantable {actions} grant of domain {domain} covers column(s) "
                f"{', '.join(sorted(wanted))} of {resource} (grants are not combined)"
            )
    if expires is not None:
        limits = [g.expires for g in candidates if g.expires is not None]
        candidates = [
            g for g in candidates if g.expires is None or g.expires >= expires.timestamp()
        ]
        if not candidates:
            limit = datetime.fromtimestamp(max(limits), expires.tzinfo)
            raise PermissionDenied(
                f"expiry {expires.isoformat()} is later than the domain's grant "
                f"({limit.isoformat()})"
            )
    rank = {"table": 0, "database": 1, "tags": 2}
    parent = min(
        candidates,
        key=lambda g: (
            g.row_filter is not None,
            -len(held[g.id]),
            -(math.inf if g.expires is None else g.expires),
            rank[g.kind],
            g.id,
        ),
    )
    columns = wanted
    if tm is not None and wanted is None and held[parent.id] != tm.colset:
        columns = held[parent.id]  # unsaid columns: the parent's, never wider
    if expires is None and parent.expires is not None:
        expires = datetime.fromtimestamp(parent.expires, UTC)
    return _Derived(parent, columns, expires)


def _covering_grants(
    s: Snapshot,
    domain: str,
    req: GrantRequest,
    kind: str,
    resource: str,
    tm: TableMeta | None,
    expr: TagExpression | None,
    at: float,
) -> list[GrantEntry]:
    """The domain's active grantable grants that reach the resource with every action."""
    named = s.named.get(domain, {})
    out: list[GrantEntry] = []
    for g in (
        *named.get(resource, ()),
        *(named.get(tm.database, ()) if tm is not None else ()),
        *(s.tagged.get(domain, ()) if kind != "database" else ()),
    ):
        if not (g.grantable and set(req.actions) <= g.actions):
            continue
        if g.expires is not None and g.expires <= at:
            continue
        if g.kind == "tags":
            assert g.expr is not None
            if kind == "tags" and str(g.expr) != str(expr):
                continue
            if tm is not None and (
                (g.scope is not None and g.scope != tm.domain)
                or not any(g.expr.matches(tm.column_tags[c]) for c in tm.columns)
            ):
                continue
        out.append(g)
    return out


def _grant_cols(g: GrantEntry, tm: TableMeta) -> frozenset[str]:
    if g.kind == "tags":
        assert g.expr is not None
        return frozenset(c for c in tm.columns if g.expr.matches(tm.column_tags[c]))
    if g.columns is not None:
        return tm.colset & g.columns
    if g.exclude is not None:
        return tm.colset - g.exclude
    return tm.colset
