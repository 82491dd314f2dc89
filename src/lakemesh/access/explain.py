"""``access explain``: why a principal can or cannot read a table, from the same decision
the gate uses, traced (never a second opinion computed differently): the grants that
gave something, and for every other grant of the principal, its role or its domain that
touches the table, the reason the decision recorded for passing it over."""

from __future__ import annotations

import time
from typing import Any

from lakemesh.access.authorizer import Authorizer, Decision
from lakemesh.access.snapshot import GrantEntry


def explain(authz: Authorizer, decision: Decision, trace: dict[str, str]) -> dict[str, Any]:
    s = authz.snapshot
    tm = s.tables[decision.table]
    at = time.time()
    used = {gid for p in decision.permits for gid in p.grants}
    grants = [_grant(s.by_id[gid], at) for gid in sorted(used) if gid in s.by_id]
    user = s.users.get(decision.principal)
    related = []
    unused = "does not reach this table"
    if decision.allowed and not used:  # an implicit right decided: no grant was looked at
        unused = f"not needed: {decision.determined_by[0]} decides"
    if user is not None:  # grants that exist for this principal but did not apply
        names = (*user.principals, user.domain)
        for g in s.by_id.values():
            if g.principal in names and g.id not in used and _touches(g, tm.name, tm.database):
                why = trace.get(g.id, unused)
                related.append(_grant(g, at) | {"why_not": why})
    return {
        "principal": decision.principal,
        "action": decision.action,
        "table": decision.table,
        "allowed": decision.allowed,
        "determined_by": list(decision.determined_by),
        "missing": decision.missing,
        "columns": list(decision.columns),
        "hidden_columns": [c for c in tm.columns if c not in decision.columns],
        "row_filters": list(decision.row_filters or []),
        "permits": [
            {"columns": sorted(p.columns), "row_filter": p.row_filter, "grants": list(p.grants)}
            for p in decision.permits
        ],
        "masks": {
            c: {"method": m.method, "rule": m.id, "target": m.target}
            for c, m in decision.masks.items()
        },
        "table_tags": tm.table_tags,
        # only what a column sets itself or overrides; the rest is inherited from the table
        "column_tags": {c: t for c, t in tm.column_tags.items() if t != tm.table_tags},
        "grants": grants,
        "other_grants": related,
        "product": tm.product,
    }


def _grant(g: GrantEntry, at: float) -> dict[str, Any]:
    return {
        "id": g.id,
        "principal": g.principal,
        "actions": sorted(g.actions),
        "resource": g.resource,
        "kind": g.kind,
        "scope": g.scope,
        "columns": sorted(g.columns) if g.columns is not None else None,
        "exclude_columns": sorted(g.exclude) if g.exclude is not None else None,
        "row_filter": g.row_filter,
        "grantable": g.grantable,
        "expires_in_seconds": None if g.expires is None else round(g.expires - at),
        "parent": g.parent_id,
        "granted_by": g.granted_by,
    }


def _touches(g: GrantEntry, table: str, database: str) -> bool:
    return g.kind == "tags" or g.resource in (table, database)
