"""The crawler: formats, Hive partitions, widening, skipped names and links, the cache."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from lakemesh.catalog.builtin import CATALOG_PATH, BuiltinCatalog
from lakemesh.errors import CatalogCorrupt, InvalidInput, NotFound, PathOutsideRoot
from lakemesh.mesh import Mesh
from lakemesh.metadata.crawler import Crawler
from lakemesh.storage import Entry
from lakemesh.storage.local import LocalStorage
from tests.conftest import write_jsonl, write_parquet


def crawl(root: Path, path: str = "", database: str | None = None):  # type: ignore[no-untyped-def]
    storage = LocalStorage(str(root))
    catalog = BuiltinCatalog(storage)
    return Crawler(storage, catalog).crawl(path, database), catalog


def test_formats_and_hive_partitions(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/pq/year=2024/month=1/a.parquet", {"x": [1, 2]})
    write_parquet(tmp_path / "db/pq/year=2024/month=2/b.parquet", {"x": [3]})
    (tmp_path / "db/csvt").mkdir(parents=True)
    (tmp_path / "db/csvt/data.csv").write_text("a,b,c\n1,hello,2024-01-01\n2,world,2024-02-01\n")
    write_jsonl(tmp_path / "db/js/region=eu/r.jsonl", [{"k": 1, "v": "a"}, {"k": 2, "v": None}])
    report, cat = crawl(tmp_path)
    assert sorted(report.added) == ["db.csvt", "db.js", "db.pq"]
    pq_t = cat.load_table("db", "pq")
    assert pq_t.format == "parquet" and pq_t.partition_keys == ("year", "month")
    assert [(c.name, c.type, c.partition) for c in pq_t.table_schema.columns] == [
        ("x", "int64", False),
        ("year", "int64", True),
        ("month", "int64", True),
    ]
    assert pq_t.row_count == 3
    assert [p.key for p in cat.partitions("db", "pq")] == ["year=2024/month=1", "year=2024/month=2"]
    csv_t = cat.load_table("db", "csvt")
    assert csv_t.format == "csv" and csv_t.table_schema.names == ["a", "b", "c"]
    assert csv_t.table_schema.column("a").type == "int64"  # type: ignore[union-attr]
    js = cat.load_table("db", "js")
    assert js.format == "json" and js.partition_keys == ("region",)
    assert js.table_schema.column("region").type == "string"  # type: ignore[union-attr]


def test_schema_merged_with_widening(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/a.parquet", {"n": pa.array([1], pa.int32()), "f": [1]})
    write_parquet(
        tmp_path / "db/t/b.parquet", {"n": pa.array([2], pa.int64()), "f": [1.5], "extra": ["x"]}
    )
    _, cat = crawl(tmp_path)
    cols = {c.name: c.type for c in cat.load_table("db", "t").table_schema.columns}
    assert cols == {"n": "int64", "f": "double", "extra": "string"}


def test_conflicting_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/a.parquet", {"s": pa.array([{"x": 1}])})
    write_parquet(tmp_path / "db/t/b.parquet", {"s": pa.array([[1, 2]])})
    report, cat = crawl(tmp_path)
    assert any("schema conflict" in w for w in report.warnings)
    assert cat.load_table("db", "t").file_count == 1


def test_invalid_names_are_skipped_with_warnings(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/Bad-Name/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "Bad DB/t/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "db/ok/notapartition/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "db/ok/a.parquet", {"x": [1]})
    (tmp_path / "db/ok/readme.txt").write_text("hi")
    write_parquet(tmp_path / "db/_hidden/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "db/cols/a.parquet", {"bad col": [1]})
    report, cat = crawl(tmp_path)
    assert report.added == ["db.cols", "db.ok"]  # a column name is normalised, not refused
    assert cat.load_table("db", "cols").table_schema.names == ["bad_col"]
    joined = "\n".join(report.warnings)
    for fragment in (
        "'Bad-Name' is not a valid table name",
        "'Bad DB' is not a valid database",
        "not a key=value partition",
        "readme.txt: not a Parquet",
    ):
        assert fragment in joined
    assert "column" not in joined
    assert "_hidden" not in joined, "names starting with _ are silently ignored"


def test_links_out_of_the_root_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_parquet(outside / "secret.parquet", {"ssn": ["123"]})
    root = tmp_path / "root"
    write_parquet(root / "db/t/a.parquet", {"x": [1]})
    os.symlink(outside / "secret.parquet", root / "db/t/leak.parquet")
    os.symlink(outside, root / "db/linked")
    os.symlink(root / "db/t", root / "db/inside")  # a link that stays inside is followed
    report, cat = crawl(root)
    assert sorted(report.added) == ["db.inside", "db.t"]
    assert cat.load_table("db", "t").file_count == 1
    # leak.parquet is reached through db/t and through db/inside; db/linked once
    assert sum("outside the storage root" in w for w in report.warnings) == 3
    assert not any("ssn" in c.name for c in cat.load_table("db", "inside").table_schema.columns)


def test_crawl_path_cannot_leave_the_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    with pytest.raises(PathOutsideRoot):
        crawl(tmp_path / "root", "../")
    with pytest.raises(PathOutsideRoot):
        crawl(tmp_path / "root", str(tmp_path))
    with pytest.raises(InvalidInput):
        crawl(tmp_path / "root", "missing")


def test_database_option_and_subpath(tmp_path: Path) -> None:
    write_parquet(tmp_path / "landing/a/x.parquet", {"x": [1]})
    write_parquet(tmp_path / "landing/b/x.parquet", {"x": [1]})
    report, _ = crawl(tmp_path, "landing", database="raw")
    assert sorted(report.added) == ["raw.a", "raw.b"]
    with pytest.raises(InvalidInput):
        crawl(tmp_path, "landing", database="Bad")


def test_unreadable_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/good.parquet", {"x": [1]})
    (tmp_path / "db/t/broken.parquet").write_bytes(b"PAR1 not really")
    report, cat = crawl(tmp_path)
    assert any("broken.parquet: unreadable" in w for w in report.warnings)
    assert cat.load_table("db", "t").file_count == 1


def test_recrawl_reads_only_changed_files_and_drops_vanished_tables(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "db/u/a.parquet", {"x": [1]})
    crawl(tmp_path)
    report, cat = crawl(tmp_path)
    assert (report.files_read, report.files_cached) == (0, 2)
    assert sorted(report.unchanged) == ["db.t", "db.u"]
    assert cat.changes(None).cursor.endswith(":1"), "an unchanged crawl writes no version"
    write_parquet(tmp_path / "db/t/b.parquet", {"x": [2], "y": ["new"]})
    (tmp_path / "db/u/a.parquet").unlink()
    report, cat = crawl(tmp_path)
    assert report.files_read == 1 and report.updated == ["db.t"] and report.removed == ["db.u"]
    assert [c.kind for c in report.schema_changes["db.t"]] == ["column_added"]
    assert [r.name for r in cat.list_tables()] == ["t"]


def test_an_unreadable_table_is_kept_through_crawl_and_sync(
    sqlite_mesh: Mesh, tmp_path: Path
) -> None:
    """Files (or a Delta log) that cannot be read now are not a table that is gone: the
    catalog keeps its last description, the crawl says why, the sync deletes nothing."""
    from deltalake import write_deltalake

    root = tmp_path / "root"
    write_parquet(root / "db/t/k=1/a.parquet", {"x": [1, 2]})
    write_parquet(root / "db/t/k=2/a.parquet", {"x": [3]})
    write_deltalake(str(root / "db/d"), pa.table({"y": [1, 2, 3]}))
    write_parquet(root / "db/gone/a.parquet", {"x": [1]})
    sqlite_mesh.domains.create("dom", str(root), create=True)
    sqlite_mesh.domains.crawl("dom")
    [r] = sqlite_mesh.domains.sync()
    assert (r.status, r.tables_added) == ("ok", 3)

    for f in (root / "db/t").rglob("*.parquet"):
        f.write_bytes(b"PAR1 not parquet any more")
    max((root / "db/d/_delta_log").glob("*.json")).write_text("{not json")
    for f in (root / "db/gone").iterdir():
        f.unlink()
    report = sqlite_mesh.domains.crawl("dom")
    assert report.removed == ["db.gone"], "only the table with no data file left is removed"
    for table in ("db.t", "db.d"):
        assert any(w.startswith(f"table {table} not updated") for w in report.warnings), table
    assert any("db/t/k=1/a.parquet: unreadable" in w for w in report.warnings)
    # kept entries are unchanged ones: the crawl did not "find no table" (the CLI's error)
    assert sorted(report.unchanged) == ["db.d", "db.t"] and report.hint is None
    cat = BuiltinCatalog(LocalStorage(str(root)))
    assert [p.key for p in cat.partitions("db", "t")] == ["k=1", "k=2"]

    for full in (False, True):
        [r] = sqlite_mesh.domains.sync(full=full)
        assert (r.status, r.tables_removed) == ("ok", 1 if not full else 0), r
        assert sqlite_mesh.catalog.table("dom.db.t").row_count == 3
        assert sqlite_mesh.catalog.table("dom.db.d").row_count == 3
        assert [p.key for p in sqlite_mesh.catalog.partitions("dom.db.t")] == ["k=1", "k=2"]
    with pytest.raises(NotFound):
        sqlite_mesh.catalog.table("dom.db.gone")


def test_a_folder_that_cannot_be_listed_keeps_its_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A denied listing says nothing about what lies below: its tables stay."""
    write_parquet(tmp_path / "db/t/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "db/u/a.parquet", {"x": [1]})
    crawl(tmp_path)
    scan = LocalStorage.scan

    def denied(self: LocalStorage, path: str = "") -> list[Entry]:
        if path == "db/t":  # as root, chmod would not deny anything
            raise PermissionError(13, "Permission denied", path)
        return scan(self, path)

    monkeypatch.setattr(LocalStorage, "scan", denied)
    report, cat = crawl(tmp_path)
    assert report.removed == [] and report.unchanged == ["db.u"]
    assert "skipped db/t: permission denied" in report.warnings
    assert "table db.t kept: db/t could not be listed" in report.warnings
    assert [r.name for r in cat.list_tables()] == ["t", "u"]


def test_a_damaged_catalog_row_fails_its_table_only(sqlite_mesh: Mesh, tmp_path: Path) -> None:
    """A damaged row of the builtin catalog is ``CatalogCorrupt`` for that table: the
    sync applies the other tables, keeps the damaged one, and says which it was."""
    root = tmp_path / "root"
    write_parquet(root / "db/t/a.parquet", {"x": [1]})
    write_parquet(root / "db/u/a.parquet", {"x": [1]})
    sqlite_mesh.domains.create("dom", str(root), create=True)
    sqlite_mesh.domains.crawl("dom")
    sqlite_mesh.domains.sync()
    write_parquet(root / "db/u/b.parquet", {"x": [2]})
    sqlite_mesh.domains.crawl("dom")
    with sqlite3.connect(root / CATALOG_PATH) as conn:
        conn.execute(  # damaged in the write that changed u: both are in the change feed
            "UPDATE tables SET partition_keys = '[', "
            "version = (SELECT max(version) FROM tables) WHERE name = 't'"
        )
    conn.close()
    with pytest.raises(CatalogCorrupt, match=r"db\.t"):
        BuiltinCatalog(LocalStorage(str(root))).load_table("db", "t")
    for full in (False, True):
        [r] = sqlite_mesh.domains.sync(full=full)
        assert (r.status, r.tables_removed) == ("failed", 0)
        assert any(w.startswith("dom.db.t: catalog entry") for w in r.warnings), r.warnings
        assert sqlite_mesh.catalog.table("dom.db.u").row_count == 2  # applied all the same
        assert sqlite_mesh.catalog.table("dom.db.t").row_count == 1


def test_corrupt_catalog_file_is_refused(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/a.parquet", {"x": [1]})
    (tmp_path / "_lakemesh").mkdir()
    (tmp_path / CATALOG_PATH).write_bytes(b"garbage" * 1000)
    with pytest.raises(CatalogCorrupt):
        crawl(tmp_path)
    with pytest.raises(CatalogCorrupt):
        BuiltinCatalog(LocalStorage(str(tmp_path))).list_tables()


def test_missing_catalog_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="crawl"):
        BuiltinCatalog(LocalStorage(str(tmp_path))).check()


def test_builtin_catalog_change_feed(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/k=1/a.parquet", {"x": [1]})
    write_parquet(tmp_path / "db/t/k=2/a.parquet", {"x": [1]})
    _, cat = crawl(tmp_path)
    first = cat.changes(None)
    assert [r.name for r in first.changed] == ["t"] and first.deltas == {}
    write_parquet(tmp_path / "db/t/k=3/a.parquet", {"x": [1]})
    (tmp_path / "db/t/k=1/a.parquet").unlink()
    (tmp_path / "db/t/k=1").rmdir()
    crawl(tmp_path)
    ch = cat.changes(first.cursor)
    delta = ch.deltas[("db", "t")]
    assert [p.key for p in delta.upserts] == ["k=3"] and delta.removed == ["k=1"]
    assert cat.changes(ch.cursor).changed == []
    assert cat.changes("another-catalog:5").deltas == {}, "a foreign cursor means full listing"


def test_large_tree_is_crawled_and_recrawled_quickly(tmp_path: Path) -> None:
    """5,000 files; the 100k-file case is measured by the benchmarks, not asserted here."""
    for d in range(50):
        for h in range(100):
            p = tmp_path / "db/events" / f"day={d}" / f"hour={h}"
            write_jsonl(p / "e.jsonl", [{"id": d * 100 + h}])
    report, cat = crawl(tmp_path)
    assert report.added == ["db.events"] and report.files_read == 5000
    assert len(cat.partitions("db", "events")) == 5000
    report, _ = crawl(tmp_path)
    assert report.files_read == 0 and report.files_cached == 5000


def test_link_then_dotdot_is_resolved_like_the_kernel(tmp_path: Path) -> None:
    """'root/link/../x' with link -> outside/dir opens outside/x: it must not pass."""
    root = tmp_path / "root"
    (root / "db").mkdir(parents=True)
    (tmp_path / "outside" / "dir").mkdir(parents=True)
    os.symlink(tmp_path / "outside" / "dir", root / "db" / "link")
    storage = LocalStorage(str(root))
    assert not storage.contains(f"{root}/db/link/../x")
    assert storage.contains(f"{root}/db/x/../y")
    assert storage.relative(f"{root}/db/./y") == "db/y"
    with pytest.raises(PathOutsideRoot):
        storage.relative(f"{root}/db/link/file")
