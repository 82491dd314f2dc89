"""Data products: registration with an ODCS contract, quality measured in place and kept
as a series, breaking-change notices to subscribers, lineage, the glossary, and
discovery (products first, visible to everyone; their data is not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakemesh.access.grants import GrantRequest
from lakemesh.errors import InvalidInput, NotFound, PermissionDenied, QueryDenied
from lakemesh.mesh import Mesh
from lakemesh.products.lineage import Dataset, emit_run, table_dataset
from tests import govmesh
from tests.conftest import Cli

pytestmark = govmesh.ON_BOTH_STORES

ORDERS = "cb.sales.orders"
CUSTOMERS = "cb.sales.customers"
HOLDINGS = "ib.wealth.holdings"

CONTRACT = """
apiVersion: v3.0.2
kind: DataContract
id: cb-orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - name: id
        logicalType: integer
        required: true
        quality:
          - metric: nullValues
            mustBe: 0
      - name: amount
        logicalType: number
        quality:
          - type: sql
            query: SELECT min(${property}) FROM ${object}
            mustBeGreaterThan: {floor}
      - name: email
        logicalType: string
    quality:
      - metric: rowCount
        mustBeGreaterThan: 0
slaProperties:
  - property: latency
    value: 1
    unit: d
"""


def contract(floor: float = 0) -> str:
    return CONTRACT.replace("{floor}", str(floor))


def grant(mesh: Mesh, table: str, to: str, as_: str = "steward@cb") -> None:
    grantable = "@" not in to  # a domain may delegate; its users may not
    request = GrantRequest(actions=("SELECT",), principal=to, table=table, grantable=grantable)
    mesh.access.grant(request, as_=as_)


@pytest.fixture
def own(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Mesh]:
    """A governed mesh with storage of its own, for tests that change the domains' files
    (the shared template's storage must stay as it is)."""
    server = request.getfixturevalue("postgres") if backend == "postgresql" else None
    template = govmesh.Template.build(tmp_path / "own", server)
    with template.copy(tmp_path / "own-home") as mesh:
        yield mesh


# --------------------------------------------------------------------------- registration


def test_a_steward_registers_a_product_that_everyone_can_discover(gov: Mesh) -> None:
    with pytest.raises(NotFound):  # not a product: the analyst cannot see it at all
        gov.catalog.show(ORDERS, as_="analyst@analytics")
    done = gov.products.register(
        ORDERS,
        description="Every order, by day",
        contract=contract(),
        classification="confidential",
        sensitivity="high",
        as_="steward@cb",
    )
    assert done["created"] and done["owner"] == "steward@cb" and done["contract_version"] == 1
    listed = gov.products.list(as_="analyst@analytics")
    assert [p["table"] for p in listed] == [ORDERS]
    shown = gov.products.show(ORDERS, as_="analyst@analytics")
    assert shown["product_info"]["classification"] == "confidential"
    assert {c["name"] for c in shown["columns"]} >= {"id", "amount", "email"}
    with pytest.raises(QueryDenied):
        gov.query(f"SELECT * FROM {ORDERS}", as_="analyst@analytics")  # data is not public
    hits = gov.catalog.search("order", as_="analyst@analytics")
    assert hits[0]["table"] == ORDERS and hits[0]["product"] is True


def test_products_rank_first_in_search(gov: Mesh) -> None:
    gov.products.register(CUSTOMERS, description="Customer master", as_="steward@cb")
    hits = [h["table"] for h in gov.catalog.search("email", as_="steward@cb")]
    assert hits[0] == CUSTOMERS and ORDERS in hits


def test_search_finds_tables_by_their_tags(gov: Mesh) -> None:
    gov.access.assign_tag(f"{ORDERS}.email", "pii=true", as_="steward@cb")
    assert [h["table"] for h in gov.catalog.search("pii", as_="steward@cb")] == [ORDERS]
    assert gov.catalog.search("pii", as_="analyst@analytics") == []  # cannot see orders
    gov.products.register(ORDERS, as_="steward@cb")  # discoverable, tags included
    assert [h["table"] for h in gov.catalog.search("pii", as_="analyst@analytics")] == [ORDERS]


def test_only_the_owning_domains_operators_register(gov: Mesh) -> None:
    for user in ("member@cb", "steward@ib"):
        with pytest.raises((PermissionDenied, NotFound)):
            gov.products.register(ORDERS, as_=user)
    with pytest.raises(NotFound):
        gov.products.register("cb.sales.nothing", as_="steward@cb")
    assert gov.products.list() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: [unclosed", "line"),
        ("- just\n- a list\n", "contract"),
        ("apiVersion: v3.0.2\nkind: DataContract\n", "contract"),
        (CONTRACT.replace("name: email", "name: e_mail").replace("{floor}", "0"), "e_mail"),
        (CONTRACT.replace("name: orders", "name: invoices").replace("{floor}", "0"), "invoices"),
    ],
)
def test_a_bad_contract_is_refused_in_one_line_and_nothing_is_written(
    gov: Mesh, text: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        gov.products.register(ORDERS, contract=text, as_="steward@cb")
    assert "\n" not in str(info.value)
    assert gov.products.list() == []


# --------------------------------------------------------------------------- quality


def test_quality_is_measured_in_place_and_kept_as_a_series(gov: Mesh) -> None:
    done = gov.products.register(ORDERS, contract=contract(), as_="steward@cb")
    first = done["quality"]
    assert first["failed"] == 0 and first["passed"] >= 3
    kinds = {m["kind"] for m in first["metrics"]}
    assert {"completeness", "validity", "freshness", "row_count"} & kinds >= {
        "completeness",
        "validity",
    }
    again = gov.products.check(ORDERS, as_="steward@cb")
    assert again["run"] != first["run"]
    series = gov.products.show(ORDERS)["quality"]
    assert len(series) == 2
    audit = gov.audit.records(principal="system@central", limit=20)
    assert any("quality check" in json.dumps(r.details) for r in audit)


def test_a_failed_rule_is_a_violation_event(gov: Mesh) -> None:
    done = gov.products.register(ORDERS, contract=contract(floor=10), as_="steward@cb")
    assert done["quality"]["failed"] == 1
    events = gov.events.recent(20, "product.contract")
    assert events and events[0]["payload"]["table"] == ORDERS


def test_quality_is_checked_only_by_the_domains_operators(gov: Mesh) -> None:
    gov.products.register(ORDERS, contract=contract(), as_="steward@cb")
    with pytest.raises(PermissionDenied):
        gov.products.check(ORDERS, as_="analyst@analytics")
    with pytest.raises(PermissionDenied):
        gov.products.check(ORDERS, as_="member@cb")


def test_sync_checks_the_contract_when_the_data_changes(own: Mesh) -> None:
    gov = own
    gov.products.register(ORDERS, contract=contract(), as_="steward@cb")
    root = Path(gov.domains.get("cb").storage_uri)
    path = root / "sales" / "orders" / "dt=2024-01-03" / "p.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": [3], "region": ["eu"], "amount": [7.0], "email": ["c@x"]}), path)
    gov.domains.crawl("cb")
    [result] = gov.domains.sync(["cb"])
    assert result.status == "ok", result.warnings
    assert len(gov.products.show(ORDERS)["quality"]) == 2


def test_a_product_whose_data_stopped_changing_is_checked_again(gov: Mesh) -> None:
    gov.products.register(ORDERS, contract=contract(), as_="steward@cb")
    gov.domains.sync(["cb"])  # nothing changed, checked moments ago: not again
    assert len(gov.products.show(ORDERS)["quality"]) == 1
    gov.settings.products.recheck_seconds = 0  # freshness decays: check it again
    gov.domains.sync(["cb"])
    series = gov.products.show(ORDERS)["quality"]
    assert len(series) == 2
    assert any(m["kind"] == "freshness" for m in series[-1]["metrics"])


# --------------------------------------------------------------------------- breaking changes


def test_a_breaking_change_names_the_products_subscribers(own: Mesh) -> None:
    gov = own
    gov.products.register(CUSTOMERS, as_="steward@cb")
    grant(gov, CUSTOMERS, "analytics")
    grant(gov, CUSTOMERS, "analyst@analytics", as_="admin@analytics")
    root = Path(gov.domains.get("cb").storage_uri)
    pq.write_table(
        pa.table({"customer_id": [1], "name": ["a"]}),  # email dropped
        root / "sales" / "customers" / "c.parquet",
    )
    gov.domains.crawl("cb")
    gov.domains.sync(["cb"])
    [notice] = gov.events.recent(50, "product.breaking_change")
    payload = notice["payload"]
    assert payload["table"] == CUSTOMERS
    assert payload["subscribers"] == ["analyst@analytics", "analytics"]
    assert any(c["kind"] == "column_removed" and c["column"] == "email" for c in payload["changes"])


def test_a_table_that_is_not_a_product_sends_no_notice(own: Mesh) -> None:
    gov = own
    root = Path(gov.domains.get("cb").storage_uri)
    pq.write_table(
        pa.table({"customer_id": [1], "name": ["a"]}),
        root / "sales" / "customers" / "c.parquet",
    )
    gov.domains.crawl("cb")
    gov.domains.sync(["cb"])
    assert not gov.events.recent(50, "product.breaking_change")


# --------------------------------------------------------------------------- lineage


def _lineage(gov: Mesh, tmp_path: Path) -> Path:
    root = Path(gov.domains.get("cb").storage_uri)
    path = tmp_path / "lineage.jsonl"
    emit_run(
        path,
        job_namespace="cb",
        job_name="build_customers",
        inputs=[Dataset("file", str(root / "sales" / "orders" / "dt=2024-01-01" / "p.parquet"))],
        outputs=[table_dataset(CUSTOMERS)],
    )
    emit_run(
        path,
        job_namespace="ib",
        job_name="holdings",
        inputs=[table_dataset(CUSTOMERS), Dataset("postgres://crm:5432", "crm.public.people")],
        outputs=[table_dataset(HOLDINGS)],
    )
    return path


def test_lineage_from_openlineage_events_upstream_and_downstream(gov: Mesh, tmp_path: Path) -> None:
    done = gov.lineage.ingest(_lineage(gov, tmp_path))
    assert done["runs"] == 4 and done["edges"] == 3
    shown = gov.lineage.show(CUSTOMERS)
    assert [(e["source"], e["target"]) for e in shown["upstream"]] == [(ORDERS, CUSTOMERS)]
    assert {e["target"] for e in shown["downstream"]} == {HOLDINGS}
    path = tmp_path / "lineage.jsonl"
    again = gov.lineage.ingest(path)  # the same events again: nothing new
    assert again["runs"] == 0 and again["duplicates"] == 4 and again["edges"] == 0
    path.unlink()
    more = gov.lineage.ingest(_lineage(gov, tmp_path))  # new runs of the same jobs
    assert more["runs"] == 4 and more["edges"] == 0
    pairs = [(e["source"], e["target"]) for e in gov.lineage.show(CUSTOMERS)["upstream"]]
    assert pairs == [(ORDERS, CUSTOMERS)]


def test_lineage_shows_only_what_the_caller_may_see(gov: Mesh, tmp_path: Path) -> None:
    gov.lineage.ingest(_lineage(gov, tmp_path))
    with pytest.raises(NotFound):
        gov.lineage.show(CUSTOMERS, as_="analyst@analytics")
    gov.products.register(HOLDINGS, as_="steward@ib")
    seen = gov.lineage.show(HOLDINGS, as_="analyst@analytics")
    sources = {e["source"] for e in seen["upstream"]}
    assert CUSTOMERS not in sources and ORDERS not in sources  # hidden: reads as absent


def test_malformed_lineage_is_refused_whole(gov: Mesh, tmp_path: Path) -> None:
    path = _lineage(gov, tmp_path)
    with path.open("a") as f:
        f.write('{"eventTime": "yesterday"}\n')
    with pytest.raises(InvalidInput) as info:
        gov.lineage.ingest(path)
    assert "\n" not in str(info.value)
    assert gov.lineage.show(CUSTOMERS) == {"table": CUSTOMERS, "upstream": [], "downstream": []}


def test_lineage_into_a_domain_is_that_domains_to_report(gov: Mesh, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    emit_run(
        path,
        job_namespace="cb",
        job_name="x",
        inputs=[table_dataset(ORDERS)],
        outputs=[table_dataset(CUSTOMERS)],
    )
    with pytest.raises(PermissionDenied):
        gov.lineage.ingest(path, as_="steward@ib")
    assert gov.lineage.ingest(path, as_="steward@cb")["edges"] == 1
    with pytest.raises(PermissionDenied):  # writes outside cb: the mesh admin's
        gov.lineage.ingest(_lineage(gov, tmp_path), as_="steward@cb")


# --------------------------------------------------------------------------- glossary


def test_glossary_terms_are_defined_linked_searched_and_shown(gov: Mesh) -> None:
    gov.glossary.add("Revenue", "Money received for orders", as_="steward@cb")
    gov.glossary.link("revenue", f"{ORDERS}.amount", as_="steward@cb")
    [term] = gov.glossary.list(as_="analyst@analytics")
    assert term["owner"] == "steward@cb" and term["links"] == []  # cannot see orders
    assert gov.glossary.list(as_="steward@cb")[0]["links"] == [f"{ORDERS}.amount"]
    hits = gov.catalog.search("revenue", as_="steward@cb")
    assert [h["table"] for h in hits] == [ORDERS]
    assert gov.catalog.search("revenue", as_="analyst@analytics") == []
    shown = gov.catalog.show(ORDERS, as_="steward@cb")
    assert next(c for c in shown["columns"] if c["name"] == "amount")["glossary"] == ["Revenue"]


def test_glossary_refusals(gov: Mesh) -> None:
    with pytest.raises(PermissionDenied):
        gov.glossary.add("Revenue", "x", as_="member@cb")
    gov.glossary.add("Revenue", "Money received", as_="steward@cb")
    with pytest.raises(PermissionDenied):  # someone else's term
        gov.glossary.add("revenue", "Something else", as_="steward@ib")
    with pytest.raises(NotFound):
        gov.glossary.link("Revenue", f"{ORDERS}.amount", as_="steward@ib")
    with pytest.raises(NotFound):
        gov.glossary.link("Nope", f"{ORDERS}.amount", as_="steward@cb")
    with pytest.raises(NotFound):
        gov.glossary.link("Revenue", f"{ORDERS}.nope", as_="steward@cb")
    for bad in ("", "x" * 300, "DROP;--"):
        with pytest.raises(InvalidInput):
            gov.glossary.add(bad, "d", as_="steward@cb")
    with pytest.raises(InvalidInput):
        gov.glossary.add("Margin", "   ", as_="steward@cb")
    assert [t["name"] for t in gov.glossary.list()] == ["Revenue"]


# --------------------------------------------------------------------------- the CLI


def test_product_commands(gov: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(gov.home, capsys)
    good = tmp_path / "c.yaml"
    good.write_text(contract())
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: [")
    code, out, err = cli(
        "product", "register", ORDERS, "--contract", str(bad), "--as", "steward@cb"
    )
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    code, out, err = cli("product", "register", ORDERS, "--contract", str(tmp_path / "no.yaml"))
    assert code == 1 and "no such file" in err
    code, out, err = cli(
        "product", "register", ORDERS, "--contract", str(good), "--as", "steward@cb"
    )
    assert code == 0 and "registered data product cb.sales.orders" in out, err
    assert cli.json("product", "list", "--as", "analyst@analytics")[0]["table"] == ORDERS
    code, out, err = cli("product", "show", ORDERS, "--as", "analyst@analytics")
    assert code == 0 and "quality over time" in out, err
    code, out, err = cli("product", "show", CUSTOMERS)
    assert code == 1 and "not a registered data product" in err
    code, out, err = cli(
        "glossary", "add", "Revenue", "--definition", "Money", "--as", "steward@cb"
    )
    assert code == 0, err
    code, out, err = cli("glossary", "link", "Revenue", f"{ORDERS}.amount", "--as", "steward@cb")
    assert code == 0, err
    assert cli.json("glossary", "list")[0]["links"] == [f"{ORDERS}.amount"]
    path = _lineage(gov, tmp_path)
    code, out, err = cli("lineage", "ingest", str(path))
    assert code == 0 and "ingested 4 run event(s)" in out, err
    code, out, err = cli("lineage", "show", CUSTOMERS)
    assert code == 0 and ORDERS in out and HOLDINGS in out, err
