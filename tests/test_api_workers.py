"""``lakemesh serve --workers 2`` on one PostgreSQL database: two real server processes
take requests at once. Access requests are created and approved through the API while
others search, read tables and query; no call fails with a 5xx, two approvers racing
one ticket through the two processes get exactly one 200 and one 409, the audit chain
verifies, the processes' own workers route events to inboxes (no ``lakemesh worker``
runs), and SIGTERM stops the server cleanly. On SQLite several processes are refused.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lakemesh.home import write_settings
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests.files import write_parquet
from tests.pgserver import PostgresServer, free_port

TABLE = "cb.sales.orders"
STEWARDS = ("steward@cb", "steward2@cb")
ANALYSTS = tuple(f"analyst{i}@analytics" for i in range(4))
START_TIMEOUT = 60.0


def lakemesh(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakemesh", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build(base: Path, db_url: str) -> dict[str, str]:
    """``lakemesh init --db``, then domains, a product table and users; their tokens."""
    home = base / "home"
    done = lakemesh("init", "--db", db_url, home=home)
    assert done.returncode == 0, done.stderr
    for day in ("2024-01-01", "2024-01-02"):
        write_parquet(
            base / "cb" / "sales" / "orders" / f"dt={day}" / "p.parquet",
            {"id": [1, 2], "region": ["eu", "us"], "amount": [5.0, 50.0]},
        )
    mesh = Mesh.open(home)
    try:
        mesh.settings.api.rate_limit = "100000/second"
        write_settings(home, mesh.settings)
        mesh.domains.create("cb", str(base / "cb"), create=True)
        mesh.domains.create("analytics", str(base / "analytics"), kind="consumer", create=True)
        mesh.domains.crawl("cb")
        assert [r.status for r in mesh.domains.sync(["cb"])] == ["ok"]
        tokens = {}
        for name, role in [(s, "steward") for s in STEWARDS] + [(a, "member") for a in ANALYSTS]:
            tokens[name] = mesh.access.create_user(name, role)[1]
        mesh.products.register(TABLE, owner=STEWARDS[0])
    finally:
        mesh.close()
    # every request waits for a steward, so that approvals race
    (home / "rules.yaml").write_text("rules:\n  - name: all-wait\n    then: {route: stewards}\n")
    return tokens


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def children(self) -> set[int]:
        """The server processes uvicorn spawned (not its resource tracker)."""
        found: set[int] = set()
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"spawn_main" in cmdline:
                    found.add(int(pid))
        return found


@contextmanager
def serving(home: Path, workers: int = 2) -> Iterator[Server]:
    port, log = free_port(), home.parent / "serve.log"
    args = ["serve", "--workers", str(workers), "--port", str(port), "--home", str(home)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakemesh", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, port, log)
    spawned: set[int] = set()
    try:
        yield server
    finally:
        if proc.poll() is None:
            spawned = server.children()
            proc.kill()
            proc.wait()
        for pid in spawned:  # orphans of a killed server would keep serving
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Client:
    """One keep-alive connection, so the server process that accepted it serves every
    call made through it."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def server_pid(self, port: int, pids: set[int]) -> int:
        """The server process holding the other end of this connection."""
        assert self.conn.sock is not None
        mine = self.conn.sock.getsockname()[1]
        inode = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == mine:
                inode = fields[9]
        assert inode is not None, "the server's end of the connection was not found"
        for pid in pids:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        raise AssertionError("no server process holds the connection")

    def close(self) -> None:
        self.conn.close()


def wait_until_serving(server: Server, token: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.proc.poll() is not None:
            said = server.log.read_text()
            raise AssertionError(f"serve exited {server.proc.returncode}: {said}")
        try:
            client = Client(server.port, token)
            status, _ = client.call("GET", f"/api/v1/tables/{TABLE}")
            client.close()
            if status == 200 and len(server.children()) == 2:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "lakemesh serve did not answer in time"
        time.sleep(0.2)


def pinned(server: Server, token: str) -> dict[int, Client]:
    """A connection to each of the server's processes, as ``token``'s user."""
    pids = server.children()
    found: dict[int, Client] = {}
    for _ in range(200):
        client = Client(server.port, token)
        client.call("GET", "/api/v1/search?q=orders")
        pid = client.server_pid(server.port, pids)
        if pid in found:
            client.close()
        else:
            found[pid] = client
        if len(found) == len(pids):
            return found
    raise AssertionError(f"connections reached only processes {sorted(found)} of {pids}")


def ask(port: int, token: str) -> tuple[int, Any]:
    """An access request for the table, through whichever process accepts it."""
    client = Client(port, token)
    try:
        return client.call("POST", "/api/v1/requests", {"table": TABLE, "reason": "monthly report"})
    finally:
        client.close()


def inbox_filled(mesh: Mesh, timeout: float = 30.0) -> int:
    """Inbox rows once every outbox event is routed (by the servers' own workers)."""
    deadline = time.monotonic() + timeout
    while True:
        with mesh.store.read() as conn:
            inboxed = conn.execute(select(func.count()).select_from(t.inbox)).scalar_one()
            unrouted = conn.execute(
                select(func.count()).select_from(t.outbox).where(t.outbox.c.delivered_at.is_(None))
            ).scalar_one()
        if inboxed > 0 and unrouted == 0:
            return int(inboxed)
        assert time.monotonic() < deadline, f"{inboxed} inbox rows, {unrouted} events unrouted"
        time.sleep(0.2)


@pytest.mark.postgres
def test_two_server_processes_on_one_postgres_database(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    with postgres.database() as url:
        tokens = build(tmp_path, url)
        home = tmp_path / "home"
        with serving(home) as server:
            wait_until_serving(server, tokens[ANALYSTS[0]])
            statuses: list[int] = []
            lock = threading.Lock()

            def record(status: int) -> int:
                with lock:
                    statuses.append(status)
                return status

            def request(analyst: str) -> str:
                status, body = ask(server.port, tokens[analyst])
                assert record(status) == 201, body
                assert body["status"] == "pending"
                return str(body["id"])

            # the first request records the approval rules in force (first requests
            # racing each other: the test below), the others ask at once
            ids = [request(ANALYSTS[0])]
            with ThreadPoolExecutor(len(ANALYSTS)) as pool:
                ids += pool.map(request, ANALYSTS[1:])

            # two stewards, each on a different process, approve every ticket at once
            first, second = (pinned(server, tokens[s]) for s in STEWARDS)
            pid_a, pid_b = sorted(first)
            racers = [first[pid_a], second[pid_b]]
            barrier = threading.Barrier(len(racers))

            def approve(client: Client, rid: str) -> int:
                barrier.wait(30)
                status, body = client.call("POST", f"/api/v1/requests/{rid}/approve", {})
                assert status in (200, 409), body
                return record(status)

            def browse(analyst: str) -> None:
                client = Client(server.port, tokens[analyst])
                for _ in range(10):
                    for path in ("/api/v1/search?q=orders", f"/api/v1/tables/{TABLE}"):
                        status, body = client.call("GET", path)
                        assert record(status) == 200, body
                client.close()

            with ThreadPoolExecutor(2 + len(ANALYSTS)) as pool:
                browsing = [pool.submit(browse, a) for a in ANALYSTS]
                for rid in ids:
                    raced = [pool.submit(approve, c, rid) for c in racers]
                    assert sorted(f.result() for f in raced) == [200, 409], rid
                for f in browsing:
                    f.result()
            for client in [*first.values(), *second.values()]:
                client.close()

            # each analyst's access works, through either process
            def query(analyst: str) -> int:
                client = Client(server.port, tokens[analyst])
                status, body = client.call(
                    "POST", "/api/v1/query", {"sql": f"select count(*) as n from {TABLE}"}
                )
                client.close()
                assert record(status) == 200, body
                return int(body[0]["n"])

            with ThreadPoolExecutor(len(ANALYSTS)) as pool:
                assert list(pool.map(query, ANALYSTS)) == [4] * len(ANALYSTS)
            assert not [s for s in statuses if s >= 500]

            mesh = Mesh.open(home)
            try:
                assert inbox_filled(mesh) > 0  # no 'lakemesh worker' ran
                for rid in ids:  # approved exactly once
                    _, history = mesh.requests.show(rid, as_=STEWARDS[0])
                    assert [e.status for e in history].count("approved") == 1, history
            finally:
                mesh.close()

            verified = lakemesh("audit", "verify", home=home)
            assert verified.returncode == 0, verified.stdout + verified.stderr

            children = server.children()
            assert len(children) == 2
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(timeout=30) == 0
            for pid in children:
                assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid


@pytest.mark.postgres
def test_first_requests_racing_through_two_processes(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    with postgres.database() as url:
        tokens = build(tmp_path, url)
        with serving(tmp_path / "home") as server:
            wait_until_serving(server, tokens[ANALYSTS[0]])
            # two analysts on each process, all four asking at once
            pinned_by = {a: pinned(server, tokens[a]) for a in ANALYSTS}
            pids = sorted(server.children())
            racers = [pinned_by[a][pids[i % 2]] for i, a in enumerate(ANALYSTS)]
            barrier = threading.Barrier(len(racers))

            def request(client: Client) -> int:
                barrier.wait(30)
                status, _ = client.call(
                    "POST", "/api/v1/requests", {"table": TABLE, "reason": "first"}
                )
                return status

            with ThreadPoolExecutor(len(racers)) as pool:
                statuses = list(pool.map(request, racers))
            for by_pid in pinned_by.values():
                for client in by_pid.values():
                    client.close()
            assert statuses == [201] * len(racers)
        with Mesh.open(tmp_path / "home") as mesh:  # the rules were recorded once
            assert len(mesh.audit.records(action="rules.load")) == 1


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_several_processes_on_sqlite_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert lakemesh("init", home=home).returncode == 0
    done = lakemesh("serve", "--workers", "2", "--port", str(free_port()), home=home, timeout=60)
    assert done.returncode == 1
    said = done.stderr.strip()
    assert len(said.splitlines()) == 1, said
    assert "PostgreSQL" in said


def test_a_port_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert lakemesh("init", home=home).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = lakemesh("serve", "--port", str(port), home=home, timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    done = lakemesh("serve", "--host", "10.255.255.254", "--port", "8000", home=home, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("error: cannot listen on 10.255")
    assert done.stderr.count("\n") == 1
