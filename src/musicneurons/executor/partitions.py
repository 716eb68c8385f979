"""The partition runner: manifests, ``part-N`` files, retries, ``failed.json``, and reading the parts back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..fileio import atomic_write

MANIFEST = "manifest.json"
FAILED = "failed.json"


class IncompleteOutput(RuntimeError):
    """An output folder with partitions that are missing or failed; the message names them."""


def part_name(pid: int) -> str:
    return f"part-{pid:05d}"


def _check_manifest(out_dir: Path, manifest: dict):
    """Write ``manifest.json`` or check that the folder holds a run with the same settings."""
    path = out_dir / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        if old != manifest:
            diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            raise ValueError(f"{out_dir}: holds partitions made with other settings ({', '.join(diff)} differ); "
                             f"use another output folder or delete this one")
        return
    atomic_write(path, lambda p: p.write_text(json.dumps(manifest, indent=1)))


def run_partitions(task: Callable, partitions: Sequence, out_dir, executor, retries: int = 2,
                   progress: bool = True, desc: str = "partitions", suffix: str = ".parquet") -> dict:
    """Run ``task((pid, items, out_dir))`` for every partition not done yet, retrying failures.

    ``task`` must write ``out_dir/part-{pid:05d}{suffix}`` last and atomically (that file marks the partition
    done) and return a small JSON-able summary. Partitions that still fail after ``retries`` retries are written
    to ``out_dir/failed.json`` (removed when a later run completes them).

    Returns
    -------
    dict
        ``n_partitions``, ``skipped`` (done before), ``ran`` (ids run now), ``retried`` (ids that needed a
        retry), ``failed`` ({id: last error}), ``summaries`` ({id: task summary} for the partitions run now).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pending = [pid for pid in range(len(partitions)) if not (out_dir / f"{part_name(pid)}{suffix}").exists()]
    skipped = len(partitions) - len(pending)
    summaries, errors, retried = {}, {}, set()
    bar = tqdm(total=len(pending), disable=not progress, desc=desc, unit="part")
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            retried.update(pending)
        items = [(pid, list(partitions[pid]), str(out_dir.resolve())) for pid in pending]
        failed_now = []
        for i, ok, value in executor.map(task, items):
            pid = pending[i]
            if ok:
                summaries[pid] = value
                errors.pop(pid, None)
                bar.update(1)
            else:
                errors[pid] = value
                failed_now.append(pid)
        pending = sorted(failed_now)
    bar.close()
    failed = {pid: errors[pid] for pid in pending}
    path = out_dir / FAILED
    if failed:
        record = [{"partition": pid, "file": f"{part_name(pid)}{suffix}", "attempts": retries + 1,
                   "error": failed[pid], "inputs": [_display(x) for x in partitions[pid]]}
                  for pid in sorted(failed)]
        atomic_write(path, lambda p: p.write_text(json.dumps(record, indent=1)))
    elif path.exists():
        path.unlink()
    return {"n_partitions": len(partitions), "skipped": skipped, "ran": sorted(summaries),
            "retried": sorted(retried), "failed": failed, "summaries": summaries}


def _parts(out_dir, allow_incomplete: bool, suffix: str = ".parquet") -> list[Path]:
    """The parts of a folder in partition order; raises :class:`IncompleteOutput` on a hole."""
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST).exists():
        raise FileNotFoundError(f"{out_dir}: not a partitioned output folder (no {MANIFEST})")
    n = json.loads((out_dir / MANIFEST).read_text())["n_partitions"]
    paths = [out_dir / f"{part_name(pid)}{suffix}" for pid in range(n)]
    missing = [p.name for p in paths if not p.exists()]
    if missing and not allow_incomplete:
        failed = out_dir / FAILED
        why = f"; errors in {failed}" if failed.exists() else "; run the same command again to finish them"
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise IncompleteOutput(f"{out_dir}: {len(missing)} of {n} partitions missing ({shown}){why}")
    return [p for p in paths if p.exists()]


def _digest(strings: Iterable[str]) -> str:
    h = hashlib.sha256()
    for s in strings:
        h.update(s.encode("utf-8", "surrogateescape"))  # file names that are not UTF-8 hash as their bytes
        h.update(b"\n")
    return h.hexdigest()[:16]


def split(items: Sequence, size: int) -> list[list]:
    """Consecutive partitions of ``size`` items (the last one shorter)."""
    if size < 1:
        raise ValueError(f"partition size must be >= 1, got {size}")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _row_ranges(n: int, size: int) -> list[tuple[int, int]]:
    if size < 1:
        raise ValueError(f"partition size must be >= 1, got {size}")
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def _display(path) -> str:
    from ..sources import display_path

    return display_path(path)
