"""The person-name recogniser: the shape of a name, a lexicon of common names, the
column's name. There is no language model to ask, so it weighs three weak signals."""

from __future__ import annotations

import re

from lakemesh.classify.evidence import Evidence, Recogniser
from lakemesh.classify.lexicon import GIVEN, NOT_PERSON, PARTICLES, SURNAMES
from lakemesh.classify.naming import ColumnText, NamePatterns, fold
from lakemesh.classify.sample import CAP, TEXT, Sample, Tally

_TOKEN = re.compile(r"^[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?$")
_PEOPLE = (
    r"customer|client|contact|person|holder|cardholder|account holder|owner|employee|"
    r"patient|member|guest|passenger|recipient|sender|beneficiary|driver|student|"
    r"buyer|applicant|borrower|debtor|signatory|spouse|parent|mother|father|child|"
    r"teacher|doctor|physician|manager|agent|rep|representative|kunde|kunden|cliente|"
    r"klant|traveller|traveler|insured|policyholder|tenant|landlord|author|emergency contact"
)
_MAX_TOKENS = 5
#: what a name cannot contain, checked on all values at once before the Python look
_LETTERS = r"^[^0-9@/:;=<>_#%&+*|\\\[\](){}]{2,60}$"
_FULL_GATE = 0.3  #: share of full names the lexicon must know for values alone to count
_SINGLE_GATE = 0.5  #: the same for single words (cities, categories are single words)
_MIN_DISTINCT = 20


def name_shape(value: str) -> list[str] | None:
    """The name's words (folded) if ``value`` is shaped like a person's name: one to
    five words of letters (hyphens, apostrophes, an initial's dot), capitalised or all
    lower case, joined only by particles such as "van der"; else None."""
    if len(value) > 60:
        return None
    text = value.replace(",", " ", 1) if value.count(",") == 1 else value
    words = text.split()
    if not words or len(words) > _MAX_TOKENS:
        return None
    lower = value == value.lower()
    folded = []
    for i, word in enumerate(words):
        if not _TOKEN.match(word):
            return None
        f = fold(word).rstrip(".")
        if f in NOT_PERSON:
            return None
        particle = f in PARTICLES and 0 < i < len(words) - 1
        if not lower and not word[0].isupper() and not particle:
            return None
        folded.append(f)
    if max(len(f) for f in folded) < 2:
        return None
    return folded


def in_lexicon(words: list[str], comma: bool) -> bool:
    """Whether the lexicon knows the name: a single known given name, or a full name
    whose first word is a known given name or whose last word a known surname
    ("Surname, Given": the other way round)."""
    parts = [w for w in words if w not in PARTICLES] or words
    if len(parts) == 1:
        return _known(parts[0], GIVEN)
    first, last = (parts[1], parts[0]) if comma else (parts[0], parts[-1])
    return _known(first, GIVEN) or _known(last, SURNAMES)


def _known(word: str, names: frozenset[str]) -> bool:
    return (
        word in names
        or any(p in names for p in word.replace("'", "").split("-"))
        or (word.replace("'", "") in names)
    )


class PersonName(Recogniser):
    """Person names. A name that says whose name (``first_name``, ``nachname``,
    ``customer_name``) plus name-shaped values reaches HIGH; the lexicon of common
    names raises it. Without such a name, values must be name-shaped and mostly known
    to the lexicon, and then the finding stays below HIGH. A bare ``name`` column
    needs the lexicon too (products have names). ``product_name``, ``company_name``,
    ``city`` and the like are never person names."""

    name = "person_name"
    label = "person name"
    description = "names of people (name-shaped values, common-name lexicon, column name)"
    kinds = frozenset({TEXT})
    names = NamePatterns(
        r"(first|last|given|family|middle|maiden|full|sur|fore|christian|nick|birth|legal)"
        r" ?names?",
        r"surname|forename|vorname|vornamen|nachname|familienname|geburtsname|rufname",
        r"nom de famille|nom complet|prenom|prenoms|apellidos?|nombre completo|nombre( de)? pila",
        r"primer apellido|segundo apellido|cognome|nome completo|voornaam|achternaam",
        r"roepnaam|tussenvoegsel|volledige naam|fornavn|efternavn|etternavn|fornamn",
        r"efternamn|sukunimi|etunimi|imie|nazwisko|soyad|soyadi",
        rf"({_PEOPLE})s? ?(full )?(name|names)",
        r"(nom|nombre|nome|naam) (du |del |de |dell |van |of )?(client|cliente|klant|"
        r"utilisateur|usuario|utente|titulaire|contact|contacto|contatto|patient|paciente|"
        r"paziente|employe|empleado|dipendente|personne|persona|persoon|beneficiaire)",
        r"cardholder|card holder|account holder|kontoinhaber|inhaber|titular|intestatario",
        r"ansprechpartner|contact person|contactpersoon|firstname|lastname|fullname",
        r"givenname|familyname|customername|clientname",
    )
    not_names = NamePatterns(
        r"(product|company|firm|business|brand|model|city|town|country|region|state|street"
        r"|file|table|column|schema|field|bank|branch|store|shop|item|category|project|team"
        r"|department|dept|host|domain|server|app|application|event|campaign|course|device"
        r"|merchant|vendor|supplier|organisation|organization|org|plan|package"
        r"|service|feature|screen|user|login|place|venue|site|location|school"
        r"|hotel|ship|vessel|airport|station|layer|metric|variable|sheet|dataset)"
        r" ?(name|names|nom|nombre|naam|nome)",
        r"firmenname|produktname|filename|hostname|username|domainname|tablename|city",
        r"country|land|ort|stadt|ville|ciudad|citta|stad|category|kategorie",
    )
    strength = 0.72
    named_strength = 0.85
    _GENERIC = frozenset({"name", "names", "naam", "nom", "nombre", "nome"})

    def name_evidence(self, column: ColumnText) -> str | None:
        if column.name_text in self._GENERIC:
            return "name"
        return super().name_evidence(column)

    def weak_counts(self, where: str | None, column: ColumnText) -> bool:
        """A bare ``name`` (products have names too) needs the lexicon's support."""
        return where is not None and column.name_text not in self._GENERIC

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        """Name-shaped values are evidence when enough of them are names the lexicon
        knows (a third of full names, half of single words: product, city and company
        names rarely are) and they are varied (not a handful of repeated labels)."""
        shaped = known = single = distinct = checked = seen = rest = 0
        letters = sample.match(_LETTERS).to_pylist()
        for value, count, ok in zip(sample.values, sample.weights, letters, strict=True):
            if not ok:
                continue
            if checked >= CAP:
                rest += count
                continue
            checked += 1
            seen += count
            words = name_shape(value)
            if words is None:
                continue
            common = in_lexicon(words, value.count(",") == 1)
            if not common and value == value.lower():
                continue  # lower-case words have no shape to speak of
            shaped += count
            distinct += 1
            single += count if len(words) == 1 else 0
            known += count if common else 0
        capped = bool(rest)
        if capped:
            shaped += round(rest * shaped / seen)
            known += round(rest * known / seen)
        gate = _SINGLE_GATE if single > shaped / 2 else _FULL_GATE
        varied = distinct >= min(_MIN_DISTINCT, sample.total / 2)
        if shaped and varied and known >= gate * shaped:
            strong, what = shaped, f"are name-shaped, {known} of them common names"
        else:
            strong, what = (known if varied else 0), "are name-shaped common names"
        return Evidence(
            Tally(strong, capped),
            what,
            Tally(shaped, capped),
            "are name-shaped (letters, one to five capitalised words)",
        )
