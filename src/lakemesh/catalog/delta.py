"""The Delta domain catalog: Delta tables found at ``<root>/<database>/<table>/_delta_log``.

There is no catalog service: the folder layout is the catalog, and the change mark of a
table is its latest commit version, read by listing ``_delta_log`` (no table load). The
schema and partitions come from deltalake, which reads only the log and checkpoints.

Object stores: for ``s3://`` roots the storage's endpoint and region are passed to
deltalake (``AWS_ENDPOINT_URL``, ``AWS_REGION``); credentials come from the environment,
as for every other reader.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa

from lakemesh.catalog import HIVE_NULL, DomainCatalog, Partition, TableInfo, TableRef, partition_key
from lakemesh.errors import (
    BackendUnavailable,
    CatalogCorrupt,
    MissingExtra,
    NotFound,
    PathOutsideRoot,
    first_line,
)
from lakemesh.schema import Schema, from_arrow, normal_name
from lakemesh.storage import Entry, Storage
from lakemesh.typedef import is_object_name

LOG_DIR = "_delta_log"


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError:
        raise MissingExtra("deltalake", "delta") from None
    return deltalake


def _unreadable() -> tuple[type[Exception], ...]:
    """What deltalake raises for a log it cannot read (every error of its Rust core is a
    ``DeltaError``), and what Arrow raises converting what it returned."""
    from deltalake.exceptions import DeltaError

    return (DeltaError, pa.ArrowException)


def _corrupt(rel_path: str, exc: BaseException) -> CatalogCorrupt:
    return CatalogCorrupt(f"unreadable Delta log in {rel_path}: {first_line(exc, _DETAIL)}")


#: How much of a backend's error message a catalog error repeats.
_DETAIL = 300


def log_version(entries: list[Entry]) -> int | None:
    """The latest commit version from a ``_delta_log`` listing (commits or checkpoints).

    Old commits may have been cleaned up after a checkpoint, so a checkpoint's version
    counts too; compacted logs (``N.M.compacted.json``) and ``.crc`` files do not.
    """
    best: int | None = None
    for e in entries:
        head, rest = e.name[:20], e.name[20:]
        if (
            len(head) == 20
            and head.isdigit()
            and (rest == ".json" or rest.startswith(".checkpoint."))
        ):
            best = max(best or 0, int(head))
    return best


def _storage_options(storage: Storage) -> dict[str, str]:
    opts: dict[str, str] = {}
    endpoint, region = getattr(storage, "endpoint", None), getattr(storage, "region", None)
    if endpoint:
        url = endpoint if "://" in endpoint else f"https://{endpoint}"
        opts["AWS_ENDPOINT_URL"] = url
        if url.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    if endpoint or region:
        opts["AWS_REGION"] = region or "us-east-1"  # as S3Storage does for pyarrow
    return opts


def _scan_log(storage: Storage, rel_path: str) -> list[Entry]:
    """The ``_delta_log`` listing; refuses logs that are, or hold, links leaving the root."""
    storage.relative(storage.location(f"{rel_path}/{LOG_DIR}"))  # resolves links
    try:
        entries = storage.scan(f"{rel_path}/{LOG_DIR}")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFound(f"{rel_path} is not a Delta table (no {LOG_DIR})") from exc
    except OSError as exc:
        raise BackendUnavailable(
            f"cannot list {rel_path}/{LOG_DIR}: {first_line(exc, _DETAIL)}"
        ) from exc
    if any(e.escapes for e in entries):
        raise PathOutsideRoot(f"{rel_path}/{LOG_DIR} holds a link leading outside the root")
    return entries


def _open(storage: Storage, rel_path: str) -> Any:
    """The deltalake table at ``rel_path``; a log it cannot read is ``CatalogCorrupt``."""
    deltalake = _deltalake()
    location = storage.location(rel_path)
    if log_version(_scan_log(storage, rel_path)) is None:
        raise CatalogCorrupt(f"{rel_path}/{LOG_DIR} holds no commit")
    try:
        return deltalake.DeltaTable(location, storage_options=_storage_options(storage) or None)
    except OSError as exc:
        raise BackendUnavailable(
            f"cannot read Delta table {rel_path}: {first_line(exc, _DETAIL)}"
        ) from exc
    except _unreadable() as exc:
        raise _corrupt(rel_path, exc) from exc


def _add_actions(table: Any, rel_path: str) -> pa.Table:
    try:
        return pa.table(table.get_add_actions(flatten=True))
    except _unreadable() as exc:
        raise _corrupt(rel_path, exc) from exc


def _info(
    storage: Storage, table: Any, adds: pa.Table, rel_path: str, database: str, name: str
) -> TableInfo:
    try:
        metadata = table.metadata()
        arrow = pa.schema(table.schema().to_arrow())  # deltalake 1.x hands out arro3 objects
        version = table.version()
    except _unreadable() as exc:
        raise _corrupt(rel_path, exc) from exc
    schema = from_arrow(arrow, partition_keys=metadata.partition_columns)
    keys = tuple(_catalog_name(schema, k) for k in metadata.partition_columns)
    rows = adds.column("num_records").to_pylist() if "num_records" in adds.column_names else []
    return TableInfo(
        database=database,
        name=name,
        format="delta",
        location=storage.location(rel_path),
        table_schema=schema,
        partition_keys=keys,
        description=metadata.description or None,
        properties={str(k): str(v) for k, v in (metadata.configuration or {}).items()},
        version=str(version),
        file_count=adds.num_rows,
        size_bytes=sum(adds.column("size_bytes").to_pylist()) if adds.num_rows else 0,
        row_count=None if None in rows or len(rows) != adds.num_rows else sum(rows),
    )


def _catalog_name(schema: Schema, raw: str) -> str:
    """A partition column's catalog name (normalised like every column name)."""
    col = schema.by_source(raw)
    return col.name if col is not None else normal_name(raw)


def _text(value: Any) -> str | None:
    """A partition value as Delta serialises it in the log."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return str(value.strftime("%Y-%m-%d %H:%M:%S.%f"))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _folder(path: str, columns: list[str]) -> str | None:
    """The partition folder of a relative add-action path, if it is the usual Hive one.

    Reusing the writer's folder keeps its escaping (``ts=2024-01-01%2012%3A00...``); the
    log stores paths as URIs, hence one more unquote. Absolute paths (shallow clones) and
    random file prefixes are not used.
    """
    if "://" in path or path.startswith("/"):
        return None
    segments = [unquote(s) for s in path.split("/")[:-1]]
    if len(segments) != len(columns) or not all(
        s.startswith(f"{c}=") and "/" not in s and "\\" not in s  # %2F: no way out
        for s, c in zip(segments, columns, strict=True)
    ):
        return None
    return "/".join(segments)


def _partitions(
    storage: Storage, adds: pa.Table, keys: tuple[str, ...], columns: list[str], rel_path: str
) -> list[Partition]:
    """Add actions grouped by partition values (``columns``: the log's own spelling)."""
    if not keys:
        return []
    base = storage.location(rel_path)
    cols = {
        c: adds.column(f"partition.{c}").to_pylist()
        if f"partition.{c}" in adds.column_names
        else [None] * adds.num_rows
        for c in columns
    }
    sizes = adds.column("size_bytes").to_pylist()
    mtimes = adds.column("modification_time").to_pylist()
    records = (
        adds.column("num_records").to_pylist()
        if "num_records" in adds.column_names
        else [None] * adds.num_rows
    )
    paths = adds.column("path").to_pylist()
    groups: dict[str, list[int]] = defaultdict(list)
    values_of: dict[str, dict[str, str | None]] = {}
    folder_of: dict[str, str] = {}
    for i in range(adds.num_rows):
        values = {k: _text(cols[c][i]) for k, c in zip(keys, columns, strict=True)}
        key = partition_key(keys, values)
        groups[key].append(i)
        values_of[key] = values
        if key not in folder_of:
            folder_of[key] = _folder(paths[i], columns) or "/".join(
                f"{c}={quote(HIVE_NULL if v is None else v, safe='')}"
                for c, v in zip(columns, values.values(), strict=True)
            )
    parts = []
    for key, idx in groups.items():
        rows: list[int | None] = [records[i] for i in idx]
        parts.append(
            Partition(
                key=key,
                values=json.dumps(values_of[key], separators=(",", ":")),
                location=f"{base}/{folder_of[key]}",
                file_count=len(idx),
                size_bytes=sum(sizes[i] for i in idx),
                row_count=None if None in rows else sum(r or 0 for r in rows),
                modified_at=max(mtimes[i] for i in idx) * 1_000_000,  # ms in the log
            )
        )
    return sorted(parts)


def _describe(
    storage: Storage, rel_path: str, database: str, name: str, with_partitions: bool = True
) -> tuple[TableInfo, list[Partition]]:
    table = _open(storage, rel_path)
    adds = _add_actions(table, rel_path)
    info = _info(storage, table, adds, rel_path, database, name)
    if not with_partitions:
        return info, []
    columns = list(table.metadata().partition_columns)
    return info, _partitions(storage, adds, info.partition_keys, columns, rel_path)


def describe_delta_table(
    storage: Storage, rel_path: str, database: str, name: str
) -> tuple[TableInfo, list[Partition]]:
    """Describe a Delta folder the crawler found under a builtin-catalog domain."""
    return _describe(storage, rel_path, database, name)


class DeltaCatalog(DomainCatalog):
    """A domain whose tables are Delta folders ``<database>/<table>`` under its root."""

    kind = "delta"

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        _deltalake()

    def check(self) -> None:
        try:
            present = self.storage.exists()
            if present:
                self.storage.scan("")
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot read storage root {self.storage.uri}: {first_line(exc, _DETAIL)}"
            ) from exc
        if not present:
            raise BackendUnavailable(f"storage root {self.storage.uri} does not exist")

    def _dirs(self, path: str, what: str) -> list[Entry]:
        """Visible, valid sub-folders of ``path``; the rest is skipped with a warning."""
        try:
            entries = sorted(self.storage.scan(path), key=lambda e: e.name)
        except PermissionError:
            self.warnings.append(f"skipped {path or '.'}: permission denied")
            return []
        except (FileNotFoundError, NotADirectoryError) as exc:
            if path:
                return []
            raise BackendUnavailable(f"storage root {self.storage.uri} does not exist") from exc
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot list {self.storage.uri}: {first_line(exc, _DETAIL)}"
            ) from exc
        out = []
        for e in entries:
            if e.name.startswith(("_", ".")):
                continue
            if e.escapes:
                self.warnings.append(f"skipped {e.path}: link leads outside the storage root")
            elif not e.is_dir:
                continue
            elif not is_object_name(e.name):
                self.warnings.append(f"skipped {e.path}: {e.name!r} is not a valid {what} name")
            else:
                out.append(e)
        return out

    def list_tables(self) -> list[TableRef]:
        refs = []
        for db in self._dirs("", "database"):
            for t in self._dirs(db.path, "table"):
                try:
                    version = log_version(_scan_log(self.storage, t.path))
                except NotFound:
                    self.warnings.append(f"skipped {t.path}: not a Delta table (no {LOG_DIR})")
                    continue
                except PathOutsideRoot as exc:
                    self.skip((db.name, t.name), str(exc))
                    continue
                if version is None:
                    self.skip((db.name, t.name), f"{LOG_DIR} holds no commit")
                    continue
                refs.append(TableRef(db.name, t.name, str(version)))
        return refs

    def _path(self, database: str, name: str) -> str:
        if not (is_object_name(database) and is_object_name(name)):
            raise NotFound(f"table {database}.{name} is not a Delta table in {self.storage.uri}")
        return f"{database}/{name}"

    def load_table(self, database: str, name: str) -> TableInfo:
        return _describe(
            self.storage, self._path(database, name), database, name, with_partitions=False
        )[0]

    def partitions(self, database: str, name: str) -> list[Partition]:
        return _describe(self.storage, self._path(database, name), database, name)[1]
