"""Domain catalogs: the catalog each domain keeps and controls (SPEC 1).

One small interface, three backends picked by the domain's ``catalog`` setting:

* ``builtin``: a SQLite file lakemesh keeps at ``<root>/_lakemesh/catalog.db``, written
  by the crawler and readable by any SQLite tool;
* ``iceberg:URI``: any pyiceberg catalog (SQL or REST);
* ``delta``: Delta tables found under the root.

Every backend lists tables, loads one table, lists its partitions and reports what
changed since a cursor. Backends with a native change feed (builtin) also return
partition deltas; the others report changed tables and the sync diffs their partitions.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pydantic import Field

from lakemesh.errors import InvalidInput
from lakemesh.schema import Schema
from lakemesh.storage import Storage
from lakemesh.typedef import Frozen

Format = Literal["parquet", "csv", "json", "iceberg", "delta"]
#: Data files by extension: what the crawler catalogs and a query reads.
EXTENSIONS: dict[str, Format] = {
    ".parquet": "parquet",
    ".parq": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


class Partition(NamedTuple):
    """One partition. A tuple, not a model: a sync may move a million of them."""

    key: str  #: canonical ``k1=v1/k2=v2`` in the table's partition-key order
    values: str  #: JSON object of the partition values (strings or null)
    location: str  #: absolute location
    file_count: int
    size_bytes: int
    row_count: int | None = None
    modified_at: int | None = None  #: newest file's mtime, ns since the epoch

    def same_as(self, other: Partition) -> bool:
        return self[1:] == other[1:]


#: A partition as a plain tuple in ``Partition``'s field order: what bulk paths move.
PartitionRow = tuple[str, str, str, int, int, int | None, int | None]


class TableRef(NamedTuple):
    database: str
    name: str
    #: An opaque change mark: equal marks mean an unchanged table.
    version: str

    @property
    def ident(self) -> tuple[str, str]:
        return (self.database, self.name)


class TableInfo(Frozen):
    database: str
    name: str
    format: Format
    location: str
    table_schema: Schema
    #: Partition field names in order (Hive keys, Iceberg partition fields, Delta columns).
    partition_keys: tuple[str, ...] = ()
    description: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    version: str
    file_count: int = 0
    size_bytes: int = 0
    row_count: int | None = None

    @property
    def ident(self) -> tuple[str, str]:
        return (self.database, self.name)


@dataclass
class PartitionDelta:
    """Partition changes of one table since a cursor (backends with a change feed)."""

    upserts: list[Partition]
    removed: list[str]


@dataclass
class Changes:
    """What changed in a domain catalog since a cursor."""

    cursor: str
    changed: list[TableRef]
    removed: list[tuple[str, str]]
    #: Per changed table, partition deltas; absent means "diff the full listing".
    deltas: dict[tuple[str, str], PartitionDelta] = field(default_factory=dict)


class DomainCatalog(ABC):
    """A domain's own catalog. Implementations raise ``BackendUnavailable`` when the
    catalog cannot be reached and ``CatalogCorrupt`` when it answers nonsense."""

    kind: str

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        #: Items a listing skipped (invalid names, locations outside the root), for the
        #: caller to show; listing never fails because of one bad table.
        self.warnings: list[str] = []
        #: Tables a listing saw but could not read: absent from the listing, yet the sync
        #: must never take them for removed (a bad listing deletes nothing).
        self.unreadable: set[tuple[str, str]] = set()

    def skip(self, ident: tuple[str, str], reason: str) -> None:
        """Record a table that exists but cannot be read right now."""
        self.unreadable.add(ident)
        self.warnings.append(f"skipped {ident[0]}.{ident[1]}: {reason}")

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release connections the backend holds (default: none)."""

    @abstractmethod
    def check(self) -> None:
        """Raise unless the catalog is reachable and readable."""

    @abstractmethod
    def list_tables(self) -> list[TableRef]:
        """Every table with its change mark (cheap: no schema, no partitions)."""

    @abstractmethod
    def load_table(self, database: str, name: str) -> TableInfo:
        """Schema and details of one table."""

    @abstractmethod
    def partitions(self, database: str, name: str) -> list[Partition]:
        """Every partition of one table (empty for unpartitioned tables)."""

    def partition_rows(self, database: str, name: str) -> Sequence[PartitionRow]:
        """``partitions()`` as plain tuples: the sync's bulk path, which moves a million
        rows and need not pay for a named tuple each. Backends may override."""
        return self.partitions(database, name)

    def changes(self, cursor: str | None) -> Changes:
        """Tables changed since ``cursor``. The default compares change marks.

        Its cursor is the JSON map of every table's mark, which is right for catalogs
        with no change feed of their own (Iceberg, Delta): the listing is cheap and the
        marks (metadata locations, log versions) change exactly when a table does.
        """
        seen = _decode_marks(cursor)
        refs = self.list_tables()
        current = {f"{r.database}.{r.name}": r.version for r in refs}
        changed = [r for r in refs if seen.get(f"{r.database}.{r.name}") != r.version]
        removed = [
            (db, name) for db, _, name in (k.partition(".") for k in seen.keys() - current.keys())
        ]
        return Changes(
            cursor=json.dumps(current, sort_keys=True), changed=changed, removed=sorted(removed)
        )

    def contained(self, location: str) -> bool:
        """SPEC 2.5: a table whose location leaves the domain's root is never synced."""
        return self.storage.contains(location)


def _decode_marks(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        marks = json.loads(cursor)
    except ValueError as exc:
        raise InvalidInput("stored sync cursor is not valid for this catalog kind") from exc
    if not isinstance(marks, dict):
        raise InvalidInput("stored sync cursor is not valid for this catalog kind")
    return {str(k): str(v) for k, v in marks.items()}


def parse_catalog_spec(spec: str) -> tuple[str, str | None]:
    """``builtin`` | ``delta`` | ``iceberg:URI`` -> (kind, uri)."""
    kind, sep, uri = spec.partition(":")
    if kind in ("builtin", "delta") and not sep:
        return kind, None
    if kind == "iceberg" and uri:
        return kind, uri
    raise InvalidInput(f"invalid catalog {spec!r}: expected builtin, delta or iceberg:URI")


def open_catalog(kind: str, uri: str | None, storage: Storage, **options: Any) -> DomainCatalog:
    """The domain catalog backend for a domain's settings (imported lazily)."""
    if kind == "builtin":
        from lakemesh.catalog.builtin import BuiltinCatalog

        return BuiltinCatalog(storage)
    if kind == "iceberg":
        from lakemesh.catalog.iceberg import IcebergCatalog

        assert uri is not None
        return IcebergCatalog(storage, uri, **options)
    if kind == "delta":
        from lakemesh.catalog.delta import DeltaCatalog

        return DeltaCatalog(storage)
    raise InvalidInput(f"unknown catalog kind {kind!r}")


def partition_key(keys: Iterable[str], values: dict[str, str | None]) -> str:
    """Canonical Hive-style key; null is spelled as Hive spells it."""
    return "/".join(f"{k}={_hive(values.get(k))}" for k in keys)


def _hive(value: str | None) -> str:
    return HIVE_NULL if value is None else value


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
