"""The shared fixture: a builtin domain catalog, the synced mesh, and the bare-sqlite3 peer.

Stages, each built on demand (so ``--only`` works) and reused by later benchmarks:

1. ``built``: the domain catalog at version 1 (T tables x P partitions, via CatalogWriter);
2. ``initial``: snapshots of the central store and of the peer DB after the initial sync;
3. ``modified``: the domain catalog changed by 1% added, 1% changed, 1% removed per table;
4. ``incremental``: the mesh home holds the central store after the incremental sync.

Partition values are a pure function of (table, index, changed), so the peer inserts
exactly the rows the domain catalog hands to the sync.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._common import Size, log, timed
from lakemesh.catalog import Partition, TableInfo
from lakemesh.catalog.builtin import BuiltinCatalog
from lakemesh.mesh import Mesh
from lakemesh.schema import Column, Schema
from lakemesh.storage.local import LocalStorage
from lakemesh.store import SQLITE_PRAGMAS

if TYPE_CHECKING:
    from benchmarks._orders import OrdersMesh

DOMAIN = "bench"
DATABASES = ("sales", "marketing", "logistics", "finance")
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
EPOCH_NS = int(EPOCH.timestamp()) * 1_000_000_000
HOUR_NS = 3_600 * 1_000_000_000

#: Copied from migration 0001 as SQLite renders it (``sqlite_master``); checked against
#: the real store by ``check_peer_ddl``. The parent table keeps only what the peer needs.
_PARTITIONS_DDL = (
    "CREATE TABLE partitions (\n\t"
    + ", \n\t".join(
        (
            "id INTEGER NOT NULL",
            "table_id INTEGER NOT NULL",
            '"key" TEXT NOT NULL',
            '"values" TEXT NOT NULL',
            "location TEXT NOT NULL",
            "file_count BIGINT NOT NULL",
            "size_bytes BIGINT NOT NULL",
            "row_count BIGINT",
            "modified_at BIGINT",
            "PRIMARY KEY (id)",
            'CONSTRAINT uq_partitions_table_key UNIQUE (table_id, "key")',
            "FOREIGN KEY(table_id) REFERENCES catalog_tables (id) ON DELETE CASCADE",
        )
    )
    + "\n)"
)
PEER_DDL = (
    "CREATE TABLE catalog_tables (id INTEGER NOT NULL, full_name VARCHAR(320) NOT NULL, "
    "PRIMARY KEY (id), UNIQUE (full_name));\n" + _PARTITIONS_DDL + ";\n"
)
PEER_INSERT = (
    'INSERT INTO partitions (table_id, "key", "values", location, file_count, '
    "size_bytes, row_count, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
PEER_UPDATE = (
    'UPDATE partitions SET "values" = ?, location = ?, file_count = ?, '
    'size_bytes = ?, row_count = ?, modified_at = ? WHERE table_id = ? AND "key" = ?'
)
PEER_DELETE = 'DELETE FROM partitions WHERE table_id = ? AND "key" = ?'

_COLUMNS = (
    ("event_id", "string"),
    ("customer_id", "int64"),
    ("amount", "double"),
    ("currency", "string"),
    ("status", "string"),
    ("created_at", "timestamp[us, tz=UTC]"),
    ("channel", "string"),
    ("is_test", "bool"),
)


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class TableSpec:
    index: int
    database: str
    name: str
    hourly: bool  #: dt=YYYY-MM-DD/hour=HH, else an id key (customer_id=N)

    @property
    def full_name(self) -> str:
        return f"{DOMAIN}.{self.database}.{self.name}"

    @property
    def keys(self) -> tuple[str, ...]:
        return ("dt", "hour") if self.hourly else ("customer_id",)

    def location(self, root: str) -> str:
        return f"{root}/{self.database}/{self.name}"


def table_specs(n: int) -> list[TableSpec]:
    return [
        TableSpec(
            i,
            DATABASES[i % len(DATABASES)],
            f"{'events' if i % 2 == 0 else 'customers'}_{i:03d}",
            i % 2 == 0,
        )
        for i in range(n)
    ]


def partition(spec: TableSpec, root: str, j: int, changed: bool = False) -> Partition:
    if spec.hourly:
        ts = EPOCH + timedelta(hours=j)
        dt, hour = ts.strftime("%Y-%m-%d"), f"{ts.hour:02d}"
        key = f"dt={dt}/hour={hour}"
        values = f'{{"dt":"{dt}","hour":"{hour}"}}'
        base_ns = EPOCH_NS + j * HOUR_NS
    else:
        cid = str(100_000 + 7 * j)
        key, values = f"customer_id={cid}", f'{{"customer_id":"{cid}"}}'
        base_ns = EPOCH_NS + j * 60_000_000_000
    h = (j * 2_654_435_761 + spec.index * 40_503) & 0xFFFFFFFF
    files = 1 + h % 24
    size = files * (8 << 20) + h % (64 << 20)
    rows = size // 97
    mtime = base_ns + HOUR_NS + h % 600_000_000_000
    if changed:  # late data landed: one more file, newer mtime
        files, size, rows, mtime = files + 1, size + (4 << 20), rows + 43_000, mtime + 24 * HOUR_NS
    return Partition(key, values, f"{spec.location(root)}/{key}", files, size, rows, mtime)


def changed_indices(size: Size) -> set[int]:
    """1% of a table's partitions, spread over the ones that survive the change."""
    c, p = size.one_pct, size.partitions
    step = max(1, (p - c) // c)
    return {c + k * step for k in range(c)}


def partitions_v1(spec: TableSpec, root: str, size: Size) -> list[Partition]:
    return [partition(spec, root, j) for j in range(size.partitions)]


def partitions_v2(spec: TableSpec, root: str, size: Size) -> list[Partition]:
    """The oldest 1% dropped, 1% rewritten, 1% new at the end."""
    c, changed = size.one_pct, changed_indices(size)
    return [partition(spec, root, j, j in changed) for j in range(c, size.partitions + c)]


def table_info(spec: TableSpec, root: str, parts: list[Partition]) -> TableInfo:
    cols = [Column(name=n, type=t) for n, t in _COLUMNS]
    cols += [
        Column(name=k, type="int64" if k == "customer_id" else "string", partition=True)
        for k in spec.keys
    ]
    if not spec.hourly:  # customer_id is the partition column here
        cols = [c for c in cols if not (c.name == "customer_id" and not c.partition)]
        cols.insert(1, Column(name="region", type="string"))
    return TableInfo(
        database=spec.database,
        name=spec.name,
        format="parquet",
        location=spec.location(root),
        table_schema=Schema(columns=tuple(cols)),
        partition_keys=spec.keys,
        description=f"Benchmark table {spec.index} of the {spec.database} database",
        properties={"team": spec.database, "tier": "gold"},
        version="0",
        file_count=sum(p.file_count for p in parts),
        size_bytes=sum(p.size_bytes for p in parts),
        row_count=sum(p.row_count or 0 for p in parts),
    )


# --------------------------------------------------------------------------- peer


def peer_connect(path: Path) -> sqlite3.Connection:
    """A bare connection with the store's pragmas (WAL, synchronous=FULL, foreign keys)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


def peer_initial(path: Path, tables: list[tuple[str, list[tuple[object, ...]]]]) -> None:
    """Fresh file, schema, then one transaction per table, like the sync."""
    conn = peer_connect(path)
    conn.executescript(PEER_DDL)
    for tid, (full_name, rows) in enumerate(tables, start=1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO catalog_tables (id, full_name) VALUES (?, ?)", (tid, full_name))
        conn.executemany(PEER_INSERT, rows)
        conn.execute("COMMIT")
    conn.close()


def peer_incremental(path: Path, tables: list[tuple[list[tuple[object, ...]], ...]]) -> None:
    conn = peer_connect(path)
    for inserts, updates, deletes in tables:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(PEER_INSERT, inserts)
        conn.executemany(PEER_UPDATE, updates)
        conn.executemany(PEER_DELETE, deletes)
        conn.execute("COMMIT")
    conn.close()


def check_peer_ddl(db: Path) -> None:
    """Fail loudly if the store's partitions table no longer matches the peer's."""
    conn = sqlite3.connect(db)
    real = [
        r[0]
        for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'partitions' AND sql IS NOT NULL"
        )
    ]
    conn.close()
    if real != [_PARTITIONS_DDL]:
        raise RuntimeError(f"peer DDL is stale: the store has {real}; update PEER_DDL")


def expect_count(db: Path, expected: int, what: str) -> None:
    """Fail loudly unless ``db`` holds exactly ``expected`` partitions."""
    conn = sqlite3.connect(db)
    try:
        found = int(conn.execute("SELECT count(*) FROM partitions").fetchone()[0])
    finally:
        conn.close()
    if found != expected:
        raise RuntimeError(f"{what}: {found} partitions, expected {expected}")


def expect_same_content(central: Path, peer: Path) -> None:
    """Fail loudly unless the central store and the peer hold the same partition rows."""
    rows = (
        'SELECT ct.full_name, p."key", p."values", p.location, p.file_count, '
        "p.size_bytes, p.row_count, p.modified_at FROM {s}partitions p "
        "JOIN {s}catalog_tables ct ON ct.id = p.table_id"
    )
    a, b = rows.format(s="main."), rows.format(s="peer.")
    conn = sqlite3.connect(central)
    try:
        conn.execute("ATTACH DATABASE ? AS peer", (str(peer),))
        diff = [
            conn.execute(f"SELECT count(*) FROM ({x} EXCEPT {y})").fetchone()[0]
            for x, y in ((a, b), (b, a))
        ]
    finally:
        conn.close()
    if any(diff):
        raise RuntimeError(
            f"central and peer differ: {diff[0]} rows only in central, {diff[1]} only in the peer"
        )


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def restore(snapshot: Path, target: Path) -> None:
    remove_db(target)
    shutil.copyfile(snapshot, target)


# --------------------------------------------------------------------------- context


class Context:
    """The run's scratch directory and which fixture stages exist."""

    def __init__(self, size: Size, data_dir: Path) -> None:
        self.size = size
        data_dir.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="run-", dir=data_dir)).resolve()
        self.root = str(self.work / "domain")
        self.home = self.work / "mesh"
        self.central_db = self.home / "lakemesh.db"
        self.peer_db = self.work / "peer.db"
        self.snap_central = self.work / "central-initial.db"
        self.snap_peer = self.work / "peer-initial.db"
        self.specs = table_specs(size.tables)
        self.stage = "none"
        self._peer_rows: list[tuple[str, list[tuple[object, ...]]]] | None = None
        self._orders: OrdersMesh | None = None

    def close(self) -> None:
        if self._orders is not None:
            self._orders.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def orders(self) -> OrdersMesh:
        """The query benchmarks' governed mesh over generated orders (built once per run;
        the quick size uses 4 months of 250,000 rows)."""
        if self._orders is None:
            from benchmarks._orders import OrdersMesh

            quick = self.size.tables < 100
            self._orders = (
                OrdersMesh(self.work, months=4, rows_per_month=250_000)
                if quick
                else OrdersMesh(self.work)
            )
            self._orders.ensure_mesh()
        return self._orders

    # ------------------------------------------------------------------ stages

    def ensure_built(self) -> None:
        if self.stage != "none":
            return
        Path(self.root).mkdir(parents=True)
        seconds, _ = timed(lambda: self._put(partitions_v1))
        log(
            f"fixture: domain catalog {self.size.tables} x {self.size.partitions} "
            f"built in {seconds:.1f} s (not timed)"
        )
        self.stage = "built"

    def ensure_initial(self) -> None:
        """Untimed initial sync (ours and peer) unless the initial benchmark left one."""
        self.ensure_built()
        if self.stage != "built":
            return
        from benchmarks.sync_initial_1m_partitions import run_ours, run_peer

        run_ours(self)
        run_peer(self)
        self.snapshot_initial()

    def snapshot_initial(self) -> None:
        for db, snap in ((self.central_db, self.snap_central), (self.peer_db, self.snap_peer)):
            checkpoint(db)
            shutil.copyfile(db, snap)
        self.stage = "initial"

    def ensure_modified(self) -> None:
        self.ensure_initial()
        if self.stage != "initial":
            return
        seconds, _ = timed(lambda: self._put(partitions_v2))
        log(f"fixture: 1% change applied to the domain catalog in {seconds:.1f} s (not timed)")
        self.stage = "modified"

    def ensure_incremental(self) -> None:
        self.ensure_modified()
        if self.stage != "modified":
            return
        from benchmarks.sync_incremental_1pct import run_ours

        run_ours(self)
        self.stage = "incremental"

    # ------------------------------------------------------------------ helpers

    def _put(self, version: Callable[[TableSpec, str, Size], list[Partition]]) -> None:
        catalog = BuiltinCatalog(LocalStorage(self.root))
        with catalog.writer() as w:
            for spec in self.specs:
                parts = version(spec, self.root, self.size)
                w.put_table(table_info(spec, self.root, parts), parts)

    def open_mesh(self) -> Mesh:
        return Mesh.open(self.home)

    def peer_initial_rows(self) -> list[tuple[str, list[tuple[object, ...]]]]:
        """Per table: full name and the rows (table_id first), built once, outside timing."""
        if self._peer_rows is None:
            self._peer_rows = [
                (s.full_name, [(tid, *p) for p in partitions_v1(s, self.root, self.size)])
                for tid, s in enumerate(self.specs, start=1)
            ]
        return self._peer_rows

    def drop_peer_rows(self) -> None:
        self._peer_rows = None

    def peer_incremental_rows(self) -> list[tuple[list[tuple[object, ...]], ...]]:
        c, p, changed = self.size.one_pct, self.size.partitions, changed_indices(self.size)
        out = []
        for tid, s in enumerate(self.specs, start=1):
            inserts = [(tid, *partition(s, self.root, j)) for j in range(p, p + c)]
            updates = [
                (*partition(s, self.root, j, True)[1:], tid, partition(s, self.root, j)[0])
                for j in sorted(changed)
            ]
            deletes = [(tid, partition(s, self.root, j).key) for j in range(c)]
            out.append((inserts, updates, deletes))
        return out
