"""Four leaks closed: empty grant options, explain on an invisible table, search through a
hidden column, and queries the audit log could not attribute to a table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lakemesh.access.grants import GrantRequest
from lakemesh.errors import InvalidInput, NotFound
from lakemesh.mesh import Mesh
from lakemesh.query.governed import QueryFailed
from tests import govmesh
from tests.conftest import Cli
from tests.files import write_parquet

ORDERS = "cb.sales.orders"


def grant(mesh: Mesh, as_: str, **kw: Any) -> str:
    return str(mesh.access.grant(govmesh.request(kw), as_=as_)["id"])


@pytest.fixture
def cli_gov(cli: Cli, gov_template: Path, tmp_path: Path) -> Cli:
    home = tmp_path / "clihome-gov"
    shutil.copytree(gov_template, home)
    cli.home = home
    return cli


# --------------------------------------------------------------------------- 1. empty options


@pytest.mark.parametrize("option", ["--row-filter", "--columns", "--exclude-columns"])
@pytest.mark.parametrize("value", ["", "   ", " , "])
def test_an_empty_grant_option_is_refused(cli_gov: Cli, option: str, value: str) -> None:
    if option == "--row-filter" and value == " , ":
        value = "\t"
    before = cli_gov.json("grant", "list")
    code, _, err = cli_gov(
        "grant", "SELECT", "--on", ORDERS, "--to", "member@cb", option, value, "--as", "steward@cb"
    )
    assert code == 1 and f"{option} is empty" in err, err
    assert cli_gov.json("grant", "list") == before


def test_an_empty_list_is_refused_in_python_too(gov: Mesh) -> None:
    for field in ("columns", "exclude_columns"):
        request = GrantRequest(actions=("SELECT",), principal="member@cb", table=ORDERS)
        setattr(request, field, [])
        with pytest.raises(InvalidInput, match="is empty"):
            gov.access.grant(request, as_="steward@cb")
    with pytest.raises(InvalidInput, match="unknown column"):
        gov.access.grant(
            GrantRequest(actions=("SELECT",), principal="member@cb", table=ORDERS, columns=[" "]),
            as_="steward@cb",
        )


# --------------------------------------------------------------------------- 2. explain


def test_explain_on_a_table_the_caller_may_not_describe_reads_as_unknown(gov: Mesh) -> None:
    with pytest.raises(NotFound) as hidden:
        gov.access.explain(ORDERS, as_="analyst@analytics")
    with pytest.raises(NotFound) as unknown:
        gov.access.explain("cb.sales.nope", as_="analyst@analytics")
    assert str(hidden.value).replace("orders", "X") == str(unknown.value).replace("nope", "X")
    [record] = gov.audit.records(action="access.explain:DESCRIBE", limit=1)
    assert record.outcome == "denied" and record.resource == ORDERS


def test_explain_shows_only_the_columns_its_principal_may_describe(gov: Mesh) -> None:
    gov.access.assign_tag(f"{ORDERS}.email", "pii=true", as_="steward@cb")
    grant(gov, "steward@cb", grant="SELECT", on=ORDERS, to="member@cb", columns="id,region")
    explained = json.dumps(gov.access.explain(ORDERS, as_="member@cb"))
    assert "email" not in explained and "amount" not in explained
    assert "email" in json.dumps(gov.access.explain(ORDERS, as_="steward@cb"))


# --------------------------------------------------------------------------- 3. search


def test_search_does_not_match_through_a_hidden_column(gov: Mesh) -> None:
    grant(gov, "steward@cb", grant="SELECT", on=ORDERS, to="member@cb", columns="id,region")
    assert [h["table"] for h in gov.catalog.search("region", as_="member@cb")] == [ORDERS]
    assert gov.catalog.search("email", as_="member@cb") == []
    assert gov.catalog.search("orders email", as_="member@cb") == []
    assert [h["table"] for h in gov.catalog.search("email", as_="steward@cb")][:1] != []


def test_a_registered_product_stays_discoverable_by_its_columns(gov: Mesh) -> None:
    govmesh.register_product(gov, ORDERS)
    hits = gov.catalog.search("email", as_="analyst@analytics")
    assert [h["table"] for h in hits] == [ORDERS] and hits[0]["columns"] == ["email"]


# --------------------------------------------------------------------------- 4. audit


def test_every_query_record_names_the_tables_it_read(cli_gov: Cli) -> None:
    cli = cli_gov
    for table, owner in ((ORDERS, "steward@cb"), ("ib.wealth.holdings", "steward@ib")):
        cli.json("grant", "SELECT", "--on", table, "--to", "admin@central", "--as", owner)
    code, _, _ = cli(
        "query",
        "SELECT count(*) FROM cb.sales.orders o JOIN ib.wealth.holdings h ON h.customer_id = o.id",
    )
    assert code == 0
    for table in (ORDERS, "ib.wealth.holdings"):
        [record] = cli.json(  # the sync's classification samples are the central node's
            "audit",
            "list",
            "--resource",
            table,
            "--action",
            "query",
            "--principal",
            "admin@central",
        )
        assert record["outcome"] == "allowed" and "JOIN" in record["details"]["sql"]
    code, _, _ = cli("query", "SELECT count(*) FROM cb.sales.customers", "--as", "member@cb")
    assert code == 1
    denied = cli.json("audit", "list", "--action", "query", "--outcome", "denied")
    assert [r["resource"] for r in denied] == ["cb.sales.customers"]
    assert cli.json("audit", "list", "--outcome", "no-such-outcome") == []
    everything = cli.json("audit", "list", "--resource", "cb.sales", "--action", "query")
    assert {r["resource"] for r in everything} == {ORDERS, "cb.sales.customers"}


def test_a_query_that_fails_unexpectedly_is_audited_and_shows_no_path(
    sqlite_mesh: Mesh, tmp_path: Path
) -> None:
    root = tmp_path / "shop"
    write_parquet(root / "db" / "orders" / "a.parquet", {"id": [1, 2]})
    mesh = sqlite_mesh
    mesh.domains.create("shop", str(root))
    mesh.domains.crawl("shop")
    mesh.domains.sync()
    grant(mesh, "admin@central", grant="SELECT", on="shop.db.orders", to="admin@central")
    shutil.rmtree(root / "db" / "orders")  # the table's folder is gone
    with pytest.raises(QueryFailed) as info:
        mesh.query("SELECT count(*) FROM shop.db.orders", as_="admin@central")
    message = str(info.value)
    assert str(root) not in message and "correlation id" in message
    [record] = mesh.audit.records(action="query", resource="shop.db.orders", limit=1)
    assert record.outcome in ("failed", "aborted")
    assert record.details["correlation_id"] in message and record.details["reason"]


# --------------------------------------------------------------------------- refusals


def _refusal(mesh: Mesh, sql: str, as_: str) -> str:
    with pytest.raises(QueryFailed) as info:
        mesh.query(sql, as_=as_)
    return str(info.value).rsplit(" (correlation id", 1)[0]


@pytest.mark.parametrize(
    ("hidden", "absent"),
    [
        ("SELECT email FROM cb.sales.orders", "SELECT nosuch FROM cb.sales.orders"),
        ("SELECT o.email FROM cb.sales.orders o", "SELECT o.nosuch FROM cb.sales.orders o"),
        (
            "SELECT id FROM cb.sales.orders WHERE email = 'x'",
            "SELECT id FROM cb.sales.orders WHERE nosuch = 'x'",
        ),
        (
            "SELECT count(*) FROM cb.sales.orders GROUP BY email",
            "SELECT count(*) FROM cb.sales.orders GROUP BY nosuch",
        ),
        ("SELECT o.email.x FROM cb.sales.orders o", "SELECT o.nosuch.x FROM cb.sales.orders o"),
        ("SELECT * FROM cb.sales.customers", "SELECT * FROM cb.sales.nosuch"),
    ],
)
def test_a_hidden_name_and_an_absent_one_are_refused_alike(
    gov: Mesh, hidden: str, absent: str
) -> None:
    """SPEC 2.8: the consumer's message may not tell a hidden column or table from one
    that does not exist (it may name what the consumer wrote)."""
    grant(gov, "steward@cb", grant="SELECT", on=ORDERS, to="member@cb", columns="id,region")
    shown = _refusal(gov, hidden, "member@cb")
    other = _refusal(gov, absent, "member@cb")
    assert shown.startswith("query refused: ") and "does not exist or you may not read it" in shown
    assert shown.replace("email", "X").replace("customers", "X") == other.replace("nosuch", "X")


def test_refusals_that_depend_only_on_the_text_say_why(gov: Mesh) -> None:
    grant(gov, "steward@cb", grant="SELECT", on=ORDERS, to="member@cb")
    said = {
        "SELECT read_text('/etc/passwd')": "function read_text is not allowed: it reads files",
        "SELECT * FROM read_parquet('/x')": "table function read_parquet is not allowed",
        "SELECT current_setting('threads')": "it reads settings or engine state",
        "SELECT 1; SELECT 2": "multiple statements",
        "DROP TABLE cb.sales.orders": "only SELECT queries are allowed",
        "EXPLAIN SELECT * FROM cb.sales.orders": "only SELECT queries are allowed, not EXPLAIN",
        "PRAGMA database_list": "only SELECT queries are allowed, not PRAGMA",
        "SELEC": "syntax error: expected a query (SELECT ...)",
        "orders": "syntax error: expected a query (SELECT ...)",
        "SELECT no_such_function(1)": "function no_such_function does not exist",
    }
    for sql, reason in said.items():
        assert reason in _refusal(gov, sql, "member@cb"), sql
    # a policy that cannot be applied is the policy's business: generic
    assert _refusal(gov, "SELECT 1 +", "member@cb").startswith("query refused: query: syntax")
