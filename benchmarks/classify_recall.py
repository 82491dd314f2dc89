"""Recall of the sensitive-data classifier on the labelled set, beside presidio's."""

from __future__ import annotations

from typing import Any

from benchmarks._classify_eval import LABELS, PEER, PEER_SCOPE, Evaluation, evaluate
from benchmarks._common import result

NAME = "classify_recall"
TARGET = 0.95
DESCRIPTION = """
Column-level recall of lakemesh.classify on the same labelled set and the same single
evaluation as classify_precision (see there): the share of sensitive columns whose top
finding is the right recogniser. recall_overall covers all eleven recognisers; its peer
value is presidio-analyzer's over the seven it has context-free recognisers for, and
recall_presidio_scope is ours over those seven. Per-recogniser rows are reported
(target "info"); the target is on the overall value. Misses that remain are by design:
customer identifiers, bank account numbers and (mostly) birth dates are led by the
column's name, so under a neutral name (col_7, extra) they are not found; single
first names or surnames under a neutral name need the small lexicon to know half of them.
"""


def _peer(ev: Evaluation, label: str) -> float:
    return ev.counts("peer", [label]).recall


def run(ctx: Any) -> list[dict[str, Any]]:
    ev = evaluate()
    ours_all = ev.counts("ours").recall
    peer_all = ev.counts("peer", PEER_SCOPE).recall
    rows = [
        result(NAME, "recall_overall", ours_all, "ratio", target=f">= {TARGET}",
               meets=ours_all >= TARGET, peer=PEER, peer_value=peer_all),
        result(NAME, "recall_presidio_scope", ev.counts("ours", PEER_SCOPE).recall, "ratio",
               target="info", meets=True, peer=PEER, peer_value=peer_all),
    ]  # fmt: skip
    for label in LABELS:
        covered = label in PEER_SCOPE
        rows.append(
            result(
                NAME,
                f"recall_{label}",
                ev.counts("ours", [label]).recall,
                "ratio",
                target="info",
                meets=True,
                peer=PEER if covered else None,
                peer_value=_peer(ev, label) if covered else None,
            )
        )
    return rows
