"""``lakemesh demo``: the story of SPEC section 4, end to end, on the embedded defaults.

Each mesh step runs the real CLI (printed as ``$ lakemesh ...``) so the demo is also a
smoke test of the command-line contract. The producers' own work (landing raw files,
curating them) is plain pyarrow, as a domain's pipeline would be.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shlex
import tempfile
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakemesh.errors import InvalidInput, LakemeshError, MissingExtra

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


JOIN_SQL = (
    "SELECT c.customer_id, c.iban, c.purpose, c.credit_amount, c.creditability, "
    "h.asset_class, h.market_value_eur "
    "FROM consumer_banking.curated.consumer_credit_profile c "
    "JOIN investment_banking.wealth.customer_holdings h ON h.customer_id = c.customer_id "
    "WHERE h.month = '2024-03' ORDER BY c.credit_amount DESC LIMIT 5"
)


def find_data() -> Path:
    """The German credit data shipped in the package (``$LAKEMESH_DEMO_DATA`` overrides).

    Nothing is looked up outside the package: a wheel or a fresh clone is all the demo
    needs."""
    env = os.environ.get("LAKEMESH_DEMO_DATA")
    folder = Path(env) if env else Path(str(resources.files(__name__) / "data" / "german_credit"))
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
    ibans = [f"DE{_h(i, 3) % 90 + 10:02d}{_h(i, 4) % 10**18:018d}" for i in range(n)]
    identifiers = {"customer_id": ids, "full_name": names, "email": emails, "iban": ibans}
    curated = pa.table({**identifiers, **{c: table[c] for c in table.column_names}})
    fields = [f.with_metadata({"description": notes[f.name]}) for f in curated.schema]
    return curated.cast(pa.schema(fields, metadata={"description": PRODUCT_DESCRIPTION}))


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
    return int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8], "big")


class ModelScore(NamedTuple):
    train_rows: int
    test_rows: int
    accuracy: float
    auc: float


def train_credit_model(path: Path) -> ModelScore:
    """Story step 5's model: predict ``creditability`` from the product's features.

    Identifier columns (customer_id, full_name, email, iban) reach the consumer as keyed
    hashes: unique per customer, they carry no signal, so they are dropped. Categorical
    features are one-hot encoded; the split is stratified and seeded, so the score is the
    same on every run."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ModuleNotFoundError as e:
        raise MissingExtra("scikit-learn", "ml") from e
    import pandas as pd

    frame = pq.read_table(path).to_pandas()
    target = (frame.pop("creditability") == "good").astype(int)
    features = frame.drop(columns=[c for c in IDENTIFIER_NOTES if c in frame.columns])
    encoded = pd.get_dummies(features, dtype=float)  # text columns one-hot, numbers as-is
    x_train, x_test, y_train, y_test = train_test_split(
        encoded, target, test_size=0.25, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    probabilities = model.predict_proba(x_test)[:, 1]
    return ModelScore(
        len(x_train),
        len(x_test),
        float(accuracy_score(y_test, model.predict(x_test))),
        float(roc_auc_score(y_test, probabilities)),
    )


class Story:
    def __init__(self, base: Path, home: Path | None = None) -> None:
        self.base = base
        self.home = home or base / "mesh"

    def say(self, text: str) -> None:
        print(f"\n== {text}", flush=True)

    def run(self, *args: str) -> None:
        from lakemesh.cli import main

        argv = [*args, "--home", str(self.home)]
        print("$ lakemesh " + " ".join(shlex.quote(a) for a in args), flush=True)
        code = main(argv)
        if code != 0:
            raise LakemeshError(f"demo step failed (exit {code}): lakemesh {' '.join(args)}")

    def tell(self) -> None:
        data = find_data()
        roots = {
            d: self.base / "domains" / d
            for d in ("consumer_banking", "investment_banking", "analytics")
        }
        self.say("1. A mesh with three domains")
        self.run("init")
        self.run(
            "domain",
            "create",
            "consumer_banking",
            "--storage",
            str(roots["consumer_banking"]),
            "--create",
            "--kind",
            "producer",
            "--owner",
            "steward@consumer_banking",
        )
        self.run(
            "domain",
            "create",
            "investment_banking",
            "--storage",
            str(roots["investment_banking"]),
            "--create",
            "--kind",
            "producer",
            "--owner",
            "steward@investment_banking",
        )
        self.run(
            "domain",
            "create",
            "analytics",
            "--storage",
            str(roots["analytics"]),
            "--create",
            "--kind",
            "consumer",
            "--owner",
            "admin@analytics",
        )
        self.run("domain", "list")

        self.say("2. consumer_banking lands raw German credit data and curates it")
        cb = roots["consumer_banking"]
        landed = cb / "raw" / "kredit_raw" / "kredit_raw.csv"
        landed.parent.mkdir(parents=True, exist_ok=True)
        landed.write_bytes((data / "kredit_raw.csv").read_bytes())
        print(f"landed {landed.relative_to(self.base)}")
        curated = curate_credit(landed, data / "columns.csv")
        target = cb / "curated" / "consumer_credit_profile" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(curated, target)
        print(
            f"curated {curated.num_rows} rows, {curated.num_columns} columns (German -> "
            f"English headers, customer identifiers added) -> {target.relative_to(self.base)}"
        )
        ib = roots["investment_banking"]
        ids = pc.unique(curated["customer_id"]).to_pylist()
        for month, tbl in holdings(ids).items():
            path = ib / "wealth" / "customer_holdings" / f"month={month}" / "part-0.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(tbl, path)
        print("investment_banking wrote wealth/customer_holdings (3 monthly partitions)")

        self.say("Each producer crawls its own storage into its own catalog")
        self.run("crawl", "consumer_banking")
        self.run("crawl", "investment_banking")
        self.say("The central catalog syncs every domain catalog")
        self.run("sync")
        self.run("sync", "status")
        self.run("search", "credit history")
        self.run("show", "consumer_banking.curated.consumer_credit_profile", "--partitions", "5")
        self.run("show", "investment_banking.wealth.customer_holdings")
        self.govern()
        self.say(f"Done. The mesh is at {self.home}")

    def govern(self) -> None:
        """Story part: tags, a mask, a filtered share to analytics, delegation, explain."""
        cb, ib = "steward@consumer_banking", "steward@investment_banking"
        product = "consumer_banking.curated.consumer_credit_profile"
        self.say("3. Identities: each domain's people (tokens are shown once)")
        for user, role in (
            (cb, "steward"),
            (ib, "steward"),
            ("admin@analytics", "admin"),
            ("analyst@analytics", "member"),
        ):
            self.run("user", "create", user, "--role", role)
        self.say("consumer_banking tags its product; the tag drives a mask")
        self.run("tag", "define", "pii", "--values", "true,false")
        self.run("tag", "assign", "consumer_banking.curated", "pii=false", "--as", cb)
        for column in ("customer_id", "full_name", "email", "iban"):
            self.run("tag", "assign", f"{product}.{column}", "pii=true", "--as", cb)
        self.run(
            "tag",
            "assign",
            "investment_banking.wealth.customer_holdings.customer_id",
            "pii=true",
            "--as",
            ib,
        )
        self.run("mask", "--tag", "pii=true", "--with", "hash")
        self.say(
            "consumer_banking shares the product with analytics: adults' credits "
            "under 15,000 DM, grantable, for 90 days"
        )
        self.run(
            "grant",
            "SELECT",
            "--on",
            product,
            "--to",
            "analytics",
            "--row-filter",
            "age_in_years >= 18 AND credit_amount < 15000",
            "--grantable",
            "--expires",
            "90d",
            "--as",
            cb,
        )
        self.run(
            "grant",
            "SELECT",
            "--on",
            "investment_banking.wealth.customer_holdings",
            "--to",
            "analytics",
            "--grantable",
            "--as",
            ib,
        )
        self.say("The analytics admin delegates to an analyst (never wider than analytics)")
        self.run(
            "grant",
            "SELECT",
            "--on",
            product,
            "--to",
            "analyst@analytics",
            "--as",
            "admin@analytics",
        )
        self.run(
            "grant",
            "SELECT",
            "--on",
            "investment_banking.wealth.customer_holdings",
            "--to",
            "analyst@analytics",
            "--as",
            "admin@analytics",
        )
        self.run("search", "credit", "--as", "analyst@analytics")
        self.run("access", "explain", product, "--as", "analyst@analytics")
        self.run("access", "explain", product, "--as", "admin@analytics")
        self.say(
            "5. The analyst queries in place, joining two domains: PII comes back masked "
            "(a keyed hash, so the join on masked customer ids still works)"
        )
        self.run("query", JOIN_SQL, "--as", "analyst@analytics")
        self.say(
            "The same query on Spark (local mode): the same policy inside every table "
            "reference, the same answer"
        )
        self.run("query", JOIN_SQL, "--as", "analyst@analytics", "--engine", "spark")
        answers = []
        for engine in ("duckdb", "spark"):
            out = self.base / f"join-{engine}.json"
            self.run(
                "query",
                JOIN_SQL,
                "--as",
                "analyst@analytics",
                "--engine",
                engine,
                "--format",
                "json",
                "--output",
                str(out),
            )
            answers.append(json.loads(out.read_text()))
        if answers[0] != answers[1]:
            raise LakemeshError("demo: DuckDB and Spark returned different answers")
        print(f"DuckDB and Spark returned the same {len(answers[0])} rows.", flush=True)
        self.run(
            "query",
            f"SELECT count(*) AS applications, max(credit_amount) AS largest FROM {product}",
            "--as",
            "analyst@analytics",
        )
        self.say(
            "The analyst trains a credit-risk model (scikit-learn) on the governed result: "
            "the hashed identifiers are left out, the filtered rows never arrive"
        )
        training = self.base / "credit-training.parquet"
        self.run(
            "query",
            f"SELECT * FROM {product}",
            "--as",
            "analyst@analytics",
            "--format",
            "parquet",
            "--output",
            str(training),
        )
        score = train_credit_model(training)
        print(
            f"logistic regression on {score.train_rows} applications: accuracy "
            f"{score.accuracy:.3f}, ROC AUC {score.auc:.3f} on {score.test_rows} held out",
            flush=True,
        )
        self.say("6. The audit chain verifies")
        self.run("audit", "list", "--limit", "8")
        self.run("audit", "verify")


def run_demo(directory: str | None = None, home: str | None = None) -> tuple[Path, Path]:
    """Tell the story in a fresh directory; returns it and the mesh home."""
    if directory:
        base = Path(directory).expanduser().absolute()
        if base.exists() and any(base.iterdir()):
            raise InvalidInput(f"demo directory {base} is not empty")
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="lakemesh-demo-"))
    story = Story(base, Path(home).expanduser().absolute() if home else None)
    story.tell()
    return base, story.home
