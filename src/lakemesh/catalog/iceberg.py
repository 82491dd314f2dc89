"""Iceberg domain catalogs (any pyiceberg SQL or REST catalog) and Iceberg table folders.

Mapping: a single-level namespace is a database, a table is a table; anything else is
skipped with a warning. Every file pyiceberg reads goes through ``RootedFileIO``, which
refuses locations outside the domain's root (SPEC 2.5), so a catalog shared with other
domains cannot make us read their metadata. The change mark is the metadata location:
Iceberg writes a new metadata file on every commit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from lakemesh.catalog import DomainCatalog, Partition, TableInfo, TableRef, partition_key
from lakemesh.errors import (
    BackendUnavailable,
    CatalogCorrupt,
    InvalidInput,
    LakemeshError,
    MissingExtra,
    NotFound,
    PathOutsideRoot,
    first_line,
)
from lakemesh.schema import from_arrow, normal_name
from lakemesh.storage import Storage, open_storage
from lakemesh.typedef import is_object_name

if TYPE_CHECKING:
    pass

#: Property naming the storage root ``RootedFileIO`` confines reads to.
ROOT_PROPERTY = "lakemesh.root"
_IO_IMPL = "lakemesh.catalog.iceberg.RootedFileIO"


def _require_pyiceberg() -> None:
    try:
        import pyiceberg  # noqa: F401
    except ImportError:
        raise MissingExtra("pyiceberg", "iceberg") from None


def _strip_file_scheme(location: str) -> str:
    """``file:/x`` (as Java writes it) and ``file:///x`` both mean ``/x``."""
    if location.startswith("file:") and not location.startswith("file://"):
        return location[len("file:") :]
    return location


def canonical(storage: Storage, location: str) -> str:
    """The storage's spelling of a location inside its root; ``PathOutsideRoot`` otherwise."""
    try:
        return storage.location(storage.relative(_strip_file_scheme(location)))
    except InvalidInput as exc:
        raise PathOutsideRoot(f"location {location!r} is outside the storage root") from exc


class RootedFileIO:
    """A pyiceberg FileIO (loaded by name via ``py-io-impl``) that only reads inside the root.

    It wraps ``PyArrowFileIO`` and refuses every write: lakemesh never writes Iceberg files.
    """

    def __init__(self, properties: dict[str, str]) -> None:
        from pyiceberg.io.pyarrow import PyArrowFileIO

        self.properties = properties
        self._io = PyArrowFileIO(properties)
        self._storage = open_storage(properties[ROOT_PROPERTY])

    def new_input(self, location: str) -> Any:
        canonical(self._storage, location)
        return self._io.new_input(location)

    def new_output(self, location: str) -> Any:
        raise PathOutsideRoot(f"lakemesh never writes Iceberg files ({location})")

    def delete(self, location: Any) -> None:
        raise PathOutsideRoot(f"lakemesh never deletes Iceberg files ({location})")


def io_properties(storage: Storage) -> dict[str, str]:
    """pyiceberg properties that route file access through ``RootedFileIO``."""
    props = {"py-io-impl": _IO_IMPL, ROOT_PROPERTY: storage.uri}
    endpoint, region = getattr(storage, "endpoint", None), getattr(storage, "region", None)
    if endpoint:
        props["s3.endpoint"] = endpoint if "://" in endpoint else f"https://{endpoint}"
    if region:
        props["s3.region"] = region
    return props


@contextmanager
def _guard(label: str, what: str) -> Iterator[None]:
    """pyiceberg, SQLAlchemy and HTTP errors -> one-line lakemesh errors (no tracebacks)."""
    from pyiceberg import exceptions as ice

    try:
        yield
    except LakemeshError:
        raise
    except (ice.NoSuchTableError, ice.NoSuchNamespaceError, ice.NoSuchIdentifierError) as exc:
        raise NotFound(f"{what} is not in iceberg catalog {label}") from exc
    except FileNotFoundError as exc:
        raise CatalogCorrupt(
            f"{what}: a metadata file is missing ({first_line(exc, 300)})"
        ) from exc
    except (OSError, ice.RESTError) as exc:
        raise BackendUnavailable(
            f"cannot reach iceberg catalog {label}: {first_line(exc, 300)}"
        ) from exc
    except Exception as exc:
        from sqlalchemy import exc as sa

        cause = (exc.orig or exc) if isinstance(exc, sa.DBAPIError) else exc
        if isinstance(exc, sa.OperationalError | sa.InterfaceError | sa.TimeoutError):
            raise BackendUnavailable(
                f"cannot reach iceberg catalog {label}: {first_line(cause, 300)}"
            ) from exc
        raise CatalogCorrupt(
            f"{what} in iceberg catalog {label} is unreadable: {first_line(cause, 300)}"
        ) from exc


def _redact(uri: str) -> str:
    """The catalog URI without a password, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class IcebergCatalog(DomainCatalog):
    """A domain whose catalog is a pyiceberg SQL (SQLAlchemy URL) or REST (http[s]) catalog.

    ``options`` are passed to pyiceberg as catalog properties (``credential``, ``token``,
    ...); ``name`` selects the catalog name (one SQL database can hold several).
    """

    kind = "iceberg"

    def __init__(self, storage: Storage, uri: str, **options: Any) -> None:
        super().__init__(storage)
        self.uri = uri
        self.name = str(options.pop("name", "default"))
        self.options = {k: str(v) for k, v in options.items()}
        self.label = _redact(uri)
        self._cat: Any = None

    def _catalog(self) -> Any:
        """The pyiceberg catalog, connected on first use (REST fetches its config here)."""
        if self._cat is None:
            _require_pyiceberg()
            with _guard(self.label, "catalog"):
                self._cat = self._connect()
        return self._cat

    def _connect(self) -> Any:
        props = {**self.options, **io_properties(self.storage)}
        if self.uri.startswith(("http://", "https://")):
            from pyiceberg.catalog.rest import RestCatalog

            return RestCatalog(self.name, uri=self.uri, **props)
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.uri)
        except ArgumentError as exc:
            raise InvalidInput(
                f"invalid iceberg catalog URI {self.label!r}: expected a "
                "SQLAlchemy URL or http(s)://"
            ) from exc
        # SQLite would silently create an empty catalog where the real one is missing.
        if (
            url.get_backend_name() == "sqlite"
            and url.database not in (None, "", ":memory:")
            and not os.path.isfile(url.database)
        ):
            raise BackendUnavailable(
                f"cannot reach iceberg catalog {self.label}: {url.database} does not exist"
            )
        from pyiceberg.catalog.sql import SqlCatalog

        props.setdefault("init_catalog_tables", "false")  # a reader never creates tables
        return SqlCatalog(self.name, uri=self.uri, warehouse=self.storage.location(""), **props)

    def close(self) -> None:
        """Release the SQL catalog's connection pool (REST catalogs hold none)."""
        engine = getattr(self._cat, "engine", None)
        if engine is not None:
            engine.dispose()
        self._cat = None

    def check(self) -> None:
        cat = self._catalog()
        with _guard(self.label, "namespace list"):
            cat.list_namespaces()

    def list_tables(self) -> list[TableRef]:
        cat = self._catalog()
        refs: list[TableRef] = []
        for database in self._databases(cat):
            try:
                with _guard(self.label, f"namespace {database}"):
                    idents = cat.list_tables((database,))
            except NotFound:
                continue  # dropped while we listed
            for ident in idents:
                name = ident[-1]
                full = f"{database}.{name}"
                if not is_object_name(name):
                    self.warnings.append(
                        f"skipped iceberg table {full}: {name!r} is not a valid table name"
                    )
                    continue
                try:
                    table = self._load(database, name)
                except NotFound:
                    continue  # dropped while we listed
                except (PathOutsideRoot, CatalogCorrupt) as exc:
                    self.skip((database, name), f"iceberg table {full}: {exc}")
                    continue
                refs.append(TableRef(database, name, str(table.metadata_location)))
        return sorted(refs)

    def _databases(self, cat: Any) -> list[str]:
        with _guard(self.label, "namespace list"):
            namespaces = [tuple(ns) for ns in cat.list_namespaces()]
        out = []
        for ns in namespaces:
            shown = ".".join(ns)
            if len(ns) != 1 or not is_object_name(ns[0]):
                self.warnings.append(
                    f"skipped iceberg namespace {shown}: not a valid database name"
                )
                continue
            try:
                with _guard(self.label, f"namespace {shown}"):
                    nested = cat.list_namespaces(ns)
            except NotFound:
                continue
            for child in nested:
                self.warnings.append(
                    f"skipped iceberg namespace {'.'.join(child)}: "
                    "multi-level namespaces are not supported"
                )
            out.append(ns[0])
        return out

    def _load(self, database: str, name: str) -> Any:
        """The pyiceberg table, after checking it stays inside the root."""
        if not (is_object_name(database) and is_object_name(name)):
            raise NotFound(f"table {database}.{name} is not in iceberg catalog {self.label}")
        cat = self._catalog()
        with _guard(self.label, f"table {database}.{name}"):
            table = cat.load_table((database, name))
        _check_table(self.storage, table)
        return table

    def load_table(self, database: str, name: str) -> TableInfo:
        table = self._load(database, name)
        with _guard(self.label, f"table {database}.{name}"):
            return table_info(self.storage, table, database, name)

    def partitions(self, database: str, name: str) -> list[Partition]:
        table = self._load(database, name)
        with _guard(self.label, f"table {database}.{name}"):
            return table_partitions(self.storage, table)


# ---------------------------------------------------------------------- shared code


def _check_table(storage: Storage, table: Any) -> None:
    """Refuse tables located outside the root or that swapped out our FileIO."""
    if not isinstance(table.io, RootedFileIO):
        # A table property can name another py-io-impl; it would bypass the root check.
        raise PathOutsideRoot("the table or catalog overrides py-io-impl; refusing to read it")
    canonical(storage, table.location())


def _partition_fields(table: Any) -> list[Any]:
    from pyiceberg.transforms import VoidTransform

    return [f for f in table.spec().fields if not isinstance(f.transform, VoidTransform)]


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def table_info(storage: Storage, table: Any, database: str, name: str) -> TableInfo:
    """A TableInfo from a pyiceberg table (catalog or static), at its current snapshot."""
    from pyiceberg.transforms import IdentityTransform

    schema = table.schema()
    fields = _partition_fields(table)
    identity_sources = []
    for f in fields:
        if isinstance(f.transform, IdentityTransform):
            try:
                identity_sources.append(schema.find_field(f.source_id).name.lower())
            except ValueError:
                continue  # source column dropped
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot is not None else {"total-records": "0"}
    props = {str(k): str(v) for k, v in table.properties.items()}
    return TableInfo(
        database=database,
        name=name,
        format="iceberg",
        location=canonical(storage, table.location()),
        table_schema=from_arrow(schema.as_arrow(), partition_keys=identity_sources),
        partition_keys=tuple(normal_name(f.name) for f in fields),
        description=props.get("comment"),
        properties=props,
        version=str(table.metadata_location),
        file_count=_int(summary.get("total-data-files")) or 0,
        size_bytes=_int(summary.get("total-files-size")) or 0,
        row_count=_int(summary.get("total-records")),
    )


def table_partitions(storage: Storage, table: Any) -> list[Partition]:
    """Partitions of the current snapshot from its data manifests.

    Values are Iceberg's human strings (``2024-01-31`` for a day transform), keyed by the
    current spec's field names; files written under an older spec lack the newer fields
    (null) and are merged with any partition that has the same key.
    """
    from pyiceberg.manifest import ManifestContent

    keys = [normal_name(f.name) for f in _partition_fields(table)]
    snapshot = table.current_snapshot()
    if not keys or snapshot is None:
        return []
    base = canonical(storage, table.location())
    schema, specs = table.schema(), table.specs()
    stamps = {s.snapshot_id: s.timestamp_ms for s in table.snapshots()}
    types: dict[int, Any] = {}
    acc: dict[str, list[Any]] = {}  # key -> [values, location, files, bytes, rows, ms]
    for manifest in snapshot.manifests(table.io):
        if manifest.content != ManifestContent.DATA:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            df = entry.data_file
            spec = specs[df.spec_id]
            if df.spec_id not in types:
                types[df.spec_id] = spec.partition_type(schema)
            ptypes = types[df.spec_id].fields
            values: dict[str, str | None] = dict.fromkeys(keys)
            for pos, pf in enumerate(spec.fields):
                v = df.partition[pos]
                if normal_name(pf.name) in values and v is not None:
                    values[normal_name(pf.name)] = pf.transform.to_human_string(
                        ptypes[pos].field_type, v
                    )
            key = partition_key(keys, values)
            row = acc.get(key)
            if row is None:
                loc = f"{base}/data/{spec.partition_to_path(df.partition, schema)}"
                row = acc[key] = [values, loc, 0, 0, 0, None]
            row[2] += 1
            row[3] += df.file_size_in_bytes
            row[4] += df.record_count
            ms = stamps.get(entry.snapshot_id)
            if ms is not None and (row[5] is None or ms > row[5]):
                row[5] = ms
    return sorted(
        Partition(
            key,
            json.dumps(v, separators=(",", ":")),
            loc,
            files,
            size,
            rows,
            None if ms is None else ms * 1_000_000,
        )
        for key, (v, loc, files, size, rows, ms) in acc.items()
    )


def _metadata_order(file_name: str) -> int:
    """The version number in ``00003-uuid.metadata.json`` or ``v3.metadata.json``."""
    head = file_name.split("-", 1)[0].split(".", 1)[0].removeprefix("v")
    return int(head) if head.isdigit() else -1


def describe_iceberg_table(
    storage: Storage, rel_path: str, database: str, name: str
) -> tuple[TableInfo, list[Partition]]:
    """Describe an Iceberg folder the crawler found, from its newest metadata file."""
    table = _static_table(storage, rel_path)
    label = table.metadata_location
    with _guard(label, "table metadata"):
        return table_info(storage, table, database, name), table_partitions(storage, table)


def load_table(
    storage: Storage, catalog_kind: str, catalog_uri: str | None, location: str, table: str
) -> Any:
    """An Iceberg table at its current snapshot, for a governed query to scan.

    ``table`` is the central name ``domain.database.name``. The table is loaded from the
    domain's Iceberg catalog, or (a folder the crawler found) from its newest metadata
    file; either way every file is read through ``RootedFileIO``, so a manifest naming a
    file outside the domain root fails the query instead of reading it.
    """
    _require_pyiceberg()
    _, database, name = table.split(".")
    if catalog_kind == "iceberg" and catalog_uri:
        catalog = IcebergCatalog(storage, catalog_uri)
        try:
            return catalog._load(database, name)
        finally:
            catalog.close()
    return _static_table(storage, storage.relative(location))


def _static_table(storage: Storage, rel_path: str) -> Any:
    """The pyiceberg table of an Iceberg folder, from its newest metadata file."""
    _require_pyiceberg()
    from pyiceberg.table import StaticTable

    try:
        entries = storage.scan(f"{rel_path}/metadata")
    except OSError as exc:
        raise CatalogCorrupt(f"cannot list {rel_path}/metadata: {first_line(exc, 300)}") from exc
    files = [
        e for e in entries if e.name.endswith(".metadata.json") and not e.is_dir and not e.escapes
    ]
    if not files:
        raise CatalogCorrupt(f"{rel_path}/metadata holds no *.metadata.json file")
    newest = max(files, key=lambda e: (_metadata_order(e.name), e.mtime_ns, e.name))
    label = storage.location(newest.path)
    with _guard(label, "table metadata"):
        try:
            table = StaticTable.from_metadata(label, properties=io_properties(storage))
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogCorrupt(
                f"unreadable iceberg metadata {newest.path}: {first_line(exc, 300)}"
            ) from exc
        _check_table(storage, table)
        return table
