"""The command-line contract: exit codes, one-line refusals, --json, and nothing half-done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lakemesh.catalog.builtin import CATALOG_PATH
from lakemesh.mesh import Mesh
from tests.conftest import Cli, write_parquet
from tests.pgserver import free_port

LAKEMESH = [sys.executable, "-m", "lakemesh"]


def refused(result: tuple[int, str, str], fragment: str) -> None:
    code, out, err = result
    assert code == 1, (out, err)
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err, err


@pytest.fixture
def ready(cli: Cli, tmp_path: Path) -> Cli:
    assert cli("init")[0] == 0
    root = tmp_path / "sales"
    write_parquet(root / "db" / "orders" / "dt=1" / "a.parquet", {"x": [1, 2]})
    assert cli("domain", "create", "sales", "--storage", str(root))[0] == 0
    return cli


def domain_count(cli: Cli) -> int:
    return len(cli.json("domain", "list"))


def test_init_json_and_twice(cli: Cli) -> None:
    data = cli.json("init")
    assert data["admin"] == "admin@central" and data["store"] == "sqlite"
    refused(cli("init"), "already exists")


def test_commands_without_a_mesh_are_refused(cli: Cli) -> None:
    refused(cli("domain", "list"), "no mesh at")
    assert not cli.home.exists(), "a refused command creates nothing"


def test_usage_errors_exit_2(ready: Cli) -> None:
    assert ready("domain", "create", "x")[0] == 2
    assert ready("nosuchcommand")[0] == 2
    assert ready("sync", "status", "sales")[0] == 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("domain", "create", "sales", "--storage", "/tmp/other"), "already exists"),
        (("domain", "create", "Bad", "--storage", "/tmp/x"), "invalid domain name"),
        (("domain", "create", "a", "--storage", "/tmp/x"), "invalid domain name"),
        (("domain", "create", "x" * 64, "--storage", "/tmp/x"), "invalid domain name"),
        (("domain", "create", "central", "--storage", "/tmp/x"), "reserved"),
        (("domain", "create", "status", "--storage", "/tmp/x"), "reserved"),
        (
            ("domain", "create", "d2", "--storage", "/tmp/x", "--kind", "bank"),
            "invalid domain kind",
        ),
        (("domain", "create", "d2", "--storage", "/tmp/x", "--catalog", "hive"), "invalid catalog"),
        (("domain", "create", "d2", "--storage", "/tmp/x", "--owner", "bob"), "invalid principal"),
        (("domain", "create", "d2", "--storage", "ftp://x/y"), "unsupported storage"),
        (("domain", "create", "d2", "--storage", "s3://"), "invalid S3 URI"),
        (("domain", "create", "d2", "--storage", "s3://b/../x"), "invalid S3 URI"),
        (
            ("domain", "create", "d2", "--storage", "/tmp/x", "--endpoint", "http://e"),
            "s3:// storage",
        ),
        (("domain", "show", "nope"), "unknown domain"),
        (("crawl", "nope"), "unknown domain"),
        (("crawl", "sales", "../.."), "leaves the storage root"),
        (("crawl", "sales", "missing"), "not a directory"),
        (("crawl", "sales", "--database", "Bad"), "invalid database name"),
        (("sync", "nope"), "unknown domain"),
        (("show", "sales.db"), "invalid table name"),
        (("show", "sales.db.nope"), "not in the central catalog"),
        (("show", "sales.db.orders", "--as", "eve@sales"), "unknown principal"),
        (("search", "x", "--as", "not a principal"), "invalid principal"),
        (("domain", "create", "d2", "--storage", "/tmp/x", "--db", "y"), ""),
    ],
)
def test_refusals_are_one_line_and_change_nothing(
    ready: Cli, args: tuple[str, ...], fragment: str
) -> None:
    before = domain_count(ready)
    result = ready(*args)
    if fragment:
        refused(result, fragment)
    else:
        assert result[0] == 2  # an unknown option is a usage error
    assert domain_count(ready) == before


def test_overlapping_storage_root_is_refused(ready: Cli, tmp_path: Path) -> None:
    refused(
        ready("domain", "create", "inner", "--storage", str(tmp_path / "sales" / "db")), "overlaps"
    )
    refused(ready("domain", "create", "outer", "--storage", str(tmp_path)), "overlaps")


def test_crawl_sync_show_search_json(ready: Cli) -> None:
    report = ready.json("crawl", "sales")
    assert report["added"] == ["db.orders"]
    [result] = ready.json("sync")
    assert result["status"] == "ok" and result["tables_added"] == 1
    shown = ready.json("show", "sales.db.orders")
    assert shown["partition_keys"] == ["dt"] and shown["partitions"][0]["key"] == "dt=1"
    assert [h["table"] for h in ready.json("search", "orders")] == ["sales.db.orders"]
    [status] = ready.json("sync", "status")
    assert status["status"] == "ok" and status["tables"] == 1
    types = [e["type"] for e in ready.json("events", "list")]
    assert "catalog.table.created" in types and "domain.created" in types


def test_unreadable_file_is_a_warning_not_a_failure(ready: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "sales" / "db" / "orders" / "dt=1" / "bad.parquet"
    bad.write_bytes(b"not parquet")
    code, _, err = ready("crawl", "sales")
    assert code == 0 and "warning: skipped" in err and "bad.parquet" in err


def test_corrupt_builtin_catalog_fails_sync_with_one_line(ready: Cli, tmp_path: Path) -> None:
    ready("crawl", "sales")
    assert ready("sync")[0] == 0
    (tmp_path / "sales" / CATALOG_PATH).write_bytes(b"garbage" * 500)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "sales" / (CATALOG_PATH + suffix)).unlink(missing_ok=True)
    code, _, err = ready("sync", "--full")
    assert code == 1 and "corrupt" in err.splitlines()[-1]
    refused(ready("crawl", "sales"), "corrupt")
    assert ready.json("sync", "status")[0]["status"] == "failed"
    assert ready.json("show", "sales.db.orders")["name"] == "sales.db.orders"


def test_iceberg_catalog_down_fails_sync(ready: Cli, tmp_path: Path) -> None:
    root = tmp_path / "ib"
    assert (
        ready(
            "domain",
            "create",
            "ib",
            "--storage",
            str(root),
            "--catalog",
            f"iceberg:http://127.0.0.1:{free_port()}",
            "--create",
        )[0]
        == 0
    )
    code, _, err = ready("sync", "ib")
    assert code == 1 and "cannot reach iceberg catalog" in err
    refused(ready("crawl", "ib"), "iceberg catalog")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "LAKEMESH_HOME": str(home)}


def test_crash_in_the_middle_of_a_sync_resumes(tmp_path: Path) -> None:
    """SIGKILL a real sync process mid-way; the next sync converges with no duplicates."""
    home, root = tmp_path / "home", tmp_path / "root"
    for i in range(60):
        for d in range(20):
            write_parquet(root / "db" / f"t{i:02d}" / f"d={d}" / "a.parquet", {"x": [i]})
    mesh = Mesh.init(home)
    mesh.domains.create("big", str(root), create=True)
    mesh.domains.crawl("big")
    proc = subprocess.Popen(
        [*LAKEMESH, "sync"], env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(mesh.catalog.tables("big")) > 0:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(mesh.catalog.tables("big"))
    assert 0 < partial < 60, "the kill landed in the middle of the sync"
    [r] = mesh.domains.sync()
    assert r.status == "ok"
    assert r.tables_added == 60 - partial
    tables = mesh.catalog.tables("big")
    assert len(tables) == 60
    assert all(len(mesh.catalog.partitions(t["full_name"])) == 20 for t in tables)
    [r] = mesh.domains.sync(full=True)
    assert r.drift == {"missing": [], "stale": [], "extra": []}
    from lakemesh import events

    with mesh.store.read() as conn:
        created = [e["subject"] for e in events.recent(conn, 1000, "catalog.table.created")]
    assert len(created) == len(set(created)) == 60, "each table created exactly once"
    mesh.close()


def test_watch_syncs_until_interrupted(tmp_path: Path) -> None:
    home, root = tmp_path / "home", tmp_path / "root"
    mesh = Mesh.init(home)
    mesh.domains.create("live", str(root), create=True)
    proc = subprocess.Popen(
        [*LAKEMESH, "sync", "--watch", "--interval", "0.2", "--repair-interval", "1", "--json"],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        write_parquet(root / "db" / "events" / "a.parquet", {"x": [1]})
        mesh.domains.crawl("live")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not mesh.catalog.tables("live"):
            time.sleep(0.1)
        assert [t["full_name"] for t in mesh.catalog.tables("live")] == ["live.db.events"]
        # both kinds of pass, however slow the machine: a full repair every second
        while time.monotonic() < deadline:
            if {json.loads(line)["mode"] for line in list(lines)} == {"incremental", "full"}:
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == 0, err
    assert "stopped" in err
    modes = {json.loads(line)["mode"] for line in lines}
    assert modes == {"incremental", "full"}, lines
    mesh.close()


def test_entry_point_runs_as_a_program(tmp_path: Path) -> None:
    done = subprocess.run(
        [*LAKEMESH, "init", "--home", str(tmp_path / "h"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["admin"] == "admin@central"
    done = subprocess.run(
        [*LAKEMESH, "domain", "show", "x", "--home", str(tmp_path / "h")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stderr.strip() == "error: unknown domain 'x'"
