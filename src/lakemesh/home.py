"""The mesh home: the directory holding the central node's settings and SQLite store.

Chosen by ``--home``, else ``$LAKEMESH_HOME``, else ``./mesh`` (SPEC 1). ``settings.json``
is written last by ``init``, so a home either has it (and a migrated store) or is not a
mesh home at all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakemesh.errors import AlreadyExists, InvalidInput, NotFound, StoreError
from lakemesh.events.mail import SmtpSettings

SETTINGS_FILE = "settings.json"
DEFAULT_DB = "lakemesh.db"


class _Section(BaseModel):
    """A part of ``settings.json``: a key it does not know is refused, not ignored (a typo
    such as ``api.rate_limits`` must not silently leave the default in force)."""

    model_config = ConfigDict(extra="forbid")


class SyncSettings(_Section):
    interval_seconds: float = Field(5.0, gt=0)
    repair_interval_seconds: float = Field(3600.0, gt=0)
    max_removal_ratio: float = Field(0.5, ge=0, le=1)


class ProductSettings(_Section):
    #: Classify, after a sync, every table that sync added or whose schema changed, and a
    #: table whose data changed when its last classification is older than
    #: ``reclassify_seconds`` (appends rarely change what a column holds; a schema change
    #: or a new table always may).
    classify_on_sync: bool = True
    reclassify_seconds: float = Field(3600.0, ge=0)
    #: Check, after a sync, the contract and quality of every product whose table changed,
    #: and of every product not checked for ``recheck_seconds`` (freshness decays while
    #: nothing changes: a product that stopped receiving data must still be caught).
    check_on_sync: bool = True
    recheck_seconds: float = Field(3600.0, ge=0)


class WorkflowSettings(_Section):
    #: The approval rules, relative to the mesh home (absent: the default rules).
    rules_file: str = "rules.yaml"
    #: Where approval links point (the ``lakemesh serve`` that receives them).
    base_url: str = "http://127.0.0.1:8000"
    #: How long an approval link stays valid.
    link_ttl_seconds: float = Field(86400.0, gt=0)
    #: Revoke access a request gave when it has not been used (no query of the table by
    #: the requester) for this many days; None: never.
    revoke_unused_days: float | None = Field(None, gt=0)


class EventSettings(_Section):
    #: Webhooks to loopback and private addresses (refused unless set: a webhook must not
    #: become a way into the network the central node sits in).
    allow_private_targets: bool = False
    retry_base_seconds: float = Field(1.0, gt=0)
    retry_cap_seconds: float = Field(300.0, gt=0)
    #: After this long a delivery that still fails goes to the dead-letter queue.
    retry_window_seconds: float = Field(86400.0, gt=0)
    webhook_timeout_seconds: float = Field(10.0, ge=5, le=10)
    #: How often ``lakemesh worker`` looks for work when there was none: an event is
    #: handled within about this long of its commit.
    worker_interval_seconds: float = Field(0.05, gt=0)


class ApiSettings(_Section):
    """``lakemesh serve``: limits every route applies before any work is done."""

    #: Request bodies are refused (413) past this many bytes, chunked bodies included.
    max_body_bytes: int = Field(1_048_576, ge=1024)
    #: Per token (per client address before sign-in), in the ``limits`` package's
    #: notation: several windows separated by ";". Counted per server process.
    rate_limit: str = "100/second;3000/minute"
    #: How long a web UI sign-in lasts.
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    #: Rows a query through the API returns at most (more is an error, not a cut).
    query_max_rows: int = Field(100_000, ge=1)


class Settings(_Section):
    #: None means the embedded default, ``<home>/lakemesh.db``: kept relative so a mesh
    #: home can be moved or copied whole.
    db_url: str | None = None
    sync: SyncSettings = Field(default_factory=SyncSettings)
    products: ProductSettings = Field(default_factory=ProductSettings)
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    #: SMTP for approval mails and notifications (None: no mail, inboxes only).
    mail: SmtpSettings | None = None
    api: ApiSettings = Field(default_factory=ApiSettings)

    def store_url(self, home: Path) -> str:
        return self.db_url or f"sqlite:///{home / DEFAULT_DB}"


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    chosen = home or os.environ.get("LAKEMESH_HOME") or "mesh"
    return Path(chosen).expanduser().absolute()


def load_settings(home: Path) -> Settings:
    path = home / SETTINGS_FILE
    if not path.is_file():
        raise NotFound(f"no mesh at {home}: run 'lakemesh init --home {home}' first")
    try:
        return Settings.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise StoreError(f"mesh settings {path} are invalid: {_first_problem(exc)}") from None
    except ValueError as exc:
        raise StoreError(f"mesh settings {path} are invalid") from exc


def _first_problem(exc: ValidationError) -> str:
    """The first thing wrong in settings.json, by its dotted key: what the user typed."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "the file"
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {where!r}"
    if error.get("type") == "json_invalid":
        return "not valid JSON"
    return f"{where}: {error.get('msg', 'invalid')}"


def create_home(home: Path, db_url: str | None) -> tuple[Settings, bool]:
    """Validate and create the home directory; returns the settings and whether we made
    the directory (so a failed init can remove exactly what it created)."""
    if (home / SETTINGS_FILE).exists():
        raise AlreadyExists(f"a mesh already exists at {home}")
    if home.exists() and not home.is_dir():
        raise InvalidInput(f"{home} exists and is not a directory")
    made = not home.exists()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if db_url is None:
        # The embedded store holds token hashes and the audit log: owner-only, like the
        # keys. SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(home / DEFAULT_DB, os.O_CREAT | os.O_WRONLY, 0o600))
    return Settings(db_url=db_url), made


def write_settings(home: Path, settings: Settings) -> None:
    """Owner-only: a PostgreSQL URL may carry a password."""
    path = home / SETTINGS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(settings.model_dump_json(indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def remove_home(home: Path, made: bool) -> None:
    if made:
        shutil.rmtree(home, ignore_errors=True)
    else:
        for name in (DEFAULT_DB, DEFAULT_DB + "-wal", DEFAULT_DB + "-shm", SETTINGS_FILE):
            (home / name).unlink(missing_ok=True)
