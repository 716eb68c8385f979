"""Where melodies come from: the built-in corpus, folders of files, and sampling N files x k windows.

The **built-in corpus** is the monophonic folk music that ships inside music21's corpus (no download): the
ABC collections (Essen, O'Neill's 1850, Ryan's Mammoth, Aird's Airs, Nottingham, misc. folk) restricted to
tunes with 4-quarter bars (4/4, C, C|, 2/2 -- the only meters Magenta's converter keeps), repeats expanded as
a performance (or a MIDI rendering) would play them; plus, as a separate collection, the voice lines of the
Bach chorales in 4/4 (each voice a melody), which add 16-bar material. Parsing takes a few minutes, so the
parsed notes ship with the package (``musicneurons/data/*.parquet``, 1.8 MB, made by :func:`build_builtin`);
a rebuild is cached in ``$MUSICNEURONS_CACHE`` or ``~/.cache/musicneurons``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .extract import ExtractResult, NoteSeq, extract_sequence
from .procs import die_with_parent

#: columns of a melody table (:func:`sample_windows`, the executor's extract partitions) and of a rejections table
MELODY_COLUMNS = ["source", "window", "events", "instrument", "program", "piece", "first_bar", "piece_offset_s", "qpm"]
REJECTION_COLUMNS = ["source", "reason", "detail", "count"]

CORPUS_VERSION = 1
FOUR_QUARTER_METERS = {"4/4", "C", "C|", "2/2", "8/8"}
COLLECTIONS = ("abc", "bach")
SHIPPED_DIR = Path(__file__).resolve().parent / "data"  # the parsed corpus, shipped (built by build_builtin)


def cache_dir() -> Path:
    d = Path(os.environ.get("MUSICNEURONS_CACHE", Path.home() / ".cache" / "musicneurons"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _abc_tunes():
    """(tune_id, abc_text) for every ABC tune in music21's corpus whose meter gives 4-quarter bars."""
    from music21 import corpus

    for path in sorted(corpus.corpora.CoreCorpus().getPaths(fileExtensions=["abc"])):
        text = Path(path).read_text(encoding="latin-1")
        parts = re.split(r"\n(?=X:)", text)
        header = parts[0] if not parts[0].startswith("X:") else ""
        rel = Path(path).relative_to(Path(corpus.__file__).parent)
        for tune in parts:
            if not tune.startswith("X:"):
                continue
            meters = {m.strip() for m in re.findall(r"^M:\s*([^\s%]+)", tune, flags=re.M)}
            if meters & FOUR_QUARTER_METERS:
                number = re.match(r"X:\s*(\d+)", tune)
                tid = f"{rel.as_posix()}#{number.group(1) if number else '?'}"
                yield tid, (header if "L:" in header else "") + "\n" + tune


def _parse_abc(item):
    from music21 import converter

    from .sources import score_to_noteseq

    tid, text = item
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parseData(text, format="abc")
            if hasattr(score, "scores"):
                score = list(score.scores)[0]
            return tid, score_to_noteseq(score)
    except Exception as e:  # a tune music21 cannot read is recorded, not fatal
        return tid, f"{type(e).__name__}: {e}"[:200]


def _bach_paths():
    from music21 import corpus

    return [str(p) for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".musicxml"))]


def _parse_bach(path):
    from music21 import corpus

    from .sources import parse_score_file, score_to_noteseq

    rel = Path(path).relative_to(Path(corpus.__file__).parent).as_posix()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rel, score_to_noteseq(parse_score_file(path))
    except Exception as e:
        return rel, f"{type(e).__name__}: {e}"[:200]


def _to_frame(collection, results):
    rows, tss, errors = [], [], []
    for tid, ns in results:
        if isinstance(ns, str):
            errors.append({"collection": collection, "source": tid, "error": ns})
            continue
        for i in range(ns.pitch.size):
            rows.append((collection, tid, int(ns.instrument[i]), int(ns.pitch[i]), float(ns.start[i]), float(ns.end[i])))
        for t, n, d in ns.time_signatures:
            tss.append((collection, tid, float(t), int(n), int(d)))
    notes = pd.DataFrame(rows, columns=["collection", "source", "instrument", "pitch", "start", "end"])
    meters = pd.DataFrame(tss, columns=["collection", "source", "time", "numerator", "denominator"])
    return notes, meters, pd.DataFrame(errors, columns=["collection", "source", "error"])


def build_builtin(workers: int | None = None, progress: bool = True) -> Path:
    """Parse the built-in corpus (a few minutes) and cache it; returns the cache folder."""
    from tqdm import tqdm

    out = cache_dir() / f"builtin-v{CORPUS_VERSION}"
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or min(4, os.cpu_count() or 1)
    frames = []
    for name, items, fn in (("abc", list(_abc_tunes()), _parse_abc), ("bach", _bach_paths(), _parse_bach)):
        with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
            results = list(tqdm(pool.map(fn, items, chunksize=8), total=len(items), disable=not progress,
                                desc=f"parsing built-in corpus ({name})", unit="tune"))
        frames.append(_to_frame(name, results))
    for i, fname in enumerate(("notes", "meters", "errors")):
        pd.concat([f[i] for f in frames], ignore_index=True).to_parquet(out / f"{fname}.parquet.tmp", index=False)
    for fname in ("notes", "meters", "errors"):
        os.replace(out / f"{fname}.parquet.tmp", out / f"{fname}.parquet")
    return out


def builtin_sequences(collections=COLLECTIONS, progress: bool = True) -> dict[str, NoteSeq]:
    """The built-in corpus as {source id: NoteSeq}, parsing and caching it on first use."""
    folder = SHIPPED_DIR if (SHIPPED_DIR / "meters.parquet").exists() else cache_dir() / f"builtin-v{CORPUS_VERSION}"
    if not (folder / "meters.parquet").exists():
        build_builtin(progress=progress)
    notes = pd.read_parquet(folder / "notes.parquet")
    meters = pd.read_parquet(folder / "meters.parquet")
    notes = notes[notes["collection"].isin(collections)]

    def groups(frame):
        """(source, row slice) per source in sorted order, rows in their table order (as a pandas groupby)."""
        keys = frame["source"].to_numpy()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if keys.size else np.zeros(0, int)
        ends = np.r_[starts[1:], keys.size]
        return order, [(sorted_keys[a], slice(a, b)) for a, b in zip(starts, ends)]

    m_order, m_groups = groups(meters)
    m_cols = [meters[c].to_numpy()[m_order].tolist() for c in ("time", "numerator", "denominator")]  # Python scalars
    meters_by = {k: list(zip(*(c[sl] for c in m_cols))) for k, sl in m_groups}
    order, note_groups = groups(notes)
    pitch, start, end, inst = (notes[c].to_numpy(t)[order] for c, t in (
        ("pitch", np.int64), ("start", np.float64), ("end", np.float64), ("instrument", np.int64)))
    out = {}
    for source, sl in note_groups:
        n = sl.stop - sl.start
        out[f"builtin:{source}"] = NoteSeq(
            pitch[sl], start[sl], end[sl], np.full(n, 90, np.int64), np.zeros(n, np.int64), inst[sl],
            np.zeros(n, bool), meters_by.get(source, []), [(0.0, 120.0)],
        )
    return out


def sample_windows(results: list[ExtractResult], per_file: int | None = None, n_files: int | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """The melody table: N sources at random (seeded) x up to k windows each (None = all).

    Columns: ``source``, ``window`` (index within its source), ``events`` (list of ints), and provenance
    (``instrument``, ``program``, ``piece``, ``first_bar``, ``qpm``).
    """
    rng = np.random.default_rng(seed)
    usable = [r for r in results if len(r.windows)]
    if n_files is not None and n_files < len(usable):
        pick = np.sort(rng.choice(len(usable), size=n_files, replace=False))
        usable = [usable[i] for i in pick]
    rows = []
    for r in usable:
        idx = np.arange(len(r.windows))
        if per_file is not None and per_file < idx.size:
            idx = np.sort(rng.choice(idx.size, size=per_file, replace=False))
        for i in idx:
            rows.append({"source": r.source, "window": int(i), "events": r.windows[i].tolist(), **r.info[i]})
    return pd.DataFrame(rows, columns=MELODY_COLUMNS)


@lru_cache(maxsize=4)
def _extract_builtin_once(bars: int, collections: tuple, progress: bool) -> tuple:
    results = []
    for src, ns in builtin_sequences(collections, progress=progress).items():
        r = extract_sequence(ns, bars, src)
        r.windows.setflags(write=False)  # shared by every caller in this process
        results.append(r)
    return tuple(results)


def extract_builtin(bars: int, collections=COLLECTIONS, progress: bool = True) -> list[ExtractResult]:
    """Windows of every built-in source.

    The built-in corpus is fixed data, so its extraction runs once per process and ``bars`` (about 2 s); each call
    gets its own results (the window arrays shared and read-only, ``info``, ``reasons`` and ``details`` copied).
    """
    return [replace(r, info=[dict(i) for i in r.info], reasons=Counter(r.reasons), details=dict(r.details))
            for r in _extract_builtin_once(int(bars), tuple(collections), bool(progress))]


def extract_sources(sources, bars: int, workers: int = 1, progress: bool = False) -> list[ExtractResult]:
    """An :class:`ExtractResult` per file of ``sources`` (files, folders, or ``"builtin"``), in order.

    Raises ``FileNotFoundError`` (naming the path) for a missing path or a folder without music files; a bad
    file never raises -- its result carries the reason. ``workers > 1`` reads files in that many processes.
    """
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from tqdm import tqdm

    from .extract import extract_file
    from .sources import find_files

    results, files = [], []
    for src in sources:
        if str(src) == "builtin":
            results.extend(extract_builtin(bars, progress=progress))
        else:
            files.extend(find_files(src))
    fn = partial(extract_file, bars=bars)
    workers = max(1, min(int(workers), os.cpu_count() or 1))
    if workers > 1 and len(files) > 1:
        with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
            it = pool.map(fn, files, chunksize=max(1, min(64, len(files) // (workers * 8) or 1)))
            results.extend(tqdm(it, total=len(files), disable=not progress, desc="extract", unit="file"))
    else:
        results.extend(fn(f) for f in tqdm(files, disable=not progress, desc="extract", unit="file"))
    return results


def rejections_table(results: list[ExtractResult]) -> pd.DataFrame:
    """One row per (source, reason): ``source``, ``reason``, ``detail``, ``count``."""
    rows = [{"source": r.source, "reason": reason, "detail": r.details.get(reason, ""), "count": n}
            for r in results for reason, n in r.reasons.items()]
    return pd.DataFrame(rows, columns=REJECTION_COLUMNS)


def write_rejections(results: list[ExtractResult], path) -> Path:
    """:func:`rejections_table` as CSV at ``path`` (written atomically)."""
    from .fileio import atomic_write

    table = rejections_table(results)
    return atomic_write(Path(path), lambda tmp: table.to_csv(tmp, index=False))


def training_windows(corpus, bars: int, workers: int = 1, progress: bool = False):
    """Every window of ``corpus`` (Magenta's multiset): ``(windows (N, T) int64, sources (N,) str, results)``.

    Raises ``ValueError`` when the corpus gives no window of ``bars`` bars.
    """
    results = extract_sources([corpus], bars, workers, progress)
    wins = [r.windows for r in results if len(r.windows)]
    if not wins:
        raise ValueError(f"{corpus}: no {bars}-bar windows to train on")
    sources = np.concatenate([[r.source] * len(r.windows) for r in results if len(r.windows)])
    return np.concatenate(wins), sources, results
