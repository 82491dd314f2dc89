"""Metadata sync: keeps the central catalog equal to every domain catalog.

* **Incremental**: asks the domain catalog what changed since the stored cursor.
* **Full repair**: lists everything, diffs every table and partition against the central
  copy, applies the difference and records a drift report (missing, stale, extra).
* **Crash safety**: each table is applied in its own transaction together with its change
  mark (``source_version``), its events and its search document; the domain cursor moves
  only after every table landed. A crash at any point therefore re-runs, skips what was
  already applied, and converges.
* **Fail-safe**: an unreachable catalog, an empty listing where tables were known, or a
  listing that would remove more than ``max_removal_ratio`` of a domain's tables deletes
  nothing: the domain is marked failed/stale, an alert is raised and an event is written.
  ``force=True`` overrides the listing checks (not reachability).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, func, insert, select, update

from lakemesh import audit, events
from lakemesh.catalog import (
    Changes,
    DomainCatalog,
    PartitionDelta,
    PartitionRow,
    TableInfo,
    TableRef,
)
from lakemesh.errors import LakemeshError, NotFound, PlanRefused, SyncInterrupted
from lakemesh.events.alerts import raise_alert
from lakemesh.metadata import apply
from lakemesh.metadata.domains import Domain
from lakemesh.store import Store
from lakemesh.store import tables as t
from lakemesh.typedef import now

Mode = Literal["incremental", "full"]
R = TypeVar("R", bound=PartitionRow)
Status = Literal["ok", "failed", "refused", "interrupted"]
Progress = Callable[[str, int, int], None]


@dataclass
class SyncOptions:
    max_removal_ratio: float = 0.5
    force: bool = False


@dataclass
class SyncResult:
    domain: str
    mode: Mode
    status: Status = "ok"
    tables_added: int = 0
    tables_updated: int = 0
    tables_unchanged: int = 0
    tables_removed: int = 0
    partitions_added: int = 0
    partitions_changed: int = 0
    partitions_removed: int = 0
    breaking_changes: list[str] = field(default_factory=list)
    drift: dict[str, list[str]] | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return bool(self.tables_added or self.tables_updated or self.tables_removed)


class Syncer:
    def __init__(
        self,
        store: Store,
        options: SyncOptions | None = None,
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        actor: str = "admin@central",
    ) -> None:
        self.store = store
        self.options = options or SyncOptions()
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.actor = actor

    # ------------------------------------------------------------------ entry point

    def sync(self, domain: Domain, *, full: bool = False) -> SyncResult:
        started = time.monotonic()
        cursor = self._begin(domain)
        mode: Mode = "full" if full or cursor is None else "incremental"
        result = SyncResult(domain=domain.name, mode=mode)
        run_id = self._start_run(domain, mode)
        plan: _Plan | None = None
        catalog: DomainCatalog | None = None
        try:
            catalog = domain.catalog()
            plan = self._plan(domain, catalog, None if mode == "full" else cursor, result)
            self._apply(domain, catalog, plan, result)
        except PlanRefused:
            pass  # the result already says why
        except SyncInterrupted:
            result.status = "interrupted"
        except LakemeshError as exc:
            result.status, result.error = "failed", str(exc)
        finally:
            if catalog is not None:
                result.warnings[:0] = catalog.warnings  # listing and read-ahead warnings
                catalog.close()
        result.seconds = round(time.monotonic() - started, 3)
        self._finish(domain, run_id, result, plan.cursor if plan else None)
        return result

    # ------------------------------------------------------------------ planning

    def _plan(
        self, domain: Domain, catalog: DomainCatalog, cursor: str | None, result: SyncResult
    ) -> _Plan:
        known = self._central_marks(domain)
        try:
            catalog.check()
        except NotFound:
            if not known:  # a domain that was never crawled: nothing to do yet
                result.warnings.append(f"domain {domain.name} has no catalog yet")
                return _Plan(Changes(cursor="", changed=[], removed=[]), [], known, None)
            raise
        changes: Changes = catalog.changes(cursor)
        unreadable = catalog.unreadable
        if result.mode == "full" and not changes.changed and not known and not unreadable:
            how = (
                f"'lakemesh crawl {domain.name}' fills it"
                if domain.catalog_kind == "builtin"
                else "its tables are registered by the domain's own tools"
            )
            result.warnings.append(f"the catalog of domain {domain.name} lists no table ({how})")
        removed = [r for r in changes.removed if r in known and r not in unreadable]
        if result.mode == "full":
            live = {r.ident for r in changes.changed}
            removed = sorted(set(known) - live - unreadable)
            result.drift = {
                "missing": sorted(
                    _fq(domain, r.ident) for r in changes.changed if r.ident not in known
                ),
                "stale": sorted(
                    _fq(domain, r.ident)
                    for r in changes.changed
                    if r.ident in known and known[r.ident] != r.version
                ),
                "extra": [_fq(domain, r) for r in removed],
            }
            if not changes.changed and not unreadable and known:
                self._refuse(
                    result,
                    f"empty listing from {domain.catalog_spec} while {len(known)} tables are known",
                )
        if known and len(removed) > self.options.max_removal_ratio * len(known):
            self._refuse(result, f"listing would remove {len(removed)} of {len(known)} tables")
        return _Plan(changes, removed, known, changes.cursor)

    def _refuse(self, result: SyncResult, reason: str) -> None:
        """Stop before anything is applied, unless the operator forced the sync."""
        if self.options.force:
            result.warnings.append(f"forced past: {reason}")
            return
        result.status, result.error = "refused", f"{reason}; nothing was deleted (--force)"
        raise PlanRefused

    # ------------------------------------------------------------------ applying

    def _apply(
        self, domain: Domain, catalog: DomainCatalog, plan: _Plan, result: SyncResult
    ) -> None:
        """Apply every changed table, each in its own transaction, then the removals.

        Reading ahead on a thread was measured slower: both sides are Python-bound and
        contend for the GIL, so tables are read and written in turn.
        """
        todo = [
            ref
            for ref in plan.changes.changed
            # already applied before a crash or by a concurrent run: skip, do not re-read
            if not (result.mode == "incremental" and plan.known.get(ref.ident) == ref.version)
        ]
        result.tables_unchanged += len(plan.changes.changed) - len(todo)
        failures: list[str] = []
        for i, ref in enumerate(todo):
            if self.should_stop():
                raise SyncInterrupted
            self._tick(domain.name, i, len(todo))
            try:
                loaded = self._read(catalog, plan, ref, result)
                if loaded is not None:
                    self._write(domain, plan, ref, *loaded, result=result)
            except LakemeshError as exc:
                failures.append(f"{_fq(domain, ref.ident)}: {exc}")
        for db, name in plan.removed:
            if self.should_stop():
                raise SyncInterrupted
            with self.store.write() as conn:
                if apply.remove_table(conn, domain.name, db, name, actor=self.actor):
                    result.tables_removed += 1
                    audit.record(
                        conn,
                        principal=self.actor,
                        action="sync.remove",
                        resource=_fq(domain, (db, name)),
                        outcome="ok",
                        details={},
                    )
        self._tick(domain.name, len(todo), len(todo))
        if failures:
            result.warnings += failures
            raise LakemeshError(f"{len(failures)} table(s) failed, first: {failures[0]}")

    def _read(
        self, catalog: DomainCatalog, plan: _Plan, ref: TableRef, result: SyncResult
    ) -> tuple[TableInfo, Sequence[PartitionRow] | None, PartitionDelta | None] | None:
        """One table from the domain catalog, checked against the root (no store access)."""
        info = catalog.load_table(ref.database, ref.name)
        if not catalog.contained(info.location):
            result.warnings.append(
                f"skipped {ref.database}.{ref.name}: location "
                f"{info.location} is outside the storage root"
            )
            return None
        delta = plan.changes.deltas.get(ref.ident)
        if delta is not None:
            delta.upserts = list(self._inside(info, delta.upserts, result))
            return info, None, delta
        rows = catalog.partition_rows(ref.database, ref.name)
        return info, self._inside(info, rows, result), None

    def _write(
        self,
        domain: Domain,
        plan: _Plan,
        ref: TableRef,
        info: TableInfo,
        parts: Sequence[PartitionRow] | None,
        delta: PartitionDelta | None,
        *,
        result: SyncResult,
    ) -> None:
        """One table's central change, its events and alerts: one transaction."""
        with self.store.write() as conn:
            applied = apply.apply_table(
                conn, domain.name, domain.id, info, parts, delta, actor=self.actor
            )
            if applied.changed:
                audit.record(
                    conn,
                    principal=self.actor,
                    action="sync.apply",
                    resource=_fq(domain, ref.ident),
                    outcome="ok",
                    details={
                        "created": applied.created,
                        "fields": applied.changed_fields,
                        "partitions": [
                            applied.partitions_added,
                            applied.partitions_changed,
                            applied.partitions_removed,
                        ],
                    },
                )
            breaking = [c for c in applied.schema_changes if c.breaking]
            if breaking:
                raise_alert(
                    conn,
                    domain.id,
                    "warning",
                    "schema.breaking",
                    f"{_fq(domain, ref.ident)}: breaking schema change "
                    + ", ".join(f"{c.kind} {c.column or ''}".strip() for c in breaking),
                )
        if applied.created:
            result.tables_added += 1
        elif applied.changed:
            result.tables_updated += 1
            if (
                result.drift is not None
                and ref.ident in plan.known
                and plan.known[ref.ident] == ref.version
            ):
                result.drift["stale"].append(_fq(domain, ref.ident))  # same mark, other content
        else:
            result.tables_unchanged += 1
        if any(c.breaking for c in applied.schema_changes):
            result.breaking_changes.append(_fq(domain, ref.ident))
        result.partitions_added += applied.partitions_added
        result.partitions_changed += applied.partitions_changed
        result.partitions_removed += applied.partitions_removed

    @staticmethod
    def _inside(info: TableInfo, parts: Sequence[R], result: SyncResult) -> Sequence[R]:
        """Partitions must lie under their table's location (SPEC 2.5): a lexical prefix
        with no '..' component. The table location itself was checked against the root."""
        prefix = info.location.rstrip("/") + "/"
        bad = [
            p
            for p in parts
            if not p[2].startswith(prefix)
            or (".." in p[2] and ".." in p[2][len(prefix) :].split("/"))
        ]
        if not bad:
            return parts
        result.warnings.append(
            f"skipped {len(bad)} partition(s) of {info.database}."
            f"{info.name} located outside the table"
        )
        drop = {p[0] for p in bad}
        return [p for p in parts if p[0] not in drop]

    def _tick(self, domain: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(domain, done, total)

    # ------------------------------------------------------------------ bookkeeping

    def _begin(self, domain: Domain) -> str | None:
        with self.store.read() as conn:
            return conn.execute(
                select(t.sync_state.c.cursor).where(t.sync_state.c.domain_id == domain.id)
            ).scalar()

    def _central_marks(self, domain: Domain) -> dict[tuple[str, str], str]:
        ct, dbs = t.catalog_tables, t.databases
        with self.store.read() as conn:
            rows = conn.execute(
                select(dbs.c.name, ct.c.name, ct.c.source_version)
                .join(dbs, dbs.c.id == ct.c.database_id)
                .where(ct.c.domain_id == domain.id)
            )
            return {(db, name): v for db, name, v in rows}

    def _start_run(self, domain: Domain, mode: Mode) -> int:
        stamp = now()
        with self.store.write() as conn:
            conn.execute(
                update(t.sync_state)
                .where(t.sync_state.c.domain_id == domain.id)
                .values(last_attempt_at=stamp)
            )
            return int(
                conn.execute(
                    insert(t.sync_runs)
                    .values(
                        domain_id=domain.id,
                        mode=mode,
                        status="running",
                        started_at=stamp,
                    )
                    .returning(t.sync_runs.c.id)
                ).scalar_one()
            )

    def _finish(self, domain: Domain, run_id: int, result: SyncResult, cursor: str | None) -> None:
        """Record how the run ended. The domain's state, its alerts, the events, the audit
        record and the run row commit in one transaction: none is seen without the rest."""
        stamp = now()
        with self.store.write() as conn:
            if result.status == "ok":
                _resolve_sync_alerts(conn, domain, stamp)
                self._emit_completed(conn, domain, result)
            elif result.status in ("failed", "refused"):
                self._alert_failure(conn, domain, result)
            _save_state(conn, domain, _state_after(result, cursor, stamp))
            self._audit_run(conn, domain, result)
            _close_run(conn, run_id, result, stamp)

    def _emit_completed(self, conn: Connection, domain: Domain, result: SyncResult) -> None:
        """A successful run is an event only when it changed something, or was a full
        repair (its drift report is news even when nothing changed): the quiet runs of
        ``sync --watch`` must not flood the event log."""
        if result.changed or result.mode == "full":
            events.emit(
                conn,
                events.SyncCompleted(
                    domain=domain.name,
                    mode=result.mode,
                    summary=_counts(result),
                    actor=self.actor,
                ),
            )

    def _alert_failure(self, conn: Connection, domain: Domain, result: SyncResult) -> None:
        """A failed or refused run needs a person: it raises an alert (kept open until a
        run succeeds) and says why in an event."""
        raise_alert(
            conn, domain.id, "error", f"sync.{result.status}", f"{domain.name}: {result.error}"
        )
        event: events.Event = (
            events.SyncFailed(domain=domain.name, mode=result.mode, error=result.error or "")
            if result.status == "failed"
            else events.SyncRefused(domain=domain.name, mode=result.mode, reason=result.error or "")
        )
        events.emit(conn, event.model_copy(update={"actor": self.actor}))

    def _audit_run(self, conn: Connection, domain: Domain, result: SyncResult) -> None:
        """Every run is audited whatever its outcome (an interrupted one as aborted), with
        the counts of what it did land: a partial run changed the catalog too."""
        audit.record(
            conn,
            principal=self.actor,
            action=f"sync.{result.mode}",
            resource=domain.name,
            outcome=_AUDIT_OUTCOME[result.status],
            details=_counts(result) | {"error": result.error},
        )


@dataclass
class _Plan:
    changes: Changes
    removed: list[tuple[str, str]]
    known: dict[tuple[str, str], str]
    #: Where the domain cursor moves once every table of the plan has landed.
    cursor: str | None


_AUDIT_OUTCOME = {"ok": "ok", "failed": "failed", "refused": "refused", "interrupted": "aborted"}


def _fq(domain: Domain, ident: tuple[str, str]) -> str:
    return f"{domain.name}.{ident[0]}.{ident[1]}"


def _counts(r: SyncResult) -> dict[str, int]:
    return {
        k: getattr(r, k)
        for k in (
            "tables_added",
            "tables_updated",
            "tables_unchanged",
            "tables_removed",
            "partitions_added",
            "partitions_changed",
            "partitions_removed",
        )
    }


def _state_after(result: SyncResult, cursor: str | None, stamp: datetime) -> dict[str, Any]:
    """The domain's sync state after a run. Only a success moves the cursor, so a failed,
    refused or interrupted run is retried from where the last good one ended; an
    interrupted run leaves the state as it was (empty)."""
    if result.status == "ok":
        state: dict[str, Any] = {"status": "ok", "last_success_at": stamp, "last_error": None}
        if cursor:
            state["cursor"] = cursor
        if result.mode == "full" and result.drift is not None:
            state.update(last_full_at=stamp, drift=json.dumps(result.drift))
        return state
    if result.status in ("failed", "refused"):
        return {
            "status": "failed" if result.status == "failed" else "stale",
            "last_error": result.error,
            "last_error_at": stamp,
        }
    return {}


def _save_state(conn: Connection, domain: Domain, state: dict[str, Any]) -> None:
    """Write the domain's new sync state; an empty one leaves the row as it was."""
    if state:
        conn.execute(
            update(t.sync_state).where(t.sync_state.c.domain_id == domain.id).values(**state)
        )


def _resolve_sync_alerts(conn: Connection, domain: Domain, stamp: datetime) -> None:
    """A successful run closes the alerts earlier failed or refused runs raised: the
    problem they reported is over (other alerts, such as breaking changes, stay open)."""
    conn.execute(
        update(t.alerts)
        .where(
            t.alerts.c.domain_id == domain.id,
            t.alerts.c.resolved_at.is_(None),
            t.alerts.c.kind.in_(("sync.failed", "sync.refused")),
        )
        .values(resolved_at=stamp)
    )


def _close_run(conn: Connection, run_id: int, result: SyncResult, stamp: datetime) -> None:
    """The run's own row, one per sync, keeps its outcome and summary as history."""
    conn.execute(
        update(t.sync_runs)
        .where(t.sync_runs.c.id == run_id)
        .values(
            status=result.status,
            finished_at=stamp,
            error=result.error,
            summary=json.dumps(result.summary()),
        )
    )


def sync_status(store: Store) -> list[dict[str, Any]]:
    """Per domain: state, last success and error, lag, counts, last drift, open alerts."""
    d, s, ct, p, a = t.domains, t.sync_state, t.catalog_tables, t.partitions, t.alerts
    stamp = now()
    with store.read() as conn:
        tables: dict[int, int] = dict(
            conn.execute(select(ct.c.domain_id, func.count()).group_by(ct.c.domain_id)).all()
        )
        parts: dict[int, int] = dict(
            conn.execute(
                select(ct.c.domain_id, func.count())
                .select_from(p)
                .join(ct, ct.c.id == p.c.table_id)
                .group_by(ct.c.domain_id)
            ).all()
        )
        alerts: dict[int, int] = dict(
            conn.execute(
                select(a.c.domain_id, func.count())
                .where(a.c.resolved_at.is_(None))
                .group_by(a.c.domain_id)
            ).all()
        )
        rows = conn.execute(
            select(d.c.id, d.c.name, s).join(s, s.c.domain_id == d.c.id).order_by(d.c.name)
        ).all()
    out = []
    for r in rows:
        out.append(
            {
                "domain": r.name,
                "status": r.status,
                "last_success_at": r.last_success_at.isoformat() if r.last_success_at else None,
                "last_full_at": r.last_full_at.isoformat() if r.last_full_at else None,
                "last_error": r.last_error,
                "last_error_at": r.last_error_at.isoformat() if r.last_error_at else None,
                "lag_seconds": round((stamp - r.last_success_at).total_seconds(), 1)
                if r.last_success_at
                else None,
                "tables": tables.get(r.id, 0),
                "partitions": parts.get(r.id, 0),
                "drift": {k: len(v) for k, v in (json.loads(r.drift) or {}).items()} or None
                if r.drift
                else None,
                "open_alerts": alerts.get(r.id, 0),
            }
        )
    return out
