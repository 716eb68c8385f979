"""The run folder as a trustworthy record: cached outputs are reused only when they are verifiably the ones
recorded, partial encodes are never mixed across models, a second run into the same folder is refused, and a run
killed (SIGKILL) at random points resumes to the same results as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from musicneurons.model.checkpoint import save_model
from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE
from musicneurons.pipeline import Run, Settings, reproduce


def _model(folder, seed):
    torch.manual_seed(seed)
    save_model(MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=8)), folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return _model(d / "a", 0), _model(d / "b", 1)


def settings(ckpt, **kw):
    return Settings(n_melodies=120, keys=("2bar",), checkpoints={"2bar": str(ckpt), "16bar": None},
                    n_intervention_melodies=2, n_traversed=2, metrics=False, encode_chunk=50, **kw)


def _summary(run_dir):
    return json.loads((run_dir / "analysis" / "summary.json").read_text())["2bar"]


def _same(a, b):
    for key in ("n_music_neurons", "sigma_threshold", "music_neurons", "activation", "ablation", "n_real"):
        assert a[key] == b[key], key


@pytest.fixture(scope="module")
def reference(models, tmp_path_factory):
    d = tmp_path_factory.mktemp("ref") / "run"
    reproduce(d, settings(models[0]), log=lambda *_: None, report=False)
    return d


def test_model_change_after_an_interrupted_encode_gives_the_new_models_latents(models, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    calls = {"n": 0}
    original = MusicVAE.encode

    def dying(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(MusicVAE, "encode", dying)
    with pytest.raises(KeyboardInterrupt):
        reproduce(run_dir, settings(models[0]), log=lambda *_: None, report=False)
    monkeypatch.setattr(MusicVAE, "encode", original)
    assert list((run_dir / "latents" / "2bar_real.parts").glob("*/part-*.npz"))  # model a's first part is on disk
    reproduce(run_dir, settings(models[1]), log=lambda *_: None, report=False)  # now with model b
    fresh = tmp_path / "fresh"
    reproduce(fresh, settings(models[1]), log=lambda *_: None, report=False)
    for kind in ("real", "random"):
        a = np.load(run_dir / "latents" / f"2bar_{kind}.npz")["mu"]
        b = np.load(fresh / "latents" / f"2bar_{kind}.npz")["mu"]
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage", ["truncate_latents", "replace_melodies", "garbage_record", "delete_output"])
def test_damaged_cache_is_detected_and_recomputed(reference, models, tmp_path, damage):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    if damage == "truncate_latents":
        p = run_dir / "latents" / "2bar_real.npz"
        p.write_bytes(p.read_bytes()[:1000])
    elif damage == "replace_melodies":
        p = run_dir / "data" / "melodies_2bar.parquet"
        pd.read_parquet(p).head(100).to_parquet(p, index=False)
    elif damage == "garbage_record":
        (run_dir / "stages" / "encode_2bar_real.json").write_text("{not json")
    else:
        (run_dir / "features" / "2bar_real.parquet").unlink()
    log = []
    reproduce(run_dir, settings(models[0]), log=log.append, report=False)
    ran = [m.split()[-1] for m in log if "[run]" in m]
    assert ran, log
    if damage == "garbage_record":
        assert any("unreadable stage record" in m for m in log)
    if damage in ("truncate_latents", "replace_melodies"):
        assert any("output changed or missing" in m for m in log)
    _same(_summary(run_dir), _summary(reference))
    assert _summary(run_dir)["n_real"] == _summary(run_dir)["n_random"] == 120
    # and now everything is cached
    log = []
    reproduce(run_dir, settings(models[0]), log=log.append, report=False)
    assert not [m for m in log if "[run]" in m]


def test_a_second_run_into_the_same_folder_is_refused(models, tmp_path):
    run = Run(tmp_path / "run", settings(models[0]))
    try:
        # another process is refused, with the holder's pid (this process may re-enter: the lock is per process)
        code = f"from musicneurons.fileio import FolderLock; FolderLock({str(tmp_path / 'run')!r}).acquire()"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and f"in use by pid {os.getpid()}" in r.stderr
        r = subprocess.run([sys.executable, "-m", "musicneurons", "reproduce", "--models", "2bar",
                            "--checkpoint-2bar", str(models[0]), "--model-2bar", "x", "-o", str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "in use by pid" in r.stderr and "Traceback" not in r.stderr
    finally:
        run.close()
    reproduce(tmp_path / "run", settings(models[0]), log=lambda *_: None, report=False)  # released: it runs


def test_read_only_finished_run_can_be_reported_elsewhere(reference, tmp_path):
    import shutil

    run_dir = tmp_path / "ro"
    shutil.copytree(reference, run_dir)
    from musicneurons.pipeline import Run  # the report needs the run's summary.json
    r = Run(run_dir, settings("x"), lock=False)
    r.summary()
    for p in [run_dir, *run_dir.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    try:
        cmd = [sys.executable, "-m", "musicneurons", "report", str(run_dir)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if os.geteuid() != 0:  # root writes anywhere
            assert r.returncode == 2 and "-o" in r.stderr
        r = subprocess.run(cmd + ["-o", str(tmp_path / "out.html")], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")
    finally:
        for p in [run_dir, *run_dir.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)


SCRIPT = """
import sys, json
from musicneurons.pipeline import Settings, reproduce
s = Settings(n_melodies=120, keys=("2bar",), checkpoints={"2bar": sys.argv[2], "16bar": None},
             n_intervention_melodies=2, n_traversed=2, metrics=False, encode_chunk=20)
reproduce(sys.argv[1], s, log=lambda m: print(m, flush=True), report=False)
"""


def test_sigkill_at_random_points_then_resume_gives_identical_results(reference, models, tmp_path):
    run_dir = tmp_path / "run"
    rng = np.random.default_rng(20261202)
    kills = 0
    # kill points follow the run's own progress, not the clock (a faster run must still be killed mid-stage):
    # a random short delay after the n-th stage this attempt starts
    for n_th, delay in zip(rng.integers(1, 4, size=3), rng.uniform(0.0, 0.5, size=3)):
        p = subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), str(models[0])],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        started = 0
        for line in p.stdout:
            started += "[run]" in line
            if started >= n_th:
                break
        time.sleep(delay)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.stdout.close()
        p.wait()
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), str(models[0])], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert kills >= 1
    _same(_summary(run_dir), _summary(reference))
    for kind in ("real", "random"):
        np.testing.assert_array_equal(np.load(run_dir / "latents" / f"2bar_{kind}.npz")["mu"],
                                      np.load(reference / "latents" / f"2bar_{kind}.npz")["mu"])
    assert not list(run_dir.rglob("*.tmp*")), "temp files left behind"
