"""Recognisers for ways to reach a person: e-mail, phone, IP and postal addresses."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Sequence

import phonenumbers
import pyarrow as pa

from lakemesh.classify.evidence import Evidence, Recogniser
from lakemesh.classify.naming import NamePatterns
from lakemesh.classify.sample import INTEGER, TEXT, Sample, Tally

_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
#: RFC 5322's dot-atom local part, a domain of labels and a top-level domain of letters
EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    rf"@(?:{_LABEL}\.)+[^\W\d_]{{2,24}}"
)


_DISPLAY = re.compile(r"^[^<>@]*<([^<>]+)>$")


def is_email(value: str) -> bool:
    """An address, alone or with a display name ("Ann Lee <ann@example.org>")."""
    display = _DISPLAY.match(value)
    return EMAIL.fullmatch(display.group(1) if display else value) is not None


class Email(Recogniser):
    name = "email"
    label = "e-mail"
    description = "e-mail addresses (local part @ domain with a top-level domain)"
    kinds = frozenset({TEXT})
    names = NamePatterns(
        r"e ?mail(s| address| adresse| addr)?",
        r"(e ?)?mail ?(address|adresse|adres|addr)",
        r"emailadresse|mailadresse|courriel|correo( electronico)?|e ?post|epost",
        r"posta elettronica|adresse (e ?)?mail|mail",
    )
    strength = 0.95

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        at = sample.contains("@")
        return Evidence(sample.tally(is_email, at), "are e-mail addresses")


# ------------------------------------------------------------------------------ phone

#: Regions tried for numbers written without a country code, most likely first; the
#: column's own values pick the few that fit (a column is rarely of many countries).
_CAP = 50  #: parsing is the slowest check there is: fewer candidates, extrapolated
REGIONS = (
    "US", "GB", "DE", "FR", "NL", "ES", "IT", "BE", "AT", "CH", "IE", "PT", "SE", "DK",
    "NO", "FI", "PL", "AU", "IN", "BR", "MX", "JP", "ZA", "TR",
)  # fmt: skip
_PHONE_CHARS = r"^[+(0-9][0-9 ()./-]{5,24}(\s*(ext\.?|x|#)\s*[0-9]{1,6})?$"
_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*\d{1,6}$")
#: How people write phone numbers: with a country code, with the trunk 0 and
#: separators, or North American 3-3-4 groups. Bare digits are anything's digits.
_WRITTEN = re.compile(
    r"^(?:\+|00)[1-9][0-9 ()./-]{5,22}$"
    r"|^(?:\(0[1-9][0-9]{0,4}\)|0[1-9][0-9]{0,4}[ ./-])[ ]?[0-9][0-9 ./-]{3,14}$"
    r"|^(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}$"
)
_DATE_LIKE = re.compile(r"^\d{1,4}([./-])\d{1,2}\1\d{1,4}$")
#: digits after a trunk 0 (07407 320169 without its space): likely a phone, not surely
_TRUNK = re.compile(r"^0[1-9][0-9]{7,11}$")
_TRUNK_STRENGTH = 0.65
_NOT_DIGITS = str.maketrans("", "", "0123456789")


def _digits(value: str) -> int:
    return len(value) - len(value.translate(_NOT_DIGITS))


class Phone(Recogniser):
    """Numbers phonenumbers holds valid. Written with a country code, with the trunk
    prefix and separators, or in North American groups, they are phone numbers by
    themselves; bare digits (and integer columns) count only when the name says
    phone: order numbers are valid numbers somewhere, too."""

    name = "phone"
    label = "phone number"
    description = "phone numbers valid for their country (python-phonenumbers)"
    kinds = frozenset({TEXT, INTEGER})
    names = NamePatterns(
        r"(tele?)?phone( number| no| nr| num)?|tel|tel no|tel nr|telefon|telefono|telefoon",
        r"telephone|telefonnummer|telefoonnummer|handy|handynummer|mobil|mobile|mobiel",
        r"mobilnummer|mobile number|cell|cellphone|cell phone|cellulare|movil|portable",
        r"fax|gsm|msisdn|contact number|numero (de )?(telephone|telefono|telefone)",
        r"phonenumber|mobilephone|homephone|workphone|telnr|tel ?nr",
    )
    strength = 0.88
    named_strength = 0.85

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        what = "are valid phone numbers written with a country code or separators"
        values = sample.values
        if sample.kind == INTEGER:
            written = trunk = [False] * len(values)
            plausible = [7 <= len(v) <= 15 and v[0] != "-" for v in values]
        else:
            gate = sample.match(_PHONE_CHARS).to_pylist()
            plausible = [
                ok and 7 <= _digits(v) <= 15 and not _DATE_LIKE.match(v)
                for ok, v in zip(gate, values, strict=True)
            ]
            written = [
                ok and bool(_WRITTEN.match(_EXTENSION.sub("", v)))
                for ok, v in zip(plausible, values, strict=True)
            ]
            trunk = [bool(_TRUNK.match(v)) for v in values]
        candidates = [
            p if named else w or t for p, w, t in zip(plausible, written, trunk, strict=True)
        ]
        if not any(candidates):
            return Evidence(Tally(0), what)
        bare = sample.kind == INTEGER
        regions = _regions([v for v, ok in zip(values, candidates, strict=True) if ok], bare=bare)
        seen: dict[str, bool] = {}

        def valid(value: str) -> bool:
            if value not in seen:
                seen[value] = valid_phone(value, regions, bare=bare)
            return seen[value]

        weak = sample.tally(valid, pa.array(plausible), cap=_CAP) if named else None
        strong = sample.tally(valid, pa.array(written), cap=_CAP)
        national = sample.tally(valid, pa.array(trunk), cap=_CAP) if any(trunk) else Tally(0)
        strength = None
        if national.matched > strong.matched:  # digits alone, only the trunk 0 says phone
            what = "are valid phone numbers in national form (trunk 0, no separators)"
            strength = _TRUNK_STRENGTH
        both = Tally(strong.matched + national.matched, strong.estimated or national.estimated)
        if weak is None:
            return Evidence(both, what, strong_strength=strength)
        return Evidence(both, what, weak, "are valid phone numbers", strong_strength=strength)


def _parse(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None


def valid_phone(value: str, regions: Sequence[str], *, bare: bool = False) -> bool:
    value = value.strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    if value.startswith("+"):
        number = _parse(value, None)
        return number is not None and phonenumbers.is_valid_number(number)
    tries = [value, "0" + value] if bare else [value]
    for text in tries:
        for region in regions:
            number = _parse(text, region)
            if number is not None and phonenumbers.is_valid_number(number):
                return True
    return False


def _regions(values: Sequence[str], *, bare: bool, probe: int = 6) -> list[str]:
    """The regions in which the first few national-format candidates are valid, best
    first (at most three), so the rest are parsed a few times, not two dozen: the
    first value is tried in every region, the next ones only where it was valid."""
    hits: Counter[str] = Counter()
    regions: Sequence[str] = REGIONS
    for text in [v for v in values if not v.startswith(("+", "00"))][:probe]:
        valid = [r for r in regions if valid_phone(text, (r,), bare=bare)]
        hits.update(valid)
        if valid:
            regions = [r for r in REGIONS if r in hits]
    return [r for r, _ in hits.most_common(3)]


# ------------------------------------------------------------------------------ IP

_IP_CHARS = r"^[0-9A-Fa-f]{0,4}[.:][0-9A-Fa-f:.]{2,44}(%[0-9A-Za-z]+)?$"


class IpAddress(Recogniser):
    name = "ip_address"
    label = "IP address"
    description = "IPv4 and IPv6 addresses (Python's ipaddress)"
    kinds = frozenset({TEXT})
    names = NamePatterns(
        r"ip|ip ?(address|addr|adresse|adres|v4|v6)|ipv4|ipv6|ipaddress|ipaddr",
        r"(client|remote|source|src|dst|destination|host|server|peer|user|login) ip",
        r"remote addr|x forwarded for",
    )
    #: dotted numbers under these names are versions, not addresses
    not_names = NamePatterns(r"versions?|ver|build|release|revision|rev|firmware")
    strength = 0.93

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        cand = sample.match(_IP_CHARS)
        return Evidence(sample.tally(_ip, cand), "are IP addresses")


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------ postal

_STREET_WORDS = [
    "street",
    "st",
    "str",
    "road",
    "rd",
    "avenue",
    "ave",
    "av",
    "avda",
    "avenida",
    "boulevard",
    "blvd",
    "bd",
    "bvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "court",
    "ct",
    "place",
    "pl",
    "plaza",
    "square",
    "sq",
    "way",
    "terrace",
    "ter",
    "crescent",
    "cres",
    "close",
    "grove",
    "gardens",
    "highway",
    "hwy",
    "parkway",
    "pkwy",
    "circle",
    "cir",
    "row",
    "mews",
    "walk",
    "hill",
    "rise",
    "green",
    "strasse",
    "str",
    "allee",
    "platz",
    "gasse",
    "weg",
    "ring",
    "damm",
    "chaussee",
    "ufer",
    "steig",
    "markt",
    "straat",
    "laan",
    "plein",
    "gracht",
    "kade",
    "singel",
    "dijk",
    "steeg",
    "rue",
    "chemin",
    "allee",
    "impasse",
    "quai",
    "route",
    "cours",
    "faubourg",
    "calle",
    "c",
    "paseo",
    "camino",
    "carrera",
    "ronda",
    "travesia",
    "carretera",
    "via",
    "viale",
    "piazza",
    "corso",
    "vicolo",
    "largo",
    "strada",
    "piazzale",
    "rua",
    "travessa",
    "praca",
    "estrada",
]
_STREET = "|".join(sorted(set(_STREET_WORDS), key=len, reverse=True))
#: German and Dutch write the street word into the name: Hauptstraße, Kerkstraat.
_SUFFIX = (
    r"\w+(?:stra(?:ss|ß)e|str\.|weg|allee|platz|gasse|ring|damm"
    r"|straat|laan|plein|gracht|kade|singel|dijk)"
)
_NUMBER = r"\d{1,5}(?:\s?[a-zA-Z])?(?:[-/]\d{1,5}[a-zA-Z]?)?"
_UNIT = r"(?:(?:apt|apartment|flat|unit|suite|ste|app|bte|piso|top|no)\.?\s*[\w-]+,?\s+)?"
_WORD = r"[^\W\d_][\w'’.\-]*"
_STREET_LINE = re.compile(
    rf"^{_UNIT}(?:"
    # 12 Main Street, 5 rue de Rivoli, 1600 Pennsylvania Avenue NW
    rf"{_NUMBER},?\s+(?:{_WORD}\s+){{0,4}}?(?:{_STREET})\b\.?"
    rf"|{_NUMBER},?\s+(?:{_STREET})\b\.?(?:\s+{_WORD}){{1,5}}"
    # Hauptstraße 12, Calle Mayor 12, Via Roma 15, Avenida de la Paz 3
    rf"|(?:{_WORD}\s+){{0,3}}{_SUFFIX}\.?,?\s+{_NUMBER}\b"
    # Am Markt 3, Berliner Allee 5
    rf"|(?:{_WORD}\s+){{1,3}}(?:{_STREET})\b\.?,?\s+{_NUMBER}\b"
    # Calle Mayor 12, Via Roma, 15, C/ Real 4, Avenida de la Paz 3
    rf"|(?:{_STREET})\b[./]?\s*(?:{_WORD}\s+){{0,5}}?{_WORD},?\s+{_NUMBER}\b"
    rf")(?:[\s,].*)?$",
    re.IGNORECASE,
)
#: a part of an address line: words and a number, spaced, not an e-mail or a link
_ADDRESS_PART = re.compile(r"^(?!.*(?:@|://))(?=.*\d)(?=.*[^\W\d_]{2}).*\s")


class PostalAddress(Recogniser):
    """Street lines (house number and a street word in one of several languages), alone
    or followed by postcode and city. With a matching name, any line with a number and
    words counts as part of an address (``Apt 5``, ``PO Box 12``)."""

    name = "postal_address"
    label = "postal address"
    description = "street addresses in English, German, Dutch, French, Spanish, Italian"
    kinds = frozenset({TEXT})
    names = NamePatterns(
        r"(postal |mailing |billing |shipping |delivery |home |street |residential |"
        r"invoice |physical |correspondence )?(address|addr|adresse|adres)( line)?( ?[12])?",
        r"anschrift|strasse|street|street line|direccion|indirizzo|endereco|domicilio",
        r"residence|wohnort|wohnadresse|lieferadresse|rechnungsadresse|postanschrift|"
        r"hausanschrift|straat|rue|calle|via|woonadres|adresse postale|line ?1",
        r"\w+adresse|\w+anschrift",
    )
    not_names = NamePatterns(
        r"(ip|mac|e ?mail|email|web|url|wallet|btc|bitcoin|eth|crypto|server|host|memory"
        r"|hardware|network|contract|ipv4|ipv6) ?(address|addr|adresse|adres)(es)?",
        r"ipaddress|macaddress|emailaddress|emailadresse|ipadresse|macadresse|mailadresse",
    )
    strength = 0.84
    named_strength = 0.7

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        strong = sample.tally(lambda v: bool(_STREET_LINE.match(v)))
        weak = None
        if named:
            weak = sample.tally(lambda v: bool(_ADDRESS_PART.match(v)))
            weak = Tally(max(weak.matched, strong.matched), weak.estimated)
        return Evidence(
            strong, "are street addresses", weak, "hold a number and words, as address lines do"
        )
