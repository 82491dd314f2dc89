"""The demo's example data: the German credit files shipped in ``data/``, curated into
consumer_banking's product, and investment_banking's holdings of the same customers.

Everything is deterministic (identifiers and amounts come from hashes of the row
number), so every run of the demo tells the same story with the same numbers.
"""

from __future__ import annotations

import csv
import hashlib
import os
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from lakemesh.errors import InvalidInput

FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Eva",
    "Felix",
    "Greta",
    "Hans",
    "Ida",
    "Jonas",
    "Klara",
    "Lukas",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Stefan",
    "Tina",
    "Uwe",
]
LAST = [
    "Becker",
    "Fischer",
    "Hoffmann",
    "Koch",
    "Meyer",
    "Müller",
    "Richter",
    "Schäfer",
    "Schmidt",
    "Schneider",
    "Schulz",
    "Wagner",
    "Weber",
    "Wolf",
    "Zimmermann",
]


PRODUCT_DESCRIPTION = (
    "Consumer credit profile: one row per credit application with the applicant's "
    "account, credit history, purpose and creditability (good/bad)"
)
IDENTIFIER_NOTES = {
    "customer_id": "bank customer number",
    "full_name": "customer's full name",
    "email": "customer's e-mail address",
    "iban": "customer's account number (IBAN)",
}


def find_contract() -> Path:
    """The ODCS contract consumer_banking publishes its product with (in the package)."""
    return (
        Path(__file__).resolve().parent / "data" / "contracts" / "consumer_credit_profile.odcs.yaml"
    )


def find_data() -> Path:
    """The German credit data shipped in the package (``$LAKEMESH_DEMO_DATA`` overrides).

    Nothing is looked up outside the package: a wheel or a fresh clone is all the demo
    needs."""
    env = os.environ.get("LAKEMESH_DEMO_DATA")
    folder = (
        Path(env) if env else Path(str(resources.files("lakemesh.demo") / "data" / "german_credit"))
    )
    for name in ("kredit_raw.csv", "columns.csv"):
        if not (folder / name).is_file():
            where = "LAKEMESH_DEMO_DATA" if env else "the installed package"
            raise InvalidInput(f"demo data incomplete: {folder / name} is missing ({where})")
    return folder


def curate_credit(raw_csv: Path, columns_csv: Path) -> pa.Table:
    """Raw German headers -> the English 'consumer credit profile', plus deterministic
    customer identifiers (the raw data has none; classification needs some)."""
    raw = pacsv.read_csv(raw_csv)
    with open(columns_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    mapping = {row["german"]: row["english"] for row in rows}
    notes = {row["english"]: row["description"] for row in rows} | IDENTIFIER_NOTES
    missing = [c for c in raw.column_names if c not in mapping]
    if missing:
        raise InvalidInput(f"curation map has no English name for {missing}")
    table = raw.rename_columns([mapping[c] for c in raw.column_names])
    n = table.num_rows
    ids = [f"C{100000 + i}" for i in range(n)]
    names = [f"{FIRST[_h(i, 1) % len(FIRST)]} {LAST[_h(i, 2) % len(LAST)]}" for i in range(n)]
    emails = [
        f"{nm.lower().replace(' ', '.').replace('ü', 'ue').replace('ä', 'ae')}{i}@example.com"
        for i, nm in enumerate(names)
    ]
    ibans = [_iban(_h(i, 4) % 10**18) for i in range(n)]
    identifiers = {"customer_id": ids, "full_name": names, "email": emails, "iban": ibans}
    curated = pa.table({**identifiers, **{c: table[c] for c in table.column_names}})
    fields = [f.with_metadata({"description": notes[f.name]}) for f in curated.schema]
    return curated.cast(pa.schema(fields, metadata={"description": PRODUCT_DESCRIPTION}))


def _iban(number: int) -> str:
    """A German IBAN with valid check digits (the classifier checks them: mod-97)."""
    from stdnum import iban

    bban = f"{number:018d}"
    return f"DE{iban.calc_check_digits('DE00' + bban)}{bban}"


def holdings(customer_ids: list[str]) -> dict[str, pa.Table]:
    """Investment banking's product: monthly holdings of (some of) the same customers."""
    out = {}
    for month in ("2024-01", "2024-02", "2024-03"):
        rows = [
            (
                cid,
                ["equity", "bonds", "funds"][_h(i, 5) % 3],
                round((_h(i, 6 + int(month[-1])) % 500_000) / 10, 2),
            )
            for i, cid in enumerate(customer_ids)
            if _h(i, 7) % 3 == 0
        ]
        out[month] = pa.table(
            {
                "customer_id": [r[0] for r in rows],
                "asset_class": [r[1] for r in rows],
                "market_value_eur": pa.array([r[2] for r in rows], pa.float64()),
            }
        )
    return out


def _h(i: int, salt: int) -> int:
    """A stable pseudo-random number for row ``i`` (``salt`` picks the attribute): the
    same on every run and every machine, unlike ``random`` or ``hash``."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8], "big")
