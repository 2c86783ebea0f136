"""Local-disk storage: objects as files under a root, written whole or not at all."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from heirloom.domain.errors import StorageUnavailable
from heirloom.services.storage.base import (
    DEFAULT_CHUNK_SIZE,
    StorageObjectMissing,
    check_chunk_size,
    check_key,
    check_prefix,
)

# Errors meaning "nothing stored at this path": absent, or a directory where a file was expected.
_LOCAL_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _written_beside(path: Path, data: bytes) -> str:
    """`data` fully written and fsynced to a temp file in `path`'s folder; returns its name.

    Dot-prefixed temp names can never collide with a key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _copied_beside(path: Path, source: BinaryIO) -> str:
    """`source` copied in chunks and fsynced to a temp file in `path`'s folder; its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(source, f, DEFAULT_CHUNK_SIZE)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


class LocalStorage:
    """Objects as files under `root`; writes go to a temp file and are renamed into place.

    `content_type` is not kept. A key cannot be both an object and the parent of another
    (`a/b` and `a/b/c`), which job keys never need.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self._replace(key, lambda path: _written_beside(path, data))

    def put_file(self, key: str, source: BinaryIO, *, content_type: str) -> None:
        self._replace(key, lambda path: _copied_beside(path, source))

    def _replace(self, key: str, write_beside: Callable[[Path], str]) -> None:
        """Write the object to a temporary file beside its path, then rename it over the path:
        a reader sees the old object or the whole new one, never a part."""
        path = self._path(key)
        try:
            tmp = write_beside(path)
            try:
                os.replace(tmp, path)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageUnavailable() from exc

    def create(self, key: str, data: bytes, *, content_type: str) -> bool:
        path = self._path(key)
        try:
            tmp = _written_beside(path, data)
            try:
                # link(2) fails if the name exists, atomically: the local If-None-Match.
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
        except OSError as exc:
            raise StorageUnavailable() from exc
        return True

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except _LOCAL_MISSING as exc:
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable() from exc

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except StorageObjectMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except _LOCAL_MISSING:
            pass
        except OSError as exc:
            raise StorageUnavailable() from exc

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        directory, _, name_start = prefix.rpartition("/")
        parent = self.root / directory
        try:
            with os.scandir(parent) as it:
                entries = [e for e in it if e.name.startswith(name_start)]
        except _LOCAL_MISSING:
            return 0
        except OSError as exc:
            raise StorageUnavailable() from exc
        try:
            count = sum(self._delete_entry(entry) for entry in entries)
        except OSError as exc:
            raise StorageUnavailable() from exc
        if not name_start and parent != self.root:
            with suppress(OSError):
                parent.rmdir()
        return count

    @staticmethod
    def _delete_entry(entry: os.DirEntry[str]) -> int:
        """Delete the objects at or under one directory entry, pruning emptied directories."""
        if entry.name.startswith("."):
            return 0
        if not entry.is_dir(follow_symlinks=False):
            with suppress(FileNotFoundError):
                os.unlink(entry.path)
                return 1
            return 0
        count = 0
        for dirpath, dirnames, filenames in os.walk(entry.path, topdown=False):
            for filename in filenames:
                if filename.startswith("."):
                    continue  # another writer's temp file, not an object
                with suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, filename))
                    count += 1
            for dirname in dirnames:
                with suppress(OSError):
                    os.rmdir(os.path.join(dirpath, dirname))
        with suppress(OSError):
            os.rmdir(entry.path)
        return count

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            st = path.stat()
        except _LOCAL_MISSING as exc:
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable() from exc
        if not stat.S_ISREG(st.st_mode):
            raise StorageObjectMissing(key)
        return st.st_size

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        check_chunk_size(chunk_size)
        path = self._path(key)
        try:
            f = path.open("rb")
        except _LOCAL_MISSING as exc:
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable() from exc
        return _read_file_chunks(f, chunk_size)


def _read_file_chunks(f: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with f:
        while True:
            try:
                chunk = f.read(chunk_size)
            except OSError as exc:
                raise StorageUnavailable() from exc
            if not chunk:
                return
            yield chunk
