"""Files written so that nothing half-done is ever read: one atomic writer, content digests, a run lock.

- :func:`atomic_write` writes to a temp name unique to the process and call, then renames (removed on failure).
- :func:`content_digest` identifies a file (or a folder's files) by their bytes, not their size or mtime.
- :class:`FolderLock` holds an OS lock (``fcntl.flock``) on ``<folder>/.lock`` while a run writes to the folder;
  the OS releases it when the process dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` then rename to ``path``; the temp name is unique per process and call and never left behind.

    The temp keeps ``path``'s suffix (``x.npz`` -> ``x.<id>.tmp.npz``) so writers that add one (numpy) do not."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def content_digest(path, chunk: int = 1 << 20) -> str | None:
    """sha256 (first 16 hex digits) of a file's bytes, or of every file below a folder (names and bytes);
    None when the path does not exist."""
    p = Path(path)
    if not p.exists():
        return None
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(os.fsencode(f.relative_to(p) if p.is_dir() else f.name))
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()[:16]


class FolderLocked(RuntimeError):
    """Another process holds the folder's lock."""


class FolderLock:
    """An exclusive lock on a folder for as long as the object lives (or until :meth:`release`)."""

    def __init__(self, folder):
        self.path = Path(folder) / ".lock"
        self.fd = None

    def acquire(self) -> "FolderLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderLocked(f"{self.path.parent}: in use by pid {holder}; wait for it to finish "
                               f"(or use another folder)") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
