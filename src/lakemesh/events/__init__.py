"""Typed events, written to the outbox in the same transaction as the change they describe.

Delivery (routing rules, targets, retries) reads the outbox later; writing here only
guarantees that no committed change is without its event and no event is without its
change. Each event is a small named class; ``type`` is its stable wire name.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, ClassVar

from pydantic import Field
from sqlalchemy import Connection, insert, select

from lakemesh.store import tables as t
from lakemesh.typedef import Frozen, now


class Event(Frozen):
    type: ClassVar[str]
    domain: str | None = None
    #: Who caused it (None: the mesh itself, e.g. a scheduled sync without a caller).
    actor: str | None = None

    @property
    def subject(self) -> str | None:
        for name in (
            "request_id",
            "table",
            "resource",
            "grant_id",
            "target",
            "user",
            "key",
            "alert_id",
            "term",
        ):
            value = getattr(self, name, None)
            if value:
                return str(value)
        return self.domain


class DomainCreated(Event):
    type = "domain.created"
    storage: str
    catalog: str
    kind: str


class TableCreated(Event):
    type = "catalog.table.created"
    table: str
    format: str
    schema_version: int
    partitions: int


class TableUpdated(Event):
    type = "catalog.table.updated"
    table: str
    fields: list[str]
    partitions_added: int = 0
    partitions_changed: int = 0
    partitions_removed: int = 0


class TableRemoved(Event):
    type = "catalog.table.removed"
    table: str


class SchemaChanged(Event):
    type = "catalog.schema.changed"
    table: str
    version: int
    breaking: bool
    changes: list[dict[str, Any]]


class UserCreated(Event):
    type = "principal.user.created"
    user: str
    role: str


class TagDefined(Event):
    type = "policy.tag.defined"
    key: str
    values: list[str]
    #: False when an existing key's values changed.
    created: bool = True


class TagAssigned(Event):
    type = "policy.tag.assigned"
    resource: str
    key: str
    value: str
    previous: str | None = None


class GrantCreated(Event):
    type = "policy.grant.created"
    grant_id: str
    principal: str
    actions: list[str]
    resource: str
    parent_id: str | None = None
    resource_kind: str | None = None
    scope: str | None = None
    columns: list[str] | None = None
    exclude_columns: list[str] | None = None
    row_filter: str | None = None
    grantable: bool = False
    expires_at: str | None = None

    @classmethod
    def of(cls, g: dict[str, Any], domain: str | None, actor: str | None = None) -> GrantCreated:
        """The event of a grant as ``grants.create`` returns it."""
        return cls(
            domain=domain,
            actor=actor,
            grant_id=g["id"],
            principal=g["principal"],
            actions=g["actions"],
            resource=g["resource"],
            parent_id=g["parent_id"],
            resource_kind=g["resource_kind"],
            scope=g["scope_domain"],
            columns=g["columns"],
            exclude_columns=g["exclude_columns"],
            row_filter=g["row_filter"],
            grantable=bool(g["grantable"]),
            expires_at=g["expires_at"],
        )


class GrantRevoked(Event):
    type = "policy.grant.revoked"
    grant_id: str
    cascaded: list[str] = Field(default_factory=list)


class MaskSet(Event):
    type = "policy.mask.set"
    target: str
    method: str | None
    target_kind: str | None = None
    mask_id: str | None = None
    #: A custom mask's SQL over ``value`` (None for the named methods).
    expression: str | None = None


class AlertAcknowledged(Event):
    type = "alert.acknowledged"
    alert_id: int
    kind: str
    by: str


class DomainCrawled(Event):
    type = "domain.crawled"
    added: int
    updated: int
    removed: int
    warnings: int


class SyncCompleted(Event):
    type = "sync.completed"
    mode: str
    summary: dict[str, Any]


class SyncFailed(Event):
    type = "sync.failed"
    mode: str
    error: str


class SyncRefused(Event):
    """A listing looked unsafe (empty, or removing too much); nothing was deleted."""

    type = "sync.refused"
    mode: str
    reason: str


class ClassificationRecommended(Event):
    """The classifier has new recommendations for a table, waiting for its stewards."""

    type = "classification.recommended"
    table: str
    recommendations: list[dict[str, Any]]


class ClassificationDecided(Event):
    type = "classification.decided"
    table: str
    column: str
    decision: str  #: accepted | rejected
    tag: str
    recogniser: str


class ProductRegistered(Event):
    type = "product.registered"
    table: str
    owner: str
    contract_version: int | None = None
    #: False when an already registered product's details or contract changed.
    created: bool = True


class ContractViolated(Event):
    """A product's data broke its contract: missing columns, a failed quality rule, stale
    data. Carries the checks that failed, never data values."""

    type = "product.contract.violated"
    table: str
    violations: list[dict[str, Any]]


class QualityMeasured(Event):
    type = "product.quality.measured"
    table: str
    run: str
    passed: int
    failed: int


class BreakingChange(Event):
    """A product's schema or partitioning changed in a way its consumers notice, named to
    them: every principal holding a grant on it."""

    type = "product.breaking_change"
    table: str
    version: int
    changes: list[dict[str, Any]]
    subscribers: list[str]


class LineageIngested(Event):
    type = "lineage.ingested"
    runs: int
    edges: int
    tables: list[str]


class GlossaryTermDefined(Event):
    type = "glossary.term.defined"
    term: str
    owner: str
    created: bool = True


class GlossaryTermLinked(Event):
    type = "glossary.term.linked"
    term: str
    resource: str


class RequestCreated(Event):
    """An access request was made; ``status`` says what its rule did at once (approved,
    rejected, or pending for its approvers)."""

    type = "request.created"
    request_id: str
    table: str
    requester: str
    requester_domain: str
    columns: list[str] | None
    status: str
    rule: str | None
    duration: str | None = None
    approvers: list[str] = Field(default_factory=list)


class RequestApprovalRecorded(Event):
    """One approval of a request that needs several (N of M); it stays pending."""

    type = "request.approval_recorded"
    request_id: str
    table: str
    requester: str
    approvals: int
    needed: int


class RequestApproved(Event):
    type = "request.approved"
    request_id: str
    table: str
    requester: str
    requester_domain: str
    grants: list[str]
    exclude_columns: list[str] | None = None
    row_filter: str | None = None
    expires_at: str | None = None
    #: The rule that approved it, for an automatic approval.
    rule: str | None = None


class RequestRejected(Event):
    type = "request.rejected"
    request_id: str
    table: str
    requester: str
    requester_domain: str
    comment: str | None = None
    rule: str | None = None


class RequestRevoked(Event):
    type = "request.revoked"
    request_id: str
    table: str
    requester: str
    requester_domain: str
    grants: list[str]


class RequestExpired(Event):
    type = "request.expired"
    request_id: str
    table: str
    requester: str
    requester_domain: str
    grants: list[str]
    #: "expired" (its duration ran out) or "unused" (no query for the configured days).
    why: str = "expired"


class RulesLoaded(Event):
    type = "workflow.rules.loaded"
    source: str
    digest: str
    rules: int


class TargetAdded(Event):
    """A webhook or subscription was added (never its secret)."""

    type = "events.target.added"
    target: str
    kind: str
    owner: str
    pattern: str
    url: str | None = None


class TargetRemoved(Event):
    type = "events.target.removed"
    target: str
    kind: str
    owner: str


class DeliveriesRedriven(Event):
    type = "events.redriven"
    deliveries: list[int]


def event_id() -> str:
    """A new event id: a UUIDv7 (RFC 9562), time-ordered, so the unique indexes on event
    ids (outbox, inboxes) grow at their end instead of touching a random page per row."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (1 << 62) - 1
    return str(uuid.UUID(int=value))


def emit(conn: Connection, event: Event) -> None:
    """Append ``event`` to the outbox inside the caller's transaction."""
    conn.execute(
        _INSERT,
        {
            "event_id": event_id(),
            "type": event.type,
            "domain": event.domain,
            "subject": event.subject,
            "payload": event.model_dump_json(),
            "created_at": now(),
        },
    )


_INSERT = insert(t.outbox)


def recent(
    conn: Connection, limit: int = 100, type_prefix: str | None = None
) -> list[dict[str, Any]]:
    """The newest outbox events, newest first (for ``events list`` and tests)."""
    q = select(t.outbox).order_by(t.outbox.c.id.desc()).limit(limit)
    if type_prefix:
        q = q.where(t.outbox.c.type.startswith(type_prefix, autoescape=True))
    return [
        {
            "id": r.id,
            "event_id": r.event_id,
            "type": r.type,
            "domain": r.domain,
            "subject": r.subject,
            "payload": json.loads(r.payload),
            "created_at": r.created_at.isoformat() if r.created_at else None,
        }
        for r in conn.execute(q)
    ]
