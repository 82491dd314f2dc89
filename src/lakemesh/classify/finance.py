"""Recognisers for money: IBANs, bank account numbers, payment card numbers."""

from __future__ import annotations

from stdnum import iban, luhn

from lakemesh.classify.evidence import NUMBERISH, Evidence, Recogniser
from lakemesh.classify.naming import NamePatterns
from lakemesh.classify.sample import INTEGER, TEXT, Sample, Tally

_IBAN_SHAPE = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$"


class Iban(Recogniser):
    """python-stdnum's IBAN check: the country's length and format and mod-97. Values
    of an IBAN's shape that fail the check count only under a name that says IBAN."""

    name = "iban"
    label = "IBAN"
    description = "IBANs (country format and mod-97 check, python-stdnum)"
    kinds = frozenset({TEXT})
    names = NamePatterns(
        r"iban|ibans|iban (code|number|no|nr)|international bank account( number)?"
    )
    strength = 0.95
    named_strength = 0.6

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        if sample.numberish < NUMBERISH:
            return Evidence(Tally(0), "are valid IBANs (mod-97)")
        shaped = sample.match(_IBAN_SHAPE, compact=True)
        valid = sample.tally(iban.is_valid, shaped, compact=True)
        weak = Tally(sample.weight(shaped)) if named else None
        failing = (weak.matched - valid.matched) if weak else 0
        return Evidence(
            valid,
            "are valid IBANs (mod-97)",
            weak,
            f"have an IBAN's shape ({failing} fail mod-97)",
        )


_ACCOUNT_SHAPE = r"^[0-9]{6,20}$"


class BankAccount(Recogniser):
    """Plain (domestic) account numbers: 6 to 20 digits, separators allowed. Digits
    alone are no evidence (order numbers are digits too), so this recogniser needs a
    name that says account number; IBANs are the ``iban`` recogniser's."""

    name = "bank_account"
    label = "bank account number"
    description = "domestic bank account numbers (named so, 6-20 digits)"
    kinds = frozenset({TEXT, INTEGER})
    names = NamePatterns(
        r"(bank |checking |savings |current |deposit )?(account|acct|acc|konto|rekening|"
        r"cuenta|conto|compte) ?(number|numbers|no|nr|num|nummer|numero|n)",
        r"kontonummer|kontonr|konto|rekeningnummer|rekeningnr|bankrekening|bankkonto",
        r"bank ?(account|acct|acc|konto|rekening|cuenta|conto|compte)( number| no| nr)?",
        r"(numero|num|n|no) (de )?(cuenta|conto|compte|rekening)( bancaire| bancaria)?",
        r"bankverbindung|bban|account ?no|accountnumber|acctno|accno|acct",
    )
    not_names = NamePatterns(r"routing|aba|sort ?code|blz|bankleitzahl|swift|bic")
    named_strength = 0.8

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        if not named or sample.numberish < NUMBERISH:
            return Evidence(Tally(0), "are account numbers")
        shaped = sample.match(_ACCOUNT_SHAPE, compact=True)
        weak = sample.tally(_not_repeated, shaped, compact=True)
        return Evidence(Tally(0), "are account numbers", weak, "are 6-20 digit account numbers")


def _not_repeated(value: str) -> bool:
    return len(set(value)) > 1


# ------------------------------------------------------------------------------ cards

#: (first digits low, high, lengths): issuer ranges of the card schemes in use.
_ISSUERS: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),  # American Express
    (37, 37, (15,)),
    (6011, 6011, (16, 17, 18, 19)),  # Discover
    (644, 649, (16, 17, 18, 19)),
    (65, 65, (16, 17, 18, 19)),  # Discover, RuPay
    (3528, 3589, (16, 17, 18, 19)),  # JCB
    (300, 305, (14, 16, 17, 18, 19)),  # Diners Club
    (36, 36, (14, 16, 17, 18, 19)),
    (38, 39, (16, 17, 18, 19)),
    (62, 62, (16, 17, 18, 19)),  # UnionPay
    (5018, 5018, (16, 17, 18, 19)),  # Maestro
    (5020, 5020, (16, 17, 18, 19)),
    (5038, 5038, (16, 17, 18, 19)),
    (5893, 5893, (16, 17, 18, 19)),
    (6304, 6304, (16, 17, 18, 19)),
    (6759, 6759, (16, 17, 18, 19)),
    (6761, 6763, (16, 17, 18, 19)),
    (2200, 2204, (16, 17, 18, 19)),  # Mir
    (60, 60, (16,)),  # RuPay
    (9792, 9792, (16,)),  # Troy
)


def is_card_number(digits: str) -> bool:
    """An issuer range and length that a card scheme uses, and a valid Luhn check."""
    n = len(digits)
    for low, high, lengths in _ISSUERS:
        if n in lengths and low <= int(digits[: len(str(low))]) <= high:
            return bool(luhn.is_valid(digits))
    return False


class PaymentCard(Recogniser):
    name = "payment_card"
    label = "payment card number"
    description = "payment card numbers (issuer range, length, Luhn check via python-stdnum)"
    kinds = frozenset({TEXT, INTEGER})
    names = NamePatterns(
        r"((credit|debit|payment|bank|charge) )?card( number| no| nr| num)?",
        r"(credit|debit) ?card|creditcard|cc( number| no| num)?|ccn|pan|card ?pan",
        r"kartennummer|kreditkarte(nnummer)?|karte|numero (de )?(carte|tarjeta)|carte bancaire",
        r"tarjeta( de credito)?|carta( di credito)?|cardnumber|kaartnummer|creditcardnummer",
    )
    #: digits under these names carry their own check digit and can pass Luhn
    not_names = NamePatterns(r"ean|ean13|gtin|upc|isbn|barcode|imei|iccid|sim|gift ?card|loyalty")
    strength = 0.93

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        if sample.numberish < NUMBERISH:
            return Evidence(Tally(0), "are payment card numbers")
        cand = sample.match(r"^[0-9]{14,19}$", compact=True)
        return Evidence(
            sample.tally(is_card_number, cand, compact=True),
            "are payment card numbers (issuer range, Luhn)",
        )
