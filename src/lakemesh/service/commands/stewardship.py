"""Commands of stewardship: classification decisions, data products and their quality,
lineage, the glossary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr
from sqlalchemy import Connection, update

from lakemesh import events
from lakemesh.access import tags as tagmod
from lakemesh.access.actions import MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.errors import Conflict, InvalidInput, NotFound
from lakemesh.service.commands.base import Applied, Command, R
from lakemesh.store import tables as t
from lakemesh.typedef import TableName, check_principal, now

if TYPE_CHECKING:
    from lakemesh.service.session import Session


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
    _types: dict[str, str] = PrivateAttr(default_factory=dict)

    def with_results(
        self, results: Any, source_version: str, sampled: int, types: dict[str, str]
    ) -> RecordClassification:
        self._results, self._source_version, self._sampled = results, source_version, sampled
        self._types = types
        return self

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.classify import recommendations as recs
        from lakemesh.products.registry import table_id

        table = str(target)
        tid = table_id(conn, table)
        tm = session.snapshot.tables[table]
        recorded = recs.record(conn, tid, table, self._results, self._types, tm.column_tags)
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
        from lakemesh.products import conformance, contracts
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
        unknown = conformance.unknown_columns(parsed, dict.fromkeys(columns, ""))
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
