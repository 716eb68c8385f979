"""Benchmark melody extraction: files/s and windows/s, ours next to Magenta's converter, outputs compared.

Corpus: the extraction test fixtures (``tests/fixtures/extract/midi``) plus ``--n-files`` generated, realistic
multi-track files (4-10 instruments: drums, bass, chords, lead and more; 500-3000 notes; some humanized,
some with tempo or meter changes), written to a temporary folder from a fixed seed.

Ours: :func:`musicneurons.extract.extract_file` per file, for 2 and 16 bars, in this process (read + extract).
Magenta: ``tests/fixtures/extract/make_fixtures.py oracle`` run by the oracle Python (a venv with Magenta
2.1.4, note-seq, TensorFlow), whose path is ``$MAGENTA_ORACLE_PYTHON`` (default
``/work/oracle/venv/bin/python`` when it exists) and Magenta's source on ``$MAGENTA_ORACLE_PYTHONPATH``
(default ``/work/oracle/magenta_src`` when it exists). Its time is note-seq's MIDI read + the converter, without
the TensorFlow import. Without an oracle only our numbers are reported.

Usage::

    python benchmarks/bench_extract.py [--n-files 300] [--seed 0] [--out benchmarks/results/extract.json]

Prints a table and writes the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "extract"
ORACLE_SCRIPT = FIXTURES / "make_fixtures.py"
BARS = (2, 16)


# ---------------------------------------------------------------------------------------------------------
# realistic multi-track MIDI, written byte by byte (fast, no dependency)


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def _track(abs_events) -> bytes:
    """(tick, order, message bytes) -> MTrk chunk."""
    body, now = [], 0
    for tick, _, msg in sorted(abs_events, key=lambda e: (e[0], e[1])):
        body.append(_vlq(tick - now) + msg)
        now = tick
    data = b"".join(body) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(data)) + data


def _tempo(qpm: float) -> bytes:
    return b"\xff\x51\x03" + int(60_000_000 / qpm).to_bytes(3, "big")


def _ts(num: int, den_pow: int) -> bytes:
    return b"\xff\x58\x04" + bytes([num, den_pow, 24, 8])


def realistic_midi(rng) -> tuple[bytes, int]:
    """One multi-track song; returns (SMF bytes, number of notes)."""
    tpq = int(rng.choice([96, 220, 384, 480, 480, 960]))
    step = tpq / 4
    n_inst = int(rng.integers(4, 11))
    target = int(rng.integers(500, 3001))
    roles = ["drums", "bass", "chords", "lead"] + list(rng.choice(["lead", "chords", "line", "line"], n_inst - 4))
    density = {"drums": 14, "bass": 5, "chords": 9, "lead": 6, "line": 5}  # notes per bar
    n_bars = max(4, int(round(target / sum(density[r] for r in roles))))
    humanize = rng.random() < 0.3
    conductor = [(0, 0, _tempo(float(rng.integers(70, 171)))), (0, 0, _ts(4, 2))]
    if rng.random() < 0.2:
        conductor.append((int(16 * step * int(rng.integers(1, n_bars))), 0, _tempo(float(rng.integers(70, 171)))))
    if rng.random() < 0.15:
        bar = int(rng.integers(1, n_bars))
        conductor += [(int(16 * step * bar), 0, _ts(3, 2)), (int(16 * step * (bar + 2)), 0, _ts(4, 2))]
    tracks, n_notes = [_track(conductor)], 0
    for k, role in enumerate(roles):
        ch = 9 if role == "drums" else (k if k < 9 else k + 1) % 16
        ev = []
        if role != "drums":
            program = {"bass": rng.integers(32, 40), "chords": rng.choice([0, 4, 16, 24, 48, 88]),
                       "lead": rng.choice([0, 11, 25, 56, 65, 73, 80, 81]), "line": rng.integers(0, 96)}[role]
            ev.append((0, 1, bytes([0xC0 | ch, int(program)])))
        notes = []  # (pitch, start_step, end_step)
        if role == "drums":
            for s in range(0, 16 * n_bars, 2):
                notes.append((42, s, s + 1))
                if s % 8 == 0:
                    notes.append((36 if s % 16 == 0 else 38, s, s + 1))
        elif role == "bass":
            root = int(rng.integers(36, 48))
            for s in range(0, 16 * n_bars, 4):
                if rng.random() < 0.85:
                    notes.append((root + int(rng.choice([0, 0, 7, 5, 12, 3])), s, s + int(rng.choice([2, 3, 4]))))
        elif role == "chords":
            for s in range(0, 16 * n_bars, 8):
                root = int(rng.integers(52, 66))
                for iv in (0, 4, 7) if rng.random() < 0.6 else (0, 3, 7):
                    notes.append((root + iv, s, s + int(rng.choice([4, 6, 8]))))
        else:
            s, p = int(rng.integers(0, 8)), int(rng.integers(60, 80))
            while s < 16 * n_bars:
                d = int(rng.choice([1, 2, 2, 3, 4, 4, 6, 8]))
                if rng.random() < 0.15:
                    s += int(rng.choice([2, 4, 8, 12, 20]))
                    continue
                p = int(np.clip(p + rng.choice([-4, -2, -1, 0, 1, 2, 3, 5]), 48, 96))
                notes.append((p, s, s + d + (int(rng.integers(0, 2)) if role == "line" else 0)))
                s += d
        for p, a, b in notes:
            on, off = a * step, b * step
            if humanize:
                on += rng.normal(0, step / 6)
                off += rng.normal(0, step / 6)
            on = max(0, int(round(on)))
            off = max(on + 1, int(round(off)))
            vel = int(rng.integers(40, 121))
            ev += [(on, 2, bytes([0x90 | ch, p, vel])), (off, 0, bytes([0x80 | ch, p, 0]))]
        n_notes += len(notes)
        tracks.append(_track(ev))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), tpq)
    return header + b"".join(tracks), n_notes


def build_corpus(folder: Path, n_files: int, seed: int) -> tuple[list[Path], int]:
    rng = np.random.default_rng(seed)
    paths, n_notes = sorted((FIXTURES / "midi").rglob("*.mid")), 0
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        data, n = realistic_midi(rng)
        path = folder / f"song_{i:04d}.mid"
        path.write_bytes(data)
        paths.append(path)
        n_notes += n
    return paths, n_notes


# ---------------------------------------------------------------------------------------------------------


def run_ours(paths) -> tuple[dict, dict]:
    from musicneurons.extract import extract_file

    t0 = time.perf_counter()
    extract_file(paths[0], bars=2)  # numba: load (or, the first time ever, compile) the byte scan
    seconds = {"warm_up": time.perf_counter() - t0}
    windows = {str(b): {} for b in BARS}
    for b in BARS:
        t0 = time.perf_counter()
        results = [extract_file(p, bars=b) for p in paths]
        seconds[str(b)] = time.perf_counter() - t0
        for p, res in zip(paths, results):
            windows[str(b)][str(p)] = {tuple(int(e) for e in w) for w in np.asarray(res.windows)}
    return windows, seconds


def oracle_command() -> tuple[list[str], dict] | None:
    py = os.environ.get("MAGENTA_ORACLE_PYTHON") or (
        "/work/oracle/venv/bin/python" if Path("/work/oracle/venv/bin/python").exists() else None)
    if not py or not Path(py).exists():
        return None
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    src = os.environ.get("MAGENTA_ORACLE_PYTHONPATH") or (
        "/work/oracle/magenta_src" if Path("/work/oracle/magenta_src").exists() else "")
    if src:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return [py, str(ORACLE_SCRIPT), "oracle"], env


def run_magenta(paths, tmp: Path):
    cmd = oracle_command()
    if cmd is None:
        return None, None, "no oracle python (set MAGENTA_ORACLE_PYTHON)"
    argv, env = cmd
    list_file = tmp / "oracle.json"
    # pass folders rather than 400 paths: the fixture folder and the generated folder
    folders = sorted({str(Path(p).parent) for p in paths})
    proc = subprocess.run(argv + folders + ["--json", str(list_file)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, None, f"oracle failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '?'}"
    out = json.loads(list_file.read_text())
    windows = {str(b): {} for b in BARS}
    for path, entry in out["files"].items():
        for b in BARS:
            windows[str(b)][path] = {tuple(w) for w in entry.get(str(b), [])}
    t = out["timing"]
    seconds = {str(b): t["read_s"] + t["convert_s"][str(b)] for b in BARS}
    return windows, seconds, None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-files", type=int, default=300, help="generated multi-track files (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "extract.json")
    ap.add_argument("--no-oracle", action="store_true", help="skip Magenta even when available")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        paths, n_notes = build_corpus(tmp / "generated", args.n_files, args.seed)
        gen_s = time.perf_counter() - t0
        ours_w, ours_s = run_ours(paths)
        from musicneurons.midi_reader import scan_midi

        midi = [p for p in paths if p.suffix.lower() in (".mid", ".midi", ".kar")]
        fast = sum(scan_midi(p.read_bytes()) is not None for p in midi)
        if args.no_oracle:
            mag_w, mag_s, why = None, None, "--no-oracle"
        else:
            mag_w, mag_s, why = run_magenta(paths, tmp)

    n = len(paths)
    result = {
        "n_files": n, "n_fixture_files": n - args.n_files, "n_generated_files": args.n_files,
        "generated_notes": n_notes, "seed": args.seed, "generation_s": round(gen_s, 3),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "ours": {}, "magenta": {} if mag_w is not None else None, "magenta_skipped": why,
        "identical": None, "mismatches": [],
        "ours_warm_up_s": round(ours_s["warm_up"], 3),
        "ours_fast_reader_share": None,
    }
    result["ours_fast_reader_share"] = f"{fast}/{len(midi)}"
    rows = []
    for b in map(str, BARS):
        nw = sum(len(v) for v in ours_w[b].values())
        result["ours"][b] = {"seconds": round(ours_s[b], 3), "files_per_s": round(n / ours_s[b], 1),
                             "windows": nw, "windows_per_s": round(nw / ours_s[b], 1)}
        rows.append((f"ours {b} bars", ours_s[b], n / ours_s[b], nw, nw / ours_s[b]))
        if mag_w is not None:
            mw = sum(len(v) for v in mag_w[b].values())
            result["magenta"][b] = {"seconds": round(mag_s[b], 3), "files_per_s": round(n / mag_s[b], 1),
                                    "windows": mw, "windows_per_s": round(mw / mag_s[b], 1)}
            rows.append((f"magenta {b} bars", mag_s[b], n / mag_s[b], mw, mw / mag_s[b]))
            for p in map(str, paths):
                a, m = ours_w[b].get(p, set()), mag_w[b].get(p, set())
                if a != m:
                    result["mismatches"].append({"file": Path(p).name, "bars": int(b), "ours": len(a),
                                                 "magenta": len(m), "missing": len(m - a), "extra": len(a - m)})
    if mag_w is not None:
        result["identical"] = not result["mismatches"]
        for b in map(str, BARS):
            result[f"speedup_{b}bars"] = round(mag_s[b] / ours_s[b], 2)

    print(f"{n} files ({n - args.n_files} fixtures + {args.n_files} generated, {n_notes} generated notes)")
    print(f"{'':18s} {'seconds':>9s} {'files/s':>9s} {'windows':>9s} {'windows/s':>10s}")
    for name, s, fps, nw, wps in rows:
        print(f"{name:18s} {s:9.2f} {fps:9.1f} {nw:9d} {wps:10.1f}")
    print(f"ours: {fast}/{len(midi)} MIDI files read by the fast scan (the rest by pretty_midi); "
          f"one-time numba load {ours_s['warm_up']:.2f} s not counted")
    if mag_w is None:
        print(f"Magenta not run: {why}")
    else:
        print(f"speed-up vs Magenta: 2 bars x{result['speedup_2bars']}, 16 bars x{result['speedup_16bars']}")
        print(f"outputs identical to Magenta: {result['identical']} ({len(result['mismatches'])} file/bars differ)")
        for mm in result["mismatches"][:10]:
            print(f"  differs: {mm}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if result["identical"] in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
