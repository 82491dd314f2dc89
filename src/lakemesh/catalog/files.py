"""Which files under a table folder are the table's data: one set of rules for the crawler,
which catalogs them, and for a governed query, which reads them (SPEC 2.5).

A name starting with ``_`` or ``.`` is never data (Spark/Hive convention: ``_SUCCESS``,
``_lakemesh``, ``.part.crc``); a link whose target leaves the storage root is never
followed; a folder is a partition only as ``key=value`` with a valid key, at most
``MAX_DEPTH`` deep; a file is data only with a known extension (``EXTENSIONS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakemesh.catalog import EXTENSIONS, Format
from lakemesh.storage import Entry, Storage
from lakemesh.typedef import is_object_name

PARTITION_DIR = re.compile(r"([^=]+)=(.*)")
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class DataFile:
    """One data file of a table folder, relative to the storage root."""

    path: str
    size: int
    mtime_ns: int
    fmt: Format
    #: The Hive ``(key, value)`` pairs of the folders it lies in, keys lower-cased.
    partition: tuple[tuple[str, str], ...]


def is_hidden(name: str) -> bool:
    """Names starting with ``_`` or ``.`` are bookkeeping, never data or partitions."""
    return name.startswith(("_", "."))


def file_format(name: str) -> Format | None:
    """The format a file name's extension stands for (``a.parquet``), else None; a name
    that is only an extension (``.parquet``) or has none (``parquet``) is not data."""
    dot = name.rfind(".")
    return EXTENSIONS.get(name[dot:].lower()) if dot > 0 else None


def partition_of(name: str) -> tuple[str, str] | None:
    """The ``(key, value)`` of a ``key=value`` partition folder name (key lower-cased),
    or None when the name is not one (no ``=``, or an invalid key)."""
    m = PARTITION_DIR.fullmatch(name)
    if m is None or not is_object_name(m.group(1).lower()):
        return None
    return m.group(1).lower(), m.group(2)


def table_files(storage: Storage, rel: str) -> list[DataFile]:
    """Every data file under the table folder ``rel`` by the rules above, sorted by path.

    Raises ``FileNotFoundError`` (or ``NotADirectoryError``) when ``rel`` itself is gone;
    a partition folder that vanishes during the walk is passed over.
    """
    out: list[DataFile] = []
    todo: list[tuple[str, tuple[tuple[str, str], ...]]] = [(rel, ())]
    while todo:
        path, part = todo.pop()
        try:
            entries = storage.scan(path)
        except (FileNotFoundError, NotADirectoryError):
            if path == rel:
                raise
            continue
        for entry in entries:
            found = _accept(entry, part)
            if isinstance(found, DataFile):
                out.append(found)
            elif found is not None:
                todo.append((entry.path, found))
    return sorted(out, key=lambda f: f.path)


def _accept(
    entry: Entry, part: tuple[tuple[str, str], ...]
) -> DataFile | tuple[tuple[str, str], ...] | None:
    """A data file, a partition folder to descend into (its partition), or None."""
    if is_hidden(entry.name) or entry.escapes:
        return None
    if entry.is_dir:
        kv = partition_of(entry.name)
        return None if kv is None or len(part) + 1 >= MAX_DEPTH else (*part, kv)
    fmt = file_format(entry.name)
    if fmt is None:
        return None
    return DataFile(entry.path, entry.size, entry.mtime_ns, fmt, part)
