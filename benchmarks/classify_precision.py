"""Precision of the sensitive-data classifier on the labelled set, beside presidio's."""

from __future__ import annotations

from typing import Any

from benchmarks._classify_eval import PEER, evaluate, score_rows
from benchmarks._common import result

NAME = "classify_precision"
TARGET = 0.95
WIDE_TARGET_MS = 1000.0
DESCRIPTION = """
Column-level precision of lakemesh.classify on a labelled evaluation set
(benchmarks/_classify_set.py): 56 deterministically generated tables of 200 rows in seven
locales (en_US, en_GB, de_DE, fr_FR, nl_NL, es_ES, it_IT), 959 columns, 273 of
them sensitive (every recogniser, formatting variants, neutral names such
as col_7 and kontakt) and the rest tricky innocents (academic_year_code, zip_count,
order_id, iban_country, phone_model, sku, EANs and IMEIs with their own check digits,
order dates, hashes, UUIDs, versions, notes with the odd e-mail). A column is predicted
as the recogniser of its top finding (findings are those at or above RECOMMEND, 0.5).
precision_overall is micro-averaged over all eleven recognisers; its peer value is
presidio-analyzer's over the seven it has context-free recognisers for (e-mail, phone,
IBAN, card, IP, US bank number, national identifiers; PERSON and LOCATION need a spaCy
model, and it has no customer-identifier or birth-date notion), so
precision_presidio_scope compares both on those seven alone. Presidio runs every
PatternRecognizer plus PhoneRecognizer on each sampled value, offline; a column gets the
mapped entity found in at least half of its values, a value counting at the score floor
(none, presidio's default, or 0.3) that gives presidio the better F1: presidio_score_floor
says which. Per-recogniser rows are reported
(target "info": 14 to 42 positive columns each; no peer value where presidio predicted
that recogniser for no column); the target is on the overall value. For these rows the
ratio is ours / presidio, so higher is better.
ms_per_table is the median time to classify one table (ours: classify_table; presidio:
all values through all recognisers), ms_50x1000 one table of 50 columns x 1,000 rows
(median of 5), target under a second.
"""


def run(ctx: Any) -> list[dict[str, Any]]:
    ev = evaluate()
    rows = score_rows(ev, NAME, "precision", TARGET)
    rows += [
        result(NAME, "presidio_score_floor", ev.peer_floor, "score", target="info", meets=True),
        result(NAME, "ms_per_table", ev.ours_ms_per_table, "ms", target="info", meets=True,
               peer=PEER, peer_value=ev.peer_ms_per_table),
        result(NAME, "ms_50x1000", ev.wide_ms, "ms", target=f"< {WIDE_TARGET_MS:.0f}",
               meets=ev.wide_ms < WIDE_TARGET_MS, peer=PEER, peer_value=ev.wide_peer_ms),
    ]  # fmt: skip
    return rows
