"""Recognisers for what identifies a person: national numbers, customer and account
identifiers, dates of birth."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakemesh.classify.evidence import HIGH, Evidence, Recogniser
from lakemesh.classify.naming import NamePatterns
from lakemesh.classify.sample import INTEGER, TEMPORAL, TEXT, Sample, Tally, safe

# ----------------------------------------------------------------------- national ids

#: The UK National Insurance number has no check digit; this is its allocation format
#: (HMRC NIM39110): no D, F, I, Q, U, V; no O second; some prefixes never issued.
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def is_nino(value: str) -> bool:
    return bool(_NINO.match(re.sub(r"\s+", "", value).upper()))


@dataclass(frozen=True)
class Scheme:
    """One country's personal number: its compact shape (RE2) and its validator."""

    module: str  #: python-stdnum module, or "" for ``check``
    label: str
    shape: str
    raw: str | None = None  #: a written form required for the value to count alone
    check: Callable[[str], bool] | None = None

    def validator(self) -> Callable[[str], bool]:
        if self.check is not None:
            return self.check
        return _stdnum(self.module)


@cache
def _stdnum(module: str) -> Callable[[str], bool]:
    mod: Any = importlib.import_module(f"stdnum.{module}")
    return mod.is_valid  # type: ignore[no-any-return]


SCHEMES = (
    Scheme("us.ssn", "US social security numbers", r"^\d{9}$", raw=r"^\d{3}-\d{2}-\d{4}$"),
    Scheme("us.itin", "US taxpayer numbers (ITIN)", r"^9\d{8}$", raw=r"^9\d{2}-\d{2}-\d{4}$"),
    Scheme("", "UK National Insurance numbers", r"^[A-Z]{2}\d{6}[A-D]$", check=is_nino),
    Scheme("gb.nhs", "NHS numbers", r"^\d{10}$"),
    Scheme("de.idnr", "German tax IDs (Steuer-ID)", r"^[1-9]\d{10}$"),
    Scheme("fr.nir", "French social security numbers (NIR)", r"^[12]\d{4}[0-9AB]\d{9}$"),
    Scheme("nl.bsn", "Dutch citizen service numbers (BSN)", r"^\d{8,9}$"),
    Scheme("es.dni", "Spanish DNI numbers", r"^\d{8}[A-Z]$"),
    Scheme("es.nie", "Spanish NIE numbers", r"^[XYZ]\d{7}[A-Z]$"),
    Scheme(
        "it.codicefiscale",
        "Italian fiscal codes",
        r"^[A-Z]{6}[0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]$",
    ),
    Scheme("se.personnummer", "Swedish personal identity numbers", r"^(\d{2})?\d{6}[+]?\d{4}$"),
    Scheme("dk.cpr", "Danish CPR numbers", r"^\d{10}$", raw=r"^\d{6}-\d{4}$"),
    Scheme("no.fodselsnummer", "Norwegian national identity numbers", r"^\d{11}$"),
    Scheme("fi.hetu", "Finnish personal identity codes", r"^\d{6}[+A-FU-Y]\d{3}[0-9A-Y]$"),
    Scheme("pl.pesel", "Polish PESEL numbers", r"^\d{11}$"),
    Scheme("be.nn", "Belgian national numbers", r"^\d{11}$"),
    Scheme("at.vnr", "Austrian social insurance numbers", r"^\d{10}$"),
    Scheme("ch.ssn", "Swiss social security numbers (AHV)", r"^756\d{10}$"),
    Scheme("ie.pps", "Irish PPS numbers", r"^\d{7}[A-W][ABWTXZ]?$"),
    Scheme("pt.cc", "Portuguese citizen card numbers", r"^\d{9}[A-Z][A-Z0-9]\d$"),
    Scheme("ca.sin", "Canadian social insurance numbers", r"^\d{9}$"),
    Scheme("br.cpf", "Brazilian CPF numbers", r"^\d{11}$"),
    Scheme("in_.aadhaar", "Indian Aadhaar numbers", r"^[2-9]\d{11}$"),
    Scheme("za.idnr", "South African ID numbers", r"^\d{13}$"),
    Scheme("mx.curp", "Mexican CURP codes", r"^[A-Z]{4}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d$"),
    Scheme("cn.ric", "Chinese resident identity card numbers", r"^\d{17}[0-9X]$"),
    Scheme("ro.cnp", "Romanian personal numerical codes (CNP)", r"^[1-9]\d{12}$"),
    Scheme("cz.rc", "Czech and Slovak birth numbers", r"^\d{9,10}$"),
    Scheme("bg.egn", "Bulgarian personal numbers (EGN)", r"^\d{10}$"),
    Scheme("ee.ik", "Estonian personal codes", r"^[1-6]\d{10}$"),
    Scheme("lt.asmens", "Lithuanian personal codes", r"^[1-6]\d{10}$"),
    Scheme("kr.rrn", "South Korean resident registration numbers", r"^\d{13}$"),
    Scheme("tr.tckimlik", "Turkish identity numbers", r"^[1-9]\d{10}$"),
)
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
        best: tuple[int, str] = (0, "national identifiers")
        union: set[int] = set()
        gate = sample.weight(sample.match(r"^[A-Z0-9+]{8,18}$", compact=True)) >= _SCHEME_FLOOR * n
        for scheme in SCHEMES if gate else ():
            shaped = sample.match(scheme.shape, compact=True)
            if sample.weight(shaped) < _SCHEME_FLOOR * n:
                continue
            where = shaped
            if scheme.raw is not None and not named:  # bare digits count under a name
                where = pc.and_(shaped, sample.match(scheme.raw))
            check = scheme.validator()
            hits = _hits(sample, check, where)
            count = sum(sample.weights[i] for i in hits)
            if count < _SCHEME_FLOOR * n:
                continue
            union.update(hits)
            if count > best[0]:
                best = (count, scheme.label)
        strong = Tally(sum(sample.weights[i] for i in union))
        label = best[1] if best[0] >= 0.9 * strong.matched else "national identifiers"
        what = f"are valid {label}"
        if not named:
            return Evidence(strong, what)
        shaped = pc.and_(sample.match(_ID_SHAPE, compact=True), _has_digit(sample))
        weak = Tally(max(sample.weight(shaped), strong.matched))
        return Evidence(strong, what, weak, "are identifier-shaped codes")


def _has_digit(sample: Sample) -> pa.Array:
    return sample.match(r"[0-9]{4}", compact=True)


def _hits(
    sample: Sample, check: Callable[[str], bool], where: pa.Array, cap: int = 200
) -> list[int]:
    """Indexes of distinct values (checked on their written form) that ``check``
    accepts: at most ``cap`` candidates, giving up after 25 without a hit."""
    out: list[int] = []
    seen = 0
    for i, ok in enumerate(where.to_pylist()):
        if not ok:
            continue
        if seen >= cap or (seen >= 25 and not out):
            break
        seen += 1
        if safe(check, sample.values[i]):
            out.append(i)
    return out


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
