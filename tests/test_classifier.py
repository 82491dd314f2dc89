"""The sensitive-data classifier: each recogniser found and not fooled, how names and
values weigh against each other, bad input, and recognisers declared in files."""

from __future__ import annotations

import random
import string
from datetime import date, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import ean, iban, luhn
from stdnum.de import idnr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn

from lakemesh.classify import (
    HIGH,
    RECOMMEND,
    ColumnResult,
    classify_column,
    classify_table,
    default_registry,
    load_recognisers,
)
from lakemesh.classify.naming import ColumnText, tokens
from lakemesh.errors import InvalidInput

N = 60


def classify(
    name: str, values: list[object] | pa.Array, typ: pa.DataType | None = None
) -> ColumnResult:
    arr = values if isinstance(values, pa.Array) else pa.array(values, typ)
    return classify_column(name, arr, type=str(arr.type))


def top(result: ColumnResult) -> str | None:
    return result.findings[0].recogniser if result.findings else None


def rnd(seed: int = 7) -> random.Random:
    return random.Random(seed)


# ------------------------------------------------------------------------ generators


def ibans(r: random.Random, n: int = N) -> list[str]:
    out = []
    for _ in range(n):
        bban = "".join(r.choice(string.digits) for _ in range(18))
        number = "DE" + iban.calc_check_digits("DE00" + bban) + bban
        out.append(" ".join(number[i : i + 4] for i in range(0, len(number), 4)))
    return out


def cards(r: random.Random, n: int = N) -> list[str]:
    out = []
    for _ in range(n):
        prefix = r.choice(["4", "51", "55", "6011"])
        body = prefix + "".join(r.choice(string.digits) for _ in range(15 - len(prefix)))
        number = body + luhn.calc_check_digit(body)
        out.append("-".join(number[i : i + 4] for i in range(0, 16, 4)))
    return out


def eans(r: random.Random, n: int = N) -> list[str]:
    out = []
    for _ in range(n):
        body = "40" + "".join(r.choice(string.digits) for _ in range(10))
        out.append(body + ean.calc_check_digit(body))
    return out


def draw(r: random.Random, valid: object, digits: int, n: int = N) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        v = "".join(r.choice(string.digits) for _ in range(digits))
        if valid(v):  # type: ignore[operator]
            out.append(v)
    return out


NAMES = ["Anna Schmidt", "Peter Müller", "Jean Dupont", "María García López", "Jan van der Berg",
         "Giulia Rossi", "Oliver Smith", "Sophie Martin", "Lukas Weber", "Emma de Vries",
         "Carlos Fernández", "Chiara Bianchi", "Thomas Brown", "Léa Moreau", "Sven Jansen",
         "Laura Romano", "James Wilson", "Fatima Khan", "Noah Fischer", "Elena Ricci"]  # fmt: skip


# ------------------------------------------------------------------------ names


def test_names_are_split_into_whole_tokens() -> None:
    assert tokens("ACADEMIC_YEAR_CODE") == ("academic", "year", "code")
    assert tokens("dateOfBirth") == ("date", "of", "birth")
    assert tokens("IPAddress") == ("ip", "address")
    assert tokens("Prénom") == ("prenom",)
    assert ColumnText("zip_count").derived and ColumnText("iban_country").derived
    assert ColumnText("phone_model").derived and ColumnText("card_last4").derived
    assert not ColumnText("born_at").derived and not ColumnText("address_line1").derived


def test_academic_year_code_is_not_a_card_security_code() -> None:
    codes = [
        r.choice(["2021/22", "2022/23", "2023/24", "AY2324"]) for r in [rnd()] for _ in range(N)
    ]
    assert classify("ACADEMIC_YEAR_CODE", codes).findings == ()
    assert (
        classify(
            "ACADEMIC_YEAR_CODE", [r.randrange(100, 999) for r in [rnd()] for _ in range(N)]
        ).findings
        == ()
    )


# ------------------------------------------------------------------------ each recogniser


def test_email() -> None:
    emails = [f"user.{i}+tag@example{i % 3}.com" for i in range(N)]
    result = classify("email", emails)
    assert top(result) == "email" and result.findings[0].confidence >= HIGH
    assert (
        result.findings[0].reason
        == f"name matches e-mail; {N} of {N} sampled values are e-mail addresses"
    )
    assert result.findings[0].tag == "pii=true" and result.findings[0].matched == N
    assert top(classify("contact", [f"Ann Lee <ann{i}@example.org>" for i in range(N)])) == "email"
    assert classify("email", ["not an address", "@", "a@b", "x@y."] * 15).findings == ()


def test_phone_in_every_written_form() -> None:
    numbers = ["+49 30 12345678", "+44 20 7946 0958", "+33 1 42 68 53 00", "0031 20 123 4567",
               "(201) 555-0123", "030 12345678", "+1 212-555-0100 ext. 23"] * 9  # fmt: skip
    assert top(classify("kontakt", numbers)) == "phone"
    named = classify("mobile", ["015112345678", "017612345678", "016098765432"] * 20)
    assert top(named) == "phone" and named.findings[0].name_match
    # digits after a trunk 0 are likely a phone number, not surely one
    mobiles = [f"0740{i:07d}" for i in range(1000000, 1000000 + N * 7919, 7919)]
    bare = classify("col_5", mobiles)
    assert top(bare) == "phone" and bare.findings[0].confidence < HIGH


def test_phone_negatives() -> None:
    assert classify("phone_model", ["iPhone 13", "Galaxy S22", "Pixel 7 Pro"] * 20).findings == ()
    result = classify("telephone", [1, 2] * 30, pa.int64())
    assert result.findings == ()
    assert result.notes == ("name suggests phone number, but no sampled value is one (60 checked)",)
    # bare digits are anyone's digits without a name that says phone
    assert (
        classify("order_no", [4930123456 + i * 7919 for i in range(N)], pa.int64()).findings == ()
    )
    assert classify("order_date", ["01/02/2023", "15.03.2023", "2023-04-01"] * 20).findings == ()


def test_iban() -> None:
    result = classify("col_3", ibans(rnd()))
    assert top(result) == "iban" and result.findings[0].confidence >= HIGH
    assert "are valid IBANs (mod-97)" in result.findings[0].reason
    assert classify("iban_country", ["DE", "FR", "NL", "GB"] * 15).findings == ()


def test_iban_shaped_values_that_fail_mod_97_need_the_name_and_stay_below_high() -> None:
    r = rnd()
    fake = [f"DE{r.randrange(10, 99)}{r.randrange(10**17, 10**18)}" for _ in range(N)]
    fake = [v for v in fake if not iban.is_valid(v)]
    named = classify("iban", fake)
    assert top(named) == "iban" and RECOMMEND <= named.findings[0].confidence < HIGH
    assert "fail mod-97" in named.findings[0].reason
    assert classify("reference", fake).findings == ()


def test_bank_account_needs_its_name() -> None:
    r = rnd()
    digits = [str(r.randrange(10**9, 10**10)) for _ in range(N)]
    for name in ("account_number", "kontonummer", "acct_no", "numero_cuenta"):
        assert top(classify(name, digits)) == "bank_account", name
    for name in ("order_id", "invoice_no", "tracking_number", "routing_number"):
        assert classify(name, digits).findings == (), name


def test_payment_card() -> None:
    r = rnd()
    result = classify("instrument", cards(r))
    assert top(result) == "payment_card" and result.findings[0].confidence >= HIGH
    as_ints = [int(c.replace("-", "")) for c in cards(r)]
    assert top(classify("cc_number", as_ints, pa.int64())) == "payment_card"
    # EANs, ISBNs and IMEIs carry their own check digits; they are not cards
    assert classify("ean", eans(r)).findings == ()
    assert classify("product_code", eans(r)).findings == ()
    imeis = []
    for _ in range(N):
        body = "35" + "".join(r.choice(string.digits) for _ in range(12))
        imeis.append(body + luhn.calc_check_digit(body))
    assert classify("device_serial", imeis).findings == ()


def test_national_identifiers_of_several_countries() -> None:
    r = rnd()
    ssns = [
        f"{r.randrange(100, 665)}-{r.randrange(10, 99)}-{r.randrange(1000, 9999)}" for _ in range(N)
    ]
    dnis = [(b := f"{r.randrange(10**8):08d}") + dni.calc_check_digit(b) for _ in range(N)]
    cfs = []
    for _ in range(N):
        body = "".join(r.choice("BCDFGLMNPRST") for _ in range(6)) + f"{r.randrange(40, 99)}"
        body += (
            "ABCDEHLMPRST"[r.randrange(12)] + f"{r.randrange(1, 28):02d}Z{r.randrange(100, 999)}"
        )
        cfs.append(body + codicefiscale.calc_check_digit(body))
    nirs = []
    for _ in range(N):
        body = f"1{r.randrange(40, 99)}{r.randrange(1, 12):02d}{r.randrange(1, 95):02d}"
        body += f"{r.randrange(1, 990):03d}{r.randrange(1, 999):03d}"
        nirs.append(body + nir.calc_check_digits(body))
    columns = {
        "US SSN": ssns,
        "German tax ID": draw(r, idnr.is_valid, 11),
        "Dutch BSN": draw(r, bsn.is_valid, 9),
        "Spanish DNI": dnis,
        "Italian fiscal code": cfs,
        "French NIR": nirs,
        "UK NINO": [f"AB{r.randrange(10**5, 10**6)}{r.choice('ABCD')}" for _ in range(N)],
    }
    for what, values in columns.items():
        result = classify("document_no", values)
        assert top(result) == "national_id", what
        assert "sampled values are valid" in result.findings[0].reason
    # nine random digits pass BSN's 11-proof one time in eleven: no evidence
    shipment = [str(r.randrange(10**8, 10**9)) for _ in range(N)]
    assert classify("shipment_id", shipment).findings == ()


def test_customer_identifiers_are_led_by_the_name() -> None:
    codes = [f"C{100000 + i}" for i in range(N)]
    result = classify("customer_id", codes)
    assert top(result) == "customer_id" and result.findings[0].confidence >= HIGH
    assert result.findings[0].reason == (
        f"name matches customer identifier; {N} of {N} sampled values "
        f"are identifier-shaped codes; {N} distinct"
    )
    assert top(classify("kundennummer", list(range(1000, 1000 + N)), pa.int64())) == "customer_id"
    assert top(classify("account_id", codes)) == "customer_id"
    for name in (
        "order_id",
        "sku",
        "product_id",
        "transaction_id",
        "zip_count",
        "academic_year_code",
    ):
        assert classify(name, codes).findings == (), name


def test_date_of_birth() -> None:
    r = rnd()
    births = [date(1940, 1, 1) + timedelta(days=r.randrange(365 * 60)) for _ in range(N)]
    result = classify("date_of_birth", births, pa.date32())
    assert top(result) == "date_of_birth" and result.findings[0].confidence >= HIGH
    texts = [d.strftime("%d.%m.%Y") for d in births]
    assert top(classify("geburtsdatum", texts)) == "date_of_birth"
    assert top(classify("dob", [d.isoformat() + "T00:00:00Z" for d in births])) == "date_of_birth"
    orders = [date(2023, 1, 1) + timedelta(days=r.randrange(700)) for _ in range(N)]
    assert classify("order_date", orders, pa.date32()).findings == ()
    future = [date.today() + timedelta(days=30 + i) for i in range(N)]
    assert classify("date_of_birth", future, pa.date32()).findings == ()
    assert classify("birth_place", ["Berlin", "Paris"] * 30).findings == ()


def test_birth_dates_without_a_name_stay_below_high() -> None:
    r = rnd()
    births = [date(1945, 1, 1) + timedelta(days=r.randrange(365 * 55)) for _ in range(N)]
    result = classify("col_4", births, pa.date32())
    assert top(result) == "date_of_birth" and result.findings[0].confidence < HIGH
    signups = [date(2015, 1, 1) + timedelta(days=r.randrange(3000)) for _ in range(N)]
    assert classify("col_4", signups, pa.date32()).findings == ()


def test_postal_address() -> None:
    lines = ["Hauptstraße 12, 10115 Berlin", "12 Main Street", "5 bis rue de Rivoli, 75001 Paris",
             "Calle Mayor 12, 28013 Madrid", "Via Roma, 15", "Kerkstraat 5a", "221B Baker St",
             "Am Markt 3", "Flat 3, 27 Church Lane, Leeds LS1 4AP", "C/ Real 4"] * 6  # fmt: skip
    assert top(classify("location", lines)) == "postal_address"
    named = classify("address", lines)
    assert named.findings[0].confidence >= HIGH
    assert classify("city", ["Berlin", "Paris", "Madrid", "Roma", "Leeds"] * 12).findings == ()
    assert classify("ip_address", ["10.0.0.1", "192.168.1.7"] * 30)  # not a postal address
    assert (
        top(
            classify(
                "ip_address", ["10.0.0.1", "192.168.1.7", "8.8.8.8", "1.1.1.1", "9.9.9.9"] * 12
            )
        )
        == "ip_address"
    )


def test_ip_address() -> None:
    r = rnd()
    ips = [".".join(str(r.randrange(1, 255)) for _ in range(4)) for _ in range(N // 2)]
    ips += [f"2001:db8::{r.randrange(65536):x}" for _ in range(N // 2)]
    assert top(classify("col_11", ips)) == "ip_address"
    assert (
        classify(
            "app_version",
            [f"{r.randrange(5)}.{r.randrange(20)}.{r.randrange(30)}" for _ in range(N)],
        ).findings
        == ()
    )
    quads = [
        f"{r.randrange(1, 9)}.{r.randrange(10)}.{r.randrange(10)}.{r.randrange(200)}"
        for _ in range(N)
    ]
    assert classify("build_version", quads).findings == ()


def test_person_names() -> None:
    result = classify("full_name", NAMES * 3)
    assert top(result) == "person_name" and result.findings[0].confidence >= HIGH
    assert top(classify("nachname", [n.split()[-1] for n in NAMES] * 3)) == "person_name"
    # values alone are evidence, but never high: there is no model to ask
    neutral = classify("kontakt", NAMES * 3)
    assert top(neutral) == "person_name" and neutral.findings[0].confidence < HIGH


def test_innocent_text_is_not_a_person_name() -> None:
    products = ["Ergonomic Office Chair", "Steel Water Bottle", "Wireless Mouse", "Standing Desk",
                "Garden Hose", "Espresso Machine", "Yoga Mat", "Hiking Backpack"]  # fmt: skip
    columns = {
        "product_name": products,
        "name": products,
        "city": ["Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Sevilla", "Austin", "Leeds"],
        "country": ["Germany", "France", "Spain", "Italy", "Jordan", "United Kingdom"],
        "category": ["Electronics", "Garden", "Kitchen", "Toys", "Sports", "Books"],
        "company_name": ["Müller Logistik GmbH", "Acme Corp", "Dupont SARL", "Fischer Bau AG"],
        "street": ["Victoria Road", "Albert Street", "George Street", "King Street"],
        "colour": ["Black", "White", "Green", "Brown", "Gray", "Olive", "Rose"],
        "notes": ["Customer asked for delivery after 5pm.", "Damaged on arrival, replaced."],
    }
    for name, values in columns.items():
        result = classify(name, values * (N // len(values) + 1))
        assert "person_name" not in {f.recogniser for f in result.findings}, name


# ------------------------------------------------------------------------ names vs values


def test_a_name_alone_is_never_recommended() -> None:
    garbage = ["n/a", "unknown", "-", "see file", "tbd", "none given"] * 10
    for name in ("email", "phone", "iban", "card_number", "ssn", "customer_id", "date_of_birth",
                 "address", "ip_address", "first_name", "account_number"):  # fmt: skip
        result = classify(name, garbage)
        assert result.findings == (), name
        assert result.notes and "suggests" in result.notes[0], name


def test_name_and_values_together_reach_high_values_alone_may() -> None:
    named = classify("email", [f"a{i}@example.com" for i in range(N)])
    assert named.findings[0].name_match and named.findings[0].confidence > HIGH
    for finding in named.findings:
        assert finding.matched > 0 or finding.confidence < HIGH


def test_values_beat_a_misleading_name() -> None:
    emails = [f"a{i}@example.com" for i in range(N)]
    assert top(classify("notes", emails)) == "email"
    assert top(classify("phone", emails)) == "email"
    assert top(classify("customer_name", ibans(rnd()))) == "iban"


# ------------------------------------------------------------------------ never a value


def mixed_table() -> pa.Table:
    r = rnd(11)
    return pa.table(
        {
            "email": [f"jane.doe{i}@example.com" for i in range(N)],
            "iban": ibans(r),
            "card": cards(r),
            "full_name": (NAMES * 3)[:N],
            "customer_id": [f"CUST-{i:06d}" for i in range(N)],
            "address": [f"{i} Main Street" for i in range(1, N + 1)],
            "phone": [f"+49 30 {r.randrange(10**7, 10**8)}" for _ in range(N)],
            "iban_country": ["DE", "NL", "FR"] * (N // 3),
            "telephone": [1, 2] * (N // 2),
        }
    )


def test_reasons_and_notes_never_quote_a_value() -> None:
    table = mixed_table()
    results = classify_table(
        [(n, str(table.schema.field(n).type), None) for n in table.column_names], table
    )
    assert sum(len(r.findings) for r in results) >= 7
    for result in results:
        values = {str(v) for v in table.column(result.column).to_pylist() if len(str(v)) > 3}
        for text in [f.reason for f in result.findings] + list(result.notes):
            assert not any(v in text for v in values), (result.column, text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.emails(),
            st.text(
                alphabet=string.ascii_letters + string.digits + " .-+@", min_size=5, max_size=40
            ),
            st.from_regex(r"\+49 30 [0-9]{7,8}", fullmatch=True),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(["email", "notes", "phone", "customer_id", "full_name", "iban", "col_1"]),
)
def test_no_reason_quotes_a_value(values: list[str], name: str) -> None:
    result = classify(name, values)
    texts = [f.reason for f in result.findings] + list(result.notes)
    for value in {v.strip() for v in values if len(v.strip()) >= 5}:
        assert not any(value in text for text in texts)


# ------------------------------------------------------------------------ bad input


def test_binary_and_nested_columns_are_skipped() -> None:
    cases = {
        "binary column": pa.array([b"\x00\x01", b"abc"]),
        "nested column": pa.array([{"a": 1}, {"a": 2}]),
    }
    for reason, arr in cases.items():
        assert classify_column("c", arr, type=str(arr.type)).skipped == reason
    for arr in (pa.array([[1, 2], [3]]), pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))):
        assert classify_column("c", arr, type=str(arr.type)).skipped == "nested column"
    # the declared type decides even when the sample holds only nulls
    assert classify_column("c", pa.array([None, None]), type="binary").skipped == "binary column"
    assert (
        classify_column("c", pa.array([None]), type="struct<a: int64>").skipped == "nested column"
    )


def test_all_null_and_empty_columns_are_skipped() -> None:
    for arr in (pa.array([None, None], pa.string()), pa.array([], pa.null()), pa.array([None] * 5)):
        result = classify_column("email", arr, type="string")
        assert result.skipped == "no non-null values in the sample" and result.findings == ()
    assert classify_column("email", pa.array(["", "  "]), type="string").skipped is not None
    chunked = pa.chunked_array([], pa.string())
    assert classify_column("email", chunked, type="string").skipped is not None


def test_an_empty_table_skips_every_column() -> None:
    table = pa.table({"email": pa.array([], pa.string()), "id": pa.array([], pa.int64())})
    results = classify_table(
        [("email", "string", None), ("id", "int64", None), ("gone", "string", None)], table
    )
    assert [r.skipped for r in results] == ["no rows in the sample"] * 3
    one = pa.table({"email": ["a@example.com"]})
    assert classify_table([("gone", "string", None)], one)[0].skipped == "column not in the sample"


@pytest.mark.timeout(20)
def test_huge_cells_are_not_read() -> None:
    huge = "x" * 10_000_000
    result = classify("notes", [huge] * 5 + [f"a{i}@example.com" for i in range(N)])
    assert top(result) == "email" and "5 long text values not examined" in result.findings[0].reason
    only = classify("notes", [huge, huge + "y"])
    assert only.skipped is not None and "long text" in only.skipped


def test_mixed_garbage_gives_no_finding_and_no_crash() -> None:
    r = rnd(3)
    garbage: list[str] = []
    for i in range(200):
        kind = i % 5
        if kind == 0:
            garbage.append("".join(chr(r.randrange(32, 0x2FFF)) for _ in range(r.randrange(1, 40))))
        elif kind == 1:
            garbage.append(str(r.random()))
        elif kind == 2:
            garbage.append(f"user{i}@example.com")
        elif kind == 3:
            garbage.append("\u0000\ufffd" * r.randrange(1, 5))
        else:
            garbage.append(
                " ".join(r.choice(["Anna", "DE89", "+49", "12", "Street"]) for _ in range(3))
            )
    for name in ("col", "email", "phone", "address", "first_name"):
        result = classify(name, garbage)
        assert result.skipped is None and result.findings == (), name


def test_other_arrow_types() -> None:
    emails = [f"a{i}@example.com" for i in range(N)]
    for typ in (pa.large_string(), pa.string_view()):
        assert top(classify_column("e", pa.array(emails, typ), type=str(typ))) == "email"
    encoded = pa.array(emails).dictionary_encode()
    assert top(classify_column("e", encoded, type=str(encoded.type))) == "email"
    chunked = pa.chunked_array([emails[:10], emails[10:]])
    assert top(classify_column("e", chunked, type="string")) == "email"
    for arr in (
        pa.array([1.5, 2.5]),
        pa.array([True, False]),
        pa.array([1, 2], pa.decimal128(12, 2)),
    ):
        result = classify_column("phone", arr, type=str(arr.type))
        assert result.skipped is None and result.findings == ()


# ------------------------------------------------------------------------ declared recognisers

EMPLOYEES = """\
recognisers:
  - name: employee_id
    tag: pii=true
    pattern: '^EMP-[0-9]{6}$'
    names: ['emp(loyee)?_?(id|no|number)']
    description: staff numbers
  - name: loyalty_card
    pattern: '[0-9]{12}'
    validator: luhn
  - name: staff_code
    tag: confidential=internal
    pattern: '[0-9]{5}'
    names: ['staff_?code']
    needs_name: true
"""


def test_a_domain_declares_its_own_recognisers() -> None:
    custom = load_recognisers(EMPLOYEES, "sales/recognisers.yaml")
    registry = default_registry().with_custom(custom)
    assert [r.name for r in custom] == ["employee_id", "loyalty_card", "staff_code"]
    employees = [f"EMP-{i:06d}" for i in range(N)]
    named = classify_column("emp_no", pa.array(employees), type="string", registry=registry)
    assert top(named) == "employee_id" and named.findings[0].confidence >= HIGH
    assert (
        named.findings[0].reason
        == f"name matches employee id; {N} of {N} sampled values match employee id's pattern"
    )
    alone = classify_column("col", pa.array(employees), type="string", registry=registry)
    assert top(alone) == "employee_id" and alone.findings[0].confidence < HIGH
    r = rnd()
    loyalty = [
        (b := "".join(r.choice(string.digits) for _ in range(11))) + luhn.calc_check_digit(b)
        for _ in range(N)
    ]
    result = classify_column("card", pa.array(loyalty), type="string", registry=registry)
    assert top(result) == "loyalty_card" and "pass luhn" in result.findings[0].reason
    codes = pa.array([f"{r.randrange(10000, 99999)}" for _ in range(N)])
    staff = classify_column("staff_code", codes, type="string", registry=registry)
    assert top(staff) == "staff_code" and staff.findings[0].tag == "confidential=internal"
    assert classify_column("zip", codes, type="string", registry=registry).findings == ()
    assert default_registry().get("employee_id") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("recognisers: [", "recognisers.yaml:1: not valid YAML"),
        (
            "recognisers:\n  - name: x\n    patern: 'A[0-9]+'\n",
            "recognisers.yaml:3: unknown key 'patern'",
        ),
        ("recognisers:\n  - name: x\n", "recognisers.yaml:2: missing 'pattern'"),
        (
            "recognisers:\n  - name: x\n    pattern: '(?=A)B[0-9]+'\n",
            "recognisers.yaml:3: pattern is not a valid RE2",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: 'A[0-9]+'\n    validator: os.path\n",
            "recognisers.yaml:4: unknown validator 'os.path'",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: 'A[0-9]+'\n    validator: '../evil'\n",
            "recognisers.yaml:4: unknown validator",
        ),
        (
            "recognisers:\n  - name: email\n    pattern: 'A[0-9]+'\n",
            "recognisers.yaml:2: 'email' is a builtin",
        ),
        (
            "recognisers:\n  - name: Bad-Name\n    pattern: 'A[0-9]+'\n",
            "recognisers.yaml:2: name 'Bad-Name' is not",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: '.*'\n",
            "recognisers.yaml:3: pattern matches ordinary values",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: 'A[0-9]+'\n    tag: pii\n",
            "recognisers.yaml:4: tag 'pii' is not",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: 'A[0-9]+'\n"
            "  - name: x\n    pattern: 'B[0-9]+'\n",
            "recognisers.yaml:4: 'x' is declared twice",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: '" + "A" * 400 + "'\n",
            "recognisers.yaml:3: pattern is longer",
        ),
        (
            "recognisers:\n  - name: x\n    pattern: 'A[0-9]+'\n    needs_name: maybe\n",
            "recognisers.yaml:4: 'needs_name' must be",
        ),
        ("other: 1\n", "recognisers.yaml:1: unknown key 'other'"),
        ("", "recognisers.yaml: the file is empty"),
        ("recognisers: 3\n", "recognisers.yaml:1: 'recognisers' must be a list"),
    ],
)
def test_declared_recogniser_refusals_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_recognisers(text, "recognisers.yaml")
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_registry_refuses_a_name_twice() -> None:
    custom = load_recognisers(EMPLOYEES, "a.yaml")
    registry = default_registry().with_custom(custom)
    with pytest.raises(InvalidInput, match="employee_id"):
        registry.with_custom(load_recognisers(EMPLOYEES, "b.yaml"))


def test_values_a_recogniser_proves_beat_a_name_led_finding() -> None:
    ips = pa.array([f"10.{i % 250}.{i % 7}.{i % 200 + 1}" for i in range(200)])
    result = classify_column("last_login_ip", ips, type="string")
    assert [f.recogniser for f in result.findings] == ["ip_address"]
    logins = pa.array([f"user{i:04d}" for i in range(200)])
    assert [f.recogniser for f in classify_column("login", logins, type="string").findings] == [
        "customer_id"
    ]
