"""One bad file never stops a batch: undecodable names, absurd durations, deep trees, link loops, FIFOs and
oversized files each get a named reason (or are skipped), and every extract path finishes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicneurons.extract import NoteSeq, extract_sequence
from musicneurons.melody import events_to_midi, pitch_to_event

P = [int(x) for x in pitch_to_event([60, 62, 64, 65, 67])]
TUNE = np.array([P[0], 0, 0, 0, P[1], 0, 0, 0, P[2], 0, 0, 0, P[3], 0, 0, 0] * 2, np.int64)


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "musicneurons", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    events_to_midi(TUNE).write(str(root / "ok.mid"))
    odd = os.fsencode(root) + b"/bad\xff\xfe name.mid"  # not UTF-8
    with open(odd, "wb") as f:
        f.write((root / "ok.mid").read_bytes())
    deep = root
    for _ in range(1100):  # deeper than Python's recursion limit (made and removed without recursion)
        deep = deep / "d"
        os.mkdir(deep)
    events_to_midi(TUNE).write(str(deep / "deep.mid"))
    (root / "loop").symlink_to(root)  # a link loop
    os.mkfifo(root / "fifo.mid")  # would block a reader forever
    (root / "junk.mid").write_bytes(b"MThd garbage")
    yield root
    os.remove(deep / "deep.mid")
    while deep != root:
        os.rmdir(deep)
        deep = deep.parent


@pytest.mark.parametrize("extra", [[], ["--workers", "2"], ["--parts", "p"], ["--dask", "local", "--workers", "1"]],
                         ids=["plain", "workers", "parts", "dask"])
def test_every_extract_path_survives_a_hostile_folder(corpus, tmp_path, extra):
    if "--dask" in extra:
        pytest.importorskip("dask.distributed", reason="the dask extra is optional")
    r = _cli(["extract", corpus, "--bars", 2, "-o", tmp_path / "t.parquet", *extra], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    t = pd.read_parquet(tmp_path / "t.parquet")
    names = set(t["source"])
    assert any(n.endswith("ok.mid") for n in names) and any(n.endswith("deep.mid") for n in names)
    assert any("\\xff\\xfe name.mid" in n for n in names)  # the odd name, written safely
    rej = pd.read_csv(tmp_path / "t.rejections.csv")
    assert set(rej.loc[rej["source"].str.endswith("junk.mid"), "reason"]) == {"parse error"}
    assert not any("loop" in n for n in names)


def test_absurd_duration_is_rejected_before_allocating():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ns = NoteSeq.from_notes([(60, 0.0, 0.5), (62, 0.5, 1e9)], [(0, 4, 4)], [(0, 120.0)])
    r = extract_sequence(ns, 2, "huge")
    assert dict(r.reasons) == {"duration too long": 1} and len(r.windows) == 0


def test_oversized_file_the_fast_reader_declines_is_rejected(tmp_path, monkeypatch):
    from musicneurons import sources
    from musicneurons.extract import extract_file

    path = tmp_path / "big.mid"
    events_to_midi(TUNE).write(str(path))
    monkeypatch.setattr(sources, "scan_midi", lambda data: None)  # as for a file the exact scan declines
    monkeypatch.setattr(sources, "FALLBACK_MAX_BYTES", 10)
    r = extract_file(path, bars=2)
    assert dict(r.reasons) == {"file too large": 1} and "fast reader declined" in r.details["file too large"]


POOL = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from musicneurons.procs import die_with_parent
with ProcessPoolExecutor(2, initializer=die_with_parent) as pool:
    print(" ".join(str(p) for p in pool.map(os.getpid, range(2))) if False else "", flush=True)
    fut = [pool.submit(time.sleep, 600) for _ in range(2)]
    time.sleep(1.0)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(600)
"""


def test_pool_workers_die_with_a_killed_parent():
    import signal
    import time as _time

    p = subprocess.Popen([sys.executable, "-c", POOL], stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    workers = [int(x) for x in p.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = _time.time() + 10
    alive = workers
    while alive and _time.time() < deadline:
        _time.sleep(0.2)
        alive = [w for w in workers if os.path.exists(f"/proc/{w}") and
                 "zombie" not in open(f"/proc/{w}/status").read().lower()]
    assert not alive, f"workers {alive} outlived their parent"
