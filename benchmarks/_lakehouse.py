"""The lakehouse benchmark's fixture: generated Iceberg and Delta tables, a Parquet
dimension, and a governed mesh over them.

Data (generated once, kept in ``benchmarks/data/lakehouse-v1-<files>x<rows>/`` between
runs, never committed), all in the ``lake`` domain's ``shop`` database:

* ``events_iceberg``: ``files`` data files of ``rows_per_file`` events each, in event id
  order (so the manifests' column bounds and the row groups' statistics prune a narrow
  id range). The first half is written with ``amt``; then ``amt`` is renamed ``amount``
  and ``discount`` is added (absent from the old files), and the second half is written.
  After each half, positional delete files remove every 100th row of each new file (1%),
  as a merge-on-read engine leaves them (``tests.iceberg_deletes``).
* ``events_delta``: the same events in a Delta table (one file per commit), no deletes.
* ``customers``: one Parquet file, a segment per customer.

Policy, as a producer would set it: the ``analytics`` domain may read both event tables
without the ``apac`` region (a row filter), customers unfiltered, no masks; the analytics
admin delegates the three grants to ``analyst@analytics``.

The peer is what a careful engineer writes by hand over the same live files with DuckDB's
``read_parquet``: for Iceberg the current snapshot's data files, the old files' ``amt``
read as ``amount`` (and ``discount`` as NULL), deleted rows removed by an anti-join of
``(filename, file_row_number)`` with the delete files' ``(file_path, pos)``; for Delta
``DeltaTable.file_uris()``. Same row filter.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks._common import DATA, log, timed
from lakemesh.access.grants import GrantRequest, parse_actions
from lakemesh.mesh import Mesh

VERSION = "lakehouse-v1"
ANALYST = "analyst@analytics"
STEWARD = "steward@lake"
ICEBERG = "lake.shop.events_iceberg"
DELTA = "lake.shop.events_delta"
CUSTOMERS_TABLE = "lake.shop.customers"
ROW_FILTER = "region <> 'apac'"
CUSTOMERS = 100_000
DAYS = 730
#: Every DELETE_EVERY-th row of each data file is deleted (1%).
DELETE_EVERY = 100
#: The event schema as the table reads today (Iceberg's first half has ``amt`` instead
#: of ``amount`` and no ``discount``).
COLUMNS = ("event_id", "event_date", "customer_id", "region", "channel", "amount", "discount")
_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("event_date", pa.date32()),
        ("customer_id", pa.int64()),
        ("region", pa.string()),
        ("channel", pa.string()),
        ("amount", pa.float64()),
        ("discount", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Query:
    name: str
    #: ``{t}`` is the event table (central name, or the peer's scan); ``{customers}``
    #: the dimension.
    sql: str
    #: The event columns the query reads (the peer's scan reads these only).
    columns: tuple[str, ...]


def queries(lo: int, hi: int) -> tuple[Query, ...]:
    """The benchmark's three queries; the selective one reads event ids ``lo..hi``."""
    return (
        Query(
            "selective",
            "SELECT event_id, event_date, customer_id, region, amount, discount FROM {t} "
            f"WHERE event_id BETWEEN {lo} AND {hi} ORDER BY event_id",
            ("event_id", "event_date", "customer_id", "region", "amount", "discount"),
        ),
        Query(
            "aggregate",
            "SELECT channel, count(*) AS n, sum(amount) AS revenue FROM {t} "
            "GROUP BY channel ORDER BY channel",
            ("channel", "amount", "region"),
        ),
        Query(
            "join",
            "SELECT c.segment, count(*) AS n, sum(e.amount) AS revenue FROM {t} e "
            "JOIN {customers} c ON c.customer_id = e.customer_id "
            "GROUP BY c.segment ORDER BY c.segment",
            ("customer_id", "amount", "region"),
        ),
    )


def same_rows(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> bool:
    """Equal rows; floats equal to 1e-9 relative (parallel sums add in another order)."""
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if list(a) != list(b):
            return False
        for x, y in zip(a.values(), b.values(), strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


@dataclass(frozen=True)
class IcebergFiles:
    """The current snapshot's files as the peer reads them."""

    old: tuple[str, ...]  #: data files written before the rename (``amt``, no ``discount``)
    new: tuple[str, ...]
    deletes: tuple[str, ...]


class LakehouseMesh:
    """The generated tables and a governed mesh over them (built under ``work``)."""

    def __init__(self, work: Path, *, files: int, rows_per_file: int, row_group: int) -> None:
        self.files = files
        self.rows_per_file = rows_per_file
        self.row_group = row_group
        self.base = DATA / f"{VERSION}-{files}x{rows_per_file}"
        self.root = self.base / "lake"
        self.catalog_uri = f"sqlite:///{self.base / 'iceberg.db'}"
        self.home = work / "lakehouse-mesh"
        self.mesh: Mesh | None = None
        self._iceberg_files: IcebergFiles | None = None

    @property
    def rows(self) -> int:
        return self.files * self.rows_per_file

    def location(self, table: str) -> Path:
        return self.root / "shop" / table.rsplit(".", 1)[1]

    # ------------------------------------------------------------------ data

    def ensure_data(self) -> None:
        """Generate the tables unless this checkout already has them (the Iceberg
        metadata holds absolute paths: a moved checkout generates them again)."""
        marker = self.base / "COMPLETE"
        if marker.exists() and marker.read_text() == f"{self.base}\n":
            return
        shutil.rmtree(self.base, ignore_errors=True)
        (self.root / "shop").mkdir(parents=True)
        seconds, _ = timed(self._generate)
        marker.write_text(f"{self.base}\n")
        log(f"lakehouse fixture: 2 x {self.rows:,} events in {seconds:.1f} s")

    def _generate(self) -> None:
        con = duckdb.connect(config={"threads": 2})
        try:
            customers = self.location(CUSTOMERS_TABLE)
            customers.mkdir()
            con.execute(
                f"""
                COPY (
                    SELECT c AS customer_id,
                           ['retail', 'private', 'corporate', 'sme'][1 + (c % 4)::INT]
                               AS segment
                    FROM range({CUSTOMERS}) t(c)
                ) TO '{customers / "customers.parquet"}' (FORMAT parquet)
                """
            )
            self._write_iceberg(con)
            self._write_delta(con)
        finally:
            con.close()

    def _chunk(self, con: duckdb.DuckDBPyConnection, index: int) -> pa.Table:
        """Data file ``index``'s events, in event id order, in today's schema."""
        n, total = self.rows_per_file, self.rows
        return (
            con.sql(
                f"""
            SELECT i AS event_id,
                   DATE '2023-01-01' + (i * {DAYS} // {total})::INT AS event_date,
                   (hash(i) % {CUSTOMERS})::BIGINT AS customer_id,
                   ['emea', 'amer', 'apac', 'latam'][1 + (hash(i * 7) % 4)::INT] AS region,
                   ['web', 'app', 'store', 'partner', 'phone'][1 + (hash(i * 11) % 5)::INT]
                       AS channel,
                   round((hash(i * 13) % 100000) / 100.0, 2)::DOUBLE AS amount,
                   round((hash(i * 17) % 1000) / 100.0, 2)::DOUBLE AS discount
            FROM range({index * n}, {(index + 1) * n}) t(i)
            ORDER BY i
            """
            )
            .to_arrow_table()
            .cast(_SCHEMA)
        )

    def _write_iceberg(self, con: duckdb.DuckDBPyConnection) -> None:
        from pyiceberg.catalog.sql import SqlCatalog
        from pyiceberg.types import DoubleType

        from tests.iceberg_deletes import add_position_deletes

        catalog = SqlCatalog("bench", uri=self.catalog_uri, warehouse=str(self.root))
        try:
            catalog.create_namespace("shop")
            old = (
                self._chunk(con, 0)
                .drop_columns(["discount"])
                .rename_columns([c if c != "amount" else "amt" for c in COLUMNS[:-1]])
            )
            table = catalog.create_table(
                "shop.events_iceberg",
                schema=old.schema,
                location=str(self.location(ICEBERG)),
                properties={"write.parquet.row-group-limit": str(self.row_group)},
            )
            half = self.files // 2
            for index in range(self.files):
                if index == half:
                    self._delete_every_hundredth(table, add_position_deletes)
                    with table.update_schema() as update:
                        update.rename_column("amt", "amount")
                        update.add_column("discount", DoubleType())
                chunk = self._chunk(con, index)
                if index < half:
                    chunk = chunk.drop_columns(["discount"]).rename_columns(old.schema.names)
                table.append(chunk)
            self._delete_every_hundredth(table, add_position_deletes)
        finally:
            catalog.engine.dispose()

    def _delete_every_hundredth(self, table: Any, add_position_deletes: Any) -> None:
        """Delete 1% of the rows of every data file that has no deletes yet."""
        deletes: dict[str, range] = {}
        for task in table.scan().plan_files():
            if not task.delete_files:
                first = (len(deletes) * 37) % DELETE_EVERY
                deletes[task.file.file_path] = range(first, task.file.record_count, DELETE_EVERY)
        add_position_deletes(table, deletes)

    def _write_delta(self, con: duckdb.DuckDBPyConnection) -> None:
        from deltalake import WriterProperties, write_deltalake

        location = str(self.location(DELTA))
        props = WriterProperties(max_row_group_size=self.row_group, compression="ZSTD")
        for index in range(self.files):
            write_deltalake(
                location, self._chunk(con, index), mode="append", writer_properties=props
            )

    # ------------------------------------------------------------------ mesh

    def ensure_mesh(self) -> Mesh:
        if self.mesh is not None:
            return self.mesh
        self.ensure_data()
        shutil.rmtree(self.root / "_lakemesh", ignore_errors=True)
        mesh = Mesh.init(self.home)
        mesh.domains.create("lake", str(self.root), create=True)
        mesh.domains.create(
            "analytics", str(self.home.parent / "lakehouse-analytics"), kind="consumer", create=True
        )
        mesh.domains.crawl("lake")
        mesh.domains.sync()
        for table, kind in ((ICEBERG, "iceberg"), (DELTA, "delta"), (CUSTOMERS_TABLE, "parquet")):
            found = mesh.catalog.table(table).format
            if found != kind:
                raise AssertionError(f"{table} catalogued as {found}, not {kind}")
        for user, role in ((STEWARD, "steward"), ("admin@analytics", "admin"), (ANALYST, "member")):
            mesh.access.create_user(user, role)
        select = parse_actions("SELECT")
        for table in (ICEBERG, DELTA, CUSTOMERS_TABLE):
            mesh.access.grant(
                GrantRequest(
                    actions=select,
                    principal="analytics",
                    table=table,
                    row_filter=None if table == CUSTOMERS_TABLE else ROW_FILTER,
                    grantable=True,
                ),
                as_=STEWARD,
            )
            mesh.access.grant(
                GrantRequest(actions=select, principal=ANALYST, table=table),
                as_="admin@analytics",
            )
        self.mesh = mesh
        return mesh

    def close(self) -> None:
        if self.mesh is not None:
            self.mesh.close()
            self.mesh = None

    # ------------------------------------------------------------------ peer

    def iceberg_files(self) -> IcebergFiles:
        """The current snapshot's data and delete files (planned by pyiceberg once, as
        an engineer would list them), each data file's schema told by its footer."""
        if self._iceberg_files is not None:
            return self._iceberg_files
        from pyiceberg.catalog.sql import SqlCatalog

        catalog = SqlCatalog("bench", uri=self.catalog_uri, warehouse=str(self.root))
        try:
            tasks = list(catalog.load_table("shop.events_iceberg").scan().plan_files())
        finally:
            catalog.engine.dispose()
        data = sorted(t.file.file_path for t in tasks)
        old = tuple(p for p in data if "amt" in pq.read_schema(p).names)
        new = tuple(p for p in data if p not in old)
        deletes = tuple(sorted({d.file_path for t in tasks for d in t.delete_files}))
        self._iceberg_files = IcebergFiles(old, new, deletes)
        return self._iceberg_files

    def delta_files(self) -> list[str]:
        from deltalake import DeltaTable

        return sorted(DeltaTable(str(self.location(DELTA))).file_uris())

    def peer_sql(self, query: Query, table: str) -> str:
        """``query`` by hand over ``table``'s live files (same row filter)."""
        scan = self._iceberg_scan(query.columns) if table == ICEBERG else self._delta_scan(query)
        customers = f"read_parquet('{self.location(CUSTOMERS_TABLE) / 'customers.parquet'}')"
        return query.sql.format(t=scan, customers=customers)

    def _delta_scan(self, query: Query) -> str:
        return (
            f"(SELECT {', '.join(query.columns)} FROM read_parquet({_list(self.delta_files())}) "
            f"WHERE {ROW_FILTER})"
        )

    def _iceberg_scan(self, columns: Sequence[str]) -> str:
        files = self.iceberg_files()
        then = {"amount": "amt AS amount", "discount": "NULL::DOUBLE AS discount"}
        old = ", ".join(then.get(c, c) for c in columns)
        new = ", ".join(columns)
        rows = "filename = true, file_row_number = true"
        return (
            f"(SELECT {new} FROM ("
            f"SELECT {old}, filename, file_row_number FROM read_parquet({_list(files.old)}, "
            f"{rows}) UNION ALL "
            f"SELECT {new}, filename, file_row_number FROM read_parquet({_list(files.new)}, "
            f"{rows})) d "
            f"ANTI JOIN read_parquet({_list(files.deletes)}) x "
            "ON x.file_path = d.filename AND x.pos = d.file_row_number "
            f"WHERE {ROW_FILTER})"
        )

    def peer_files_read(self, table: str, lo: int, hi: int) -> int:
        """Data files with a row group whose ``event_id`` statistics admit ``lo..hi``:
        the files whose data DuckDB's ``read_parquet`` reads for that range."""
        if table == ICEBERG:
            files = self.iceberg_files()
            paths: Sequence[str] = (*files.old, *files.new)
        else:
            paths = self.delta_files()
        return sum(1 for path in paths if admits(path, "event_id", lo, hi))


def admits(path: str, column: str, lo: int, hi: int) -> bool:
    """Whether a row group of ``path`` may hold ``column`` values in ``lo..hi``."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index(column)
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max or (stats.min <= hi and stats.max >= lo):
            return True
    return False


def _list(paths: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"
