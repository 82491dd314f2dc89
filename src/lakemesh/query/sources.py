"""Where a governed table's rows come from: the files (or an Arrow scan) an engine may read.

Every file is found by walking the table's location through the domain's ``Storage``, so
a link leading out of the root is never followed (SPEC 2.5), and the list is fixed
before the engine locks itself down: the engine may read these files and nothing else.
Iceberg and Delta tables, and tables on object stores (no DuckDB extension can be loaded
here), are scanned by pyiceberg/deltalake/pyarrow into Arrow instead.
"""

from __future__ import annotations

import pyarrow as pa

from lakemesh.catalog import EXTENSIONS
from lakemesh.domains import Domain
from lakemesh.engines import Source, SourceFormat
from lakemesh.errors import BackendUnavailable, PathOutsideRoot
from lakemesh.storage import Storage
from lakemesh.storage.local import LocalStorage

MAX_FILES = 1_000_000


def table_source(
    domain: Domain, table: str, table_format: str, location: str, partition_keys: list[str]
) -> Source:
    """Where ``table`` (central name) reads from: its granted files, or an Arrow scan."""
    storage = domain.storage()
    if table_format in ("iceberg", "delta") or not isinstance(storage, LocalStorage):
        arrow = _arrow_scan(domain, storage, table, table_format, location, partition_keys)
        return Source(format="arrow", arrow=arrow)
    files = data_files(storage, storage.relative(location), table_format)
    if not files:  # a table whose files are gone: no rows, not an error
        return Source(format="arrow", arrow=pa.table({}))
    fmt: SourceFormat = FILE_FORMATS[table_format]
    return Source(
        format=fmt,
        files=tuple(storage.location(f) for f in files),
        hive_partitioning=bool(partition_keys),
    )


FILE_FORMATS: dict[str, SourceFormat] = {"parquet": "parquet", "csv": "csv", "json": "json"}


def data_files(storage: Storage, rel: str, table_format: str) -> list[str]:
    """The table's data files (relative paths), links out of the root excluded."""
    out: list[str] = []
    todo = [rel]
    while todo:
        path = todo.pop()
        for entry in storage.scan(path):
            if entry.name.startswith(("_", ".")) or entry.escapes:
                continue
            if entry.is_dir:
                todo.append(entry.path)
            elif EXTENSIONS.get("." + entry.name.rsplit(".", 1)[-1].lower()) == table_format:
                out.append(entry.path)
                if len(out) > MAX_FILES:
                    raise BackendUnavailable("table has more files than one query may read")
    return sorted(out)


def _arrow_scan(
    domain: Domain,
    storage: Storage,
    table: str,
    table_format: str,
    location: str,
    partition_keys: list[str],
) -> pa.Table:
    if table_format == "delta":
        from deltalake import DeltaTable

        delta = DeltaTable(location)
        # The log names the files; a link among them could lead out of the root.
        outside = [u for u in delta.file_uris() if not storage.contains(u)]
        if outside:
            raise PathOutsideRoot(f"Delta table {location} names files outside the storage root")
        return pa.table(delta.to_pyarrow_dataset().to_table())
    if table_format == "iceberg":
        from lakemesh.catalog.iceberg import scan_to_arrow

        return scan_to_arrow(storage, domain.catalog_kind, domain.catalog_uri, location, table)
    import pyarrow.dataset as ds  # imports pandas: only object-store tables need it

    fs, _ = storage.filesystem()
    rel = storage.relative(location)
    paths = [
        storage.location(f).removeprefix("s3://") for f in data_files(storage, rel, table_format)
    ]
    dataset = ds.dataset(
        paths, filesystem=fs, format=table_format, partitioning="hive" if partition_keys else None
    )
    return dataset.to_table()
