"""``mesh.classification``: the classifier's loop from recommendation to enforced policy.

``classify`` reads a bounded sample of a table *as the central node* (the system
principal, through the governed engine, audited like any read, never stored), runs the
registered recognisers over it and stores their findings as recommendations for the
owning domain's stewards; ``accept`` assigns the tag at once, so every mask and grant rule
that reads it applies to the next query; ``reject`` is remembered. ``classify_due`` runs
after a sync on every table whose data moved on since it was last classified.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakemesh.access.actions import MESH, Target
from lakemesh.access.principals import MESH_ADMIN, SYSTEM
from lakemesh.errors import InvalidInput, LakemeshError, NotFound, first_line
from lakemesh.service.session import Session
from lakemesh.typedef import TableName, now

if TYPE_CHECKING:
    import pyarrow as pa

    from lakemesh.classify.recognisers import Registry
    from lakemesh.classify.recommendations import Recommendation
    from lakemesh.mesh import Mesh
    from lakemesh.schema import Column

#: Rows sampled per table: enough for the recognisers' ratios, cheap to read.
SAMPLE_ROWS = 1000
#: Characters of a text cell the sample carries (a recogniser looks at a prefix anyway).
CELL_PREFIX = 512
#: The mesh-wide recognisers file in the mesh home, and a domain's in its storage root
#: (the crawler skips ``_`` folders, so it is never taken for a table).
MESH_RECOGNISERS = "recognisers.yaml"
DOMAIN_RECOGNISERS = "_lakemesh/recognisers.yaml"
#: Types a sample does not read: the classifier skips them by type, with a reason.
_UNSAMPLED = (
    "binary",
    "large_binary",
    "fixed_size_binary",
    "struct<",
    "list<",
    "large_list<",
    "map<",
    "fixed_size_list<",
    "dictionary<",
    "null",
)


@dataclass
class SampleRead:
    table: pa.Table
    rows: int


class Classification:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    # ------------------------------------------------------------------ the loop

    def classify(
        self, table: str, *, as_: str = MESH_ADMIN, rows: int = SAMPLE_ROWS
    ) -> dict[str, Any]:
        """Classify ``table`` now; returns what was recorded, with every pending
        recommendation of the table and why each was made."""
        session = self._mesh.gate.session(as_)
        name = str(TableName.parse(table))
        if not session.allowed("DESCRIBE", name):
            session.refused("classify.run", name, NotFound("unknown table"))
            raise NotFound(f"table {name} is not in the central catalog")
        target = Target("table", name, name.partition(".")[0])
        session.require("classify.run", target, audit_as="classify.run")
        registry = self._registry(target.domain or "", strict=True)
        return self._run(session, name, registry, rows)

    def queue(
        self, domain: str | None = None, *, as_: str = MESH_ADMIN
    ) -> builtins.list[Recommendation]:
        """Pending recommendations of ``domain`` (default: the caller's own domain, or
        every domain for the mesh admin), for its stewards."""
        from lakemesh.classify import recommendations as recs

        session = self._mesh.gate.session(as_)
        actor = session.actor
        if domain is None and actor.domain != "central":
            domain = actor.domain
        target = Target("domain", domain, domain) if domain else MESH
        decision = session.require("classify.read", target, audit_as="classify.queue")
        return session.audited(
            "classify.queue",
            domain,
            lambda conn: recs.queue(conn, [domain] if domain else None),
            lambda found: {"pending": len(found)},
            decision,
        )

    def accept(
        self,
        column: str,
        tag: str | None = None,
        *,
        as_: str = MESH_ADMIN,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Accept ``column``'s recommendation: its tag (or ``tag``) is assigned at once."""
        from lakemesh.service.commands import AcceptClassification

        command = AcceptClassification(column=column, tag=tag, comment=comment)
        return self._mesh.gate.session(as_).execute(command)

    def reject(
        self,
        column: str,
        tag: str | None = None,
        *,
        as_: str = MESH_ADMIN,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Reject ``column``'s recommendations (those for ``tag`` only, when given)."""
        from lakemesh.service.commands import RejectClassification

        command = RejectClassification(column=column, tag=tag, comment=comment)
        return self._mesh.gate.session(as_).execute(command)

    def recommendations(self, table: str, session: Session) -> builtins.list[Recommendation]:
        """Every recommendation for ``table`` (the caller has checked DESCRIBE)."""
        from lakemesh.classify import recommendations as recs

        with session.read() as conn:
            return recs.for_table(conn, table)

    # ------------------------------------------------------------------ after a sync

    def classify_due(self, domain: str, session: Session) -> builtins.list[str]:
        """Classify the domain's tables that sync added or changed since they were last
        classified; returns warnings (a table that cannot be sampled is skipped, never
        fails the sync). ``session`` is the sync's: its actor records the findings."""
        from sqlalchemy import select

        from lakemesh.store import tables as t

        ct = t.catalog_tables
        with session.read() as conn:
            rows = conn.execute(
                select(
                    ct.c.full_name,
                    ct.c.schema_version,
                    ct.c.source_version,
                    ct.c.classified_version,
                    ct.c.classified_at,
                )
                .join(t.domains, t.domains.c.id == ct.c.domain_id)
                .where(t.domains.c.name == domain)
                .order_by(ct.c.full_name)
            ).all()
        stale = now() - timedelta(seconds=self._mesh.settings.products.reclassify_seconds)
        due = [r.full_name for r in rows if _due(r, stale)]
        if not due:
            return []
        warnings: builtins.list[str] = []
        try:
            registry = self._registry(domain, strict=False, warnings=warnings)
        except LakemeshError as exc:
            return [f"classification skipped: {first_line(exc)}"]
        fresh = self._mesh.gate.session(session.actor.name)  # the sync changed the tables
        for name in due:
            try:
                self._run(fresh, name, registry, SAMPLE_ROWS, unreadable=warnings)
            except LakemeshError as exc:
                warnings.append(f"classification of {name} skipped: {first_line(exc)}")
        return warnings

    # ------------------------------------------------------------------ internals

    def _run(
        self,
        session: Session,
        table: str,
        registry: Registry,
        rows: int,
        *,
        unreadable: builtins.list[str] | None = None,
    ) -> dict[str, Any]:
        """Sample, classify and record ``table``. A sample that cannot be read raises;
        with ``unreadable`` (after a sync) it is recorded there instead and the table is
        marked classified as it is, every column skipped with the reason, so the next
        sync does not read it again until it changes."""
        import pyarrow as pa

        from lakemesh.classify import recommendations as recs
        from lakemesh.classify.recognisers import ColumnResult, classify_column
        from lakemesh.metadata.central import table_detail
        from lakemesh.service.commands import RecordClassification

        with session.read() as conn:
            detail = table_detail(conn, TableName.parse(table))
        columns = list(detail.schema.columns)
        try:
            sample = read_sample(self._mesh, table, columns, rows)
        except LakemeshError as exc:
            if unreadable is None:
                raise
            why = f"the table could not be read ({first_line(exc)})"
            unreadable.append(f"classification of {table} skipped: {first_line(exc)}")
            sample = SampleRead(pa.table({}), 0)
            skipped = [ColumnResult(c.name, (), skipped=why) for c in columns]
        else:
            skipped = []
        results: builtins.list[ColumnResult] = list(skipped)
        for c in columns if not skipped else ():
            values = (
                sample.table.column(c.name)
                if c.name in sample.table.column_names
                else pa.array([], pa.null())
            )
            results.append(
                classify_column(
                    c.name, values, type=c.type, description=c.description, registry=registry
                )
            )
        command = RecordClassification(table=table).with_results(
            results,
            f"{detail.schema_version}:{detail.source_version}",
            sample.rows,
            {c.name: c.type for c in columns},
        )
        outcome = session.execute(command)
        with session.read() as conn:
            outcome["recommendations"] = [
                r.as_dict() for r in recs.for_table(conn, table) if r.status == recs.PENDING
            ]
        return outcome

    def _registry(
        self, domain: str, *, strict: bool, warnings: builtins.list[str] | None = None
    ) -> Registry:
        """The builtin recognisers plus the mesh's and the domain's own files. A broken
        file refuses an explicit ``classify`` (strict); after a sync it is a warning and
        the builtin recognisers still run."""
        from lakemesh.classify.custom import load_recognisers
        from lakemesh.classify.recognisers import default_registry

        registry = default_registry()
        custom = []
        for source, text in self._recogniser_files(domain):
            try:
                custom += load_recognisers(text, source)
            except InvalidInput as exc:
                if strict:
                    raise
                if warnings is not None:
                    warnings.append(first_line(exc))
        return registry.with_custom(custom) if custom else registry

    def _recogniser_files(self, domain: str) -> builtins.list[tuple[str, str]]:
        files: builtins.list[tuple[str, str]] = []
        mesh_file = Path(self._mesh.home) / MESH_RECOGNISERS
        if mesh_file.is_file():
            files.append((str(mesh_file), mesh_file.read_text(encoding="utf-8")))
        if not domain:
            return files
        from lakemesh.metadata.domains import get_domain

        with self._mesh.store.read() as conn:
            d = get_domain(conn, domain)
        storage = d.storage()
        try:
            with storage.open_input(DOMAIN_RECOGNISERS) as f:
                raw = f.read(1_000_001)
        except (FileNotFoundError, NotFound, OSError):
            return files
        if len(raw) > 1_000_000:
            raise InvalidInput(f"{domain}:{DOMAIN_RECOGNISERS}: larger than 1 MB")
        try:
            files.append((f"{domain}:{DOMAIN_RECOGNISERS}", raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{domain}:{DOMAIN_RECOGNISERS}: not UTF-8 text") from exc
        return files


def _due(row: Any, stale: datetime) -> bool:
    """Never classified, or its schema changed, or its data changed and the last
    classification is older than the refresh interval."""
    if row.classified_version is None or row.classified_at is None:
        return True
    schema, _, source = row.classified_version.partition(":")
    if schema != str(row.schema_version):
        return True
    return bool(source != row.source_version and row.classified_at <= stale)


def read_sample(mesh: Mesh, table: str, columns: list[Column], rows: int) -> SampleRead:
    """The first ``rows`` rows of ``table``'s sampleable columns, read by the central node
    through the governed engine (audited as the system principal's query, with why)."""
    from sqlglot import exp

    from lakemesh.query.governed import run_query

    wanted = [c for c in columns if not c.type.startswith(_UNSAMPLED)]
    if not wanted:
        import pyarrow as pa

        return SampleRead(pa.table({}), 0)
    items: builtins.list[Any] = []
    for c in wanted:
        col = exp.column(exp.to_identifier(c.name, quoted=True))
        if c.type in ("string", "large_string"):
            items.append(
                exp.alias_(
                    exp.Anonymous(this="left", expressions=[col, exp.Literal.number(CELL_PREFIX)]),
                    exp.to_identifier(c.name, quoted=True),
                )
            )
        else:
            items.append(col)
    name = TableName.parse(table)
    source = exp.Table(
        this=exp.to_identifier(name.table, quoted=True),
        db=exp.to_identifier(name.database, quoted=True),
        catalog=exp.to_identifier(name.domain, quoted=True),
    )
    sql = exp.select(*items).from_(source).limit(rows).sql(dialect="duckdb")
    result = run_query(
        mesh,
        sql,
        principal=SYSTEM,
        session=mesh.gate.system_session(),
        purpose=f"classification sample of {table}",
    )
    return SampleRead(result, result.num_rows)
