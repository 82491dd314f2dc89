"""What an approved access request grants, and what revoking or ending it takes back.

Kept apart from the request commands (``requests``) because it is the one place where the
workflow touches the policy: which grants an approval needs for two-level delegation to
hold, which of them the ticket relies on, and which a revocation may remove without
taking away anything a person granted by hand or another request relies on.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from lakemesh.access import grants
from lakemesh.access.actions import Reason
from lakemesh.access.principals import CENTRAL, User
from lakemesh.access.snapshot import TableMeta, changed
from lakemesh.errors import Conflict, InvalidInput
from lakemesh.events.bus import TOPICS, subscription_pattern
from lakemesh.store import tables as t
from lakemesh.typedef import now
from lakemesh.workflow import tickets
from lakemesh.workflow.rules import parse_duration as _length
from lakemesh.workflow.tickets import Ticket

if TYPE_CHECKING:
    from lakemesh.service.session import Session

#: What an approved request grants.
ACTIONS = ("SELECT",)


def subscribe_holder(conn: Connection, user: str, table: str) -> None:
    """Who is given access hears of the table's changes in its inbox (new data, schema,
    contract, breaking changes) unless it already subscribed; ``unsubscribe`` ends it."""
    e = t.event_targets
    held = conn.execute(
        select(e.c.id).where(e.c.owner == user, e.c.resource == table, e.c.removed_at.is_(None))
    ).first()
    if held is None:
        conn.execute(
            insert(e).values(
                id="s" + secrets.token_hex(6),
                kind="inbox",
                owner=user,
                pattern=subscription_pattern(table, TOPICS).text,
                resource=table,
                created_at=now(),
            )
        )


def provision(
    session: Session,
    conn: Connection,
    ticket: Ticket,
    tm: TableMeta,
    approver: User,
    authority: Reason,
    exclude: tuple[str, ...] | None,
    row_filter: str | None,
) -> tuple[list[str], list[dict[str, Any]], datetime | None]:
    """The grants an approval needs: (ids the ticket relies on, grants made now, expiry).

    The requester's domain is granted only where it does not hold the columns already
    ("where required": a domain that holds them under a row filter keeps its filter). A
    grant that exists already with the same terms is relied on, not made again; it is
    listed as the ticket's only when another request made it (so revoking this ticket
    never takes away a grant somebody made by hand)."""
    wanted = list(ticket.columns or tm.columns)
    if exclude:
        unknown = [c for c in exclude if c not in tm.colset]
        if unknown:
            raise InvalidInput(f"unknown column {unknown[0]} in {tm.name}")
        wanted = [c for c in wanted if c not in exclude]
        if not wanted:
            raise InvalidInput("excluding those columns would leave nothing to grant")
    columns = None if ticket.columns is None and not exclude else sorted(wanted)
    length = _length(ticket.duration) if ticket.duration else None
    expires = (now() + length) if length is not None else None
    expiry = expires.isoformat() if expires is not None else None
    made_by_requests = tickets.grants_in_use(conn, ticket)
    ids: list[str] = []
    grantees: list[tuple[str, bool]] = []
    if ticket.for_domain:
        grantees.append((ticket.requester, True))
    else:
        if ticket.requester_domain not in (tm.domain, CENTRAL):  # neither has a ceiling
            held = session.authz.decide(ticket.requester_domain, "SELECT", tm.name)
            if held.allowed and set(wanted) <= set(held.columns):
                # The domain holds these columns already: its grant (with its row filter
                # and expiry, the owner's agreement with the domain) bounds the user's, as
                # two-level delegation says; the ticket relies on it if a request made it.
                ids += [r.id for r in held.determined_by if r.id in made_by_requests]
            else:
                grantees.append((ticket.requester_domain, False))
        grantees.append((ticket.requester, False))
    new: list[dict[str, Any]] = []
    for grantee, grantable in grantees:
        resolved = grants.resolve(
            conn,
            session.snapshot,
            grants.GrantRequest(
                actions=ACTIONS,
                principal=grantee,
                table=tm.name,
                columns=columns,
                row_filter=row_filter,
                grantable=grantable,
                expires=expiry,
            ),
        )
        g = grants.create(conn, session.snapshot, approver, resolved, authority)
        if not g.get("existing"):
            new.append(g)
            ids.append(g["id"])
        elif g["id"] in made_by_requests:
            ids.append(g["id"])
    return ids, new, expires


def take_back(conn: Connection, ticket: Ticket, actor: str) -> list[str]:
    """Revoke the grants a ticket made that no other approved ticket relies on (and what
    was delegated from them); returns every grant id revoked."""
    keep = tickets.grants_in_use(conn, ticket)
    revoked: list[str] = []
    for gid in ticket.grant_ids:
        if gid in keep:
            continue
        try:
            revoked += grants.revoke(conn, actor, gid)
        except Conflict:  # revoked by hand meanwhile: nothing left to take back
            continue
    for gid in revoked:
        changed(conn, "grant", gid)
    return revoked
