"""The demo's story: one method per step of SPEC section 4, told in order by ``tell``.

Every mesh action is the real CLI, printed as ``$ lakemesh ...`` before it runs; the
headings and those commands are the demo's output, so a change here changes what
``lakemesh demo`` shows (tests/test_demo.py reads it).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakemesh.demo.datasets import (
    IDENTIFIER_NOTES,
    curate_credit,
    find_contract,
    find_data,
    holdings,
)
from lakemesh.demo.model import train_credit_model
from lakemesh.errors import LakemeshError
from lakemesh.events.mail import SmtpSettings
from lakemesh.products.lineage import Dataset, emit_run

#: Step 1's domains: name, kind, owner.
DOMAINS = (
    ("consumer_banking", "producer", "steward@consumer_banking"),
    ("investment_banking", "producer", "steward@investment_banking"),
    ("analytics", "consumer", "admin@analytics"),
)
CB_STEWARD, IB_STEWARD = "steward@consumer_banking", "steward@investment_banking"
ANALYTICS_ADMIN, ANALYST = "admin@analytics", "analyst@analytics"
PRODUCT = "consumer_banking.curated.consumer_credit_profile"
HOLDINGS = "investment_banking.wealth.customer_holdings"

JOIN_SQL = (
    "SELECT c.customer_id, c.iban, c.purpose, c.credit_amount, c.creditability, "
    "h.asset_class, h.market_value_eur "
    "FROM consumer_banking.curated.consumer_credit_profile c "
    "JOIN investment_banking.wealth.customer_holdings h ON h.customer_id = c.customer_id "
    "WHERE h.month = '2024-03' ORDER BY c.credit_amount DESC LIMIT 5"
)


class Story:
    """The demo told in ``base``: the domains' storage under ``base/domains``, the mesh
    in ``home`` (default ``base/mesh``)."""

    def __init__(self, base: Path, home: Path | None = None) -> None:
        self.base = base
        self.home = home or base / "mesh"
        self.roots = {name: base / "domains" / name for name, _, _ in DOMAINS}
        self._columns: list[str] = []
        #: What each step did, in one line, and how long it took: the closing summary.
        self.summary: list[tuple[str, float]] = []
        self.auc: float | None = None

    def say(self, text: str) -> None:
        """A heading, flushed so that it lands between the commands' own output."""
        print(f"\n== {text}", flush=True)

    def run(self, *args: str) -> None:
        """One CLI command on the demo's mesh, printed as a user would type it; a
        command that fails stops the story (the demo doubles as a smoke test)."""
        from lakemesh.cli import main

        argv = [*args, "--home", str(self.home)]
        print("$ lakemesh " + " ".join(shlex.quote(a) for a in args), flush=True)
        code = main(argv)
        if code != 0:
            raise LakemeshError(f"demo step failed (exit {code}): lakemesh {' '.join(args)}")

    def tell(self) -> None:
        """SPEC 4, step by step. The data is looked up first, so a missing file fails
        before any mesh is made."""
        data = find_data()
        started = time.monotonic()
        self.step(
            "three domains, each with its own storage, catalog and people", self.create_domains
        )
        self.step(
            "raw German credit data curated to English, crawled, synced; lineage ingested",
            lambda: self.publish_products(data),
        )
        self.step(
            "classified; the stewards accepted pii=true; masked; products registered",
            self.classify_and_register,
        )
        self.step(
            "shared, found by search, requested: auto-approved, then approved by mail link",
            self.share_and_find,
        )
        self.step(
            "queried in place across two domains on DuckDB and Spark; model trained",
            self.query_and_train,
        )
        self.step(
            "audit chain verified; events, dead-letter queue and inbox listed", self.verify_audit
        )
        self.say("The story, step by step")
        for n, (line, seconds) in enumerate(self.summary, 1):
            print(f"{n}. {line:<80} {seconds:6.1f} s")
        if self.auc is not None:
            print(f"credit-risk model ROC AUC on the held-out split: {self.auc:.3f}")
        print(f"whole story: {time.monotonic() - started:.1f} s")
        self.say(f"Done. The mesh is at {self.home}")

    def classify_and_register(self) -> None:
        self.classify_and_mask()
        self.register_products()

    def step(self, line: str, run: Callable[[], object]) -> None:
        """Run one step of the story and print its one-line summary with its timing."""
        started = time.monotonic()
        run()
        seconds = time.monotonic() - started
        self.summary.append((line, seconds))
        print(f"-- done in {seconds:.1f} s: {line}", flush=True)

    # ------------------------------------------------------------------ the steps

    def create_domains(self) -> None:
        """Step 1: a mesh with two producer domains and one consumer, each on its own
        storage and owned by its own people."""
        self.say("1. A mesh with three domains")
        self.run("init")
        for name, kind, owner in DOMAINS:
            self.run(
                "domain",
                "create",
                name,
                "--storage",
                str(self.roots[name]),
                "--create",
                "--kind",
                kind,
                "--owner",
                owner,
            )
        self.run("domain", "list")

    def publish_products(self, data: Path) -> None:
        """Step 2: the producers write their data, crawl it into their own catalogs, and
        the central catalog syncs them: only then can the mesh find the products."""
        self.say("2. consumer_banking lands raw German credit data and curates it")
        curated = self._land_and_curate(data)
        self._write_holdings(pc.unique(curated["customer_id"]).to_pylist())
        self.say("Each producer crawls its own storage into its own catalog")
        self.run("crawl", "consumer_banking")
        self.run("crawl", "investment_banking")
        self.say("The central catalog syncs every domain catalog")
        self.run("sync")
        self.run("sync", "status")
        self.say("The curation job's OpenLineage events (raw -> curated) reach the mesh")
        self.run("lineage", "ingest", str(self.lineage_file))
        self.run("search", "credit history")
        self.run("show", HOLDINGS)

    def classify_and_mask(self) -> None:
        """Step 3: the sync had the classifier sample every new table (as the central node,
        audited, nothing kept but counts and reasons); the stewards accept its
        recommendations, the accepted ``pii=true`` tags drive the mask."""
        self.say("Identities: each domain's people (tokens are shown once)")
        for user, role in (
            (CB_STEWARD, "steward"),
            (IB_STEWARD, "steward"),
            (ANALYTICS_ADMIN, "admin"),
            (ANALYST, "member"),
        ):
            address = user.replace("@", ".") + "@demo.example"
            self.run("user", "create", user, "--role", role, "--email", address)
        self.run("tag", "define", "pii", "--values", "true,false")
        self.run("tag", "assign", "consumer_banking.curated", "pii=false", "--as", CB_STEWARD)
        self.say(
            "3. Classification: the sync sampled each new table; the recommendations, with "
            "their reasons, wait for each domain's stewards"
        )
        self.run("classify", "queue", "--as", CB_STEWARD)
        self.say("The steward accepts the identifier columns: each becomes pii=true")
        for column in IDENTIFIER_NOTES:
            self.run("classify", "accept", f"{PRODUCT}.{column}", "--as", CB_STEWARD)
        self._decide_the_rest(CB_STEWARD, "consumer_banking")
        self.run("classify", "queue", "--as", IB_STEWARD)
        self.run("classify", "accept", f"{HOLDINGS}.customer_id", "--as", IB_STEWARD)
        self._decide_the_rest(IB_STEWARD, "investment_banking")
        self.say("The mesh admin masks every pii=true column: the accepted tags drive it")
        self.run("mask", "--tag", "pii=true", "--with", "hash")

    def register_products(self) -> None:
        """Step 3, continued: the producers publish their tables as data products with a
        data contract (ODCS v3), checked on the data in place; the glossary names what the
        columns mean, and the lineage from raw to curated is there to see."""
        self.say(
            "consumer_banking registers its data product with an ODCS contract; the mesh "
            "checks it on the data in place"
        )
        self.run(
            "product",
            "register",
            PRODUCT,
            "--description",
            "German consumer credit applications, curated: one row per application, "
            "English names, customer identifiers",
            "--contract",
            str(find_contract()),
            "--classification",
            "confidential",
            "--sensitivity",
            "high",
            "--as",
            CB_STEWARD,
        )
        self.run(
            "product",
            "register",
            HOLDINGS,
            "--description",
            "Monthly investment holdings per customer",
            "--classification",
            "internal",
            "--as",
            IB_STEWARD,
        )
        self.run(
            "glossary",
            "add",
            "Creditability",
            "--definition",
            "Whether the bank judged a credit good (repaid as agreed) or bad",
            "--as",
            CB_STEWARD,
        )
        self.run(
            "glossary", "link", "Creditability", f"{PRODUCT}.creditability", "--as", CB_STEWARD
        )
        self.run("product", "show", PRODUCT)
        self.run("lineage", "show", PRODUCT)

    def share_and_find(self) -> None:
        """Step 4: the producers share with analytics and its admin delegates to the
        analyst, who then finds the product; ``access explain`` shows why each of the two
        may or may not read it."""
        self.say(
            "consumer_banking shares the product with analytics: adults' credits "
            "under 15,000 DM, grantable, for 90 days"
        )
        self.run(
            "grant",
            "SELECT",
            "--on",
            PRODUCT,
            "--to",
            "analytics",
            "--row-filter",
            "age_in_years >= 18 AND credit_amount < 15000",
            "--grantable",
            "--expires",
            "90d",
            "--as",
            CB_STEWARD,
        )
        self.run(
            "grant",
            "SELECT",
            "--on",
            HOLDINGS,
            "--to",
            "analytics",
            "--grantable",
            "--as",
            IB_STEWARD,
        )
        self.say("4. The analyst searches and finds the product")
        self.run("search", "credit", "--as", ANALYST)
        self._request_access()
        self.run("access", "explain", PRODUCT, "--as", ANALYST)
        self.run("access", "explain", PRODUCT, "--as", ANALYTICS_ADMIN)

    def _request_access(self) -> None:
        """Step 4's requests: the view without the PII columns is approved by the rules at
        once; full access waits for the owner's steward, who approves by the link in the
        mail the mesh sends through the demo's own SMTP server; the holdings (their
        customer_id is pii=true too) by the other producer's steward on the CLI."""
        from lakemesh.demo.mailbox import Mailbox
        from lakemesh.demo.ui import Server, follow_link
        from lakemesh.home import load_settings, write_settings
        from lakemesh.mesh import Mesh

        non_pii = [c for c in self._columns if c not in IDENTIFIER_NOTES]
        with Mailbox() as box, Server(self.home) as web:
            settings = load_settings(self.home)
            settings.mail = SmtpSettings(host=box.host, port=box.port, sender="lakemesh@demo")
            settings.workflow.base_url = web.url
            write_settings(self.home, settings)
            print(f"(the mesh mails through the demo's SMTP server on {box.host}:{box.port})")
            print(f"(approval links lead to the mesh's web server at {web.url})")
            self.say(
                "The analyst asks for the columns without PII: no pii=true column, so the "
                "approval rules approve it at once"
            )
            started = time.monotonic()
            self.run(
                "request", "create", PRODUCT, "--columns", ",".join(non_pii),
                "--reason", "credit-risk model features", "--duration", "90d", "--as", ANALYST,
            )  # fmt: skip
            self.run("query", f"SELECT count(*) AS applications FROM {PRODUCT}", "--as", ANALYST)
            print(f"request -> approved -> first query: {time.monotonic() - started:.2f} s")
            self.say(
                "Full access touches pii=true columns: it waits for consumer_banking's "
                "steward, who is mailed approve and reject links"
            )
            self.run(
                "request", "create", PRODUCT, "--reason",
                "join with investment holdings by customer", "--duration", "90d",
                "--as", ANALYST,
            )  # fmt: skip
            self.run("worker", "--once")
            steward = CB_STEWARD.replace("@", ".") + "@demo.example"
            box.wait_for(2)  # the analyst's approval notice and the steward's request
            to, mail = next((to, m) for to, m in box.messages if to == [steward])
            body = mail.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            print(f"mail to {', '.join(to)}: {mail['subject']}")
            for line in text.splitlines():
                print(f"  | {line}")
            link = next(
                ln.split(": ", 1)[1] for ln in text.splitlines() if ln.startswith("Approve: ")
            )
            self.say(
                "The steward opens the approve link (single-use, theirs only, short-lived): "
                "the page asks to confirm, the confirmation decides"
            )
            follow_link(link)
            self.run(
                "request", "create", HOLDINGS, "--reason", "join with the credit profile",
                "--duration", "90d", "--as", ANALYST,
            )  # fmt: skip
            with Mesh.open(self.home) as mesh:
                (waiting,) = mesh.requests.list(status="pending", as_=IB_STEWARD)
            self.say("investment_banking's steward approves on the command line")
            self.run(
                "request", "approve", waiting.id, "--comment", "for the credit-risk model",
                "--as", IB_STEWARD,
            )  # fmt: skip
            self.run("worker", "--once")
            box.wait_for(4)
            told = sum(to != [steward] for to, _ in box.messages)
            print(f"the analyst was mailed each decision ({told} mails)")
        self.run("request", "list", "--as", ANALYST)

    def query_and_train(self) -> None:
        """Step 5: the analyst queries in place across two domains, on DuckDB and on
        Spark, and trains a model on what the policies let through."""
        self.say(
            "5. The analyst queries in place, joining two domains: PII comes back masked "
            "(a keyed hash, so the join on masked customer ids still works)"
        )
        self.run("query", JOIN_SQL, "--as", ANALYST)
        self.say(
            "The same query on Spark (local mode): the same policy inside every table "
            "reference, the same answer"
        )
        self.run("query", JOIN_SQL, "--as", ANALYST, "--engine", "spark")
        self._compare_engines()
        self.run(
            "query",
            f"SELECT count(*) AS applications, max(credit_amount) AS largest FROM {PRODUCT}",
            "--as",
            ANALYST,
        )
        self.say(
            "The analyst trains a credit-risk model (scikit-learn) on the governed result: "
            "the hashed identifiers are left out, the filtered rows never arrive"
        )
        self._train_model()

    def verify_audit(self) -> None:
        """Step 6: every step above left audit records; their hash chain verifies."""
        self.say("6. The audit chain verifies; the events that flowed are listed")
        self.run("audit", "list", "--limit", "8")
        self.run("audit", "verify")
        self.run("worker", "--once")
        self.run("events", "list", "--limit", "15")
        self.run("events", "status")
        self.run("events", "dlq")
        self.run("inbox", "--as", ANALYST, "--limit", "8")

    # ------------------------------------------------------------------ the steps' parts

    @property
    def lineage_file(self) -> Path:
        return self.base / "lineage" / "curation.jsonl"

    def _decide_the_rest(self, steward: str, domain: str) -> None:
        """Any recommendation still pending after the accepted identifiers is one the
        steward reviews and rejects, so the demo's queue ends empty (and says why)."""
        from lakemesh.mesh import Mesh

        with Mesh.open(self.home) as mesh:
            left = mesh.classification.queue(domain, as_=steward)
        for rec in left:
            self.run(
                "classify",
                "reject",
                f"{rec.table}.{rec.column}",
                rec.tag,
                "--comment",
                "not personal data in this product",
                "--as",
                steward,
            )

    def _land_and_curate(self, data: Path) -> pa.Table:
        """consumer_banking's own pipeline (plain pyarrow, no mesh involved): the raw file
        lands as delivered and the curated product is written beside it as Parquet."""
        cb = self.roots["consumer_banking"]
        landed = cb / "raw" / "kredit_raw" / "kredit_raw.csv"
        landed.parent.mkdir(parents=True, exist_ok=True)
        landed.write_bytes((data / "kredit_raw.csv").read_bytes())
        print(f"landed {landed.relative_to(self.base)}")
        curated = curate_credit(landed, data / "columns.csv")
        self._columns = curated.column_names
        target = cb / "curated" / "consumer_credit_profile" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(curated, target)
        emit_run(
            self.lineage_file,
            job_namespace="consumer_banking",
            job_name="curate_consumer_credit_profile",
            inputs=[Dataset("file", str(landed))],
            outputs=[Dataset("file", str(target.parent))],
        )
        print(
            f"curated {curated.num_rows} rows, {curated.num_columns} columns (German -> "
            f"English headers, customer identifiers added) -> {target.relative_to(self.base)}"
        )
        return curated

    def _write_holdings(self, customer_ids: list[str]) -> None:
        """investment_banking's product, in monthly Hive partitions, holds the same
        customers, so that step 5 can join across the two domains."""
        ib = self.roots["investment_banking"]
        for month, tbl in holdings(customer_ids).items():
            path = ib / "wealth" / "customer_holdings" / f"month={month}" / "part-0.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(tbl, path)
        print("investment_banking wrote wealth/customer_holdings (3 monthly partitions)")

    def _compare_engines(self) -> None:
        """The join's answer from each engine, as JSON files, must be the same: the demo
        fails if one engine's policy rewrite lets through what the other does not."""
        answers = []
        for engine in ("duckdb", "spark"):
            out = self.base / f"join-{engine}.json"
            self.run(
                "query",
                JOIN_SQL,
                "--as",
                ANALYST,
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

    def _train_model(self) -> None:
        """The model learns from the governed result exported as Parquet, so what the
        analyst may not see cannot reach the model either."""
        training = self.base / "credit-training.parquet"
        self.run(
            "query",
            f"SELECT * FROM {PRODUCT}",
            "--as",
            ANALYST,
            "--format",
            "parquet",
            "--output",
            str(training),
        )
        score = train_credit_model(training)
        self.auc = score.auc
        print(
            f"logistic regression on {score.train_rows} applications: accuracy "
            f"{score.accuracy:.3f}, ROC AUC {score.auc:.3f} on {score.test_rows} held out",
            flush=True,
        )
