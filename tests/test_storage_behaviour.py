"""The ``Storage`` contract, run over every backend: a local directory and an S3 bucket.

The S3 backend talks to moto's S3 server on loopback (the ``s3`` fixture of
``test_storage_s3``) with the same pyarrow client lakemesh uses against AWS. Each root is
filled through the storage's own ``open_output``. Where the backends legitimately differ
(an object store has no folders and no links), the test says so and checks each side.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakemesh.catalog.files import table_files
from lakemesh.errors import PathOutsideRoot
from lakemesh.storage import Storage, join, open_storage
from lakemesh.storage.local import LocalStorage
from tests.test_storage_s3 import s3  # noqa: F401  (the S3 server, requested by name)


def parquet(ids: list[int]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), buf)
    return buf.getvalue()


#: One table as a Spark job leaves it: two partitions, bookkeeping files, a stray note.
TREE = {
    "sales/orders/dt=2024-01-01/part-0.parquet": parquet([1, 2]),
    "sales/orders/dt=2024-01-02/part-0.parquet": parquet([3]),
    "sales/orders/_SUCCESS": b"",
    "sales/orders/.part-0.parquet.crc": b"crc",
    "sales/orders/_temporary/part-9.parquet": parquet([9]),
    "sales/orders/notes.txt": b"not data",
    "sales/customers/customers.csv": b"id,name\n1,ana\n",
}

Roots = Callable[[str], Storage]


@pytest.fixture(params=["local", "s3"])
def roots(request: pytest.FixtureRequest, tmp_path: Path) -> Roots:
    """Storage roots by name on one backend, side by side (``dom``, ``dom_other`` ...)."""
    if request.param == "local":
        return lambda name: LocalStorage(str(tmp_path / name))
    endpoint = request.getfixturevalue("s3")
    return lambda name: open_storage(f"s3://lake/{name}", {"endpoint": endpoint})


def put(storage: Storage, path: str, data: bytes) -> None:
    with storage.open_output(path) as out:
        out.write(data)


@pytest.fixture
def storage(roots: Roots) -> Storage:
    st = roots("dom")
    try:
        for path, data in TREE.items():
            put(st, path, data)
    except OSError as exc:
        pytest.fail(f"the storage backend at {st.uri} does not accept writes: {exc}")
    return st


def listing(storage: Storage, path: str) -> dict[str, tuple[str, bool]]:
    return {e.name: (e.path, e.is_dir) for e in storage.scan(path)}


# ------------------------------------------------------------------ listing and reading


def test_scan_lists_one_level_relative_to_the_root(storage: Storage) -> None:
    assert listing(storage, "") == {"sales": ("sales", True)}
    assert listing(storage, "sales") == {
        "customers": ("sales/customers", True),
        "orders": ("sales/orders", True),
    }
    entries = {e.name: e for e in storage.scan("sales/orders")}
    assert {name: e.is_dir for name, e in entries.items()} == {
        "dt=2024-01-01": True,
        "dt=2024-01-02": True,
        "_temporary": True,
        "_SUCCESS": False,
        ".part-0.parquet.crc": False,
        "notes.txt": False,
    }
    for e in entries.values():
        assert e.path == f"sales/orders/{e.name}"
        assert not e.escapes
        if not e.is_dir:  # a folder's size is the inode's locally and 0 on S3: not compared
            assert e.size == len(TREE[e.path])
            assert e.mtime_ns > 1_600_000_000 * 10**9
    # the same folder however the relative path is spelled
    assert listing(storage, "sales//orders/.") == listing(storage, "sales/orders")
    assert listing(storage, "./sales/x/../orders/") == listing(storage, "sales/orders")


def test_hidden_entries_are_listed_but_never_data(storage: Storage) -> None:
    """Storage shows everything; the one rule for what is data (``catalog.files``) hides
    ``_`` and ``.`` names and files of unknown formats, on every backend alike."""
    names = {e.name for e in storage.scan("sales/orders")}
    assert {"_SUCCESS", ".part-0.parquet.crc", "_temporary"} <= names
    files = table_files(storage, "sales/orders")
    assert [(f.path, f.fmt, f.partition) for f in files] == [
        ("sales/orders/dt=2024-01-01/part-0.parquet", "parquet", (("dt", "2024-01-01"),)),
        ("sales/orders/dt=2024-01-02/part-0.parquet", "parquet", (("dt", "2024-01-02"),)),
    ]
    assert [f.size for f in files] == [len(TREE[f.path]) for f in files]


def test_written_bytes_read_back(storage: Storage) -> None:
    for path, data in TREE.items():
        with storage.open_input(path) as fh:
            assert fh.read() == data
    put(storage, "new/deep/folder/blob.bin", b"\x00\x01")  # parents are created
    put(storage, "sales/orders/notes.txt", b"replaced")
    with storage.open_input("new/deep/folder/blob.bin") as fh:
        assert fh.read() == b"\x00\x01"
    with storage.open_input("sales/orders/notes.txt") as fh:
        assert fh.read() == b"replaced"


def test_filesystem_serves_readers_at_the_root(storage: Storage) -> None:
    fs, base = storage.filesystem()
    path = "sales/orders/dt=2024-01-01/part-0.parquet"
    assert pq.read_table(join(base, path), filesystem=fs).column("id").to_pylist() == [1, 2]
    assert fs.get_file_info(join(base, path)).size == len(TREE[path])


def test_exists(storage: Storage, roots: Roots) -> None:
    assert storage.exists()
    # On S3 a root is a prefix: it exists once something lies under it.
    assert not roots("never_written").exists()


def test_a_missing_path(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open_input("sales/orders/missing.parquet")
    if isinstance(storage, LocalStorage):
        with pytest.raises(FileNotFoundError):
            storage.scan("sales/missing")
        with pytest.raises(NotADirectoryError):
            storage.scan("sales/orders/notes.txt")
        with pytest.raises(FileNotFoundError):
            table_files(storage, "sales/missing")
    else:
        # An object store has no folders: a prefix that nothing lies under (or a key
        # used as a prefix) is an empty listing, not a missing one.
        assert storage.scan("sales/missing") == []
        assert storage.scan("sales/orders/notes.txt") == []
        assert table_files(storage, "sales/missing") == []


# ------------------------------------------------------------------ the root's boundary


def test_location_and_relative_are_inverse(storage: Storage) -> None:
    assert storage.location("") == storage.uri
    assert storage.relative(storage.uri) == ""
    assert storage.relative(storage.uri + "/") == ""
    for rel in ("sales", "sales/orders/dt=2024-01-01/part-0.parquet", "not/yet/written"):
        loc = storage.location(rel)
        assert loc.startswith(storage.uri + "/")
        assert storage.relative(loc) == rel
        assert storage.contains(loc)
    assert storage.location("sales/./orders/") == storage.location("sales/orders")
    assert storage.relative(storage.uri + "/sales/x/../orders") == "sales/orders"
    if isinstance(storage, LocalStorage):
        assert os.path.isabs(storage.uri)  # a local root is a resolved absolute path
        assert storage.relative("file://" + storage.location("sales")) == "sales"
    else:
        assert storage.uri == "s3://lake/dom"


@pytest.mark.parametrize("path", ["..", "../dom_other/x", "sales/../../x", "/etc/passwd", "..\\x"])
def test_relative_paths_cannot_leave_the_root(storage: Storage, path: str) -> None:
    with pytest.raises(PathOutsideRoot):
        storage.location(path)
    with pytest.raises(PathOutsideRoot):
        storage.scan(path)
    with pytest.raises(PathOutsideRoot):
        storage.open_input(path)
    with pytest.raises(PathOutsideRoot):
        storage.open_output(path)


def test_locations_outside_the_root_are_refused(storage: Storage, roots: Roots) -> None:
    sibling = roots("dom_other")  # a root whose name starts with this one's
    put(sibling, "sales/x.csv", b"a\n1\n")
    for foreign in (
        sibling.location("sales/x.csv"),
        sibling.uri,
        storage.uri + "/../dom_other/sales/x.csv",
        storage.uri + "/sales/../../dom_other",
        storage.uri.rsplit("/", 1)[0],  # the root's parent
        "/etc/passwd",
        "s3://elsewhere/dom/sales",
    ):
        with pytest.raises(PathOutsideRoot):
            storage.relative(foreign)
        assert not storage.contains(foreign), foreign


@pytest.fixture
def in_root(storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    """The storage, with the process's working directory inside its local root."""
    monkeypatch.chdir(storage.location("") if isinstance(storage, LocalStorage) else tmp_path)
    return storage


def test_a_relative_string_is_not_a_location(in_root: Storage) -> None:
    """``location`` only hands out absolute locations; anything else is foreign, wherever
    the process happens to run."""
    with pytest.raises(PathOutsideRoot):
        in_root.relative("sales/orders")
    assert not in_root.contains("sales")


# ------------------------------------------------------------------ links (local only)
# An object store has no links: these checks have no S3 counterpart.


@pytest.fixture
def linked(tmp_path: Path) -> LocalStorage:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sales" / "orders").mkdir(parents=True)
    (root / "sales" / "orders" / "a.csv").write_text("id\n1\n")
    outside.mkdir()
    (outside / "secret.csv").write_text("ssn\n123\n")
    (root / "sales" / "out").symlink_to(outside)
    (root / "sales" / "orders" / "leak.csv").symlink_to(outside / "secret.csv")
    (root / "sales" / "alias").symlink_to(root / "sales" / "orders")
    return LocalStorage(str(root))


def test_links_leaving_the_root_are_flagged_and_refused(linked: LocalStorage) -> None:
    entries = {e.name: e for e in linked.scan("sales")}
    assert (entries["out"].escapes, entries["out"].is_dir) == (True, False)
    assert (entries["alias"].escapes, entries["alias"].is_dir) == (False, True)  # followed
    assert [e.escapes for e in linked.scan("sales/orders") if e.name == "leak.csv"] == [True]
    for rel in ("sales/out", "sales/out/secret.csv", "sales/orders/leak.csv"):
        with pytest.raises(PathOutsideRoot):
            linked.relative(linked.location(rel))
    assert linked.relative(linked.location("sales/alias/a.csv")) == "sales/orders/a.csv"
    assert [f.path for f in table_files(linked, "sales/orders")] == ["sales/orders/a.csv"]


def test_reading_through_a_link_that_leaves_the_root_is_refused(linked: LocalStorage) -> None:
    with pytest.raises(PathOutsideRoot):
        linked.open_input("sales/orders/leak.csv")
    with pytest.raises(PathOutsideRoot):
        linked.scan("sales/out")
