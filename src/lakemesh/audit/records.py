"""Audit records and their format, version 1: the fields, the canonical bytes, the hash.

Frozen by ``tests/fixtures/audit_v1.json``: a change here that alters one byte of
``canonical`` breaks every chain already written, so a new layout is a new version.
Nothing in this module touches the store; the chain (``chain.py``) and the walk that
verifies it (``walk.py``) both derive hashes from here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from lakemesh.errors import InvalidInput
from lakemesh.typedef import Frozen

FORMAT_VERSION = 1
GENESIS = "0" * 64  # the prev_hash of the first record

Outcome = Literal["allowed", "denied", "ok", "refused", "failed", "aborted"]
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


def canonical(fields: AuditFields) -> bytes:
    """The bytes a record's hash covers (format version 1, see the package docstring)."""
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


def _digest(prev: bytes | None, seq: int, tail: bytes) -> str | None:
    """The hash of a record given as its seq-free ``tail``: the walk tries several seqs
    for one row, so the tail is serialised once."""
    return None if prev is None else hashlib.sha256(prev + _with_seq(seq, tail)).hexdigest()


def _json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise InvalidInput("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _details(text: str) -> dict[str, Any] | None:
    """Parsed details, or None unless ``text`` is exactly the canonical form of an object."""
    try:
        body = json.loads(text)
        return body if isinstance(body, dict) and _json(body) == text else None
    except (TypeError, ValueError):
        return None


def _unhex(value: str) -> bytes | None:
    """A stored hash as its 32 bytes, or None when it is not one (a tampered row)."""
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        return None
    return raw if len(raw) == 32 else None
