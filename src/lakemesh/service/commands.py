"""Typed commands: every state change of the mesh as a small frozen model.

A command says what it changes (its fields), which registered action decides it and on
what (``action``, ``target``), what must still hold when it runs (``precondition``,
e.g. a compare-and-set on a version), and how it changes the store (``apply``), which
returns the result for the caller together with the event that describes the change and
the policy entities it touched. ``Session.execute`` runs them all the same way, in one
transaction: check -> precondition -> apply -> policy change mark -> audit record ->
outbox event carrying the actor. The event is the audit record's payload too, so the log
and the event stream describe each change with one schema.

``command`` is the discriminator (and the audit log's action name), so a request body
naming a command can be parsed into the right model (``parse_command``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeVar, get_args

from pydantic import Field, PrivateAttr, TypeAdapter, ValidationError
from sqlalchemy import Connection, select, update

from lakemesh import events
from lakemesh.access import grants, principals
from lakemesh.access import tags as tagmod
from lakemesh.access.actions import MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.access.principals import User
from lakemesh.errors import Conflict, InvalidInput, NotFound, first_line
from lakemesh.events import alerts
from lakemesh.metadata.domains import Domain, create_domain
from lakemesh.store import tables as t
from lakemesh.typedef import Frozen, TableName, check_principal, now

if TYPE_CHECKING:
    from lakemesh.service.session import Session

R = TypeVar("R")


@dataclass(frozen=True)
class Applied(Generic[R]):
    """What a command did: its result, its event (also its audit record's details), the
    policy entities it changed; ``details`` only for a command that changed nothing and
    so has no event (the grant that was already held)."""

    result: R
    event: events.Event | None = None
    policy: tuple[tuple[str, str], ...] = ()
    details: dict[str, Any] | None = None


class Command(Frozen, Generic[R]):
    command: str
    #: The registered action (``lakemesh.access.actions``) that decides it.
    action: ClassVar[str]

    @property
    def resource(self) -> str | None:
        """The audit record's resource (also for a refusal before a target is known)."""
        return None

    def target(self, session: Session, conn: Connection) -> Target:
        return MESH

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        """Raise ``Conflict`` when what the command assumes no longer holds."""

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[R]:
        raise NotImplementedError


# --------------------------------------------------------------------------- domains


class CreateDomain(Command[Domain]):
    command: Literal["domain.create"] = "domain.create"
    action = "domain.create"
    name: str
    storage: str
    catalog: str = "builtin"
    kind: str = "producer"
    owners: tuple[str, ...] = ()
    endpoint: str | None = None
    region: str | None = None
    create: bool = False

    @property
    def resource(self) -> str:
        return self.name

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[Domain]:
        d = create_domain(
            conn,
            self.name,
            self.storage,
            catalog=self.catalog,
            kind=self.kind,
            owners=self.owners,
            endpoint=self.endpoint,
            region=self.region,
            create=self.create,
        )
        event = events.DomainCreated(
            domain=d.name, storage=d.storage_uri, catalog=self.catalog, kind=d.kind
        )
        return Applied(d, event, (("domain", d.name),))


class AcknowledgeAlert(Command[alerts.Alert]):
    command: Literal["alert.ack"] = "alert.ack"
    action = "alert.ack"
    alert_id: int

    @property
    def resource(self) -> str:
        return str(self.alert_id)

    def target(self, session: Session, conn: Connection) -> Target:
        domain = alerts.get(conn, self.alert_id).domain
        target = Target("domain", domain, domain) if domain else MESH
        if not session.allowed("alert.read", target):  # reads like an unknown alert
            raise NotFound(f"unknown alert {self.alert_id}")
        return target

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[alerts.Alert]:
        alert = alerts.acknowledge(conn, session.actor.name, self.alert_id)
        event = events.AlertAcknowledged(
            domain=alert.domain, alert_id=self.alert_id, kind=alert.kind, by=session.actor.name
        )
        return Applied(alert, event)


# --------------------------------------------------------------------------- principals


class CreateUser(Command[tuple[User, str]]):
    command: Literal["principal.create"] = "principal.create"
    action = "principal.create"
    name: str
    role: str = "member"

    @property
    def resource(self) -> str:
        return self.name

    def target(self, session: Session, conn: Connection) -> Target:
        domain = self.name.partition("@")[2]
        return Target("domain", domain, domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[tuple[User, str]]:
        user, token = principals.create_user(conn, self.name, self.role, session.actor.name)
        event = events.UserCreated(domain=user.domain, user=user.name, role=user.role)
        return Applied((user, token), event, (("user", user.name),))


# --------------------------------------------------------------------------- tags


class DefineTag(Command[dict[str, Any]]):
    command: Literal["tag.define"] = "tag.define"
    action = "tag.define"
    key: str
    values: tuple[str, ...]

    @property
    def resource(self) -> str:
        return self.key

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        created, allowed = tagmod.define(conn, self.key, list(self.values), session.actor.name)
        result = {"key": self.key, "values": allowed, "created": created}
        event = events.TagDefined(key=self.key, values=allowed, created=created)
        return Applied(result, event, (("tag", self.key),))


class AssignTag(Command[dict[str, Any]]):
    command: Literal["tag.assign"] = "tag.assign"
    action = "tag.assign"
    on: str
    key: str
    value: str

    @property
    def resource(self) -> str:
        return self.on

    def target(self, session: Session, conn: Connection) -> Target:
        res = tagmod.Resource.parse(self.on)
        return Target(res.kind, str(res), res.domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        res = tagmod.Resource.parse(self.on)
        old = tagmod.assign(conn, res, self.key, self.value, session.actor.name)
        result = {"resource": str(res), "key": self.key, "value": self.value, "previous": old}
        event = events.TagAssigned(
            domain=res.domain, resource=str(res), key=self.key, value=self.value, previous=old
        )
        return Applied(result, event, (("tag_assignment", str(res)),))


# --------------------------------------------------------------------------- grants


class CreateGrant(Command[dict[str, Any]]):
    command: Literal["grant.create"] = "grant.create"
    action = "grant.create"
    actions: tuple[str, ...]
    principal: str
    table: str | None = None
    database: str | None = None
    tags: str | None = None
    columns: tuple[str, ...] | None = None
    exclude_columns: tuple[str, ...] | None = None
    row_filter: str | None = None
    grantable: bool = False
    expires: str | None = None

    @property
    def resource(self) -> str:
        return self.table or self.database or f"tags[{self.tags}]"

    def request(self) -> grants.GrantRequest:
        return grants.GrantRequest(
            actions=self.actions,
            principal=self.principal,
            table=self.table,
            database=self.database,
            tags=self.tags,
            columns=_listed(self.columns),
            exclude_columns=list(self.exclude_columns)
            if self.exclude_columns is not None
            else None,
            row_filter=self.row_filter,
            grantable=self.grantable,
            expires=self.expires,
        )

    _resolved: grants.Resolved | None = PrivateAttr(default=None)

    def target(self, session: Session, conn: Connection) -> Target:
        self._resolved = grants.resolve(conn, session.snapshot, self.request())
        return self._resolved.target

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        assert self._resolved is not None
        authority = decision.determined_by[0]
        g = grants.create(conn, session.snapshot, session.actor, self._resolved, authority)
        if g.get("existing"):  # the principal already holds exactly this: nothing changes
            return Applied(g, details=g)
        event = events.GrantCreated(
            domain=session.actor.domain,
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
        return Applied(g, event, (("grant", g["id"]),))


def _listed(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


class RevokeGrant(Command[list[str]]):
    """Revoke a grant (and what was delegated from it). ``revoked_at`` is the version
    compared and set: an active grant is revoked by exactly one of several concurrent
    revokers; the others get ``Conflict`` and change nothing."""

    command: Literal["grant.revoke"] = "grant.revoke"
    action = "grant.revoke"
    grant_id: str

    @property
    def resource(self) -> str:
        return self.grant_id

    #: The grant's row, read in the command's transaction by ``target``.
    _row: Any = PrivateAttr(default=None)

    def target(self, session: Session, conn: Connection) -> Target:
        self._row = grants.get(conn, self.grant_id)
        return grants.target(self._row)

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        if self._row.revoked_at is not None:
            raise Conflict(f"grant {self.grant_id} is already revoked")

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[list[str]]:
        revoked = grants.revoke(conn, session.actor.name, self.grant_id)
        event = events.GrantRevoked(
            domain=session.actor.domain, grant_id=self.grant_id, cascaded=revoked[1:]
        )
        return Applied(revoked, event, tuple(("grant", gid) for gid in revoked))


# --------------------------------------------------------------------------- masks


class SetMask(Command[dict[str, Any]]):
    command: Literal["mask.set"] = "mask.set"
    action = "mask.set"
    column: str | None = None
    tag: str | None = None
    spec: str

    @property
    def resource(self) -> str | None:
        return self.column or self.tag

    def target(self, session: Session, conn: Connection) -> Target:
        from lakemesh.access.masks import mask_target  # sqlglot: only when masking

        return mask_target(self.column, self.tag)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.access.masks import set_mask

        rule = set_mask(conn, session.actor.name, target, self.spec)
        event = events.MaskSet(
            target=rule["target"],
            method=rule["method"],
            target_kind=rule["target_kind"],
            mask_id=rule.get("id"),
            expression=rule.get("expression"),
            domain=target.domain,
        )
        return Applied(rule, event, (("mask", rule["target"]),))


# --------------------------------------------------------------------------- classification


def _table_target(session: Session, name: str) -> Target:
    """A table the actor may at least see (DESCRIBE), else it reads as unknown."""
    table = str(TableName.parse(name))
    if not session.allowed("DESCRIBE", table):
        raise NotFound(f"table {table} is not in the central catalog")
    return Target("table", table, table.partition(".")[0])


class _TableCommand(Command[R]):
    """A command on one table the actor may at least see."""

    table: str

    @property
    def resource(self) -> str:
        return self.table

    def target(self, session: Session, conn: Connection) -> Target:
        return _table_target(session, self.table)


class RecordClassification(_TableCommand[dict[str, Any]]):
    """Store one classifier run over a table: its recommendations wait for the owning
    domain's stewards. The sample was read before (by the central node, audited); only
    the findings, with their counts and reasons, arrive here."""

    command: Literal["classify.run"] = "classify.run"
    action = "classify.run"

    _results: Any = PrivateAttr(default=())
    _source_version: str | None = PrivateAttr(default=None)
    _sampled: int = PrivateAttr(default=0)

    def with_results(self, results: Any, source_version: str, sampled: int) -> RecordClassification:
        self._results, self._source_version, self._sampled = results, source_version, sampled
        return self

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.classify import recommendations as recs
        from lakemesh.products.registry import table_id

        table = str(target)
        tid = table_id(conn, table)
        tm = session.snapshot.tables[table]
        types = {
            r.name: r.type
            for r in conn.execute(
                select(t.columns.c.name, t.columns.c.type).where(t.columns.c.table_id == tid)
            )
        }
        recorded = recs.record(conn, tid, table, self._results, types, tm.column_tags)
        conn.execute(
            update(t.catalog_tables)
            .where(t.catalog_tables.c.id == tid)
            .values(classified_version=self._source_version, classified_at=now())
        )
        result = {
            "table": table,
            "sampled_rows": self._sampled,
            "columns": len(self._results),
            "new": len(recorded.new),
            "refreshed": recorded.refreshed,
            "suppressed": recorded.suppressed,
            "already_tagged": recorded.already_tagged,
            "superseded": recorded.superseded,
            "skipped": [
                {"column": r.column, "reason": r.skipped} for r in self._results if r.skipped
            ],
        }
        if not recorded.new:
            return Applied(result, details=result)
        event = events.ClassificationRecommended(
            domain=target.domain,
            table=table,
            recommendations=[
                {
                    "column": r.column,
                    "tag": r.tag,
                    "recogniser": r.recogniser,
                    "confidence": round(r.confidence, 3),
                }
                for r in recorded.new
            ],
        )
        return Applied(result, event)


class _DecideClassification(Command[dict[str, Any]]):
    action = "classify.decide"
    column: str
    tag: str | None = None
    comment: str | None = Field(default=None, max_length=2000)

    _pending: Any = PrivateAttr(default=())

    @property
    def resource(self) -> str:
        return self.column

    def target(self, session: Session, conn: Connection) -> Target:
        res = tagmod.Resource.parse(self.column)
        table = res.table_name
        tm = session.snapshot.tables.get(table or "")
        if (
            res.kind != "column"
            or tm is None
            or res.column not in tm.colset
            or not session.allowed("DESCRIBE", str(table))
        ):
            raise NotFound(f"unknown column {self.column}: expected domain.database.table.column")
        return Target("column", str(res), res.domain)

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        from lakemesh.classify import recommendations as recs

        table, _, column = str(target).rpartition(".")
        pending = recs.pending_for(conn, table, column)
        if self.tag is not None:
            key, sep, value = self.tag.partition("=")
            if not sep:
                raise InvalidInput(f"invalid tag {self.tag!r}: expected key=value")
            tagmod.check_key(key)
            tagmod.check_value(value)
            matching = [r for r in pending if r.tag == self.tag]
            if matching or self.command == "classify.reject":
                pending = matching
        if not pending:
            raise NotFound(
                f"no pending recommendation for {target}"
                + (f" with tag {self.tag}" if self.tag else "")
            )
        self._pending = pending

    def _decide(self, session: Session, conn: Connection, chosen: Any, status: str) -> None:
        from lakemesh.classify import recommendations as recs

        for rec in chosen:
            if not recs.decide(conn, rec, status, session.actor.name, self.comment):
                raise Conflict(
                    f"recommendation {rec.id} for {rec.table}.{rec.column} was already decided"
                )


class AcceptClassification(_DecideClassification):
    """Accept a recommendation: the tag is assigned at once (so every mask and grant rule
    that reads it applies), in the same transaction as the decision. ``tag`` picks one of
    several recommendations, or corrects the recommended tag."""

    command: Literal["classify.accept"] = "classify.accept"

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        super().precondition(session, conn, target)
        key, _, value = (self.tag or self._pending[0].tag).partition("=")
        allowed = tagmod.definitions(conn).get(key)
        if allowed is None:
            raise NotFound(
                f"tag {key!r} is not defined: the mesh admin defines it first "
                f"(lakemesh tag define {key} --values ...)"
            )
        if value not in allowed:
            raise InvalidInput(f"tag {key!r} does not allow {value!r}")

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        top = self._pending[0]
        tag = self.tag or top.tag
        chosen = [r for r in self._pending if r.tag == top.tag]
        self._decide(session, conn, chosen, "accepted")
        key, _, value = tag.partition("=")
        res = tagmod.Resource.parse(str(target))
        previous = tagmod.assign(conn, res, key, value, session.actor.name)
        result = {
            "column": str(target),
            "decision": "accepted",
            "tag": tag,
            "recommended": top.tag,
            "recogniser": top.recogniser,
            "previous": previous,
            "recommendations": [r.id for r in chosen],
        }
        event = events.ClassificationDecided(
            domain=target.domain,
            table=res.table_name or "",
            column=res.column or "",
            decision="accepted",
            tag=tag,
            recogniser=top.recogniser,
        )
        return Applied(result, event, (("tag_assignment", str(res)),))


class RejectClassification(_DecideClassification):
    """Reject a column's recommendations (those with ``tag`` only, when given). The
    rejection is remembered: see ``classify.recommendations``."""

    command: Literal["classify.reject"] = "classify.reject"

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        chosen = list(self._pending)
        self._decide(session, conn, chosen, "rejected")
        res = tagmod.Resource.parse(str(target))
        result = {
            "column": str(target),
            "decision": "rejected",
            "tag": chosen[0].tag,
            "recogniser": chosen[0].recogniser,
            "recommendations": [r.id for r in chosen],
        }
        event = events.ClassificationDecided(
            domain=target.domain,
            table=res.table_name or "",
            column=res.column or "",
            decision="rejected",
            tag=chosen[0].tag,
            recogniser=", ".join(sorted({r.recogniser for r in chosen})),
        )
        return Applied(result, event)


# --------------------------------------------------------------------------- products


class RegisterProduct(_TableCommand[dict[str, Any]]):
    """Register a table as a data product (or update its registration). A contract is
    validated by the ODCS models and against the table's columns before anything is
    written; registering makes the table discoverable to every user (SPEC 2.1)."""

    command: Literal["product.register"] = "product.register"
    action = "product.register"
    description: str | None = Field(default=None, max_length=10_000)
    owner: str | None = None
    classification: str | None = None
    sensitivity: str | None = None
    contract: str | None = Field(default=None, max_length=5_000_000)
    contract_source: str = "contract"

    _parsed: Any = PrivateAttr(default=None)

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        from lakemesh.products import contracts
        from lakemesh.products.registry import CLASSIFICATIONS, SENSITIVITIES, check_level

        check_level(self.classification, CLASSIFICATIONS, "classification")
        check_level(self.sensitivity, SENSITIVITIES, "sensitivity")
        if self.owner is not None:
            check_principal(self.owner)
            if self.owner not in session.snapshot.users:
                raise NotFound(f"unknown principal {self.owner!r}")
        if self.contract is None:
            return
        parsed = contracts.parse_contract(self.contract, self.contract_source)
        columns = session.snapshot.tables[str(target)].columns
        unknown = contracts.unknown_columns(parsed, dict.fromkeys(columns, ""))
        if unknown:
            raise InvalidInput(
                f"{self.contract_source}: contract names unknown columns: {', '.join(unknown)}"
            )
        name = str(target)
        if parsed.object_name and parsed.object_name.lower() not in (name, name.rsplit(".", 1)[1]):
            raise InvalidInput(
                f"{self.contract_source}: the contract describes {parsed.object_name!r}, not {name}"
            )
        self._parsed = parsed

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.products import registry

        parsed = self._parsed
        contract = (
            (self.contract, parsed.id, parsed.version)
            if parsed is not None and self.contract is not None
            else None
        )
        before = registry.find(conn, str(target), with_contract=False)
        owner = self.owner or (before.owner if before else session.actor.name)
        product, created, new_contract = registry.register(
            conn,
            str(target),
            owner=owner,
            description=self.description,
            classification=registry.check_level(
                self.classification, registry.CLASSIFICATIONS, "classification"
            ),
            sensitivity=registry.check_level(
                self.sensitivity, registry.SENSITIVITIES, "sensitivity"
            ),
            contract=contract,
            actor=session.actor.name,
        )
        result = product.as_dict() | {"created": created, "new_contract": new_contract}
        event = events.ProductRegistered(
            domain=target.domain,
            table=product.table,
            owner=product.owner,
            contract_version=product.contract_version,
            created=created,
        )
        return Applied(result, event, (("product", product.table),))


class RecordQuality(_TableCommand[dict[str, Any]]):
    """Store one measurement of a product's contract and quality (computed before, on
    the data in place, by the central node); a violation is an event of its own."""

    command: Literal["quality.check"] = "quality.check"
    action = "quality.check"

    _metrics: Any = PrivateAttr(default=())
    _violations: Any = PrivateAttr(default=())
    _checked: str | None = PrivateAttr(default=None)

    def with_measurement(self, metrics: Any, violations: Any, checked: str | None) -> RecordQuality:
        self._metrics, self._violations, self._checked = metrics, violations, checked
        return self

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        import uuid

        from lakemesh.products import registry

        table = str(target)
        run = uuid.uuid4().hex
        registry.record_metrics(
            conn, registry.table_id(conn, table), run, self._metrics, self._checked
        )
        metrics = [m.__dict__ | {} for m in self._metrics]
        violations = [dict(v.__dict__) for v in self._violations]
        passed = sum(1 for m in self._metrics if m.passed is True)
        failed = sum(1 for m in self._metrics if m.passed is False)
        if violations:
            events.emit(
                conn,
                events.ContractViolated(
                    domain=target.domain,
                    actor=session.actor.name,
                    table=table,
                    violations=violations,
                ),
            )
        result = {
            "table": table,
            "run": run,
            "passed": passed,
            "failed": failed,
            "metrics": metrics,
            "violations": violations,
        }
        event = events.QualityMeasured(
            domain=target.domain, table=table, run=run, passed=passed, failed=failed
        )
        return Applied(result, event)


class IngestLineage(Command[dict[str, Any]]):
    """Store OpenLineage run events (parsed and resolved before) and their edges. Lineage
    that writes into one domain's tables is that domain's to report; lineage spanning
    domains, or writing outside the mesh, is the mesh admin's."""

    command: Literal["lineage.ingest"] = "lineage.ingest"
    action = "lineage.ingest"
    source: str

    _events: Any = PrivateAttr(default=())
    _nodes: Any = PrivateAttr(default=None)
    _domain: str | None = PrivateAttr(default=None)

    def with_events(self, parsed: Any, nodes: Any, domain: str | None) -> IngestLineage:
        self._events, self._nodes, self._domain = parsed, nodes, domain
        return self

    @property
    def resource(self) -> str:
        return self.source

    def target(self, session: Session, conn: Connection) -> Target:
        if self._domain is None:
            return MESH
        return Target("domain", self._domain, self._domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.products import graph

        done = graph.ingest(conn, self._events, self._nodes, session.actor.name)
        result = {
            "source": self.source,
            "events": len(self._events),
            "runs": done.runs,
            "duplicates": done.duplicates,
            "edges": done.edges,
            "tables": list(done.tables),
        }
        event = events.LineageIngested(
            domain=target.domain, runs=done.runs, edges=done.edges, tables=list(done.tables)
        )
        return Applied(result, event if done.runs else None, details=None if done.runs else result)


class DefineTerm(Command[dict[str, Any]]):
    command: Literal["glossary.define"] = "glossary.define"
    action = "glossary.define"
    term: str
    definition: str
    owner: str | None = None

    @property
    def resource(self) -> str:
        return self.term

    def target(self, session: Session, conn: Connection) -> Target:
        from lakemesh.products import glossary

        existing = glossary.find(conn, self.term)
        owner = existing.owner if existing is not None else None
        return Target("term", glossary.check_term(self.term), None, owner)

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        if self.owner is not None:
            check_principal(self.owner)
            if self.owner not in session.snapshot.users:
                raise NotFound(f"unknown principal {self.owner!r}")

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.products import glossary

        owner = self.owner or target.granted_by or session.actor.name
        term, created = glossary.define(conn, self.term, self.definition, owner, session.actor.name)
        event = events.GlossaryTermDefined(term=term.name, owner=term.owner, created=created)
        return Applied(term.as_dict() | {"created": created}, event)


class LinkTerm(Command[dict[str, Any]]):
    command: Literal["glossary.link"] = "glossary.link"
    action = "glossary.link"
    term: str
    resource_name: str

    @property
    def resource(self) -> str:
        return self.resource_name

    def target(self, session: Session, conn: Connection) -> Target:
        res = tagmod.Resource.parse(self.resource_name)
        table = res.table_name
        tm = session.snapshot.tables.get(table or "")
        visible = tm is not None and session.allowed("DESCRIBE", str(table))
        if res.kind == "database" or not visible or (res.column and res.column not in tm.colset):  # type: ignore[union-attr]
            raise NotFound(
                f"unknown resource {self.resource_name}: expected domain.database.table[.column]"
            )
        return Target(res.kind, str(res), res.domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.products import glossary

        term, linked = glossary.link(conn, self.term, str(target), target.kind, session.actor.name)
        result = term.as_dict() | {"linked": str(target), "new": linked}
        if not linked:
            return Applied(result, details=result)
        event = events.GlossaryTermLinked(
            domain=target.domain, term=term.name, resource=str(target)
        )
        return Applied(result, event)


AnyCommand = Annotated[
    CreateDomain
    | AcknowledgeAlert
    | CreateUser
    | DefineTag
    | AssignTag
    | CreateGrant
    | RevokeGrant
    | SetMask
    | RecordClassification
    | AcceptClassification
    | RejectClassification
    | RegisterProduct
    | RecordQuality
    | IngestLineage
    | DefineTerm
    | LinkTerm,
    Field(discriminator="command"),
]
#: Every command, in the order above.
COMMANDS: tuple[type[Command[Any]], ...] = get_args(get_args(AnyCommand)[0])


@functools.cache
def _adapter() -> TypeAdapter[Any]:
    """Built on first use: building it validates every command's schema, which every
    CLI process would otherwise pay at import."""
    return TypeAdapter(AnyCommand)


def parse_command(data: dict[str, Any]) -> Command[Any]:
    """A command from its JSON form (``{"command": "grant.revoke", ...}``)."""
    try:
        return _adapter().validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "command"
        raise InvalidInput(f"invalid command: {where}: {first_line(problem['msg'])}") from exc
