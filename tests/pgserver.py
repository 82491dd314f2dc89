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

#: A directory holding ``initdb`` and ``postgres``, to use instead of searching for them.
BIN_ENV = "LAKEMESH_TEST_PG_BIN"


def find_binary(name: str) -> str:
    chosen = os.environ.get(BIN_ENV)
    if chosen:
        path = os.path.join(chosen, name)
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"PostgreSQL's {name} is not at {path} (${BIN_ENV})")
        return path
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def _memory_dir() -> str | None:
    """``/dev/shm`` when there is one: the server's files are scratch (fsync is off), and
    on a disk each ``CREATE DATABASE`` still costs ~200 ms against ~10 ms in memory."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.base, self.port, self.proc = base, port, proc

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://lakemesh@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template`` (which must have no open
        connection: PostgreSQL copies its files); returns its name."""
        import psycopg
        from psycopg import sql

        name = f"t_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if template is not None:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                if conn.info.server_version >= 150000:  # a small template copies faster
                    statement += sql.SQL(" STRATEGY FILE_COPY")
            conn.execute(statement)
        return name

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def freeze(self, name: str) -> None:
        """No more connections to ``name``: it is a template from now on, and a stray
        connection would make every ``CREATE DATABASE ... TEMPLATE`` of it fail."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                    sql.Identifier(name)
                )
            )

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        """A fresh database for one test, empty or a copy of ``template``; dropped
        afterwards. Yields its URL."""
        name = self.create_database(template)
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    base = Path(tempfile.mkdtemp(prefix="lakemesh-pg-", dir=_memory_dir()))
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
        initialised = subprocess.run(
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
            check=False,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=base,
        )
        if initialised.returncode != 0:
            said = initialised.stderr.decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"{initdb} failed (exit {initialised.returncode}): {said}")
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
