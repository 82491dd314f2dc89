"""A real PostgreSQL server for the tests, started from the machine's own binaries.

``initdb`` and ``postgres`` refuse to run as root, so when the tests run as root the
server runs as the ``postgres`` system user in a directory it owns. The server listens
on a free loopback port with a private socket directory and is stopped at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.base, self.port, self.proc = base, port, proc

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://lakemesh@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test; dropped afterwards."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    base = Path(tempfile.mkdtemp(prefix="lakemesh-pg-"))
    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data, sock = base / "data", base / "sock"
    port = free_port()
    proc = None
    log = open(base / "server.log", "wb")  # noqa: SIM115 (closed in finally)
    try:
        subprocess.run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                "lakemesh",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=base,
        )
        (base / "sock").mkdir()
        if user:
            os.chown(sock, pw.pw_uid, pw.pw_gid)
        proc = subprocess.Popen(
            [
                postgres,
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=base,
        )
        server = PostgresServer(base, port, proc)
        _wait_ready(server)
        yield server
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(server: PostgresServer, timeout: float = 60.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            log = (server.base / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL exited at start-up:\n{log}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
