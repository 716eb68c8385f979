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


_HELD: dict[str, list] = {}  # lock path -> [fd, holders] of the locks this process holds


class FolderLock:
    """An exclusive lock on a folder against other processes (or until :meth:`release`). Re-entrant within a
    process: a library user may hold a ``Run`` on a folder and call ``reproduce`` on it too."""

    def __init__(self, folder):
        self.path = Path(folder) / ".lock"
        self.fd = None

    def acquire(self) -> "FolderLock":
        key = str(self.path.resolve())
        if key in _HELD:
            _HELD[key][1] += 1
            self.fd = _HELD[key][0]
            return self
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
        _HELD[key] = [fd, 1]
        return self

    def release(self):
        if self.fd is None:
            return
        key = str(self.path.resolve())
        held = _HELD.get(key)
        self.fd = None
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            fcntl.flock(held[0], fcntl.LOCK_UN)
            os.close(held[0])

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
