"""Recognisers for what identifies a person: national numbers, customer and account
identifiers, dates of birth."""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakemesh.classify.evidence import FLOOR, HIGH, NUMBERISH, Evidence, Recogniser
from lakemesh.classify.naming import NamePatterns
from lakemesh.classify.sample import CAP, INTEGER, PROBE, TEMPORAL, TEXT, Sample, Tally, safe

# ----------------------------------------------------------------------- national ids

#: The UK National Insurance number has no check digit; this is its allocation format
#: (HMRC NIM39110): no D, F, I, Q, U, V; no O second; some prefixes never issued.
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def is_nino(value: str) -> bool:
    return bool(_NINO.match(re.sub(r"\s+", "", value).upper()))


@dataclass(frozen=True)
class Scheme:
    """One country's personal number: the lengths and shape of its compact form (no
    spaces, dots, dashes or slashes), an optional written form it needs to count without
    a name, and its python-stdnum module (or ``check``)."""

    module: str
    label: str
    lengths: tuple[int, ...]
    shape: str
    raw: str | None = None
    check: Callable[[str], bool] | None = None

    @cached_property
    def shape_re(self) -> re.Pattern[str]:
        return re.compile(self.shape)

    @cached_property
    def raw_re(self) -> re.Pattern[str] | None:
        return re.compile(self.raw) if self.raw else None

    @cached_property
    def validator(self) -> Callable[[str], bool]:
        if self.check is not None:
            return self.check
        mod: Any = importlib.import_module(f"stdnum.{self.module}")
        return mod.is_valid  # type: ignore[no-any-return]


def _s(
    module: str, label: str, lengths: int | tuple[int, ...], shape: str, raw: str | None = None
) -> Scheme:
    return Scheme(module, label, lengths if isinstance(lengths, tuple) else (lengths,), shape, raw)


SCHEMES = (
    _s("us.ssn", "US social security numbers", 9, r"^\d{9}$", raw=r"^\d{3}-\d{2}-\d{4}$"),
    _s("us.itin", "US taxpayer numbers (ITIN)", 9, r"^9\d{8}$", raw=r"^9\d{2}-\d{2}-\d{4}$"),
    Scheme("", "UK National Insurance numbers", (9,), r"^[A-Z]{2}\d{6}[A-D]$", check=is_nino),
    _s("gb.nhs", "NHS numbers", 10, r"^\d{10}$"),
    _s("de.idnr", "German tax IDs (Steuer-ID)", 11, r"^[1-9]\d{10}$"),
    _s("fr.nir", "French social security numbers (NIR)", 15, r"^[12]\d{4}[0-9AB]\d{9}$"),
    _s("nl.bsn", "Dutch citizen service numbers (BSN)", (8, 9), r"^\d{8,9}$"),
    _s("es.dni", "Spanish DNI numbers", 9, r"^\d{8}[A-Z]$"),
    _s("es.nie", "Spanish NIE numbers", 9, r"^[XYZ]\d{7}[A-Z]$"),
    _s(
        "it.codicefiscale",
        "Italian fiscal codes",
        16,
        r"^[A-Z]{6}[0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]$",
    ),
    _s(
        "se.personnummer",
        "Swedish personal identity numbers",
        (10, 11, 12),
        r"^(\d{2})?\d{6}[+]?\d{4}$",
    ),
    _s("dk.cpr", "Danish CPR numbers", 10, r"^\d{10}$", raw=r"^\d{6}-\d{4}$"),
    _s("no.fodselsnummer", "Norwegian national identity numbers", 11, r"^\d{11}$"),
    _s("fi.hetu", "Finnish personal identity codes", (10, 11), r"^\d{6}[+A-FU-Y]?\d{3}[0-9A-Y]$"),
    _s("pl.pesel", "Polish PESEL numbers", 11, r"^\d{11}$"),
    _s("be.nn", "Belgian national numbers", 11, r"^\d{11}$"),
    _s("at.vnr", "Austrian social insurance numbers", 10, r"^\d{10}$"),
    _s("ch.ssn", "Swiss social security numbers (AHV)", 13, r"^756\d{10}$"),
    _s("ie.pps", "Irish PPS numbers", (8, 9), r"^\d{7}[A-W][ABWTXZ]?$"),
    _s("pt.cc", "Portuguese citizen card numbers", 12, r"^\d{9}[A-Z][A-Z0-9]\d$"),
    _s("ca.sin", "Canadian social insurance numbers", 9, r"^\d{9}$"),
    _s("br.cpf", "Brazilian CPF numbers", 11, r"^\d{11}$"),
    _s("in_.aadhaar", "Indian Aadhaar numbers", 12, r"^[2-9]\d{11}$"),
    _s("za.idnr", "South African ID numbers", 13, r"^\d{13}$"),
    _s("mx.curp", "Mexican CURP codes", 18, r"^[A-Z]{4}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d$"),
    _s("cn.ric", "Chinese resident identity card numbers", 18, r"^\d{17}[0-9X]$"),
    _s("ro.cnp", "Romanian personal numerical codes (CNP)", 13, r"^[1-9]\d{12}$"),
    _s("cz.rc", "Czech and Slovak birth numbers", (9, 10), r"^\d{9,10}$"),
    _s("bg.egn", "Bulgarian personal numbers (EGN)", 10, r"^\d{10}$"),
    _s("ee.ik", "Estonian personal codes", 11, r"^[1-6]\d{10}$"),
    _s("lt.asmens", "Lithuanian personal codes", 11, r"^[1-6]\d{10}$"),
    _s("kr.rrn", "South Korean resident registration numbers", 13, r"^\d{13}$"),
    _s("tr.tckimlik", "Turkish identity numbers", 11, r"^[1-9]\d{10}$"),
)
_BY_LENGTH: dict[int, tuple[Scheme, ...]] = {
    n: tuple(s for s in SCHEMES if n in s.lengths) for n in {n for s in SCHEMES for n in s.lengths}
}
#: A scheme whose count is below this share of the sample is coincidence, not evidence.
_SCHEME_FLOOR = 0.2
_ID_SHAPE = r"^[A-Z0-9]{6,20}$"
_DIGIT = re.compile(r"\d")


class NationalId(Recogniser):
    """National identity, social security and tax numbers of many countries, each
    checked by its python-stdnum module (check digits, embedded dates, ranges). The
    best-matching scheme names the finding. US SSNs count alone only when written
    NNN-NN-NNNN (any nine digits pass the SSN rules); under a name that says national
    or tax number, any identifier of 6-20 letters and digits counts as weak evidence."""

    name = "national_id"
    label = "national identifier"
    description = "national identity, social security and tax numbers (python-stdnum)"
    kinds = frozenset({TEXT, INTEGER})
    names = NamePatterns(
        r"ssn|social security( number| no| nr)?|social insurance( number| no)?|sin|nino",
        r"national (insurance|id|identity|identification|registration|number)( number| no| code)?",
        r"ni (number|no)|nhs( number| no)?|tax ?(id|identification|number|code)( number| no)?",
        r"tin|taxpayer (id|number)|steuer ?(id|idnr|identifikationsnummer)|idnr",
        r"steueridentifikationsnummer|sozialversicherungsnummer|svnr|rvnr|versicherungsnummer",
        r"personal ?(id|number|code|identity number)|personnummer|personal identity number",
        r"bsn|burgerservicenummer|sofinummer|sofi|nir|insee|numero (de )?securite sociale",
        r"secu|numero secu|dni|nie|nif|cpr|cpr ?nr|codice fiscale|codicefiscale|fiscal code",
        r"pesel|hetu|henkilotunnus|fodselsnummer|personnr|ahv|avs|pps|cpf|aadhaar|curp|rrn",
        r"passport( number| no| nr)?|passnummer|reisepass(nummer)?|id ?card( number| no)?",
        r"identity ?card( number)?|personalausweis(nummer)?|ausweis(nummer)?|national ?id",
        r"citizen (id|number)|identity number|carte (d )?identite|documento( identidad)?",
        r"numero (de )?documento|dni ?nie|nif ?nie|cedula|kennitala|isikukood|asmens kodas",
        r"rodne cislo|egn|cnp|tckn|tc kimlik|emso|amka|national identifier|id number",
    )
    strength = 0.93
    named_strength = 0.75

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        n = sample.total
        gate = 0
        if sample.numberish >= NUMBERISH:
            gate = sample.weight(sample.match(r"^[A-Z0-9+]{8,18}$", compact=True))
        strong, label = _schemes(sample, named) if gate >= _SCHEME_FLOOR * n else (Tally(0), "")
        what = f"are valid {label or 'national identifiers'}"
        if not named or sample.numberish < NUMBERISH:
            return Evidence(strong, what)
        shaped = pc.and_(
            sample.match(_ID_SHAPE, compact=True), sample.match(r"[0-9]{4}", compact=True)
        )
        weak = Tally(max(sample.weight(shaped), strong.matched))
        return Evidence(strong, what, weak, "are identifier-shaped codes")


def _schemes(sample: Sample, named: bool) -> tuple[Tally, str]:
    """Values valid under some country's scheme (the first that accepts each, in the
    order of SCHEMES), and the label of the scheme most of them follow. Schemes that
    account for less than a fifth of the checked values are coincidence and dropped."""
    hits: Counter[Scheme] = Counter()
    checked = rest = validated = 0
    for compact, raw, weight in zip(
        sample.compact_values, sample.values, sample.weights, strict=True
    ):
        candidates = [s for s in _BY_LENGTH.get(len(compact), ()) if s.shape_re.match(compact)]
        if not candidates:
            continue
        if validated >= CAP or (validated >= PROBE and not hits):
            rest += weight
            continue
        validated += 1
        checked += weight
        for scheme in candidates:
            if not named and scheme.raw_re is not None and not scheme.raw_re.match(raw):
                continue
            if safe(scheme.validator, raw):
                hits[scheme] += weight
                break
    kept = {s: c for s, c in hits.items() if c >= _SCHEME_FLOOR * checked}
    matched = sum(kept.values())
    if not matched:
        return Tally(0), ""
    best, count = max(kept.items(), key=lambda kv: kv[1])
    label = best.label if count >= 0.9 * matched else "national identifiers"
    if rest:
        return Tally(matched + round(rest * matched / checked), estimated=True), label
    return Tally(matched), label


# ----------------------------------------------------------------------- customer ids

_PERSON_NOUNS = (
    r"customer|customers|cust|client|clients|kunde|kunden|klant|cliente|member|mitglied|"
    r"user|usr|subscriber|patient|employee|emp|staff|student|person|party|"
    r"contact|borrower|debtor|holder|guest|passenger|policyholder|insured|beneficiary|"
    r"buyer|consumer|shopper|applicant|citizen|donor|tenant|lead|prospect|visitor|player|"
    r"socio|usuario|utilisateur|utente|abonne|lid|versicherte|mitarbeiter|adherent"
)
_ID_WORDS = r"id|ids|no|nr|num|number|key|ref|reference|code|nummer|identifier|uid|guid|uuid"


class CustomerId(Recogniser):
    """Identifiers of customers, accounts, users, members, patients, employees. Codes
    look like every other key (``order_id``, ``sku``), so this recogniser is led by
    the name: a name that says whose identifier it is, plus values that are
    identifier-shaped (no spaces, letters, digits and ``-_./:#``, at most 64
    characters) with enough distinct values to be keys, reach HIGH; highly distinct
    values (nine in ten) a little more."""

    name = "customer_id"
    label = "customer identifier"
    description = "customer, account, user and member identifiers (named so, key-shaped)"
    kinds = frozenset({TEXT, INTEGER})
    names = NamePatterns(
        rf"({_PERSON_NOUNS}) ?({_ID_WORDS})",
        rf"(id|num|numero|no|nr|code|codice|identifiant|ref|cod) (de |del |du )?({_PERSON_NOUNS})",
        r"(account|acct) ?(id|ids|key|ref|reference|code|identifier|uid|guid|uuid)",
        r"kundennummer|kundennr|kundenid|kdnr|kd nr|klantnummer|klantnr|mitgliedsnummer",
        r"lidnummer|userid|username|user name|login|login name|customerid|clientid|memberid",
        r"accountid|custid|cust no|personalnummer|matrikelnummer|versichertennummer|cif",
        r"patientennummer|mrn|medical record number|loyalty (number|no|card number)",
    )
    named_strength = 0.88

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        if not named:
            return Evidence(Tally(0), "are identifiers")
        if sample.kind == INTEGER:
            shaped = pc.invert(sample.match(r"^-"))
        else:
            shaped = sample.match(r"^[A-Za-z0-9][A-Za-z0-9_\-./:#]{0,63}$")
        count = sample.weight(shaped)
        distinct = sum(1 for ok in shaped.to_pylist() if ok)
        enough = distinct >= min(count, 5) and (count < 100 or distinct >= 20)
        if not enough:
            count = 0
        detail = f"; {distinct} distinct" if count else ""
        # a key repeated in a fact table is still one, but a unique one is surer
        strength = self.named_strength if count and distinct >= 0.9 * count else HIGH
        return Evidence(
            Tally(0),
            "are identifiers",
            Tally(count),
            "are identifier-shaped codes",
            detail,
            weak_strength=strength,
        )


# ----------------------------------------------------------------------- birth dates

_DATE_FORMATS = (
    ("%Y-%m-%d", r"^\d{4}-\d{1,2}-\d{1,2}$"),
    ("%Y/%m/%d", r"^\d{4}/\d{1,2}/\d{1,2}$"),
    ("%d.%m.%Y", r"^\d{1,2}\.\d{1,2}\.\d{4}$"),
    ("%d/%m/%Y", r"^\d{1,2}/\d{1,2}/\d{4}$"),
    ("%m/%d/%Y", r"^\d{1,2}/\d{1,2}/\d{4}$"),
    ("%d-%m-%Y", r"^\d{1,2}-\d{1,2}-\d{4}$"),
    ("%Y%m%d", r"^\d{8}$"),
    ("%d %B %Y", r"^\d{1,2} [A-Za-z]{3,9} \d{4}$"),
    ("%B %d, %Y", r"^[A-Za-z]{3,9} \d{1,2}, \d{4}$"),
)
#: a date with a time (ISO 8601, any zone): its first ten characters are the date
_DATE_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
#: any of the written forms above, checked once before trying each
_DATE_LIKE = (
    r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}([T ]\d{2}:\d{2}.*)?$|^\d{8}$"
    r"|^\d{1,2} [A-Za-z]{3,9} \d{4}$|^[A-Za-z]{3,9} \d{1,2}, \d{4}$"
)
MAX_AGE = 120


def birth_range(today: date | None = None) -> tuple[date, date]:
    today = today or date.today()
    try:
        oldest = today.replace(year=today.year - MAX_AGE)
    except ValueError:  # 29 February
        oldest = today.replace(year=today.year - MAX_AGE, day=28)
    return oldest, today


class DateOfBirth(Recogniser):
    """Dates a living person could be born on (age 0-120, none in the future) under a
    name that says birth. Without such a name, dates are birth dates only when nearly
    all lie 16 to 100 years back and spread over decades, as a table of adults' birth
    dates does and order, signup or shipping dates do not; that stays below HIGH."""

    name = "date_of_birth"
    label = "date of birth"
    description = "dates of birth (named so; plausible for a living person)"
    kinds = frozenset({TEXT, INTEGER, TEMPORAL})
    names = NamePatterns(
        r"dob|d o b|birth|birthday|birthdate|birth ?date|date of birth|born|born on",
        r"date (de |of )?naissance|naissance|geburtsdatum|geburtstag|geb ?datum|gebdat|geb dat",
        r"fecha (de )?nacimiento|nacimiento|data (di )?nascita|nascita|geboortedatum",
        r"geboorte ?datum|fodselsdato|fodelsedatum|syntymaaika|data (de )?nascimento",
        r"dateofbirth|birth ?dt|bday",
    )
    not_names = NamePatterns(
        r"(place|country|city|town|name|certificate|order|weight|rank) (of )?birth|"
        r"birth ?(place|country|city|town|name|certificate|order|weight|rank)|"
        r"geburtsort|geburtsland|geburtsname|lieu (de )?naissance|lugar (de )?nacimiento|"
        r"luogo (di )?nascita|geboorteplaats"
    )
    strength = 0.6
    named_strength = 0.9

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        what = "are plausible birth dates (age 0-120)"
        days, weights = _dates(sample)
        if days is None:
            return Evidence(Tally(0), what)
        oldest, today = birth_range()
        plausible = _weight(_between(days, oldest, today), weights)
        young, old = _years_before(today, ADULT[0]), _years_before(today, ADULT[1])
        adult_mask = _between(days, old, young)
        adult = _weight(adult_mask, weights)
        spread = _spread_years(days.filter(adult_mask))
        if spread < MIN_SPREAD_YEARS:
            adult = 0
        adults = f"are dates {ADULT[0]}-{ADULT[1]} years back, spread over {spread} years"
        if not named:
            return Evidence(Tally(adult), adults)
        return Evidence(Tally(adult), adults, Tally(plausible), what)


ADULT = (16, 100)  #: ages of the people in a table of adults, for dates without a name
MIN_SPREAD_YEARS = 25  #: the middle 80% of birth dates of adults span decades


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _between(days: pa.Array, low: date, high: date) -> pa.Array:
    inside = pc.and_kleene(
        pc.greater_equal(days, pa.scalar(low, pa.date32())),
        pc.less_equal(days, pa.scalar(high, pa.date32())),
    )
    return pc.fill_null(inside, False)


def _weight(mask: pa.Array, weights: pa.Array | None) -> int:
    if weights is None:
        return int(pc.sum(mask).as_py() or 0)
    return int(pc.sum(pc.filter(weights, mask)).as_py() or 0)


def _spread_years(days: pa.Array) -> int:
    """Years between the 10th and the 90th percentile of the distinct dates."""
    distinct = pc.unique(days)
    if len(distinct) < 20:
        return 0
    q = pc.quantile(distinct.cast(pa.int32()), q=[0.1, 0.9]).to_pylist()
    return int((q[1] - q[0]) / 365.25)


def _dates(sample: Sample) -> tuple[pa.Array | None, pa.Array | None]:
    """The sampled values as days (with their weights), or None if none is a date."""
    if sample.kind == TEMPORAL:
        return sample.days, None
    if sample.weight(sample.match(_DATE_LIKE)) < FLOOR * sample.total:
        return None, None
    parsed: pa.Array | None = None
    values = sample.distinct
    if sample.kind == TEXT and pc.any(sample.match(_DATE_TIME)).as_py():
        head = pc.utf8_slice_codeunits(values, 0, 10)
        values = pc.if_else(sample.match(_DATE_TIME), head, values)
    for fmt, shape in _DATE_FORMATS if sample.kind == TEXT else _DATE_FORMATS[6:7]:
        shaped = pc.match_substring_regex(values, shape)
        if not pc.any(shaped).as_py():
            continue
        stamps = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
        days = pc.if_else(shaped, stamps.cast(pa.date32()), pa.scalar(None, pa.date32()))
        parsed = days if parsed is None else pc.coalesce(parsed, days)
    return parsed, sample.counts
