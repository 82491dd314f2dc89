"""The audit chain: every mutation and decision, hash-chained, with signed checkpoints.

Record format, version 1 (pinned by ``tests/fixtures/audit_v1.json``). ``canonical`` is the
UTF-8 JSON array ``[1, seq, ts, principal, action, resource, outcome, details, prev_hash]``
written as ``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)``; ``ts`` is UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, ``resource`` may be null,
``details`` is an object and is stored as exactly that compact, key-sorted text.
``hash = sha256(bytes.fromhex(prev_hash) + canonical)``; the first record links to 64 zeros.
``audit_head`` (one row) holds the last seq and hash; appends lock it, so they serialise.

Checkpoints (CloudTrail's digest files): a JSON line ``{format, seq, hash, ts, signature}``
in ``<home>/audit/checkpoints.jsonl``, Ed25519-signed with the key in ``<home>/keys``. A
checkpoint is only signed over a chain that links, record by record, to the previous one.

What ``verify`` detects from an attacker who can write the database but not the key file:
an edited record (``modified``); an edited record whose hash was recomputed (the next
record's link breaks: ``modified``); deleted records, also when later ones were renumbered
(``deleted``, by the missing seq); records moved to other seq numbers, e.g. swapped rows
(``reordered``); a removed tail when ``audit_head`` or a checkpoint still points past it
(``truncated``); inserted rows beyond the head, or a head that disagrees with the last
record (``modified``); a wholesale rewrite from some record on, with every hash and the
head recomputed, up to the last checkpoint (``modified`` at the first checkpoint that no
longer matches); and forged or edited checkpoint lines (``bad_checkpoint``).

What it cannot detect: any rewrite, truncation (with ``audit_head`` rewound) or forged
append of records written after the last checkpoint; lines deleted from the checkpoint
file, or the file replaced together with the public key (keep copies of checkpoints off
the host). A record moved by more than ``_WINDOW`` places shows as ``modified``, not
``reordered``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError
from sqlalchemy import Connection, Row, func, insert, or_, select, update

from lakemesh import keys
from lakemesh.errors import AuditChainBroken as AuditChainBroken
from lakemesh.errors import Conflict, InvalidInput, StoreError
from lakemesh.store import Store
from lakemesh.store.tables import audit_head, audit_log
from lakemesh.typedef import Frozen, now

FORMAT_VERSION = 1
GENESIS = "0" * 64
CHECKPOINTS = Path("audit") / "checkpoints.jsonl"  # under the mesh home
MAX_PROBLEMS = 1000  # verify reports this many, and counts the rest
_CHUNK = 1000  # rows per page when walking the chain
_WINDOW = 128  # how far (in seq) verify looks for a record moved to another seq

Outcome = Literal["allowed", "denied", "ok", "refused", "failed", "aborted"]
ProblemKind = Literal["modified", "deleted", "reordered", "truncated", "bad_checkpoint"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))


class AuditFields(Frozen):
    seq: int
    ts: datetime
    principal: str
    action: str
    resource: str | None
    outcome: Outcome
    details: dict[str, Any]
    prev_hash: str


class AuditRecord(AuditFields):
    hash: str


class Checkpoint(Frozen):
    format: int
    seq: int
    hash: str
    ts: datetime
    signature: str  # base64 Ed25519 signature over payload()

    def payload(self) -> bytes:
        fields = {"format": self.format, "seq": self.seq, "hash": self.hash, "ts": _ts(self.ts)}
        return _json(fields).encode()


class Problem(Frozen):
    kind: ProblemKind
    seq: int | None  # None only for a checkpoint line too broken to name its seq
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at seq {self.seq}: {self.detail}"


class VerifyReport(Frozen):
    records_checked: int
    last_seq: int
    checkpoints_checked: int
    problems: list[Problem]
    omitted: int = 0  # problems found beyond MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return not self.problems and not self.omitted


# --------------------------------------------------------------------------- format


def canonical(fields: AuditFields) -> bytes:
    """The bytes a record's hash covers (format version 1, see the module docstring)."""
    f = fields
    tail = _tail(f.ts, f.principal, f.action, f.resource, f.outcome, f.details, f.prev_hash)
    return _with_seq(f.seq, tail)


def chain_hash(fields: AuditFields) -> str:
    return hashlib.sha256(bytes.fromhex(fields.prev_hash) + canonical(fields)).hexdigest()


def _tail(*values: Any) -> bytes:
    """The canonical array after ``[1,seq,``: the part that does not depend on seq."""
    ts, *rest = values
    return _json([_ts(ts), *rest])[1:].encode()


def _with_seq(seq: int, tail: bytes) -> bytes:
    return b"[%d,%d,%s" % (FORMAT_VERSION, seq, tail)


def _json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise InvalidInput("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- writing


def record(
    conn: Connection,
    *,
    principal: str,
    action: str,
    resource: str | None,
    outcome: str,
    details: dict[str, Any],
) -> int:
    """Append one record inside the caller's write transaction; any failure fails it too."""
    _check_text(principal, "principal", 200)
    _check_text(action, "action", 64)
    if resource is not None:
        _check_text(resource, "resource", 2000)
    if outcome not in OUTCOMES:
        raise InvalidInput(f"invalid audit outcome {outcome!r}: expected {sorted(OUTCOMES)}")
    if not isinstance(details, dict):
        raise InvalidInput("audit details must be a JSON object")
    try:  # through a round trip, so the stored text is what verify will re-derive
        body = json.loads(_json(details))
        text = _json(body)
        text.encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit details are not JSON: {exc}") from exc
    head_seq, head_hash = _head(conn, lock=True)
    prev = _unhex(head_hash)
    if prev is None:
        raise AuditChainBroken("the audit chain head is corrupt: run 'lakemesh audit verify'")
    seq, ts = head_seq + 1, now()
    digest = _digest(prev, seq, _tail(ts, principal, action, resource, outcome, body, head_hash))
    values = {"principal": principal, "action": action, "resource": resource}
    values |= {"outcome": outcome, "details": text, "prev_hash": head_hash}
    conn.execute(insert(audit_log).values(seq=seq, ts=ts, hash=digest, **values))
    moved = conn.execute(
        update(audit_head)
        .where(audit_head.c.id == 1, audit_head.c.seq == head_seq)
        .values(seq=seq, hash=digest)
    )
    if moved.rowcount != 1:
        raise Conflict("the audit chain head moved during an append; retry")
    return seq


def _check_text(value: object, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"invalid audit {what}: expected 1-{limit} printable characters")


# --------------------------------------------------------------------------- reading


def list_records(
    store: Store,
    *,
    principal: str | None = None,
    resource: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Newest first. ``resource`` also matches what lies below it (``dom.db`` -> tables);
    ``since`` is inclusive and ``until`` exclusive."""
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000")
    log = audit_log.c
    query = select(audit_log).order_by(log.seq.desc()).limit(limit)
    for column, value in ((log.principal, principal), (log.action, action), (log.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if resource is not None:
        below = resource + "."  # substr, not LIKE: no wildcards, case-sensitive on SQLite too
        query = query.where(
            or_(log.resource == resource, func.substr(log.resource, 1, len(below)) == below)
        )
    for bound, when in (("since", since), ("until", until)):
        if when is not None and when.tzinfo is None:
            raise InvalidInput(f"{bound} must be a timezone-aware time")
        if when is not None:
            query = query.where(log.ts >= when if bound == "since" else log.ts < when)
    with store.read() as conn:
        return [_to_record(row) for row in conn.execute(query)]


def _to_record(row: Row[Any]) -> AuditRecord:
    # Built without validation: a tampered row must still list (verify reports it).
    details = _details(row.details)
    return AuditRecord.model_construct(
        **{k: getattr(row, k) for k in AuditRecord.model_fields if k != "details"},
        details=details if details is not None else {"unreadable": row.details},
    )


def _details(text: str) -> dict[str, Any] | None:
    """Parsed details, or None unless ``text`` is exactly the canonical form of an object."""
    try:
        body = json.loads(text)
        return body if isinstance(body, dict) and _json(body) == text else None
    except (TypeError, ValueError):
        return None


def _unhex(value: str) -> bytes | None:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _head(conn: Connection, *, lock: bool = False) -> tuple[int, str]:
    """The chain head; ``lock`` takes FOR UPDATE on PostgreSQL (on SQLite the write
    transaction already holds the database's write lock), so appends serialise."""
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise StoreError("the audit chain head is missing: the store is not migrated")
    return int(row.seq), str(row.hash)


def _rows(conn: Connection, after: int | None = None) -> Iterator[Row[Any]]:
    """The log in seq order, a page at a time (keyset pagination, so memory stays flat)."""
    query = select(audit_log).order_by(audit_log.c.seq).limit(_CHUNK)
    while True:
        page = conn.execute(query if after is None else query.where(audit_log.c.seq > after))
        rows = page.all()
        yield from rows
        if len(rows) < _CHUNK:
            return
        after = rows[-1].seq


# --------------------------------------------------------------------------- checkpoints


def checkpoint(store: Store, home: Path) -> Checkpoint:
    """Sign the current head and append it to the checkpoint file (fsync'd).

    Refuses when the records since the last checkpoint do not link to it, so a signature
    never covers a tampered chain."""
    key = keys.audit_private_key(home)
    last = _last_checkpoint(home, key.public_key())
    walk = _Walk([], start=(last.seq, last.hash) if last else (0, GENESIS))
    with store.read() as conn:  # one snapshot for the head and every page
        head_seq, head_hash = _head(conn)
        if head_seq < walk.last.orig:
            raise AuditChainBroken(
                f"the audit chain head (seq {head_seq}) is behind the last checkpoint "
                f"(seq {walk.last.orig}): run 'lakemesh audit verify'"
            )
        walk.walk(conn, head_seq, head_hash)
    if walk.problems:
        first = next(iter(walk.problems.values()))
        raise AuditChainBroken(
            f"the audit chain does not verify ({first}): run 'lakemesh audit verify'"
        )
    draft = Checkpoint(format=FORMAT_VERSION, seq=head_seq, hash=head_hash, ts=now(), signature="")
    signature = base64.b64encode(key.sign(draft.payload())).decode()
    signed = draft.model_copy(update={"signature": signature})
    line = _json({**signed.model_dump(), "ts": _ts(signed.ts)})
    _append_line(home / CHECKPOINTS, line)
    return signed


def maybe_checkpoint(
    store: Store, home: Path, every: int = 100, max_age_seconds: float = 300.0
) -> Checkpoint | None:
    """Checkpoint when the chain grew by ``every`` records, or grew at all and the last
    checkpoint is older than ``max_age_seconds``; callers run it after committing."""
    last = _last_checkpoint(home, keys.audit_public_key(home))
    with store.read() as conn:
        head_seq = _head(conn)[0]
    grown = head_seq - (last.seq if last else 0)
    stale = last is None or (now() - last.ts).total_seconds() >= max_age_seconds
    if grown >= every or grown < 0 or (grown > 0 and stale):
        return checkpoint(store, home)  # a shrunk chain makes checkpoint() refuse, loudly
    return None


def read_checkpoints(home: Path) -> list[Checkpoint]:
    """Every checkpoint in the file, each signature verified; any bad line raises."""
    found, problems = _read_checkpoints(home)
    if problems:
        raise AuditChainBroken(f"bad audit checkpoint: {problems[0].detail}")
    return found


def _read_checkpoints(home: Path) -> tuple[list[Checkpoint], list[Problem]]:
    path = home / CHECKPOINTS
    lines = path.read_bytes().split(b"\n") if path.exists() else []
    public = keys.audit_public_key(home) if any(lines) else None
    found: list[Checkpoint] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, 1):
        if public is None or not line.strip():
            continue
        cp, seq, error = _parse_checkpoint(line, public)
        if cp is not None:
            found.append(cp)
        else:
            detail = f"line {number}: {error}"
            problems.append(Problem(kind="bad_checkpoint", seq=seq, detail=detail))
    return found, problems


def _parse_checkpoint(
    line: bytes, public: Ed25519PublicKey
) -> tuple[Checkpoint | None, int | None, str]:
    try:
        raw = json.loads(line)
        seq = raw.get("seq") if isinstance(raw, dict) else None
        cp = Checkpoint.model_validate(raw)
    except (ValueError, ValidationError):
        return None, None, "not a checkpoint"
    seq = seq if isinstance(seq, int) else None
    if cp.ts.tzinfo is None:
        return None, seq, "not a checkpoint (its time has no zone)"
    if cp.format != FORMAT_VERSION:
        return None, seq, f"unknown checkpoint format {cp.format}"
    try:
        public.verify(base64.b64decode(cp.signature, validate=True), cp.payload())
    except (InvalidSignature, binascii.Error):
        return None, seq, "signature does not verify with the mesh's audit key"
    return cp, seq, ""


def _last_checkpoint(home: Path, public: Ed25519PublicKey) -> Checkpoint | None:
    """The last checkpoint whose signature verifies (a forged last line is skipped).

    Remembered per file while its size, modification time and inode stay the same: this
    runs after every audited operation, and re-reading and re-verifying an unchanged
    file each time cost more than the operation."""
    path = home / CHECKPOINTS
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (
        str(path),
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        public.public_bytes(Encoding.Raw, PublicFormat.Raw),
    )
    cached = _LAST_CHECKPOINT.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    lines = path.read_bytes().split(b"\n")
    found = None
    for line in reversed(lines):
        cp = _parse_checkpoint(line, public)[0] if line.strip() else None
        if cp is not None:
            found = cp
            break
    _LAST_CHECKPOINT[str(path)] = (key, found)
    return found


_LAST_CHECKPOINT: dict[str, tuple[tuple[object, ...], Checkpoint | None]] = {}


def _append_line(path: Path, line: str) -> None:
    new_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        # A crash mid-write leaves a torn last line; start ours on a fresh one.
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        data = ("\n" if torn else "").encode() + line.encode() + b"\n"
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)
    for folder in (path.parent, path.parent.parent) if new_dir else (path.parent,):
        keys.fsync_dir(folder)  # the new file's (and directory's) names are durable too


def _digest(prev: bytes | None, seq: int, tail: bytes) -> str | None:
    return None if prev is None else hashlib.sha256(prev + _with_seq(seq, tail)).hexdigest()


# --------------------------------------------------------------------------- verify


def verify(store: Store, home: Path) -> VerifyReport:
    """Walk the whole chain once, in seq order, and check it against every checkpoint."""
    # Checkpoints first: any checkpoint in the file then describes a committed state
    # that the database snapshot taken afterwards must contain.
    checkpoints, bad = _read_checkpoints(home)
    walk = _Walk(sorted(checkpoints, key=lambda c: c.seq))
    for problem in bad:
        walk.report(problem.kind, problem.seq, problem.detail)
    with store.read() as conn:
        walk.walk(conn, *_head(conn))
    return VerifyReport(
        records_checked=walk.checked,
        last_seq=walk.last_stored,
        checkpoints_checked=walk.cp_index,
        problems=sorted(walk.problems.values(), key=lambda p: p.seq or 0),
        omitted=walk.omitted,
    )


@dataclass(order=True)
class _Item:
    orig: int  # the seq the record was written as (its hash says so), or its stored seq
    seq: int
    hash: str
    prev_hash: str
    intact: bool


class _Walk:
    """Rows arrive in stored-seq order. Each is placed at the seq its hash was computed for
    (searching nearby seqs if needed); a heap of ``_WINDOW`` rows re-sorts them into that
    original order, where gaps, links, checkpoints and the head are checked."""

    def __init__(self, checkpoints: list[Checkpoint], start: tuple[int, str] = (0, GENESIS)):
        self.checkpoints, self.cp_index, self.matched = checkpoints, 0, 0
        self.problems: dict[tuple[str, int | None], Problem] = {}
        self.omitted = self.checked = self.last_stored = 0
        self.heap: list[_Item] = []
        self.run: tuple[int, int, int] | None = None  # moved rows: first seq, last seq, shift
        self.shift = 0  # the last shift seen: renumbered runs are found at once
        self.last = _Item(start[0], start[0], start[1], "", True)  # previous, original order
        self.conn: Connection | None = None
        self.lookups = 100  # records a broken link may be looked up by hash
        self._checkpoints_upto(self.last)

    def walk(self, conn: Connection, head_seq: int, head_hash: str) -> None:
        self.conn = conn
        for row in _rows(conn, after=self.last.orig or None):
            self.add(row)
        self.finish(head_seq, head_hash)

    def report(self, kind: ProblemKind, seq: int | None, detail: str) -> None:
        if (kind, seq) in self.problems:
            return
        if len(self.problems) >= MAX_PROBLEMS:
            self.omitted += 1
        else:
            self.problems[(kind, seq)] = Problem(kind=kind, seq=seq, detail=detail)

    def add(self, row: Row[Any]) -> None:
        self.checked, self.last_stored = self.checked + 1, row.seq
        orig = self._place(row)
        if orig is None:
            self.report("modified", row.seq, "its contents do not match its hash")
        self._track_run(row.seq, 0 if orig is None else orig - row.seq)
        intact = orig is not None
        item = _Item(row.seq if orig is None else orig, row.seq, row.hash, row.prev_hash, intact)
        heapq.heappush(self.heap, item)
        while self.heap and self.heap[0].orig < row.seq - _WINDOW:
            self._in_order(heapq.heappop(self.heap))

    def _place(self, row: Row[Any]) -> int | None:
        """The seq this row's hash was computed for, within ``_WINDOW`` of where it is."""
        details, prev = _details(row.details), _unhex(row.prev_hash)
        if details is None or prev is None:
            return None
        tail = _tail(
            row.ts, row.principal, row.action, row.resource, row.outcome, details, row.prev_hash
        )
        if _digest(prev, row.seq, tail) == row.hash:
            return int(row.seq)
        nearby = [d for n in range(1, _WINDOW + 1) for d in (n, -n)]
        searching = len(self.problems) < MAX_PROBLEMS  # past that, only the last shift
        for shift in [self.shift, *nearby] if searching else [self.shift]:
            seq = row.seq + shift
            if shift and seq >= 1 and _digest(prev, seq, tail) == row.hash:
                self.shift = shift
                return int(seq)
        return None

    def _track_run(self, seq: int, shift: int) -> None:
        if self.run and shift == self.run[2] and seq == self.run[1] + 1:
            self.run = (self.run[0], seq, shift)
            return
        self._flush_run()
        self.run = (seq, seq, shift) if shift else None

    def _flush_run(self) -> None:
        if self.run:
            first, last, moved = self.run
            where = f"seq {first}" if first == last else f"seq {first}-{last}"
            was = f"seq {first + moved}" if first == last else f"{first + moved}-{last + moved}"
            self.report("reordered", first, f"the record(s) at {where} were written as {was}")
        self.run = None

    def _in_order(self, item: _Item) -> None:
        last = self.last
        if item.orig <= last.orig:
            return  # a copy of a record already seen; its move is reported
        if item.orig > last.orig + 1:
            self._deleted(last.orig + 1, item.orig - 1)
        elif item.intact and last.intact and item.prev_hash != last.hash:
            self._broken_link(item)
        self._checkpoints_upto(item)
        self.last = item

    def _broken_link(self, item: _Item) -> None:
        assert self.conn is not None
        linked = None
        if self.lookups > 0:  # an unindexed scan: a bounded number of them
            self.lookups -= 1
            found = select(audit_log.c.seq).where(audit_log.c.hash == item.prev_hash).limit(1)
            linked = self.conn.execute(found).scalar()
        if linked is not None:
            detail = f"it links to record {linked}, not to record {item.orig - 1}"
            self.report("reordered", item.orig, detail)
        elif item.orig == 1:
            self.report("modified", 1, "it does not link to the start of the chain")
        else:
            detail = f"record {item.orig} no longer links to it: rewritten with a new hash"
            self.report("modified", item.orig - 1, detail)

    def _checkpoints_upto(self, item: _Item) -> None:
        while self.cp_index < len(self.checkpoints):
            cp = self.checkpoints[self.cp_index]
            if cp.seq > item.orig:
                return
            self.cp_index += 1
            if cp.seq < item.orig:
                continue  # its record is missing, and reported as deleted
            if cp.hash == item.hash:
                self.matched = cp.seq
            else:
                detail = (
                    f"it differs from the checkpoint signed {_ts(cp.ts)}: "
                    f"records after seq {self.matched} were rewritten"
                )
                self.report("modified", cp.seq, detail)

    def _deleted(self, first: int, last: int) -> None:
        shown = min(last - first + 1, MAX_PROBLEMS)
        for seq in range(first, first + shown):
            self.report("deleted", seq, f"record {seq} is missing")
        self.omitted += last - first + 1 - shown

    def finish(self, head_seq: int, head_hash: str) -> None:
        self._flush_run()
        while self.heap:
            self._in_order(heapq.heappop(self.heap))
        last = self.last  # the record with the highest original seq
        if head_seq < min(last.orig, last.seq):
            detail = f"records after seq {head_seq} lie beyond the chain head: inserted?"
            self.report("modified", head_seq + 1, detail)
        elif head_seq <= max(last.orig, last.seq) and (
            head_hash != last.hash or head_seq not in (last.orig, last.seq)
        ):
            self.report("modified", last.orig, "it does not match the chain head")
        signed = max((cp.seq for cp in self.checkpoints[self.cp_index :]), default=0)
        self.cp_index = len(self.checkpoints)
        end = max(head_seq if head_seq > max(last.orig, last.seq) else 0, signed)
        if end > last.orig:
            says = "a signed checkpoint" if signed == end else "the chain head"
            detail = f"records {last.orig + 1}-{end} were removed from the end ({says} has {end})"
            self.report("truncated", last.orig + 1, detail)
