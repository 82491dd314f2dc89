"""An s3:// domain through pyarrow's S3 layer, against an S3-protocol server on loopback.

The server is moto's standalone S3 server (HTTP on 127.0.0.1): lakemesh talks to it with
the same pyarrow S3 client it would use against AWS or MinIO.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from lakemesh.errors import BackendUnavailable
from lakemesh.mesh import Mesh
from lakemesh.storage import open_storage
from lakemesh.storage.s3 import S3Storage
from tests.pgserver import free_port


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    fs = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}",
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    fs.create_dir("lake")
    yield endpoint
    server.stop()


def put_parquet(storage: S3Storage, path: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with storage.open_output(path) as out:
        out.write(buf.getvalue())


def test_s3_domain_crawl_and_sync(sqlite_mesh: Mesh, s3: str) -> None:
    storage = open_storage("s3://lake/banking", {"endpoint": s3})
    assert isinstance(storage, S3Storage)
    for day in ("2024-01-01", "2024-01-02"):
        put_parquet(
            storage,
            f"sales/orders/dt={day}/part-0.parquet",
            pa.table({"id": [1, 2], "amount": [1.0, 2.0]}),
        )
    sqlite_mesh.domains.create("s3dom", "s3://lake/banking", endpoint=s3)
    report = sqlite_mesh.domains.crawl("s3dom")
    assert report.added == ["sales.orders"] and report.warnings == []
    [r] = sqlite_mesh.domains.sync()
    assert (r.status, r.tables_added, r.partitions_added) == ("ok", 1, 2)
    detail = sqlite_mesh.catalog.table("s3dom.sales.orders")
    assert detail.location == "s3://lake/banking/sales/orders"
    assert detail.row_count == 4
    part = sqlite_mesh.catalog.partition("s3dom.sales.orders", "dt=2024-01-02")
    assert part is not None and part.location == "s3://lake/banking/sales/orders/dt=2024-01-02"
    # the builtin catalog file lives in the bucket, next to the data
    assert storage.filesystem()[0].get_file_info("lake/banking/_lakemesh/catalog.db").size > 0
    put_parquet(
        storage, "sales/orders/dt=2024-01-03/part-0.parquet", pa.table({"id": [3], "amount": [3.0]})
    )
    assert sqlite_mesh.domains.crawl("s3dom").updated == ["sales.orders"]
    [r] = sqlite_mesh.domains.sync()
    assert (r.mode, r.partitions_added) == ("incremental", 1)


def test_s3_locations_are_contained_by_components(s3: str) -> None:
    storage = S3Storage("s3://lake/banking", endpoint=s3)
    assert storage.contains("s3://lake/banking/x/y.parquet")
    assert not storage.contains("s3://lake/banking_other/x.parquet")
    assert not storage.contains("s3://lake/banking/../secrets/x")
    assert not storage.contains("s3://other/banking/x")
    assert not storage.contains("/etc/passwd")


def test_unreachable_s3_endpoint_fails_sync(
    sqlite_mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    sqlite_mesh.domains.create("gone", "s3://lake/x", endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendUnavailable):
        sqlite_mesh.domains.crawl("gone")
    [r] = sqlite_mesh.domains.sync()
    assert r.status == "failed"
