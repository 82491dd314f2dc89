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

Modules: ``records`` (the format and hash), ``chain`` (append, list, head),
``checkpoints`` (signing and the checkpoint file), ``walk`` (the chain walk both
``checkpoint`` and ``verify`` run), ``verification`` (``verify`` and its report).
"""

from __future__ import annotations

from lakemesh.audit.chain import list_records, record
from lakemesh.audit.checkpoints import (
    CHECKPOINTS,
    Checkpoint,
    checkpoint,
    maybe_checkpoint,
    read_checkpoints,
)
from lakemesh.audit.records import (
    FORMAT_VERSION,
    GENESIS,
    OUTCOMES,
    AuditFields,
    AuditRecord,
    Outcome,
    canonical,
    chain_hash,
)
from lakemesh.audit.verification import VerifyReport, verify
from lakemesh.audit.walk import MAX_PROBLEMS, Problem, ProblemKind
from lakemesh.errors import AuditChainBroken

#: Rows per page when walking the chain. ``chain._rows`` reads it from here on every
#: walk, so that tests can shrink it for the whole package and exercise the paging.
_CHUNK = 1000

__all__ = [
    "CHECKPOINTS",
    "FORMAT_VERSION",
    "GENESIS",
    "MAX_PROBLEMS",
    "OUTCOMES",
    "AuditChainBroken",
    "AuditFields",
    "AuditRecord",
    "Checkpoint",
    "Outcome",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "canonical",
    "chain_hash",
    "checkpoint",
    "list_records",
    "maybe_checkpoint",
    "read_checkpoints",
    "record",
    "verify",
]
