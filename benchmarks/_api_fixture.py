"""The API benchmark's mesh: 10,000 catalog tables, a few small queryable tables, and a
consumer domain whose users are authorised by a tag grant and a database grant.

Built through the product's own paths, as other benchmarks do: the 10,000 tables are
written to a builtin domain catalog with ``CatalogWriter`` (no data files: ``show`` and
``search`` read only the central catalog) and synced; the small tables are real Parquet
files, crawled and synced; tags and grants go through ``mesh.access``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import _fixture as fx
from benchmarks._common import log, timed
from lakemesh.access.grants import GrantRequest
from lakemesh.catalog.builtin import BuiltinCatalog
from lakemesh.home import write_settings
from lakemesh.mesh import Mesh
from lakemesh.storage.local import LocalStorage

WIDE, SMALL, CONSUMER = "bench", "shop", "analytics"
SMALL_DB = "orders"
PARTITIONS = 3  #: per catalog table
SMALL_ROWS = 5
#: High enough never to refuse the benchmark's clients (counted per token, per process).
RATE_LIMIT = "1000000/second"


@dataclass(frozen=True)
class ApiMesh:
    home: Path
    tables: list[str]  #: the 10,000 catalog tables
    small: list[str]  #: the queryable ones
    tokens: dict[str, str]  #: consumer user -> bearer token


def build(base: Path, n_tables: int, n_small: int, n_users: int) -> ApiMesh:
    """The mesh under ``base`` (removed first)."""
    shutil.rmtree(base, ignore_errors=True)
    wide_root, small_root = base / WIDE, base / SMALL
    specs = fx.table_specs(n_tables)
    seconds, _ = timed(lambda: _write_catalog(wide_root, specs))
    log(f"fixture: {n_tables:,} tables written to the {WIDE} catalog in {seconds:.1f} s")
    small = [_write_small(small_root, f"o{i:02d}") for i in range(n_small)]
    mesh = Mesh.init(base / "home")
    try:
        mesh.settings.products.classify_on_sync = False  # no data files to classify
        mesh.settings.products.check_on_sync = False
        mesh.settings.api.rate_limit = RATE_LIMIT
        write_settings(mesh.home, mesh.settings)
        mesh.domains.create(WIDE, str(wide_root), create=True)
        mesh.domains.create(SMALL, str(small_root), create=True)
        mesh.domains.create(CONSUMER, str(base / CONSUMER), kind="consumer", create=True)
        mesh.domains.crawl(SMALL)
        seconds, results = timed(lambda: mesh.domains.sync([WIDE, SMALL]))
        for r in results:
            if r.status != "ok":
                raise RuntimeError(f"sync failed: {r.summary()}")
        log(f"fixture: synced in {seconds:.1f} s")
        _govern(mesh)
        tokens = {}
        for i in range(n_users):
            user, token = mesh.access.create_user(f"analyst{i}@{CONSUMER}", "member")
            tokens[user.name] = token
        tables = [s.full_name for s in specs]
        _expect_allowed(mesh, next(iter(tokens)), tables, small)
        return ApiMesh(mesh.home, tables, small, tokens)
    finally:
        mesh.close()


def _write_catalog(root: Path, specs: list[fx.TableSpec]) -> None:
    root.mkdir(parents=True)
    catalog = BuiltinCatalog(LocalStorage(str(root)))
    with catalog.writer() as w:
        for spec in specs:
            parts = [fx.partition(spec, str(root), j) for j in range(PARTITIONS)]
            w.put_table(fx.table_info(spec, str(root), parts), parts)


def _write_small(root: Path, name: str) -> str:
    path = root / SMALL_DB / name / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pa.table(
        {
            "id": pa.array(range(1, SMALL_ROWS + 1), pa.int64()),
            "region": ["eu", "us", "apac", "eu", "us"][:SMALL_ROWS],
            "amount": [10.0 * i for i in range(SMALL_ROWS)],
        }
    )
    pq.write_table(data, path)
    return f"{SMALL}.{SMALL_DB}.{name}"


def _govern(mesh: Mesh) -> None:
    """The consumer domain's ceiling and its members' grants: a tag expression covering
    the wide catalog's databases (inherited by every table) and a database grant on the
    small tables, to the domain and to its member role."""
    mesh.access.define_tag("tier", ["gold", "silver"])
    for database in fx.DATABASES:
        mesh.access.assign_tag(f"{WIDE}.{database}", "tier=gold")
    for principal in (CONSUMER, f"{CONSUMER}:member"):
        mesh.access.grant(GrantRequest(("SELECT",), principal, tags="tier=gold"))
        mesh.access.grant(GrantRequest(("SELECT",), principal, database=f"{SMALL}.{SMALL_DB}"))


def _expect_allowed(mesh: Mesh, user: str, tables: list[str], small: list[str]) -> None:
    """Fail loudly unless the consumer really is authorised for what the clients ask."""
    authz = mesh.gate.authz()
    for table in (tables[0], tables[1], tables[-1], small[0]):
        for action in ("DESCRIBE", "SELECT"):
            if not authz.decide(user, action, table).allowed:
                raise RuntimeError(f"fixture: {user} may not {action} {table}")
    visible = authz.filter_allowed(user, "DESCRIBE", tables)
    if len(visible) != len(tables):
        raise RuntimeError(f"fixture: {user} may describe {len(visible)} of {len(tables)}")
