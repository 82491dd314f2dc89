"""The distributed engine: Spark SQL, one JVM per process, an isolated session per query.

Spark has no sandbox to lock like DuckDB's: whatever a session can name, consumer SQL can
read. So the engine makes sure the session names nothing but governed relations, keeps
Spark from seeing past them, and refuses the few Spark features that reach outside rows.

The process-wide session (started on first use, then reused: a JVM start costs seconds):

* master: ``$LAKEMESH_SPARK_MASTER``, else ``local[2]`` (two task slots in this
  process): a cluster is configuration, not code (its executors must see the same local
  paths, since sources are read as ``file://`` URIs; docs/scaling.md). A standalone
  master that takes no connection fails at once, before the JVM starts; a cluster that
  gives the application no executor fails each query at its timeout, saying so.
* ``spark.driver.host`` / ``spark.driver.bindAddress`` = ``127.0.0.1`` (local masters,
  and standalone masters on loopback, whose executors all run on this machine): the
  driver's RPC and block-manager ports then listen on no network interface. On any
  other cluster the executors must reach the driver, at the address Spark's own
  settings give it (``SPARK_LOCAL_IP``, ``spark.driver.host``).
* ``spark.ui.enabled=false``: the UI (and its REST API) is an unauthenticated web server
  that shows every query's plan, with policy filters and file paths.
* ``spark.ui.showConsoleProgress=false``, ``spark.log.level`` = ``FATAL`` (or
  ``$LAKEMESH_SPARK_LOG_LEVEL``) and PySpark's query-context loggers muted: a failed
  query's Java stack traces belong in the audit log's detail, not on stderr, where the
  CLI promises one line. (The JVM's start-up banner still prints once per process:
  log4j is configured before any setting can reach it.)
* ``spark.jars`` / ``spark.jars.packages`` empty: nothing is downloaded or put on the
  classpath at run time (no internet here, and no code nobody reviewed).
* ``spark.sql.catalogImplementation=in-memory``, ``spark.eventLog.enabled=false``: no
  Hive metastore or warehouse for SQL to reach, and no plans written to disk.
* ``spark.sql.warehouse.dir`` = a private temporary directory, removed at exit: Spark
  creates its (empty) default database on first catalog use, else as
  ``./spark-warehouse`` in whatever directory the process was started from.

Each query's session (``newSession()``: its own temp views and SQL settings, never
shared; the consumer never gets it) applies these settings itself and reads them back,
because a session cloned from a context someone else started would not inherit them:

* ``spark.sql.runSQLOnFiles=false``: ``parquet.`/any/path``` would read any file the JVM
  can read, around every policy.
* ``spark.sql.variable.substitute=false``: ``'${env:SECRET}'`` or ``'${spark.x}'`` in a
  string literal would read environment variables and settings.
* ``spark.sql.scripting.enabled=false``: ``BEGIN ... END`` runs several statements.
* ``spark.sql.session.timeZone=UTC``: timestamps convert and print as on DuckDB.
* ``spark.sql.ansi.enabled=true``: bad casts and overflows fail (as on DuckDB) instead of
  turning into NULLs that filters and joins would treat differently.
* ``spark.sql.datetime.java8API.enabled=true``: dates and timestamps reach Python as
  java.time values, which are exact (no calendar rebasing of old dates).
* ``spark.sql.execution.arrow.useLargeVarTypes=false``: strings come back as Arrow
  ``string``, like DuckDB's.
* ``spark.sql.shuffle.partitions`` = the context's parallelism (local masters): Spark's
  200 shuffle tasks cost more than a small governed query.

Per query:

1. The consumer SQL is generated once (``dialect="spark"``), re-parsed by sqlglot and by
   Spark's own query parser (``parseQuery`` accepts one query, never a command) and
   checked: it may read only the plan's relations and its own CTEs, and may not call
   the Spark functions that reach Java reflection, files, XML parsers or settings, nor
   name ``user`` (Spark reads the OS user for it when no column has that name). Those checks live in
   ``lakemesh.engines.spark_sql``.
2. Each relation's source is read (exactly ``source.files``, as ``file://`` URIs, with
   explicit schemas and projected to the catalog's columns and types, see
   ``lakemesh.engines.spark_read``; Arrow sources through ``createDataFrame``, which hands them to
   the JVM in a private temp file that PySpark deletes at once) into an unnamed
   DataFrame; the policy SELECT is applied with the DataFrame API, its WHERE and
   projections generated from the AST by sqlglot. The raw DataFrame never gets a name
   any SQL could use. Planning costs more than a small query takes to run, so a file
   read is planned once per exact definition and file state, in a private session of
   the engine, and the policy applied to it once per exact policy text (steps 2 and 3);
   each query's session gets the analysed plan as a DataFrame of its own.
3. A barrier: the policy's projection also computes a column of ``rand()``, a filter
   reads it, and the column is projected away again. Spark never pushes a filter
   through a projection holding a nondeterministic expression, and cannot prune a
   column a filter reads, so every consumer predicate stays above the policy
   (otherwise, e.g., a failing cast on a partition column runs during partition
   pruning, on hidden partitions too: an error side channel). Column pruning and code
   generation go on through it; the consumer's harmless predicates reach the scan
   because the planner copies them into the relation itself
   (``lakemesh.query.pushdown``). The cost is one random number per governed row.
4. Only the barrier's result is registered, as a temp view named ``relation.alias``.
5. The query runs in its own job group; a watchdog cancels the group at the timeout
   (and keeps cancelling until the query returns, so a job started late stops too). At
   most ``max_rows + 1`` rows are fetched, as Arrow. Spark stops a task only between
   the records it reads: one that computes long on a single record keeps its core after
   the query has failed, until it finishes.
6. Temp views are dropped and the thread's job group cleared, whatever happened.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.logger import PySparkLogger
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.errors import SqlglotError

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
    checked_relations,
    failed_read,
    lakehouse_condition,
)
from lakemesh.engines.spark_read import ReadPlans, file_uri, lakehouse_frame
from lakemesh.engines.spark_sql import consumer_sql

if TYPE_CHECKING:
    from types import TracebackType

    from pyspark import SparkContext

#: Where the master and the JVM's log level come from, and their defaults.
MASTER_ENV = "LAKEMESH_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"
LOG_LEVEL_ENV = "LAKEMESH_SPARK_LOG_LEVEL"
DEFAULT_LOG_LEVEL = "FATAL"

#: Fixed when the JVM starts (see the module docstring for why each).
_LAUNCH_SETTINGS = {
    "spark.app.name": "lakemesh",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.jars": "",
    "spark.jars.packages": "",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.eventLog.enabled": "false",
}
_LOCAL_LAUNCH_SETTINGS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
#: Applied to, and read back from, every query's own session.
SESSION_SETTINGS = {
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.variable.substitute": "false",
    "spark.sql.scripting.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.datetime.java8API.enabled": "true",
    "spark.sql.execution.arrow.useLargeVarTypes": "false",
}

#: The parts of a relation's SELECT the engine knows how to bind.
_RELATION_PARTS = frozenset({"expressions", "from_", "where"})
#: ``DataFrame.limit`` takes a Java int.
_MAX_LIMIT = 2**31 - 1
_RECANCEL_SECONDS = 0.2
#: How long a standalone master may take to accept a connection.
_MASTER_CONNECT_SECONDS = 5.0
#: The barrier's random column (module docstring, step 3).
_BARRIER = "__lm_barrier"
_MAX_DETAIL = 4000
_MAX_CAUSES = 8

_SPARK_ERRORS = (PySparkException, Py4JError, pa.ArrowException, OSError, EOFError)

_lock = threading.Lock()
_shared: SparkSession | None = None
_reads: ReadPlans | None = None


def spark_session() -> SparkSession:
    """The process's Spark session, started on first use and reused (never given out to
    consumers: each query works on its own ``newSession()``)."""
    global _shared
    with _lock:
        if _shared is None or _shared.sparkContext._jsc is None:
            _shared = _start()
        return _shared


def _read_plans(root: SparkSession) -> ReadPlans:
    """The process's read plans, planned in a private session of ``root`` (module
    docstring, step 2); new ones when the JVM was restarted."""
    global _reads
    with _lock:
        if _reads is None or _reads.root is not root:
            _reads = ReadPlans(root, _query_session(root))
        return _reads


def stop_jvm() -> None:
    """Kill this process's Spark JVM at once. For a process that ends after Ctrl-C: a
    cancelled task in a tight loop may never look at its interrupt, and the JVM's own
    shutdown would wait for it (the JVM outlives the process at full CPU)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None) if gateway is not None else None
    if proc is not None:
        with suppress(OSError):
            proc.kill()


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C waits until the JVM is up: interrupted halfway, PySpark leaves a JVM behind
    that no process will ever stop. The interrupt is then raised as usual (and the JVM
    stops with this process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _start() -> SparkSession:
    if os.environ.get("PYSPARK_PIN_THREAD", "true").lower() != "true":
        # Job groups are per JVM thread; unpinned, a query's jobs may run on another
        # thread than its group was set on, and the timeout would cancel nothing.
        raise EngineError(
            "the query engine is unavailable",
            detail="the spark engine needs PySpark's pinned thread mode (PYSPARK_PIN_THREAD)",
        )
    master = os.environ.get(MASTER_ENV) or DEFAULT_MASTER
    _check_master(master)
    settings = {
        **_LAUNCH_SETTINGS,
        "spark.log.level": os.environ.get(LOG_LEVEL_ENV) or DEFAULT_LOG_LEVEL,
    }
    if _on_this_machine(master):
        settings.update(_LOCAL_LAUNCH_SETTINGS)
    warehouse = tempfile.mkdtemp(prefix="lakemesh-spark-")
    atexit.register(shutil.rmtree, warehouse, ignore_errors=True)
    settings["spark.sql.warehouse.dir"] = file_uri(warehouse)
    builder = SparkSession.builder.master(master)
    for key, value in {**settings, **SESSION_SETTINGS}.items():
        builder = builder.config(key, value)
    try:
        with _jvm_stderr_silenced(quiet=LOG_LEVEL_ENV not in os.environ), _ctrl_c_deferred():
            session = builder.getOrCreate()
    except _SPARK_ERRORS as e:
        raise EngineError("the query engine is unavailable", detail=_describe(e)) from None
    if getattr(session, "_jsparkSession", None) is None:
        raise EngineError(
            "the query engine is unavailable",
            detail="the spark engine needs a classic (JVM) session, not Spark Connect",
        )
    # PySpark logs every captured error to stderr; the engine's detail already holds it.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    return session


def _master_addresses(master: str) -> list[tuple[str, int]]:
    """The host and port of each master a ``spark://`` URL names (several with HA)."""
    if not master.startswith("spark://"):
        return []
    found = []
    for part in master.removeprefix("spark://").split(","):
        url = urlsplit(f"spark://{part}")
        try:
            port = url.port
        except ValueError:
            port = None
        if not url.hostname or port is None:
            raise EngineError(
                "the query engine is unavailable",
                detail=f"${MASTER_ENV} names no host:port: {master!r}",
            )
        found.append((url.hostname, port))
    return found


def _on_this_machine(master: str) -> bool:
    """A local master, or standalone masters on loopback only: every executor then runs
    on this machine, so the driver listens on 127.0.0.1 alone. For any other cluster the
    driver must listen where the executors can reach it (``SPARK_LOCAL_IP``, or
    ``spark.driver.host`` in ``spark-defaults.conf``)."""
    if master.startswith("local"):
        return True
    addresses = _master_addresses(master)
    return bool(addresses) and all(_loopback(host) for host, _ in addresses)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_master(master: str) -> None:
    """A standalone master that takes no connection fails the query now, in one line:
    Spark itself would start its JVM and then retry registering for a minute (three
    20-second attempts, fixed) before giving up."""
    problems = []
    for host, port in _master_addresses(master):
        try:
            socket.create_connection((host, port), timeout=_MASTER_CONNECT_SECONDS).close()
            return
        except OSError as e:
            problems.append(f"{host}:{port}: {e.strerror or e}")
    if problems:
        raise EngineError(
            "the query engine is unavailable: the Spark master does not answer",
            detail=f"spark master {master} takes no connection ({'; '.join(problems)})",
        )


@contextmanager
def _jvm_stderr_silenced(*, quiet: bool) -> Iterator[None]:
    """Start the JVM with /dev/null as its stderr: its banner, log4j's start-up lines and
    the JDK's module warnings would otherwise break the CLI's one-line-error promise.
    The JVM keeps that stderr for life; setting ``$LAKEMESH_SPARK_LOG_LEVEL`` keeps the
    real one (for debugging Spark itself)."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Watchdog:
    """Cancels a job group after ``seconds`` of wall-clock time, and again every
    ``_RECANCEL_SECONDS`` until stopped: a job that starts after a cancel stops too."""

    def __init__(self, context: SparkContext, group: str, seconds: float) -> None:
        self.context = context
        self._group = group
        self._seconds = seconds
        self.fired = threading.Event()
        self.interrupted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lakemesh-spark-watchdog")
        self._thread.daemon = True

    def _run(self) -> None:
        if self._stop.wait(self._seconds):
            return
        self.fired.set()
        while True:
            # The context may be stopping; then there is nothing left to cancel.
            with suppress(*_SPARK_ERRORS):
                self.context.cancelJobGroup(self._group)
            if self._stop.wait(_RECANCEL_SECONDS):
                return

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    @contextmanager
    def on_ctrl_c(self) -> Iterator[None]:
        """While the query runs, Ctrl-C cancels its jobs and ends it as KeyboardInterrupt
        (PySpark's own handler cancels every job of the JVM, and its error then reads
        like a failed query)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def cancel(signum: int, frame: Any) -> None:
            self.interrupted.set()
            with suppress(*_SPARK_ERRORS):
                self.context.cancelJobGroup(self._group)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, cancel)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class SparkEngine(Engine):
    """Runs governed plans on Spark, in a fresh session per query of one shared JVM.

    ``Limits.timeout_seconds`` and ``Limits.max_rows`` hold per query. ``threads`` and
    ``memory_limit`` do not: Spark's task slots (the master, e.g. ``local[2]``) and its
    JVM heap (``spark.driver.memory``) are fixed for the whole process when the JVM
    starts, and one query may use all of them.
    """

    name = "spark"
    #: The barrier (module docstring, step 3) keeps every consumer predicate away from
    #: the scans; the planner pushes the ones that cannot fail below it itself.
    pushes_predicates = True
    reads_lakehouse = True

    def run(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> pa.Table:
        limits = limits or Limits()
        sql = consumer_sql(plan, checked_relations(plan.relations))
        with self._session(plan, sources, limits) as (session, watchdog):
            try:
                _check_spark_parse(session, sql)
                return _fetch(session, sql, limits)
            except _SPARK_ERRORS as e:
                if watchdog.interrupted.is_set():  # the cancelled job's error: it was Ctrl-C
                    raise KeyboardInterrupt from None
                raise _translate(e, watchdog, limits, sources) from None

    @contextmanager
    def sandbox(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits | None = None
    ) -> Iterator[SparkSession]:
        """The session ``run`` would execute ``plan.sql`` in, cleaned up on exit.

        For tests and diagnostics: proves what *any* SQL can reach in that session.
        """
        with self._session(plan, sources, limits or Limits()) as (session, _):
            yield session

    @contextmanager
    def _session(
        self, plan: PlanLike, sources: Mapping[str, Source], limits: Limits
    ) -> Iterator[tuple[SparkSession, _Watchdog]]:
        relations = checked_relations(plan.relations)
        root = spark_session()
        session = _query_session(root)
        reads = _read_plans(root)
        context = session.sparkContext
        group = f"lakemesh-{uuid.uuid4().hex}"
        views: list[str] = []
        try:
            with (
                _Watchdog(context, group, limits.timeout_seconds) as watchdog,
                watchdog.on_ctrl_c(),
            ):
                try:
                    context.setJobGroup(group, "lakemesh governed query", interruptOnCancel=True)
                    for relation in relations:
                        _register(session, reads, relation, sources, views)
                except _SPARK_ERRORS as e:
                    if watchdog.interrupted.is_set():
                        raise KeyboardInterrupt from None
                    raise _translate(e, watchdog, limits, sources) from None
                if watchdog.fired.is_set():
                    raise _timeout(limits, "timed out while loading the relations", context)
                yield session, watchdog
        finally:
            for alias in views:
                with suppress(*_SPARK_ERRORS):
                    session.catalog.dropTempView(alias)
            with suppress(*_SPARK_ERRORS):
                context._jsc.clearJobGroup()


# --------------------------------------------------------------------------- session


def _query_session(root: SparkSession) -> SparkSession:
    try:
        session = root.newSession()
        settings = dict(SESSION_SETTINGS)
        if (root.sparkContext.master or "").startswith("local"):
            settings["spark.sql.shuffle.partitions"] = str(root.sparkContext.defaultParallelism)
        for key, value in settings.items():
            session.conf.set(key, value)
        wrong = [k for k, v in settings.items() if session.conf.get(k) != v]
    except _SPARK_ERRORS as e:
        raise EngineError(detail=_describe(e)) from None
    if wrong:
        raise EngineError(detail=f"spark session settings did not hold: {wrong}; query refused")
    return session


# --------------------------------------------------------------------------- relations


def _register(
    session: SparkSession,
    reads: ReadPlans,
    relation: GovernedRelationLike,
    sources: Mapping[str, Source],
    views: list[str],
) -> None:
    source = sources.get(relation.table)
    if source is None:
        raise EngineError(detail=f"no source for table {relation.table!r}")
    scan_alias, where, projections = _policy_parts(relation)

    def policy(read: DataFrame) -> DataFrame:
        scan = read.alias(scan_alias)
        return _behind_barrier(scan if where is None else scan.where(where), projections)

    # The policy's plan is a function of exactly its alias, condition and projections (as
    # Spark SQL text), so it is planned once per read and policy and then reused.
    policy_key = ("policy", scan_alias, where, tuple(projections))
    if source.format == "lakehouse":  # its files depend on the WHERE: planned per query
        read = lakehouse_frame(session, source, lakehouse_condition(relation.select, source))
        governed = policy(read)
    else:
        governed = reads.frame(session, source, policy, policy_key)
    if governed.columns != list(relation.columns):
        raise EngineError(
            detail=f"relation {relation.alias} has columns {governed.columns}, "
            f"expected {list(relation.columns)}"
        )
    name = exp.to_identifier(relation.alias, quoted=True).sql(dialect="spark")
    governed.createTempView(name)
    views.append(relation.alias)


def _policy_parts(relation: GovernedRelationLike) -> tuple[str, str | None, list[str]]:
    """The scan's alias, the WHERE condition and the aliased projections of a relation's
    SELECT, as Spark SQL generated from its AST (the shared AST is only read)."""
    select = relation.select
    extra = sorted(k for k, v in select.args.items() if v and k not in _RELATION_PARTS)
    from_ = select.args.get("from_")
    scan = from_.this if isinstance(from_, exp.From) else None
    tables = list(select.find_all(exp.Table))
    if extra or scan is None or tables != [scan]:
        raise EngineError(
            detail=f"relation {relation.alias} is not a plain SELECT ... FROM "
            f"{SOURCE_PLACEHOLDER} [WHERE ...] (has {extra or 'other tables'})"
        )
    try:
        where = select.args.get("where")
        condition = where.this.sql(dialect="spark", comments=False) if where else None
        projections = []
        for p, column in zip(select.expressions, relation.columns, strict=True):
            aliased = p if isinstance(p, exp.Alias) else exp.alias_(p, column, quoted=True)
            projections.append(aliased.sql(dialect="spark", comments=False))
    except (SqlglotError, ValueError) as e:
        raise EngineError(detail=f"relation {relation.alias}: {e}") from None
    return scan.alias_or_name, condition, projections


def _behind_barrier(scan: DataFrame, projections: list[str]) -> DataFrame:
    """The policy's projections of ``scan``, behind a projection the optimizer cannot
    push filters through (see the module docstring, step 3): one projection computes
    them with the random column, a filter reads it, and it is dropped again."""
    # A fixed seed and name: the generated code is then the same for every query, and
    # Spark's compiled-code cache saves a Janino compile (~0.3 s) per query.
    shielded = scan.selectExpr(*projections, f"rand(0) AS {_BARRIER}")
    return shielded.where(F.col(_BARRIER) >= 0).drop(_BARRIER)


# --------------------------------------------------------------------------- consumer SQL


def _check_spark_parse(session: SparkSession, sql: str) -> None:
    """Spark's own parser must read ``sql`` as one query (``parseQuery`` refuses every
    command and every second statement) before ``session.sql``, which runs commands."""
    try:
        session._jsparkSession.sessionState().sqlParser().parseQuery(sql)
    except _SPARK_ERRORS as e:
        raise EngineError(
            detail=f"consumer SQL is not exactly one query for Spark: {_describe(e)}"
        ) from None


def _fetch(session: SparkSession, sql: str, limits: Limits) -> pa.Table:
    max_rows = limits.max_rows
    frame = session.sql(sql)
    if max_rows < _MAX_LIMIT:
        frame = frame.limit(max_rows + 1)
    table = frame.toArrow()
    if table.num_rows > max_rows:
        raise QueryTooLarge(
            f"the result has more than {max_rows} rows", detail=f"max_rows={max_rows}"
        )
    if table.nbytes > limits.max_result_bytes:  # collected already: the driver's heap bounds it
        raise QueryTooLarge(
            f"the result is larger than {limits.max_result_bytes} bytes",
            detail=f"max_result_bytes={limits.max_result_bytes}",
        )
    # Spark proves some columns non-null (literals, masks); DuckDB reports every result
    # column nullable. Nullability is an engine artifact, so results compare equal.
    return table.cast(pa.schema([field.with_nullable(True) for field in table.schema]))


# --------------------------------------------------------------------------- errors


def _describe(error: BaseException) -> str:
    """The engine's own message, without the JVM stack trace, for the audit log: with its
    causes, since Spark wraps a failed read ("Exception thrown in awaitResult") around the
    error that names the file."""
    text: Any = None
    if isinstance(error, Py4JJavaError):
        with suppress(*_SPARK_ERRORS):
            parts: list[str] = []
            cause = error.java_exception
            while cause is not None and len(parts) < _MAX_CAUSES:
                parts.append(str(cause.toString()))
                cause = cause.getCause()
            text = " <- caused by: ".join(parts)
    if text is None:
        text = str(error)
    return f"{type(error).__name__}: {text}"[:_MAX_DETAIL]


def _timeout(limits: Limits, detail: str, context: SparkContext) -> QueryTimeout:
    """The timeout's error; on a cluster that gave the application no executor, saying
    so: its tasks never started (no worker, or none with the free cores and memory the
    application asks for), and Spark itself would wait for one forever."""
    seconds = f"{limits.timeout_seconds:g}"
    if _executors(context) == 0:
        return QueryTimeout(
            f"the query did not start within {seconds} seconds: "
            "the Spark cluster gave it no executor",
            detail=f"{detail}; the master ({context.master}) granted no executor: no worker "
            "alive, or none with the free cores and memory the application asks for "
            "(spark.executor.cores, spark.executor.memory)",
        )
    return QueryTimeout(f"the query ran longer than {seconds} seconds", detail=detail)


def _executors(context: SparkContext) -> int | None:
    """How many executors the application has on its cluster (None for a local master,
    whose tasks run in the driver, or when Spark cannot say)."""
    if (context.master or "").startswith("local"):
        return None
    with suppress(*_SPARK_ERRORS):
        infos = context._jsc.sc().statusTracker().getExecutorInfos()
        return max(len(infos) - 1, 0)  # the driver is listed too
    return None


def _translate(
    error: BaseException, watchdog: _Watchdog, limits: Limits, sources: Mapping[str, Source]
) -> EngineError:
    detail = _describe(error)
    if watchdog.fired.is_set():
        return _timeout(limits, detail, watchdog.context)
    if "OutOfMemoryError" in detail:
        return QueryTooLarge("the query needs more memory than the engine has", detail=detail)
    return failed_read(detail, sources)
