"""Signed checkpoints (CloudTrail's digest files): the chain's head, signed with the
mesh's Ed25519 key, one JSON line each in ``<home>/audit/checkpoints.jsonl``.

A checkpoint is what makes a rewrite of the database detectable: whoever can write the
store but not the key file can recompute every hash, but not sign a new head. So a
checkpoint is only signed over a chain that walks clean since the previous one.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from lakemesh import keys
from lakemesh.audit.chain import _head
from lakemesh.audit.records import FORMAT_VERSION, GENESIS, _json, _ts
from lakemesh.audit.walk import Problem, _Walk
from lakemesh.errors import AuditChainBroken
from lakemesh.store import Store
from lakemesh.typedef import Frozen, now

CHECKPOINTS = Path("audit") / "checkpoints.jsonl"  # under the mesh home


class Checkpoint(Frozen):
    format: int
    seq: int
    hash: str
    ts: datetime
    signature: str  # base64 Ed25519 signature over payload()

    def payload(self) -> bytes:
        fields = {"format": self.format, "seq": self.seq, "hash": self.hash, "ts": _ts(self.ts)}
        return _json(fields).encode()


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
