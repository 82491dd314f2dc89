"""Query engines: where a governed plan runs (SPEC 2.2).

One small interface, backends picked by name through a lazy loader (STYLE 2):

* ``duckdb``: embedded; a fresh, locked-down in-memory connection per query;
* ``spark``: distributed; one JVM per process, an isolated Spark session per query
  (``pip install 'lakemesh[spark]'`` and Java 17).

The planner (``lakemesh.query.plan``) owns ``Plan`` and ``GovernedRelation``; this
module only states the shape it needs from them as Protocols, so either the real
classes or any object with the same attributes can be handed to ``Engine.run``.

An engine receives, per central table, a ``Source`` that names exactly the files the
query may read (or an Arrow table for Iceberg/Delta scans done by the caller). It
never decides *what* may be read; it only makes sure nothing else can be.
``checked_relations`` is the shape check every engine runs on a plan's relations before
binding them to their sources.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import quote

from sqlglot import exp

from lakemesh.errors import EngineError as EngineError
from lakemesh.errors import InvalidInput, MissingExtra
from lakemesh.errors import QueryTimeout as QueryTimeout
from lakemesh.errors import QueryTooLarge as QueryTooLarge

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")
SourceFormat = Literal["parquet", "csv", "json", "arrow", "lakehouse"]
SOURCE_FORMATS: tuple[str, ...] = ("parquet", "csv", "json", "arrow", "lakehouse")

#: The placeholder table a relation's SELECT reads from; the engine swaps in the scan.
SOURCE_PLACEHOLDER = "__lm_source"

_ALIAS_RE = re.compile(r"^[a-z0-9_]+$")
_MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
#: Characters DuckDB's file readers treat as glob syntax: a path holding one could
#: widen a grant to files nobody granted, so such paths are refused outright.
_GLOB_CHARS = frozenset("*?[]{}")


class GovernedRelationLike(Protocol):
    """What an engine needs of ``lakemesh.query.plan.GovernedRelation``."""

    @property
    def alias(self) -> str: ...  #: ``[a-z0-9_]+``, the name consumer SQL uses

    @property
    def table(self) -> str: ...  #: central name ``domain.db.table``, key into sources

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def select(self) -> exp.Select: ...  #: ``SELECT ... FROM "__lm_source" WHERE ...``


class PlanLike(Protocol):
    """What an engine needs of ``lakemesh.query.plan.Plan``."""

    @property
    def sql(self) -> exp.Expr: ...

    @property
    def relations(self) -> Sequence[GovernedRelationLike]: ...

    @property
    def tables(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class SourceColumn:
    """One column of a governed table as the catalog has it: the relation reads ``name``,
    of the catalog's ``type`` (Arrow type text); the files spell it ``source`` (for a
    partition column, the Hive key in the folder names)."""

    name: str
    type: str
    source: str
    partition: bool = False

    def arrow_type(self) -> pa.DataType | None:
        """The catalog type, or None when it has no exact Arrow form here (the column is
        then read as the files have it). ``null``: the catalog has seen only NULLs, and
        the column reads as NULL until a crawl types it."""
        from lakemesh.engines.types import arrow_type

        try:
            return arrow_type(self.type)
        except InvalidInput:
            return None


class LakehouseScan(Protocol):
    """An Iceberg or Delta table read lazily (``lakemesh.query.lakehouse``)."""

    #: ``iceberg`` or ``delta``.
    kind: str
    #: The table's own columns (as its files spell them).
    schema: pa.Schema

    def open(self, columns: Sequence[str] | None, where: exp.Expr | None) -> Any:
        """The rows ``where`` may admit (it may return more, never fewer), only
        ``columns`` (all when None; the engine may prune further): a pyarrow dataset or
        an Arrow stream, both in the table's own column names."""
        ...

    def read(self) -> pa.Table:
        """Every row, in the table's own columns."""
        ...


@dataclass(frozen=True)
class Source:
    """What one central table reads from for one query: exactly the granted files
    (absolute local paths, no globs), or an Arrow table the caller already scanned.

    With ``columns`` (the catalog's schema, in order), the scan an engine builds presents
    exactly those columns, each found by its files' name and cast to the catalog's type,
    whatever each file holds: files written before a column existed read it as NULL,
    narrower types read widened, extra columns are not seen. ``file_schemas`` (aligned
    with ``files``) is each file's own schema, for engines that read schema groups apart.
    Without ``columns`` the scan is the files' own (tests and diagnostics).
    """

    format: SourceFormat
    files: tuple[str, ...] = ()
    hive_partitioning: bool = False
    arrow: pa.Table | None = None
    #: An Iceberg or Delta table, read by the engine as the query needs it.
    lakehouse: LakehouseScan | None = None
    columns: tuple[SourceColumn, ...] = ()
    file_schemas: tuple[pa.Schema, ...] = ()
    #: Files in the table's folder the query does not read, each with why (for the audit).
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.format not in SOURCE_FORMATS:
            raise InvalidInput(f"unknown source format {self.format!r}")
        if self.file_schemas and len(self.file_schemas) != len(self.files):
            raise InvalidInput("file_schemas must give one schema per file")
        if self.format == "lakehouse":
            if self.lakehouse is None or self.files or self.arrow is not None:
                raise InvalidInput("a lakehouse source takes a scan and nothing else")
            return
        if self.lakehouse is not None:
            raise InvalidInput(f"a {self.format} source takes no lakehouse scan")
        if self.format == "arrow":
            if self.arrow is None or self.files:
                raise InvalidInput("an arrow source takes a table and no files")
            return
        if self.arrow is not None:
            raise InvalidInput(f"a {self.format} source takes files, not an arrow table")
        if not self.files:
            raise InvalidInput(f"a {self.format} source needs at least one file")
        for path in self.files:
            if not isinstance(path, str) or not os.path.isabs(path) or "\x00" in path:
                raise InvalidInput(f"source files must be absolute local paths: {path!r}")
            if _GLOB_CHARS.intersection(path):
                raise InvalidInput(f"source file paths may not contain glob characters: {path!r}")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one query."""

    memory_limit: str = "1GB"
    threads: int = 2
    timeout_seconds: float = 60.0
    max_rows: int = 1_000_000
    #: Largest result, in bytes of Arrow data: ``repeat('x', 10^9)`` is one row.
    max_result_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if not _MEMORY_RE.match(self.memory_limit):
            raise InvalidInput(f"invalid memory limit {self.memory_limit!r} (e.g. '1GB')")
        if self.threads < 1:
            raise InvalidInput("threads must be at least 1")
        if not self.timeout_seconds > 0:
            raise InvalidInput("timeout_seconds must be positive")
        if self.max_rows < 0:
            raise InvalidInput("max_rows must not be negative")
        if self.max_result_bytes < 1:
            raise InvalidInput("max_result_bytes must be positive")


class Engine(ABC):
    """Runs a governed plan and returns its result as Arrow.

    Implementations must apply every relation's SELECT *inside* the table reference
    the consumer SQL sees, let the consumer SQL read nothing else (no files, settings
    or catalog internals), enforce ``limits``, and raise only ``EngineError`` and its
    subclasses, with generic messages.
    """

    name: str
    #: Whether the engine hides the consumer's predicates from the policy's scan (an
    #: optimisation barrier), so the planner should push the harmless ones in itself.
    pushes_predicates: bool = False
    #: Whether the engine reads ``lakehouse`` sources itself (lazily, as the query needs
    #: them); for one that does not, the caller hands it the table read whole as Arrow.
    reads_lakehouse: bool = False

    def warm(self, limits: Limits) -> None:  # noqa: B027  (optional; most engines need none)
        """Start, in the background, what the next ``run`` with ``limits`` will need, so
        that it is ready once the query is planned (called before planning)."""

    @abstractmethod
    def run(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> pa.Table:
        """Run ``plan``; ``sources`` is keyed by central table name."""

    @contextmanager
    def stream(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> Iterator[Batches]:
        """Run ``plan`` and give its result as Arrow batches, read while the block runs
        (the limits hold while they are read). This default runs the query whole; an
        engine that can stream its result overrides it."""
        yield TableBatches(self.run(plan, sources, limits))


class Batches(Protocol):
    """A result read batch by batch: ``schema``, then the batches once."""

    @property
    def schema(self) -> pa.Schema: ...

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...


class TableBatches:
    """A whole result table as ``Batches``."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self.schema = table.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self._table.to_batches())


def checked_relations(
    relations: Sequence[GovernedRelationLike],
) -> Sequence[GovernedRelationLike]:
    """``relations`` if each has a safe, unique alias, selects exactly its ``columns`` and
    reads only from ``"__lm_source"``; else ``EngineError`` (fail closed)."""
    seen: set[str] = set()
    for relation in relations:
        if not _ALIAS_RE.match(relation.alias) or relation.alias in seen:
            raise EngineError(detail=f"invalid or duplicate relation alias {relation.alias!r}")
        seen.add(relation.alias)
        select = relation.select
        if not isinstance(select, exp.Select):
            raise EngineError(detail=f"relation {relation.alias} is not a SELECT")
        if list(select.named_selects) != list(relation.columns):
            raise EngineError(
                detail=f"relation {relation.alias} selects {select.named_selects}, "
                f"expected {list(relation.columns)}"
            )
        tables = list(select.find_all(exp.Table))
        if not tables or any(not is_placeholder(t) for t in tables):
            raise EngineError(
                detail=f"relation {relation.alias} must read only from {SOURCE_PLACEHOLDER}"
            )
    return relations


def failed_read(detail: str, sources: Mapping[str, Source]) -> EngineError:
    """An engine failure whose message (``detail``) names a file of one of ``sources``:
    that table could not be read, and the consumer is told so by name (the table is one
    they named and may read; the file and the reason go to the audit log only). Any
    other failure stays generic."""
    for table, source in sources.items():
        for path in source.files:
            if path in detail or quote(path) in detail:
                return EngineError(f"table {table} is unavailable", detail=detail)
    return EngineError(detail=detail)


def lakehouse_condition(select: exp.Select, source: Source) -> exp.Expr | None:
    """A lakehouse relation's WHERE (the policy's row filter and the predicates the
    planner pushed in) in the table's own column names, qualified by the placeholder, for
    the scan to prune files with (``LakehouseScan``); the relation's SELECT is untouched."""
    where = select.args.get("where")
    if not isinstance(where, exp.Where):
        return None
    own = {c.name.lower(): c.source for c in source.columns}
    condition: exp.Expr = where.this.copy()
    for column in list(condition.find_all(exp.Column)):
        spelled = own.get(str(column.name).lower())
        if spelled is not None:
            column.replace(exp.column(spelled, table=SOURCE_PLACEHOLDER, quoted=True))
    return condition


def is_placeholder(table: exp.Table) -> bool:
    """Is ``table`` the bare ``"__lm_source"`` placeholder (no database or catalog)?"""
    return (
        isinstance(table.this, exp.Identifier)
        and table.name == SOURCE_PLACEHOLDER
        and not table.args.get("db")
        and not table.args.get("catalog")
    )


#: name -> (module, class, the package it imports, the pip extra that installs it)
_ENGINES: dict[str, tuple[str, str, str, str]] = {
    "duckdb": ("lakemesh.engines.duckdb", "DuckDBEngine", "duckdb", "duckdb"),
    "spark": ("lakemesh.engines.spark", "SparkEngine", "pyspark", "spark"),
}


def interruptible(work: Callable[[], T], cancel: Callable[[], object]) -> T:
    """``work()`` on a helper thread while this one waits, so that Ctrl-C is noticed at
    once (an engine busy in native code would only see it at its next check, seconds
    later); on Ctrl-C, ``cancel()`` stops the engine, and KeyboardInterrupt propagates
    once the helper has returned."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as e:  # re-raised in the caller's thread below
            box["error"] = e
        finally:
            done.set()

    helper = threading.Thread(target=run, name="lakemesh-engine", daemon=True)
    helper.start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        cancel()
        done.wait(_CANCEL_WAIT_SECONDS)
        raise
    # The helper must be gone, not only done: the engine objects it held are released as
    # it ends, and native code still running in a daemon thread when the interpreter
    # exits aborts the process ("exception not rethrown").
    helper.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


#: How long Ctrl-C waits for a cancelled engine to stop before the process goes on.
_CANCEL_WAIT_SECONDS = 10.0


def load_engine(name: str, **options: Any) -> Engine:
    """The engine called ``name``, importing its backend only now."""
    try:
        module_name, class_name, dependency, extra = _ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(_ENGINES))
        raise InvalidInput(f"unknown query engine {name!r} (known: {known})") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == dependency:
            raise MissingExtra(dependency, extra) from e
        raise
    engine: Engine = getattr(module, class_name)(**options)
    return engine


__all__ = [
    "SOURCE_PLACEHOLDER",
    "Batches",
    "Engine",
    "EngineError",
    "GovernedRelationLike",
    "LakehouseScan",
    "Limits",
    "PlanLike",
    "QueryTimeout",
    "QueryTooLarge",
    "Source",
    "SourceColumn",
    "SourceFormat",
    "TableBatches",
    "checked_relations",
    "failed_read",
    "is_placeholder",
    "load_engine",
]
