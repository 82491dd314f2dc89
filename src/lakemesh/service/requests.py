"""``mesh.requests`` and ``mesh.rules``: access requests as tickets, decided by rules.

A request is created by a typed command (``service.commands.requests``) that evaluates
the approval rules in force and, when they approve, provisions the grants in the same
transaction: the auto-approval path waits for no worker, and the next query works.
Routed requests wait for their approvers (CLI, HTTP API, or a link from the approval
mail); approved access ends when its duration runs out (``expire_due``, run by the
worker) or when it is revoked.

The rules in force come from ``<home>/rules.yaml`` (``settings.workflow.rules_file``):
each version that validates is recorded in the store and used; a file that does not
validate raises an alert and the last good version stays in force, in every process.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from lakemesh import audit, events, keys
from lakemesh.access.principals import MESH_ADMIN, SYSTEM
from lakemesh.errors import InvalidInput, LakemeshError, NotFound, PermissionDenied
from lakemesh.events.alerts import raise_alert
from lakemesh.service.commands.provisioning import take_back
from lakemesh.service.commands.requests import (
    ApproveRequest,
    CreateRequest,
    RejectRequest,
    RevokeRequest,
    facts,
    parse_duration,
    table_meta,
    ticket_target,
)
from lakemesh.store import insert_new
from lakemesh.store import tables as t
from lakemesh.typedef import TableName, now
from lakemesh.workflow import links, tickets
from lakemesh.workflow.rules import DEFAULT_RULES, Outcome, RuleSet, describe, load_rules
from lakemesh.workflow.tickets import Entry, Ticket

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh

DEFAULT_SOURCE = "(default rules)"
_parsed: dict[str, RuleSet] = {}
_parsed_lock = threading.Lock()


def _parse(text: str, source: str) -> RuleSet:
    digest = hashlib.sha256(text.encode()).hexdigest()
    with _parsed_lock:
        hit = _parsed.get(digest)
    if hit is None:
        hit = load_rules(text, source)
        with _parsed_lock:
            _parsed[digest] = hit
    return hit


def rules_file(mesh: Mesh) -> Path:
    return mesh.home / mesh.settings.workflow.rules_file


def rules_in_force(mesh: Mesh) -> RuleSet:
    """The rules requests are decided by now; a changed file that validates is recorded
    (and announced), one that does not raises an alert and changes nothing."""
    path = rules_file(mesh)
    try:
        text, source = path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        text, source = DEFAULT_RULES, DEFAULT_SOURCE
    except (OSError, UnicodeDecodeError) as exc:
        text, source = None, str(path)
        problem = f"cannot read {path}: {exc}"
    digest = hashlib.sha256(text.encode()).hexdigest() if text is not None else None
    r = t.approval_rules
    with mesh.store.read() as conn:
        latest = conn.execute(select(r).order_by(r.c.loaded_at.desc(), r.c.id.desc())).first()
    if latest is not None and latest.digest == digest:
        return _parse(latest.text, latest.source)
    if text is not None:
        try:
            rules = _parse(text, source)
        except InvalidInput as exc:
            problem = str(exc)
        else:
            _record(mesh, rules, text, source)
            return rules
    _alert_once(mesh, f"{problem}; the previous approval rules stay in force")
    if latest is not None:
        return _parse(latest.text, latest.source)
    return _parse(DEFAULT_RULES, DEFAULT_SOURCE)


def _record(mesh: Mesh, rules: RuleSet, text: str, source: str) -> None:
    """Make ``rules`` the version in force, once: processes that read the changed file at
    the same moment (several API workers) record, audit and announce it only once; the
    losers find it in force already and do nothing."""
    r = t.approval_rules
    with mesh.store.write() as conn:
        stamp = now()
        row = {"digest": rules.digest, "source": source, "text": text, "loaded_at": stamp}
        if not insert_new(conn, r, [row]):  # an earlier version again, or another process
            latest = conn.execute(
                select(r.c.digest).order_by(r.c.loaded_at.desc(), r.c.id.desc()).limit(1)
            ).scalar_one()
            if latest == rules.digest:
                return  # recorded by another process since this one looked
            conn.execute(update(r).where(r.c.digest == rules.digest).values(loaded_at=stamp))
        audit.record(
            conn,
            principal=SYSTEM,
            action="rules.load",
            resource=source,
            outcome="ok",
            details={"digest": rules.digest, "rules": len(rules.rules)},
        )
        events.emit(
            conn, events.RulesLoaded(source=source, digest=rules.digest, rules=len(rules.rules))
        )


def _alert_once(mesh: Mesh, message: str) -> None:
    a = t.alerts
    with mesh.store.write() as conn:
        seen = conn.execute(
            select(func.count())
            .select_from(a)
            .where(a.c.kind == "workflow.rules", a.c.message == message, a.c.resolved_at.is_(None))
        ).scalar_one()
        if not seen:
            raise_alert(conn, None, "error", "workflow.rules", message)


class Requests:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def create(
        self,
        table: str,
        *,
        reason: str,
        columns: builtins.list[str] | None = None,
        duration: str | None = None,
        for_domain: bool = False,
        as_: str = MESH_ADMIN,
    ) -> Ticket:
        """Ask for access; the rules in force decide at once or route it."""
        command = CreateRequest(
            table=table,
            columns=tuple(columns) if columns is not None else None,
            reason=reason,
            duration=duration,
            for_domain=for_domain,
        ).with_rules(rules_in_force(self._mesh))
        return self._mesh.gate.session(as_).execute(command)

    def list(self, *, status: str | None = None, as_: str = MESH_ADMIN) -> builtins.list[Ticket]:
        """The tickets the caller may see (its own, its domain's as its admin, the
        owning domain's as its steward), newest first."""
        session = self._mesh.gate.session(as_)

        def visible(ticket: Ticket) -> bool:
            try:
                ticket_target(session, ticket)
            except NotFound:
                return False
            return True

        return session.audited(
            "request.list",
            None,
            lambda conn: tickets.listing(conn, visible, status=status),
            lambda rows: {"results": len(rows), "status": status},
        )

    def show(
        self, request_id: str, *, as_: str = MESH_ADMIN
    ) -> tuple[Ticket, builtins.list[Entry]]:
        """A ticket and its history; one the caller may not see reads as unknown."""
        session = self._mesh.gate.session(as_)

        def read(conn: Connection) -> tuple[Ticket, builtins.list[Entry]]:
            ticket = tickets.get(conn, tickets.check_id(request_id))
            ticket_target(session, ticket)
            return ticket, tickets.history(conn, ticket.id)

        return session.audited("request.read", request_id, read)

    def approve(
        self,
        request_id: str,
        *,
        exclude_columns: builtins.list[str] | None = None,
        row_filter: str | None = None,
        comment: str | None = None,
        as_: str = MESH_ADMIN,
    ) -> Ticket:
        command = ApproveRequest(
            request_id=request_id,
            exclude_columns=tuple(exclude_columns) if exclude_columns is not None else None,
            row_filter=row_filter,
            comment=comment,
        )
        return self._mesh.gate.session(as_).execute(command)

    def reject(
        self, request_id: str, *, comment: str | None = None, as_: str = MESH_ADMIN
    ) -> Ticket:
        return self._mesh.gate.session(as_).execute(
            RejectRequest(request_id=request_id, comment=comment)
        )

    def revoke(
        self, request_id: str, *, comment: str | None = None, as_: str = MESH_ADMIN
    ) -> Ticket:
        return self._mesh.gate.session(as_).execute(
            RevokeRequest(request_id=request_id, comment=comment)
        )

    def follow(self, link: str, *, as_: str | None = None, comment: str | None = None) -> Ticket:
        """Record the decision an approval link was issued for, as its approver. ``as_``,
        when given, must be that approver (a link is not a way to act for someone else)."""
        key = keys.link_key(self._mesh.home)
        try:
            found = links.read(key, links.token_of(link))
        except LakemeshError as bad:
            self._mesh.gate.session(as_ or MESH_ADMIN).refused("request.link", None, bad)
            raise
        if as_ is not None and as_ != found.approver:
            other = PermissionDenied("this approval link was issued to another approver")
            self._mesh.gate.session(as_).refused("request.link", found.request_id, other)
            raise other
        session = self._mesh.gate.session(found.approver)
        command: ApproveRequest | RejectRequest
        if found.approves:
            command = ApproveRequest(
                request_id=found.request_id,
                exclude_columns=found.exclude_columns or None,
                comment=comment or "approved by e-mail link",
                link=link,
            )
        else:
            command = RejectRequest(
                request_id=found.request_id,
                comment=comment or "rejected by e-mail link",
                link=link,
            )
        command.with_link(found)
        return session.execute(command)

    # ------------------------------------------------------------------ the clock

    def expire_due(self) -> builtins.list[str]:
        """Approved access whose duration ran out becomes ``expired`` (its grants are
        revoked, the requester notified by the event); returns the ticket ids. The
        grants stopped working at their expiry already (checked at query start): this
        makes the ticket and the grant list say so."""
        with self._mesh.store.read() as conn:
            due = tickets.due(conn, now())
        return [tk.id for tk in due if self._end(tk, "expired")]

    def revoke_unused(self) -> builtins.list[str]:
        """With ``workflow.revoke_unused_days`` set: approved access not used (no query
        of the table by the requester, from the audit log) for that many days ends."""
        days = self._mesh.settings.workflow.revoke_unused_days
        if not days:
            return []
        since = now() - timedelta(days=days)
        a = t.audit_log
        ended = []
        with self._mesh.store.read() as conn:
            candidates = [
                tk for tk in tickets.approved(conn) if tk.decided_at and tk.decided_at <= since
            ]
            idle = [
                tk
                for tk in candidates
                if not conn.execute(
                    select(a.c.seq)
                    .where(
                        a.c.principal == tk.requester,
                        a.c.action == "query",
                        a.c.resource == tk.table,
                        a.c.ts >= since,
                    )
                    .limit(1)
                ).first()
            ]
        for tk in idle:
            if self._end(tk, "unused"):
                ended.append(tk.id)
        return ended

    def _end(self, ticket: Ticket, why: str) -> bool:
        try:
            with self._mesh.store.write() as conn:
                revoked = take_back(conn, ticket, SYSTEM)
                moved = tickets.move(
                    conn,
                    ticket,
                    actor=SYSTEM,
                    kind="expired",
                    status="expired",
                    comment="its duration ran out"
                    if why == "expired"
                    else "not used for the configured number of days",
                    details={"grants": revoked, "why": why},
                )
                audit.record(
                    conn,
                    principal=SYSTEM,
                    action="request.expire",
                    resource=moved.id,
                    outcome="ok",
                    details={"grants": revoked, "why": why, "table": moved.table},
                )
                for gid in revoked:
                    events.emit(conn, events.GrantRevoked(domain=moved.domain, grant_id=gid))
                events.emit(
                    conn,
                    events.RequestExpired(
                        domain=moved.domain,
                        request_id=moved.id,
                        table=moved.table,
                        requester=moved.requester,
                        requester_domain=moved.requester_domain,
                        grants=revoked,
                        why=why,
                    ),
                )
        except LakemeshError:  # decided meanwhile (revoked by hand): nothing to end
            return False
        return True


class Rules:
    """``lakemesh rules``: check a rule file, and ask what it would do with a request."""

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def in_force(self) -> RuleSet:
        return rules_in_force(self._mesh)

    def show(self, *, as_: str = MESH_ADMIN) -> RuleSet:
        """The rules in force, for a caller of the mesh (every user is subject to them,
        and may see what decides its requests); audited like any read of governance
        state."""
        session = self._mesh.gate.session(as_)
        rules = rules_in_force(self._mesh)
        return session.audited(
            "rules.show", rules.source, lambda conn: rules, lambda r: {"digest": r.digest}
        )

    def validate(self, text: str, source: str, *, as_: str = MESH_ADMIN) -> RuleSet:
        """Check rules given as text (the HTTP API never reads a file named by its
        client): every problem is reported with its line. Nothing is stored."""
        self._mesh.gate.session(as_)  # a known principal, or refused
        return load_rules(text, source)

    def test(
        self,
        text: str,
        source: str,
        *,
        table: str,
        columns: builtins.list[str] | None = None,
        duration: str | None = None,
        requester: str | None = None,
        for_domain: bool = False,
        as_: str = MESH_ADMIN,
    ) -> Outcome:
        """What ``text`` would decide for a request by ``requester`` (default: the
        caller), with the reasons; the caller must be able to see the table (the answer
        names its columns and tags)."""
        rules = load_rules(text, source)
        session = self._mesh.gate.session(as_)
        name = str(TableName.parse(table))
        tm = table_meta(session, name)
        who = session.snapshot.users.get(requester) if requester else session.actor
        if who is None:
            raise NotFound(f"unknown principal {requester!r}")
        if columns is not None:
            unknown = [c for c in columns if c not in tm.colset]
            if unknown:
                raise InvalidInput(f"unknown column {unknown[0]} in {tm.name}")
        _, length = parse_duration(duration)
        outcome = rules.evaluate(
            facts(
                tm,
                requester=who.domain if for_domain else who.name,
                requester_domain=who.domain,
                role=who.role,
                columns=tuple(columns) if columns is not None else None,
                length=length,
            )
        )
        session.audited(
            "rules.test",
            name,
            lambda conn: None,
            lambda _: {"outcome": describe(outcome), "source": source},
        )
        return outcome


def issue_links(mesh: Mesh, ticket: Ticket, approver: str) -> dict[str, str]:
    """Approval links for one approver of a pending ticket: approve, approve without the
    offered columns (when the route offers it), reject. The worker's part (it mails
    them), not an API: a link is a capability, made only for who the route names."""
    settings = mesh.settings.workflow
    key = keys.link_key(mesh.home)
    ttl = timedelta(seconds=settings.link_ttl_seconds)
    offered = ticket.route.offer_exclude if ticket.route else ()
    out: dict[str, str] = {}
    with mesh.store.write() as conn:
        for decision in ("approve", "approve-exclude", "reject"):
            if decision == "approve-exclude" and not offered:
                continue
            token = links.issue(
                conn,
                key,
                request_id=ticket.id,
                version=ticket.version,
                approver=approver,
                decision=decision,
                exclude_columns=offered if decision == "approve-exclude" else (),
                ttl=ttl,
            )
            out[decision] = links.url(settings.base_url, token)
    return out


def read_ticket(mesh: Mesh, request_id: str) -> Ticket:
    """A ticket as stored, without a session: for the worker's mail only (callers go
    through ``Requests.show``, which decides who may read it)."""
    with mesh.store.read() as conn:
        return tickets.get(conn, request_id)


def ticket_dict(ticket: Ticket, history: builtins.list[Entry] | None = None) -> dict[str, Any]:
    """A ticket as JSON output (and the HTTP API's body)."""
    out: dict[str, Any] = json.loads(ticket.model_dump_json())
    if history is not None:
        out["history"] = [json.loads(e.model_dump_json()) for e in history]
    return out
