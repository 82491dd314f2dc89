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


class PathOutsideRoot(LakemeshError, PermissionError):
    """A location escapes its domain's storage root."""


class SchemaConflict(LakemeshError, TypeError):
    """Two schemas cannot be merged by widening."""


class SyncRefused(LakemeshError):
    """A sync listing looked unsafe; nothing was deleted (use --force to override)."""


class MissingExtra(LakemeshError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed: pip install 'lakemesh[{extra}]' to use this feature"
        )
