"""The audit chain on SQLite and PostgreSQL: appends, tampering, checkpoints, listing, keys."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update

from lakemesh import audit, keys
from lakemesh.errors import InvalidInput, NotFound
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from lakemesh.typedef import now

FIXTURE = Path(__file__).parent / "fixtures" / "audit_v1.json"


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Walk the chain in pages of 4 rows so every test also exercises paging."""
    monkeypatch.setattr(audit, "_CHUNK", 4)


@pytest.fixture
def fresh(mesh: Mesh) -> Mesh:
    """A mesh (on each backend) with keys and an empty chain, whatever ``init`` recorded."""
    keys.ensure_keys(mesh.home)
    sql(mesh, delete(t.audit_log), update(t.audit_head).values(seq=0, hash=audit.GENESIS))
    (mesh.home / audit.CHECKPOINTS).unlink(missing_ok=True)
    return mesh


@pytest.fixture
def chain(fresh: Mesh) -> Mesh:
    """A chain of 12 records."""
    append(fresh, 12)
    return fresh


def append(mesh: Mesh, n: int, **fields: Any) -> list[int]:
    seqs = []
    for i in range(n):
        with mesh.store.write() as conn:
            kw: dict[str, Any] = {
                "principal": "ana@analytics",
                "action": "query",
                "resource": "dom.db.t",
                "outcome": "allowed",
                "details": {"i": i},
            }
            seqs.append(audit.record(conn, **(kw | fields)))
    return seqs


def found(report: audit.VerifyReport) -> set[tuple[str, int | None]]:
    return {(p.kind, p.seq) for p in report.problems}


def rows(mesh: Mesh) -> dict[int, dict[str, Any]]:
    with mesh.store.read() as conn:
        return {r.seq: dict(r._mapping) for r in conn.execute(select(t.audit_log))}


def sql(mesh: Mesh, *statements: Any) -> None:
    with mesh.store.write() as conn:
        for statement in statements:
            conn.execute(statement)


def rehash(mesh: Mesh, first: int) -> None:
    """What an attacker who knows the format does: recompute every hash from ``first`` on,
    and the head."""
    data = rows(mesh)
    prev = data[first - 1]["hash"] if first > 1 else audit.GENESIS
    for seq in sorted(s for s in data if s >= first):
        row = data[seq] | {"prev_hash": prev, "details": json.loads(data[seq]["details"])}
        prev = audit.chain_hash(audit.AuditFields(**{k: v for k, v in row.items() if k != "hash"}))
        sql(
            mesh,
            update(t.audit_log)
            .where(t.audit_log.c.seq == seq)
            .values(prev_hash=row["prev_hash"], hash=prev),
        )
    sql(mesh, update(t.audit_head).values(seq=max(data), hash=prev))


def log_row(seq: int) -> Any:
    return t.audit_log.c.seq == seq


# --------------------------------------------------------------------------- format


def test_golden_fixture_recomputes() -> None:
    """Format 1 is frozen: a change to the serialisation or the hash breaks this test."""
    doc = json.loads(FIXTURE.read_text())
    assert doc["format"] == audit.FORMAT_VERSION == 1
    prev = audit.GENESIS
    for rec in doc["records"]:
        fields = {k: rec[k] for k in audit.AuditFields.model_fields if k != "ts"}
        f = audit.AuditFields(ts=datetime.fromisoformat(rec["ts"]), **fields)
        assert rec["prev_hash"] == prev
        assert audit.canonical(f).decode() == rec["canonical"]
        # The documented form, computed without the module's helpers.
        documented = [1, rec["seq"], rec["ts"], rec["principal"], rec["action"]]
        documented += [rec["resource"], rec["outcome"], rec["details"], rec["prev_hash"]]
        text = json.dumps(documented, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert text == rec["canonical"]
        digest = hashlib.sha256(bytes.fromhex(prev) + text.encode()).hexdigest()
        assert digest == audit.chain_hash(f) == rec["hash"]
        prev = rec["hash"]


def test_golden_records_round_trip_through_the_store(fresh: Mesh) -> None:
    """The store keeps every hashed field exactly (microseconds, unicode, null resource)."""
    records = json.loads(FIXTURE.read_text())["records"]
    for rec in records:
        values = {k: rec[k] for k in audit.AuditRecord.model_fields}
        text = json.dumps(rec["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        values |= {"ts": datetime.fromisoformat(rec["ts"]), "details": text}
        sql(fresh, insert(t.audit_log).values(**values))
    sql(fresh, update(t.audit_head).values(seq=len(records), hash=records[-1]["hash"]))
    assert audit.verify(fresh.store, fresh.home).ok
    listed = audit.list_records(fresh.store)
    assert [r.hash for r in listed] == [r["hash"] for r in reversed(records)]
    assert listed[-1].details == records[0]["details"]


# --------------------------------------------------------------------------- appending


def test_records_append_in_the_callers_transaction(fresh: Mesh) -> None:
    assert append(fresh, 3) == [1, 2, 3]
    with fresh.store.write() as conn:
        conn.execute(
            insert(t.tags).values(key="pii", allowed="[]", created_by="a@b", created_at=now())
        )
        seq = audit.record(
            conn,
            principal="admin@central",
            action="tag.define",
            resource=None,
            outcome="ok",
            details={"key": "pii", "when": None, "n": [1, 2.5]},
        )
    assert seq == 4
    last = audit.list_records(fresh.store, limit=1)[0]
    assert (last.seq, last.action, last.resource, last.details["n"]) == (
        4,
        "tag.define",
        None,
        [1, 2.5],
    )
    report = audit.verify(fresh.store, fresh.home)
    assert report.ok and (report.records_checked, report.last_seq) == (4, 4)


def test_failed_transaction_leaves_no_record_and_the_chain_intact(fresh: Mesh) -> None:
    append(fresh, 2)

    def change_that_fails() -> None:
        with fresh.store.write() as conn:
            audit.record(conn, principal="a@b", action="x", resource=None, outcome="ok", details={})
            raise RuntimeError("the change failed after its audit record")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert [r.seq for r in audit.list_records(fresh.store)] == [2, 1]
    assert append(fresh, 1) == [3]
    assert audit.verify(fresh.store, fresh.home).ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", "maybe"),
        ("principal", "a@b\nforged line"),
        ("principal", ""),
        ("action", "x" * 65),
        ("resource", "dom.db\x00"),
        ("details", ["not", "an", "object"]),
        ("details", {"when": datetime(2024, 1, 1)}),
        ("details", {"x": float("nan")}),
        ("details", {1: "mixed", "a": "keys"}),
        ("details", {"x": "lone \ud800 surrogate"}),
    ],
)
def test_a_failed_audit_write_fails_the_change(fresh: Mesh, field: str, value: Any) -> None:
    fields = {"principal": "a@b", "action": "x", "resource": None, "outcome": "ok", "details": {}}

    def change_with_a_bad_record() -> None:
        with fresh.store.write() as conn:
            tag = {"key": "pii", "allowed": "[]", "created_by": "a@b", "created_at": now()}
            conn.execute(insert(t.tags).values(**tag))
            audit.record(conn, **(fields | {field: value}))

    with pytest.raises(InvalidInput):
        change_with_a_bad_record()
    with fresh.store.read() as conn:
        assert conn.execute(select(t.tags)).first() is None
    assert audit.list_records(fresh.store) == []


def test_details_are_stored_in_canonical_form(fresh: Mesh) -> None:
    """Non-string keys become strings before the text is stored, so verify re-derives it."""
    append(fresh, 1, details={2: "b", 10: "a"})
    assert audit.list_records(fresh.store)[0].details == {"10": "a", "2": "b"}
    assert audit.verify(fresh.store, fresh.home).ok


def test_concurrent_appends_form_one_gap_free_chain(fresh: Mesh) -> None:
    """Four writers in separate transactions: the head lock serialises them."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            append(fresh, 15, principal=f"w{n}@analytics")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(rows(fresh)) == list(range(1, 61))
    report = audit.verify(fresh.store, fresh.home)
    assert report.ok and report.last_seq == 60, report.problems


# --------------------------------------------------------------------------- tampering


def test_an_intact_chain_verifies(chain: Mesh) -> None:
    audit.checkpoint(chain.store, chain.home)
    report = audit.verify(chain.store, chain.home)
    assert report.ok, report.problems
    assert (report.records_checked, report.last_seq, report.checkpoints_checked) == (12, 12, 1)


def test_an_edited_field_is_modified(chain: Mesh) -> None:
    sql(chain, update(t.audit_log).where(log_row(5)).values(outcome="denied"))
    assert found(audit.verify(chain.store, chain.home)) == {("modified", 5)}


@pytest.mark.parametrize(
    "column", ["ts", "principal", "action", "resource", "outcome", "details", "prev_hash", "hash"]
)
def test_every_stored_column_is_covered(chain: Mesh, column: str) -> None:
    row = rows(chain)[7]
    value = {
        "ts": row["ts"] + timedelta(microseconds=1),
        "principal": "mallory@analytics",
        "action": "grant",
        "resource": None,
        "outcome": "denied",
        "details": '{"i": 6}',  # the same object, not in canonical form
        "prev_hash": "f" * 64,
        "hash": "not hex",
    }[column]
    sql(chain, update(t.audit_log).where(log_row(7)).values({column: value}))
    problems = found(audit.verify(chain.store, chain.home))
    assert ("modified", 7) in problems
    assert {kind for kind, _ in problems} == {"modified"}


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(chain: Mesh) -> None:
    sql(chain, update(t.audit_log).where(log_row(5)).values(principal="mallory@x"))
    data = rows(chain)[5]
    fields = data | {"details": json.loads(data["details"])}
    forged = audit.chain_hash(audit.AuditFields(**{k: v for k, v in fields.items() if k != "hash"}))
    sql(chain, update(t.audit_log).where(log_row(5)).values(hash=forged))
    assert found(audit.verify(chain.store, chain.home)) == {("modified", 5)}


def test_a_rewritten_last_record_disagrees_with_the_head(chain: Mesh) -> None:
    sql(chain, update(t.audit_log).where(log_row(12)).values(principal="mallory@x"))
    head = rows(chain)
    rehash(chain, 12)
    sql(chain, update(t.audit_head).values(seq=12, hash=head[12]["hash"]))
    assert found(audit.verify(chain.store, chain.home)) == {("modified", 12)}


@pytest.mark.parametrize("seqs", [[5], [1], [5, 6, 7], [3, 9]])
def test_deleted_records_are_reported_once_each(chain: Mesh, seqs: list[int]) -> None:
    sql(chain, delete(t.audit_log).where(t.audit_log.c.seq.in_(seqs)))
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("deleted", s) for s in seqs}
    assert report.records_checked == 12 - len(seqs)


def test_a_deletion_hidden_by_renumbering_is_deleted_and_reordered(chain: Mesh) -> None:
    sql(chain, delete(t.audit_log).where(log_row(5)))
    for seq in range(6, 13):
        sql(chain, update(t.audit_log).where(log_row(seq)).values(seq=seq - 1))
    sql(chain, update(t.audit_head).values(seq=11))
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("deleted", 5), ("reordered", 5)}
    assert "5-11 were written as 6-12" in report.problems[0].detail + report.problems[1].detail


def test_swapped_seq_numbers_are_reordered(chain: Mesh) -> None:
    sql(
        chain,
        update(t.audit_log).where(log_row(5)).values(seq=-1),
        update(t.audit_log).where(log_row(6)).values(seq=5),
        update(t.audit_log).where(log_row(-1)).values(seq=6),
    )
    assert found(audit.verify(chain.store, chain.home)) == {("reordered", 5), ("reordered", 6)}


def test_swapped_contents_are_reordered(chain: Mesh) -> None:
    data = rows(chain)
    for a, b in ((4, 9), (9, 4)):
        values = {k: v for k, v in data[b].items() if k != "seq"}
        sql(chain, update(t.audit_log).where(log_row(a)).values(**values))
    assert found(audit.verify(chain.store, chain.home)) == {("reordered", 4), ("reordered", 9)}


def test_a_link_to_another_record_is_reordered(chain: Mesh) -> None:
    """A record re-linked (and rehashed) to a record other than its predecessor."""
    data = rows(chain)
    fields = data[8] | {"prev_hash": data[3]["hash"], "details": json.loads(data[8]["details"])}
    forged = audit.chain_hash(audit.AuditFields(**{k: v for k, v in fields.items() if k != "hash"}))
    sql(chain, update(t.audit_log).where(log_row(8)).values(prev_hash=data[3]["hash"], hash=forged))
    sql(chain, update(t.audit_log).where(log_row(9)).values(prev_hash=forged))
    rehash(chain, 9)
    assert found(audit.verify(chain.store, chain.home)) == {("reordered", 8)}


def test_an_inserted_record_beyond_the_head_is_modified(chain: Mesh) -> None:
    """Even a well-formed, correctly hashed and linked one, while the head says 12."""
    row = rows(chain)[12]
    fields = row | {"seq": 13, "prev_hash": row["hash"], "details": json.loads(row["details"])}
    del fields["hash"]
    forged = audit.chain_hash(audit.AuditFields(**fields))
    sql(
        chain,
        insert(t.audit_log).values(row | {"seq": 13, "prev_hash": row["hash"], "hash": forged}),
    )
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("modified", 13)}
    assert "beyond the chain head" in report.problems[0].detail


def test_a_removed_tail_is_truncated(chain: Mesh) -> None:
    sql(chain, delete(t.audit_log).where(t.audit_log.c.seq > 9))
    assert found(audit.verify(chain.store, chain.home)) == {("truncated", 10)}


def test_a_truncation_before_a_checkpoint_is_caught_even_with_the_head_rewound(
    chain: Mesh,
) -> None:
    audit.checkpoint(chain.store, chain.home)
    append(chain, 3)
    nine = rows(chain)[9]
    sql(chain, delete(t.audit_log).where(t.audit_log.c.seq > 9))
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("truncated", 10)}
    assert "10-15" in report.problems[0].detail
    sql(chain, update(t.audit_head).values(seq=9, hash=nine["hash"]))
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("truncated", 10)}
    assert "checkpoint has 12" in report.problems[0].detail


def test_a_truncation_after_the_last_checkpoint_with_the_head_rewound_is_not_detectable(
    chain: Mesh,
) -> None:
    """The documented limit: records written after the last checkpoint are unprotected."""
    audit.checkpoint(chain.store, chain.home)
    append(chain, 3)
    sql(
        chain,
        delete(t.audit_log).where(t.audit_log.c.seq > 13),
        update(t.audit_head).values(seq=13, hash=rows(chain)[13]["hash"]),
    )
    assert audit.verify(chain.store, chain.home).ok


def test_a_wholesale_rewrite_is_caught_by_the_checkpoint(chain: Mesh) -> None:
    audit.checkpoint(chain.store, chain.home)  # at 12
    append(chain, 3)
    sql(chain, update(t.audit_log).where(log_row(6)).values(action="nothing"))
    rehash(chain, 6)
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("modified", 12)}
    assert "records after seq 0 were rewritten" in report.problems[0].detail


# --------------------------------------------------------------------------- checkpoints


def cp_lines(mesh: Mesh) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (mesh.home / audit.CHECKPOINTS).read_text().splitlines()]


def write_lines(mesh: Mesh, lines: list[dict[str, Any]]) -> None:
    (mesh.home / audit.CHECKPOINTS).write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_checkpoints_are_signed_lines_in_a_private_file(chain: Mesh) -> None:
    cp = audit.checkpoint(chain.store, chain.home)
    assert (cp.seq, cp.hash) == (12, rows(chain)[12]["hash"])
    path = chain.home / audit.CHECKPOINTS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert audit.read_checkpoints(chain.home) == [cp]
    keys.audit_public_key(chain.home).verify(base64.b64decode(cp.signature), cp.payload())


@pytest.mark.parametrize("field", ["seq", "hash", "ts", "signature"])
def test_an_edited_checkpoint_line_is_bad(chain: Mesh, field: str) -> None:
    audit.checkpoint(chain.store, chain.home)
    line = cp_lines(chain)[0]
    line[field] = {
        "seq": 11,
        "hash": rows(chain)[11]["hash"],
        "ts": "2020-01-01T00:00:00.000000Z",
        "signature": base64.b64encode(b"x" * 64).decode(),
    }[field]
    write_lines(chain, [line])
    report = audit.verify(chain.store, chain.home)
    assert found(report) == {("bad_checkpoint", line["seq"])}
    assert report.checkpoints_checked == 0
    with pytest.raises(audit.AuditChainBroken, match="line 1"):
        audit.read_checkpoints(chain.home)


def test_a_forged_checkpoint_line_is_bad(chain: Mesh) -> None:
    """Signed with another key, pointing past the end: bad, and not taken as truncation."""
    audit.checkpoint(chain.store, chain.home)
    other = Ed25519PrivateKey.generate()
    forged = audit.Checkpoint(format=1, seq=99, hash="a" * 64, ts=now(), signature="")
    signature = base64.b64encode(other.sign(forged.payload())).decode()
    write_lines(
        chain, [*cp_lines(chain), forged.model_dump(mode="json") | {"signature": signature}]
    )
    with (chain.home / audit.CHECKPOINTS).open("a") as fh:
        fh.write("not json at all\n")
    assert found(audit.verify(chain.store, chain.home)) == {
        ("bad_checkpoint", 99),
        ("bad_checkpoint", None),
    }
    # maybe_checkpoint is not fooled by the forged last lines into never checkpointing.
    append(chain, 1)
    assert audit.maybe_checkpoint(chain.store, chain.home, every=1) is not None


def test_checkpoint_refuses_a_chain_broken_since_the_last_one(chain: Mesh) -> None:
    audit.checkpoint(chain.store, chain.home)
    append(chain, 3)
    sql(chain, update(t.audit_log).where(log_row(14)).values(principal="mallory@x"))
    with pytest.raises(audit.AuditChainBroken, match="seq 14"):
        audit.checkpoint(chain.store, chain.home)
    sql(chain, delete(t.audit_log).where(t.audit_log.c.seq > 10))
    sql(chain, update(t.audit_head).values(seq=10, hash=rows(chain)[10]["hash"]))
    with pytest.raises(audit.AuditChainBroken, match="behind the last checkpoint"):
        audit.maybe_checkpoint(chain.store, chain.home)
    assert len(cp_lines(chain)) == 1


def test_maybe_checkpoint_by_growth_and_by_age(fresh: Mesh) -> None:
    assert audit.maybe_checkpoint(fresh.store, fresh.home, every=5) is None  # nothing yet
    append(fresh, 2)
    first = audit.maybe_checkpoint(fresh.store, fresh.home, every=5)  # the first one
    assert first is not None and first.seq == 2
    append(fresh, 4)
    assert audit.maybe_checkpoint(fresh.store, fresh.home, every=5) is None
    append(fresh, 1)
    grown = audit.maybe_checkpoint(fresh.store, fresh.home, every=5)
    assert grown is not None and grown.seq == 7
    assert audit.maybe_checkpoint(fresh.store, fresh.home, every=5, max_age_seconds=0) is None
    append(fresh, 1)
    aged = audit.maybe_checkpoint(fresh.store, fresh.home, every=5, max_age_seconds=0)
    assert aged is not None and aged.seq == 8
    assert [c["seq"] for c in cp_lines(fresh)] == [2, 7, 8]
    report = audit.verify(fresh.store, fresh.home)
    assert report.ok and report.checkpoints_checked == 3


def test_a_torn_last_line_does_not_swallow_the_next_checkpoint(chain: Mesh) -> None:
    path = chain.home / audit.CHECKPOINTS
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text('{"format": 1, "seq"')
    audit.checkpoint(chain.store, chain.home)
    assert [p.kind for p in audit.verify(chain.store, chain.home).problems] == ["bad_checkpoint"]
    assert len(path.read_text().splitlines()) == 2


# --------------------------------------------------------------------------- listing


def test_list_filters(fresh: Mesh) -> None:
    append(fresh, 2, principal="ana@analytics", resource="dom.db")
    append(fresh, 1, principal="bob@analytics", resource="dom.db.t", action="grant", outcome="ok")
    append(fresh, 1, resource="dom.dbx.t")
    append(fresh, 1, resource="dom.db_x.t")
    append(fresh, 1, resource="DOM.DB.T", outcome="denied")
    append(fresh, 1, resource=None, action="tag.define", outcome="ok")

    def seqs(**kw: Any) -> list[int]:
        return [r.seq for r in audit.list_records(fresh.store, **kw)]

    assert seqs() == [7, 6, 5, 4, 3, 2, 1]
    assert seqs(principal="bob@analytics") == [3]
    assert seqs(resource="dom.db") == [3, 2, 1]
    assert seqs(resource="dom.db.t") == [3]
    assert seqs(resource="dom.db_") == []  # no wildcards
    assert seqs(resource="dom") == [5, 4, 3, 2, 1]
    assert seqs(action="tag.define") == [7]
    assert seqs(outcome="denied") == [6]
    assert seqs(outcome="ok", action="grant") == [3]
    assert seqs(limit=2) == [7, 6]
    ts = {r.seq: r.ts for r in audit.list_records(fresh.store)}
    assert seqs(since=ts[3]) == [7, 6, 5, 4, 3]
    assert seqs(until=ts[3]) == [2, 1]
    assert seqs(since=ts[2], until=ts[4]) == [3, 2]
    with pytest.raises(InvalidInput):
        audit.list_records(fresh.store, since=datetime(2024, 1, 1))
    with pytest.raises(InvalidInput):
        audit.list_records(fresh.store, limit=0)


# --------------------------------------------------------------------------- keys


def test_keys_are_private_and_never_overwritten(tmp_path: Path) -> None:
    keys.ensure_keys(tmp_path)
    folder = keys.keys_dir(tmp_path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(before) == {keys.AUDIT_PRIVATE, keys.AUDIT_PUBLIC, keys.MASK_HASH}
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    keys.ensure_keys(tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert len(keys.mask_hash_key(tmp_path)) == 32
    message = b"checkpoint"
    signature = keys.audit_private_key(tmp_path).sign(message)
    keys.audit_public_key(tmp_path).verify(signature, message)


def test_a_missing_public_key_is_derived_from_the_private_one(tmp_path: Path) -> None:
    keys.ensure_keys(tmp_path)
    public = keys.keys_dir(tmp_path) / keys.AUDIT_PUBLIC
    before = public.read_bytes()
    public.unlink()
    keys.ensure_keys(tmp_path)
    assert public.read_bytes() == before


def test_missing_and_corrupt_keys_raise_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="missing"):
        keys.audit_private_key(tmp_path)
    keys.ensure_keys(tmp_path)
    folder = keys.keys_dir(tmp_path)
    (folder / keys.MASK_HASH).write_bytes(b"short")
    (folder / keys.AUDIT_PUBLIC).write_text("-----BEGIN PUBLIC KEY-----\ngarbage\n")
    for load in (keys.mask_hash_key, keys.audit_public_key):
        with pytest.raises(keys.CorruptKey) as info:
            load(tmp_path)
        assert "\n" not in str(info.value)
    (folder / keys.AUDIT_PRIVATE).unlink()
    with pytest.raises(keys.CorruptKey, match="without its private key"):
        keys.ensure_keys(tmp_path)


def test_verify_without_keys_checks_the_chain_only(fresh: Mesh) -> None:
    shutil.rmtree(keys.keys_dir(fresh.home))
    append(fresh, 3)
    assert audit.verify(fresh.store, fresh.home).ok
    with pytest.raises(keys.MissingKey):
        audit.checkpoint(fresh.store, fresh.home)
