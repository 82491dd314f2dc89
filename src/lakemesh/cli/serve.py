"""``lakemesh serve``: the HTTP API and the web UI (FastAPI on uvicorn)."""

from __future__ import annotations

import os
import socket

import click

from lakemesh.cli._common import command, err
from lakemesh.errors import InvalidInput


@command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (several need a PostgreSQL store to scale writes).",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Do not deliver events or run expiry in-process (run 'lakemesh worker' instead).",
)
def serve(
    host: str, port: int, workers: int, no_worker: bool, home: str | None, json_: bool
) -> None:
    """Serve the HTTP API (/api/v1, described by /openapi.json) and the web UI (/).

    The API authenticates with 'Authorization: Bearer TOKEN' (the token 'user create'
    printed); the UI signs in with the same token. Unless --no-worker, each server
    process also delivers events and expires access, as 'lakemesh worker' does.
    """
    import uvicorn

    from lakemesh.api.app import HOME_ENV, NO_WORKER_ENV, create_app
    from lakemesh.home import load_settings, resolve_home

    path = resolve_home(home)
    settings = load_settings(path)  # no mesh: a clear error before any process starts
    if workers > 1 and settings.db_url is None:
        raise InvalidInput(
            "several server processes need a PostgreSQL store (lakemesh init --db URL); "
            "with SQLite use --workers 1"
        )
    sock = _listen(host, port)  # a clear one-line refusal, before any process starts
    where = f"http://{host}:{sock.getsockname()[1]}/"
    log_level = "warning"
    if workers == 1:
        config = uvicorn.Config(
            create_app(path, worker=not no_worker), log_level=log_level, server_header=False
        )
        err.print(f"lakemesh serving {path} on {where} (API at /api/v1)")
        uvicorn.Server(config).run(sockets=[sock])
        return
    sock.close()  # uvicorn's supervisor binds it again and shares it with the workers
    os.environ[HOME_ENV] = str(path)
    os.environ[NO_WORKER_ENV] = "1" if no_worker else "0"
    err.print(f"lakemesh serving {path} on {where} (API at /api/v1), {workers} processes")
    uvicorn.run(
        "lakemesh.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        server_header=False,
    )


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or ``InvalidInput`` saying why not (the port is
    taken, the address is not this machine's)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    sock.set_inheritable(True)
    return sock


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc).lower()
