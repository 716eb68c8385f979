"""Robustness of extraction on >= 1,000 generated bad and random MIDI files, through the CLI and in-process.

Every file must be accounted for: at least one window in the output table, or a row in the rejections CSV;
the CLI exits 0 without a traceback; ``extract_file`` never raises and agrees with the table. Files are
generated in ``tmp_path`` from a fixed seed with :mod:`musicneurons.testing`'s MIDI writer (no mido, to also
write what mido refuses to write).
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicneurons.extract import extract_file
from musicneurons.testing import absolute_track, smf, tempo, time_signature, track

SEED = 20260124
N_STEPS = 32


# ---------------------------------------------------------------------------------------------------------
# the files


def random_track(rng, n_notes: int, tpq: int, huge: bool = False, channel=None) -> bytes:
    """A track of random notes (overlaps, chords, drums, any pitch/velocity), tempo/TS/program events."""
    abs_events = []
    t = 0
    for _ in range(n_notes):
        t += int(rng.choice([0, 0, tpq // 4 or 1, tpq // 2 or 1, tpq, int(rng.integers(0, 2 * tpq + 1))]))
        ch = int(rng.integers(0, 16)) if channel is None else channel
        pitch = int(rng.integers(0, 128)) if rng.random() < 0.2 else int(rng.integers(48, 90))
        vel = int(rng.choice([0, 1, 64, 100, 127])) if rng.random() < 0.2 else int(rng.integers(30, 120))
        dur = int(rng.choice([0, 1, tpq // 4 or 1, tpq, 3 * tpq, int(rng.integers(0, 8 * tpq + 1))]))
        if huge and rng.random() < 0.1:
            dur = int(rng.choice([2**20, 2**22, 2**24 - 1, 0x0FFFFFFF]))
        abs_events.append((t, 1, bytes([0x90 | ch, pitch, vel])))
        abs_events.append((t + dur, 0, bytes([0x80 | ch, pitch, 0])))
        if rng.random() < 0.05:
            abs_events.append((t, 0, tempo(float(rng.choice([30, 60, 90, 120, 133.3, 200, 400])))))
        if rng.random() < 0.04:
            num, den_pow = int(rng.choice([2, 3, 4, 5, 6, 7, 12])), int(rng.choice([1, 2, 3]))
            abs_events.append((t, 0, time_signature(num, den_pow)))
        if rng.random() < 0.04:
            abs_events.append((t, 0, bytes([0xC0 | ch, int(rng.integers(0, 128))])))
    if huge:
        t_last = max((e[0] for e in abs_events), default=0)
        abs_events.append((t_last + int(rng.choice([2**21, 2**25, 0x0FFFFFFF])), 0, tempo(120)))
    return absolute_track(abs_events)


def valid_random(rng, huge: bool = False) -> bytes:
    tpq = int(rng.choice([1, 24, 96, 120, 384, 480, 960, 32767]))
    n_tracks = int(rng.integers(1, 5))
    conductor = track([(0, tempo(float(rng.choice([60, 100, 120, 150])))), (0, time_signature(4, 2))])
    tracks = [conductor] + [random_track(rng, int(rng.integers(0, 120)), tpq, huge=huge) for _ in range(n_tracks)]
    return smf(tracks, fmt=1, division=tpq)


def melodic(rng) -> bytes:
    """A clean 4/4 melody on channel 0: these should give windows (guards against a too-lenient test)."""
    tpq = 480
    events = [(0, tempo(120)), (0, time_signature(4, 2))]
    for _ in range(int(rng.integers(40, 80))):
        dur = int(rng.choice([1, 2, 4])) * tpq // 4
        p = int(rng.integers(55, 80))
        events += [(0, bytes([0x90, p, 90])), (dur, bytes([0x80, p, 0]))]
    return smf([track(events)], fmt=0, division=tpq)


def header_only(rng, i: int) -> bytes:
    variants = [
        b"MThd",
        b"MThd" + struct.pack(">I", 6),
        smf([], fmt=1, n_tracks=0),
        smf([], fmt=1, n_tracks=int(rng.integers(1, 20))),
        smf([b"MTrk" + struct.pack(">I", 0)], fmt=0),
        smf([b"MTrk" + struct.pack(">I", 1000)], fmt=1),
        smf([track([])], fmt=2),
        smf([track([(0, tempo(120))])], fmt=1, division=0),
        smf([track([(0, bytes([0x90, 60, 90])), (480, bytes([0x80, 60, 0]))])], fmt=1, division=0xE728),  # SMPTE
        b"MThd" + struct.pack(">IHHH", 6, 7, 1, 480),
        b"RIFF" + bytes(20),
        b"MThd" + struct.pack(">I", 0xFFFFFFF0) + bytes(10),
    ]
    return variants[i % len(variants)]


def make_corpus(root: Path, seed: int = SEED) -> dict[str, str]:
    """Write the fuzz files into ``root``; returns ``{file name: kind}``."""
    rng = np.random.default_rng(seed)
    kinds = {}

    def put(kind: str, data: bytes):
        name = f"{kind}_{len(kinds):04d}.mid"
        (root / name).write_bytes(data)
        kinds[name] = kind

    for _ in range(220):
        put("valid", valid_random(rng))
    for _ in range(60):
        put("melodic", melodic(rng))
    for _ in range(180):
        n = int(rng.choice([0, 1, 3, 14, 50, 500, 3000]))
        head = b"MThd\x00\x00\x00\x06" if rng.random() < 0.5 else b""
        put("random", head + rng.integers(0, 256, size=n, dtype=np.uint8).tobytes())
    for _ in range(180):
        src = valid_random(rng) if rng.random() < 0.7 else melodic(rng)
        put("truncated", src[: int(rng.integers(0, len(src)))])
    for _ in range(160):
        src = bytearray(valid_random(rng) if rng.random() < 0.5 else melodic(rng))
        for _ in range(int(rng.integers(1, 12))):
            src[int(rng.integers(0, len(src)))] = int(rng.integers(0, 256))
        put("bitflip", bytes(src))
    for i in range(96):
        put("header", header_only(rng, i))
    for _ in range(110):
        put("huge", valid_random(rng, huge=True))
    return kinds


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_midi")
    kinds = make_corpus(root)
    assert len(kinds) >= 1000
    return root, kinds


def _cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "musicneurons.cli", "extract", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def cli_run(corpus, tmp_path_factory):
    root, _ = corpus
    out = tmp_path_factory.mktemp("fuzz_out") / "out.parquet"
    proc = _cli(root, "--bars", "2", "-o", out)
    return proc, out


def test_cli_exits_cleanly(cli_run):
    proc, out = cli_run
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert out.is_file()
    assert out.with_name("out.rejections.csv").is_file()


def test_cli_accounts_for_every_file(cli_run, corpus):
    _, out = cli_run
    root, kinds = corpus
    table = pd.read_parquet(out)
    rej = pd.read_csv(out.with_name("out.rejections.csv"))
    assert {"source", "window", "events"} <= set(table.columns)
    assert {"source", "reason"} <= set(rej.columns)
    with_windows = {Path(s).name for s in table["source"]}
    rejected = {Path(s).name for s in rej["source"]}
    unaccounted = sorted(set(kinds) - with_windows - rejected)
    assert not unaccounted, f"{len(unaccounted)} files neither in the table nor rejected: {unaccounted[:10]}"
    assert not (with_windows | rejected) - set(kinds), "table names files that were not given"
    # the test must see both outcomes: clean melodies give windows, garbage is rejected
    melodic = {n for n, k in kinds.items() if k == "melodic"}
    assert melodic <= with_windows
    assert {n for n, k in kinds.items() if k == "random"} & rejected
    assert rej["reason"].notna().all() and (rej["reason"].astype(str).str.len() > 0).all()
    ev = np.array(table["events"].tolist())
    assert ev.ndim == 2 and ev.shape[1] == N_STEPS
    assert ev.min() >= 0 and ev.max() <= 89


@pytest.fixture(scope="module")
def in_process(corpus):
    """``{file name: (multiset of windows, reasons)}`` from :func:`extract_file`; checks it never raises."""
    root, kinds = corpus
    results = {}
    for name in sorted(kinds):
        res = extract_file(root / name, bars=2)
        win = np.asarray(res.windows)
        assert win.dtype == np.int64 and win.ndim == 2 and win.shape[1] == N_STEPS, (name, win.shape)
        results[name] = (Counter(tuple(int(e) for e in w) for w in win), Counter(res.reasons))
    return results


def test_rejections_csv_columns(cli_run):
    _, out = cli_run
    rej = pd.read_csv(out.with_name("out.rejections.csv"))
    assert list(rej.columns[:3]) == ["source", "reason", "detail"], list(rej.columns)


def test_extract_file_in_process_never_raises_and_explains(in_process, corpus):
    _, kinds = corpus
    reasons = Counter()
    for name, (got, why) in in_process.items():
        if not got:
            assert sum(why.values()) > 0, f"{name}: no window and no reason"
        assert all(0 <= e <= 89 for w in got for e in w)
        reasons.update(why)
    assert {n for n, k in kinds.items() if k == "melodic"} <= {n for n, (g, _) in in_process.items() if g}
    assert len(reasons) >= 3, f"expected several distinct rejection reasons, got {dict(reasons)}"


def test_cli_table_agrees_with_extract_file(cli_run, in_process):
    _, out = cli_run
    table = pd.read_parquet(out)
    by_file = {}
    for src, events in zip(table["source"], table["events"]):
        by_file.setdefault(Path(src).name, Counter())[tuple(int(e) for e in events)] += 1
    differ = [name for name, (got, _) in in_process.items() if got != by_file.get(name, Counter())]
    assert not differ, f"{len(differ)} files: CLI table windows differ from extract_file: {differ[:10]}"


def _one_error_line(proc, needle: str):
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Traceback" not in text, text
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got: {proc.stderr!r}"
    assert needle in lines[0], lines[0]


def test_cli_empty_folder_is_one_clear_error(tmp_path):
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    proc = _cli(empty, "--bars", "2", "-o", tmp_path / "out.parquet", timeout=120)
    _one_error_line(proc, "empty_folder")
    assert not (tmp_path / "out.parquet").exists()


def test_cli_missing_path_is_one_clear_error(tmp_path):
    proc = _cli(tmp_path / "no_such_dir", "--bars", "2", "-o", tmp_path / "out.parquet", timeout=120)
    _one_error_line(proc, "no_such_dir")
