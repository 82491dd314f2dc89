"""Registered data products: their business metadata, their contracts' versions and their
quality over time, as the metadata store keeps them.

A product is a central-catalog table with an owner, a description, a classification and a
sensitivity, and optionally a data contract (ODCS v3, ``products.contracts``). Every
contract it was registered with is kept as a version; quality measurements are a time
series (one ``run`` per measurement). Registration is what makes a table discoverable to
every user (SPEC 2.1), so it is a policy change for the authorizer's snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from lakemesh.errors import InvalidInput, NotFound
from lakemesh.products.quality import Metric
from lakemesh.store import tables as t
from lakemesh.typedef import now

#: ODCS's data classification levels, and lakemesh's sensitivity scale.
CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
SENSITIVITIES = ("low", "medium", "high")


def check_level(value: str | None, allowed: Sequence[str], what: str) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v not in allowed:
        raise InvalidInput(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return v


@dataclass
class ContractVersion:
    version: int
    contract_id: str
    contract_version: str
    registered_by: str
    registered_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"registered_at": self.registered_at.isoformat()}


@dataclass
class Product:
    table: str
    table_id: int
    owner: str
    description: str | None
    classification: str | None
    sensitivity: str | None
    registered_by: str
    registered_at: datetime
    updated_at: datetime | None
    contract_version: int | None
    contract: str | None = None
    contracts: list[ContractVersion] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "owner": self.owner,
            "description": self.description,
            "classification": self.classification,
            "sensitivity": self.sensitivity,
            "registered_by": self.registered_by,
            "registered_at": self.registered_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "contract_version": self.contract_version,
            "contract": self.contract,
            "contracts": [c.as_dict() for c in self.contracts],
        }


_P, _CT = t.data_products, t.catalog_tables


def table_id(conn: Connection, table: str) -> int:
    found = conn.execute(select(_CT.c.id).where(_CT.c.full_name == table)).scalar()
    if found is None:
        raise NotFound(f"table {table} is not in the central catalog")
    return int(found)


def _product(r: Row[Any]) -> Product:
    return Product(
        table=r.full_name,
        table_id=r.table_id,
        owner=r.owner,
        description=r.description,
        classification=r.classification,
        sensitivity=r.sensitivity,
        registered_by=r.registered_by,
        registered_at=r.registered_at,
        updated_at=r.updated_at,
        contract_version=r.contract_version,
    )


def _select() -> Any:
    return select(_P, _CT.c.full_name).join(_CT, _CT.c.id == _P.c.table_id)


def find(conn: Connection, table: str, *, with_contract: bool = True) -> Product | None:
    row = conn.execute(_select().where(_CT.c.full_name == table)).first()
    if row is None:
        return None
    product = _product(row)
    if with_contract:
        pc = t.product_contracts
        rows = conn.execute(
            select(pc).where(pc.c.table_id == product.table_id).order_by(pc.c.version)
        ).all()
        product.contracts = [
            ContractVersion(
                r.version, r.contract_id, r.contract_version, r.registered_by, r.registered_at
            )
            for r in rows
        ]
        current = [r for r in rows if r.version == product.contract_version]
        product.contract = current[0].text if current else None
    return product


def all_products(conn: Connection) -> list[Product]:
    return [_product(r) for r in conn.execute(_select().order_by(_CT.c.full_name))]


def register(
    conn: Connection,
    table: str,
    *,
    owner: str,
    description: str | None,
    classification: str | None,
    sensitivity: str | None,
    contract: tuple[str, str, str] | None,
    actor: str,
) -> tuple[Product, bool, bool]:
    """Register ``table`` (or update its registration); ``contract`` is (text, id,
    version). Returns the product, whether it is new, and whether a new contract version
    was stored (registering the same contract text again stores nothing)."""
    tid = table_id(conn, table)
    stamp = now()
    before = find(conn, table, with_contract=True)
    new_contract = contract is not None and (before is None or before.contract != contract[0])
    version = before.contract_version if before else None
    if contract is not None and new_contract:
        pc = t.product_contracts
        last = conn.execute(select(func.max(pc.c.version)).where(pc.c.table_id == tid)).scalar()
        version = int(last or 0) + 1
        conn.execute(
            insert(pc).values(
                table_id=tid,
                version=version,
                contract_id=contract[1][:200],
                contract_version=contract[2][:64],
                text=contract[0],
                registered_by=actor,
                registered_at=stamp,
            )
        )
    values = {
        "owner": owner,
        "description": description if description is not None else (before and before.description),
        "classification": classification or (before and before.classification),
        "sensitivity": sensitivity or (before and before.sensitivity),
        "contract_version": version,
        "updated_at": stamp,
    }
    if before is None:
        conn.execute(
            insert(_P).values(table_id=tid, registered_by=actor, registered_at=stamp, **values)
        )
    else:
        if new_contract:
            values["checked_version"] = None  # check the new contract at the next sync
        conn.execute(update(_P).where(_P.c.table_id == tid).values(**values))
    product = find(conn, table)
    assert product is not None
    return product, before is None, new_contract


# --------------------------------------------------------------------------- quality


def record_metrics(
    conn: Connection, tid: int, run: str, metrics: Sequence[Metric], checked: str | None
) -> None:
    """One measurement of a product's quality; ``checked`` is the table version it was
    measured on (so the sync does not measure an unchanged table again)."""
    stamp = now()
    if metrics:
        conn.execute(
            insert(t.quality_metrics),
            [
                {
                    "table_id": tid,
                    "run": run,
                    "measured_at": stamp,
                    "kind": m.kind,
                    "column": m.column,
                    "rule": m.rule,
                    "value": m.value,
                    "unit": m.unit,
                    "passed": m.passed,
                    "detail": m.detail[:2000],
                }
                for m in metrics
            ],
        )
    conn.execute(update(_P).where(_P.c.table_id == tid).values(checked_version=checked))


def quality_series(conn: Connection, table: str, *, runs: int = 20) -> list[dict[str, Any]]:
    """The last ``runs`` measurements of ``table``, oldest first, each with its metrics."""
    q = t.quality_metrics
    tid = conn.execute(select(_CT.c.id).where(_CT.c.full_name == table)).scalar()
    if tid is None:
        return []
    recent = conn.execute(
        select(q.c.run, func.max(q.c.measured_at).label("at"))
        .where(q.c.table_id == tid)
        .group_by(q.c.run)
        .order_by(func.max(q.c.measured_at).desc(), q.c.run.desc())
        .limit(runs)
    ).all()
    if not recent:
        return []
    rows = conn.execute(
        select(q).where(q.c.table_id == tid, q.c.run.in_([r.run for r in recent])).order_by(q.c.id)
    ).all()
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_run.setdefault(r.run, []).append(
            {
                "kind": r.kind,
                "column": r.column,
                "rule": r.rule,
                "value": r.value,
                "unit": r.unit,
                "passed": r.passed,
                "detail": r.detail,
            }
        )
    return [
        {
            "run": r.run,
            "measured_at": r.at.isoformat(),
            "passed": sum(1 for m in by_run[r.run] if m["passed"] is True),
            "failed": sum(1 for m in by_run[r.run] if m["passed"] is False),
            "metrics": by_run[r.run],
        }
        for r in reversed(recent)
    ]


def due_for_check(
    conn: Connection, domain: str, stale_before: datetime | None = None
) -> list[tuple[str, str]]:
    """The domain's products with a contract whose table moved on since the last check,
    or (with ``stale_before``) whose last check is older than that: freshness decays
    while nothing changes, and a table that stopped receiving data must still be caught.
    Returns (table, source_version) pairs."""
    q = t.quality_metrics
    last = (
        select(q.c.table_id, func.max(q.c.measured_at).label("at"))
        .group_by(q.c.table_id)
        .subquery()
    )
    rows = conn.execute(
        select(_CT.c.full_name, _CT.c.source_version, _P.c.checked_version, last.c.at)
        .join(_P, _P.c.table_id == _CT.c.id)
        .join(t.domains, t.domains.c.id == _CT.c.domain_id)
        .outerjoin(last, last.c.table_id == _CT.c.id)
        .where(t.domains.c.name == domain, _P.c.contract_version.is_not(None))
        .order_by(_CT.c.full_name)
    ).all()
    return [
        (r.full_name, r.source_version)
        for r in rows
        if r.checked_version != r.source_version
        or r.at is None
        or (stale_before is not None and _aware(r.at) <= stale_before)
    ]


def _aware(at: datetime) -> datetime:
    """SQLite hands an aggregate's timestamp back without its type: naive UTC."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
