"""One evaluation of the classifier and its peer on the labelled set, shared by the
``classify_precision`` and ``classify_recall`` benchmarks (computed once per process).

Scoring is per column. Ours predicts the recogniser of a column's top finding (the
findings are those at or above ``RECOMMEND``), or nothing. The peer is presidio-analyzer's
context-free recognisers (every ``PatternRecognizer`` subclass plus ``PhoneRecognizer``;
no spaCy model, so no PERSON or LOCATION), each called directly with
``analyze(value, entities, nlp_artifacts=None)`` on every sampled value as text, its
e-mail recogniser given an offline ``tldextract``. A value counts for an entity when any
recogniser returns it with at least a score floor, and the column is predicted as the
mapped entity that at least half of its non-null values have (the most frequent if
several) -- the same rule as ours: a share of values, from half. Two floors are tried,
presidio's own default (none) and 0.3 (which drops its very weak context-free patterns,
scored 0.01-0.1 to be lifted by context words), and the one with the better F1 is
reported (``Evaluation.peer_floor``). Entities without a counterpart here (dates, URLs,
UUIDs, driving licences, postcodes...) predict nothing rather than something wrong.

A prediction of recogniser R is a true positive when the column's label is R, else a
false positive for R; a labelled column not predicted as its label is a false negative.
Overall numbers are micro-averaged over columns.
"""

from __future__ import annotations

import time
import types
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from benchmarks._classify_set import Table, tables, wide_table
from benchmarks._common import log, median

PEER = "presidio-analyzer (pattern recognisers)"
#: presidio entity -> our recogniser; entities missing here predict nothing
ENTITIES = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "ZA_MOBILE_NUMBER": "phone",
    "ZA_TELEPHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "CREDIT_CARD": "payment_card",
    "IP_ADDRESS": "ip_address",
    "US_BANK_NUMBER": "bank_account",
}
_NATIONAL = (
    "US_SSN US_ITIN US_PASSPORT UK_NHS UK_NINO UK_PASSPORT ES_NIF ES_NIE ES_PASSPORT "
    "IT_FISCAL_CODE IT_IDENTITY_CARD IT_PASSPORT PL_PESEL FI_PERSONAL_IDENTITY_CODE "
    "SE_PERSONNUMMER DE_TAX_ID DE_ID_CARD DE_PASSPORT DE_SOCIAL_SECURITY IN_AADHAAR "
    "IN_PAN IN_PASSPORT IN_VOTER AU_TFN AU_MEDICARE CA_SIN SG_NRIC_FIN KR_RRN KR_FRN "
    "KR_PASSPORT TH_TNIN TR_NATIONAL_ID NG_NIN ZA_ID_NUMBER ZA_PASSPORT PH_PASSPORT "
    "PH_UMID"
)
ENTITIES |= dict.fromkeys(_NATIONAL.split(), "national_id")
#: the recognisers presidio has a context-free counterpart for
PEER_SCOPE = frozenset(ENTITIES.values())
LABELS = (
    "person_name",
    "email",
    "phone",
    "iban",
    "bank_account",
    "payment_card",
    "national_id",
    "customer_id",
    "date_of_birth",
    "postal_address",
    "ip_address",
)


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Evaluation:
    truth: tuple[str | None, ...]
    ours: tuple[str | None, ...]
    peer: tuple[str | None, ...]
    where: tuple[str, ...]  #: table.column of each
    tables: int
    ours_ms_per_table: float
    peer_ms_per_table: float
    wide_ms: float
    wide_peer_ms: float
    peer_floor: float = 0.0  #: the presidio score floor reported (the better of FLOORS)

    def counts(self, who: str, labels: Iterable[str] = LABELS) -> Counts:
        predicted = self.ours if who == "ours" else self.peer
        wanted = set(labels)
        tp = fp = fn = 0
        for truth, guess in zip(self.truth, predicted, strict=True):
            if guess in wanted:
                if guess == truth:
                    tp += 1
                else:
                    fp += 1
            if truth in wanted and guess != truth:
                fn += 1
        return Counts(tp, fp, fn)

    def mistakes(self, who: str = "ours") -> list[str]:
        predicted = self.ours if who == "ours" else self.peer
        return [
            f"{w}: label {t}, predicted {g}"
            for w, t, g in zip(self.where, self.truth, predicted, strict=True)
            if t != g
        ]


def score_rows(ev: Evaluation, name: str, measure: str, target: float) -> list[dict[str, Any]]:
    """The rows classify_precision and classify_recall share, for ``measure``
    ("precision" or "recall"): overall (target), over presidio's scope, per recogniser."""
    from benchmarks._common import result

    def score(who: str, labels: Iterable[str] = LABELS) -> float:
        return float(getattr(ev.counts(who, labels), measure))

    def peer(label: str) -> float | None:
        """Presidio's score for one recogniser; None for a precision it never predicted."""
        counts = ev.counts("peer", [label])
        if measure == "precision" and not counts.tp + counts.fp:
            return None
        return float(getattr(counts, measure))

    ours_all, peer_all = score("ours"), score("peer", PEER_SCOPE)
    rows = [
        result(name, f"{measure}_overall", ours_all, "ratio", target=f">= {target}",
               meets=ours_all >= target, peer=PEER, peer_value=peer_all),
        result(name, f"{measure}_presidio_scope", score("ours", PEER_SCOPE), "ratio",
               target="info", meets=True, peer=PEER, peer_value=peer_all),
    ]  # fmt: skip
    for label in LABELS:
        covered = label in PEER_SCOPE
        rows.append(
            result(
                name,
                f"{measure}_{label}",
                score("ours", [label]),
                "ratio",
                target="info",
                meets=True,
                peer=PEER if covered else None,
                peer_value=peer(label) if covered else None,
            )
        )
    return rows


# ------------------------------------------------------------------------------ ours


def ours(table: Table) -> tuple[list[str | None], float]:
    from lakemesh.classify.recognisers import classify_table

    arrow = table.arrow
    start = time.perf_counter()
    results = classify_table(table.spec, arrow)
    elapsed = time.perf_counter() - start
    return [r.findings[0].recogniser if r.findings else None for r in results], elapsed


# ------------------------------------------------------------------------------ presidio


@cache
def presidio_recognisers() -> tuple[Any, ...]:
    """Every context-free presidio recogniser, its e-mail check made offline."""
    import tldextract
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    offline = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())
    email_recognizer.tldextract = types.SimpleNamespace(extract=offline)  # type: ignore[attr-defined]

    def subclasses(cls: type) -> Iterable[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    out: list[Any] = [PhoneRecognizer()]
    for cls in {c for c in subclasses(PatternRecognizer) if c.__module__.startswith("presidio")}:
        try:
            out.append(cls())
        except Exception:  # needs arguments or a service: not a context-free recogniser
            continue
    out.sort(key=lambda r: type(r).__name__)
    return tuple(out)


def _as_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


#: score floors tried for presidio: its own default (none), and one that drops its
#: very weak context-free patterns (0.01-0.1, meant to be lifted by context words)
FLOORS = (0.0, 0.3)


def presidio(table: Table) -> tuple[dict[float, list[str | None]], float]:
    """Predictions per score floor (one pass over the values), and the seconds taken."""
    recognisers = presidio_recognisers()
    start = time.perf_counter()
    out: dict[float, list[str | None]] = {floor: [] for floor in FLOORS}
    for column in table.columns:
        values = [v for v in column.values.to_pylist() if v is not None]
        seen = {floor: Counter[str]() for floor in FLOORS}
        for value in values:
            text = _as_text(value)
            best: dict[str, float] = {}
            for rec in recognisers:
                for hit in rec.analyze(text, rec.supported_entities, None) or ():
                    best[hit.entity_type] = max(best.get(hit.entity_type, 0.0), hit.score)
            for floor in FLOORS:
                seen[floor].update(e for e, score in best.items() if score >= floor)
        for floor in FLOORS:
            mapped = [
                ENTITIES[e]
                for e, n in seen[floor].most_common()
                if e in ENTITIES and values and n >= len(values) / 2
            ]
            out[floor].append(mapped[0] if mapped else None)
    return out, time.perf_counter() - start


# ------------------------------------------------------------------------------ evaluation


@cache
def evaluate() -> Evaluation:
    truth: list[str | None] = []
    mine: list[str | None] = []
    peer: dict[float, list[str | None]] = {floor: [] for floor in FLOORS}
    where: list[str] = []
    ours_times: list[float] = []
    peer_times: list[float] = []
    sets = tables()
    ours(sets[0])  # imports and caches outside the timing
    for i, table in enumerate(sets):
        predicted, seconds = ours(table)
        ours_times.append(seconds)
        theirs, peer_seconds = presidio(table)
        peer_times.append(peer_seconds)
        truth += [c.label for c in table.columns]
        where += [f"{table.name}.{c.name}" for c in table.columns]
        mine += predicted
        for floor in FLOORS:
            peer[floor] += theirs[floor]
        times = f"ours {seconds * 1000:.1f} ms, presidio {peer_seconds:.2f} s"
        log(f"classify eval table {i + 1}/{len(sets)} {table.name}: {times}")
    wide = wide_table()
    wide_runs = [ours(wide)[1] for _ in range(5)]
    wide_peer = presidio(wide)[1]
    runs = {
        floor: Evaluation(
            tuple(truth),
            tuple(mine),
            tuple(peer[floor]),
            tuple(where),
            len(sets),
            median(ours_times) * 1000,
            median(peer_times) * 1000,
            median(wide_runs) * 1000,
            wide_peer * 1000,
            floor,
        )
        for floor in FLOORS
    }
    for floor, run in runs.items():
        c = run.counts("peer", PEER_SCOPE)
        log(
            f"presidio with score floor {floor}: precision {c.precision:.3f}, recall {c.recall:.3f}"
        )
    return max(runs.values(), key=lambda run: run.counts("peer", PEER_SCOPE).f1)
