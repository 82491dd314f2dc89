"""Recognisers for what identifies a person: national numbers, customer and account
identifiers, dates of birth."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
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
    Scheme("dk.cpr", "Danish CPR numbers", r"^\d{10}$"),
    Scheme("no.fodselsnummer", "Norwegian national identity numbers", r"^\d{11}$"),
    Scheme("fi.hetu", "Finnish personal identity codes", r"^\d{6}[+A-FU-Y]\d{3}[0-9A-Y]$"),
    Scheme("pl.pesel", "Polish PESEL numbers", r"^\d{11}$"),
    Scheme("be.nn", "Belgian national numbers", r"^\d{11}$"),
    Scheme("at.vnr", "Austrian social insurance numbers", r"^\d{10}$"),
    Scheme("ch.ssn", "Swiss social security numbers (AHV)", r"^756\d{10}$"),
    Scheme("ie.pps", "Irish PPS numbers", r"^\d{7}[A-W][ABWTXZ]?$"),
    Scheme("pt.cc", "Portuguese citizen card numbers", r"^\d{9}[A-Z0-9]{2}\d$"),
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
            if scheme.raw is not None:
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
            shaped = sample.match(r"^[A-Za-z0-9][A-Za-z0-9_\-./:#@+]{0,63}$")
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
    ("%Y-%m-%dT%H:%M:%S", r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"),
    ("%Y-%m-%d %H:%M:%S", r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
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
    name that says birth. Order dates and birth dates look alike, so the name leads."""

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
    named_strength = 0.9

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        what = "are plausible birth dates (age 0-120)"
        if not named:
            return Evidence(Tally(0), what)
        oldest, today = birth_range()
        if sample.kind == TEMPORAL:
            days = sample.days
            assert days is not None
            ok = pc.and_(
                pc.greater_equal(days, pa.scalar(oldest, pa.date32())),
                pc.less_equal(days, pa.scalar(today, pa.date32())),
            )
            return Evidence(Tally(0), what, Tally(int(pc.sum(ok).as_py() or 0)), what)
        plausible = pa.array([False] * sample.distinct_count)
        low = pa.scalar(datetime(oldest.year, oldest.month, oldest.day), pa.timestamp("s"))
        high = pa.scalar(datetime(today.year, today.month, today.day), pa.timestamp("s"))
        for fmt, shape in _DATE_FORMATS:
            shaped = sample.match(shape)
            if not pc.any(shaped).as_py():
                continue
            parsed = pc.strptime(sample.distinct, format=fmt, unit="s", error_is_null=True)
            inside = pc.and_kleene(
                shaped, pc.and_kleene(pc.greater_equal(parsed, low), pc.less_equal(parsed, high))
            )
            plausible = pc.or_(plausible, pc.fill_null(inside, False))
        return Evidence(Tally(0), what, Tally(sample.weight(plausible)), what)
