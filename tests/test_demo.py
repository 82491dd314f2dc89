"""`lakemesh demo` tells the whole story and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lakemesh", "demo", "--dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for step in (
        "$ lakemesh init",
        "$ lakemesh crawl consumer_banking",
        "$ lakemesh sync",
        "consumer_banking.curated.consumer_credit_profile",
        "month=2024-03",
    ):
        assert step in out
    assert "columns: credit_history" in out
    # step 3: the classifier's recommendations, with reasons, accepted by the steward
    step3 = out[out.index("== 3.") : out.index("== consumer_banking shares")]
    assert "valid IBANs (mod-97)" in step3 and "are e-mail addresses" in step3
    for column in ("customer_id", "full_name", "email", "iban"):
        assert f"profile.{column} tagged pii=true" in step3, column
    assert "holdings.customer_id tagged pii=true" in step3
    assert "registered data product consumer_banking.curated.consumer_credit_profile" in step3
    assert "quality: " in step3 and " 0 failed" in step3
    assert (
        "upstream: consumer_banking.raw.kredit_raw -> "
        "consumer_banking.curated.consumer_credit_profile" in step3
    )
    assert "Creditability" in step3
    explained = out[out.index("$ lakemesh access explain") :]
    assert (
        "analyst@analytics SELECT consumer_banking.curated.consumer_credit_profile: ALLOWED"
        in explained
    )
    assert "mask: iban -> hash" in explained and '"credit_amount" < 15000' in explained
    assert (
        "admin@analytics SELECT consumer_banking.curated.consumer_credit_profile: DENIED"
        in explained
    )
    # step 4: the non-PII view approved at once, full access by the steward's mail link
    step4 = out[out.index("== 4.") : out.index("== 5.")]
    assert step4.count(": approved — consumer_banking.curated.consumer_credit_profile") == 2
    assert "waiting for the stewards of consumer_banking" in step4
    assert "mail to steward.consumer_banking@demo.example: [lakemesh] access request" in step4
    assert "$ lakemesh request approve --link http://" in step4
    assert "investment_banking.wealth.customer_holdings (all columns) for analyst" in step4
    assert "audit chain verified" in out
    step6 = out[out.index("== 6.") :]
    assert "request.approved" in step6 and "the dead-letter queue is empty" in step6
    joined = out[out.index("== 5.") : out.index("== 6.")]
    assert "5 row(s)" in joined and "│ 995 " in joined, "the cross-domain join works on hashed keys"
    assert "DuckDB and Spark returned the same 5 rows." in joined
    # the model trains on the 995 governed rows only (746 + 249), deterministically
    assert "logistic regression on 746 applications: accuracy" in joined
    assert "on 249 held out" in joined


def test_demo_json_names_its_home(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lakemesh",
            "demo",
            "--dir",
            str(tmp_path / "d"),
            "--home",
            str(tmp_path / "h"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"dir": str(tmp_path / "d"), "home": str(tmp_path / "h")}
    assert "$ lakemesh init" in done.stderr and (tmp_path / "h" / "settings.json").exists()


def test_demo_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "lakemesh", "demo", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "not empty" in done.stderr
