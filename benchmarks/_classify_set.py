# ruff: noqa: E501  (tables of column kinds and place names: one per line reads best)
"""The classifier's labelled evaluation set: deterministic tables in seven locales.

Every table is generated from ``random.Random(seed)``; identifiers are valid because
python-stdnum and phonenumbers compute their check digits or confirm them. Each column
carries the recogniser it should be found by, or None for the innocents: codes, counts,
hashes, product data and text that look like sensitive data to a careless classifier
(``academic_year_code``, ``zip_count``, ``order_id``, ``iban_country``, ``phone_model``,
EANs with their own check digit, order dates, free-text notes with an odd e-mail in
them). Names come from lists written here, independently of the classifier's lexicon,
with uncommon and immigrant names on purpose (see ``lexicon_coverage``). Sensitive
columns sometimes get neutral or misleading names (``col_7``, ``notes``, ``kontakt``):
what the values are decides their label.
"""

from __future__ import annotations

import hashlib
import random
import string
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import phonenumbers
import pyarrow as pa
from stdnum import ean, iban, luhn
from stdnum.de import idnr
from stdnum.es import ccc, dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.us import ssn

ROWS = 200
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT")
REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "nl_NL": "NL"}
REGION |= {"es_ES": "ES", "it_IT": "IT"}


@dataclass(frozen=True)
class Column:
    name: str
    values: pa.Array
    label: str | None  #: the recogniser that should find it, None for an innocent
    description: str | None = None

    @property
    def type(self) -> str:
        return str(self.values.type)


@dataclass(frozen=True)
class Table:
    name: str
    locale: str
    columns: tuple[Column, ...]

    @property
    def arrow(self) -> pa.Table:
        return pa.table({c.name: c.values for c in self.columns})

    @property
    def spec(self) -> list[tuple[str, str, str | None]]:
        return [(c.name, c.type, c.description) for c in self.columns]


# ------------------------------------------------------------------------------ names

GIVEN = {
    "en_US": "James Mary Robert Patricia Tyrone Shaniqua DeShawn Jaxon Brayden Kinsley "
    "Madison Hunter Destiny Cody Brittany Dustin Crystal Travis Latoya Marcus Jennifer "
    "Michael Ashley Christopher Heather Kevin Amber Trevor Kayleigh Emily Raymond Gloria",
    "en_GB": "Oliver Amelia Harry Isla Alfie Poppy Callum Niamh Rhys Seren Gethin Aoife "
    "Hamish Morag Declan Siobhan Jack Charlotte George Olivia Priya Arjun Zainab Tariq "
    "Kieran Bethany Lewis Eilidh Craig Shona Dougal Imogen Rupert Tamsin",
    "de_DE": "Jannis Malte Henrike Wiebke Ole Bärbel Hinrich Lukas Leonie Jürgen Sabine "
    "Uwe Heike Dieter Gudrun Torben Svenja Hauke Frauke Kemal Ayşe Dragan Milena Björn "
    "Katrin Thorsten Ilka Reinhold Waltraud Lennart Finja Mattes",
    "fr_FR": "Gaëlle Yannick Maëlys Enguerrand Solène Anaïs Kylian Théo Chloé Mathis "
    "Léa Jean-Baptiste Marie-Claude Karim Yasmina Mamadou Aminata Gwenaël Maïwenn Loïc "
    "Clémence Baptiste Ségolène Aurélien Océane Florent Perrine Timothée Apolline Soizic",
    "nl_NL": "Sjoerd Hidde Jelle Femke Ilse Wietske Joukje Bauke Daan Sanne Bram Lotte "
    "Mohammed Fatima Rachid Naima Sven Anouk Gerrit Marjolein Tjeerd Hiske Rutger Ineke "
    "Wouter Floor Joost Mirte Pepijn Noortje",
    "es_ES": "Ainhoa Iñaki Nerea Itziar Aitor Ximena Alejandro Lucía Hugo Martina Jorge "
    "Pilar Ignacio Rocío Álvaro Begoña Xabier Montserrat Jordi Núria Unai Amaia "
    "Guillermo Inmaculada Fermín Consuelo Rubén Macarena Sergio Paloma",
    "it_IT": "Ottavio Gaia Nunzia Ciro Brunella Ettore Giulia Lorenzo Chiara Matteo "
    "Francesca Gennaro Assunta Salvatore Concetta Pasquale Ilaria Tommaso Vittoria "
    "Donatella Rocco Carmela Fabrizio Ornella Gianmarco Loredana Sabrina Ivano Alessio",
}
SURNAMES = {
    "en_US": "Smith Johnson Okafor Nakashima Washington Kowalczyk Reyes Hernandez "
    "Thompson Goldberg Fitzgerald Blackwood Whitaker Delacroix Vasquez Ochoa Lindqvist "
    "Patterson Mendoza Abernathy Sutherland Castellanos Yamaguchi Brennan Holloway",
    "en_GB": "Jones Davies Pritchard Llewellyn MacLeod Fraser Ahmed Begum Chowdhury "
    "Hargreaves Ashworth Thistlethwaite Brennan O'Sullivan McAllister Whitehouse "
    "Cartwright Pemberton Kaur Gill Bradshaw Ogunleye Featherstone Rowntree Dalgleish",
    "de_DE": "Brinkmann Oltmanns Hinrichs Dreyer Wiegand Lindemann Yıldırım Kovačević "
    "Müller Schmidt Meyer Becker Janßen Petersen Lüders Wöhler Kowalski Nguyen Özdemir "
    "Dittmann Rademacher Scholz Freiherr Gödecke Kaltenbach Eickhoff Terhorst",
    "fr_FR": "Le Goff Kerbrat Benali Diallo Traoré Nguyen Lemoine Dubois Fontaine "
    "Morel Girard Lefèvre Rousseau Chevalier Perrin Leclercq Boucher Haddad Mercier "
    "Besnard Guillou Le Floch Marchal Barthélemy Cousin Delattre Poulain",
    "nl_NL": "Postma Hoekstra Zijlstra Bakker El Idrissi Jansen de Vries van Dijk "
    "Visser Smit Mulder Kok Brouwer Dijkstra Wijnands Hazelhoff Oosterhuis "
    "Kloppenburg Verbeek Schipper Bouzid Sprenger Huisman Terpstra Veldkamp",
    "es_ES": "Etxeberria Goikoetxea Quintana Villalobos Cifuentes García López "
    "Fernández Martín Sánchez Romero Navarro Iglesias Olmedo Zubizarreta Arrieta "
    "Peñalver Castaño Urrutia Benavides Carrasco Valverde Sepúlveda Aranda",
    "it_IT": "Esposito Lo Bianco Pagliarulo Capuozzo Zanetti Rossi Russo Ferrari "
    "Bianchi Romano Colombo Marchetti Brambilla Quaranta Scognamiglio Ferraro Cattaneo "
    "Lombardo Pellegrino Trevisan Bortolotti Fumagalli Iannaccone Santoro",
}
#: multi-word surnames above are joined with non-breaking marks, so split on spaces
#: keeps them whole
_JOINED = ("Le Goff", "Le Floch", "El Idrissi", "de Vries", "van Dijk", "Lo Bianco")


def _names(text: str) -> list[str]:
    for joined in _JOINED:
        text = text.replace(joined, joined.replace(" ", "_"))
    return [t.replace("_", " ") for t in text.split()]


def given(rnd: random.Random, locale: str) -> str:
    return rnd.choice(_names(GIVEN[locale]))


def surname(rnd: random.Random, locale: str) -> str:
    return rnd.choice(_names(SURNAMES[locale]))


def full_name(rnd: random.Random, locale: str) -> str:
    first, last = given(rnd, locale), surname(rnd, locale)
    if locale == "es_ES" and rnd.random() < 0.6:
        last = f"{last} {surname(rnd, locale)}"
    if rnd.random() < 0.1:
        first = f"{first} {given(rnd, locale)}"
    return f"{first} {last}"


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ı", "i"))
    return "".join(c for c in decomposed if c.isascii()).lower()


def lexicon_coverage() -> float:
    """Share of the evaluation's name words the classifier's lexicon knows."""
    from lakemesh.classify.lexicon import GIVEN as KNOWN_GIVEN
    from lakemesh.classify.lexicon import SURNAMES as KNOWN_SURNAMES

    words = [ascii_fold(w) for t in GIVEN.values() for w in _names(t)]
    words += [ascii_fold(w).split()[-1] for t in SURNAMES.values() for w in _names(t)]
    known = KNOWN_GIVEN | KNOWN_SURNAMES
    return sum(w.replace("'", "") in known for w in words) / len(words)


# ------------------------------------------------------------------------------ values

DOMAINS = {
    "en_US": ["gmail.com", "yahoo.com", "outlook.com", "comcast.net", "acme-corp.com"],
    "en_GB": ["btinternet.com", "gmail.com", "hotmail.co.uk", "sky.com", "nhs.net"],
    "de_DE": ["web.de", "gmx.de", "t-online.de", "gmail.com", "firma-gmbh.de"],
    "fr_FR": ["orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr"],
    "nl_NL": ["ziggo.nl", "kpnmail.nl", "gmail.com", "hotmail.nl", "planet.nl"],
    "es_ES": ["telefonica.net", "gmail.com", "hotmail.es", "yahoo.es", "movistar.es"],
    "it_IT": ["libero.it", "virgilio.it", "gmail.com", "tiscali.it", "alice.it"],
}


def email(rnd: random.Random, locale: str) -> str:
    first = ascii_fold(given(rnd, locale)).replace(" ", "")
    last = ascii_fold(surname(rnd, locale)).replace(" ", "").replace("'", "")
    style = rnd.randrange(6)
    local = [f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rnd.randrange(99)}",
             f"{last}.{first}+news", f"{first}{rnd.randrange(1950, 2010)}", f"{first}-{last}"][style]  # fmt: skip
    out = f"{local}@{rnd.choice(DOMAINS[locale])}"
    return out.upper() if rnd.random() < 0.03 else out


def phone_number(rnd: random.Random, region: str) -> phonenumbers.PhoneNumber:
    kind = rnd.choice(
        [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
    )
    example = phonenumbers.example_number_for_type(region, kind)
    nsn = phonenumbers.national_significant_number(example)
    while True:
        digits = nsn[:3] + "".join(rnd.choice(string.digits) for _ in range(len(nsn) - 3))
        number = phonenumbers.parse("+" + str(example.country_code) + digits)
        if phonenumbers.is_valid_number(number):
            return number


def phone(rnd: random.Random, region: str, style: str) -> str:
    number = phone_number(rnd, region)
    fmt = phonenumbers.PhoneNumberFormat
    if style == "mixed":
        style = rnd.choice(["e164", "international", "national", "00"])
    if style == "e164":
        return phonenumbers.format_number(number, fmt.E164)
    if style == "international":
        return phonenumbers.format_number(number, fmt.INTERNATIONAL)
    if style == "00":
        return "00" + phonenumbers.format_number(number, fmt.E164)[1:]
    if style == "slash" and region == "DE":
        national = phonenumbers.format_number(number, fmt.NATIONAL)
        return national.replace(" ", "/", 1)
    if style == "bare":
        national = phonenumbers.format_number(number, fmt.NATIONAL)
        return "".join(c for c in national if c.isdigit())
    return phonenumbers.format_number(number, fmt.NATIONAL)


IBAN_COUNTRIES = {"en_US": "DE", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR"}
IBAN_COUNTRIES |= {"nl_NL": "NL", "es_ES": "ES", "it_IT": "IT"}
#: the BBAN layouts: n digits, a alphanumeric upper, c upper letters
BBAN = {"DE": "18n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n"}
BBAN |= {"IT": "1a10n12c", "BE": "12n", "AT": "16n", "CH": "5n12c", "PL": "24n"}


def _layout(rnd: random.Random, layout: str) -> str:
    out, count = [], ""
    for ch in layout:
        if ch.isdigit():
            count += ch
            continue
        pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits}[ch]
        out += [rnd.choice(pool) for _ in range(int(count))]
        count = ""
    return "".join(out)


def make_iban(rnd: random.Random, country: str, spaced: bool) -> str:
    while True:  # some countries check their BBAN too (Belgium, Spain): draw until valid
        bban = _layout(rnd, BBAN[country])
        if country == "ES":
            bban = bban[:8] + ccc.calc_check_digits(bban) + bban[10:]
        number = country + iban.calc_check_digits(country + "00" + bban) + bban
        if iban.is_valid(number):
            break
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if spaced else number


CARD_PREFIXES = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15)]
CARD_PREFIXES += [("6011", 16), ("3530", 16), ("36", 14), ("62", 16), ("4", 19)]


def card(rnd: random.Random, style: str) -> str:
    prefix, length = rnd.choice(CARD_PREFIXES)
    body = prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + luhn.calc_check_digit(body)
    if style == "spaced" and length == 16:
        return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    if style == "dashed" and length == 16:
        return "-".join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def _birth(rnd: random.Random) -> date:
    return date(1940, 1, 1) + timedelta(days=rnd.randrange(365 * 66))


def national_id(rnd: random.Random, locale: str) -> str:
    """A valid personal number of the locale's country, in a written form people use."""
    if locale == "en_US":
        while True:
            v = f"{rnd.randrange(1, 899):03d}-{rnd.randrange(1, 99):02d}-{rnd.randrange(1, 9999):04d}"
            if ssn.is_valid(v):
                return v
    if locale == "en_GB":
        if rnd.random() < 0.5:
            while True:
                v = "".join(rnd.choice(string.digits) for _ in range(10))
                if nhs.is_valid(v):
                    return f"{v[:3]} {v[3:6]} {v[6:]}"
        prefix = rnd.choice(["AB", "CE", "JG", "NP", "SW", "TR", "WL", "YZ", "HE", "MA"])
        digits = "".join(rnd.choice(string.digits) for _ in range(6))
        suffix = rnd.choice("ABCD")
        return (
            f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
            if rnd.random() < 0.5
            else prefix + digits + suffix
        )
    if locale == "de_DE":
        while True:
            v = str(rnd.randrange(10**10, 10**11))
            if idnr.is_valid(v):
                return v if rnd.random() < 0.6 else f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"
    if locale == "fr_FR":
        born = _birth(rnd)
        body = f"{rnd.choice('12')}{born.year % 100:02d}{born.month:02d}{rnd.randrange(1, 96):02d}"
        body += f"{rnd.randrange(1, 990):03d}{rnd.randrange(1, 999):03d}"
        v = body + nir.calc_check_digits(body)
        return (
            v
            if rnd.random() < 0.5
            else f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]} {v[13:]}"
        )
    if locale == "nl_NL":
        while True:
            v = f"{rnd.randrange(10**8):09d}"
            if bsn.is_valid(v):
                return v if rnd.random() < 0.7 else f"{v[:4]}.{v[4:6]}.{v[6:]}"
    if locale == "es_ES":
        if rnd.random() < 0.75:
            body = f"{rnd.randrange(10**8):08d}"
            return body + dni.calc_check_digit(body)
        body = rnd.choice("XYZ") + f"{rnd.randrange(10**7):07d}"
        return body + nie.calc_check_digit(body)
    # it_IT: codice fiscale, surname and name consonants, birth date, place, check
    born = _birth(rnd)
    letters = "".join(rnd.choice("BCDFGLMNPRSTVZ") for _ in range(6))
    day = born.day + (40 if rnd.random() < 0.5 else 0)
    body = f"{letters}{born.year % 100:02d}{'ABCDEHLMPRST'[born.month - 1]}{day:02d}"
    body += rnd.choice("ABCDEFGHILM") + f"{rnd.randrange(1, 999):03d}"
    return body + codicefiscale.calc_check_digit(body)


def other_national_id(rnd: random.Random) -> str:
    """Polish PESEL or Swedish personnummer: countries outside the seven locales."""
    born = _birth(rnd)
    if rnd.random() < 0.5:
        month = born.month + (20 if born.year >= 2000 else 0)
        body = f"{born.year % 100:02d}{month:02d}{born.day:02d}{rnd.randrange(10**4):04d}"
        return body + pesel.calc_check_digit(body)
    body = f"{born.year % 100:02d}{born.month:02d}{born.day:02d}{rnd.randrange(1000):03d}"
    return f"{body[:6]}-{body[6:]}{luhn.calc_check_digit(body)}"


STREETS = {
    "en_US": ["Maple Avenue", "Oak Street", "Sunset Blvd", "Elm St", "Lakeview Drive", "Park Road", "Cedar Lane"],
    "en_GB": ["High Street", "Church Lane", "Station Road", "Victoria Road", "Mill Lane", "Kings Road", "The Crescent"],
    "de_DE": ["Hauptstraße", "Bahnhofstr.", "Lindenweg", "Schillerstraße", "Am Markt", "Berliner Allee", "Gartenweg"],
    "fr_FR": ["rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "rue des Lilas", "chemin des Vignes", "place de la République"],
    "nl_NL": ["Kerkstraat", "Dorpsstraat", "Prinsengracht", "Stationsweg", "Molenlaan", "Marktplein", "Nieuwe Binnenweg"],
    "es_ES": ["Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución", "Paseo de Gracia", "Plaza de España", "C/ Real"],
    "it_IT": ["Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele II", "Piazza Dante", "Viale Europa", "Via dei Mille"],
}  # fmt: skip
CITIES = {
    "en_US": [("Springfield", "IL 62704"), ("Austin", "TX 78701"), ("Portland", "OR 97205"), ("Columbus", "OH 43215")],
    "en_GB": [("London", "NW1 6XE"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 5TR"), ("Glasgow", "G2 1DY")],
    "de_DE": [("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"), ("Köln", "50667")],
    "fr_FR": [("Paris", "75002"), ("Lyon", "69001"), ("Nantes", "44000"), ("Lille", "59000")],
    "nl_NL": [("Amsterdam", "1017 GC"), ("Utrecht", "3511 AB"), ("Groningen", "9711 LM"), ("Delft", "2611 HN")],
    "es_ES": [("Madrid", "28014"), ("Sevilla", "41001"), ("Valencia", "46002"), ("Bilbao", "48001")],
    "it_IT": [("Roma", "00184"), ("Milano", "20121"), ("Napoli", "80133"), ("Torino", "10121")],
}  # fmt: skip


def address(rnd: random.Random, locale: str, full: bool) -> str:
    street = rnd.choice(STREETS[locale])
    number = str(rnd.randrange(1, 250)) + (
        rnd.choice(["", "", "", "a", "b"]) if locale in ("de_DE", "nl_NL") else ""
    )
    if locale in ("en_US", "en_GB"):
        line = f"{number} {street}"
        if rnd.random() < 0.15:
            line = f"{rnd.choice(['Apt', 'Flat', 'Unit'])} {rnd.randrange(1, 30)}, {line}"
    elif locale == "fr_FR":
        line = f"{number}{rnd.choice(['', '', ' bis'])} {street}"
    elif locale == "es_ES":
        line = f"{street} {number}" + rnd.choice(["", "", ", 2º B", ", 4º izq."])
    else:
        line = f"{street} {number}"
    if not full:
        return line
    city, code = rnd.choice(CITIES[locale])
    if locale == "en_US":
        return f"{line}, {city}, {code}"
    if locale == "en_GB":
        return f"{line}, {city} {code}"
    return f"{line}, {code} {city}"


def ip(rnd: random.Random) -> str:
    if rnd.random() < 0.2:
        return ipv6(rnd)
    if rnd.random() < 0.3:
        return f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    return ".".join(str(rnd.randrange(1, 255)) for _ in range(4))


def ipv6(rnd: random.Random) -> str:
    groups = [f"{rnd.randrange(65536):x}" for _ in range(8)]
    if rnd.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def customer_id(rnd: random.Random, style: str, i: int) -> Any:
    if style == "int":
        return 100000 + i * rnd.randrange(1, 7) + rnd.randrange(3)
    if style == "prefixed":
        return f"C{1000000 + i * 7 + rnd.randrange(5)}"
    if style == "dashed":
        return f"CUST-{i * 3 + rnd.randrange(3):06d}"
    if style == "kd":
        return f"K{rnd.randrange(10**7):07d}"
    return str(uuid.UUID(int=rnd.getrandbits(128)))


def birth_text(rnd: random.Random, locale: str) -> str:
    day = _birth(rnd)
    fmt = {"en_US": "%m/%d/%Y", "en_GB": "%d/%m/%Y", "de_DE": "%d.%m.%Y", "fr_FR": "%d/%m/%Y"}
    fmt |= {"nl_NL": "%d-%m-%Y", "es_ES": "%d/%m/%Y", "it_IT": "%d/%m/%Y"}
    return day.strftime(fmt[locale] if rnd.random() < 0.6 else "%Y-%m-%d")


def bank_account(rnd: random.Random, locale: str) -> str:
    if locale == "es_ES":
        body = f"{rnd.randrange(10**8):08d}00{rnd.randrange(10**10):010d}"
        digits = ccc.calc_check_digits(body)
        return f"{body[:8]}{digits}{body[10:]}"
    length = {"en_US": rnd.choice([9, 10, 12]), "en_GB": 8, "de_DE": 10, "fr_FR": 11}
    length |= {"nl_NL": 10, "it_IT": 12}
    n = length[locale]
    return str(rnd.randrange(10 ** (n - 1), 10**n))


# ------------------------------------------------------------------------------ innocents

PRODUCTS = ["Ergonomic Office Chair", "Steel Water Bottle", "Wireless Mouse", "Standing Desk",
            "Noise Cancelling Headphones", "Garden Hose", "Espresso Machine", "Yoga Mat",
            "Cast Iron Skillet", "LED Desk Lamp", "Hiking Backpack", "Bluetooth Speaker"]  # fmt: skip
PHONE_MODELS = ["iPhone 13", "iPhone 14 Pro", "Galaxy S22", "Galaxy A54", "Pixel 7",
                "Pixel 8 Pro", "Xperia 10 V", "Moto G84", "Redmi Note 12", "OnePlus 11"]  # fmt: skip
CATEGORIES = ["Electronics", "Garden", "Kitchen", "Toys", "Sports", "Books", "Office"]
COUNTRIES = ["Germany", "France", "Netherlands", "Spain", "Italy", "United Kingdom", "Jordan"]
COMPANIES = ["Müller Logistik GmbH", "Acme Corp", "Dupont SARL", "Rossi & Figli S.p.A.",
             "Van Dijk Transport B.V.", "Global Services Ltd", "Fischer Bau AG", "Martin et Fils"]  # fmt: skip
STATUSES = ["SHIPPED", "PENDING", "DELIVERED", "CANCELLED", "RETURNED"]
NOTES = [
    "Customer asked for delivery after 5pm.",
    "Left parcel with neighbour at number 12.",
    "Called twice, no answer. Will retry tomorrow morning.",
    "Invoice sent again on request; see ticket 48213.",
    "Prefers contact by e-mail rather than phone.",
    "Damaged on arrival, replacement shipped.",
    "VIP customer since 2019, offer free upgrade.",
    "Address changed last month, please verify before shipping.",
]


def note(rnd: random.Random, locale: str) -> str:
    text = rnd.choice(NOTES)
    roll = rnd.random()
    if roll < 0.1:
        text += f" Contact: {email(rnd, locale)}"
    elif roll < 0.18:
        text += f" Call back on {phone(rnd, REGION[locale], 'international')}."
    return text


def ean13(rnd: random.Random) -> str:
    body = (
        rnd.choice(["400", "401", "540", "300", "800", "870", "841"])
        + f"{rnd.randrange(10**9):09d}"
    )
    return body + ean.calc_check_digit(body)


def isbn13(rnd: random.Random) -> str:
    body = "978" + f"{rnd.randrange(10**9):09d}"
    return body + ean.calc_check_digit(body)


def imei(rnd: random.Random) -> str:
    body = rnd.choice(["35", "86", "01", "99"]) + f"{rnd.randrange(10**12):012d}"
    return body + luhn.calc_check_digit(body)


def sha(rnd: random.Random, bits: int) -> str:
    digest = hashlib.sha256(str(rnd.random()).encode()).hexdigest()
    return digest[: bits // 4]


# ------------------------------------------------------------------------------ columns

Gen = Callable[[random.Random, str, int], Any]
STRING = pa.string()


@dataclass(frozen=True)
class Kind:
    """A column kind: the label, names to pick from, a value generator, an arrow type."""

    label: str | None
    names: tuple[str, ...]
    make: Gen
    type: pa.DataType
    nulls: float = 0.0


def _k(
    label: str | None, names: str, make: Gen, type: pa.DataType = STRING, nulls: float = 0.0
) -> Kind:
    return Kind(label, tuple(names.split()), make, type, nulls)


NEUTRAL = [
    "col_7",
    "field_3",
    "notes",
    "kontakt",
    "value",
    "data",
    "info",
    "extra",
    "attr_2",
    "c12",
    "misc",
    "ref2",
    "x_text",
]

SENSITIVE: dict[str, list[Kind]] = {
    "person_name": [
        _k(
            "person_name",
            "first_name firstname given_name vorname prenom nombre_pila voornaam nome",
            lambda r, loc, i: given(r, loc),
        ),
        _k(
            "person_name",
            "last_name surname nachname nom_de_famille apellidos achternaam cognome family_name",
            lambda r, loc, i: surname(r, loc),
        ),
        _k(
            "person_name",
            "full_name customer_name name contact_person account_holder cardholder kunde_name nom_client",
            lambda r, loc, i: full_name(r, loc),
            nulls=0.03,
        ),
        _k(
            "person_name",
            "kontakt col_7 customer contact buyer field_3",
            lambda r, loc, i: full_name(r, loc),
        ),
    ],
    "email": [
        _k(
            "email",
            "email e_mail email_address customer_email mail courriel correo contact_email emailAddress",
            lambda r, loc, i: email(r, loc),
            nulls=0.05,
        ),
        _k("email", "notes login user contact col_4 kontakt", lambda r, loc, i: email(r, loc)),
    ],
    "phone": [
        _k(
            "phone",
            "phone phone_number telephone mobile telefon handynummer telefono telefoon tel cell",
            lambda r, loc, i: phone(r, REGION[loc], "mixed"),
            nulls=0.05,
        ),
        _k(
            "phone",
            "phone mobile_number telefonnummer numero_telephone",
            lambda r, loc, i: phone(r, REGION[loc], "national"),
        ),
        _k("phone", "mobile tel phone_no", lambda r, loc, i: phone(r, REGION[loc], "bare")),
        _k(
            "phone",
            "kontakt col_9 contact_no",
            lambda r, loc, i: phone(r, REGION[loc], "international"),
        ),
    ],
    "iban": [
        _k(
            "iban",
            "iban iban_code customer_iban IBAN payout_iban",
            lambda r, loc, i: make_iban(r, IBAN_COUNTRIES[loc], r.random() < 0.5),
        ),
        _k(
            "iban",
            "account bank_details col_3 konto_iban",
            lambda r, loc, i: make_iban(r, r.choice(list(BBAN)), False),
        ),
    ],
    "bank_account": [
        _k(
            "bank_account",
            "account_number kontonummer acct_no bank_account rekeningnummer numero_cuenta numero_conto account_no",
            lambda r, loc, i: bank_account(r, loc),
        ),
    ],
    "payment_card": [
        _k(
            "payment_card",
            "card_number credit_card cc_number pan kartennummer numero_carte tarjeta",
            lambda r, loc, i: card(r, r.choice(["plain", "spaced", "dashed"])),
        ),
        _k("payment_card", "payment_ref col_5 instrument", lambda r, loc, i: card(r, "plain")),
    ],
    "national_id": [
        _k(
            "national_id",
            "national_id ssn tax_id steuer_id nir bsn dni codice_fiscale nino national_insurance_number personal_id",
            lambda r, loc, i: national_id(r, loc),
            nulls=0.02,
        ),
        _k("national_id", "document_no col_8 id_document", lambda r, loc, i: national_id(r, loc)),
        _k("national_id", "personal_number pesel_or_pnr", lambda r, loc, i: other_national_id(r)),
    ],
    "customer_id": [
        _k(
            "customer_id",
            "customer_id cust_id client_id kundennummer klantnummer id_cliente member_id user_id account_id",
            lambda r, loc, i: customer_id(r, r.choice(["prefixed", "dashed", "kd", "uuid"]), i),
        ),
        _k(
            "customer_id",
            "customer_id user_id kunden_nr customerNo",
            lambda r, loc, i: customer_id(r, "int", i),
            pa.int64(),
        ),
    ],
    "date_of_birth": [
        _k(
            "date_of_birth",
            "date_of_birth dob birth_date geburtsdatum date_naissance fecha_nacimiento data_nascita geboortedatum birthday",
            lambda r, loc, i: _birth(r),
            pa.date32(),
            nulls=0.05,
        ),
        _k(
            "date_of_birth",
            "dob geburtsdatum birthdate fecha_de_nacimiento",
            lambda r, loc, i: birth_text(r, loc),
        ),
        _k(
            "date_of_birth",
            "date_of_birth born_at",
            lambda r, loc, i: datetime.combine(_birth(r), datetime.min.time()),
            pa.timestamp("us"),
        ),
    ],
    "postal_address": [
        _k(
            "postal_address",
            "address street_address billing_address adresse anschrift direccion indirizzo adres shipping_address",
            lambda r, loc, i: address(r, loc, True),
            nulls=0.03,
        ),
        _k(
            "postal_address",
            "address_line1 street strasse rue calle via",
            lambda r, loc, i: address(r, loc, False),
        ),
        _k("postal_address", "col_2 location delivery_to", lambda r, loc, i: address(r, loc, True)),
    ],
    "ip_address": [
        _k(
            "ip_address",
            "ip_address client_ip remote_addr ip source_ip ipv4",
            lambda r, loc, i: ip(r),
        ),
        _k("ip_address", "peer host_v6 col_11", lambda r, loc, i: ipv6(r)),
    ],
}

INNOCENT: list[Kind] = [
    _k(
        None,
        "academic_year_code",
        lambda r, loc, i: r.choice(["2021/22", "2022/23", "2023/24", "AY2324", "23-24"]),
    ),
    _k(None, "zip_count", lambda r, loc, i: r.randrange(0, 40), pa.int64()),
    _k(
        None,
        "order_id order_no",
        lambda r, loc, i: 10_000_000 + i * 13 + r.randrange(10),
        pa.int64(),
    ),
    _k(None, "order_id", lambda r, loc, i: f"ORD-2023-{i:06d}"),
    _k(None, "iban_country", lambda r, loc, i: r.choice(["DE", "FR", "NL", "GB", "ES", "IT"])),
    _k(None, "phone_model device_model", lambda r, loc, i: r.choice(PHONE_MODELS)),
    _k(
        None,
        "sku article_no",
        lambda r, loc, i: (
            f"{r.choice(['AB', 'XK', 'TR'])}-{r.randrange(1000, 9999)}-{r.choice(['BL', 'RD', 'XL', 'S'])}"
        ),
    ),
    _k(None, "notes comment remarks bemerkung", lambda r, loc, i: note(r, loc), nulls=0.2),
    _k(None, "product_name produkt item_title", lambda r, loc, i: r.choice(PRODUCTS)),
    _k(None, "city stadt ville ciudad citta", lambda r, loc, i: r.choice(CITIES[loc])[0]),
    _k(None, "country land pays", lambda r, loc, i: r.choice(COUNTRIES)),
    _k(None, "category", lambda r, loc, i: r.choice(CATEGORIES)),
    _k(None, "company_name supplier", lambda r, loc, i: r.choice(COMPANIES)),
    _k(
        None, "amount total_eur price", lambda r, loc, i: round(r.uniform(1, 5000), 2), pa.float64()
    ),
    _k(
        None,
        "ordered_at created_at",
        lambda r, loc, i: datetime(2023, 1, 1) + timedelta(minutes=r.randrange(500_000)),
        pa.timestamp("us"),
    ),
    _k(
        None,
        "order_date ship_date",
        lambda r, loc, i: date(2022, 1, 1) + timedelta(days=r.randrange(900)),
        pa.date32(),
    ),
    _k(
        None,
        "signup_date",
        lambda r, loc, i: (date(2015, 1, 1) + timedelta(days=r.randrange(3000))).isoformat(),
    ),
    _k(None, "payload_sha256 checksum", lambda r, loc, i: sha(r, 256)),
    _k(None, "etag md5", lambda r, loc, i: sha(r, 128)),
    _k(
        None,
        "event_id session_id trace_id",
        lambda r, loc, i: str(uuid.UUID(int=r.getrandbits(128))),
    ),
    _k(
        None,
        "version app_version",
        lambda r, loc, i: f"{r.randrange(1, 5)}.{r.randrange(20)}.{r.randrange(30)}",
    ),
    _k(
        None,
        "build_version firmware",
        lambda r, loc, i: (
            f"{r.randrange(1, 12)}.{r.randrange(10)}.{r.randrange(10)}.{r.randrange(200)}"
        ),
    ),
    _k(None, "isbn", lambda r, loc, i: isbn13(r)),
    _k(None, "ean gtin", lambda r, loc, i: ean13(r)),
    _k(None, "barcode_no", lambda r, loc, i: int(ean13(r)), pa.int64()),
    _k(None, "imei device_serial", lambda r, loc, i: imei(r)),
    _k(None, "quantity qty", lambda r, loc, i: r.randrange(1, 20), pa.int64()),
    _k(None, "status", lambda r, loc, i: r.choice(STATUSES)),
    _k(None, "currency", lambda r, loc, i: r.choice(["EUR", "GBP", "USD"])),
    _k(None, "postcode plz zip", lambda r, loc, i: r.choice(CITIES[loc])[1].split()[-1]),
    _k(
        None,
        "card_type payment_method",
        lambda r, loc, i: r.choice(["Visa", "Mastercard", "Amex", "PayPal"]),
    ),
    _k(None, "card_last4", lambda r, loc, i: f"{r.randrange(10000):04d}"),
    _k(None, "email_verified is_active", lambda r, loc, i: r.random() < 0.5, pa.bool_()),
    _k(None, "phone_count login_count", lambda r, loc, i: r.randrange(0, 5), pa.int64()),
    _k(None, "birth_year", lambda r, loc, i: r.randrange(1940, 2008), pa.int64()),
    _k(None, "shipment_id", lambda r, loc, i: r.randrange(10**8, 10**9), pa.int64()),
    _k(None, "tracking_no invoice_no", lambda r, loc, i: str(r.randrange(10**10, 10**11))),
    _k(None, "transaction_id txn_ref", lambda r, loc, i: str(r.randrange(10**15, 10**16))),
    _k(None, "invoice_number", lambda r, loc, i: f"INV-{2020 + r.randrange(4)}-{i:05d}"),
    _k(
        None,
        "url landing_page",
        lambda r, loc, i: f"https://shop.example.com/p/{r.randrange(10**5)}?ref=nl",
    ),
    _k(
        None,
        "bic swift",
        lambda r, loc, i: r.choice(["DEUTDEFF", "COBADEFFXXX", "BNPAFRPP", "INGBNL2A", "BSCHESMM"]),
    ),
    _k(None, "vat_number", lambda r, loc, i: f"DE{r.randrange(10**8, 10**9)}"),
    _k(
        None,
        "discount_code coupon",
        lambda r, loc, i: r.choice(["SUMMER20", "WELCOME10", "BF2023", "VIP15"]),
    ),
    _k(None, "store_phone_ext extension", lambda r, loc, i: str(r.randrange(100, 999))),
    _k(None, "latitude", lambda r, loc, i: r.uniform(35, 60), pa.float64()),
    _k(None, "serial_number", lambda r, loc, i: f"SN{r.randrange(10**9):09d}X"),
    _k(
        None,
        "order_ref",
        lambda r, loc, i: "".join(
            r.choice(string.ascii_uppercase + string.digits) for _ in range(10)
        ),
    ),
    _k(
        None, "mac_address", lambda r, loc, i: ":".join(f"{r.randrange(256):02X}" for _ in range(6))
    ),
    _k(
        None,
        "user_agent",
        lambda r, loc, i: r.choice(
            [
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0)",
            ]
        ),
    ),
]


def column(
    rnd: random.Random, kind: Kind, locale: str, rows: int, name: str | None = None
) -> Column:
    chosen = name or rnd.choice(kind.names)
    values = [None if rnd.random() < kind.nulls else kind.make(rnd, locale, i) for i in range(rows)]
    return Column(chosen, pa.array(values, kind.type), kind.label)


# ------------------------------------------------------------------------------ tables

THEMES = {
    "customers": ["person_name", "person_name", "email", "phone", "date_of_birth", "postal_address", "customer_id"],
    "payments": ["iban", "payment_card", "customer_id", "person_name", "bank_account"],
    "hr": ["person_name", "national_id", "date_of_birth", "iban", "postal_address", "email", "phone"],
    "web": ["ip_address", "customer_id", "email", "ip_address"],
    "crm": ["person_name", "email", "phone", "postal_address", "national_id", "customer_id"],
    "orders": ["payment_card", "customer_id", "email", "postal_address", "phone"],
    "accounts": ["bank_account", "iban", "person_name", "national_id", "date_of_birth"],
}  # fmt: skip
INNOCENTS_PER_TABLE = 7


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def make_table(seed: int, theme: str, locale: str, rows: int = ROWS) -> Table:
    rnd = random.Random(seed)
    columns: list[Column] = []
    taken: set[str] = set()
    for label in THEMES[theme]:
        kind = rnd.choice(SENSITIVE[label])
        name = rnd.choice(NEUTRAL) if rnd.random() < 0.08 else rnd.choice(kind.names)
        columns.append(column(rnd, kind, locale, rows, _unique(name, taken)))
    for kind in rnd.sample(INNOCENT, INNOCENTS_PER_TABLE):
        columns.append(column(rnd, kind, locale, rows, _unique(rnd.choice(kind.names), taken)))
    rnd.shuffle(columns)
    return Table(f"{locale}.{theme}", locale, tuple(columns))


@cache
def tables() -> tuple[Table, ...]:
    """Seven locales x five themes, plus one table of every innocent kind per locale."""
    out = [
        make_table(1000 + i * 10 + j, theme, locale)
        for i, locale in enumerate(LOCALES)
        for j, theme in enumerate(THEMES)
    ]
    for i, locale in enumerate(LOCALES):
        rnd = random.Random(5000 + i)
        taken: set[str] = set()
        columns = [
            column(rnd, k, locale, ROWS, _unique(rnd.choice(k.names), taken)) for k in INNOCENT
        ]
        out.append(Table(f"{locale}.innocents", locale, tuple(columns)))
    return tuple(out)


@cache
def wide_table(columns: int = 50, rows: int = 1000) -> Table:
    """The speed table: every kind in turn, sensitive and innocent, at 1,000 rows."""
    rnd = random.Random(99)
    kinds = [k for ks in SENSITIVE.values() for k in ks] + INNOCENT
    taken: set[str] = set()
    out = []
    for i in range(columns):
        kind = kinds[i % len(kinds)]
        locale = LOCALES[i % len(LOCALES)]
        out.append(column(rnd, kind, locale, rows, _unique(rnd.choice(kind.names), taken)))
    return Table("wide", "mixed", tuple(out))
