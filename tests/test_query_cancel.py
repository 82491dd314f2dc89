"""Ctrl-C cancels a running governed query on both engines: the engine is interrupted,
the query is audited as aborted, the CLI exits 130 with one line and no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakemesh.access.grants import GrantRequest
from lakemesh.mesh import Mesh
from tests.files import write_parquet

#: About 2.7e10 rows to join: minutes of work on either engine, unless cancelled.
ENDLESS = (
    "SELECT count(*) AS n FROM shop.db.nums a, shop.db.nums b, shop.db.nums c "
    "WHERE a.n + b.n + c.n > 1"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_parquet(tmp_path / "shop" / "db" / "nums" / "a.parquet", {"n": list(range(3000))})
    mesh = Mesh.init(tmp_path / "home")
    mesh.domains.create("shop", str(tmp_path / "shop"))
    mesh.domains.crawl("shop")
    mesh.domains.sync()
    admin = "admin@central"
    mesh.access.grant(GrantRequest(("SELECT",), admin, table="shop.db.nums"), as_=admin)
    mesh.close()
    return tmp_path / "home"


def _interrupt_when_running(home: Path, engine: str, limit_seconds: float) -> None:
    lakemesh = Path(sys.executable).parent / "lakemesh"
    proc = subprocess.Popen(
        [str(lakemesh), "query", ENDLESS, "--engine", engine, "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + limit_seconds
        while not _records(home, "allowed"):  # the engine has the query
            assert proc.poll() is None and time.monotonic() < deadline, "the query never ran"
            time.sleep(0.2)
        time.sleep(1.0)
        children = _children(proc.pid)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["Aborted!"] and "Traceback" not in err
    assert time.monotonic() - sent < 30, "cancelled, not run to its 60 s timeout"
    [aborted] = _records(home, "aborted")
    assert aborted.resource == "shop.db.nums" and "interrupted" in aborted.details["reason"]
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in children):
        assert time.monotonic() < deadline, "a process of the cancelled query outlived it"
        time.sleep(0.5)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Spark's JVM, for the Spark engine)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _records(home: Path, outcome: str) -> list[object]:
    """The admin's query records (the sync's classification sample, read by the central
    node as ``system@central``, is a query record too)."""
    with Mesh.open(home) as mesh:
        records = mesh.audit.records(action="query", principal="admin@central", limit=10)
        return [r for r in records if r.outcome == outcome]


def test_ctrl_c_cancels_a_duckdb_query(home: Path) -> None:
    _interrupt_when_running(home, "duckdb", 60)


@pytest.mark.spark
def test_ctrl_c_cancels_a_spark_query(home: Path) -> None:
    _interrupt_when_running(home, "spark", 180)
