"""Commands of the event bus: add and remove webhooks and subscriptions, redrive the
dead-letter queue."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any, Literal

from pydantic import PrivateAttr
from sqlalchemy import Connection, insert, select, update

from lakemesh import events
from lakemesh.access.actions import MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.errors import Conflict, InvalidInput, NotFound
from lakemesh.events import bus, webhooks
from lakemesh.events.bus import TOPICS, subscription_pattern
from lakemesh.events.patterns import Pattern
from lakemesh.service.commands.base import Applied, Command
from lakemesh.store import tables as t
from lakemesh.typedef import TableName, now

if TYPE_CHECKING:
    from lakemesh.service.session import Session


class AddTarget(Command[dict[str, Any]]):
    """A webhook (``url`` + ``pattern``) or a subscription to a table's events (``table``
    + ``topics``, by inbox, e-mail or webhook)."""

    command: Literal["events.target.add"] = "events.target.add"
    action = "webhook.manage"
    kind: Literal["webhook", "inbox", "email"]
    url: str | None = None
    pattern: str | None = None
    table: str | None = None
    topics: tuple[str, ...] = ()

    @property
    def resource(self) -> str | None:
        return self.table or self.url

    _pattern: Pattern | None = PrivateAttr(default=None)
    _allow_private: bool = PrivateAttr(default=False)

    def configured(self, *, allow_private: bool) -> AddTarget:
        self._allow_private = allow_private
        return self

    def target(self, session: Session, conn: Connection) -> Target:
        actor = session.actor
        if self.table is not None:  # a subscription: anyone, to a table it may read
            name = str(TableName.parse(self.table))
            if not session.allowed("DESCRIBE", name):
                raise NotFound(f"unknown table {name}")
            bad = [x for x in self.topics if x not in TOPICS]
            if bad or not self.topics:
                raise InvalidInput(
                    f"invalid --events {','.join(bad) or '(none)'}: expected some of "
                    f"{', '.join(TOPICS)}"
                )
            self._pattern = subscription_pattern(name, self.topics)
            return Target("domain", actor.domain, actor.domain, granted_by=actor.name)
        if self.pattern is None or self.url is None:
            raise InvalidInput("a webhook needs a URL and --pattern JSON")
        pattern = Pattern.parse(self.pattern, "--pattern")
        if session.allowed("webhook.manage", MESH):
            self._pattern = pattern
            return MESH
        spec = json.loads(pattern.text)
        source = spec.get("source")
        if source is not None and source != [actor.domain]:
            raise InvalidInput(
                f'--pattern may only match events of your domain: use "source": '
                f'["{actor.domain}"] or leave "source" out'
            )
        self._pattern = Pattern.parse(spec | {"source": [actor.domain]}, "--pattern")
        return Target("domain", actor.domain, actor.domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        assert self._pattern is not None
        url, secret, address = None, None, None
        if self.kind == "webhook":
            if self.url is None:
                raise InvalidInput("--via webhook needs --url URL")
            webhooks.check_target(self.url, allow_private=self._allow_private)
            url, secret = self.url, webhooks.new_secret()
        elif self.kind == "email":
            address = conn.execute(
                select(t.users.c.email).where(t.users.c.name == session.actor.name)
            ).scalar_one_or_none()
            if not address:
                raise InvalidInput(
                    f"{session.actor.name} has no e-mail address: set one with "
                    "'lakemesh user email NAME ADDRESS'"
                )
        prefix = "w" if self.table is None else "s"
        tid = prefix + secrets.token_hex(6)
        conn.execute(
            insert(t.event_targets).values(
                id=tid,
                kind=self.kind,
                owner=session.actor.name,
                pattern=self._pattern.text,
                url=url,
                secret=secret,
                address=address,
                resource=str(TableName.parse(self.table)) if self.table else None,
                created_at=now(),
            )
        )
        result = {
            "id": tid,
            "kind": self.kind,
            "owner": session.actor.name,
            "pattern": json.loads(self._pattern.text),
            "url": url,
            "table": self.table,
        }
        event = events.TargetAdded(
            domain=target.domain,
            target=tid,
            kind=self.kind,
            owner=session.actor.name,
            pattern=self._pattern.text,
            url=url,
        )
        if secret is not None:
            result["secret"] = secret
        return Applied(result, event)


class RemoveTarget(Command[dict[str, Any]]):
    command: Literal["events.target.remove"] = "events.target.remove"
    action = "webhook.manage"
    target_id: str

    @property
    def resource(self) -> str:
        return self.target_id

    _row: Any = PrivateAttr(default=None)

    def target(self, session: Session, conn: Connection) -> Target:
        e = t.event_targets
        self._row = conn.execute(select(e).where(e.c.id == self.target_id)).first()
        row = self._row
        if row is None or row.removed_at is not None:
            raise NotFound(f"unknown webhook or subscription {self.target_id!r}")
        owner_domain = row.owner.partition("@")[2]
        target = Target("webhook", row.id, owner_domain, granted_by=row.owner)
        if not session.allowed("webhook.manage", target):
            raise NotFound(f"unknown webhook or subscription {self.target_id!r}")
        return target

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        e = t.event_targets
        done = conn.execute(
            update(e)
            .where(e.c.id == self.target_id, e.c.removed_at.is_(None))
            .values(removed_at=now())
        ).rowcount
        if done != 1:
            raise Conflict(f"{self.target_id} was removed meanwhile")
        row = self._row
        event = events.TargetRemoved(
            domain=target.domain, target=row.id, kind=row.kind, owner=row.owner
        )
        return Applied({"id": row.id, "removed": True}, event)


class Redrive(Command[list[int]]):
    command: Literal["events.redrive"] = "events.redrive"
    action = "events.redrive"
    ids: tuple[int, ...] | None = None

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[list[int]]:
        found = bus.redrive(conn, self.ids)
        return Applied(found, events.DeliveriesRedriven(deliveries=found))
