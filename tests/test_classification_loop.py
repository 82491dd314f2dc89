"""The classification loop, end to end: a sync samples new tables as the central node,
recommendations wait for the owning domain's stewards, accepting assigns the tag (and the
mask that reads it applies to the next query), a rejection is remembered unless the data
changes materially, and nothing sampled is ever stored."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update
from stdnum import iban as stdiban

from lakemesh.access.grants import GrantRequest
from lakemesh.classify import recommendations as recs
from lakemesh.errors import Conflict, InvalidInput, LakemeshError, NotFound, PermissionDenied
from lakemesh.home import write_settings
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests.conftest import Cli

CUSTOMERS = "crm.core.customers"
FIRST = ["Anna", "Jonas", "Marie", "Lukas", "Sophie", "Paul", "Emma", "Felix", "Lena", "Max"]
LAST = ["Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch"]


def _iban(i: int) -> str:
    bban = f"{370400440000000000 + i * 7919:018d}"
    return f"DE{stdiban.calc_check_digits('DE00' + bban)}{bban}"


def customers(n: int = 60, *, email_share: float = 1.0) -> pa.Table:
    emails = [
        f"{FIRST[i % 10].lower()}.{LAST[i % 8].lower()}{i}@example.org"
        if i < n * email_share
        else f"note {i}: call back on monday"
        for i in range(n)
    ]
    return pa.table(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "email": emails,
            "iban": [_iban(i) for i in range(n)],
            "segment": [["retail", "private", "business"][i % 3] for i in range(n)],
            "order_count": [i % 7 for i in range(n)],
        }
    )


def write(root: Path, table: pa.Table, name: str = "customers.parquet") -> None:
    path = root / "core" / "customers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def build(tmp_path: Path, reclassify_seconds: float = 0, db_url: str | None = None) -> Mesh:
    """The crm mesh; by default every data change is classified again (the tests of
    rejections need that; the interval has its own test)."""
    root = tmp_path / "crm"
    write(root, customers())
    mesh = Mesh.init(tmp_path / "home", db_url)
    settings = mesh.settings
    settings.products.reclassify_seconds = reclassify_seconds
    write_settings(mesh.home, settings)
    mesh.close()
    mesh = Mesh.open(tmp_path / "home")
    mesh.domains.create("crm", str(root), create=True)
    mesh.domains.create("ops", str(tmp_path / "ops"), create=True)
    mesh.domains.create("analytics", str(tmp_path / "an"), kind="consumer", create=True)
    for user, role in (
        ("steward@crm", "steward"),
        ("admin@crm", "admin"),
        ("member@crm", "member"),
        ("steward@ops", "steward"),
        ("analyst@analytics", "member"),
    ):
        mesh.access.create_user(user, role)
    mesh.access.define_tag("pii", ["true", "false"])
    mesh.domains.crawl("crm")
    mesh.domains.sync()
    return mesh


@pytest.fixture
def crm(tmp_path: Path, db_url: str) -> Iterator[Mesh]:
    """On both metadata stores (``db_url`` is the SQLite file or a PostgreSQL database)."""
    mesh = build(tmp_path, db_url=db_url)
    yield mesh
    mesh.close()


def pending(mesh: Mesh, column: str | None = None) -> list[recs.Recommendation]:
    found = mesh.classification.queue("crm", as_="steward@crm")
    return [r for r in found if column is None or r.column == column]


def resync(mesh: Mesh) -> None:
    mesh.domains.crawl("crm")
    [result] = mesh.domains.sync(["crm"])
    assert result.status == "ok", result.summary()


# --------------------------------------------------------------------------- sync -> queue


def test_sync_classifies_new_tables_and_the_steward_sees_why(crm: Mesh) -> None:
    by_column = {r.column: r for r in pending(crm)}
    assert {"email", "iban", "customer_id"} <= set(by_column)
    assert "segment" not in by_column and "order_count" not in by_column
    email, iban = by_column["email"], by_column["iban"]
    assert email.tag == "pii=true" and email.confidence >= 0.8
    assert "60 of 60" in email.reason or "60/60" in email.reason, email.reason
    assert "IBAN" in iban.reason and iban.sampled == 60
    for rec in by_column.values():  # counts and reasons, never a sampled value
        assert "@example.org" not in rec.reason and "C1000" not in rec.reason
        assert not any(_iban(i) in rec.reason for i in range(60))


def test_the_sample_is_read_by_the_central_node_audited_and_never_stored(crm: Mesh) -> None:
    records = crm.audit.records(limit=500)
    samples = [r for r in records if r.principal == "system@central" and r.action == "query"]
    assert samples and samples[0].resource == CUSTOMERS
    assert "classification sample" in json.dumps(samples[0].details)
    with crm.store.read() as conn:
        stored = json.dumps([list(r) for r in conn.execute(select(t.classifications))], default=str)
    assert "@example.org" not in stored and "C100001" not in stored


def test_nobody_can_act_as_the_central_node(crm: Mesh) -> None:
    with pytest.raises(InvalidInput, match="reserved"):
        crm.access.create_user("system@central", "admin")
    with pytest.raises(NotFound, match="unknown principal"):
        crm.query(f"SELECT * FROM {CUSTOMERS}", as_="system@central")


def test_a_table_that_did_not_change_is_not_sampled_again(crm: Mesh) -> None:
    before = _samples(crm)
    [result] = crm.domains.sync(["crm"])
    assert result.status == "ok"
    assert _samples(crm) == before


def test_appends_are_sampled_again_only_after_the_refresh_interval(tmp_path: Path) -> None:
    mesh = build(tmp_path, reclassify_seconds=3600)
    before = _samples(mesh)
    write(tmp_path / "crm", customers(70), "more.parquet")  # data changed, schema did not
    resync(mesh)
    assert _samples(mesh) == before
    write(tmp_path / "crm", customers(70).append_column("phone", pa.array(["x"] * 70)))
    resync(mesh)  # schema changed: sampled at once, whatever the interval
    assert _samples(mesh) == before + 1


def test_an_unreadable_table_is_marked_and_not_read_again(crm: Mesh, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "crm" / "core" / "customers")
    with crm.store.write() as conn:
        conn.execute(update(t.catalog_tables).values(classified_version=None))
    session = crm.gate.session("admin@central")
    warnings = crm.classification.classify_due("crm", session)
    assert [w for w in warnings if w.startswith(f"classification of {CUSTOMERS} skipped")]
    assert crm.classification.classify_due("crm", session) == []  # until the table changes
    with pytest.raises(LakemeshError):  # asked for explicitly: the failure itself
        crm.classification.classify(CUSTOMERS, as_="steward@crm")


def _samples(mesh: Mesh) -> int:
    return sum(1 for r in mesh.audit.records(limit=1000) if r.principal == "system@central")


# --------------------------------------------------------------------------- who decides


def test_only_the_owning_domains_stewards_see_and_decide(crm: Mesh) -> None:
    assert crm.classification.queue(as_="steward@crm")  # own domain by default
    assert crm.classification.queue(as_="admin@central")  # every domain
    for user in ("member@crm", "admin@crm", "steward@ops"):
        with pytest.raises(PermissionDenied):
            crm.classification.queue("crm", as_=user)
    with pytest.raises(PermissionDenied):
        crm.classification.accept(f"{CUSTOMERS}.email", as_="admin@crm")
    with pytest.raises(NotFound):  # ops cannot even see the table: reads like no column
        crm.classification.accept(f"{CUSTOMERS}.email", as_="steward@ops")
    with pytest.raises(NotFound):
        crm.classification.accept(f"{CUSTOMERS}.nope", as_="steward@crm")
    assert pending(crm, "email")  # nothing changed


def test_classify_runs_on_demand_for_the_domains_operators_only(crm: Mesh) -> None:
    report = crm.classification.classify(CUSTOMERS, as_="steward@crm")
    assert report["sampled_rows"] == 60 and report["new"] == 0 and report["refreshed"] >= 3
    assert {r["column"] for r in report["recommendations"]} >= {"email", "iban"}
    assert crm.classification.classify(CUSTOMERS, as_="admin@crm")["table"] == CUSTOMERS
    with pytest.raises(NotFound):  # may not even see it
        crm.classification.classify(CUSTOMERS, as_="member@crm")
    for grantee in ("analytics", "analyst@analytics"):
        crm.access.grant(
            GrantRequest(actions=("SELECT",), principal=grantee, table=CUSTOMERS),
            as_="steward@crm",
        )
    with pytest.raises(PermissionDenied):  # sees it, may not classify it
        crm.classification.classify(CUSTOMERS, as_="analyst@analytics")
    with pytest.raises(NotFound):
        crm.classification.classify("crm.core.nothing_here", as_="steward@crm")


# --------------------------------------------------------------------------- accept


def test_accepting_assigns_the_tag_and_the_mask_applies_at_once(crm: Mesh) -> None:
    for grantee in ("analytics", "analyst@analytics"):
        crm.access.grant(
            GrantRequest(actions=("SELECT",), principal=grantee, table=CUSTOMERS),
            as_="steward@crm",
        )
    crm.access.mask(tag="pii=true", spec="redact")
    before = crm.query(f"SELECT email FROM {CUSTOMERS} LIMIT 1", as_="analyst@analytics")
    assert "@example.org" in before.column("email")[0].as_py()
    done = crm.classification.accept(f"{CUSTOMERS}.email", as_="steward@crm")
    assert done["tag"] == "pii=true" and done["decision"] == "accepted"
    after = crm.query(f"SELECT email FROM {CUSTOMERS} LIMIT 1", as_="analyst@analytics")
    assert "@example.org" not in str(after.column("email")[0].as_py())
    shown = crm.catalog.show(CUSTOMERS, as_="steward@crm")
    assert shown["pii"] is True and shown["database_pii"] is True
    email = next(c for c in shown["columns"] if c["name"] == "email")
    assert email["tags"]["pii"] == "true"
    assert not pending(crm, "email")
    types = [e["type"] for e in crm.events.recent(50)]
    assert "classification.decided" in types


def test_a_second_decision_is_refused_and_changes_nothing(crm: Mesh) -> None:
    crm.classification.accept(f"{CUSTOMERS}.iban", as_="steward@crm")
    with pytest.raises(NotFound, match="no pending recommendation"):
        crm.classification.reject(f"{CUSTOMERS}.iban", as_="steward@crm")


def test_decisions_are_compare_and_set(crm: Mesh) -> None:
    [rec] = pending(crm, "email")
    with crm.store.write() as conn:
        assert recs.decide(conn, rec, "accepted", "steward@crm")
    with crm.store.write() as conn:
        assert not recs.decide(conn, rec, "rejected", "steward@crm")  # stale version
    results: list[object] = []

    def decide() -> None:
        try:
            results.append(crm.classification.accept(f"{CUSTOMERS}.iban", as_="steward@crm"))
        except (Conflict, NotFound) as exc:
            results.append(exc)

    threads = [threading.Thread(target=decide) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(1 for r in results if isinstance(r, dict)) == 1


def test_accept_with_a_corrected_tag(crm: Mesh) -> None:
    done = crm.classification.accept(f"{CUSTOMERS}.customer_id", "pii=false", as_="steward@crm")
    assert done["tag"] == "pii=false" and done["recommended"] == "pii=true"
    with pytest.raises(InvalidInput):
        crm.classification.accept(f"{CUSTOMERS}.email", "pii=maybe", as_="steward@crm")
    with pytest.raises(InvalidInput):
        crm.classification.accept(f"{CUSTOMERS}.email", "no-equals", as_="steward@crm")
    with pytest.raises(NotFound, match="is not defined: the mesh admin defines it first"):
        crm.classification.accept(f"{CUSTOMERS}.email", "tier=gold", as_="steward@crm")
    assert pending(crm, "email")  # the refused accepts changed nothing


# --------------------------------------------------------------------------- reject


def test_a_rejection_is_remembered_until_the_data_changes_materially(
    crm: Mesh, tmp_path: Path
) -> None:
    crm.classification.reject(f"{CUSTOMERS}.email", comment="test data", as_="steward@crm")
    assert not pending(crm, "email")
    again = crm.classification.classify(CUSTOMERS, as_="steward@crm")
    assert again["suppressed"] >= 1 and not pending(crm, "email")
    # new data, same shape: every value still an e-mail address -> still suppressed
    write(tmp_path / "crm", customers(80), "more.parquet")
    resync(crm)
    assert not pending(crm, "email")


def test_a_material_change_brings_a_rejected_recommendation_back(crm: Mesh, tmp_path: Path) -> None:
    write(tmp_path / "crm", customers(60, email_share=0.5))  # half notes, half addresses
    resync(crm)
    [rec] = pending(crm, "email")
    assert rec.matched == 30
    crm.classification.reject(f"{CUSTOMERS}.email", rec.tag, as_="steward@crm")
    write(tmp_path / "crm", customers(60, email_share=0.6))  # 50% -> 60%: not material
    resync(crm)
    assert not pending(crm, "email")
    write(tmp_path / "crm", customers(60, email_share=1.0))  # 50% -> 100%: material
    resync(crm)
    [back] = pending(crm, "email")
    assert "rejected before" in back.reason and "50% to 100%" in back.reason


def test_material_change_is_the_type_or_a_25_point_share_move() -> None:
    from lakemesh.classify.recognisers import Finding

    rejected = recs.Recommendation(
        1,
        CUSTOMERS,
        "email",
        "email",
        "pii=true",
        0.9,
        "r",
        100,
        40,
        "string",
        "rejected",
        2,
        created_at=None,  # type: ignore[arg-type]
    )

    def finding(matched: int) -> Finding:
        return Finding("email", "pii=true", 0.9, "r", 100, matched, True)

    assert recs.material_change(rejected, finding(55), "string") is None
    assert recs.material_change(rejected, finding(25), "string") is None
    assert recs.material_change(rejected, finding(65), "string") is not None
    assert recs.material_change(rejected, finding(15), "string") is not None
    assert "type" in (recs.material_change(rejected, finding(40), "large_string") or "")


# --------------------------------------------------------------------------- custom recognisers


def test_a_domain_declares_its_own_recogniser_in_a_file(crm: Mesh, tmp_path: Path) -> None:
    root = tmp_path / "crm"
    (root / "_lakemesh").mkdir(exist_ok=True)
    (root / "_lakemesh" / "recognisers.yaml").write_text(
        "recognisers:\n  - name: loyalty_card\n    tag: pii=true\n    pattern: '^LC-[0-9]{6}$'\n"
    )
    path = root / "core" / "loyalty" / "l.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"card": [f"LC-{100000 + i}" for i in range(40)]}), path)
    resync(crm)
    [rec] = [r for r in pending(crm) if r.table == "crm.core.loyalty"]
    assert rec.recogniser == "loyalty_card" and rec.column == "card"


def test_a_broken_recogniser_file_refuses_classify_and_warns_on_sync(
    crm: Mesh, tmp_path: Path
) -> None:
    root = tmp_path / "crm"
    (root / "_lakemesh").mkdir(exist_ok=True)
    (root / "_lakemesh" / "recognisers.yaml").write_text("recognisers:\n  - name: [oops\n")
    with pytest.raises(InvalidInput, match=r"recognisers\.yaml"):
        crm.classification.classify(CUSTOMERS, as_="steward@crm")
    write(root, customers(70), "more.parquet")
    crm.domains.crawl("crm")
    [result] = crm.domains.sync(["crm"])
    assert result.status == "ok"
    assert any("recognisers.yaml" in w for w in result.warnings)


# --------------------------------------------------------------------------- bad input


def test_awkward_columns_are_skipped_with_a_reason_never_a_crash(crm: Mesh, tmp_path: Path) -> None:
    path = tmp_path / "crm" / "core" / "awkward" / "a.parquet"
    path.parent.mkdir(parents=True)
    n = 20
    pq.write_table(
        pa.table(
            {
                "blob": pa.array([b"\x00\x01"] * n, pa.binary()),
                "nested": pa.array([{"a": 1}] * n),
                "tags": pa.array([[1, 2]] * n),
                "nothing": pa.array([None] * n, pa.string()),
                "huge": ["x" * 200_000] * n,
                "garbage": [f"{i}#%!{i * 7}" for i in range(n)],
            }
        ),
        path,
    )
    resync(crm)
    report = crm.classification.classify("crm.core.awkward", as_="steward@crm")
    skipped = {s["column"]: s["reason"] for s in report["skipped"]}
    assert {"blob", "nested", "tags", "nothing"} <= set(skipped)
    assert report["new"] == 0 and not report["recommendations"]


def test_an_empty_table_classifies_to_nothing(crm: Mesh, tmp_path: Path) -> None:
    path = tmp_path / "crm" / "core" / "empty" / "e.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"email": pa.array([], pa.string())}), path)
    resync(crm)
    report = crm.classification.classify("crm.core.empty", as_="steward@crm")
    assert report["sampled_rows"] == 0 and report["new"] == 0
    assert report["skipped"]


# --------------------------------------------------------------------------- the CLI


def test_the_cli_loop(crm: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(crm.home, capsys)
    crm.close()
    queued = cli.json("classify", "queue", "--as", "steward@crm")
    assert any(r["column"] == "email" for r in queued)
    code, out, err = cli("classify", CUSTOMERS, "--as", "steward@crm")
    assert code == 0, err
    assert "sampled 60 rows" in out and "email" in out
    code, out, err = cli("classify", "accept", f"{CUSTOMERS}.email", "--as", "steward@crm")
    assert code == 0 and "tagged pii=true" in out, err
    code, out, err = cli("classify", "reject", f"{CUSTOMERS}.email", "--as", "steward@crm")
    assert code == 1 and err.startswith("error: no pending recommendation")
    assert err.count("\n") == 1
    code, out, err = cli("classify", "queue", "--as", "member@crm")
    assert code == 1 and "may not" in err
    code, out, err = cli("--home", str(crm.home), "classify", CUSTOMERS, "--json", home=False)
    assert code == 0, err
    assert json.loads(out)["table"] == CUSTOMERS
    code, out, err = cli("classify", "accept", "--as", "steward@crm")
    assert code == 2
