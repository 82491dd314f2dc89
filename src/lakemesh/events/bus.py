"""The event bus: the outbox routed by pattern rules to targets, delivered at least once.

Every change writes its event to the outbox in its own transaction (``events.emit``), so
the outbox is the bus's source and no committed change is without its event. The bus
then works in two steps, each safe to run from several processes at once:

* **route** takes a batch of unrouted outbox rows, matches each against the rules
  (EventBridge-style patterns, ``events.patterns``) and, in one transaction: runs the
  *internal* targets (domain and user inboxes, idempotent by event id), records one
  *delivery* per external target (webhooks, e-mail), and marks the rows routed. The mark
  is compared-and-set, so two routers never route one event twice: the loser's
  transaction rolls back whole.
* **deliver** claims due deliveries one at a time (compare-and-set on ``next_at``, which
  also leases it: a deliverer that dies mid-send leaves the delivery due again once the
  lease runs out), sends outside any transaction, then records the outcome: delivered;
  retried after an exponential backoff with jitter; or, past the retry window or on a
  permanent failure, dead: the dead-letter queue, which ``redrive`` sends again.

Patterns match the envelope: ``type``, ``source`` (the domain), ``actor``, ``subject``,
``table``, ``tags`` (the table's and its columns' tags as ``key=value``, when the
application enriches it) and ``detail`` (the event's own fields).

Targets are named by a string: ``inbox:OWNER`` (a domain or a user), ``webhook:ID``,
``mail:NAME`` (a mail the application composes), ``handler:NAME``. An inbox target may
name a field of the event instead of an owner (``inbox:@source``, ``inbox:@requester``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from lakemesh.errors import Conflict, InvalidInput
from lakemesh.events.patterns import Pattern
from lakemesh.store import Store, insert_new
from lakemesh.store import tables as t
from lakemesh.typedef import now

#: What a subscription can ask for, and the event types each stands for.
TOPICS: dict[str, tuple[str, ...]] = {
    "data": ("catalog.table.updated",),
    "schema": ("catalog.schema.changed",),
    "contract": ("product.contract.violated",),
    "breaking": ("product.breaking_change",),
    "quality": ("product.quality.measured",),
}

#: How long a claimed delivery is leased to its deliverer before it is due again.
LEASE = timedelta(seconds=60)


def subscription_pattern(table: str, topics: Iterable[str]) -> Pattern:
    """The pattern of a subscription to ``table``'s events of the given topics."""
    types = sorted({ty for topic in topics for ty in TOPICS[topic]})
    return Pattern.parse({"type": types, "table": [table]})


@dataclass(frozen=True)
class Rule:
    """Events matching ``pattern`` go to ``target``."""

    name: str
    pattern: Pattern
    target: str


@dataclass(frozen=True)
class Outcome:
    """What one attempt to deliver did (webhooks and mail answer with one)."""

    ok: bool
    error: str | None = None
    #: False: trying again cannot help (a refused target, 410 Gone): dead at once.
    retryable: bool = True


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, inside a bounded retry window."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    window_seconds: float = 86400.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the ``attempts``-th failure: half the exponential step plus up
        to the other half at random ("equal jitter": never zero, never synchronised)."""
        step = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        r = rng or random
        return timedelta(seconds=step / 2 + r.uniform(0, step / 2))


#: Delivers one event to one external target: (target, envelope) -> outcome.
Sender = Callable[[str, dict[str, Any]], Outcome]
#: Decides whether an inbox may receive an event (a subscriber must still see the table).
Admit = Callable[[str, dict[str, Any]], bool]
#: Adds what patterns may match beyond the outbox row (a table's tags), in place.
Enrich = Callable[[dict[str, Any]], None]


@dataclass
class Routed:
    events: int = 0
    inbox: int = 0
    deliveries: int = 0


@dataclass
class Delivered:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def envelope(row: Any) -> dict[str, Any]:
    """An outbox row as the bus sees it: what patterns match and targets receive."""
    detail = json.loads(row.payload)
    return {
        "id": row.event_id,
        "seq": row.id,
        "type": row.type,
        "source": row.domain or "central",
        "actor": detail.get("actor"),
        "subject": row.subject,
        "time": row.created_at.isoformat(),
        "table": detail.get("table"),
        "detail": detail,
    }


class Bus:
    """Routing and delivery over one store. ``rules`` is asked for the rules in force at
    each batch (built-in ones plus webhooks and subscriptions); ``senders`` deliver by the
    target's kind (the part before ``:``)."""

    def __init__(
        self,
        store: Store,
        rules: Callable[[Connection], Sequence[Rule]],
        senders: Mapping[str, Sender],
        *,
        admit: Admit | None = None,
        enrich: Enrich | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.store, self.rules, self.senders = store, rules, senders
        self.admit, self.enrich = admit, enrich
        self.backoff = backoff or Backoff()

    # ------------------------------------------------------------------ routing

    def route(self, limit: int = 1000) -> Routed:
        """Route one batch of unrouted events; ``Routed.events == 0`` when none was left.
        A concurrent router that took the same rows first makes this batch roll back
        whole and route nothing (the caller simply goes on)."""
        o = t.outbox
        done = Routed()
        # An idle worker looks every 50 ms: with a read, so that on SQLite it does not take
        # the write lock (BEGIN IMMEDIATE) from the requests being served meanwhile.
        with self.store.read() as conn:
            waiting = conn.execute(
                select(o.c.id).where(o.c.delivered_at.is_(None)).order_by(o.c.id).limit(1)
            ).first()
        if waiting is None:
            return done
        try:
            with self.store.write() as conn:
                rows = conn.execute(
                    select(o).where(o.c.delivered_at.is_(None)).order_by(o.c.id).limit(limit)
                ).all()
                if not rows:
                    return done
                rules = self.rules(conn)
                stamp = now()
                inbox: list[dict[str, Any]] = []
                deliveries: list[dict[str, Any]] = []
                for row in rows:
                    env = envelope(row)
                    if self.enrich is not None and env["table"]:
                        self.enrich(env)
                    seen: set[str] = set()
                    for rule in rules:
                        if not rule.pattern.matches(env):
                            continue
                        target = _resolve(rule.target, env)
                        if target is None or target in seen:
                            continue
                        seen.add(target)
                        kind, _, name = target.partition(":")
                        if kind == "inbox":
                            if self.admit is not None and not self.admit(name, env):
                                continue
                            inbox.append(_inbox_row(name, row, stamp))
                        else:
                            deliveries.append(
                                {
                                    "outbox_id": row.id,
                                    "target": target,
                                    "state": "pending",
                                    "attempts": 0,
                                    "next_at": stamp,
                                    "first_at": stamp,
                                }
                            )
                done.inbox = insert_new(conn, t.inbox, inbox)
                done.deliveries = insert_new(conn, t.deliveries, deliveries)
                ids = [r.id for r in rows]
                marked = conn.execute(
                    update(o)
                    .where(o.c.id.in_(ids), o.c.delivered_at.is_(None))
                    .values(delivered_at=stamp)
                ).rowcount
                if marked != len(ids):
                    raise Conflict("another router took these events")
                done.events = len(ids)
        except Conflict:
            return Routed()
        return done

    # ------------------------------------------------------------------ delivery

    def deliver(self, limit: int = 100) -> Delivered:
        """Attempt every due delivery (up to ``limit``)."""
        d = t.deliveries
        result = Delivered()
        with self.store.read() as conn:
            due = conn.execute(
                select(d.c.id, d.c.next_at)
                .where(d.c.state == "pending", d.c.next_at <= now())
                .order_by(d.c.next_at, d.c.id)
                .limit(limit)
            ).all()
        for delivery_id, next_at in due:
            claimed = self._claim(delivery_id, next_at)
            if claimed is None:
                continue
            target, env, attempts, first_at = claimed
            outcome = self._send(target, env)
            self._record(delivery_id, attempts, first_at, outcome, result)
        return result

    def _claim(
        self, delivery_id: int, next_at: datetime
    ) -> tuple[str, dict[str, Any], int, datetime] | None:
        d, o = t.deliveries, t.outbox
        with self.store.write() as conn:
            taken = conn.execute(
                update(d)
                .where(d.c.id == delivery_id, d.c.state == "pending", d.c.next_at == next_at)
                .values(next_at=now() + LEASE, attempts=d.c.attempts + 1)
            ).rowcount
            if taken != 1:
                return None
            row = conn.execute(
                select(d.c.target, d.c.attempts, d.c.first_at, o)
                .join(o, o.c.id == d.c.outbox_id)
                .where(d.c.id == delivery_id)
            ).one()
        env = envelope(row)
        if self.enrich is not None and env["table"]:
            self.enrich(env)
        return row.target, env, row.attempts, row.first_at

    def _send(self, target: str, env: dict[str, Any]) -> Outcome:
        sender = self.senders.get(target.partition(":")[0])
        if sender is None:
            return Outcome(False, f"no sender for target {target}", retryable=False)
        try:
            return sender(target, env)
        except Exception as exc:  # a sender's bug must not stop the other deliveries
            return Outcome(False, f"{type(exc).__name__}: {str(exc)[:300]}")

    def _record(
        self,
        delivery_id: int,
        attempts: int,
        first_at: datetime,
        outcome: Outcome,
        result: Delivered,
    ) -> None:
        d = t.deliveries
        stamp = now()
        if outcome.ok:
            values: dict[str, Any] = {
                "state": "delivered",
                "delivered_at": stamp,
                "last_error": None,
            }
            result.delivered += 1
        else:
            wait = self.backoff.delay(attempts)
            window = timedelta(seconds=self.backoff.window_seconds)
            if not outcome.retryable or stamp + wait > first_at + window:
                values = {"state": "dead", "last_error": outcome.error}
                result.dead += 1
            else:
                values = {"next_at": stamp + wait, "last_error": outcome.error}
                result.retried += 1
            result.errors.append(outcome.error or "failed")
        with self.store.write() as conn:
            conn.execute(update(d).where(d.c.id == delivery_id).values(**values))

    # ------------------------------------------------------------------ the queue

    def backlog(self, conn: Connection) -> dict[str, int]:
        """Counts: unrouted events, and deliveries by state."""
        o, d = t.outbox, t.deliveries
        out = {
            "unrouted": conn.execute(
                select(func.count()).select_from(o).where(o.c.delivered_at.is_(None))
            ).scalar_one()
        }
        for state, n in conn.execute(select(d.c.state, func.count()).group_by(d.c.state)):
            out[state] = n
        return out


def dead_letters(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The dead-letter queue, newest first: each failed delivery with its event."""
    d, o = t.deliveries, t.outbox
    rows = conn.execute(
        select(d, o.c.event_id, o.c.type, o.c.subject, o.c.created_at.label("event_at"))
        .join(o, o.c.id == d.c.outbox_id)
        .where(d.c.state == "dead")
        .order_by(d.c.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "event_id": r.event_id,
            "type": r.type,
            "subject": r.subject,
            "target": r.target,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "event_at": r.event_at.isoformat(),
        }
        for r in rows
    ]


def redrive(conn: Connection, ids: Iterable[int] | None) -> list[int]:
    """Send dead deliveries again (all, or the ``ids`` given): a new retry window opens.
    An id that is not dead is refused, naming it, and nothing changes."""
    d = t.deliveries
    wanted = None if ids is None else sorted(set(ids))
    q = select(d.c.id).where(d.c.state == "dead")
    if wanted is not None:
        q = q.where(d.c.id.in_(wanted))
    found = list(conn.execute(q).scalars())
    if wanted is not None:
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise InvalidInput(
                f"not in the dead-letter queue: {', '.join(str(i) for i in missing)}"
            )
    if found:
        stamp = now()
        conn.execute(
            update(d)
            .where(and_(d.c.id.in_(found), d.c.state == "dead"))
            .values(state="pending", attempts=0, next_at=stamp, first_at=stamp)
        )
    return found


def read_inbox(conn: Connection, owner: str, limit: int = 100) -> list[dict[str, Any]]:
    i = t.inbox
    rows = conn.execute(select(i).where(i.c.owner == owner).order_by(i.c.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "event_id": r.event_id,
            "type": r.type,
            "subject": r.subject,
            "payload": json.loads(r.payload),
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def _resolve(target: str, env: Mapping[str, Any]) -> str | None:
    """A target with ``@field`` resolved from the event (None: the event has no such
    field, so the rule does not apply to it)."""
    kind, _, name = target.partition(":")
    if not name.startswith("@"):
        return target
    key = name[1:]
    value = env.get(key) or env["detail"].get(key)
    return f"{kind}:{value}" if isinstance(value, str) and value else None


def _inbox_row(owner: str, row: Any, stamp: datetime) -> dict[str, Any]:
    return {
        "owner": owner,
        "event_id": row.event_id,
        "type": row.type,
        "subject": row.subject,
        "payload": row.payload,
        "created_at": stamp,
    }
