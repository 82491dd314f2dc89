"""The demo's web server: step 4's approval link is followed through it, and
``lakemesh demo --serve`` leaves it running on the demo mesh.

The server is the real one (``lakemesh.api.create_app`` on uvicorn). During the story it
runs on a thread on a loopback socket bound before the mail is sent, so the mailed link
already points at it (``workflow.base_url``).
"""

from __future__ import annotations

import html.parser
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

from lakemesh.errors import LakemeshError

#: Who signs in to the demo's UI, and as what.
DEMO_USERS = (
    ("admin@central", "the mesh admin"),
    ("steward@consumer_banking", "consumer_banking's steward (approvals, classification)"),
    ("steward@investment_banking", "investment_banking's steward"),
    ("admin@analytics", "analytics' admin"),
    ("analyst@analytics", "the analyst (search, request access, query)"),
)


def point_links_at(home: Path, base_url: str) -> None:
    """Approval links in the mesh's mail lead to ``base_url``."""
    from lakemesh.home import load_settings, write_settings

    settings = load_settings(home)
    settings.workflow.base_url = base_url
    write_settings(home, settings)


class Server:
    """``lakemesh serve`` for the demo's mesh on a thread (no event worker: the story runs
    ``lakemesh worker --once`` itself, so its output shows what was delivered)."""

    def __init__(self, home: Path, host: str = "127.0.0.1") -> None:
        self.home, self.host = home, host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._server: object = None

    def __enter__(self) -> Server:
        import uvicorn

        from lakemesh.api.app import create_app

        config = uvicorn.Config(
            create_app(self.home, worker=False), log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise LakemeshError("demo: the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import uvicorn

        server = self._server
        if isinstance(server, uvicorn.Server):
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()


class _Form(html.parser.HTMLParser):
    """The first POST form of a page: its action and its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and self.action is None and (a.get("method") or "").lower() == "post":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields.setdefault(a["name"] or "", a.get("value") or "")
        elif tag == "h1":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def follow_link(link: str) -> str:
    """What the steward's browser does with the mailed link: GET shows a confirmation
    page (and decides nothing, so a mail scanner that prefetches it changes nothing);
    the steward then confirms with the page's form. Returns the page that confirmed."""
    import httpx

    with httpx.Client(timeout=30, follow_redirects=True) as client:
        page = client.get(link)
        if page.status_code != 200:
            raise LakemeshError(f"demo: the approval link page answered {page.status_code}")
        form = _Form()
        form.feed(page.text)
        print(f"GET {link.split('/links/')[0]}/links/... -> {' '.join(form.title.split())}")
        if form.action is None:
            raise LakemeshError("demo: the approval link page has no confirmation form")
        target = httpx.URL(link).join(form.action or link)
        done = client.post(target, data=form.fields)
        confirmed = _Form()
        confirmed.feed(done.text)
        print(f"POST (confirm) -> {done.status_code} {' '.join(confirmed.title.split())}")
        if done.status_code != 200:
            raise LakemeshError(f"demo: confirming the approval answered {done.status_code}")
        return done.text


def serve(home: Path, host: str, port: int) -> None:
    """Leave the UI running on the demo mesh: a fresh sign-in token for each demo user
    (tokens are shown once, so the story's own are gone), then serve until Ctrl-C."""
    import uvicorn

    from lakemesh.api.app import create_app
    from lakemesh.mesh import Mesh

    base = f"http://{host}:{port}"
    point_links_at(home, base)
    with Mesh.open(home) as mesh:
        tokens = [(name, what, mesh.access.new_token(name)) for name, what in DEMO_USERS]
    print(f"\n== The web UI on the demo mesh: {base}/  (Ctrl-C stops it)", flush=True)
    print("Sign in with one of these tokens (new ones; each replaces the user's old token):")
    for name, what, token in tokens:
        print(f"  {name:<28} {token}   # {what}")
    print(f"API: {base}/api/v1 (Authorization: Bearer TOKEN), described by {base}/openapi.json")
    print(f"or: lakemesh serve --home {home} --port {port}", flush=True)
    uvicorn.run(create_app(home), host=host, port=port, log_level="warning", server_header=False)
