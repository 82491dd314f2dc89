"""A storage root on the local filesystem."""

from __future__ import annotations

import os
import stat

import pyarrow.fs as pafs

from lakemesh.errors import InvalidInput, PathOutsideRoot
from lakemesh.storage import Entry, Storage, check_relative


class LocalStorage(Storage):
    def __init__(self, root: str) -> None:
        if not root:
            raise InvalidInput("storage root must not be empty")
        #: Resolved once: every containment check compares against real paths.
        self.root = os.path.realpath(os.path.abspath(os.path.expanduser(root)))
        self.uri = self.root
        self._prefix = os.path.join(self.root, "")  #: the root with one trailing separator
        self._fs = pafs.LocalFileSystem()
        self._parents: dict[str, str] = {}

    def exists(self) -> bool:
        return os.path.isdir(self.root)

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        return self._fs, self.root

    def location(self, path: str) -> str:
        rel = check_relative(path)
        return os.path.join(self.root, *rel.split("/")) if rel else self.root

    def relative(self, location: str) -> str:
        path = location.removeprefix("file://")
        if not os.path.isabs(path):
            # Resolving it would make the answer depend on the working directory.
            raise PathOutsideRoot(f"location {location!r} is not an absolute path")
        real = self._realpath(path)
        if real == self.root:
            return ""
        if os.path.commonpath([self.root, real]) != self.root:
            raise PathOutsideRoot(f"location {location!r} is outside the storage root")
        return os.path.relpath(real, self.root).replace(os.sep, "/")

    def _realpath(self, path: str) -> str:
        """``os.path.realpath``, resolving each directory once per storage object (a
        sync checks thousands of sibling partition folders, a crawl opens 100k files):
        a directory costs one ``lstat`` on top of its parent's, the leaf one more.

        Links are resolved before any '..' is applied, as the kernel does when it opens
        the path: lexical normalisation first would let ``link/../x`` pass as inside.
        """
        parent, name = os.path.split(path)
        if name in ("", ".", "..") or not parent:
            return os.path.realpath(path)
        full = os.path.join(self._real_dir(parent), name)
        return os.path.realpath(full) if os.path.islink(full) else full

    def _real_dir(self, path: str) -> str:
        real = self._parents.get(path)
        if real is None:
            real = self._parents[path] = self._realpath(path)
        return real

    def resolve(self, path: str) -> str:
        """The real path ``path`` reaches, links resolved; refused if it leaves the root.

        Every open goes through here (a crawl opens 100k files), so it costs one
        ``lstat`` of the leaf: its folder is resolved once per storage object, as in
        ``relative``, and the rest is string work."""
        rel = check_relative(path)
        if not rel:
            return self.root
        parent, _, name = f"{self.root}/{rel}".rpartition("/")
        real_parent = self._parents.get(parent)
        if real_parent is None:
            real_parent = self._real_dir(parent)
        real = f"{real_parent}/{name}"
        if os.path.islink(real):
            real = os.path.realpath(real)
        if real != self.root and not real.startswith(self._prefix):
            raise PathOutsideRoot(f"path {path!r} leads outside the storage root")
        return real

    def scan(self, path: str = "") -> list[Entry]:
        rel = check_relative(path)
        base = self.resolve(rel)
        out: list[Entry] = []
        with os.scandir(base) as it:
            for de in it:
                child = f"{rel}/{de.name}" if rel else de.name
                if de.is_symlink():
                    out.append(self._link_entry(de, child))
                    continue
                st = de.stat(follow_symlinks=False)
                out.append(
                    Entry(de.name, child, stat.S_ISDIR(st.st_mode), st.st_size, st.st_mtime_ns)
                )
        return out

    def _link_entry(self, de: os.DirEntry[str], child: str) -> Entry:
        """A link is followed only when its target stays inside the root."""
        target = os.path.realpath(de.path)
        inside = os.path.commonpath([self.root, target]) == self.root and target != self.root
        if not inside or not os.path.exists(target):
            return Entry(de.name, child, False, 0, 0, escapes=True)
        st = os.stat(target)
        return Entry(de.name, child, stat.S_ISDIR(st.st_mode), st.st_size, st.st_mtime_ns)
