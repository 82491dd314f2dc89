"""A governed query, end to end: plan (parse, validate, rewrite), sources, engine, audit.

The consumer sees either rows or a generic one-line error carrying a correlation id;
what happened (the reason, the tables, each decision) goes to the audit record with that
id (SPEC 2.8). Expiry and revocation are checked at query start against server time,
because the decisions are taken then, on a freshly refreshed policy snapshot (SPEC 2.7).
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakemesh import audit, keys
from lakemesh.access.authorizer import Decision
from lakemesh.engines import (
    Batches,
    Engine,
    EngineError,
    Limits,
    Source,
    SourceColumn,
    load_engine,
)
from lakemesh.errors import (
    BackendUnavailable,
    LakemeshError,
    QueryDenied,
    QueryError,
    QueryUnavailable,
    TableUnavailable,
)
from lakemesh.errors import QueryFailed as QueryFailed
from lakemesh.metadata.central import ScanInfo, scan_info
from lakemesh.metadata.domains import Domain, get_domain
from lakemesh.query.output import unique_names
from lakemesh.query.plan import Plan, QueryRefused, plan_query
from lakemesh.query.sources import read_whole, table_source
from lakemesh.typedef import TableName

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh
    from lakemesh.service.session import Session


def run_query(
    mesh: Mesh,
    sql: str,
    *,
    principal: str,
    engine: str = "duckdb",
    limits: Limits | None = None,
    session: Session | None = None,
    purpose: str | None = None,
) -> pa.Table:
    """Run ``sql`` for ``principal`` and return the whole result (``open_query`` says
    what happens on the way)."""
    with open_query(
        mesh,
        sql,
        principal=principal,
        engine=engine,
        limits=limits,
        session=session,
        purpose=purpose,
    ) as result:
        return pa.Table.from_batches(list(result), schema=result.schema)


@contextmanager
def open_query(
    mesh: Mesh,
    sql: str,
    *,
    principal: str,
    engine: str = "duckdb",
    limits: Limits | None = None,
    session: Session | None = None,
    purpose: str | None = None,
) -> Iterator[QueryResult]:
    """Run ``sql`` for ``principal``; the block reads the result batch by batch (the
    engine's limits hold while it reads; the query ends with the block). The result's
    column names are unique (made so the way DuckDB names duplicates: ``x, x`` ->
    ``x, x_1``). Every query is audited under its correlation id, one record per table
    it named (resource = the table), with a second set (``aborted``, with the reason)
    when an allowed query then fails, also while its result is read.

    The decision record of an allowed query is committed on a helper thread while the
    engine starts (the commit's fsync then costs no latency), and the result is handed
    out only once that record is durable: no rows leave without their audit record.

    ``session`` is the caller's own (the central node's system session for its own
    reads: ``Gate.system_session``); ``purpose`` says why in the audit record.
    """
    runner = load_engine(engine)  # unknown engine or missing extra: plain bad input
    runner.warm(limits or Limits())
    if session is None:
        session = mesh.gate.session(principal)
    actor = session.actor
    correlation = uuid.uuid4().hex[:16]
    details: dict[str, Any] = {"correlation_id": correlation, "engine": engine, "sql": sql[:4000]}
    if purpose is not None:
        details["purpose"] = purpose
    decisions: dict[str, Any] = {}

    def record(d: Decision) -> None:
        decisions[d.table] = {
            "allowed": d.allowed,
            "determined_by": list(d.determined_by),
            "missing": d.missing,
        }

    def write(outcome: str, extra: Mapping[str, Any]) -> None:
        """One record per table the query named (so "who read this table?" is a filter
        on the resource), or one without a resource when it named none."""
        payload = details | {"decisions": decisions} | dict(extra)
        with mesh.store.write() as conn:
            named: list[str | None] = [*decisions] or [None]
            for table in named:
                audit.record(
                    conn,
                    principal=actor.name,
                    action="query",
                    resource=table,
                    outcome=outcome,
                    details=payload,
                )

    try:
        plan, sources = _plan_audited(mesh, sql, session, runner, correlation, record, write)
        tables: dict[str, Any] = {"tables": list(plan.tables)}
        skipped = {t: list(s.skipped) for t, s in sources.items() if s.skipped}
        if skipped:  # files in a table's folder the catalog does not trust, and why
            tables["skipped_files"] = skipped
        decision = _Background(lambda: write("allowed", tables))
        with ExitStack() as stack:
            with _aborts_audited(decision, write, tables, correlation):
                batches = stack.enter_context(runner.stream(plan, sources, limits or Limits()))
            decision.join()
            # the caller's own failures while it reads pass through as they are
            yield QueryResult(batches, decision, write, tables, correlation)
    finally:
        mesh.gate.checkpoint_if_due()


class QueryResult:
    """A governed query's result as it is read: ``schema`` (unique column names), then
    the batches once. An engine failure while reading is audited and raised as the
    consumer's generic error, like one before the first batch."""

    def __init__(
        self,
        batches: Batches,
        decision: _Background,
        write: Callable[[str, Mapping[str, Any]], None],
        tables: dict[str, Any],
        correlation: str,
    ) -> None:
        self._batches = batches
        self._decision = decision
        self._write = write
        self._tables = tables
        self._correlation = correlation
        names = unique_names(batches.schema.names)
        self._renamed = names != batches.schema.names
        self.schema: pa.Schema = pa.schema(
            [f.with_name(n) for f, n in zip(batches.schema, names, strict=True)],
            metadata=batches.schema.metadata,
        )

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        with _aborts_audited(self._decision, self._write, self._tables, self._correlation):
            for batch in self._batches:
                if self._renamed:
                    batch = pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
                yield batch


@contextmanager
def _aborts_audited(
    decision: _Background,
    write: Callable[[str, Mapping[str, Any]], None],
    tables: dict[str, Any],
    correlation: str,
) -> Iterator[None]:
    """An allowed query that then fails: its ``aborted`` record, and the consumer's
    generic error (the engine's own message only when it names no hidden state)."""
    try:
        yield
    except KeyboardInterrupt:
        decision.join()
        write("aborted", tables | {"reason": "interrupted (Ctrl-C)"})
        raise
    except QueryFailed:
        raise  # already audited (a failure while reading, seen again on its way out)
    except EngineError as exc:
        decision.join()
        write("aborted", tables | {"reason": getattr(exc, "detail", None) or str(exc)})
        raise QueryError(f"{exc} (correlation id {correlation})") from exc
    except BackendUnavailable as exc:
        decision.join()
        write("aborted", tables | {"reason": str(exc)})
        raise QueryUnavailable(f"query failed (correlation id {correlation})") from exc
    except LakemeshError as exc:
        decision.join()
        write("aborted", tables | {"reason": str(exc)})
        raise QueryError(f"query failed (correlation id {correlation})") from exc
    except GeneratorExit:
        raise
    except Exception as exc:
        decision.join()
        write("aborted", tables | {"reason": _unexpected(exc)})
        raise QueryError(f"query failed (correlation id {correlation})") from exc


def _plan_audited(
    mesh: Mesh,
    sql: str,
    session: Session,
    runner: Engine,
    correlation: str,
    on_decision: Callable[[Decision], None],
    write: Callable[[str, Mapping[str, Any]], None],
) -> tuple[Plan, dict[str, Source]]:
    """``prepare``, each refusal audited and turned into the consumer's error."""
    try:
        return prepare(
            mesh,
            sql,
            principal=session.actor.name,
            engine=runner,
            on_decision=on_decision,
            session=session,
        )
    except KeyboardInterrupt:
        write("aborted", {"reason": "interrupted (Ctrl-C) while planning"})
        raise
    except QueryRefused as exc:
        write("denied", {"reason": str(exc)})
        # The reason when it depends only on the query text; never the policy (SPEC 2.8).
        shown = f"query refused: {exc.public}" if exc.public else "query refused"
        raise QueryDenied(f"{shown} (correlation id {correlation})") from exc
    except TableUnavailable as exc:  # names only the table the caller named and may read
        write("failed", {"reason": exc.detail, "tables": [exc.table]})
        raise QueryUnavailable(f"{exc} (correlation id {correlation})") from exc
    except BackendUnavailable as exc:
        write("failed", {"reason": str(exc)})
        raise QueryUnavailable(f"query failed (correlation id {correlation})") from exc
    except LakemeshError as exc:
        write("failed", {"reason": str(exc)})
        raise QueryError(f"query failed (correlation id {correlation})") from exc
    except Exception as exc:  # e.g. a table's folder gone: the consumer sees no path
        write("failed", {"reason": _unexpected(exc)})
        raise QueryError(f"query failed (correlation id {correlation})") from exc


def _unexpected(exc: BaseException) -> str:
    """An unexpected error's detail, for the audit record only."""
    return f"{type(exc).__name__}: {exc}"[:2000]


class _Background:
    """Runs ``fn`` on its own thread; ``join`` waits and re-raises what it raised."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        context = contextvars.copy_context()  # the caller's audit origin (HTTP request id)

        def target() -> None:
            try:
                context.run(fn)
            except BaseException as e:  # re-raised in the caller's thread by join()
                self._error = e

        self._thread = threading.Thread(target=target, name="lakemesh-audit", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def prepare(
    mesh: Mesh,
    sql: str,
    *,
    principal: str,
    engine: str | Engine = "duckdb",
    on_decision: Callable[[Decision], None] | None = None,
    session: Session | None = None,
) -> tuple[Plan, dict[str, Source]]:
    """Plan ``sql`` for ``principal`` on a freshly refreshed policy (or in ``session``,
    the caller's, refreshed just before) and find each table's files: everything
    ``run_query`` does before the engine runs, without auditing (for ``run_query`` itself
    and for diagnostics such as the benchmarks' scan checks)."""
    runner = load_engine(engine) if isinstance(engine, str) else engine
    if session is None:
        session = mesh.gate.session(principal)
    actor, authz = session.actor, session.authz
    tables: dict[str, tuple[ScanInfo, Domain]] = {}

    def info(table: str) -> tuple[ScanInfo, Domain]:
        if table not in tables:
            with mesh.store.read() as conn:
                scan = scan_info(conn, table)
                tables[table] = (scan, get_domain(conn, scan.domain))
        return tables[table]

    def decide(table: str) -> Decision:
        d = session.check("SELECT", table)
        if on_decision is not None:
            on_decision(d)
        return d

    def resolve(parts: list[str]) -> str | None:
        if len(parts) != 3:
            return None
        try:
            name = str(TableName(*parts))
        except LakemeshError:
            return None
        return name if name in authz.snapshot.tables else None

    plan = plan_query(
        sql,
        principal=actor.name,
        decide=decide,
        resolve=resolve,
        column_types=lambda table: info(table)[0].column_types,
        hash_key=keys.mask_hash_key(mesh.home),
        dialect=runner.name,
        push_predicates=runner.pushes_predicates,
    )
    sources = {}
    for table in plan.tables:
        scan, domain = info(table)
        source = table_source(
            domain, table, scan.format, scan.location, scan.partition_keys, _columns(scan)
        )
        sources[table] = source if runner.reads_lakehouse else read_whole(table, source)
    return plan, sources


def _columns(scan: ScanInfo) -> list[SourceColumn]:
    """The catalog's schema of a table as its scan must present it."""
    keys = set(scan.partition_keys)
    return [
        SourceColumn(
            name=name,
            type=type_,
            source=scan.source_names.get(name, name),  # may be "" (an empty header)
            partition=name in keys,
        )
        for name, type_ in scan.column_types.items()
    ]
