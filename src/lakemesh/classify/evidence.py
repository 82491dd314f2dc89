"""How a recogniser weighs what a column's values and its name say into one confidence.

Every recogniser reports two counts over the sampled values:

* **strong**: values that are the thing on their own (a valid IBAN, an e-mail address,
  a phone number written with its country code). Enough of them is a finding by itself,
  up to the recogniser's ``strength``; a matching name closes most of the remaining gap.
* **weak**: values merely consistent with it (nine digits that pass no checksum, a
  plausible date, an identifier-shaped code). They count only when the column's name
  (or description) says what it is, up to ``named_strength``.

Evidence is a share of the sampled values: below ``FLOOR`` (half) it is none, from
``FULL`` (nine in ten) it is full, linear between; fewer than ``MIN_MATCHES`` matching
values scale it down, so a tiny sample is never a confident one. A name alone is never
recommended: it scores ``NAME_ONLY``, below ``RECOMMEND``, and ends up as a note saying
what the values said instead. A name that says the column is something else
(``not_names``: a ``version`` column of dotted numbers) rules the recogniser out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from lakemesh.classify.naming import ColumnText, NamePatterns
from lakemesh.classify.sample import Sample, Tally

RECOMMEND = 0.5  #: findings below this are not recommended (they become notes)
HIGH = 0.8  #: reached only with value evidence
NAME_ONLY = 0.3  #: a name the values do not support
FLOOR = 0.5
FULL = 0.9
MIN_MATCHES = 5
NAME_BOOST = 0.6  #: share of the gap to certainty that a matching name closes
#: below this share of number-like values, recognisers of written numbers do not look
NUMBERISH = 0.2
PII = "pii=true"


@dataclass(frozen=True)
class Evidence:
    """What the values say; ``what`` and ``weak_what`` complete "N of M sampled values
    ..." and never quote a value."""

    strong: Tally
    what: str
    weak: Tally | None = None
    weak_what: str = ""
    detail: str = ""  #: appended to the reason, e.g. "; 1000 distinct"
    weak_strength: float | None = None  #: overrides the recogniser's ``named_strength``
    strong_strength: float | None = None  #: overrides the recogniser's ``strength``


@dataclass(frozen=True)
class Judgement:
    confidence: float
    reason: str
    matched: int
    name_match: bool


def support(matched: int, total: int, strength: float) -> float:
    """Confidence that ``matched`` of ``total`` values give, for a check of ``strength``."""
    if total <= 0 or matched <= 0:
        return 0.0
    share = matched / total
    if share < FLOOR:
        return 0.0
    ramp = 0.5 + 0.5 * min(1.0, (share - FLOOR) / (FULL - FLOOR))
    return strength * ramp * min(1.0, matched / MIN_MATCHES)


def count_text(tally: Tally) -> str:
    return f"about {tally.matched}" if tally.estimated else str(tally.matched)


class Recogniser(ABC):
    """One kind of sensitive data: its name patterns, the values it accepts, its tag."""

    name: str
    label: str  #: for reasons: "name matches {label}"
    tag: str = PII
    description: str = ""
    kinds: frozenset[str]  #: Sample kinds it looks at
    names: NamePatterns
    not_names: NamePatterns = NamePatterns()
    strength: float = 0.0  #: confidence of strong evidence alone at a full match
    named_strength: float = 0.0  #: confidence of weak evidence with a matching name
    builtin: bool = True

    @abstractmethod
    def evidence(self, sample: Sample, named: bool) -> Evidence:
        """Count the sampled values that are (strong) or could be (weak) this thing."""

    def name_evidence(self, column: ColumnText) -> str | None:
        """Where the column says it holds this: "name", "description" or None."""
        if column.derived:
            return None
        if self.names.search(column.name_text):
            return "name"
        text = column.description_text
        if self.names.search(text) and not (self.not_names and self.not_names.search(text)):
            return "description"
        return None

    def weak_counts(self, where: str | None, column: ColumnText) -> bool:
        """Whether weak evidence counts, given where the name evidence came from."""
        return where is not None

    def judge(self, sample: Sample, column: ColumnText) -> Judgement | None:
        if self.not_names and self.not_names.search(column.name_text):
            return None
        where = self.name_evidence(column)
        ev = self.evidence(sample, where is not None)
        n = sample.total
        strength = self.strength if ev.strong_strength is None else ev.strong_strength
        value = support(ev.strong.matched, n, strength)
        confidence = value + (1 - value) * NAME_BOOST if value and where else value
        matched, parts = (
            ev.strong.matched,
            [f"{count_text(ev.strong)} of {n} sampled values {ev.what}"],
        )
        if ev.weak is not None and self.named_strength and self.weak_counts(where, column):
            strength = self.named_strength if ev.weak_strength is None else ev.weak_strength
            weak = support(ev.weak.matched, n, strength)
            if weak > confidence:
                confidence, matched = weak, ev.weak.matched
                parts = [f"{count_text(ev.weak)} of {n} sampled values {ev.weak_what}"]
        if where is not None:
            if confidence == 0:
                return Judgement(NAME_ONLY, self._unsupported(where, ev, n), 0, True)
            parts.insert(0, f"{where} matches {self.label}")
        elif confidence == 0:
            return None
        if sample.long:
            parts.append(f"{sample.long} long text values not examined")
        return Judgement(
            round(confidence, 3), "; ".join(parts) + ev.detail, matched, where is not None
        )

    def _unsupported(self, where: str, ev: Evidence, n: int) -> str:
        said = f"{where} suggests {self.label}"
        if ev.strong.matched == 0 and (ev.weak is None or ev.weak.matched == 0):
            return f"{said}, but no sampled value is one ({n} checked)"
        out = f"{said}, but too few sampled values support it: "
        out += f"{count_text(ev.strong)} of {n} {ev.what}"
        if ev.weak is not None and ev.weak.matched > ev.strong.matched:
            out += f"; {count_text(ev.weak)} {ev.weak_what}"
        return out
