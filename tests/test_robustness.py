"""One bad file never stops a batch: undecodable names, absurd durations, deep trees, link loops, FIFOs and
oversized files each get a named reason (or are skipped), and every extract path finishes."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from musicneurons.extract import NoteSeq, extract_sequence
from musicneurons.melody import events_to_midi, pitch_to_event
from musicneurons.noteseq import ExtractionError

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


# -- hostile scores: refused before music21 spends minutes on them (issue #17) ----------------------------

HEAD = "X:1\nT:t\nM:4/4\nL:1/4\nK:C\n"
BARS = "C D E F | G A B c | c B A G | F E D C |\n"
SCORE_XML = ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1"><part-list><score-part id="P1">'
             '<part-name>M</part-name></score-part></part-list><part id="P1"><measure number="1"><attributes>'
             '<divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>'
             + "".join(f"<note><pitch><step>{s}</step><octave>4</octave></pitch><duration>1</duration>"
                       f"<type>quarter</type></note>" for s in "CDEF") + "</measure></part></score-partwise>")
CONTAINER = ('<?xml version="1.0"?><container><rootfiles><rootfile full-path="score.xml"/></rootfiles>'
             '</container>')


@pytest.mark.parametrize("tune, says", [
    (HEAD + "C1000000000 D E F |\n" + BARS, "999999999/4"),  # music21: 54 s, then MemoryError
    (HEAD + "C1000 D E F |\n" + BARS, "999/4"),  # a minute
    ("X:1\nT:t\nM:4/4\nL:1/16\nK:C\nC1000 D E F |\n" + BARS, "987/16"),  # a 16th left over: 20 s
    (HEAD + "C256 D E F |\n" + BARS, "255/4"),  # one bar of 64: over the file's budget
    ("X:1\nT:t\nM:997/4\nL:1/4\nK:C\n" + BARS, "M:997/4"),  # built already while tokenizing: 80 s
    ("X:1\nT:t\nM:2+2+2/8\nL:1/8\nK:C\n" + BARS, "M:222/8"),  # music21 reads 2+2+2 as 222
], ids=["huge-note", "note-1000", "sixteenths", "note-256", "meter-997", "additive-meter"])
def test_abc_tunes_music21_would_take_minutes_on_are_a_parse_error(tmp_path, tune, says):
    import time

    from musicneurons.extract import extract_file

    path = tmp_path / "hostile.abc"
    path.write_text(tune)
    t0 = time.perf_counter()
    r = extract_file(path, bars=2)
    assert time.perf_counter() - t0 < 15
    assert dict(r.reasons) == {"parse error": 1} and says in r.details["parse error"], r.details


@pytest.mark.parametrize("tune, n", [
    (HEAD + BARS * 4, 64),
    (HEAD + "C64 D E F |\n" + BARS, 20),  # a long bar, but cheap
    ("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n" + "CDEF GABc " * 75 + "|\n", 600),  # no bar lines: music21 does not re-bar
    ("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nC1000000000 D E F |\n", 4),  # one bar: fast, then "duration too long"
    ("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nV:1\n" + "C2D2E2F2 | G8 |\n" + "V:2\n" + "E2F2G2A2 | B8 |\n", 10),
], ids=["plain", "long-bar", "barless", "one-huge-bar", "two-voices"])
def test_ordinary_abc_tunes_still_parse(tmp_path, tune, n):
    from musicneurons.sources import read_score

    path = tmp_path / "tune.abc"
    path.write_text(tune)
    assert read_score(path).pitch.size == n


def test_mxl_unpacking_past_the_size_limit_is_refused(tmp_path):
    import zipfile

    from musicneurons.sources import MAX_BYTES, read_score, read_source

    ok, bomb = tmp_path / "ok.mxl", tmp_path / "bomb.mxl"
    for path, score in ((ok, SCORE_XML), (bomb, SCORE_XML + " " * (2 * 2**20))):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("META-INF/container.xml", CONTAINER)
            z.writestr("score.xml", score)
    assert read_score(ok).pitch.size == 4
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ExtractionError, match="file too large.*unpack to 2097.* > 1000000"):
        read_source(bomb, max_bytes=10**6)
    assert read_source(bomb).pitch.size == 4  # under the default limit
    assert MAX_BYTES == 64 * 2**20


# -- melody tables and latents with bad keys --------------------------------------------------------------


def _table(path, **keys):
    ev = np.tile(TUNE, (3, 1))
    pd.DataFrame({"events": [e.tolist() for e in ev], **keys}).to_parquet(path)
    return path


@pytest.mark.parametrize("keys, says", [
    ({"window": ["x", "y", "z"]}, "'window' must hold integers"),
    ({"window": [0.5, 1.0, 2.0]}, "'window' must hold integers"),
    ({"qpm": ["fast", "slow", "x"]}, "'qpm' must hold numbers"),
    ({"qpm": [120.0, 0.0, 90.0]}, "row 1 holds 0.0"),
    ({"qpm": [120.0, 90.0, float("nan")]}, "row 2 holds nan"),
], ids=["window-text", "window-float", "qpm-text", "qpm-zero", "qpm-nan"])
def test_melody_table_with_bad_keys_is_one_line_naming_it(tmp_path, capsys, keys, says):
    from musicneurons.cli import main
    from musicneurons.tables import TableError, read_table

    path = _table(tmp_path / "mel.parquet", source=["a", "b", "c"], **keys)
    with pytest.raises(TableError, match=f"{path}: .*{says}"):
        read_table(path)
    assert main(["encode", str(path), "--model", "mn-mel_2bar", "-o", str(tmp_path / "lat")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and says in err
    ev, k = read_table(_table(tmp_path / "ok.parquet", window=[0.0, 1.0, 2.0], qpm=[120, 90, 60]))
    assert k["window"].dtype == np.int64 and k["qpm"].dtype == np.float64


@pytest.mark.parametrize("qpm, says", [
    ([120.0, 0.0, 90.0], "row 1 holds 0.0"), ([-60.0, 90.0, 90.0], "row 0 holds -60.0"),
    ([120.0, float("nan"), 90.0], "row 1 holds nan"), ([120.0, 90.0], "one value per window (3)"),
    (["a", "b", "c"], "'qpm' must hold numbers"),
], ids=["zero", "negative", "nan", "short", "text"])
def test_decode_of_latents_with_bad_tempos_is_one_line_naming_them(tmp_path, capsys, qpm, says):
    from musicneurons.cli import main

    path = tmp_path / "lat.npz"
    mu = np.zeros((3, 512), np.float32)
    np.savez(path, mu=mu, sigma=mu + 1, model=np.array("mn-mel_2bar"), source=np.array(["a", "b", "c"]),
             window=np.arange(3), qpm=np.array(qpm))
    assert main(["decode", str(path), "-o", str(tmp_path / "dec")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{path}: " in err and says in err, err
    assert not (tmp_path / "dec").exists()


# -- worker counts and odd file names ---------------------------------------------------------------------


def test_music21_feature_pool_is_capped_at_the_cpu_count(monkeypatch):
    import multiprocessing

    from musicneurons.features import music21_backend

    sizes = []

    class Pool:
        def __init__(self, n, initializer=None):
            sizes.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def imap(self, fn, jobs):
            return ((np.zeros((len(j[0]), 1)), []) for j in jobs)

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: type("Ctx", (), {"Pool": Pool}))
    monkeypatch.setattr(music21_backend.os, "cpu_count", lambda: 2)
    values, _ = music21_backend.extract_music21(np.tile(TUNE, (40, 1)), ["x"], [1], workers=1000, progress=False)
    assert sizes == [2] and values.shape == (40, 1)


@pytest.mark.parametrize("args, says", [
    (["extract", "a.mid", "-odd.mid", "-o", "out.parquet"], "-odd.mid: a file name starting with '-' is read as "
                                                            "options; put it after '--'"),
    (["encode", "-weird.parquet", "--model", "mn-mel_2bar", "-o", "x"], "if -weird.parquet is a file, put it after "
                                                                         "'--'"),
    (["extract", "--", "-odd.mid", "-o", "out.parquet"], "everything after '--' is read as a file name"),
], ids=["existing", "missing", "options-after-dashes"])
def test_file_names_starting_with_a_dash_get_a_hint(tmp_path, monkeypatch, capsys, args, says):
    from musicneurons.cli import main

    monkeypatch.chdir(tmp_path)
    events_to_midi(TUNE).write(str(tmp_path / "-odd.mid"))
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and says in err, err
    assert not (tmp_path / "dd.mid").exists() and not (tmp_path / "out.parquet").exists()
    assert main(["extract", "-o", "out.parquet", "--", "-odd.mid"]) == 0  # the way the hint says
