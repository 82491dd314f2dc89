"""`lakemesh demo` tells the whole story and exits 0."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx


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
    assert step4.count(": approved — consumer_banking.curated.consumer_credit_profile") == 1
    assert "waiting for the stewards of consumer_banking" in step4
    assert "mail to steward.consumer_banking@demo.example: [lakemesh] access request" in step4
    # the mailed link opens a confirmation page on the mesh's web server; its form decides
    assert "GET http://127.0.0.1:" in step4 and "/links/... -> " in step4
    assert "POST (confirm) -> 200 Decision recorded" in step4
    listed = step4[step4.index("$ lakemesh request list") :]
    listed = listed[: listed.index("$ lakemesh access explain")]
    assert listed.count(" approved ") == 3 and "pending" not in listed
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
    # each step ends with a line and its timing; the closing table repeats them with the AUC
    assert out.count("-- done in ") == 6
    summary = out[out.index("== The story, step by step") :]
    steps = [ln for ln in summary.splitlines() if ln[:2] in {f"{n}." for n in range(1, 7)}]
    assert len(steps) == 6 and all(ln.endswith(" s") for ln in steps), summary
    assert "credit-risk model ROC AUC on the held-out split: 0." in summary


def test_demo_json_names_its_home_then_serves_the_ui(tmp_path: Path) -> None:
    """``demo --json --serve``: the story on stderr, {"dir", "home"} on stdout, then the web
    UI stays up on the demo mesh with a fresh sign-in token per demo user, until Ctrl-C."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakemesh", "demo", "--dir", str(tmp_path / "d"),
         "--home", str(tmp_path / "h"), "--json", "--serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        assert proc.stdout is not None
        printed = ""  # printed once the story is told, before the UI starts
        while not printed.endswith("}\n"):
            line = proc.stdout.readline()
            assert line, "".join(lines)[-3000:]
            printed += line
        assert json.loads(printed) == {"dir": str(tmp_path / "d"), "home": str(tmp_path / "h")}
        tokens: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(tokens) < 5 and time.monotonic() < deadline and proc.poll() is None:
            for line in list(lines):
                words = line.split()
                if len(words) >= 2 and "@" in words[0] and words[1].startswith("lm_"):
                    tokens[words[0]] = words[1]
            time.sleep(0.2)
        assert set(tokens) == {
            "admin@central", "steward@consumer_banking", "steward@investment_banking",
            "admin@analytics", "analyst@analytics",
        }, "".join(lines)[-3000:]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        analyst = {"Authorization": f"Bearer {tokens['analyst@analytics']}"}
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(100):  # the banner is printed just before uvicorn binds
                try:
                    found = client.get("/api/v1/search", params={"q": "credit"}, headers=analyst)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert found.status_code == 200, found.text
            assert found.json()[0]["table"] == "consumer_banking.curated.consumer_credit_profile"
            assert client.get("/").status_code in (200, 303, 307)
            wrong = {"Authorization": "Bearer lm_not-a-token"}
            assert client.get("/api/v1/search", params={"q": "x"}, headers=wrong).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert code == 0, "".join(lines)[-3000:]
    story = "".join(lines)
    assert "$ lakemesh init" in story and (tmp_path / "h" / "settings.json").exists()
    assert "The web UI on the demo mesh" in story


def test_demo_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "lakemesh", "demo", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "not empty" in done.stderr
