"""The classification loop's state: recommendations waiting for the owning domain's
stewards, and the decisions they took, rejections included.

A recommendation keeps what the classifier counted and why (``reason``), never a sampled
value (SPEC 2.9). Its life: ``pending`` -> ``accepted`` (the tag is assigned in the same
transaction) or ``rejected``; a pending one the classifier no longer supports (the column
is gone, the evidence went away) becomes ``superseded``.

**A rejection is remembered.** The same recogniser is not recommended again for that
column unless its data changed *materially* since the rejection, which here means:

* the column's type changed (``string`` -> ``int64``: other data now lives there), or
* the share of sampled values the recogniser accepts moved by at least
  ``MATERIAL_SHARE`` (25 percentage points) from the share it had when rejected, e.g. a
  ``notes`` column that was 10% e-mail addresses and is now 90%.

Resampling noise on unchanged data moves the share by a few points, never by 25.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, select, update

from lakemesh.classify.recognisers import ColumnResult, Finding
from lakemesh.store import tables as t
from lakemesh.typedef import now

#: How far the accepted share must move for a rejected recommendation to come back.
MATERIAL_SHARE = 0.25

PENDING, ACCEPTED, REJECTED, SUPERSEDED = "pending", "accepted", "rejected", "superseded"


@dataclass(frozen=True)
class Recommendation:
    id: int
    table: str
    column: str
    recogniser: str
    tag: str
    confidence: float
    reason: str
    sampled: int
    matched: int
    column_type: str
    status: str
    version: int
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None

    @property
    def domain(self) -> str:
        return self.table.partition(".")[0]

    @property
    def tag_key(self) -> str:
        return self.tag.partition("=")[0]

    @property
    def tag_value(self) -> str:
        return self.tag.partition("=")[2]

    @property
    def share(self) -> float:
        return self.matched / self.sampled if self.sampled else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confidence"] = round(self.confidence, 3)
        for key in ("created_at", "decided_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


_C = t.classifications
_COLUMNS = (
    _C,
    t.catalog_tables.c.full_name,
)


def _select() -> Any:
    return select(*_COLUMNS).join(t.catalog_tables, t.catalog_tables.c.id == _C.c.table_id)


def _rec(r: Row[Any]) -> Recommendation:
    return Recommendation(
        id=r.id,
        table=r.full_name,
        column=r.column,
        recogniser=r.recogniser,
        tag=f"{r.tag_key}={r.tag_value}",
        confidence=float(r.confidence),
        reason=r.reason,
        sampled=r.sampled,
        matched=r.matched,
        column_type=r.column_type,
        status=r.status,
        version=r.version,
        created_at=r.created_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        comment=r.comment,
    )


def material_change(rejected: Recommendation, finding: Finding, column_type: str) -> str | None:
    """Why the data changed materially since ``rejected`` (None: it did not)."""
    if column_type != rejected.column_type:
        return f"its type changed from {rejected.column_type} to {column_type}"
    share = finding.matched / finding.sampled if finding.sampled else 0.0
    if abs(share - rejected.share) >= MATERIAL_SHARE:
        return f"the share of matching values moved from {rejected.share:.0%} to {share:.0%}"
    return None


@dataclass
class Recorded:
    """What recording one classification run did."""

    new: list[Recommendation]
    refreshed: int = 0
    suppressed: int = 0  #: found again, but rejected before and not materially changed
    already_tagged: int = 0
    superseded: int = 0


def record(
    conn: Connection,
    table_id: int,
    table: str,
    results: Sequence[ColumnResult],
    column_types: Mapping[str, str],
    column_tags: Mapping[str, Mapping[str, str]],
) -> Recorded:
    """Write one run's findings for ``table``: new pending recommendations, refreshed
    pending ones, rejections honoured, stale pending ones superseded."""
    stamp = now()
    history: dict[tuple[str, str, str], Recommendation] = {}
    for rec in _latest(conn, table_id):
        history[(rec.column, rec.recogniser, rec.tag_key)] = rec
    out = Recorded(new=[])
    found: set[tuple[str, str, str]] = set()
    for result in results:
        ctype = column_types.get(result.column, "")
        for finding in result.findings:
            key, _, value = finding.tag.partition("=")
            ident = (result.column, finding.recogniser, key)
            found.add(ident)
            if column_tags.get(result.column, {}).get(key) == value:
                out.already_tagged += 1
                continue
            before = history.get(ident)
            reason = finding.reason
            if before is not None and before.status == PENDING:
                conn.execute(
                    update(_C)
                    .where(_C.c.id == before.id)
                    .values(
                        confidence=finding.confidence,
                        reason=reason,
                        sampled=finding.sampled,
                        matched=finding.matched,
                        column_type=ctype,
                    )
                )
                out.refreshed += 1
                continue
            if before is not None and before.status == ACCEPTED:
                continue  # the steward's decision stands; the tag was changed by hand since
            if before is not None and before.status == REJECTED:
                why = material_change(before, finding, ctype)
                if why is None:
                    out.suppressed += 1
                    continue
                reason = f"{reason} (rejected before, but {why})"
            rec_id = conn.execute(
                insert(_C)
                .values(
                    table_id=table_id,
                    column=result.column,
                    recogniser=finding.recogniser,
                    tag_key=key,
                    tag_value=value,
                    confidence=finding.confidence,
                    reason=reason,
                    sampled=finding.sampled,
                    matched=finding.matched,
                    column_type=ctype,
                    status=PENDING,
                    version=1,
                    created_at=stamp,
                )
                .returning(_C.c.id)
            ).scalar_one()
            out.new.append(
                Recommendation(
                    id=int(rec_id),
                    table=table,
                    column=result.column,
                    recogniser=finding.recogniser,
                    tag=finding.tag,
                    confidence=finding.confidence,
                    reason=reason,
                    sampled=finding.sampled,
                    matched=finding.matched,
                    column_type=ctype,
                    status=PENDING,
                    version=1,
                    created_at=stamp,
                )
            )
    classified = {r.column for r in results if r.skipped is None}
    stale = [
        rec.id
        for ident, rec in history.items()
        if rec.status == PENDING
        and ident not in found
        and (rec.column in classified or rec.column not in column_types)
    ]
    if stale:
        conn.execute(
            update(_C)
            .where(_C.c.id.in_(stale))
            .values(status=SUPERSEDED, decided_at=stamp, version=_C.c.version + 1)
        )
        out.superseded = len(stale)
    return out


def _latest(conn: Connection, table_id: int) -> Iterable[Recommendation]:
    """Each (column, recogniser, tag key)'s newest recommendation for the table."""
    rows = conn.execute(_select().where(_C.c.table_id == table_id).order_by(_C.c.id))
    latest: dict[tuple[str, str, str], Recommendation] = {}
    for r in rows:
        rec = _rec(r)
        latest[(rec.column, rec.recogniser, rec.tag_key)] = rec
    return latest.values()


def queue(conn: Connection, domains: Iterable[str] | None = None) -> list[Recommendation]:
    """Pending recommendations, optionally of some domains only, by table and column."""
    q = _select().where(_C.c.status == PENDING)
    if domains is not None:
        q = q.join(t.domains, t.domains.c.id == t.catalog_tables.c.domain_id).where(
            t.domains.c.name.in_(list(domains))
        )
    rows = conn.execute(q.order_by(t.catalog_tables.c.full_name, _C.c.column, _C.c.id))
    return [_rec(r) for r in rows]


def for_table(conn: Connection, table: str) -> list[Recommendation]:
    """Every recommendation ever made for ``table``, oldest first (for ``show``)."""
    rows = conn.execute(_select().where(t.catalog_tables.c.full_name == table).order_by(_C.c.id))
    return [_rec(r) for r in rows]


def pending_for(conn: Connection, table: str, column: str) -> list[Recommendation]:
    rows = conn.execute(
        _select()
        .where(
            t.catalog_tables.c.full_name == table,
            _C.c.column == column,
            _C.c.status == PENDING,
        )
        .order_by(_C.c.confidence.desc(), _C.c.id)
    )
    return [_rec(r) for r in rows]


def decide(
    conn: Connection,
    rec: Recommendation,
    status: str,
    by: str,
    comment: str | None = None,
) -> bool:
    """Compare-and-set ``rec`` from pending at its version to ``status``: False when
    another decision got there first."""
    done = conn.execute(
        update(_C)
        .where(and_(_C.c.id == rec.id, _C.c.version == rec.version, _C.c.status == PENDING))
        .values(
            status=status,
            version=rec.version + 1,
            decided_by=by,
            decided_at=now(),
            comment=comment,
        )
    )
    return done.rowcount == 1
