"""What a column's name and description say: tokens, and name patterns matched on them.

A name is split on snake case, camel case, digits and punctuation, folded to lower-case
ASCII and joined by single spaces (``ACADEMIC_YEAR_CODE`` -> ``academic year code``,
``dateOfBirth`` -> ``date of birth``, ``Prénom`` -> ``prenom``). Patterns match whole
tokens of that text, so ``card`` never matches inside ``academic year code``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^0-9a-z]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")

#: A last token that makes a column a property of the thing, not the thing itself:
#: ``zip_count``, ``iban_country``, ``phone_model``, ``email_verified``, ``card_type``.
DERIVED_LAST = _words(
    """
    count cnt counts total sum avg mean min max qty quantity amount amt flag flags
    type types kind category model brand make length len size status country
    countries format valid validated verified hash hashed sha sha1 sha256 md5 digest
    masked mask encrypted enc token tokenised tokenized domain provider consent
    optin pct percent ratio share rate score bucket band range year month hour
    prefix suffix region language lang source channel changed updated created last4
    present known exists missing sent opened clicked bounced deleted
    """
)
#: A first token that makes a column an aggregate or a flag: ``num_emails`` is not
#: an e-mail column, ``has_phone`` not a phone column.
DERIVED_FIRST = _words("n nb count cnt has is total avg max min sum pct no")
#: Trailing words of a time stamp: ``email_verified_at`` is about the word before them.
_WHEN = _words("at on date time ts timestamp")


def fold(text: str) -> str:
    """Lower-case ASCII: accents dropped, ``ß`` -> ``ss``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in _SPLIT.split(fold(_CAMEL.sub(" ", text))) if t)


@dataclass(frozen=True)
class ColumnText:
    """A column's name and description, tokenised once for every recogniser."""

    name: str
    description: str | None = None

    @cached_property
    def name_tokens(self) -> tuple[str, ...]:
        return tokens(self.name)

    @cached_property
    def name_text(self) -> str:
        return " ".join(self.name_tokens)

    @cached_property
    def description_text(self) -> str:
        return " ".join(tokens(self.description or "")[:200])

    @cached_property
    def derived(self) -> bool:
        """True for names like ``zip_count`` or ``has_email``: about the thing, not it."""
        toks = list(self.name_tokens)
        if toks[-2:] == ["last", "4"]:
            return True
        if len(toks) > 1 and (toks[0] in DERIVED_FIRST or toks[:2] == ["number", "of"]):
            return True
        while len(toks) > 1 and (toks[-1].isdigit() or toks[-1] in _WHEN):
            toks.pop()
        return bool(toks) and toks[-1] in DERIVED_LAST


class NamePatterns:
    """Alternatives of whole-token phrases, e.g. ``("e ?mail", "courriel")``.

    Each alternative is a regular expression over the folded token text; it is
    anchored on token boundaries, so ``tel`` matches ``tel`` and ``home tel`` but not
    ``hotel``.
    """

    def __init__(self, *alternatives: str) -> None:
        self.alternatives = alternatives
        body = "|".join(f"(?:{a})" for a in alternatives)
        self._regex = re.compile(rf"(?:^|(?<= ))(?:{body})(?= |$)") if alternatives else None

    def __bool__(self) -> bool:
        return self._regex is not None

    def search(self, text: str) -> bool:
        return bool(self._regex is not None and text and self._regex.search(text))
