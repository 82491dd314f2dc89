"""One rooted error hierarchy.

Every refusal the user can cause is a ``LakemeshError``; the CLI prints its message as
one line on stderr and exits 1. Subclasses also derive from the builtin whose meaning
matches, so callers of the Python API can catch ``ValueError`` or ``LookupError``.
"""

from __future__ import annotations


class LakemeshError(Exception):
    """Base of every error lakemesh raises on purpose."""


class InvalidInput(LakemeshError, ValueError):
    """The caller passed something malformed (a bad name, URI, option)."""


class NotFound(LakemeshError, LookupError):
    """A named thing (domain, table, partition, mesh home) does not exist."""


class AlreadyExists(LakemeshError):
    """Creating something that is already there."""


class PermissionDenied(LakemeshError, PermissionError):
    """The acting principal may not do this (not the same as a backend being down)."""


class Conflict(LakemeshError):
    """A precondition of a state change no longer holds."""


class StoreError(LakemeshError):
    """The metadata store is misconfigured, at the wrong revision or unreachable."""


class BackendUnavailable(LakemeshError, ConnectionError):
    """A domain's storage or catalog could not be reached; this is not a denial."""


class TableUnavailable(BackendUnavailable):
    """A table's data cannot be read now (its folder or its domain's root is gone, a file
    fails to read). The message names only the table, which the caller named and may
    read; ``detail`` says why, for the audit log (SPEC 2.8)."""

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(f"table {table} is unavailable")
        self.table = table
        self.detail = detail


class CatalogCorrupt(LakemeshError):
    """A domain catalog exists but cannot be read as a catalog."""


class MissingKey(NotFound):
    """A key file the mesh needs is not there (``lakemesh init`` creates them)."""


class CorruptKey(LakemeshError):
    """A key file exists but does not hold the key it should."""


class AuditChainBroken(Conflict):
    """The chain or its checkpoints fail verification, so nothing new is signed over it."""


class PathOutsideRoot(LakemeshError, PermissionError):
    """A location escapes its domain's storage root."""


class SchemaConflict(LakemeshError, TypeError):
    """Two schemas cannot be merged by widening."""


class SyncRefused(LakemeshError):
    """A sync listing looked unsafe; nothing was deleted (use --force to override)."""


class PlanRefused(LakemeshError):
    """A sync plan was refused; the sync's result already says why (internal to sync)."""


class SyncInterrupted(LakemeshError):
    """The caller asked a sync to stop; raised between tables (internal to sync)."""


# --------------------------------------------------------------------------- policy


class InvalidFilter(InvalidInput):
    """A row filter is malformed or uses something outside the allowlist."""


class InvalidMask(InvalidInput):
    """A mask specification is malformed, or cannot be applied to a column."""


# --------------------------------------------------------------------------- queries


class QueryRefused(InvalidInput):
    """The consumer's query was refused; the message is a one-line reason for the audit
    log. ``public`` is what the consumer may be told: the reason itself when it depends
    only on the query text, a wording that is the same whether a table or column is
    hidden or absent, or None (a generic "query refused") when the reason is the policy."""

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = public


class FunctionRefused(InvalidInput):
    """A function the query may not call; the message is safe to show (it depends only
    on the query text)."""


class EngineError(LakemeshError, RuntimeError):
    """A governed query failed in the engine.

    ``str(error)`` is generic and safe to show the consumer (SPEC 2.8); ``detail``
    holds the engine's own message for the audit log only.
    """

    def __init__(self, message: str = "the query failed", *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail if detail is not None else message


class QueryTimeout(EngineError, TimeoutError):
    """The query ran past ``Limits.timeout_seconds`` and was interrupted."""


class QueryTooLarge(EngineError):
    """The result has more than ``Limits.max_rows`` rows, or the query needed more
    memory than ``Limits.memory_limit``."""


class QueryFailed(LakemeshError):
    """What a consumer is told when a governed query does not return rows: nothing about
    hidden data, only a correlation id to look the reason up in the audit log. The
    subclass says which kind of failure it was, so callers can tell a refusal from an
    outage without parsing messages."""


class QueryDenied(QueryFailed, PermissionDenied):
    """The query was refused: by the validator, or because the policy does not allow
    what it reads."""


class QueryUnavailable(QueryFailed, BackendUnavailable):
    """A table the query reads cannot be read now, or its engine cannot run."""


class QueryError(QueryFailed, RuntimeError):
    """The engine failed while running an allowed query (a timeout, a result too large,
    an error in the query that only the engine finds)."""


# --------------------------------------------------------------------------- HTTP API


class Unauthenticated(LakemeshError):
    """An HTTP request without a valid bearer token or session (never says which part
    was wrong)."""


class RateLimited(LakemeshError):
    """A token sent more requests than its rate limit allows; ``retry_after`` is in
    seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after} s")
        self.retry_after = retry_after


class PayloadTooLarge(InvalidInput):
    """A request body larger than the API's limit (counted as it arrives, chunked or
    not)."""


class UsageError(Exception):
    """A command line that cannot be run as written (exit 2). Not a ``LakemeshError``:
    it is the CLI's own, reported before any command runs."""


class MissingExtra(LakemeshError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed: pip install 'lakemesh[{extra}]' to use this feature"
        )


def first_line(error: BaseException | str, limit: int | None = None) -> str:
    """The first line of an error's text (its type's name when it has none), at most
    ``limit`` characters: what a one-line message, an audit reason or an alert shows."""
    text = str(error).strip()
    if text:
        line = text.splitlines()[0]
    else:
        line = type(error).__name__ if isinstance(error, BaseException) else ""
    return line if limit is None else line[:limit]
