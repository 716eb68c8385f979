"""Benchmark melody extraction: files/s and windows/s, ours next to Magenta's converter, outputs compared.

Corpus: the extraction test fixtures (``tests/fixtures/extract/midi``) plus ``--n-files`` generated, realistic
multi-track files (:func:`musicneurons.testing.realistic_midi`: 4-10 instruments: drums, bass, chords, lead and
more; 500-3000 notes; some humanized, some with tempo or meter changes), written to a temporary folder from a
fixed seed.

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musicneurons.testing import write_realistic_corpus

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "extract"
ORACLE_SCRIPT = FIXTURES / "make_fixtures.py"
BARS = (2, 16)


def build_corpus(folder: Path, n_files: int, seed: int) -> tuple[list[Path], int]:
    """The fixture files, then ``n_files`` generated songs in ``folder``; returns (paths, generated notes)."""
    generated, n_notes = write_realistic_corpus(folder, n_files, seed)
    return sorted((FIXTURES / "midi").rglob("*.mid")) + generated, n_notes


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
