"""Bad input at the command line (issue #17): each case found by an adversarial campaign against the CLI gets one
clear line naming the file and the reason, exit 2, no traceback, no hang -- and a finished run folder that is
read-only is reported elsewhere but never rerun or re-analysed in place."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from musicneurons.cli import main


def _cli(args, cwd, timeout=60):
    """The command in a subprocess (a hang fails the test instead of blocking it): (rc, stderr)."""
    r = subprocess.run([sys.executable, "-m", "musicneurons", *[os.fsencode(a) if isinstance(a, bytes) else str(a)
                                                                  for a in args]],
                       cwd=cwd, capture_output=True, timeout=timeout)
    return r.returncode, r.stderr.decode(errors="replace")


def _one_line(rc, err):
    lines = err.strip().splitlines()
    assert rc == 2 and "Traceback" not in err and len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]


def _run_in(capsys, args):
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def _digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


# -- decode of latents with no rows -------------------------------------------------------------------------


def test_decode_of_latents_with_no_rows_is_one_line_and_writes_nothing(tiny_checkpoint, tmp_path, capsys):
    """As encode of a melody table with no rows: an empty extraction upstream, not '0 MIDI files' and exit 0."""
    np.savez(tmp_path / "lat.npz", mu=np.zeros((0, 64), np.float32), checkpoint=np.array(str(tiny_checkpoint)))
    rc, err = _run_in(capsys, ["decode", tmp_path / "lat.npz", "-o", tmp_path / "dec"])
    line = _one_line(rc, err)
    assert "lat.npz: no latents to decode ('mu' has 0 rows" in line
    assert not (tmp_path / "dec").exists()


# -- a read-only finished run ---------------------------------------------------------------------------------


@pytest.fixture
def read_only_run(copy_run):
    from musicneurons.pipeline import Run, Settings
    from musicneurons.run_folder import RunFolder

    s = Settings.from_dict(RunFolder(copy_run).read_settings())
    Run(copy_run, s, lock=False).summary()  # the report reads the run's summary.json
    for p in [copy_run, *copy_run.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    yield copy_run
    for p in [copy_run, *copy_run.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


def test_read_only_run_is_reported_elsewhere_but_not_rerun_in_place(read_only_run, tiny_checkpoint, tmp_path,
                                                                    capsys):
    before = _digests(read_only_run)
    # -o an existing folder, a new folder (trailing slash), a file in folders still to make
    (tmp_path / "out").mkdir()
    for out, written in ((tmp_path / "out", tmp_path / "out" / "index.html"),
                         (f"{tmp_path / 'new'}/", tmp_path / "new" / "index.html"),
                         (tmp_path / "a" / "b" / "r.html", tmp_path / "a" / "b" / "r.html")):
        rc, err = _run_in(capsys, ["report", read_only_run, "-o", out])
        assert rc == 0, err
        assert written.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # chmod a-w is read-only to root too: one line, before any work
    for args in (["analyze", read_only_run], ["analyze", read_only_run, "--force"],
                 ["reproduce", "-o", read_only_run, "--models", "2bar", "--checkpoint-2bar", tiny_checkpoint],
                 ["report", read_only_run]):
        rc, err = _run_in(capsys, args)
        line = _one_line(rc, err)
        assert str(read_only_run) in line and ("read-only" in line or "not writable" in line), line
        assert "-o" in line
    assert _digests(read_only_run) == before


def test_reproduce_into_a_new_folder_under_a_read_only_one_is_refused(read_only_run, tiny_checkpoint, capsys):
    rc, err = _run_in(capsys, ["reproduce", "-o", read_only_run / "again", "--models", "2bar",
                               "--checkpoint-2bar", tiny_checkpoint])
    assert f"{read_only_run}: read-only" in _one_line(rc, err)
    assert not (read_only_run / "again").exists()


# -- FIFOs, folders and odd names where files are expected ---------------------------------------------------


@pytest.mark.parametrize("args, says", [
    (["encode", "fifo", "--checkpoint", "CK", "-o", "lat"], "fifo: not a regular file (a FIFO or device)"),
    (["decode", "fifo", "--checkpoint", "CK", "-o", "dec"], "fifo: not a regular file (a FIFO or device)"),
    (["extract", "fifo", "-o", "mel.parquet"], "fifo: not a regular file or folder (a FIFO or device)"),
    (["encode", "dir", "--checkpoint", "CK", "-o", "lat"], "dir: not a regular file (a folder)"),
    (["decode", "dir", "--checkpoint", "CK", "-o", "dec"], "dir: not a regular file (a folder)"),
    (["extract", "loop.mid", "-o", "mel.parquet"], "loop.mid: no such file or folder (a broken or looping symbolic"),
    (["report", "RUN", "-o", "fifo"], "fifo: not a regular file; give -o a file name"),
    (["report", "RUN", "-o", "afile/r.html"], "afile: not a folder"),
    (["extract", "builtin", "-o", "afile/mel.parquet"], "afile: a file, not a folder"),
    (["extract", "builtin", "-o", b"\xff.parquet"], "\\udcff.parquet: a file name that is not valid UTF-8"),
    (["extract", "", "-o", "mel.parquet"], "argument sources: an empty path"),
    (["extract", "builtin", "-o", ""], "argument -o/--output: an empty path"),
    (["analyze", ""], "argument run_dir: an empty path"),
    (["decode", "lat.npz", "--checkpoint", "", "-o", "dec"], "argument --checkpoint: an empty path"),
], ids=["encode-fifo", "decode-fifo", "extract-fifo", "encode-dir", "decode-dir", "extract-symlink-loop",
        "report-to-fifo", "report-under-file", "mkdir-under-file", "non-utf8-output", "empty-source", "empty-output",
        "empty-run", "empty-checkpoint"])
def test_odd_paths_are_one_line_naming_them(args, says, tiny_run, tiny_checkpoint, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "afile").write_text("x")
    os.symlink("loop.mid", tmp_path / "loop.mid")
    subst = {"CK": str(tiny_checkpoint), "RUN": str(tiny_run)}
    rc, err = _cli([subst.get(a, a) if isinstance(a, str) else a for a in args], tmp_path)
    assert says in _one_line(rc, err)
    assert not any((tmp_path / x).exists() for x in ("lat.npz", "dec", "mel.parquet"))


def test_extract_of_a_folder_holding_a_non_utf8_file_name_is_one_rejection(tmp_path, capsys):
    """A batch never dies on one file: the odd name is read (and rejected for being empty) like any other."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / os.fsdecode(b"\xff\xfe tune.mid")).write_bytes(b"")
    rc = main(["extract", str(tmp_path / "in"), "-o", str(tmp_path / "mel.parquet")])
    out = capsys.readouterr().out
    assert rc == 0 and "empty file" in out
    assert len(pd.read_csv(tmp_path / "mel.rejections.csv")) == 1


def test_npz_whose_mu_is_not_npy_is_one_line(tiny_checkpoint, tmp_path, capsys):
    import zipfile

    with zipfile.ZipFile(tmp_path / "lat.npz", "w") as z:  # numpy returns a non-.npy member's raw bytes
        z.writestr("mu.npy", b"garbage")
    rc, err = _run_in(capsys, ["decode", tmp_path / "lat.npz", "--checkpoint", tiny_checkpoint, "-o", tmp_path / "d"])
    assert "lat.npz: 'mu' is not a .npy array inside the .npz (got bytes)" in _one_line(rc, err)


@pytest.mark.parametrize("command", ["decode", "sample"])
def test_a_temperature_so_small_it_overflows_is_one_line(command, tiny_checkpoint, tmp_path, capsys):
    """1e-320 passes 'finite and >= 0' but logits / 1e-320 is inf: the softmax NaNs and torch raised."""
    np.savez(tmp_path / "lat.npz", mu=np.zeros((2, 64), np.float32))
    args = ["decode", tmp_path / "lat.npz"] if command == "decode" else ["sample", "--n", 2]
    rc, err = _run_in(capsys, [*args, "--checkpoint", tiny_checkpoint, "--temperature", "1e-320",
                               "-o", tmp_path / "out"])
    assert "temperature must be 0 (greedy) or at least 1e-06" in _one_line(rc, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make, says", [
    (lambda p: p.mkdir(), "a folder, not a MIDI/score file"),
    (lambda p: os.mkfifo(p), "not a regular file (a FIFO or device)"),
    (lambda p: os.symlink(p.name, p), "no such file (a broken or looping symbolic link)"),
    (lambda p: None, "no such file"),
], ids=["folder", "fifo", "symlink-loop", "missing"])
def test_interpolate_of_a_path_that_is_no_file_says_what_it_is(make, says, tiny_checkpoint, tmp_path, capsys):
    make(tmp_path / "a.mid")
    rc, err = _run_in(capsys, ["interpolate", tmp_path / "a.mid", tmp_path / "a.mid", "--checkpoint", tiny_checkpoint,
                               "-o", tmp_path / "i"])
    assert f"a.mid: {says}" in _one_line(rc, err)


def test_sharded_extract_starts_at_most_one_local_process_per_cpu(tmp_path, monkeypatch, capsys):
    import musicneurons.executor as executor

    asked = []
    real = executor.make_executor

    def spy(workers, *rest):
        asked.append(workers)
        return real(1, *rest)

    monkeypatch.setattr(executor, "make_executor", spy)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mid").write_bytes(b"")
    rc = main(["extract", str(tmp_path / "in"), "--workers", "100000", "--parts", str(tmp_path / "parts"),
               "-o", str(tmp_path / "mel.parquet")])
    assert rc == 0, capsys.readouterr().err
    assert asked == [min(100000, os.cpu_count() or 1)]


@pytest.mark.parametrize("target, says", [
    ("run", "run: a folder holding other files (not a model folder)"),
    ("fifo", "fifo: not a folder (a FIFO or device)"),
    ("afile", "afile: a file, not a folder"),
])
def test_convert_never_writes_into_a_folder_of_other_files_nor_onto_a_non_folder(target, says, tiny_checkpoint,
                                                                                 tmp_path, monkeypatch, capsys):
    import musicneurons.model.checkpoint as checkpoint

    model = checkpoint.load_model(None, checkpoint=tiny_checkpoint)
    monkeypatch.setattr(checkpoint, "load_model", lambda *a, **k: model)  # a "converted" checkpoint, fast
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "settings.json").write_text("{}")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "ckpt").mkdir()
    rc, err = _run_in(capsys, ["convert", tmp_path / "ckpt", "--config", "cat-mel_2bar_small", "-o", tmp_path / target])
    assert says in _one_line(rc, err)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["settings.json"]
    rc, err = _run_in(capsys, ["convert", tmp_path / "ckpt", "--config", "cat-mel_2bar_small", "-o", tmp_path / "m"])
    assert rc == 0, err  # a new folder, and again into the model folder it made
    rc, err = _run_in(capsys, ["convert", tmp_path / "ckpt", "--config", "cat-mel_2bar_small", "-o", tmp_path / "m"])
    assert rc == 0, err
