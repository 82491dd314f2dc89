"""The one authorization gate: ``decide`` for a table, ``filter_allowed`` for listings.

Semantics (SPEC 1-2, Lake Formation where SPEC is silent):

* Deny by default. A user's grants (to the user itself or to its ``domain:role``) give
  *permits*: a column set and an optional row filter each. Several permits combine as a
  union, cell by cell (a row is visible if any permit's filter allows it; a column value
  is visible in that row if a permit that allows the row includes the column).
* Two levels: for a table of another domain, the user's permits are intersected with the
  permits its *domain* holds (the ceiling), so no user ever sees more than its domain.
  The owning domain's ceiling is everything; so is the central node's.
* Tag-expression grants cover every table of their scope whose tags match, including
  tables tagged later; with column tags, only the matching columns.
* Implicit: the mesh admin and the owning domain's admins and stewards may DESCRIBE (and
  stewards/admins ALTER) their tables; a consumer domain's admin may DESCRIBE (the
  columns of) what its domain holds, which it delegates; registered data products may be
  described by every user (the discovery exception). Reading data always needs a grant,
  also for the admin.
* Masks apply to every selected column that has one (directly or through a tag), unless
  the principal holds UNMASK on that column.
* Expiry is compared with server time at every decision.
* The central node's own reads (``principals.SYSTEM``: classification samples, quality
  metrics, SPEC 2.9) see whole tables unmasked. That principal is not a user: the gate
  opens a session as it only for the node's own code (``Gate.system_session``).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from lakemesh.access.actions import (
    ACTIONS,
    DISCOVERY,
    MESH_ADMIN,
    OWNER_IMPLICIT,
    OWNING_DOMAIN,
    SYSTEM_READ,
    Reason,
    Target,
    ceiling_reason,
    delegates,
    domain_admin_reason,
    is_mesh_admin,
    mask_reason,
    owner_reason,
)
from lakemesh.access.principals import CENTRAL, SYSTEM, User
from lakemesh.access.snapshot import (
    NO_MASKS,
    Grantee,
    GrantEntry,
    MaskRule,
    Snapshot,
    TableMeta,
    action_bit,
)
from lakemesh.access.tags import TagExpression

#: Builds a NamedTuple from all its fields in one C call, without the generated
#: ``__new__`` (a Python function that binds each argument by name): a decision builds
#: several tuples, and at 100k grants it is measured in microseconds.
_make = tuple.__new__


class Permit(NamedTuple):
    """What one grant (bounded by its ceiling) shows: columns, and rows if filtered."""

    columns: frozenset[str]
    row_filter: str | None
    grants: tuple[str, ...]


class Decision(NamedTuple):
    """The gate's answer, for a data action on a table or an administrative action on
    any resource (``table`` then names that resource). Immutable tuples: a decision is
    made per table reference, so it must be cheap to build (a frozen dataclass costs a
    setattr per field)."""

    allowed: bool
    principal: str
    action: str
    table: str
    columns: tuple[str, ...] = ()
    permits: tuple[Permit, ...] = ()
    masks: Mapping[str, MaskRule] = NO_MASKS
    determined_by: tuple[Reason, ...] = ()
    missing: str | None = None

    @property
    def resource(self) -> str:
        return self.table

    @property
    def row_filters(self) -> tuple[str, ...] | None:
        """None when some permit sees every row; else the filters, any of which admits."""
        if not self.permits or any(p.row_filter is None for p in self.permits):
            return None
        return tuple(p.row_filter for p in self.permits if p.row_filter is not None)


def _refused(principal: str, action: str, table: str, missing: str) -> Decision:
    return _make(Decision, (False, principal, action, table, (), (), NO_MASKS, (), missing))


#: The actions some implicit right may cover (``Authorizer._implicit``): any other action
#: is decided by the grants alone.
_IMPLICIT = frozenset({"DESCRIBE"}).union(*OWNER_IMPLICIT.values())

#: What the central node reads on its own behalf: whole tables, unmasked (the classifier
#: must see real values to recognise them; only counts and reasons are kept).
_SYSTEM_READS = frozenset({"DESCRIBE", "SELECT"})


def _system_read(action: str, tm: TableMeta) -> Decision:
    return Decision(
        True,
        SYSTEM,
        action,
        tm.name,
        tm.columns,
        (Permit(tm.colset, None, ()),),
        determined_by=(SYSTEM_READ,),
    )


class Authorizer:
    """Decisions over one policy snapshot; ``refresh`` it before each operation."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    # ------------------------------------------------------------------ any action

    def check(self, principal: str, action: str, target: Target | str) -> Decision:
        """The decision for any registered action: a data action on a table (``target``
        its name) is decided by the grants, an administrative action by its rule."""
        registered = ACTIONS.get(action)
        if registered is None:
            return Decision(
                False, principal, action, str(target), missing=f"unknown action {action}"
            )
        if registered.rule is None:
            return self.decide(
                principal, action, target if isinstance(target, str) else str(target)
            )
        assert isinstance(target, Target)
        name = str(target)
        user = self.snapshot.users.get(principal)
        if user is None:
            return Decision(
                False, principal, action, name, missing=f"unknown principal {principal}"
            )
        reason = registered.rule(user, target, self.snapshot)
        if reason is None:
            return Decision(
                False, principal, action, name, missing=registered.refused(user, target)
            )
        return Decision(True, principal, action, name, determined_by=(reason,))

    # ------------------------------------------------------------------ one table

    def decide(
        self,
        principal: str,
        action: str,
        table: str,
        at: float | None = None,
        trace: dict[str, str] | None = None,
    ) -> Decision:
        """The decision for a data action on a table. With ``trace``, every grant that was
        looked at and did not give anything is entered there with the reason (what
        ``access explain`` shows as "why not": the decision's own account, not a second
        opinion)."""
        s = self.snapshot
        tm = s.tables.get(table)
        if tm is None:
            return _refused(principal, action, table, f"unknown table {table}")
        at = time.time() if at is None else at
        seat = s.seats.get(principal)
        if seat is None:
            if principal == SYSTEM and action in _SYSTEM_READS:
                return _system_read(action, tm)
            if principal not in s.domains:
                return _refused(principal, action, table, f"unknown principal {principal}")
            return self._domain_decision(principal, action, tm, at)
        implicit = self._implicit(seat.user, action, tm) if action in _IMPLICIT else None
        if implicit is not None:  # metadata rights cover the whole table, whatever grants say
            return Decision(
                True,
                principal,
                action,
                table,
                tm.columns,
                (Permit(tm.colset, None, ()),),
                determined_by=(implicit,),
            )
        domain = seat.domain
        permits, by = _permits(s, (seat, seat.role), action, tm, at, trace)
        if trace is not None and domain not in (tm.domain, CENTRAL):
            _trace_domain(s, domain, action, tm, at, trace)
        if permits and domain != tm.domain and domain != CENTRAL:
            ceiling = _ceiling(s, domain, action, tm, at)
            if trace is not None:
                _trace_bounded(permits, ceiling.permits, tm.colset, domain, action, trace)
            if ceiling.whole is None and not ceiling.permits:
                return _refused(
                    principal, action, table, f"domain {domain} holds no {action} grant on {table}"
                )
            permits = _intersect(permits, ceiling.permits, tm.colset, ceiling.whole)
            by += ceiling.by
            if not permits:
                return _refused(
                    principal,
                    action,
                    table,
                    f"the grants of {principal} and of domain {domain} share no column",
                )
        if not permits:
            if action == "DESCRIBE" and _delegates(seat.user, tm):
                held = self._domain_decision(domain, action, tm, at)
                if held.allowed:  # a consumer admin sees what its domain holds, to delegate it
                    return held._replace(
                        principal=principal,
                        determined_by=(domain_admin_reason(domain), *held.determined_by),
                    )
            return _refused(
                principal, action, tm.name, f"no grant gives {principal} {action} on {table}"
            )
        columns = _ordered(tm, permits)
        masks = self._masks(seat.user, tm, columns, at) if action == "SELECT" and tm.masks else {}
        if masks:
            by += tuple(mask_reason(m.id, c) for c, m in masks.items())
        return _make(
            Decision, (True, principal, action, table, columns, tuple(permits), masks, by, None)
        )

    def _implicit(self, user: User, action: str, tm: TableMeta) -> Reason | None:
        if action == "DESCRIBE" and is_mesh_admin(user):
            return MESH_ADMIN
        if user.domain == tm.domain and action in OWNER_IMPLICIT.get(user.role, ()):
            return owner_reason(user.role)
        if action == "DESCRIBE" and tm.product:
            return DISCOVERY
        return None

    def _domain_decision(self, domain: str, action: str, tm: TableMeta, at: float) -> Decision:
        if domain == tm.domain:
            return Decision(
                True,
                domain,
                action,
                tm.name,
                tm.columns,
                (Permit(tm.colset, None, ()),),
                determined_by=(OWNING_DOMAIN,),
            )
        permits, by = _permits(self.snapshot, _filed(self.snapshot, domain), action, tm, at)
        if not permits:
            return Decision(
                False,
                domain,
                action,
                tm.name,
                missing=f"no grant gives domain {domain} {action} on {tm.name}",
            )
        return Decision(
            True, domain, action, tm.name, _ordered(tm, permits), tuple(permits), determined_by=by
        )

    def _masks(
        self, user: User, tm: TableMeta, columns: tuple[str, ...], at: float
    ) -> dict[str, MaskRule]:
        if not tm.masks:
            return {}
        masked = {c: tm.masks[c] for c in columns if c in tm.masks}
        if not masked:
            return {}
        unmask = self.decide(user.name, "UNMASK", tm.name, at)
        if unmask.allowed and unmask.permits:
            # UNMASK lifts a mask only where it covers every row (a filtered UNMASK would
            # need per-row masking; we fail closed instead).
            free = set().union(*(p.columns for p in unmask.permits if p.row_filter is None))
            masked = {c: m for c, m in masked.items() if c not in free}
        return masked

    # ------------------------------------------------------------------ listings

    def filter_allowed(
        self, principal: str, action: str, tables: Iterable[str], at: float | None = None
    ) -> list[str]:
        """The tables ``principal`` may act on, in input order: exactly those ``decide``
        allows, by set algebra over the grants, so listings of 100k tables stay in
        milliseconds. Column-limited grants carry their columns: a user permit and a
        ceiling permit meet exactly when the unions of their columns meet."""
        s = self.snapshot
        at = time.time() if at is None else at
        user = s.users.get(principal)
        if user is None:
            if principal not in s.domains:
                return []
            full, part = _covered(s, (principal,), action, at)
            allowed = full | s.domain_tables.get(principal, set()) | part.keys()
        elif is_mesh_admin(user) and action == "DESCRIBE":
            return [n for n in tables if n in s.tables]
        else:
            full, part = _covered(s, user.principals, action, at)
            if user.domain != CENTRAL and (full or part):
                c_full, c_part = _covered(s, (user.domain,), action, at)
                c_full |= s.domain_tables.get(user.domain, set())
                allowed = full & c_full
                for name in (part.keys() | full) & (c_part.keys() | c_full):
                    if name in allowed:
                        continue
                    colset = s.tables[name].colset
                    mine = colset if name in full else part[name]
                    theirs = colset if name in c_full else c_part[name]
                    if not mine.isdisjoint(theirs):
                        allowed.add(name)
            else:
                allowed = full | part.keys()
            if action in OWNER_IMPLICIT.get(user.role, ()):
                allowed |= s.domain_tables.get(user.domain, set())
            if action == "DESCRIBE":
                allowed |= s.products
                if delegates(user):
                    held_full, held_part = _covered(s, (user.domain,), action, at)
                    allowed |= held_full | held_part.keys()
        return [n for n in tables if n in allowed]


# --------------------------------------------------------------------------- internals


def _delegates(user: User, tm: TableMeta) -> bool:
    """A consumer domain's admin looking at another domain's table."""
    return delegates(user) and user.domain != tm.domain


def _filed(s: Snapshot, name: str) -> tuple[Grantee, ...]:
    """``name``'s grants, if it has any."""
    found = s.grantees.get(name)
    return () if found is None else (found,)


def _permits(
    s: Snapshot,
    grantees: Iterable[Grantee],
    action: str,
    tm: TableMeta,
    at: float,
    trace: dict[str, str] | None = None,
) -> tuple[list[Permit], tuple[Reason, ...]]:
    """What the grantees' grants give on ``tm`` at ``at``: a permit and a label per grant.
    Tag-expression grants are looked at a group at a time (``Grantee.tag_groups``): a key
    the table lacks, or a scope to another domain, rules out the group unread."""
    permits: list[Permit] = []
    by: list[Reason] = []
    bit = action_bit(action)
    live = s.by_id
    for grantee in grantees:
        named = grantee.named
        for grants in (named.get(tm.name), named.get(tm.database)) if named else ():
            for g in grants or ():
                # In force (``GrantEntry.allows``) and alive (``_alive``), inline: this
                # loop is most of a decision.
                if g.bits & bit and at < g.until and (g.parent_id is None or g.parent_id in live):
                    cols = tm.colset if g.whole else _grant_columns(g, tm)
                    if cols:
                        permits.append(_make(Permit, (cols, g.row_filter, (g.id,))))
                        by.append(g.label)
                    elif trace is not None:
                        trace[g.id] = "covers none of the table's columns"
                elif trace is not None:
                    trace[g.id] = _inactive(s, g, action, at)
        for keys, scope, grants in grantee.tag_groups if tm.tag_keys or trace is not None else ():
            if not keys <= tm.tag_keys or (scope is not None and scope != tm.domain):
                if trace is not None:
                    scoped = scope is not None and scope != tm.domain
                    for g in grants:
                        trace[g.id] = f"scoped to domain {scope}" if scoped else _NO_MATCH
                continue
            for g in grants:
                if g.bits & bit and at < g.until and (g.parent_id is None or g.parent_id in live):
                    assert g.expr is not None
                    cols = _tag_columns(g.expr, tm, g.resource)
                    if cols:
                        permits.append(_make(Permit, (cols, None, (g.id,))))
                        by.append(g.label)
                    elif trace is not None:
                        trace[g.id] = _NO_MATCH
                elif trace is not None:
                    trace[g.id] = _inactive(s, g, action, at)
    return permits, tuple(by)


_NO_MATCH = "tag expression does not match"


def _inactive(s: Snapshot, g: GrantEntry, action: str, at: float) -> str:
    """Why a grant gives nothing at ``at`` for ``action`` (for a trace)."""
    if g.expires is not None and g.expires <= at:
        return "expired"
    if not _alive(s, g):
        return "the grant it was delegated from is revoked"
    return f"does not grant {action}"


def _trace_domain(
    s: Snapshot, domain: str, action: str, tm: TableMeta, at: float, trace: dict[str, str]
) -> None:
    """The user's domain's own grants on the table: they bound the domain's users and
    give none of them anything by themselves."""
    held = (
        f"held by domain {domain}: it bounds what the domain's users may be given "
        "and gives none of them access by itself (its admin delegates it)"
    )
    inner: dict[str, str] = {}
    permits, _ = _permits(s, _filed(s, domain), action, tm, at, inner)
    for p in permits:
        for gid in p.grants:
            trace.setdefault(gid, held)
    for gid, why in inner.items():
        trace.setdefault(gid, f"held by domain {domain}, and {why}")


def _trace_bounded(
    users: list[Permit],
    ceiling: list[Permit],
    colset: frozenset[str],
    domain: str,
    action: str,
    trace: dict[str, str],
) -> None:
    """User grants that the domain's ceiling removed entirely."""
    kept = {
        gid for p in _intersect(users, ceiling, colset, _whole(ceiling, colset)) for gid in p.grants
    }
    for p in users:
        for gid in p.grants:
            if gid not in kept:
                trace[gid] = (
                    f"domain {domain} holds no {action} grant on the table"
                    if not ceiling
                    else "bounded away by the domain's grants: they share no column"
                )


def _tag_columns(expr: TagExpression, tm: TableMeta, text: str) -> frozenset[str]:
    """Columns whose effective tags match (memoised per table under the expression's
    canonical ``text``)."""
    cols = tm.tag_cols.get(text)
    if cols is None:
        cols = tm.tag_cols[text] = _match_columns(expr, tm)
    return cols


def _match_columns(expr: TagExpression, tm: TableMeta) -> frozenset[str]:
    """Only overriding columns are looked at one by one; the rest share the table's tags."""
    if expr.matches(tm.table_tags):
        if not tm.overrides:
            return tm.colset
        return frozenset(
            c for c in tm.columns if c not in tm.overrides or expr.matches(tm.column_tags[c])
        )
    return frozenset(c for c in tm.overrides if expr.matches(tm.column_tags[c]))


class Ceiling(NamedTuple):
    """A domain's permits on a table, shared by all its users (``Snapshot.ceilings``),
    and the span of time they hold for: between the expiries of the grants that apply
    or could apply (no such expiry: the shared infinities, nothing more to read)."""

    permits: list[Permit]
    by: tuple[Reason, ...]
    #: The grants of a permit that shows the whole table, every row (the common case:
    #: the ceiling then bounds nothing), or None.
    whole: tuple[str, ...] | None
    since: float
    until: float


_PAST = -math.inf


def _ceiling(s: Snapshot, domain: str, action: str, tm: TableMeta, at: float) -> Ceiling:
    """The domain's permits on a table, memoised per snapshot state: no grant expires
    between the memo's ``since`` and ``until``, so it holds for any time in between."""
    memo = s.ceilings.get((domain, action))
    if memo is None:
        memo = s.ceilings[(domain, action)] = {}
    hit: Ceiling | None = memo.get(tm.name)
    if hit is not None and hit.since <= at < hit.until:
        return hit
    filed = _filed(s, domain)
    permits, labels = _permits(s, filed, action, tm, at)
    by = tuple(ceiling_reason(b) for b in labels)
    candidates = [
        g
        for grantee in filed
        for g in (*grantee.named.get(tm.name, ()), *grantee.named.get(tm.database, ()))
    ]
    candidates += s.tagged.get(domain, ())
    expiries = [g.expires for g in candidates if g.expires is not None]
    since = max((e for e in expiries if e <= at), default=_PAST)
    until = min((e for e in expiries if e > at), default=math.inf)
    hit = memo[tm.name] = Ceiling(permits, by, _whole(permits, tm.colset), since, until)
    return hit


def _tag_cover(s: Snapshot, g: GrantEntry) -> tuple[set[str], dict[str, frozenset[str]]]:
    """Tables a tag-expression grant covers whole, and those it covers on some columns;
    memoised per (expression, scope). A table without column overrides matches all or
    nothing at table level, so that part is set algebra; only overriding tables are
    looked at one by one."""
    key = (g.resource, g.scope)
    hit = s.tag_cover.get(key)
    if hit is not None:
        return hit
    expr = g.expr
    assert expr is not None
    at_table: set[str] | None = None
    anywhere: set[str] | None = None
    for k, values in expr.clauses:
        here = set().union(*(s.table_tag_index.get((k, v), set()) for v in values))
        some = set().union(*(s.tag_index.get((k, v), set()) for v in values))
        at_table = here if at_table is None else at_table & here
        anywhere = some if anywhere is None else anywhere & some
    whole = (at_table or set()) - s.overriding
    candidates = (anywhere or set()) & s.overriding
    if g.scope is not None:
        scope = s.domain_tables.get(g.scope, set())
        whole &= scope
        candidates &= scope
    partial: dict[str, frozenset[str]] = {}
    for name in candidates:
        tm = s.tables[name]
        cols = _tag_columns(expr, tm, g.resource)
        if cols == tm.colset:
            whole.add(name)
        elif cols:
            partial[name] = cols
    s.tag_cover[key] = (whole, partial)
    return whole, partial


def _alive(s: Snapshot, g: GrantEntry) -> bool:
    """A delegated grant lives only while its parent does (revocation cascades)."""
    return g.parent_id is None or g.parent_id in s.by_id


def _grant_columns(g: GrantEntry, tm: TableMeta) -> frozenset[str]:
    if g.columns is not None:
        return tm.colset & g.columns
    if g.exclude is not None:
        return tm.colset - g.exclude
    return tm.colset


def _whole(ceiling: list[Permit], colset: frozenset[str]) -> tuple[str, ...] | None:
    """The grants of a ceiling permit that shows every column and every row, if any."""
    for c in ceiling:
        if c.row_filter is None and c.columns == colset:
            return c.grants
    return None


def _intersect(
    users: list[Permit],
    ceiling: list[Permit],
    colset: frozenset[str],
    whole: tuple[str, ...] | None,
) -> list[Permit]:
    """Cell-level intersection: a cell is visible if some user permit and some ceiling
    permit both show it (``whole``: the ceiling's grants that show everything, if any).
    Filters of the two sides AND together."""
    if whole is not None:  # the common case: the domain sees the whole table, every row
        return [_make(Permit, (u.columns, u.row_filter, u.grants + whole)) for u in users]
    out = []
    for u in users:
        for c in ceiling:
            cols = u.columns & c.columns
            if not cols:
                continue
            if u.row_filter is None or c.row_filter is None or u.row_filter == c.row_filter:
                row_filter = u.row_filter or c.row_filter
            else:
                row_filter = both(u.row_filter, c.row_filter)
            out.append(Permit(cols, row_filter, u.grants + c.grants))
    return out


@functools.lru_cache(maxsize=4096)
def both(a: str, b: str) -> str:
    """``a AND b`` for two stored canonical filters, built on the AST (never by text),
    without repeating a clause both already share."""
    from lakemesh.access.filters import all_of, from_canonical

    combined = all_of([from_canonical(a), from_canonical(b)])
    assert combined is not None
    return combined.sql


def _ordered(tm: TableMeta, permits: list[Permit]) -> tuple[str, ...]:
    """The visible columns in the table's order (the whole table needs no work)."""
    colset = tm.colset
    for p in permits:
        if p.columns is colset or p.columns == colset:
            return tm.columns
    visible = frozenset().union(*(p.columns for p in permits))
    return tuple(c for c in tm.columns if c in visible)


def _covered(
    s: Snapshot, grantees: Iterable[str], action: str, at: float
) -> tuple[set[str], dict[str, set[str]]]:
    """Tables some grant of ``grantees`` covers for ``action``: whole tables, and tables
    covered only through column-limited grants with the union of those columns."""
    full: set[str] = set()
    part: dict[str, set[str]] = {}
    for p in grantees:
        whole, some = _coverage(s, p, action, at)
        full |= whole
        for name, cols in some.items():
            part.setdefault(name, set()).update(cols)
    for name in full:
        part.pop(name, None)
    return full, part


def _coverage(
    s: Snapshot, grantee: str, action: str, at: float
) -> tuple[set[str], dict[str, frozenset[str]]]:
    """One grantee's coverage, memoised per snapshot state until its next grant expiry
    (listings repeat; a change to the grantee's grants or to tags drops the memo)."""
    key = (grantee, action)
    hit = s.coverage.get(key)
    if hit is not None and hit[2] <= at < hit[3]:
        return hit[0], hit[1]
    full: set[str] = set()
    part: dict[str, set[str]] = {}
    grants = [g for gs in s.named.get(grantee, {}).values() for g in gs]
    for g in grants:
        if not (g.allows(action, at) and _alive(s, g)):
            continue
        if g.resource not in s.tables:  # a database grant: no column lists there
            full |= s.db_tables.get(g.resource, set())
        elif g.columns is None and g.exclude is None:
            full.add(g.resource)
        elif cols := _grant_columns(g, s.tables[g.resource]):
            part.setdefault(g.resource, set()).update(cols)
    tagged = s.tagged.get(grantee, [])
    for g in tagged:
        if g.allows(action, at) and _alive(s, g):
            whole, some = _tag_cover(s, g)
            full |= whole
            for name, cols in some.items():
                part.setdefault(name, set()).update(cols)
    frozen = {n: frozenset(c) for n, c in part.items() if n not in full}
    until = min(
        (g.expires for g in (*grants, *tagged) if g.expires is not None and g.expires > at),
        default=math.inf,
    )
    s.coverage[key] = (full, frozen, at, until)
    return full, frozen
