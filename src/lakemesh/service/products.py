"""``mesh.products``, ``mesh.lineage`` and ``mesh.glossary``: data products with their
contracts and quality, the lineage graph, the business glossary.

Registered products are discoverable by every user (SPEC 2.1): ``list`` and ``show``
answer for anyone, with the schema as the caller may see it; their data is read only
through grants. Quality is measured by the central node on the data in place, through
the governed engine as the system principal (SPEC 2.9): only the metrics are kept.
"""

from __future__ import annotations

import builtins
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakemesh.access.actions import MESH, Target
from lakemesh.access.principals import MESH_ADMIN, SYSTEM
from lakemesh.errors import InvalidInput, LakemeshError, NotFound, first_line
from lakemesh.service.session import Session
from lakemesh.typedef import TableName, now

if TYPE_CHECKING:
    import pyarrow as pa

    from lakemesh.mesh import Mesh

#: The largest contract or lineage file read (characters).
MAX_FILE = 5_000_000


def read_text_file(path: str | Path, what: str) -> str:
    """A user's file as text, or a one-line error saying what is wrong with it."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE:
            raise InvalidInput(f"{what} {p}: larger than {MAX_FILE // 1_000_000} MB")
        return p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"{what} {p}: no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidInput(f"{what} {p}: is a directory") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {p}: not UTF-8 text") from exc
    except OSError as exc:
        raise InvalidInput(f"{what} {p}: {first_line(exc)}") from exc


class Products:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def register(
        self,
        table: str,
        *,
        description: str | None = None,
        contract: str | None = None,
        contract_file: str | Path | None = None,
        owner: str | None = None,
        classification: str | None = None,
        sensitivity: str | None = None,
        as_: str = MESH_ADMIN,
    ) -> dict[str, Any]:
        """Register ``table`` as a product (or update it); a contract (text, or a file)
        is validated before anything is written, then checked at once."""
        from lakemesh.service.commands import RegisterProduct

        source = "contract"
        if contract_file is not None:
            contract, source = read_text_file(contract_file, "contract"), str(contract_file)
        command = RegisterProduct(
            table=table,
            description=description,
            owner=owner,
            classification=classification,
            sensitivity=sensitivity,
            contract=contract,
            contract_source=source,
        )
        session = self._mesh.gate.session(as_)
        result = session.execute(command)
        if result.get("new_contract"):
            try:
                result["quality"] = self._check(self._mesh.gate.session(as_), result["table"])
            except LakemeshError as exc:
                result["quality_error"] = first_line(exc)
        return result

    def list(self, *, as_: str = MESH_ADMIN) -> builtins.list[dict[str, Any]]:
        """Every registered product (discoverable by every user), with its latest quality
        summary."""
        from lakemesh.products import registry

        session = self._mesh.gate.session(as_)
        decision = session.require("catalog.list", MESH, audit_as="product.list")

        def run(conn: Any) -> builtins.list[dict[str, Any]]:
            out = []
            for p in registry.all_products(conn):
                if not session.allowed("DESCRIBE", p.table):
                    continue
                series = registry.quality_series(conn, p.table, runs=1)
                out.append(
                    {
                        "table": p.table,
                        "owner": p.owner,
                        "tags": _tags(session, p.table),
                        "description": p.description,
                        "classification": p.classification,
                        "sensitivity": p.sensitivity,
                        "contract_version": p.contract_version,
                        "quality": _summary(series[-1]) if series else None,
                    }
                )
            return out

        return session.audited("product.list", None, run, lambda r: {"results": len(r)}, decision)

    def show(self, table: str, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        """A product as ``as_`` may see it: ``show``'s details plus owner, contract,
        quality over time, lineage, glossary terms and classification."""
        data = self._mesh.catalog.show(table, as_=as_, partitions=0)
        if not data.get("product_info"):
            raise NotFound(f"{data['name']} is not a registered data product")
        return data

    def check(self, table: str, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        """Check a product's contract and measure its quality now."""
        session = self._mesh.gate.session(as_)
        name = str(TableName.parse(table))
        if not session.allowed("DESCRIBE", name):
            session.refused("quality.check", name, NotFound("unknown table"))
            raise NotFound(f"table {name} is not in the central catalog")
        session.require(
            "quality.check", Target("table", name, name.partition(".")[0]), audit_as="quality.check"
        )
        return self._check(session, name)

    def check_due(self, domain: str, session: Session) -> builtins.list[str]:
        """After a sync: check every product of ``domain`` whose table moved on since its
        last check. Returns warnings; a failed check never fails the sync."""
        from lakemesh.products import registry

        every = self._mesh.settings.products.recheck_seconds
        with session.read() as conn:
            due = registry.due_for_check(conn, domain, now() - timedelta(seconds=every))
        warnings = []
        fresh = self._mesh.gate.session(session.actor.name)
        for table, _ in due:
            try:
                self._check(fresh, table)
            except LakemeshError as exc:
                warnings.append(f"quality check of {table} skipped: {first_line(exc)}")
        return warnings

    def _check(self, session: Session, table: str) -> dict[str, Any]:
        from lakemesh.metadata.central import table_detail
        from lakemesh.products import conformance, contracts, quality, registry
        from lakemesh.query.governed import run_query
        from lakemesh.service.commands import RecordQuality

        with session.read() as conn:
            product = registry.find(conn, table)
            detail = table_detail(conn, TableName.parse(table))
        if product is None or product.contract is None:
            raise NotFound(f"{table} is not a product with a contract")
        contract = contracts.parse_contract(product.contract, f"{table} contract")
        columns = {c.name: c.type for c in detail.schema.columns}
        system = self._mesh.gate.system_session()

        def run_sql(sql: str) -> pa.Table:
            return run_query(
                self._mesh,
                sql,
                principal=SYSTEM,
                session=system,
                purpose=f"quality check of {table}",
            )

        schema_violations = conformance.check_schema(contract, columns)
        metrics = quality.measure(
            contract, table, columns, run_sql, updated_at=detail.updated_at, now=now()
        )
        violations = [*schema_violations, *quality.violations(metrics)]
        command = RecordQuality(table=table).with_measurement(
            metrics, violations, detail.source_version
        )
        return session.execute(command)


def _tags(session: Session, table: str) -> builtins.list[str]:
    """A product's tags and its columns' tags, ``key=value`` once each: what a listing
    shows beside it (a product's schema and tags are discoverable, SPEC 2.1)."""
    tm = session.snapshot.tables.get(table)
    if tm is None:
        return []
    found = {f"{k}={v}" for k, v in tm.table_tags.items()}
    for tags in tm.column_tags.values():
        found |= {f"{k}={v}" for k, v in tags.items()}
    return sorted(found)


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "measured_at": run["measured_at"],
        "passed": run["passed"],
        "failed": run["failed"],
        "completeness": _mean([m["value"] for m in run["metrics"] if m["kind"] == "completeness"]),
    }


def _mean(values: builtins.list[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return round(sum(vs) / len(vs), 4) if vs else None


class Lineage:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def ingest(self, path: str | Path, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        """Ingest a file (or a folder of files) of OpenLineage run events: all of them or,
        on any malformed event, none."""
        from lakemesh.products.lineage import parse_events

        p = Path(path)
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        events = []
        for f in files:
            events += parse_events(read_text_file(f, "lineage file"), str(f))
        return self.ingest_events(events, source=str(p), as_=as_)

    def ingest_events(
        self, events: builtins.list[Any], *, source: str = "api", as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        """Ingest run events: parsed ``RunEvent``s or their JSON objects."""
        from lakemesh.products.lineage import RunEvent, dataset_table, parse_event
        from lakemesh.service.commands import IngestLineage

        parsed = [
            e if isinstance(e, RunEvent) else parse_event(e, f"event {i + 1}")
            for i, e in enumerate(events)
        ]
        if not parsed:
            raise InvalidInput(f"{source}: no lineage events")
        session = self._mesh.gate.session(as_)
        tables = session.snapshot.tables
        locations = self._locations()

        def by_location(location: str) -> str | None:
            best = None
            for loc, name in locations:
                inside = location == loc or location.startswith(loc.rstrip("/") + "/")
                if inside and (best is None or len(loc) > len(best[0])):
                    best = (loc, name)
            return best[1] if best else None

        cache: dict[Any, str] = {}

        def node(ds: Any) -> str:
            if ds not in cache:
                table = dataset_table(ds, known=tables.__contains__, by_location=by_location)
                cache[ds] = table or ds.key
            return cache[ds]

        written = {node(ds) for e in parsed for ds in e.outputs}
        owners = {n.partition(".")[0] for n in written if "/" not in n}
        # one domain's own tables: its operators report it; anything wider: the mesh admin
        domain = owners.pop() if len(owners) == 1 and all("/" not in n for n in written) else None
        command = IngestLineage(source=source[:1000]).with_events(parsed, node, domain)
        return session.execute(command)

    def _locations(self) -> builtins.list[tuple[str, str]]:
        from sqlalchemy import select

        from lakemesh.store import tables as t

        ct = t.catalog_tables
        with self._mesh.store.read() as conn:
            rows = conn.execute(select(ct.c.location, ct.c.full_name)).all()
        out = []
        for loc, name in rows:
            out.append((loc.removeprefix("file://"), name))
        return out

    def show(self, table: str, *, as_: str = MESH_ADMIN, depth: int = 5) -> dict[str, Any]:
        """``table``'s upstream and downstream as ``as_`` may see them: a table the caller
        may not DESCRIBE is left out (it reads as absent, SPEC 2.8)."""
        from lakemesh.products import graph

        session = self._mesh.gate.session(as_)
        name = str(TableName.parse(table))
        decision = session.check("DESCRIBE", name)
        session.decided(decision, "lineage.show")  # audited as any metadata read
        if not decision.allowed:
            raise NotFound(f"table {name} is not in the central catalog")
        with session.read() as conn:
            up = graph.walk(conn, name, "upstream", depth)
            down = graph.walk(conn, name, "downstream", depth)

        def visible(node: str) -> bool:
            return "/" in node or session.allowed("DESCRIBE", node)

        def keep(edges: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
            return [e for e in edges if visible(e["source"]) and visible(e["target"])]

        return {"table": name, "upstream": keep(up), "downstream": keep(down)}


class Glossary:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def add(
        self, term: str, definition: str, *, owner: str | None = None, as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        from lakemesh.service.commands import DefineTerm

        return self._mesh.gate.session(as_).execute(
            DefineTerm(term=term, definition=definition, owner=owner)
        )

    def link(self, term: str, resource: str, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        from lakemesh.service.commands import LinkTerm

        return self._mesh.gate.session(as_).execute(LinkTerm(term=term, resource_name=resource))

    def list(self, *, as_: str = MESH_ADMIN) -> builtins.list[dict[str, Any]]:
        """Every term; links only to what the caller may see."""
        from lakemesh.products import glossary

        session = self._mesh.gate.session(as_)
        decision = session.require("glossary.read", MESH, audit_as="glossary.list")

        def run(conn: Any) -> builtins.list[dict[str, Any]]:
            out = []
            for term in glossary.all_terms(conn):
                d = term.as_dict()
                d["links"] = [r for r in term.links if _visible(session, r)]
                out.append(d)
            return out

        return session.audited("glossary.list", None, run, lambda r: {"terms": len(r)}, decision)


def _visible(session: Session, resource: str) -> bool:
    parts = resource.split(".")
    table = ".".join(parts[:3])
    if not session.allowed("DESCRIBE", table):
        return False
    if len(parts) == 4:
        return parts[3] in session.check("DESCRIBE", table).columns
    return True
