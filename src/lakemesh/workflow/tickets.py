"""Access requests as tickets: their rows, their history, and compare-and-set transitions.

A ticket is created ``pending`` (or decided at once by a rule) and moves only forward:
``pending -> approved | rejected``, ``approved -> revoked | expired``. Every move is one
``UPDATE ... WHERE id = ? AND version = ?`` in the caller's transaction together with a
history row, so two deciders racing on one version get exactly one winner: the loser's
update matches no row and becomes ``Conflict``, and its transaction (with everything
else it did) rolls back. What the approval provisions (grants), its audit record and its
event are written by the caller in that same transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from lakemesh.errors import Conflict, InvalidInput, NotFound
from lakemesh.store import tables as t
from lakemesh.typedef import Frozen, now

Status = Literal["pending", "approved", "rejected", "revoked", "expired"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "rejected", "revoked", "expired")
#: Statuses a ticket may leave, and where to.
MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"pending", "approved", "rejected"}),
    "approved": frozenset({"revoked", "expired"}),
}
MAX_REASON = 2000
MAX_COMMENT = 2000


class Route(Frozen):
    """Who decides a routed request and what a one-click approval may leave out."""

    to: str | tuple[str, ...] = "stewards"
    approvals: int = 1
    offer_exclude: tuple[str, ...] = ()


class Ticket(Frozen):
    id: str
    table: str
    #: The owning domain: its stewards decide.
    domain: str
    #: Who gets access: a user, or a domain when its admin asked for the domain.
    requester: str
    requester_domain: str
    requested_by: str
    #: The columns asked for; None: every column.
    columns: tuple[str, ...] | None
    reason: str
    duration: str | None
    status: Status
    version: int
    rule: str | None
    route: Route | None
    approvals: tuple[str, ...]
    exclude_columns: tuple[str, ...] | None
    row_filter: str | None
    grant_ids: tuple[str, ...]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @property
    def for_domain(self) -> bool:
        return "@" not in self.requester


class Entry(Frozen):
    """One line of a ticket's history."""

    at: datetime
    actor: str
    kind: str
    status: Status
    version: int
    comment: str | None
    details: dict[str, Any]


def new_id() -> str:
    return "r" + secrets.token_hex(6)


def check_reason(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("--reason is empty: say what the access is for")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"--reason is longer than {MAX_REASON} characters")
    return text


def check_comment(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"--comment is longer than {MAX_COMMENT} characters")
    return text or None


def check_id(text: str) -> str:
    """A request id as typed: ``r`` and twelve hex digits (anything else is unknown)."""
    text = text.strip()
    if len(text) != 13 or text[0] != "r" or any(c not in "0123456789abcdef" for c in text[1:]):
        raise NotFound(f"unknown request {text!r}")
    return text


def create(
    conn: Connection,
    *,
    table: str,
    domain: str,
    requester: str,
    requester_domain: str,
    requested_by: str,
    columns: Iterable[str] | None,
    reason: str,
    duration: str | None,
    rule: str | None,
    route: Route | None,
    comment: str | None = None,
    details: dict[str, Any] | None = None,
) -> Ticket:
    """Insert a new pending ticket and its first history line."""
    stamp = now()
    rid = new_id()
    conn.execute(
        insert(t.access_requests).values(
            id=rid,
            resource=table,
            domain=domain,
            requester=requester,
            requester_domain=requester_domain,
            requested_by=requested_by,
            columns=_dump(columns),
            reason=reason,
            duration=duration,
            status="pending",
            version=1,
            rule=rule,
            route=route.model_dump_json() if route else None,
            approvals="[]",
            grant_ids="[]",
            created_at=stamp,
            updated_at=stamp,
        )
    )
    _history(conn, rid, stamp, requested_by, "created", "pending", 1, comment, details or {})
    return get(conn, rid)


def get(conn: Connection, rid: str) -> Ticket:
    row = conn.execute(select(t.access_requests).where(t.access_requests.c.id == rid)).first()
    if row is None:
        raise NotFound(f"unknown request {rid!r}")
    return _ticket(row)


def move(
    conn: Connection,
    ticket: Ticket,
    *,
    actor: str,
    kind: str,
    status: Status,
    comment: str | None = None,
    details: dict[str, Any] | None = None,
    **values: Any,
) -> Ticket:
    """Move ``ticket`` to ``status`` if it is still at its version (compare-and-set);
    ``values`` are further columns to set (``approvals``, ``grant_ids``, ...)."""
    if status not in MOVES.get(ticket.status, frozenset()):
        raise Conflict(f"request {ticket.id} is {ticket.status}: it cannot become {status}")
    stamp = now()
    encoded = {k: _dump(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()}
    result = conn.execute(
        update(t.access_requests)
        .where(t.access_requests.c.id == ticket.id)
        .where(t.access_requests.c.version == ticket.version)
        .values(status=status, version=ticket.version + 1, updated_at=stamp, **encoded)
    )
    if result.rowcount != 1:
        current = get(conn, ticket.id)
        raise Conflict(
            f"request {ticket.id} changed meanwhile (it is {current.status} now, version "
            f"{current.version}): nothing was changed"
        )
    _history(
        conn, ticket.id, stamp, actor, kind, status, ticket.version + 1, comment, details or {}
    )
    return get(conn, ticket.id)


def history(conn: Connection, rid: str) -> list[Entry]:
    h = t.request_history
    rows = conn.execute(select(h).where(h.c.request_id == rid).order_by(h.c.id))
    return [
        Entry(
            at=r.at,
            actor=r.actor,
            kind=r.kind,
            status=r.status,
            version=r.version,
            comment=r.comment,
            details=json.loads(r.details),
        )
        for r in rows
    ]


def listing(
    conn: Connection,
    visible: Callable[[Ticket], bool],
    *,
    status: str | None = None,
    limit: int = 500,
) -> list[Ticket]:
    """Tickets ``visible`` lets the caller see, newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"invalid status {status!r}: expected one of {', '.join(STATUSES)}")
    r = t.access_requests
    q = select(r).order_by(r.c.created_at.desc(), r.c.id)
    if status is not None:
        q = q.where(r.c.status == status)
    out = []
    for row in conn.execute(q):
        ticket = _ticket(row)
        if visible(ticket):
            out.append(ticket)
            if len(out) >= limit:
                break
    return out


def open_for(conn: Connection, requester: str, table: str) -> Ticket | None:
    """The requester's pending request for ``table``, if any (one at a time)."""
    r = t.access_requests
    row = conn.execute(
        select(r)
        .where(r.c.requester == requester, r.c.resource == table, r.c.status == "pending")
        .limit(1)
    ).first()
    return _ticket(row) if row is not None else None


def due(conn: Connection, at: datetime, limit: int = 500) -> list[Ticket]:
    """Approved tickets whose access has expired by ``at``."""
    r = t.access_requests
    rows = conn.execute(
        select(r)
        .where(r.c.status == "approved", r.c.expires_at.is_not(None), r.c.expires_at <= at)
        .order_by(r.c.expires_at)
        .limit(limit)
    )
    return [_ticket(row) for row in rows]


def approved(conn: Connection, limit: int = 10000) -> list[Ticket]:
    r = t.access_requests
    rows = conn.execute(select(r).where(r.c.status == "approved").limit(limit))
    return [_ticket(row) for row in rows]


def grants_in_use(conn: Connection, but: Ticket) -> set[str]:
    """Grants that approved tickets other than ``but`` rely on: revoking ``but`` must
    leave them (two users of one domain may share the domain's grant). A grant is on one
    table, so only that table's tickets are read."""
    r = t.access_requests
    rows = conn.execute(
        select(r.c.grant_ids).where(
            r.c.resource == but.table, r.c.status == "approved", r.c.id != but.id
        )
    ).scalars()
    return {gid for text in rows for gid in json.loads(text)}


def _history(
    conn: Connection,
    rid: str,
    at: datetime,
    actor: str,
    kind: str,
    status: str,
    version: int,
    comment: str | None,
    details: dict[str, Any],
) -> None:
    conn.execute(
        insert(t.request_history).values(
            request_id=rid,
            at=at,
            actor=actor,
            kind=kind,
            status=status,
            version=version,
            comment=comment,
            details=json.dumps(details, sort_keys=True, default=str),
        )
    )


def _dump(values: Iterable[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def _load(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _ticket(row: Any) -> Ticket:
    return Ticket(
        id=row.id,
        table=row.resource,
        domain=row.domain,
        requester=row.requester,
        requester_domain=row.requester_domain,
        requested_by=row.requested_by,
        columns=_load(row.columns),
        reason=row.reason,
        duration=row.duration,
        status=row.status,
        version=row.version,
        rule=row.rule,
        route=Route.model_validate_json(row.route) if row.route else None,
        approvals=_load(row.approvals) or (),
        exclude_columns=_load(row.exclude_columns),
        row_filter=row.row_filter,
        grant_ids=_load(row.grant_ids) or (),
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )
