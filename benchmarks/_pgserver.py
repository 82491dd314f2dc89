"""A throwaway PostgreSQL server for the ``*_postgres`` benchmark rows, from the machine's
own binaries (the tests' approach: ``initdb`` then ``postgres``, as the ``postgres`` user
when we are root, since both refuse to run as root).

Unlike the tests' server it keeps PostgreSQL's durable defaults (fsync, synchronous
commit, full page writes) and its data on disk, as the SQLite store keeps
``synchronous=FULL``. It listens only on a private unix socket, so a run needs no free
port, and is stopped (fast shutdown) and deleted when the ``with`` block ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

USER = "lakemesh"
PORT = 5432  #: only names the socket file: the server listens on no TCP port


def find_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


class PgServer:
    def __init__(self, base: Path, proc: subprocess.Popen[bytes]) -> None:
        self.base, self.proc = base, proc

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    def url(self, database: str = "postgres") -> str:
        """A libpq URI that SQLAlchemy (``Mesh.init(home, url)``) and psycopg both take."""
        return f"postgresql://{USER}@/{database}?host={self.socket_dir}&port={PORT}"

    def connect(self, database: str = "postgres", **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database), **kw)

    def create_database(self, name: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def running_server() -> Iterator[PgServer]:
    """Started here, stopped and removed on the way out, whatever happened inside."""
    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    base = Path(tempfile.mkdtemp(prefix="lakemesh-bench-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data = base / "data"
    proc = None
    log = open(base / "server.log", "wb")  # noqa: SIM115 (closed in finally)
    try:
        done = subprocess.run(
            [initdb, "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"],
            check=False,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=base,
        )
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"{initdb} failed (exit {done.returncode}): {said}")
        (base / "sock").mkdir()
        if user:
            os.chown(base / "sock", pw.pw_uid, pw.pw_gid)
        settings = {"listen_addresses": "", "unix_socket_directories": str(base / "sock")}
        proc = subprocess.Popen(
            [postgres, "-D", str(data), "-p", str(PORT)]
            + [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=base,
        )
        server = PgServer(base, proc)
        _wait_ready(server)
        yield server
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # fast shutdown: open sessions are ended
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(server: PgServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            said = (server.base / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL exited at start-up:\n{said}")
        try:
            server.connect(connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
