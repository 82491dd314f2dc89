"""Where a governed table's rows come from: the files (or an Arrow scan) an engine may read.

A query reads what the catalog trusts. The table's folder is walked through the domain's
``Storage`` by the crawler's own rules (``catalog.files``: no ``_``/``.`` names, no link
out of the root (SPEC 2.5), ``key=value`` partition folders, the table's extension), and
a file is read only when its schema fits the catalog's: every column it shares with the
catalog reads as the catalog's type by widening. Its schema comes from the crawler's file
cache (same path, size and modification time) or, for a file the crawler has not seen,
from its footer or first block, as the crawler would read it. So a file the crawler
skipped (broken footer, a schema that does not merge) is skipped here too, and a file
added since the crawl is read if the crawler would take it. The list is fixed before the
engine locks itself down: the engine may read these files and nothing else.

Every scan is presented in the catalog's schema (``Source.columns``): the engines project
and cast file scans themselves. Iceberg and Delta tables are handed to the engine as lazy
scans (``lakemesh.query.lakehouse``: only what the query needs is read, batch by batch);
tables on object stores (no DuckDB extension can be loaded here) are read by pyarrow
into Arrow and conformed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa

from lakemesh.catalog import HIVE_NULL
from lakemesh.catalog.files import DataFile, table_files
from lakemesh.engines import LakehouseScan, Source, SourceColumn, SourceFormat
from lakemesh.engines.types import conform
from lakemesh.errors import (
    BackendUnavailable,
    CatalogCorrupt,
    NotFound,
    PathOutsideRoot,
    SchemaConflict,
    TableUnavailable,
    first_line,
)
from lakemesh.metadata.domains import Domain
from lakemesh.query.lakehouse import DeltaScan, DeltaTables, IcebergScan
from lakemesh.schema import canonical, widen
from lakemesh.storage import Storage
from lakemesh.storage.local import LocalStorage

MAX_FILES = 1_000_000
#: How many skipped files a query's audit record lists by name.
MAX_SKIPPED_LISTED = 20


def table_source(
    domain: Domain,
    table: str,
    table_format: str,
    location: str,
    partition_keys: Sequence[str],
    columns: Sequence[SourceColumn] = (),
) -> Source:
    """Where ``table`` (central name) reads from: its trusted files, or an Arrow scan.

    ``columns`` is the catalog's schema; without it the scan is the files' own and no
    file is checked against a schema (diagnostics). Raises ``TableUnavailable`` when the
    table's folder or its domain's root is gone or cannot be read.
    """
    storage = domain.storage()
    cols = tuple(columns)
    if not storage.exists():
        raise TableUnavailable(table, f"storage root {storage.uri} does not exist")
    if table_format in ("iceberg", "delta"):
        scan = _lakehouse_scan(domain, storage, table, table_format, location)
        return Source(format="lakehouse", lakehouse=scan, columns=cols)
    files, schemas, skipped = trusted_files(
        domain, storage, table, table_format, location, partition_keys, cols
    )
    if not isinstance(storage, LocalStorage):
        arrow = _object_store_scan(storage, table, files, cols)
        return Source(format="arrow", arrow=arrow, columns=cols, skipped=skipped)
    if not files:  # no data yet (or none the catalog trusts): no rows, the catalog's columns
        return Source(format="arrow", arrow=empty_table(cols), columns=cols, skipped=skipped)
    fmt: SourceFormat = FILE_FORMATS[table_format]
    return Source(
        format=fmt,
        files=tuple(storage.location(f.path) for f in files),
        hive_partitioning=bool(partition_keys),
        columns=cols,
        file_schemas=tuple(schemas) if cols else (),
        skipped=skipped,
    )


FILE_FORMATS: dict[str, SourceFormat] = {"parquet": "parquet", "csv": "csv", "json": "json"}


def trusted_files(
    domain: Domain,
    storage: Storage,
    table: str,
    table_format: str,
    location: str,
    partition_keys: Sequence[str],
    columns: Sequence[SourceColumn],
) -> tuple[list[DataFile], list[pa.Schema], tuple[str, ...]]:
    """The table's files a query may read, their schemas (when ``columns`` is given),
    and the files passed over, each with why."""
    rel = storage.relative(location)
    try:
        listed = table_files(storage, rel)
    except (FileNotFoundError, NotADirectoryError):
        raise TableUnavailable(table, f"table folder {location} does not exist") from None
    except OSError as e:
        raise TableUnavailable(table, f"cannot list {location}: {e}") from None
    keys = tuple(partition_keys)
    skipped: list[str] = []
    candidates: list[DataFile] = []
    for f in listed:
        if f.fmt != table_format:
            skipped.append(f"{f.path}: not a {table_format} file")
        elif tuple(k for k, _ in f.partition) != keys:
            skipped.append(f"{f.path}: partition layout is not {'/'.join(keys) or 'none'}")
        else:
            candidates.append(f)
    if len(candidates) > MAX_FILES:
        raise BackendUnavailable("table has more files than one query may read")
    if not columns:
        return candidates, [], _summary(skipped)
    files: list[DataFile] = []
    schemas: list[pa.Schema] = []
    checker = _SchemaCheck(domain, storage, rel, columns)
    for f in candidates:
        got = checker.schema(f)
        if isinstance(got, str):
            skipped.append(f"{f.path}: {got}")
            continue
        misfit = checker.misfit(got)
        if misfit is not None:
            skipped.append(f"{f.path}: {misfit}")
            continue
        files.append(f)
        schemas.append(got)
    return files, schemas, _summary(skipped)


def _summary(skipped: list[str]) -> tuple[str, ...]:
    if len(skipped) <= MAX_SKIPPED_LISTED:
        return tuple(skipped)
    more = len(skipped) - MAX_SKIPPED_LISTED
    return (*skipped[:MAX_SKIPPED_LISTED], f"... and {more} more")


class _SchemaCheck:
    """File schemas (the crawler's cache first, else the file itself) and whether they
    fit the catalog's; equal schemas are decoded and checked once."""

    def __init__(
        self, domain: Domain, storage: Storage, rel: str, columns: Sequence[SourceColumn]
    ) -> None:
        self.storage = storage
        self.cache = _file_cache(domain, storage, rel)
        self.by_blob: dict[bytes, pa.Schema] = {}
        self.last: pa.Schema | None = None
        self.verdicts: dict[int, str | None] = {}
        self.columns = {c.source.lower(): c for c in columns if not c.partition}

    def schema(self, f: DataFile) -> pa.Schema | str:
        hit = self.cache.get(f.path)
        if hit is not None and hit[0] == f.size and hit[1] == f.mtime_ns:
            schema = self.by_blob.get(hit[2])
            if schema is None:
                schema = self.by_blob[hit[2]] = pa.ipc.read_schema(pa.py_buffer(hit[2]))
            return schema
        from lakemesh.metadata.crawler import read_file_schema

        try:
            fresh = read_file_schema(self.storage, f.path, f.fmt)[0]
        except (OSError, pa.ArrowException, ValueError) as e:
            return f"unreadable ({first_line(e, 200)})"
        if self.last is not None and fresh.equals(self.last):
            return self.last
        self.last = fresh
        return fresh

    def misfit(self, schema: pa.Schema) -> str | None:
        """Why a file with ``schema`` cannot be read as the catalog's table, or None."""
        key = id(schema)
        if key not in self.verdicts:
            self.verdicts[key] = self._misfit(schema)
        return self.verdicts[key]

    def _misfit(self, schema: pa.Schema) -> str | None:
        for field in schema:
            column = self.columns.get(field.name.lower())
            if column is None:
                continue  # a column the catalog does not have (yet): never read
            target = column.arrow_type()
            found = canonical(field.type)
            if target is None:
                fits = str(found) == column.type
            elif pa.types.is_null(target):
                fits = True  # the catalog has seen only NULLs: it reads NULL
            else:
                try:
                    # catalog first: a struct's fields may come in any order in a file
                    fits = canonical(widen(target, found)).equals(canonical(target))
                except SchemaConflict:
                    fits = False
            if not fits:
                return f"column {field.name!r} is {found} in the file, {column.type} in the catalog"
        return None


def _file_cache(domain: Domain, storage: Storage, rel: str) -> dict[str, tuple[int, int, bytes]]:
    """The builtin catalog's cache of file schemas under ``rel`` (empty for other
    catalogs, or when the catalog file cannot be read: files are then read instead).

    Kept in memory between queries while the catalog file and its WAL are unchanged
    (same size and modification time): a table of ten thousand files would otherwise
    cost each query ten thousand rows of SQLite."""
    if domain.catalog_kind != "builtin":
        return {}
    from lakemesh.catalog.builtin import BuiltinCatalog

    stamp = _catalog_stamp(storage)
    key = (storage.uri, rel, stamp)
    if stamp is not None and key in _FILE_CACHES:
        return _FILE_CACHES[key]
    try:
        found = BuiltinCatalog(storage).file_schemas(rel)
    except (NotFound, CatalogCorrupt, BackendUnavailable):
        return {}
    if stamp is not None:
        if len(_FILE_CACHES) >= _FILE_CACHES_MAX:
            _FILE_CACHES.pop(next(iter(_FILE_CACHES)))
        _FILE_CACHES[key] = found
    return found


_FILE_CACHES: dict[tuple[object, ...], dict[str, tuple[int, int, bytes]]] = {}
_FILE_CACHES_MAX = 64


def _catalog_stamp(storage: Storage) -> tuple[int, ...] | None:
    """Size and modification time of a local builtin catalog and its WAL (None when it
    is not a local file: then nothing is kept)."""
    if not isinstance(storage, LocalStorage):
        return None
    from lakemesh.catalog.builtin import CATALOG_PATH

    main = Path(storage.location(CATALOG_PATH))
    stamp: list[int] = []
    for path in (main, main.with_name(main.name + "-wal")):
        try:
            st = path.stat()
        except OSError:
            stamp += [-1, -1]
        else:
            stamp += [st.st_size, st.st_mtime_ns]
    return tuple(stamp)


def empty_table(columns: Sequence[SourceColumn]) -> pa.Table:
    """No rows, in the catalog's columns (a column whose type has no Arrow form is null)."""
    return pa.schema([pa.field(c.name, c.arrow_type() or pa.null()) for c in columns]).empty_table()


def _conform(table: pa.Table, columns: Sequence[SourceColumn]) -> pa.Table:
    return conform(table, [(c.name, c.source, c.arrow_type()) for c in columns])


def read_whole(table: str, source: Source) -> Source:
    """``source`` with an Iceberg/Delta scan read whole into Arrow in the catalog's
    columns (for engines that do not read lakehouse scans themselves), else itself."""
    scan = source.lakehouse
    if scan is None:
        return source
    try:
        arrow = scan.read()
    except (OSError, pa.ArrowException) as e:
        raise TableUnavailable(table, f"{type(e).__name__}: {e}") from None
    except Exception as e:  # deltalake's and pyiceberg's own errors
        if type(e).__module__.split(".")[0] in ("deltalake", "pyiceberg"):
            raise TableUnavailable(table, f"{type(e).__name__}: {e}") from None
        raise
    if source.columns:
        arrow = _conform(arrow, source.columns)
    return Source(format="arrow", arrow=arrow, columns=source.columns)


#: Delta tables loaded by earlier queries of this process (``DeltaTables``).
_DELTA_TABLES = DeltaTables()


def _lakehouse_scan(
    domain: Domain, storage: Storage, table: str, table_format: str, location: str
) -> LakehouseScan:
    """The table loaded at its current version (metadata only: no data is read here)."""
    try:
        if not storage.scan(storage.relative(location)):
            raise TableUnavailable(table, f"table folder {location} does not exist or is empty")
        if table_format == "delta":
            return DeltaScan(_DELTA_TABLES.get(storage, location), storage, location)
        from lakemesh.catalog.iceberg import load_table

        return IcebergScan(
            load_table(storage, domain.catalog_kind, domain.catalog_uri, location, table), storage
        )
    except (PathOutsideRoot, TableUnavailable):
        raise
    except (OSError, pa.ArrowException, BackendUnavailable, CatalogCorrupt, NotFound) as e:
        raise TableUnavailable(table, f"{type(e).__name__}: {e}") from None
    except Exception as e:  # deltalake's and pyiceberg's own errors
        if type(e).__module__.split(".")[0] in ("deltalake", "pyiceberg"):
            raise TableUnavailable(table, f"{type(e).__name__}: {e}") from None
        raise


def _object_store_scan(
    storage: Storage, table: str, files: Sequence[DataFile], columns: Sequence[SourceColumn]
) -> pa.Table:
    """The trusted files of a table on an object store, read by pyarrow one by one, each
    with its partition values (as text, ``01`` stays ``01``) and conformed to the catalog's
    columns before they are put together."""
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    parts: list[pa.Table] = []
    for f in files:
        try:
            with storage.open_input(f.path) as fh:
                if f.fmt == "parquet":
                    data = pq.read_table(fh)
                elif f.fmt == "csv":
                    data = pacsv.read_csv(fh)
                else:
                    data = pajson.read_json(fh)
        except (OSError, pa.ArrowException, ValueError) as e:
            raise TableUnavailable(table, f"{f.path}: {first_line(e, 200)}") from None
        for key, value in f.partition:
            text = None if value == HIVE_NULL else unquote(value)
            data = data.append_column(key, pa.array([text] * data.num_rows, pa.string()))
        parts.append(_conform(data, columns) if columns else data)
    if not parts:
        return empty_table(columns)
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except pa.ArrowException as e:
        raise TableUnavailable(table, f"files do not concatenate: {first_line(e, 200)}") from None
