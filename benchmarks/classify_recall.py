"""Recall of the sensitive-data classifier on the labelled set, beside presidio's."""

from __future__ import annotations

from typing import Any

from benchmarks._classify_eval import evaluate, score_rows

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


def run(ctx: Any) -> list[dict[str, Any]]:
    return score_rows(evaluate(), NAME, "recall", TARGET)
