"""Commands of the access-request workflow: create, approve, reject, revoke.

Each runs like every command (``Session.execute``): the action registry decides
(``request.create|decide|revoke``), the precondition checks the ticket is still where the
caller saw it, and ``apply`` moves the ticket by compare-and-set on its version
(``workflow.tickets.move``) while provisioning or revoking the grants it stands for, in
the one transaction that also writes the audit record and the events. So an approval is
never half done: the ticket is approved exactly when its grants exist.

What an approval provisions (``provision``): access for the requester, and where the
two-level delegation needs it, for the requester's domain too (a user's access is bounded
by its domain's: SPEC 1), each a ``SELECT`` grant on the table with the approved columns,
row filter and expiry. A request by a domain's admin for the domain gets one grant to the
domain, with grant option, so the admin can pass it on to the domain's users.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import PrivateAttr
from sqlalchemy import Connection

from lakemesh import events
from lakemesh.access import actions
from lakemesh.access.actions import Reason, Target
from lakemesh.access.authorizer import Decision
from lakemesh.access.principals import SYSTEM, User
from lakemesh.access.snapshot import TableMeta, changed
from lakemesh.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakemesh.service.commands.base import Applied, Command
from lakemesh.service.commands.provisioning import provision, subscribe_holder, take_back
from lakemesh.typedef import TableName, now
from lakemesh.workflow import links, tickets
from lakemesh.workflow.rules import RequestFacts, RuleSet, describe
from lakemesh.workflow.rules import parse_duration as rule_duration
from lakemesh.workflow.tickets import Route, Ticket

if TYPE_CHECKING:
    from lakemesh.service.session import Session

#: Who provisions an automatic approval (the rule decided; the central node acts).
AUTO = User(SYSTEM, "central", "member")


def parse_duration(text: str | None) -> tuple[str | None, timedelta | None]:
    """A request's duration: ``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (a length, not a
    date: the clock starts at approval), read as the approval rules read theirs."""
    if text is None:
        return None, None
    text = text.strip().lower()
    try:
        length = rule_duration(text)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("invalid duration", "invalid --duration", 1)) from None
    if length > timedelta(days=3660):
        raise InvalidInput(f"invalid --duration {text!r}: at most ten years")
    return text, length


def table_meta(session: Session, name: str) -> TableMeta:
    """A table the actor may see (DESCRIBE: a grant, the owning domain, or discovery of
    a registered product); anything else reads as unknown (SPEC 2.8)."""
    tm = session.snapshot.tables.get(name)
    if tm is None or not session.allowed("DESCRIBE", name):
        raise NotFound(f"unknown table {name}")
    return tm


def ticket_target(session: Session, ticket: Ticket) -> Target:
    """The ticket as the resource ``request.*`` decide on; a ticket the actor may not read
    is refused exactly like one that does not exist."""
    target = Target(
        "request",
        ticket.id,
        ticket.domain,
        granted_by=ticket.requested_by,
        grantee=ticket.requester,
    )
    if not session.allowed("request.read", target):
        raise NotFound(f"unknown request {ticket.id!r}")
    return target


def facts(
    tm: TableMeta,
    *,
    requester: str,
    requester_domain: str,
    role: str,
    columns: tuple[str, ...] | None,
    length: timedelta | None,
) -> RequestFacts:
    """What the approval rules decide on: the request, and the table's tags as they are
    now (the rules read tags, never data)."""
    return RequestFacts(
        table=tm.name,
        domain=tm.domain,
        requester=requester,
        requester_domain=requester_domain,
        requester_role=role,
        columns=columns or tm.columns,
        all_columns=columns is None,
        column_tags={c: dict(tm.column_tags.get(c, {})) for c in tm.columns},
        table_tags=dict(tm.table_tags),
        duration=length,
    )


class CreateRequest(Command[Ticket]):
    command: Literal["request.create"] = "request.create"
    action = "request.create"
    table: str
    columns: tuple[str, ...] | None = None
    reason: str
    duration: str | None = None
    #: Asked by a domain's admin for the whole domain (else for the actor).
    for_domain: bool = False

    @property
    def resource(self) -> str:
        return self.table

    _rules: RuleSet | None = PrivateAttr(default=None)
    _tm: TableMeta | None = PrivateAttr(default=None)

    def with_rules(self, rules: RuleSet) -> CreateRequest:
        self._rules = rules
        return self

    def target(self, session: Session, conn: Connection) -> Target:
        name = str(TableName.parse(self.table))
        self._tm = table_meta(session, name)
        actor = session.actor
        requester = actor.domain if self.for_domain else actor.name
        return Target("table", name, self._tm.domain, granted_by=actor.name, grantee=requester)

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        tm = self._tm
        assert tm is not None
        assert target.grantee is not None
        tickets.check_reason(self.reason)
        parse_duration(self.duration)
        if self.columns is not None:
            if not self.columns:
                raise InvalidInput("--columns is empty: leave the option out to mean every column")
            unknown = [c for c in self.columns if c not in tm.colset]
            if unknown:
                raise InvalidInput(f"unknown column {unknown[0]} in {tm.name}")
        if self.for_domain and session.actor.domain == tm.domain:
            raise InvalidInput(f"domain {tm.domain} owns {tm.name}: it needs no request")
        open_ = tickets.open_for(conn, target.grantee, tm.name)
        if open_ is not None:
            raise Conflict(f"request {open_.id} for {tm.name} is already pending")

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[Ticket]:
        tm, rules = self._tm, self._rules
        assert tm is not None
        assert rules is not None
        assert target.grantee is not None
        actor = session.actor
        duration, length = parse_duration(self.duration)
        columns = None if self.columns is None else tuple(dict.fromkeys(self.columns))
        outcome = rules.evaluate(
            facts(
                tm,
                requester=target.grantee,
                requester_domain=actor.domain,
                role=actor.role,
                columns=columns,
                length=length,
            )
        )
        route = None
        if outcome.kind == "route":
            to = route_of(session, tm.domain, outcome.route_to)
            route = Route(
                to=to,
                approvals=min(outcome.approvals, len(to))
                if isinstance(to, tuple)
                else outcome.approvals,
                offer_exclude=outcome.offer_exclude,
            )
        ticket = tickets.create(
            conn,
            table=tm.name,
            domain=tm.domain,
            requester=target.grantee,
            requester_domain=actor.domain,
            requested_by=actor.name,
            columns=columns,
            reason=tickets.check_reason(self.reason),
            duration=duration,
            rule=outcome.rule,
            route=route,
            comment=tickets.check_reason(self.reason),
            details={"outcome": describe(outcome), "explanation": list(outcome.explanation)},
        )
        status = {"approve": "approved", "reject": "rejected"}.get(outcome.kind, "pending")
        created = events.RequestCreated(
            domain=tm.domain,
            actor=actor.name,
            request_id=ticket.id,
            table=tm.name,
            requester=ticket.requester,
            requester_domain=ticket.requester_domain,
            columns=list(columns) if columns is not None else None,
            status=status,
            rule=outcome.rule,
            duration=duration,
            approvers=approvers_of(session, ticket) if status == "pending" else [],
        )
        events.emit(conn, created)  # first: the decision's events follow it on the bus
        if outcome.kind == "approve":
            ticket = approve(
                session,
                conn,
                ticket,
                tm,
                approver=AUTO,
                authority=Reason("rule", outcome.rule or "default"),
                exclude=outcome.exclude_columns or None,
                row_filter=outcome.row_filter,
                comment=describe(outcome),
                rule=outcome.rule,
            )
        elif outcome.kind == "reject":
            ticket = tickets.move(
                conn,
                ticket,
                actor=SYSTEM,
                kind="rejected",
                status="rejected",
                comment=outcome.comment or describe(outcome),
                details={"rule": outcome.rule},
                decided_by=SYSTEM,
                decided_at=now(),
            )
            events.emit(conn, rejected_event(ticket, outcome.comment, outcome.rule))
        details = created.model_dump(mode="json", exclude={"actor"})
        return Applied(ticket, details={"event": created.type} | details)


def route_of(
    session: Session, domain: str, to: str | tuple[str, ...] | None
) -> str | tuple[str, ...]:
    """A rule's route, named people kept to those who may decide for ``domain``; a list
    with nobody left routes to the stewards."""
    if not isinstance(to, tuple):
        return to or "stewards"
    return tuple(actions.deciders(session.snapshot.users, domain, to)) or "stewards"


def approvers_of(session: Session, ticket: Ticket) -> list[str]:
    """Who may decide a routed ticket, by name (for the mail and the inbox)."""
    route = ticket.route or Route()
    found = actions.deciders(session.snapshot.users, ticket.domain, route.to)
    return [name for name in found if name not in (ticket.requested_by, ticket.requester)]


def check_route(session: Session, ticket: Ticket) -> None:
    """The ticket's route narrows who of the owning domain decides it."""
    route = ticket.route or Route()
    if not actions.decides(session.actor, ticket.domain, route.to):
        to = route.to
        who = ", ".join(to) if isinstance(to, tuple) else f"the {to} of {ticket.domain}"
        raise PermissionDenied(f"request {ticket.id} is decided by {who}")


def approve(
    session: Session,
    conn: Connection,
    ticket: Ticket,
    tm: TableMeta,
    *,
    approver: User,
    authority: Reason,
    exclude: tuple[str, ...] | None,
    row_filter: str | None,
    comment: str | None,
    rule: str | None = None,
) -> Ticket:
    """Provision the ticket's grants and move it to approved, emitting its events."""
    grant_ids, new, expires = provision(
        session, conn, ticket, tm, approver, authority, exclude, row_filter
    )
    ticket = tickets.move(
        conn,
        ticket,
        actor=approver.name,
        kind="approved",
        status="approved",
        comment=comment,
        details={
            "grants": grant_ids,
            "exclude_columns": list(exclude or ()),
            "row_filter": row_filter,
        },
        grant_ids=grant_ids,
        exclude_columns=list(exclude) if exclude else None,
        row_filter=row_filter,
        expires_at=expires,
        approvals=[*ticket.approvals, approver.name],
        decided_by=approver.name,
        decided_at=now(),
    )
    for g in new:
        changed(conn, "grant", g["id"])
        events.emit(conn, events.GrantCreated.of(g, g["resource"].split(".")[0], approver.name))
    if not ticket.for_domain:
        subscribe_holder(conn, ticket.requester, ticket.table)
    events.emit(
        conn,
        events.RequestApproved(
            domain=ticket.domain,
            actor=approver.name,
            request_id=ticket.id,
            table=ticket.table,
            requester=ticket.requester,
            requester_domain=ticket.requester_domain,
            grants=list(grant_ids),
            exclude_columns=list(exclude) if exclude else None,
            row_filter=row_filter,
            expires_at=expires.isoformat() if expires else None,
            rule=rule,
        ),
    )
    return ticket


def rejected_event(
    ticket: Ticket, comment: str | None, rule: str | None = None
) -> events.RequestRejected:
    return events.RequestRejected(
        domain=ticket.domain,
        request_id=ticket.id,
        table=ticket.table,
        requester=ticket.requester,
        requester_domain=ticket.requester_domain,
        comment=comment,
        rule=rule,
    )


class _OnTicket(Command[Ticket]):
    """A command on one existing ticket, read in the command's transaction; a ticket
    the actor may not read is refused as unknown (``ticket_target``)."""

    request_id: str
    comment: str | None = None

    @property
    def resource(self) -> str:
        return self.request_id

    _ticket: Ticket | None = PrivateAttr(default=None)

    def target(self, session: Session, conn: Connection) -> Target:
        self._ticket = tickets.get(conn, tickets.check_id(self.request_id))
        return ticket_target(session, self._ticket)


class _Decide(_OnTicket):
    action = "request.decide"
    #: An approval link's token: the decision it was issued for, by its approver.
    link: str | None = None

    _link: links.Link | None = PrivateAttr(default=None)

    def with_link(self, link: links.Link) -> _Decide:
        self._link = link
        return self

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        ticket = self._ticket
        assert ticket is not None
        tickets.check_comment(self.comment)
        if ticket.status != "pending":
            raise Conflict(f"request {ticket.id} is already {ticket.status}")
        check_route(session, ticket)
        if session.actor.name in ticket.approvals:
            raise Conflict(f"{session.actor.name} has already approved request {ticket.id}")
        link = self._link
        if link is not None:
            if link.request_id != ticket.id or link.approver != session.actor.name:
                raise PermissionDenied("invalid approval link")
            if link.version != ticket.version:
                raise Conflict(
                    f"request {ticket.id} changed since this link was sent: decide with "
                    "'lakemesh request' or the newest mail"
                )
            links.consume(conn, link)


class ApproveRequest(_Decide):
    command: Literal["request.approve"] = "request.approve"
    exclude_columns: tuple[str, ...] | None = None
    row_filter: str | None = None

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[Ticket]:
        ticket = self._ticket
        assert ticket is not None
        tm = session.snapshot.tables.get(ticket.table)
        if tm is None:
            raise Conflict(f"{ticket.table} is no longer in the catalog: reject the request")
        if self.exclude_columns is not None and not self.exclude_columns:
            raise InvalidInput("--exclude-columns is empty: leave the option out")
        if self.row_filter is not None and not self.row_filter.strip():
            raise InvalidInput("--row-filter is empty: leave the option out")
        comment = tickets.check_comment(self.comment)
        needed = (ticket.route or Route()).approvals
        if len(ticket.approvals) + 1 < needed:
            ticket = tickets.move(
                conn,
                ticket,
                actor=session.actor.name,
                kind="approval",
                status="pending",
                comment=comment,
                details={"approvals": len(ticket.approvals) + 1, "needed": needed},
                approvals=[*ticket.approvals, session.actor.name],
            )
            event: events.Event = events.RequestApprovalRecorded(
                domain=ticket.domain,
                request_id=ticket.id,
                table=ticket.table,
                requester=ticket.requester,
                approvals=len(ticket.approvals),
                needed=needed,
            )
            return Applied(ticket, event)
        ticket = approve(
            session,
            conn,
            ticket,
            tm,
            approver=session.actor,
            authority=decision.determined_by[0],
            exclude=self.exclude_columns,
            row_filter=self.row_filter,
            comment=comment,
        )
        return Applied(ticket, details={"status": ticket.status, "grants": ticket.grant_ids})


class RejectRequest(_Decide):
    command: Literal["request.reject"] = "request.reject"

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[Ticket]:
        ticket = self._ticket
        assert ticket is not None
        comment = tickets.check_comment(self.comment)
        ticket = tickets.move(
            conn,
            ticket,
            actor=session.actor.name,
            kind="rejected",
            status="rejected",
            comment=comment,
            decided_by=session.actor.name,
            decided_at=now(),
        )
        return Applied(ticket, rejected_event(ticket, comment))


class RevokeRequest(_OnTicket):
    command: Literal["request.revoke"] = "request.revoke"
    action = "request.revoke"

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        ticket = self._ticket
        assert ticket is not None
        if ticket.status != "approved":
            raise Conflict(
                f"request {ticket.id} is {ticket.status}: only approved access is revoked"
            )

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[Ticket]:
        ticket = self._ticket
        assert ticket is not None
        revoked = take_back(conn, ticket, session.actor.name)
        ticket = tickets.move(
            conn,
            ticket,
            actor=session.actor.name,
            kind="revoked",
            status="revoked",
            comment=tickets.check_comment(self.comment),
            details={"grants": revoked},
        )
        for gid in revoked:
            events.emit(
                conn,
                events.GrantRevoked(domain=ticket.domain, actor=session.actor.name, grant_id=gid),
            )
        event = events.RequestRevoked(
            domain=ticket.domain,
            request_id=ticket.id,
            table=ticket.table,
            requester=ticket.requester,
            requester_domain=ticket.requester_domain,
            grants=revoked,
        )
        return Applied(ticket, event)
