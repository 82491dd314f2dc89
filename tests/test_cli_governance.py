"""The governance commands through the real CLI: JSON contract, refusals, audit verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from lakemesh.mesh import Mesh
from tests.conftest import Cli
from tests.files import write_parquet


@pytest.fixture
def ready(cli: Cli, tmp_path: Path) -> Cli:
    assert cli("init")[0] == 0
    write_parquet(
        tmp_path / "cb" / "sales" / "orders" / "a.parquet",
        {"id": [1], "region": ["eu"], "email": ["a@x"]},
    )
    for args in (
        ("domain", "create", "cb", "--storage", str(tmp_path / "cb")),
        (
            "domain",
            "create",
            "an",
            "--storage",
            str(tmp_path / "an"),
            "--create",
            "--kind",
            "consumer",
        ),
        ("crawl", "cb"),
        ("sync",),
    ):
        assert cli(*args)[0] == 0, args
    return cli


def test_governance_flow_and_json_contract(ready: Cli) -> None:
    user = ready.json("user", "create", "steward@cb", "--role", "steward")
    assert user["token"].startswith("lm_") and user["role"] == "steward"
    for name, role in (("admin@an", "admin"), ("analyst@an", "member")):
        ready.json("user", "create", name, "--role", role)
    assert ready.json("tag", "define", "pii", "--values", "true,false")["created"] is True
    ready.json("tag", "assign", "cb.sales.orders.email", "pii=true", "--as", "steward@cb")
    ready.json("mask", "--tag", "pii=true", "--with", "hash")
    shared = ready.json(
        "grant",
        "SELECT",
        "--on",
        "cb.sales.orders",
        "--to",
        "an",
        "--grantable",
        "--row-filter",
        "region = 'eu'",
        "--as",
        "steward@cb",
    )
    assert shared["id"].startswith("g")
    mine = ready.json(
        "grant", "SELECT", "--on", "cb.sales.orders", "--to", "analyst@an", "--as", "admin@an"
    )
    assert mine["parent_id"] == shared["id"] and mine["row_filter"] == "\"region\" = 'eu'"
    e = ready.json("access", "explain", "cb.sales.orders", "--as", "analyst@an")
    assert e["allowed"] and e["masks"]["email"]["method"] == "hash"
    assert e["row_filters"] == ["\"region\" = 'eu'"]
    code, out, _ = ready("access", "explain", "cb.sales.orders", "--as", "analyst@an")
    assert code == 0 and "ALLOWED" in out and "mask: email -> hash" in out
    # the consumer admin sees what its domain holds (to delegate it) but reads nothing
    held = ready.json("access", "explain", "cb.sales.orders", "--as", "admin@an")
    assert not held["allowed"] and held["missing"]
    assert ready.json("revoke", shared["id"], "--as", "steward@cb")["revoked"] == [
        shared["id"],
        mine["id"],
    ]
    # without any grant neither may even know the table: it reads as unknown
    for who in ("analyst@an", "admin@an"):
        code, _, err = ready("access", "explain", "cb.sales.orders", "--as", who)
        assert code == 1 and "not in the central catalog" in err
    records = ready.json("audit", "list", "--principal", "admin@an", "--limit", "5")
    assert {r["action"] for r in records} >= {"grant.create"}
    assert ready.json("audit", "verify")["ok"] is True


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("user", "create", "x@cb", "--as", "ghost@cb"), "unknown principal"),
        (("user", "create", "x@nowhere"), "unknown domain"),
        (("user", "create", "bad name@cb"), "invalid principal"),
        (("tag", "define", "Bad", "--values", "x"), "invalid tag key"),
        (("tag", "assign", "cb.sales.orders", "nokey=x"), "unknown tag key"),
        (("grant", "SELECT", "--on", "cb", "--to", "an"), "invalid --on"),
        (("grant", "FLY", "--on", "cb.sales.orders", "--to", "an"), "invalid action"),
        (
            ("grant", "SELECT", "--on", "cb.sales.orders", "--tags", "pii=true", "--to", "an"),
            "exactly one",
        ),
        (
            (
                "grant",
                "SELECT",
                "--on",
                "cb.sales.orders",
                "--to",
                "an",
                "--row-filter",
                "1=1; DROP TABLE grants",
            ),
            "row filter",
        ),
        (
            ("grant", "SELECT", "--on", "cb.sales.orders", "--to", "an", "--expires", "yesterday"),
            "invalid expiry",
        ),
        (("revoke", "gnothing"), "unknown grant"),
        (("mask", "--column", "cb.sales.orders.email", "--with", "rot13"), "mask"),
        (("access", "explain", "cb.sales.nope", "--as", "admin@central"), "not in the central"),
        (("audit", "list", "--since", "last tuesday"), "invalid timestamp"),
    ],
)
def test_refusals_are_one_line(ready: Cli, args: tuple[str, ...], fragment: str) -> None:
    code, _, err = ready(*args)
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err, err


def test_audit_verify_fails_after_tampering(ready: Cli) -> None:
    assert ready("audit", "checkpoint")[0] == 0
    mesh = Mesh.open(ready.home)
    with mesh.store.write() as conn:
        conn.execute(text("UPDATE audit_log SET principal = 'nobody@cb' WHERE seq = 2"))
    mesh.close()
    code, out, err = ready("audit", "verify")
    assert code == 1 and "modified at seq 2" in out and "audit verification failed" in err
    report = json.loads(ready("audit", "verify", "--json")[1])
    assert report["ok"] is False and report["problems"][0]["kind"] == "modified"


def test_audit_times_without_a_zone_are_utc(ready: Cli) -> None:
    """As ``grant --expires`` reads them: a date, or a time without a zone, is UTC."""
    everything = ready.json("audit", "list", "--since", "2000-01-01")
    assert everything and everything == ready.json("audit", "list", "--since", "2000-01-01T00:00Z")
    assert ready.json("audit", "list", "--since", "2999-01-01T10:00") == []
