"""The classifier's entry points: findings per column, the registry of recognisers.

``classify_table`` reads a bounded sample of each column (see ``sample``), asks every
registered recogniser what the values, the name and the description say (see
``evidence`` for how that becomes a confidence), and keeps the findings worth
recommending, best first. A finding carries counts and a reason, never a sampled value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from lakemesh.classify.custom import load_recognisers
from lakemesh.classify.evidence import HIGH, NAME_ONLY, PII, RECOMMEND, Recogniser
from lakemesh.classify.naming import ColumnText
from lakemesh.classify.sample import OTHER, Sample
from lakemesh.errors import InvalidInput

__all__ = [
    "HIGH",
    "NAME_ONLY",
    "PII",
    "RECOMMEND",
    "ColumnResult",
    "Finding",
    "Recogniser",
    "Registry",
    "classify_column",
    "classify_table",
    "default_registry",
    "load_recognisers",
]


@dataclass(frozen=True)
class Finding:
    recogniser: str  #: the registered name, e.g. "email", or a custom one
    tag: str  #: the tag it recommends, "key=value"
    confidence: float  #: 0..1; >= HIGH only with value evidence
    reason: str  #: counts only, never a value
    sampled: int  #: non-null values looked at
    matched: int  #: values the recogniser accepted (0 when name-only)
    name_match: bool


@dataclass(frozen=True)
class ColumnResult:
    column: str
    findings: tuple[Finding, ...]  #: best first; only those >= RECOMMEND
    skipped: str | None = None  #: why the column was not classified
    #: why a name that suggested something was not followed ("name suggests phone
    #: number, but no sampled value is one"); counts only
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> Finding | None:
        return self.findings[0] if self.findings else None


class Registry:
    """The recognisers a classification runs: the builtin ones, then a domain's own."""

    def __init__(self, recognisers: Sequence[Recogniser]) -> None:
        names = [r.name for r in recognisers]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise InvalidInput(f"recogniser {duplicate!r} is registered twice")
        self._recognisers = tuple(recognisers)

    def __iter__(self) -> Iterator[Recogniser]:
        return iter(self._recognisers)

    def __len__(self) -> int:
        return len(self._recognisers)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self._recognisers)

    def get(self, name: str) -> Recogniser | None:
        return next((r for r in self._recognisers if r.name == name), None)

    def with_custom(self, recognisers: Sequence[Recogniser]) -> Registry:
        """This registry plus a domain's recognisers (a name may not shadow one here)."""
        for r in recognisers:
            if r.name in self.names:
                raise InvalidInput(f"recogniser {r.name!r} is already registered")
        return Registry((*self._recognisers, *recognisers))


@cache
def default_registry() -> Registry:
    """The builtin recognisers, in the order ties are broken."""
    from lakemesh.classify.contact import Email, IpAddress, Phone, PostalAddress
    from lakemesh.classify.finance import BankAccount, Iban, PaymentCard
    from lakemesh.classify.identity import CustomerId, DateOfBirth, NationalId
    from lakemesh.classify.person import PersonName

    return Registry(
        (
            Email(),
            Iban(),
            PaymentCard(),
            NationalId(),
            Phone(),
            IpAddress(),
            DateOfBirth(),
            PostalAddress(),
            PersonName(),
            BankAccount(),
            CustomerId(),
        )
    )


def classify_column(
    name: str,
    values: pa.Array | pa.ChunkedArray,
    *,
    type: str,
    description: str | None = None,
    registry: Registry | None = None,
) -> ColumnResult:
    """Recommendations for one column from a sample of its values."""
    sample = Sample.of(values, type)
    if isinstance(sample, str):
        return ColumnResult(name, (), skipped=sample)
    if sample.total == 0:
        return ColumnResult(name, (), skipped="no non-null values in the sample")
    if sample.long == sample.total:
        return ColumnResult(name, (), skipped="long text: every sampled value is too long")
    if sample.kind == OTHER:
        return ColumnResult(name, ())
    column = ColumnText(name, description)
    findings: list[Finding] = []
    notes: list[str] = []
    for recogniser in registry or default_registry():
        if sample.kind not in recogniser.kinds:
            continue
        judgement = recogniser.judge(sample, column)
        if judgement is None:
            continue
        if judgement.confidence < RECOMMEND:
            notes.append(judgement.reason)
            continue
        findings.append(
            Finding(
                recogniser.name,
                recogniser.tag,
                judgement.confidence,
                judgement.reason,
                sample.total,
                judgement.matched,
                judgement.name_match,
            )
        )
    # where name and values agree on a recogniser, it leads a value-only finding
    findings.sort(key=lambda f: (f.name_match and f.confidence >= HIGH, f.confidence), reverse=True)
    findings = _values_beat_names(findings)
    if findings and findings[0].confidence >= HIGH:
        notes = []  # what else the name hinted at is noise next to a confident finding
    return ColumnResult(name, tuple(findings), notes=tuple(notes))


#: Recognisers led by the column's name, whose values are only "identifier-shaped".
NAME_LED = frozenset({"customer_id", "bank_account"})


def _values_beat_names(findings: list[Finding]) -> list[Finding]:
    """A name-led finding gives way to a confident finding the values prove: a column
    ``last_login_ip`` full of IP addresses holds IP addresses, not login identifiers."""
    proven = max(
        (f.confidence for f in findings if f.recogniser not in NAME_LED and f.matched),
        default=0.0,
    )
    if proven < HIGH:
        return findings
    return [f for f in findings if f.recogniser not in NAME_LED or f.confidence > proven]


def classify_table(
    columns: Sequence[tuple[str, str, str | None]],
    sample: pa.Table,
    registry: Registry | None = None,
) -> list[ColumnResult]:
    """Recommendations for each ``(name, arrow type text, description)`` column."""
    registry = registry or default_registry()
    out = []
    for name, type_text, description in columns:
        if sample.num_rows == 0:
            out.append(ColumnResult(name, (), skipped="no rows in the sample"))
        elif name not in sample.column_names:
            out.append(ColumnResult(name, (), skipped="column not in the sample"))
        else:
            out.append(
                classify_column(
                    name,
                    sample.column(sample.column_names.index(name)),
                    type=type_text,
                    description=description,
                    registry=registry,
                )
            )
    return out
