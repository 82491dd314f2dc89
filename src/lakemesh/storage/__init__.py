"""Domain storage: a root (local directory or ``s3://`` prefix) and what lies under it.

Everything that reads a domain's files goes through a ``Storage`` so that the rule of
SPEC 2.5 lives in one place: a location is inside the root only if, after normalisation,
its path components start with the root's components. Symbolic links are resolved
before that comparison; on object stores there are none.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow.fs as pafs

from lakemesh.errors import InvalidInput, PathOutsideRoot


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a directory listing, relative to the storage root."""

    name: str
    path: str  #: relative to the root, '/'-separated
    is_dir: bool
    size: int
    mtime_ns: int
    #: Set when the entry is a link whose target leaves the root (never followed).
    escapes: bool = False


class Storage(ABC):
    """A domain's storage root. Relative paths are '/'-separated and never absolute."""

    uri: str
    #: How many files a reader should fetch at once: object stores are latency-bound.
    read_parallelism: int = 1

    @abstractmethod
    def scan(self, path: str = "") -> list[Entry]:
        """One directory level under ``path``; links leaving the root are flagged, and a
        ``path`` that leads outside it is refused (``PathOutsideRoot``)."""

    @abstractmethod
    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the root's path on it, for readers."""

    @abstractmethod
    def location(self, path: str) -> str:
        """The absolute location (path or URI) of a relative path."""

    @abstractmethod
    def relative(self, location: str) -> str:
        """The inverse of ``location``; raises ``PathOutsideRoot`` for foreign locations."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether the root itself is reachable and present."""

    def open_input(self, path: str) -> BinaryIO:
        fs, _ = self.filesystem()
        return fs.open_input_file(self.resolve(path))  # type: ignore[no-any-return]

    def open_output(self, path: str) -> BinaryIO:
        fs, _ = self.filesystem()
        target = self.resolve(path)
        fs.create_dir(posixpath.dirname(target), recursive=True)
        return fs.open_output_stream(target)  # type: ignore[no-any-return]

    def resolve(self, path: str) -> str:
        """The path on ``filesystem()`` that opening ``path`` reaches; raises
        ``PathOutsideRoot`` if that is outside the root. Lexical here: object stores have
        no links (``LocalStorage`` resolves them)."""
        _, base = self.filesystem()
        return join(base, check_relative(path))

    def contains(self, location: str) -> bool:
        try:
            self.relative(location)
        except (InvalidInput, PathOutsideRoot):
            return False
        return True


def check_relative(path: str) -> str:
    """A relative path with no empty, '.' or '..' components (after normalisation)."""
    if path in ("", "."):
        return ""
    norm = posixpath.normpath(path.replace("\\", "/"))
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        raise PathOutsideRoot(f"path {path!r} leaves the storage root")
    return "" if norm == "." else norm


def join(base: str, rel: str) -> str:
    return f"{base.rstrip('/')}/{rel}" if rel else base


def open_storage(uri: str, options: dict[str, Any] | None = None) -> Storage:
    """The storage for a domain's root URI (a local path, ``file://`` or ``s3://``)."""
    options = options or {}
    if uri.startswith("s3://"):
        from lakemesh.storage.s3 import S3Storage

        return S3Storage(uri, endpoint=options.get("endpoint"), region=options.get("region"))
    if "://" in uri and not uri.startswith("file://"):
        raise InvalidInput(f"unsupported storage URI {uri!r}: use a local path or s3://")
    from lakemesh.storage.local import LocalStorage

    return LocalStorage(uri.removeprefix("file://"))
