"""Positional delete files for Iceberg tables (tests and benchmarks).

pyiceberg 0.12 reads merge-on-read deletes but only writes copy-on-write ones (its
``delete()`` rewrites data files), so a table with positional delete files, as Spark or
Flink leave them, is made here: a Parquet file of ``(file_path, pos)`` under the spec's
reserved field ids, a DELETES manifest naming it, and a snapshot that keeps every
existing manifest and adds that one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.conversions import to_bytes
from pyiceberg.io import FileIO
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
)
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import (
    Operation,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.typedef import EMPTY_DICT, Record
from pyiceberg.types import LongType, StringType

#: The Iceberg spec's reserved field ids of a positional delete file's columns.
FILE_PATH_ID = 2147483546
POS_ID = 2147483545

DELETE_SCHEMA = pa.schema(
    [
        pa.field(
            "file_path",
            pa.string(),
            nullable=False,
            metadata={b"PARQUET:field_id": str(FILE_PATH_ID).encode()},
        ),
        pa.field(
            "pos", pa.int64(), nullable=False, metadata={b"PARQUET:field_id": str(POS_ID).encode()}
        ),
    ]
)


def add_position_deletes(table: Table, deletes: Mapping[str, Sequence[int]]) -> None:
    """Delete row positions (0-based, within each data file) of the current snapshot's
    data files, by path: one delete file per partition, committed as one snapshot."""
    if table.format_version != 2:
        raise ValueError(
            f"positional delete files need format version 2, not {table.format_version}"
        )
    live = {task.file.file_path: task.file for task in table.scan().plan_files()}
    groups: dict[tuple[int, Record], dict[str, list[int]]] = defaultdict(dict)
    for path, positions in deletes.items():
        data = live.get(path)
        if data is None:
            raise ValueError(f"{path} is not a data file of the current snapshot")
        wanted = sorted(set(positions))
        if wanted and not 0 <= wanted[0] <= wanted[-1] < data.record_count:
            raise ValueError(f"{path} has {data.record_count} rows, positions {wanted[-1]}")
        if wanted:
            groups[(data.spec_id, data.partition)][path] = wanted
    if not groups:
        return
    written = [
        _write_delete_file(table, spec_id, partition, by_path)
        for (spec_id, partition), by_path in groups.items()
    ]
    with table.transaction() as tx:
        _AddDeleteFiles(tx, table.io, written).commit()


def _write_delete_file(
    table: Table, spec_id: int, partition: Record, by_path: Mapping[str, Sequence[int]]
) -> DataFile:
    """One Parquet delete file, rows sorted by (file_path, pos) as the spec requires."""
    paths = sorted(by_path)
    rows = pa.table(
        [
            pa.array([p for p in paths for _ in by_path[p]], pa.string()),
            pa.array([pos for p in paths for pos in by_path[p]], pa.int64()),
        ],
        schema=DELETE_SCHEMA,
    )
    location = table.location_provider().new_data_location(f"deletes-{uuid.uuid4()}.parquet")
    output = table.io.new_output(location)
    with output.create(overwrite=False) as stream:
        pq.write_table(rows, stream)
    positions = rows.column("pos")
    low = min(by_path[p][0] for p in paths)
    high = max(by_path[p][-1] for p in paths)
    delete_file = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=location,
        file_format=FileFormat.PARQUET,
        partition=partition,
        record_count=len(positions),
        file_size_in_bytes=len(output),
        value_counts={FILE_PATH_ID: rows.num_rows, POS_ID: rows.num_rows},
        null_value_counts={FILE_PATH_ID: 0, POS_ID: 0},
        # Exact (untruncated) path bounds: a reader matches a delete file to the data
        # files it names by them, and skips it for every other data file.
        lower_bounds={
            FILE_PATH_ID: to_bytes(StringType(), paths[0]),
            POS_ID: to_bytes(LongType(), low),
        },
        upper_bounds={
            FILE_PATH_ID: to_bytes(StringType(), paths[-1]),
            POS_ID: to_bytes(LongType(), high),
        },
    )
    delete_file.spec_id = spec_id  # not a field of the file: manifests carry it
    return delete_file


class _DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest of delete files (pyiceberg only writes data manifests)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class _AddDeleteFiles(_FastAppendFiles):
    """A snapshot of every existing manifest plus one DELETES manifest per partition
    spec (Iceberg's "delete" operation: rows removed, no data file rewritten)."""

    def __init__(self, transaction: Transaction, io: FileIO, files: Sequence[DataFile]) -> None:
        super().__init__(operation=Operation.DELETE, transaction=transaction, io=io)
        self._delete_files = list(files)

    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        by_spec: dict[int, list[DataFile]] = defaultdict(list)
        for f in self._delete_files:
            by_spec[f.spec_id].append(f)
        added = []
        for spec_id, files in by_spec.items():
            writer = _DeleteManifestWriter(
                self.spec(spec_id),
                self.schema(),
                self.new_manifest_output(),
                self.snapshot_id,
                self._compression,
            )
            with writer:
                for f in files:
                    writer.add(
                        ManifestEntry.from_args(
                            status=ManifestEntryStatus.ADDED,
                            snapshot_id=self.snapshot_id,
                            sequence_number=None,
                            file_sequence_number=None,
                            data_file=f,
                        )
                    )
            added.append(writer.to_manifest_file())
        return [*manifests, *added]

    def _summary(self, snapshot_properties: dict[str, str] = EMPTY_DICT) -> Summary:
        metadata = self._transaction.table_metadata
        collector = SnapshotSummaryCollector()
        for f in self._delete_files:
            collector.add_file(f, schema=self.schema(), partition_spec=self.spec(f.spec_id))
        parent: Any = None
        if self._parent_snapshot_id is not None:
            parent = metadata.snapshot_by_id(self._parent_snapshot_id)
        return update_snapshot_summaries(
            summary=Summary(operation=self._operation, **collector.build(), **snapshot_properties),
            previous_summary=parent.summary if parent is not None else None,
        )
