"""The embedded engine: DuckDB, the consumer's SQL on a sealed connection that can read
no file at all, each governed relation streamed into it from a separate reading instance.

Two DuckDB instances take part in a query, and the consumer's SQL only ever reaches one:

* The **consumer connection** (one per query, never reused) is opened and configured
  ahead of time by a background thread: Python replacement scans off (a Python variable
  named like a table is never read), extension autoload/autoinstall off, community and
  unsigned extensions off, ``memory_limit``, ``threads``, and a private spill folder
  of its own (``temp_directory``, removed with the connection; DuckDB lets the
  connection read it, and it holds only this query's own spill files of rows the query
  may see) bounded by ``max_temp_directory_size``; ``TimeZone='UTC'``.
  Once the query's relations are in place it is *sealed*: ``allowed_paths`` (below),
  ``allowed_directories=[]`` (never ``''``, which widens to the working directory),
  ``enable_external_access=false`` and ``lock_configuration=true``, and the lock is
  proven (``SET enable_external_access=true`` must fail). From then on every other file
  read, ``ATTACH``, ``INSTALL``, ``LOAD``, ``COPY`` and ``SET`` is refused by the engine
  itself, whatever SQL arrives, and ``duckdb_views()``, ``duckdb_settings()`` and
  ``current_setting`` show no policy text, mask key or hidden path, because the
  connection holds none.
* The **reading instance** (one per process, long-lived, its Parquet metadata cached
  between queries) runs only SQL this module generates from a checked plan: each
  relation's SELECT (row filter, masks, and the harmless consumer predicates the planner
  pushed in) over the scan of exactly the granted files (``read_parquet``/
  ``read_csv``/``read_json`` over string literals built as a sqlglot AST, never
  formatted into SQL text; with the catalog's columns wrapped in ``SELECT CAST("<file
  name>" AS <catalog type>) AS "<name>", ...``, read with ``union_by_name`` when the
  files' schemas differ and with ``hive_types_autocast=false``), projected to the
  columns the consumer's query can read (``lakemesh.query.projection``).

A relation that shows its table's files whole (no row filter, no mask or cell filter,
every catalog column as it is, and no file holding a column the catalog lacks) is a
plain view over those files on the consumer connection, and only their paths are in
``allowed_paths``: reading them directly shows exactly what the relation shows (their
paths are the table's location, which ``show`` gives anyone who may see the table), and
DuckDB scans them at native speed. Every other relation is registered on the consumer
connection under its alias as an Arrow stream *factory*: every scan of it (a self-join
scans twice) starts its own streaming query on its own cursor of the reading instance,
so memory stays bounded by batches, and
hidden rows, the policy text, the mask key and the file paths never enter the consumer's
instance at all (no secure view is needed to order the policy before the consumer's
predicates: the consumer's predicates cannot see what never arrived).

When the whole query is one GROUP BY over one streamed relation, of the simple shape
``lakemesh.engines.aggregation`` accepts, the reading instance computes the aggregate
under the policy and only its groups are streamed (the consumer connection orders and
limits them): the rows of a full scan are not moved at all.

The consumer SQL is generated once from the plan's AST, must parse (DuckDB's own parser)
as exactly one SELECT statement whose every function and table function the
classification allows (``json_serialize_sql``; ``lakemesh.engines.functions``: the
planner's check, repeated on the names DuckDB will bind), and runs once under a
wall-clock watchdog that interrupts the consumer connection and every reading cursor;
its result streams as Arrow batches (``stream``), stopping at ``max_rows + 1`` rows or
``Limits.max_result_bytes``.

Opening a DuckDB instance costs about 17 ms and closing one about 4 ms here, far more
than a selective query; both happen on the pool's thread, off the query's path.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa
from sqlglot import exp

from lakemesh.engines import (
    SOURCE_PLACEHOLDER,
    Engine,
    EngineError,
    GovernedRelationLike,
    Limits,
    PlanLike,
    QueryTimeout,
    QueryTooLarge,
    Source,
    SourceColumn,
    aggregation,
    failed_read,
    is_placeholder,
    lakehouse_condition,
)
from lakemesh.engines import checked_relations as _checked_relations
from lakemesh.engines.types import duckdb_type
from lakemesh.errors import InvalidInput

if TYPE_CHECKING:
    from types import TracebackType

_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}
_BATCH_ROWS = 65_536


class _Interruptible(Protocol):
    def interrupt(self) -> None: ...


class _Watchdog:
    """Interrupts a query once ``seconds`` of wall-clock time have passed: checked by the
    caller's thread each time it waits for the query (``_Fetcher.get``), so no timer
    thread is started per query. While the caller does not wait, the query is paused on
    its full queue or about to be: the deadline is noticed at the next wait."""

    def __init__(self, query: _Interruptible, seconds: float) -> None:
        self._query = query
        self._deadline = time.monotonic() + seconds
        self.fired = threading.Event()

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    def check(self) -> None:
        if not self.fired.is_set() and self.remaining() <= 0:
            self.fired.set()
            self.interrupt()

    def interrupt(self) -> None:
        self._query.interrupt()

    def __enter__(self) -> _Watchdog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class DuckDBEngine(Engine):
    """Runs governed plans on a sealed DuckDB connection per query (see the module)."""

    name = "duckdb"
    #: The reading instance is a full barrier between policy and query: the planner
    #: pushes the consumer's harmless predicates into each relation so its scan prunes.
    pushes_predicates = True
    reads_lakehouse = True

    def warm(self, limits: Limits) -> None:
        _POOL.prime(limits)

    def run(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> pa.Table:
        limits = limits or Limits()
        with self.stream(plan, sources, limits) as batches:
            return pa.Table.from_batches(list(batches), schema=batches.schema)

    @contextmanager
    def stream(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> Iterator[ResultStream]:
        """The result as a stream of Arrow batches, read while the block runs (the
        connection closes on exit). Limits hold while it is read: the watchdog's
        deadline covers the whole read, and the row and byte caps raise mid-stream."""
        limits = limits or Limits()
        sql = _consumer_sql(plan)
        con = _POOL.take(limits)
        query = _Query(con, limits)
        try:
            with _Watchdog(query, limits.timeout_seconds) as watchdog:
                fetcher = _Fetcher(query, plan, sources, sql, limits)
                fetcher.start()
                try:
                    result = ResultStream(fetcher, limits, watchdog, sources)
                    yield result
                finally:
                    fetcher.finish()
        finally:
            query.close()
            _POOL.dispose(con, limits)

    @contextmanager
    def sandbox(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The sealed connection ``run`` would execute ``plan.sql`` on, with the plan's
        relations registered, closed on exit.

        For tests and diagnostics: proves what *any* SQL can reach on it.
        """
        limits = limits or Limits()
        con = _connect(limits)
        query = _Query(con, limits)
        try:
            try:
                query.register(plan, sources)
            except duckdb.Error as e:
                raise EngineError(detail=f"{type(e).__name__}: {e}") from None
            yield con
        finally:
            query.close()
            _close(con)

    def relation_sql(self, plan: PlanLike, sources: Mapping[str, Source]) -> dict[str, str]:
        """Each relation's SQL as the reading instance runs it, by alias (diagnostics:
        the benchmarks measure its scan with ``EXPLAIN ANALYZE``)."""
        reads = _columns_read(plan)
        out = {}
        for index, relation in enumerate(_checked_relations(plan.relations)):
            source = _source_of(relation, sources)
            out[relation.alias] = _reading(relation, source, index, reads.get(relation.alias))[0]
        return out


class ResultStream:
    """A query's result batches, checked against the query's limits as they are read."""

    def __init__(
        self,
        fetcher: _Fetcher,
        limits: Limits,
        watchdog: _Watchdog,
        sources: Mapping[str, Source],
    ) -> None:
        self._fetcher = fetcher
        self._limits = limits
        self._watchdog = watchdog
        self._sources = sources
        self.schema: pa.Schema = self._next("schema")

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        limits = self._limits
        rows = size = 0
        while (batch := self._next("batch")) is not None:
            rows += batch.num_rows
            size += batch.nbytes
            if rows > limits.max_rows:
                raise QueryTooLarge(
                    f"the result has more than {limits.max_rows} rows",
                    detail=f"max_rows={limits.max_rows}",
                )
            if size > limits.max_result_bytes:
                raise QueryTooLarge(
                    f"the result is larger than {limits.max_result_bytes} bytes",
                    detail=f"max_result_bytes={limits.max_result_bytes}",
                )
            yield batch

    def _next(self, kind: str) -> Any:
        """The fetcher's next item of ``kind`` (None at the end of the batches)."""
        try:
            got, value = self._fetcher.get(self._watchdog)
        except (duckdb.Error, OSError, pa.ArrowException) as e:
            raise _translate(e, self._watchdog, self._limits, self._sources) from None
        if got == "end":
            return None
        if got != kind:
            raise EngineError(detail=f"engine fetcher sent {got!r}, expected {kind!r}")
        return value


class _Fetcher(threading.Thread):
    """Runs one query on a thread of its own (checks, relations, execution) and hands
    its schema, then its batches, through a small queue: the caller's thread only waits,
    so Ctrl-C is noticed at once (an engine busy in native code would see it only at its
    next check), and one thread serves the whole query, however many batches."""

    _QUEUED = 2
    _POLL_SECONDS = 0.2

    def __init__(
        self, query: _Query, plan: PlanLike, sources: Mapping[str, Source], sql: str, limits: Limits
    ) -> None:
        super().__init__(name="lakemesh-engine", daemon=True)
        self._query = query
        self._plan = plan
        self._sources = sources
        self._sql = sql
        self._limits = limits
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue(self._QUEUED)
        self._halt = threading.Event()

    def run(self) -> None:
        con = self._query.con
        try:
            _check_single_select(con, self._sql)
            sql = self._query.register(self._plan, self._sources, self._sql)
            reader = _start(con, sql, self._limits)
        except BaseException as e:  # handed to the caller's thread, raised there
            self._put(("error", e))
            return
        try:
            if self._put(("schema", reader.schema)):
                for batch in reader:
                    if not self._put(("batch", batch)):
                        return
                self._put(("end", None))
        except BaseException as e:
            self._put(("error", e))
        finally:
            reader.close()  # release DuckDB's result on the thread that read it

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._halt.is_set():
            try:
                self._items.put(item, timeout=self._POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def get(self, watchdog: _Watchdog) -> tuple[str, Any]:
        """The next item; an error the query raised is raised here. On Ctrl-C the query
        is interrupted and KeyboardInterrupt goes on once it has stopped."""
        try:
            while True:
                watchdog.check()
                wait = min(self._POLL_SECONDS, max(watchdog.remaining(), 0.001))
                try:
                    kind, value = self._items.get(timeout=wait)
                except queue.Empty:
                    if not self.is_alive() and self._items.empty():
                        raise EngineError(detail="the engine's fetcher ended early") from None
                    continue
                if kind == "error":
                    raise value
                return kind, value
        except KeyboardInterrupt:
            watchdog.interrupt()
            self.finish()
            raise

    def finish(self) -> None:
        """Stop reading (the query is interrupted if it is still running) and wait for
        the thread: the connection must be idle before it is closed."""
        self._halt.set()
        if self.is_alive():
            self._query.interrupt()
            self.join(_CANCEL_WAIT_SECONDS)


#: How long a cancelled query is waited for before its connection is given up.
_CANCEL_WAIT_SECONDS = 10.0


class _Query:
    """One query's relations on its consumer connection, and the reading cursors their
    scans opened (interrupted with the query, closed when it ends)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limits: Limits) -> None:
        self.con = con
        self.limits = limits
        self._lock = threading.Lock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._closed = False

    def register(
        self, plan: PlanLike, sources: Mapping[str, Source], sql: str | None = None
    ) -> str:
        """Give the consumer's connection the plan's relations, seal it, and return the
        SQL it is to run (``sql``, the plan's consumer SQL, unless the reading instance
        computes the query's aggregate: ``lakemesh.engines.aggregation``).

        A relation whose files hold nothing it does not show is a view over those files
        (their paths are the only ones the seal allows); every other one is streamed
        from the reading instance."""
        reads = _columns_read(plan)
        paths: list[str] = []
        streamed: dict[str, tuple[GovernedRelationLike, Source, int]] = {}
        for index, relation in enumerate(_checked_relations(plan.relations)):
            source = _source_of(relation, sources)
            if _shows_whole_files(relation, source):
                target = exp.Table(this=exp.to_identifier(relation.alias, quoted=True))
                select = _bind_source(relation.select, _file_scan(source))
                self.con.execute(
                    exp.Create(this=target, kind="VIEW", expression=select).sql("duckdb")
                )
                paths.extend(source.files)
            else:
                streamed[relation.alias] = (relation, source, index)
        streams: list[tuple[str, str, _Inputs]] = []
        split = aggregation.split(plan.sql, {a: r for a, (r, _, _) in streamed.items()}, _AGGREGATE)
        if split is not None and len(streamed) == 1:
            relation, source, index = streamed.pop(split.relation.alias)
            select, inputs = _reading_select(relation, source, index, None)
            streams.append((_AGGREGATE, _aggregate_sql(split.aggregate, select), inputs))
            sql = split.rest.sql("duckdb")
        for alias, (relation, source, index) in streamed.items():
            text, inputs = _reading(relation, source, index, reads.get(alias))
            streams.append((alias, text, inputs))
        if streams:
            # DuckDB cannot estimate a stream's size (it guesses one row) and would build
            # its hash joins on the largest stream: the query's own order decides instead.
            self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        _seal(self.con, paths)
        for alias, text, inputs in streams:
            self.con.register(alias, _Relation(self, text, inputs))
        return sql if sql is not None else _consumer_sql(plan)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor of the reading instance, owned by this query."""
        cursor = _READER.cursor(self.limits)
        with self._lock:
            if self._closed:
                cursor.close()
                raise EngineError(detail="the query has ended")
            self._cursors.append(cursor)
        return cursor

    def release(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if cursor in self._cursors:
                self._cursors.remove(cursor)
        cursor.close()

    def interrupt(self) -> None:
        with self._lock:
            cursors = list(self._cursors)
        for con in (self.con, *cursors):
            with suppress(duckdb.Error, RuntimeError):  # it may be closing already
                con.interrupt()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            cursors, self._cursors = self._cursors, []
        for cursor in cursors:
            with suppress(duckdb.Error, RuntimeError):
                cursor.close()


class _Relation:
    """A governed relation as the consumer connection sees it: an Arrow stream factory.

    DuckDB asks for a stream each time it binds or scans the name. The first reading
    query starts at once (its Arrow schema is the stream's) and serves the first scan;
    every later scan (a self-join reads the relation twice) starts its own on its own
    cursor, lazily, so nothing is shared between scans or held whole."""

    def __init__(
        self, query: _Query, sql: str, inputs: Sequence[tuple[str, Callable[[], Any]]]
    ) -> None:
        self._query = query
        self._sql = sql
        self._inputs = tuple(inputs)
        self._lock = threading.Lock()
        self._first: tuple[duckdb.DuckDBPyConnection, pa.RecordBatchReader] | None = None
        self._first = self._open()
        self._schema: pa.Schema = self._first[1].schema

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        reader = pa.RecordBatchReader.from_batches(self._schema, self._batches())
        return reader.__arrow_c_stream__(requested_schema)

    def _open(self) -> tuple[duckdb.DuckDBPyConnection, pa.RecordBatchReader]:
        cursor = self._query.cursor()
        try:
            for name, make in self._inputs:
                cursor.register(name, make())
            return cursor, cursor.sql(self._sql).to_arrow_reader(_BATCH_ROWS)
        except BaseException:
            self._query.release(cursor)
            raise

    def _batches(self) -> Iterator[pa.RecordBatch]:
        with self._lock:
            opened, self._first = self._first, None
        cursor, reader = opened if opened is not None else self._open()
        try:
            yield from reader
        finally:
            reader.close()
            self._query.release(cursor)


class _ReadingInstance:
    """The process's reading instance (see the module docstring): opened on first use
    with the first query's limits, reopened in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db: duckdb.DuckDBPyConnection | None = None
        self._pid = os.getpid()

    def cursor(self, limits: Limits) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._db = os.getpid(), None
            if self._db is None:
                self._db = _connect(limits, spill=False)
            return self._db.cursor()

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            with suppress(duckdb.Error):
                db.close()


_READER = _ReadingInstance()


def _columns_read(plan: PlanLike) -> dict[str, tuple[str, ...]]:
    reads = getattr(plan, "reads", None)
    return dict(reads) if reads else {}


def _source_of(relation: GovernedRelationLike, sources: Mapping[str, Source]) -> Source:
    source = sources.get(relation.table)
    if source is None:
        raise EngineError(detail=f"no source for table {relation.table!r}")
    return source


_Inputs = list[tuple[str, Callable[[], Any]]]


#: The consumer connection's name for an aggregate the reading instance computes.
_AGGREGATE = "__lm_aggregate"


def _aggregate_sql(aggregate: exp.Select, relation: exp.Select) -> str:
    """``aggregate`` reading ``relation`` (the governed relation's own SELECT) where it
    reads ``"__lm_source"``, under the name the consumer's query gave the relation."""
    tree = aggregate.copy()
    for table in list(tree.find_all(exp.Table)):
        if is_placeholder(table):
            table.replace(exp.Subquery(this=relation.copy(), alias=table.args.get("alias")))
    return tree.sql("duckdb")


def _reading(
    relation: GovernedRelationLike, source: Source, index: int, columns: Sequence[str] | None
) -> tuple[str, _Inputs]:
    """The relation's SQL as the reading instance runs it, producing ``columns`` only
    (all when None), and the Arrow inputs each cursor running it registers by name."""
    select, inputs = _reading_select(relation, source, index, columns)
    return select.sql("duckdb"), inputs


def _reading_select(
    relation: GovernedRelationLike, source: Source, index: int, columns: Sequence[str] | None
) -> tuple[exp.Select, _Inputs]:
    """``_reading``'s SELECT, as a tree."""
    select = relation.select.copy()
    if columns is not None and tuple(columns) != tuple(relation.columns):
        unknown = set(columns) - set(relation.columns)
        if unknown or not columns:
            raise EngineError(detail=f"relation {relation.alias} has no column {unknown}")
        wanted = set(columns)
        select.set("expressions", [p for p in select.expressions if p.alias_or_name in wanted])
    internal = exp.Table(this=exp.to_identifier(f"__lm_input_{index}", quoted=True))
    inputs: _Inputs = []
    scan: exp.Table | exp.Subquery
    if source.format == "arrow":
        table = source.arrow
        scan, inputs = internal, [(internal.name, lambda: table)]
    elif source.format == "lakehouse":
        scan, opener = _lakehouse_scan(source, select, internal)
        inputs = [(internal.name, opener)]
    else:
        scan = _file_scan(source)
    return _bind_source(select, scan), inputs


def _lakehouse_scan(
    source: Source, select: exp.Select, internal: exp.Table
) -> tuple[exp.Table | exp.Subquery, Callable[[], Any]]:
    """An Iceberg/Delta table's scan for ``select``: only the columns it uses, opened
    with its WHERE clause (in the table's own names) for the table to prune with."""
    scan = source.lakehouse
    assert scan is not None  # Source checks it
    if not source.columns:
        return internal, lambda: scan.open(None, None)
    # the relation reads only its placeholder (checked), so every column is the table's
    used = {str(c.name).lower() for c in select.find_all(exp.Column)}
    columns = [c for c in source.columns if c.name.lower() in used] or list(source.columns[:1])
    present = {name.lower() for name in scan.schema.names}
    wanted = [c.source for c in columns if c.source.lower() in present]
    condition = lakehouse_condition(select, source)
    plan = getattr(scan, "plan", None)  # Iceberg: the files to read, with their deletes
    planned = plan(condition) if plan is not None else None
    if planned is not None:  # local Parquet data files: read here, at DuckDB's speed
        read, deleted = _planned_read(planned, internal)
        empty = pa.table({"file_path": pa.array([], pa.string()), "pos": pa.array([], pa.int64())})
        return _conformed(
            columns, read, present, {}, source
        ), lambda: deleted if deleted is not None else empty
    projected = _conformed(columns, internal, present, {}, source)
    return projected, lambda: scan.open(wanted or None, condition)


def _planned_read(plan: Any, deleted: exp.Table) -> tuple[exp.Expr, pa.Table | None]:
    """The data files of ``plan`` (``lakemesh.query.lakehouse.FilePlan``) as one scan in
    the table's current column names, without the rows its deletes remove (registered
    as ``deleted``)."""
    file, row = "__lm_file", "__lm_row"
    # Without deletes there is nothing to find rows by (and the anti-join would cost).
    deleting = plan.deleted is not None and plan.deleted.num_rows > 0
    selects: list[exp.Select] = []
    for group in plan.groups:
        files = exp.Array(expressions=[exp.Literal.string(path) for path in group.files])
        options: list[exp.Expr] = [files]
        if deleting:
            options += [_named("filename", True), _named("file_row_number", True)]
        if plan.hive:  # partition values from the folders, typed by the catalog's cast
            options += [_named("hive_partitioning", True), _named("hive_types_autocast", False)]
        read = exp.Anonymous(this="read_parquet", expressions=options)
        columns: list[exp.Expr] = [
            exp.alias_(
                exp.column(spelled, quoted=True) if spelled is not None else exp.Null(),
                name,
                quoted=True,
            )
            for name, spelled in group.names
        ]
        if deleting:
            columns += [
                exp.alias_(exp.column("filename"), file, quoted=True),
                exp.alias_(exp.column("file_row_number"), row, quoted=True),
            ]
        selects.append(exp.select(*columns).from_(exp.Table(this=read)))
    if not selects:
        raise EngineError(detail="an Iceberg plan without data files")
    union: exp.Expr = selects[0]
    for select in selects[1:]:
        union = exp.Union(this=union, expression=select, distinct=False)
    scan = exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("u")))
    out = exp.select(exp.Star()).from_(scan)
    if not deleting:
        return exp.Subquery(this=out), None
    gone = (
        exp.select(exp.Literal.number(1))
        .from_(deleted.copy())
        .where(
            exp.and_(
                exp.EQ(
                    this=exp.column("file_path", table=deleted.name),
                    expression=exp.column(file, table="u", quoted=True),
                ),
                exp.EQ(
                    this=exp.column("pos", table=deleted.name),
                    expression=exp.column(row, table="u", quoted=True),
                ),
            )
        )
    )
    out = out.where(exp.Not(this=exp.Exists(this=gone)))
    return exp.Subquery(this=out), plan.deleted


class _Pool:
    """Fresh connections opened ahead of time, and used ones closed, on one worker thread.

    A connection is handed out at most once; one that was handed out is only ever closed.
    DuckDB releases the GIL while it opens and closes instances, so the worker does not
    slow the query thread. The pool is per process (a forked child starts empty).
    """

    _READY_PER_KEY = 2
    _KEYS = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[tuple[str, int], list[duckdb.DuckDBPyConnection]] = {}
        self._jobs: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        #: Keys whose first connection the worker is opening for a waiting query.
        self._priming: dict[tuple[str, int], threading.Event] = {}
        self._pid = os.getpid()
        self._closing = False

    def prime(self, limits: Limits) -> None:
        """Open a connection for ``limits`` on the worker now, unless one is ready: a
        process's first query (every CLI query) then plans while it opens."""
        key = (limits.memory_limit, limits.threads)
        with self._lock:
            self._reset_after_fork()
            if self._ready.get(key) or key in self._priming:
                return
            self._priming[key] = threading.Event()
            self._start()
        self._jobs.put(("fill", key))

    def take(self, limits: Limits) -> duckdb.DuckDBPyConnection:
        key = (limits.memory_limit, limits.threads)
        with self._lock:
            self._reset_after_fork()
            opening = self._priming.get(key)
        if opening is not None:
            opening.wait(_PRIME_WAIT_SECONDS)
        with self._lock:
            ready = self._ready.get(key)
            con = ready.pop() if ready else None
        return con if con is not None else _connect(limits)

    def dispose(self, con: duckdb.DuckDBPyConnection, limits: Limits) -> None:
        """Close ``con`` and open its replacement, after the query: opening an instance
        while a query binds slows the query down (they contend inside DuckDB)."""
        with self._lock:
            self._reset_after_fork()
            self._start()
        self._jobs.put(("close", con))
        self._jobs.put(("fill", (limits.memory_limit, limits.threads)))

    def close(self) -> None:
        """Stop the worker and close every ready connection (at interpreter exit).

        The worker opens no more instances once closing (its queue may hold several
        fills), and it is waited for until its current job ends: native code still
        running in a daemon thread when the interpreter finalises aborts the process
        ("exception not rethrown")."""
        with self._lock:
            self._closing = True
            worker, self._worker = self._worker, None
            ready, self._ready = self._ready, {}
        if worker is not None:
            self._jobs.put(None)
            worker.join(timeout=_CLOSE_WAIT_SECONDS)
        for cons in ready.values():
            for con in cons:
                _close(con)

    def _start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="lakemesh-duckdb", daemon=True)
            self._worker.start()

    def _reset_after_fork(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._ready, self._worker, self._priming = {}, None, {}
            self._jobs = queue.SimpleQueue()

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            kind, arg = job
            try:
                if kind == "close":
                    _close(arg)
                elif self._closing:  # at exit: open nothing new, just let waiters go
                    self._release(arg)
                else:
                    self._fill(arg)
            except (duckdb.Error, EngineError, RuntimeError):
                continue  # the query path opens its own connection when none is ready

    def _fill(self, key: tuple[str, int]) -> None:
        try:
            self._fill_one(key)
        finally:
            self._release(key)

    def _release(self, key: tuple[str, int]) -> None:
        """Wake a query waiting for the first connection of ``key``."""
        with self._lock:
            primed = self._priming.pop(key, None)
        if primed is not None:
            primed.set()

    def _fill_one(self, key: tuple[str, int]) -> None:
        with self._lock:
            if len(self._ready.get(key, ())) >= self._READY_PER_KEY:
                return
        fresh = _connect(Limits(key[0], key[1]))
        # Bind json_serialize_sql once here, off the query's path (a query's function
        # check costs 4 ms on a cold instance, 0.4 ms on a warm one). It only parses.
        fresh.execute(_SERIALIZE, ["SELECT 1"]).fetchall()
        evicted: list[duckdb.DuckDBPyConnection] = []
        with self._lock:
            ready = self._ready.setdefault(key, [])
            if self._worker is not None and len(ready) < self._READY_PER_KEY:
                ready.append(fresh)
                while len(self._ready) > self._KEYS:  # the least recently added key goes
                    evicted.extend(self._ready.pop(next(iter(self._ready))))
            else:
                evicted.append(fresh)
        for stale in evicted:
            _close(stale)


#: How long a query waits for the connection its warm-up is opening before opening one.
_PRIME_WAIT_SECONDS = 5.0
#: How long interpreter exit waits for the pool's worker to finish its current job.
_CLOSE_WAIT_SECONDS = 120.0
_POOL = _Pool()
atexit.register(_POOL.close)


def _connect(limits: Limits, *, spill: bool = True) -> duckdb.DuckDBPyConnection:
    """A configured connection; with ``spill``, a private temporary folder of its own
    (removed by ``_close``) where blocking operators spill past ``memory_limit``, up to
    ``_SPILL_FACTOR`` times that."""
    config: dict[str, Any] = {
        "python_enable_replacements": False,
        "python_scan_all_frames": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "memory_limit": limits.memory_limit,
        "threads": limits.threads,
        "temp_directory": "",
    }
    folder = None
    if spill:
        folder = tempfile.mkdtemp(prefix="lakemesh-spill-")
        config["temp_directory"] = folder
        config["max_temp_directory_size"] = _times(limits.memory_limit, _SPILL_FACTOR)
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error as e:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise EngineError(detail=f"{type(e).__name__}: {e}") from None
    if folder is not None:
        _SPILL_FOLDERS[id(con)] = folder
    try:
        # ICU is built in; TimeZone is not accepted in the connect() config. The view's
        # bind reads each Parquet footer and the query's bind would read it again.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET parquet_metadata_cache = true")
    except duckdb.Error as e:
        _close(con)
        raise EngineError(detail=f"{type(e).__name__}: {e}") from None
    return con


def _close(con: duckdb.DuckDBPyConnection) -> None:
    """Close ``con`` and remove its spill folder."""
    folder = _SPILL_FOLDERS.pop(id(con), None)
    try:
        con.close()
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _times(memory: str, factor: int) -> str:
    """``memory`` (``Limits.memory_limit``'s form) times ``factor``, same unit."""
    number, unit = re.fullmatch(r"([0-9.]+) ?([A-Za-z]+)", memory).groups()  # type: ignore[union-attr]
    return f"{float(number) * factor:g}{unit}"


#: Spill folders of open consumer connections, by ``id`` of the connection.
_SPILL_FOLDERS: dict[int, str] = {}
#: A consumer query may spill up to this many times its memory limit to disk.
_SPILL_FACTOR = 4


def _seal(con: duckdb.DuckDBPyConnection, paths: Sequence[str] = ()) -> None:
    """Take every file but ``paths``, every extension and every setting away from
    ``con`` for good (see the module docstring), and prove it."""
    listed = exp.Array(expressions=[exp.Literal.string(p) for p in sorted(set(paths))])
    allowed = exp.SetItem(this=exp.EQ(this=exp.column("allowed_paths"), expression=listed))
    con.execute(exp.Set(expressions=[allowed]).sql("duckdb"))
    con.execute("SET allowed_directories = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    try:
        con.execute("SET enable_external_access = true")
    except duckdb.Error:
        return
    raise EngineError(detail="DuckDB configuration did not lock; query refused")


def _shows_whole_files(relation: GovernedRelationLike, source: Source) -> bool:
    """Whether reading ``source``'s files directly shows nothing the relation does not:
    local files, no row filter, no mask or cell filter, every catalog column shown as it
    is, and no file holding a column the catalog does not have (a column added since the
    last crawl may be personal data nobody has classified yet)."""
    if source.format not in _READERS or not source.columns:
        return False
    if len(source.file_schemas) != len(source.files):
        return False
    select = relation.select
    if select.args.get("where") is not None or any(
        select.args.get(k) for k in ("joins", "group", "having", "qualify", "distinct")
    ):
        return False
    shown = set()
    for projection in select.expressions:
        value = projection.this if isinstance(projection, exp.Alias) else projection
        name = projection.alias_or_name
        if not (isinstance(value, exp.Column) and value.name == name and not value.args.get("db")):
            return False
        shown.add(name.lower())
    if shown != {c.name.lower() for c in source.columns}:
        return False
    known = {c.source.lower() for c in source.columns if not c.partition}
    seen: set[int] = set()
    for schema in source.file_schemas:
        if id(schema) not in seen:
            seen.add(id(schema))
            lowered = [name.lower() for name in schema.names]
            if len(set(lowered)) != len(lowered) or any(n not in known for n in lowered):
                return False
    return True


def _file_scan(source: Source) -> exp.Table | exp.Subquery:
    """The reader over exactly ``source.files``; with the catalog's columns, wrapped in a
    projection of exactly those columns, each cast to the catalog's type."""
    files = exp.Array(expressions=[exp.Literal.string(path) for path in source.files])
    args: list[exp.Expr] = [files, _named("hive_partitioning", source.hive_partitioning)]
    if source.format == "csv":
        args.append(_named("auto_detect", True))
    if source.columns:
        if source.hive_partitioning:  # `01` stays `01` until the catalog's cast
            args.append(_named("hive_types_autocast", False))
        if _schemas_differ(source):
            args.append(_named("union_by_name", True))
    read = exp.Table(this=exp.Anonymous(this=_READERS[source.format], expressions=args))
    if not source.columns:
        return read
    return _conformed(source.columns, read, _file_columns(source), _duckdb_names(source), source)


def _conformed(
    columns: Sequence[SourceColumn],
    read: exp.Expr,
    present: set[str] | None,
    spelled: Mapping[str, Sequence[str]],
    source: Source,
) -> exp.Subquery:
    """``read`` projected to exactly ``columns``, each found by its files' name (NULL when
    no file has it; the k-th column a repeated header names is the k-th column of that
    name) and cast to the catalog's type."""
    projections = []
    occurrences: dict[str, int] = {}
    for column in columns:
        found = (
            source.hive_partitioning
            if column.partition and source.format != "lakehouse"
            else present is None or column.source.lower() in present
        )
        k = occurrences.get(column.source, 0)
        occurrences[column.source] = k + 1
        names = spelled.get(column.source) or [column.source]
        name = names[min(k, len(names) - 1)]
        value: exp.Expr = (
            exp.Column(this=exp.to_identifier(name, quoted=True)) if found else exp.Null()
        )
        target = column.arrow_type()
        if target is not None and pa.types.is_null(target):
            value = exp.Null()
        elif target is not None:
            with suppress(InvalidInput):  # no DuckDB spelling: read as the files have it
                value = exp.Cast(this=value, to=duckdb_type(target))
        projections.append(exp.alias_(value, column.name, quoted=True))
    return exp.Subquery(this=exp.select(*projections).from_(read))


def _schemas_differ(source: Source) -> bool:
    """Whether the files must be unified by column name: always for text files (DuckDB
    sniffs each one), for Parquet only when the footers differ (unifying reads every
    footer before the scan starts)."""
    if source.format != "parquet" or len(source.file_schemas) != len(source.files):
        return True
    first = source.file_schemas[0]
    return any(s is not first and not s.equals(first) for s in source.file_schemas[1:])


def _duckdb_names(source: Source) -> dict[str, list[str]]:
    """What DuckDB calls the files' columns, by the name the files spell, one entry per
    occurrence: it names an empty header ``column<i>`` (0-based) and a repeat (ignoring
    case) ``<name>_<k>``, so ``Name``, ``name`` read as ``Name``, ``name_1``, and a header
    ``name,name`` as ``name``, ``name_1`` (first file's spelling wins)."""
    out: dict[str, list[str]] = {}
    seen: set[int] = set()
    for schema in source.file_schemas:
        if id(schema) in seen:
            continue
        seen.add(id(schema))
        counts: dict[str, int] = {}
        spelled: dict[str, list[str]] = {}
        for i, raw in enumerate(schema.names):
            name = raw or f"column{i}"
            k = counts.get(name.lower(), 0)
            counts[name.lower()] = k + 1
            spelled.setdefault(raw, []).append(name if k == 0 else f"{name}_{k}")
        for raw, names in spelled.items():
            out.setdefault(raw, names)
    return out


def _file_columns(source: Source) -> set[str] | None:
    """The (lower-cased) column names some file holds, or None when unknown."""
    if len(source.file_schemas) != len(source.files):
        return None
    seen: dict[int, pa.Schema] = {id(s): s for s in source.file_schemas}
    return {name.lower() for s in seen.values() for name in s.names}


def _named(name: str, value: bool) -> exp.EQ:
    return exp.EQ(this=exp.column(name), expression=exp.Boolean(this=value))


def _bind_source(select: exp.Select, scan: exp.Table | exp.Subquery) -> exp.Select:
    """A copy of ``select`` with every ``"__lm_source"`` reference replaced by ``scan``,
    keeping the placeholder's name (or its own alias) so qualified columns still bind."""
    bound = select.copy()
    for table in list(bound.find_all(exp.Table)):
        replacement = scan.copy()
        alias = table.args.get("alias") or exp.TableAlias(
            this=exp.to_identifier(SOURCE_PLACEHOLDER, quoted=True)
        )
        replacement.set("alias", alias)
        table.replace(replacement)
    return bound


def _consumer_sql(plan: PlanLike) -> str:
    if not isinstance(plan.sql, exp.Expr):
        raise EngineError(detail="plan.sql is not a sqlglot expression")
    return plan.sql.sql(dialect="duckdb")


def _check_single_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    statements = con.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = [str(s.type) for s in statements]
        raise EngineError(detail=f"consumer SQL must be exactly one SELECT, got {kinds}")
    _check_calls(con, sql)


_SERIALIZE = "SELECT json_serialize_sql(?::VARCHAR)"
_PIVOT = re.compile(r"\b(UN)?PIVOT\b", re.IGNORECASE)
#: Calls DuckDB's parser shows that are syntax, not catalog functions.
_PARSER_CALLS = frozenset({"unnest", "unlist", "columns", "row", "struct_pack", "list_value"})


def _check_calls(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Defence in depth: every function and table function DuckDB's own parser finds in
    the consumer SQL is one the classification allows (the planner checked the names
    sqlglot renders; this checks the names DuckDB will bind)."""
    from lakemesh.engines.functions import FunctionRefused, policy

    # A cursor is a second connection to the same instance: it parses only (the pool
    # warmed the function up) and leaves the query's connection untouched.
    cursor = con.cursor()
    try:
        rows = cursor.execute(_SERIALIZE, [sql]).fetchall()
    finally:
        cursor.close()
    tree = json.loads(rows[0][0]) if rows else {"error": True}
    if tree.get("error"):
        message = str(tree.get("error_message"))
        if message.startswith("Only SELECT statements") and _PIVOT.search(sql):
            return  # DuckDB does not serialize PIVOT; the planner's check stands alone
        raise EngineError(detail=f"DuckDB cannot parse the consumer SQL: {message}")
    functions = policy("duckdb")
    todo: list[Any] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        try:
            if node.get("class") == "FUNCTION":
                name = str(node.get("function_name", "")).lower()
                if node.get("schema") or node.get("catalog"):
                    raise FunctionRefused(f"qualified function {name}")
                if name not in _PARSER_CALLS:
                    functions.check(name)
            elif node.get("type") == "TABLE_FUNCTION":
                function = node.get("function") or {}
                functions.check_table(str(function.get("function_name", "")).lower())
        except FunctionRefused as e:
            raise EngineError(detail=f"consumer SQL: {e}") from None
        todo.extend(v for v in node.values() if isinstance(v, dict | list))


def _start(con: duckdb.DuckDBPyConnection, sql: str, limits: Limits) -> pa.RecordBatchReader:
    return con.sql(sql).to_arrow_reader(min(limits.max_rows + 1, _BATCH_ROWS))


def _translate(
    error: BaseException, watchdog: _Watchdog, limits: Limits, sources: Mapping[str, Source]
) -> EngineError:
    detail = f"{type(error).__name__}: {error}"
    if watchdog.fired.is_set() or isinstance(error, duckdb.InterruptException):
        return QueryTimeout(
            f"the query ran longer than {limits.timeout_seconds:g} seconds", detail=detail
        )
    if isinstance(error, duckdb.OutOfMemoryException) or "Out of Memory Error" in str(error):
        return QueryTooLarge(
            f"the query needs more than {limits.memory_limit} of memory", detail=detail
        )
    return failed_read(detail, sources)
