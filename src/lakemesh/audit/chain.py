"""The chain in the metadata store: appending a record, listing records, the head.

Appends run inside the caller's write transaction, so an operation and its record commit
or fail together; ``audit_head`` is locked for the append, so appends serialise and the
chain never forks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from lakemesh.audit.records import (
    OUTCOMES,
    AuditRecord,
    _details,
    _digest,
    _json,
    _tail,
    _unhex,
)
from lakemesh.errors import AuditChainBroken, Conflict, InvalidInput, StoreError
from lakemesh.store import Store
from lakemesh.store.tables import audit_head, audit_log
from lakemesh.typedef import now

# --------------------------------------------------------------------------- writing


#: Where the operation being recorded came from, for the records it writes: the HTTP API
#: sets ``{"via": "api", "correlation_id": ...}`` per request, so the id an error response
#: gives a client finds its audit records. Empty for the CLI and the Python API.
ORIGIN: ContextVar[dict[str, str] | None] = ContextVar("lakemesh_audit_origin", default=None)


def record(
    conn: Connection,
    *,
    principal: str,
    action: str,
    resource: str | None,
    outcome: str,
    details: dict[str, Any],
) -> int:
    """Append one record inside the caller's write transaction; any failure fails it too."""
    _check_text(principal, "principal", 200)
    _check_text(action, "action", 64)
    if resource is not None:
        _check_text(resource, "resource", 2000)
    if outcome not in OUTCOMES:
        raise InvalidInput(f"invalid audit outcome {outcome!r}: expected {sorted(OUTCOMES)}")
    if not isinstance(details, dict):
        raise InvalidInput("audit details must be a JSON object")
    origin = ORIGIN.get()
    if origin:
        details = {"origin": origin} | details
    try:  # through a round trip, so the stored text is what verify will re-derive
        body = json.loads(_json(details))
        text = _json(body)
        text.encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit details are not JSON: {exc}") from exc
    head_seq, head_hash = _head(conn, lock=True)
    prev = _unhex(head_hash)
    if prev is None:
        raise AuditChainBroken("the audit chain head is corrupt: run 'lakemesh audit verify'")
    seq, ts = head_seq + 1, now()
    digest = _digest(prev, seq, _tail(ts, principal, action, resource, outcome, body, head_hash))
    values = {"principal": principal, "action": action, "resource": resource}
    values |= {"outcome": outcome, "details": text, "prev_hash": head_hash}
    conn.execute(insert(audit_log).values(seq=seq, ts=ts, hash=digest, **values))
    moved = conn.execute(
        update(audit_head)
        .where(audit_head.c.id == 1, audit_head.c.seq == head_seq)
        .values(seq=seq, hash=digest)
    )
    if moved.rowcount != 1:
        raise Conflict("the audit chain head moved during an append; retry")
    return seq


def _check_text(value: object, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"invalid audit {what}: expected 1-{limit} printable characters")


# --------------------------------------------------------------------------- reading


def list_records(
    store: Store,
    *,
    principal: str | None = None,
    resource: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Newest first. ``resource`` also matches what lies below it (``dom.db`` -> tables);
    ``since`` is inclusive and ``until`` exclusive."""
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000")
    log = audit_log.c
    query = select(audit_log).order_by(log.seq.desc()).limit(limit)
    for column, value in ((log.principal, principal), (log.action, action), (log.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if resource is not None:
        below = resource + "."  # substr, not LIKE: no wildcards, case-sensitive on SQLite too
        query = query.where(
            or_(log.resource == resource, func.substr(log.resource, 1, len(below)) == below)
        )
    for bound, when in (("since", since), ("until", until)):
        if when is not None and when.tzinfo is None:
            raise InvalidInput(f"{bound} must be a timezone-aware time")
        if when is not None:
            query = query.where(log.ts >= when if bound == "since" else log.ts < when)
    with store.read() as conn:
        return [_to_record(row) for row in conn.execute(query)]


def _to_record(row: Row[Any]) -> AuditRecord:
    # Built without validation: a tampered row must still list (verify reports it).
    details = _details(row.details)
    return AuditRecord.model_construct(
        **{k: getattr(row, k) for k in AuditRecord.model_fields if k != "details"},
        details=details if details is not None else {"unreadable": row.details},
    )


def _head(conn: Connection, *, lock: bool = False) -> tuple[int, str]:
    """The chain head; ``lock`` takes FOR UPDATE on PostgreSQL (on SQLite the write
    transaction already holds the database's write lock), so appends serialise."""
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise StoreError("the audit chain head is missing: the store is not migrated")
    return int(row.seq), str(row.hash)


def _rows(conn: Connection, after: int | None = None) -> Iterator[Row[Any]]:
    """The log in seq order, a page at a time (keyset pagination, so memory stays flat).

    The page size is the package's ``_CHUNK``, read on every walk so that tests can
    shrink it (``monkeypatch.setattr(audit, "_CHUNK", 4)``) and exercise the paging."""
    from lakemesh import audit

    query = select(audit_log).order_by(audit_log.c.seq).limit(audit._CHUNK)
    while True:
        page = conn.execute(query if after is None else query.where(audit_log.c.seq > after))
        rows = page.all()
        yield from rows
        if len(rows) < audit._CHUNK:
            return
        after = rows[-1].seq
