"""A governed query, end to end: plan (parse, validate, rewrite), sources, engine, audit.

The consumer sees either rows or a generic one-line error carrying a correlation id;
what happened (the reason, the tables, each decision) goes to the audit record with that
id (SPEC 2.8). Expiry and revocation are checked at query start against server time,
because the decisions are taken then, on a freshly refreshed policy snapshot (SPEC 2.7).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakemesh import audit, keys
from lakemesh.engines import EngineError, Limits, Source, load_engine
from lakemesh.errors import LakemeshError, PermissionDenied
from lakemesh.query.plan import QueryRefused, plan_query
from lakemesh.query.sources import table_source
from lakemesh.typedef import TableName

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh


class QueryFailed(PermissionDenied):
    """What a consumer is told: nothing about hidden data, only where to look it up."""


def run_query(
    mesh: Mesh, sql: str, *, principal: str, engine: str = "duckdb", limits: Limits | None = None
) -> pa.Table:
    actor = mesh.gate.actor(principal)
    authz = mesh.gate.authz()
    correlation = uuid.uuid4().hex[:16]
    details: dict[str, Any] = {"correlation_id": correlation, "engine": engine, "sql": sql[:4000]}
    decisions: dict[str, Any] = {}

    def decide(table: str) -> Any:
        d = authz.decide(actor.name, "SELECT", table)
        decisions[table] = {
            "allowed": d.allowed,
            "determined_by": list(d.determined_by),
            "missing": d.missing,
        }
        return d

    def resolve(parts: list[str]) -> str | None:
        if len(parts) != 3:
            return None
        try:
            name = str(TableName(*parts))
        except LakemeshError:
            return None
        return name if name in authz.snapshot.tables else None

    def column_types(table: str) -> Mapping[str, str]:
        return {c.name: c.type for c in mesh._catalog.table(table).schema.columns}

    outcome = "failed"
    try:
        plan = plan_query(
            sql,
            principal=actor.name,
            decide=decide,
            resolve=resolve,
            column_types=column_types,
            hash_key=keys.mask_hash_key(mesh.home),
            dialect=engine,
        )
        details["tables"] = list(plan.tables)
        sources = {t: _source(mesh, t) for t in plan.tables}
        result = load_engine(engine).run(plan, sources, limits or Limits())
        outcome = "allowed"
        details["rows"] = result.num_rows
        return result
    except QueryRefused as exc:
        outcome = "denied"
        details["reason"] = str(exc)
        raise QueryFailed(f"query refused (correlation id {correlation})") from exc
    except EngineError as exc:
        outcome = "aborted"
        details["reason"] = getattr(exc, "detail", None) or str(exc)
        raise QueryFailed(f"{exc} (correlation id {correlation})") from exc
    except LakemeshError as exc:
        details["reason"] = str(exc)
        raise QueryFailed(f"query failed (correlation id {correlation})") from exc
    finally:
        details["decisions"] = decisions
        with mesh.store.write() as conn:
            audit.record(
                conn,
                principal=actor.name,
                action="query",
                resource=None,
                outcome=outcome,
                details=details,
            )
        mesh.gate.checkpoint_if_due()


def _source(mesh: Mesh, table: str) -> Source:
    detail = mesh._catalog.table(table)
    domain = mesh.domain(detail.domain)
    return table_source(domain, detail.format, detail.location, detail.partition_keys)
