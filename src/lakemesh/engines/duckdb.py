"""The embedded engine: DuckDB, one fresh locked-down in-memory connection per query.

Lockdown sequence (every step before any consumer SQL runs; checked on DuckDB 2.0.0):

1. ``duckdb.connect(':memory:', config=...)`` with Python replacement scans off (a
   Python variable named like a table is never read), extension autoload/autoinstall
   off, community and unsigned extensions off, ``memory_limit``, ``threads`` and
   ``temp_directory=''`` (no spilling: nothing is written, the temp directory is not
   silently added to ``allowed_directories``, and ``memory_limit`` is a hard limit);
   then ``SET TimeZone='UTC'``.
2. Arrow sources are registered under internal names (``__lm_arrow_N``).
3. Each governed relation's SELECT gets its ``"__lm_source"`` placeholder replaced by
   the scan of its ``Source`` (``read_parquet``/``read_csv``/``read_json`` over a list
   of string literals built as a sqlglot AST, never formatted into SQL text; with the
   catalog's columns it is wrapped in ``SELECT CAST("<file name>" AS <catalog type>) AS
   "<name>", ...``, read with ``union_by_name`` when the files' schemas differ and with
   ``hive_types_autocast=false``, so the relation is exactly the catalog's schema), and
   becomes the table the consumer SQL names:

   * ``materialize=False`` (default): ``CREATE SECURE VIEW "<alias>" AS <select>`` and
     ``allowed_paths=[granted files]``. Lazy: the policy filter and the consumer's
     predicates reach the Parquet scan (row groups pruned), and the secure view keeps
     stats and plan internals hidden and evaluates the policy filter before any consumer
     predicate that could fail (no error side channel on hidden rows). On DuckDB 2.0
     ``duckdb_views()`` still prints the view's SQL, ``current_setting('allowed_paths')``
     lists the files, and ``read_parquet`` on a granted file reads it raw: the planner's
     allowlist validator (no table functions, no settings functions) is what stops those,
     and ``tests/test_engine_duckdb.py`` pins the leaks so a DuckDB change is noticed.
   * ``materialize=True``: ``CREATE TABLE "<alias>" AS <select>``. The consumer
     connection then needs no file at all (``allowed_paths=[]``) and holds by itself even
     without the validator; the cost is reading each relation in full per query, within
     ``memory_limit``. Arrow sources are materialized in both modes (a registered Arrow
     table would stay readable by name).
4. Arrow registrations are dropped (``unregister``).
5. ``SET allowed_paths=[...]``; ``SET allowed_directories=[]`` (never ``''``, which
   widens to the working directory); ``SET enable_external_access=false`` (locks both);
   ``SET lock_configuration=true`` (locks everything else).
6. The lock is proven: ``SET enable_external_access=true`` must fail, else the query
   is refused.

The consumer SQL is then generated once from the plan's AST, must parse (DuckDB's own
parser) as exactly one SELECT statement whose every function and table function the
classification allows (``json_serialize_sql``; ``lakemesh.engines.functions``), and runs
once under a wall-clock watchdog (``con.interrupt``); its result streams as Arrow and
stops at ``max_rows + 1`` rows or ``Limits.max_result_bytes``.

Opening a DuckDB instance costs about 17 ms and closing one about 4 ms here, far more
than a selective query. Both happen off the query's path: a background thread keeps
freshly opened, configured, never-used connections ready (step 1 only, and
DuckDB's own SQL parser warmed up for the function check) and closes used
ones. Every query still gets a connection no other query has touched.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from lakemesh.engines import (
    SOURCE_PLACEHOLDER,
    Engine,
    EngineError,
    Limits,
    PlanLike,
    QueryTimeout,
    QueryTooLarge,
    Source,
    failed_read,
    interruptible,
)
from lakemesh.engines import checked_relations as _checked_relations
from lakemesh.engines.types import duckdb_type
from lakemesh.errors import InvalidInput

if TYPE_CHECKING:
    from types import TracebackType

_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}
_BATCH_ROWS = 65_536


class _Watchdog:
    """Interrupts a connection after ``seconds`` of wall-clock time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self._con = con
        self.fired = threading.Event()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired.set()
        self.interrupt()

    def interrupt(self) -> None:
        # The connection may be closing already; then there is nothing to stop.
        with suppress(duckdb.Error, RuntimeError):
            self._con.interrupt()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()


class DuckDBEngine(Engine):
    """Runs governed plans on a fresh, locked in-memory DuckDB connection per query."""

    name = "duckdb"

    def __init__(self, *, materialize: bool = False) -> None:
        self.materialize = materialize

    def warm(self, limits: Limits) -> None:
        _POOL.prime(limits)

    def run(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> pa.Table:
        limits = limits or Limits()
        sql = _consumer_sql(plan)
        con = _POOL.take(limits)
        try:
            with _Watchdog(con, limits.timeout_seconds) as watchdog:
                try:
                    _check_single_select(con, sql)
                    self._load_and_lock(con, plan, sources)
                    return interruptible(lambda: _fetch(con, sql, limits), watchdog.interrupt)
                except (duckdb.Error, OSError, pa.ArrowException) as e:
                    raise _translate(e, watchdog, limits, sources) from None
        finally:
            _POOL.dispose(con, limits)

    @contextmanager
    def sandbox(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The locked connection ``run`` would execute ``plan.sql`` on, closed on exit.

        For tests and diagnostics: proves what *any* SQL can reach after lockdown.
        """
        con = _connect(limits or Limits())
        try:
            try:
                self._load_and_lock(con, plan, sources)
            except duckdb.Error as e:
                raise EngineError(detail=f"{type(e).__name__}: {e}") from None
            yield con
        finally:
            con.close()

    def _load_and_lock(
        self, con: duckdb.DuckDBPyConnection, plan: PlanLike, sources: Mapping[str, Source]
    ) -> None:
        relations = _checked_relations(plan.relations)
        arrow_names: list[str] = []
        allowed: list[str] = []
        for index, relation in enumerate(relations):
            source = sources.get(relation.table)
            if source is None:
                raise EngineError(detail=f"no source for table {relation.table!r}")
            if source.format == "arrow":
                internal = f"__lm_arrow_{index}"
                con.register(internal, source.arrow)
                arrow_names.append(internal)
                scan: exp.Table | exp.Subquery = exp.Table(
                    this=exp.to_identifier(internal, quoted=True)
                )
                materialize = True
            else:
                scan = _file_scan(source)
                materialize = self.materialize
                if not materialize:
                    allowed.extend(source.files)
            select = _bind_source(relation.select, scan)
            target = exp.Table(this=exp.to_identifier(relation.alias, quoted=True))
            if materialize:
                con.execute(exp.Create(this=target, kind="TABLE", expression=select).sql("duckdb"))
            else:
                con.execute(_secure_view_sql(target, select))
        for internal in arrow_names:
            con.unregister(internal)
        _lock(con, allowed)


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
                con.close()

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
                    arg.close()
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
            stale.close()


#: How long a query waits for the connection its warm-up is opening before opening one.
_PRIME_WAIT_SECONDS = 5.0
#: How long interpreter exit waits for the pool's worker to finish its current job.
_CLOSE_WAIT_SECONDS = 120.0
_POOL = _Pool()
atexit.register(_POOL.close)


def _connect(limits: Limits) -> duckdb.DuckDBPyConnection:
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
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error as e:
        raise EngineError(detail=f"{type(e).__name__}: {e}") from None
    try:
        # ICU is built in; TimeZone is not accepted in the connect() config. The view's
        # bind reads each Parquet footer and the query's bind would read it again.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET parquet_metadata_cache = true")
    except duckdb.Error as e:
        con.close()
        raise EngineError(detail=f"{type(e).__name__}: {e}") from None
    return con


def _lock(con: duckdb.DuckDBPyConnection, allowed_paths: Sequence[str]) -> None:
    paths = exp.Array(expressions=[exp.Literal.string(p) for p in sorted(set(allowed_paths))])
    con.execute(exp.Set(expressions=[_setting("allowed_paths", paths)]).sql("duckdb"))
    con.execute("SET allowed_directories = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    try:
        con.execute("SET enable_external_access = true")
    except duckdb.Error:
        return
    raise EngineError(detail="DuckDB configuration did not lock; query refused")


def _setting(name: str, value: exp.Expr) -> exp.SetItem:
    return exp.SetItem(this=exp.EQ(this=exp.column(name), expression=value))


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
    present = _file_columns(source)
    spelled = _duckdb_names(source)
    projections = []
    for column in source.columns:
        found = (
            source.hive_partitioning
            if column.partition
            else present is None or column.source.lower() in present
        )
        name = spelled.get(column.source, column.source)
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


def _duckdb_names(source: Source) -> dict[str, str]:
    """What DuckDB calls the files' columns, by the name the files spell: it names an
    empty header ``column<i>`` (0-based) and a repeat (ignoring case) ``<name>_<k>``, so
    ``Name``, ``name`` read as ``Name``, ``name_1`` (first file's spelling wins)."""
    out: dict[str, str] = {}
    seen: set[int] = set()
    for schema in source.file_schemas:
        if id(schema) in seen:
            continue
        seen.add(id(schema))
        counts: dict[str, int] = {}
        for i, raw in enumerate(schema.names):
            name = raw or f"column{i}"
            k = counts.get(name.lower(), 0)
            counts[name.lower()] = k + 1
            out.setdefault(raw, name if k == 0 else f"{name}_{k}")
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


def _secure_view_sql(target: exp.Table, select: exp.Select) -> str:
    # sqlglot's DuckDB generator drops SecureProperty, so the keyword is added to the
    # generated statement; both the name and the body come from the AST.
    plain = exp.Create(this=target, kind="VIEW", expression=select).sql("duckdb")
    prefix = "CREATE VIEW "
    if not plain.startswith(prefix):
        raise EngineError(detail=f"unexpected CREATE VIEW rendering: {plain[:40]!r}")
    return "CREATE SECURE VIEW " + plain[len(prefix) :]


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


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, limits: Limits) -> pa.Table:
    max_rows = limits.max_rows
    reader = con.sql(sql).to_arrow_reader(min(max_rows + 1, _BATCH_ROWS))
    try:
        batches: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in reader:
            rows += batch.num_rows
            size += batch.nbytes
            if rows > max_rows:
                raise QueryTooLarge(
                    f"the result has more than {max_rows} rows", detail=f"max_rows={max_rows}"
                )
            if size > limits.max_result_bytes:
                raise QueryTooLarge(
                    f"the result is larger than {limits.max_result_bytes} bytes",
                    detail=f"max_result_bytes={limits.max_result_bytes}",
                )
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)
    finally:
        reader.close()  # release DuckDB's result on this thread, before the pool closes it


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
