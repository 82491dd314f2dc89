"""A storage root on S3 or any S3-compatible object store, through pyarrow's S3 layer.

Credentials come from the environment (``AWS_ACCESS_KEY_ID`` ...), never from the mesh's
database; only the endpoint and region are stored with the domain.
"""

from __future__ import annotations

import posixpath

import pyarrow.fs as pafs

from lakemesh.errors import BackendUnavailable, InvalidInput, PathOutsideRoot
from lakemesh.storage import Entry, Storage, check_relative, join


class S3Storage(Storage):
    read_parallelism = 16

    def __init__(self, uri: str, *, endpoint: str | None = None, region: str | None = None):
        body = uri.removeprefix("s3://").strip("/")
        bucket, _, prefix = body.partition("/")
        if not bucket:
            raise InvalidInput(f"invalid S3 URI {uri!r}: expected s3://bucket[/prefix]")
        if ".." in prefix.split("/"):
            raise InvalidInput(f"invalid S3 URI {uri!r}: '..' is not allowed")
        norm = posixpath.normpath("/" + prefix)[1:] if prefix else ""
        self.bucket, self.prefix = bucket, norm
        self.base = f"{bucket}/{norm}" if norm else bucket
        self.uri = f"s3://{self.base}"
        self.endpoint, self.region = endpoint, region
        self._fs: pafs.S3FileSystem | None = None

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        if self._fs is None:
            kwargs: dict[str, object] = {"region": self.region or "us-east-1"}
            if self.endpoint:
                scheme, _, host = self.endpoint.partition("://")
                kwargs["endpoint_override"] = host or scheme
                kwargs["scheme"] = scheme if host else "https"
            self._fs = pafs.S3FileSystem(**kwargs)
        return self._fs, self.base

    def exists(self) -> bool:
        fs, base = self.filesystem()
        try:
            return bool(fs.get_file_info(base).type != pafs.FileType.NotFound)
        except OSError as exc:
            raise BackendUnavailable(f"cannot reach {self.uri}: {exc}") from exc

    def location(self, path: str) -> str:
        return "s3://" + join(self.base, check_relative(path))

    def relative(self, location: str) -> str:
        if not location.startswith("s3://"):
            raise PathOutsideRoot(f"location {location!r} is outside the storage root")
        key = posixpath.normpath(location.removeprefix("s3://"))
        if key == self.base:
            return ""
        if not key.startswith(self.base + "/"):
            raise PathOutsideRoot(f"location {location!r} is outside the storage root")
        return key[len(self.base) + 1 :]

    def scan(self, path: str = "") -> list[Entry]:
        fs, base = self.filesystem()
        rel = check_relative(path)
        try:
            infos = fs.get_file_info(pafs.FileSelector(join(base, rel), allow_not_found=True))
        except OSError as exc:
            raise BackendUnavailable(f"cannot list {self.uri}: {exc}") from exc
        out = []
        for info in infos:
            name = info.base_name
            child = f"{rel}/{name}" if rel else name
            mtime = int(info.mtime_ns or 0)
            out.append(
                Entry(name, child, info.type == pafs.FileType.Directory, int(info.size or 0), mtime)
            )
        return out
