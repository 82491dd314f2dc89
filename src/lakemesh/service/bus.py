"""``mesh.bus``: the event bus of a mesh, its webhooks and subscriptions, and the worker.

The bus itself (``events.bus``) routes outbox rows by pattern rules and delivers them at
least once; this module says what the rules of a mesh are and how each kind of target
is reached:

* **built-in rules**: every request event goes to the inbox of the owning domain, of the
  requester and of the requester's domain; a domain's operational events (contract
  violations, breaking changes, schema changes, failed syncs, new classification
  recommendations) to its inbox; with mail configured, routed requests are mailed to
  their approvers with approval links and decisions to their requester;
* **webhooks** (``webhook add``): Standard Webhooks, signed, to allowed targets only;
* **subscriptions** (``subscribe``): a consumer's choice of inbox, e-mail or webhook for
  the events of a table it may read; whether it still may is checked at delivery.

``lakemesh worker`` (and, later, ``lakemesh serve``) runs ``Worker``: route, deliver,
expire, again. Nothing waits for it: an auto-approved request is usable at once.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from lakemesh.access.actions import MESH, Target, domain_admins
from lakemesh.access.authorizer import Authorizer
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.errors import BackendUnavailable, InvalidInput, NotFound
from lakemesh.events import bus, mail, webhooks
from lakemesh.events.bus import TOPICS, Backoff, Bus, Outcome, Rule
from lakemesh.events.patterns import Pattern
from lakemesh.service.commands.bus import AddTarget, Redrive, RemoveTarget
from lakemesh.store import tables as t

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh

#: How often the worker looks at the clock (expired and unused access), in seconds.
CLOCK_SECONDS = 1.0
#: How long routing may decide on the policy it read for its batch (seconds).
BATCH_POLICY = 1.0
DOMAIN_ACTIVITY = (
    "product.contract.violated",
    "product.breaking_change",
    "catalog.schema.changed",
    "sync.failed",
    "sync.refused",
    "classification.recommended",
)
_REQUESTS = {"type": [{"prefix": "request."}]}


def builtin_rules(with_mail: bool) -> list[Rule]:
    rules = [
        Rule("request-to-owning-domain", Pattern.parse(_REQUESTS), "inbox:@source"),
        Rule("request-to-requester", Pattern.parse(_REQUESTS), "inbox:@requester"),
        Rule("request-to-requester-domain", Pattern.parse(_REQUESTS), "inbox:@requester_domain"),
        Rule(
            "domain-activity",
            Pattern.parse({"type": list(DOMAIN_ACTIVITY)}),
            "inbox:@source",
        ),
    ]
    if with_mail:
        rules += [
            Rule(
                "mail-approvers",
                Pattern.parse(
                    {
                        "$or": [
                            {"type": ["request.created"], "detail": {"status": ["pending"]}},
                            {"type": ["request.approval_recorded"]},
                        ]
                    }
                ),
                "mail:approvers",
            ),
            Rule(
                "mail-requester",
                Pattern.parse(
                    {
                        "type": [
                            "request.approved",
                            "request.rejected",
                            "request.revoked",
                            "request.expired",
                        ]
                    }
                ),
                "mail:requester",
            ),
        ]
    return rules


class EventBus:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh
        s = mesh.settings.events
        self.bus = Bus(
            mesh.store,
            self._rules,
            {"webhook": self._webhook, "mail": self._mail},
            admit=self._admit,
            enrich=self._enrich,
            backoff=Backoff(s.retry_base_seconds, s.retry_cap_seconds, s.retry_window_seconds),
        )
        self._builtin = builtin_rules(mesh.settings.mail is not None)
        #: The policy as of the batch being routed, with when it was read: refreshed
        #: once per batch, not per event (routing must keep up with thousands of events a
        #: second); anything else reads the policy afresh.
        self._policy: tuple[Authorizer, float] | None = None

    def _authz(self) -> Authorizer:
        if self._policy is not None and time.monotonic() - self._policy[1] < BATCH_POLICY:
            return self._policy[0]
        return self._mesh.gate.authz()

    # ------------------------------------------------------------------ rules and targets

    def _rules(self, conn: Connection) -> Sequence[Rule]:
        self._policy = (self._mesh.gate.authz(), time.monotonic())
        e = t.event_targets
        rows = conn.execute(select(e).where(e.c.removed_at.is_(None)).order_by(e.c.created_at))
        extra = []
        for row in rows:
            kind = {"inbox": f"inbox:{row.owner}", "email": f"mail:{row.id}"}.get(
                row.kind, f"webhook:{row.id}"
            )
            extra.append(Rule(row.id, Pattern.parse(row.pattern), kind))
        return [*self._builtin, *extra]

    def _enrich(self, env: dict[str, Any]) -> None:
        """A table's tags on its events, so a rule can match ``{"tags": ["pii=true"]}``."""
        tm = self._authz().snapshot.tables.get(env["table"])
        if tm is None:
            return
        tags = {f"{k}={v}" for k, v in tm.table_tags.items()}
        tags |= {f"{k}={v}" for col in tm.column_tags.values() for k, v in col.items()}
        env["tags"] = sorted(tags)

    def _admit(self, owner: str, env: dict[str, Any]) -> bool:
        """A user's inbox gets a table's events only while the user holds access to it (a
        subscription outlives the access it was made with, and may be made before access
        is granted); request events about the user's own tickets always."""
        if "@" not in owner or env["type"].startswith("request."):
            return True
        table = env.get("table")
        if not table:
            return False
        authz = self._authz()
        if owner not in authz.snapshot.users:  # the user is gone
            return False
        return authz.check(owner, "SELECT", table).allowed

    def _target(self, target_id: str) -> Any:
        e = t.event_targets
        with self._mesh.store.read() as conn:
            return conn.execute(select(e).where(e.c.id == target_id)).first()

    def _webhook(self, target: str, env: dict[str, Any]) -> Outcome:
        self._policy = None  # a delivery decides on the policy as it is now
        row = self._target(target.partition(":")[2])
        if row is None or row.removed_at is not None:
            return Outcome(False, "the webhook was removed", retryable=False)
        if row.resource and not self._admit(row.owner, env):
            return Outcome(True)  # no longer allowed to see it: nothing to send
        s = self._mesh.settings.events
        body = json.dumps(_public(env), sort_keys=True, default=str)
        result = webhooks.deliver(
            row.url,
            row.secret,
            env["id"],
            body,
            timeout=s.webhook_timeout_seconds,
            allow_private=s.allow_private_targets,
        )
        return Outcome(result.ok, result.error, result.retryable)

    def _mail(self, target: str, env: dict[str, Any]) -> Outcome:
        self._policy = None  # a delivery decides on the policy as it is now
        settings = self._mesh.settings.mail
        if settings is None:
            return Outcome(False, "mail is not configured", retryable=False)
        name = target.partition(":")[2]
        try:
            if name == "approvers":
                self._mail_approvers(settings, env)
            elif name == "requester":
                self._mail_requester(settings, env)
            else:
                row = self._target(name)
                if row is None or row.removed_at is not None:
                    return Outcome(False, "the subscription was removed", retryable=False)
                if self._admit(row.owner, env):
                    subject = f"[lakemesh] {env['type']} {env.get('table') or ''}".strip()
                    text = json.dumps(_public(env), indent=2, sort_keys=True, default=str)
                    mail.send(settings, [row.address], subject, text, message_id=_msgid(env, name))
        except BackendUnavailable as exc:
            return Outcome(False, str(exc))
        except InvalidInput as exc:
            return Outcome(False, str(exc), retryable=False)
        return Outcome(True)

    def _addresses(self, names: Sequence[str]) -> dict[str, str]:
        u = t.users
        with self._mesh.store.read() as conn:
            rows = conn.execute(
                select(u.c.name, u.c.email).where(u.c.name.in_(list(names)), u.c.email.is_not(None))
            )
            return {r.name: r.email for r in rows}

    def _mail_approvers(self, settings: mail.SmtpSettings, env: dict[str, Any]) -> None:
        from lakemesh.service.commands.requests import approvers_of
        from lakemesh.service.requests import issue_links, read_ticket

        ticket = read_ticket(self._mesh, env["detail"]["request_id"])
        if ticket.status != "pending":
            return  # decided before the mail went out: nothing to ask

        session = self._mesh.gate.system_session()
        waiting = [a for a in approvers_of(session, ticket) if a not in ticket.approvals]
        for approver, address in self._addresses(waiting).items():
            found = issue_links(self._mesh, ticket, approver)
            columns = ", ".join(ticket.columns) if ticket.columns else "all columns"
            lines = [
                f"{ticket.requester} asks for access to {ticket.table} ({columns}).",
                "",
                f"Reason: {ticket.reason}",
                f"Duration: {ticket.duration or 'no expiry'}",
                f"Request: {ticket.id} (rule {ticket.rule or 'default'})",
                "",
                f"Approve: {found['approve']}",
            ]
            if "approve-exclude" in found and ticket.route:
                left = ", ".join(ticket.route.offer_exclude)
                lines.append(f"Approve without {left}: {found['approve-exclude']}")
            lines += [
                f"Reject: {found['reject']}",
                "",
                "Each link works once, for you only, until "
                f"{self._mesh.settings.workflow.link_ttl_seconds / 3600:g} hours after this "
                "mail was sent. Or decide with: lakemesh request approve|reject "
                f"{ticket.id} --as {approver}",
            ]
            mail.send(
                settings,
                [address],
                f"[lakemesh] access request {ticket.id}: {ticket.table}",
                "\n".join(lines),
                message_id=_msgid(env, approver),
            )

    def _mail_requester(self, settings: mail.SmtpSettings, env: dict[str, Any]) -> None:
        detail = env["detail"]
        requester = detail["requester"]
        if "@" in requester:
            names = [requester]
        else:  # a domain's request: its admins hear of it
            names = domain_admins(self._mesh.gate.authz().snapshot.users, requester)
        verb = env["type"].removeprefix("request.")
        comment = detail.get("comment")
        text = f"Your access request {detail['request_id']} for {detail['table']} was {verb}."
        if comment:
            text += f"\n\nComment: {comment}"
        for name, address in self._addresses(names).items():
            mail.send(
                settings,
                [address],
                f"[lakemesh] request {detail['request_id']} {verb}: {detail['table']}",
                text,
                message_id=_msgid(env, name),
            )

    # ------------------------------------------------------------------ operations

    def run_once(self, *, batch: int = 1000, clock: bool = True) -> dict[str, int]:
        """Route everything waiting, deliver what is due and (``clock``) end expired
        access: one pass of the worker. Returns counts."""
        routed = delivered = dead = 0
        try:
            while True:
                r = self.bus.route(batch)
                routed += r.events
                if r.events < batch:
                    break
        finally:
            self._policy = None
        d = self.bus.deliver()
        delivered, dead = d.delivered, d.dead
        expired = []
        if clock:
            expired = self._mesh.requests.expire_due() + self._mesh.requests.revoke_unused()
        return {
            "routed": routed,
            "delivered": delivered,
            "retried": d.retried,
            "dead": dead,
            "expired": len(expired),
        }

    def dead_letters(self, *, as_: str = MESH_ADMIN) -> list[dict[str, Any]]:
        session = self._mesh.gate.session(as_)
        session.require("events.read", MESH, audit_as="events.dlq")
        with session.read() as conn:
            return bus.dead_letters(conn)

    def redrive(self, ids: list[int] | None = None, *, as_: str = MESH_ADMIN) -> list[int]:
        return self._mesh.gate.session(as_).execute(Redrive(ids=tuple(ids) if ids else None))

    def backlog(self, *, as_: str = MESH_ADMIN) -> dict[str, int]:
        session = self._mesh.gate.session(as_)
        session.require("events.read", MESH, audit_as="events.read")
        with session.read() as conn:
            return self.bus.backlog(conn)

    def inbox(self, owner: str | None = None, *, as_: str = MESH_ADMIN) -> list[dict[str, Any]]:
        """An inbox: the caller's own, or its domain's (every member of a domain reads
        the domain's inbox; the mesh admin reads any)."""
        session = self._mesh.gate.session(as_)
        owner = owner or session.actor.name
        domain = owner.partition("@")[2] or owner
        where = Target("user", owner, domain) if "@" in owner else Target("domain", owner, domain)
        if not session.allowed("inbox.read", where):
            exc = NotFound(f"unknown inbox {owner!r}")
            session.refused("inbox.read", owner, exc)
            raise exc
        return session.audited(
            "inbox.read",
            owner,
            lambda conn: bus.read_inbox(conn, owner),
            lambda rows: {"results": len(rows)},
        )

    # ------------------------------------------------------------------ targets

    def add_webhook(self, url: str, pattern: str, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        """A webhook for the events ``pattern`` matches; its signing secret is in the
        result, the only time it is shown."""
        command = AddTarget(kind="webhook", url=url, pattern=pattern)
        return self._execute(command, as_)

    def _execute(self, command: AddTarget, as_: str) -> dict[str, Any]:
        allow = self._mesh.settings.events.allow_private_targets
        return self._mesh.gate.session(as_).execute(command.configured(allow_private=allow))

    def subscribe(
        self,
        table: str,
        *,
        topics: list[str] | None = None,
        via: str = "inbox",
        url: str | None = None,
        as_: str = MESH_ADMIN,
    ) -> dict[str, Any]:
        if via not in ("inbox", "email", "webhook"):
            raise InvalidInput(f"invalid --via {via!r}: expected inbox, email or webhook")
        command = AddTarget(
            kind=via,
            table=table,
            topics=tuple(topics) if topics else tuple(TOPICS),
            url=url,
        )
        return self._execute(command, as_)

    def targets(self, *, kind: str | None = None, as_: str = MESH_ADMIN) -> list[dict[str, Any]]:
        """Webhooks and subscriptions the caller owns (the mesh admin: all)."""
        session = self._mesh.gate.session(as_)
        e = t.event_targets

        def mine(row: Any) -> bool:
            domain = row.owner.partition("@")[2]
            return session.allowed("webhook.manage", Target("webhook", row.id, domain, row.owner))

        def read(conn: Connection) -> list[dict[str, Any]]:
            q = select(e).where(e.c.removed_at.is_(None)).order_by(e.c.created_at)
            if kind is not None:
                q = (
                    q.where(e.c.kind == kind)
                    if kind != "subscription"
                    else q.where(e.c.resource.is_not(None))
                )
            return [_target_dict(r) for r in conn.execute(q) if mine(r)]

        return session.audited("events.targets", None, read, lambda rows: {"results": len(rows)})

    def remove(self, target_id: str, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        return self._mesh.gate.session(as_).execute(RemoveTarget(target_id=target_id))


class Worker:
    """``lakemesh worker``: the bus and the clock, until stopped."""

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh
        self.stopped = threading.Event()

    def run(self, *, once: bool = False, on_pass: Any = None) -> dict[str, int]:
        """Pass after pass: routing and delivery as often as ``worker_interval_seconds``
        when idle (an event is handled within about that long of its commit), the clock
        (expiry, unused access) at most every ``CLOCK_SECONDS``."""
        totals: dict[str, int] = {}
        interval = self._mesh.settings.events.worker_interval_seconds
        ticked = -math.inf
        while not self.stopped.is_set():
            clock = time.monotonic() - ticked >= CLOCK_SECONDS
            if clock:
                ticked = time.monotonic()
            done = self._mesh.bus.run_once(clock=clock)
            for k, v in done.items():
                totals[k] = totals.get(k, 0) + v
            if on_pass is not None:
                on_pass(done)
            if once:
                break
            if not any(done.values()):
                self.stopped.wait(interval)
        return totals


def _public(env: dict[str, Any]) -> dict[str, Any]:
    """What a webhook or mail carries: the event, without the outbox's row number."""
    return {k: v for k, v in env.items() if k != "seq"}


def _msgid(env: dict[str, Any], who: str) -> str:
    """A stable Message-ID per event and recipient: a retried mail is recognisably the
    same mail."""
    safe = "".join(c if c.isalnum() else "." for c in who)
    return f"<{env['id']}.{safe}@lakemesh>"


def _target_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "owner": row.owner,
        "pattern": json.loads(row.pattern),
        "url": row.url,
        "address": row.address,
        "table": row.resource,
        "created_at": row.created_at.isoformat(),
    }
