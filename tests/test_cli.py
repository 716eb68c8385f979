"""The command line as a user meets it: Magenta's verbs (sample, interpolate), models, --version, outputs that
carry their identity, and one clear line with exit 2 for every bad argument."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pretty_midi
import pytest
import torch

from musicneurons import __version__
from musicneurons.cli import main
from musicneurons.melody import events_to_midi, pitch_to_event
from musicneurons.model.checkpoint import save_model
from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE

P = [int(x) for x in pitch_to_event([60, 62, 64, 65, 67, 69])]
WINDOW = np.array([P[0], 0, 0, 0, P[1], 0, 1, 0, P[2], 0, 0, 0, 0, 0, 0, 0,
                   P[3], 0, 0, 0, P[4], 0, 0, 0, 1, 0, 0, 0, P[5], 0, 0, 0], np.int64)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    save_model(MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=8)), d / "m")
    torch.manual_seed(1)
    save_model(MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=8)), d / "m2")
    for k, shift in enumerate((0, 2, 4, 7)):
        events_to_midi(np.where(WINDOW >= 2, WINDOW + shift, WINDOW), qpm=96.0).write(str(d / f"tune {k}.mid"))
    return d


def run(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _read_back(path):
    pm = pretty_midi.PrettyMIDI(str(path))
    import music21

    s = music21.converter.parse(str(path), forceSource=True)
    return pm, s


def test_version_and_python_m():
    r = subprocess.run([sys.executable, "-m", "musicneurons", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"musicneurons {__version__}"


def test_models_lists_shipped_and_magenta(capsys):
    rc, out, _ = run(["models"], capsys)
    assert rc == 0
    for name in ("mn-mel_2bar", "mn-mel_16bar", "cat-mel_2bar_big", "hierdec-mel_16bar", "hier-mel_16bar"):
        assert name in out
    assert "MB" in out and "M parameters" in out


def test_sample_writes_midi_read_back_by_pretty_midi_and_music21(work, capsys, tmp_path):
    rc, out, _ = run(["sample", "--checkpoint", work / "m", "--n", 3, "--temperature", 1.0, "--qpm", 100,
                      "-o", tmp_path / "s"], capsys)
    assert rc == 0, out
    files = sorted((tmp_path / "s").glob("sample_*.mid"))
    assert len(files) == 3
    pm, score = _read_back(files[0])
    assert abs(pm.get_tempo_changes()[1][0] - 100.0) < 1e-6 and score is not None
    table = pd.read_parquet(tmp_path / "s" / "samples.parquet")
    assert len(table) == 3 and len(table["events"][0]) == 32
    allpm, _ = _read_back(tmp_path / "s" / "samples_all.mid")
    assert allpm.get_end_time() > pm.get_end_time()


@pytest.mark.parametrize("n_inputs", [2, 4])
def test_interpolate_line_and_grid(work, capsys, tmp_path, n_inputs):
    inputs = [work / f"tune {k}.mid" for k in range(n_inputs)]
    rc, out, err = run(["interpolate", *inputs, "--checkpoint", work / "m", "--steps", 3, "-o", tmp_path / "i"],
                       capsys)
    assert rc == 0, err
    files = sorted((tmp_path / "i").glob("interp_*.mid"))
    assert len(files) == (3 if n_inputs == 2 else 9)
    _read_back(files[-1])
    _read_back(tmp_path / "i" / "interpolation_all.mid")
    t = pd.read_parquet(tmp_path / "i" / "interpolation.parquet")
    assert len(t) == len(files)


def test_encode_decode_carry_identity(work, capsys, tmp_path):
    assert run(["extract", work, "--bars", 2, "-o", tmp_path / "mel.parquet"], capsys)[0] == 0
    rc, out, _ = run(["encode", tmp_path / "mel.parquet", "--checkpoint", work / "m", "-o", tmp_path / "lat"], capsys)
    assert rc == 0 and str(tmp_path / "lat.npz") in out  # the path actually written
    with np.load(tmp_path / "lat.npz", allow_pickle=False) as f:
        assert {"mu", "sigma", "model", "model_fingerprint", "source", "window", "qpm"} <= set(f.files)
        sources = list(f["source"])
    assert sources[0].endswith("tune 0.mid")
    # latents of one model are refused by another
    rc, _, err = run(["decode", tmp_path / "lat.npz", "--checkpoint", work / "m2", "-o", tmp_path / "d2"], capsys)
    assert rc == 2 and "latents of model" in err and len(err.strip().splitlines()) == 1
    # the model is read from the latents; files named after source and window, at the source's tempo
    rc, _, err = run(["decode", tmp_path / "lat.npz", "-o", tmp_path / "d"], capsys)
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "d").glob("*.mid"))
    assert names[0] == "tune_0_w000.mid"
    assert abs(pretty_midi.PrettyMIDI(str(tmp_path / "d" / names[0])).get_tempo_changes()[1][0] - 96.0) < 1e-6
    dec = pd.read_parquet(tmp_path / "d" / "decoded.parquet")
    assert {"row", "source", "window", "qpm", "events"} <= set(dec.columns)
    rc, _, _ = run(["features", tmp_path / "mel.parquet", "-o", tmp_path / "f.parquet"], capsys)
    feats = pd.read_parquet(tmp_path / "f.parquet")
    assert rc == 0 and list(feats.columns[:2]) == ["source", "window"]


BAD = [
    ["sample", "--n", "-3", "-o", "x"],
    ["sample", "--n", "ten", "-o", "x"],
    ["sample", "--temperature", "-1", "-o", "x"],
    ["sample", "--temperature", "nan", "-o", "x"],
    ["sample", "--temperature", "inf", "-o", "x"],
    ["interpolate", "a.mid", "b.mid", "--steps", "1", "-o", "x"],
    ["reproduce", "--sigma-threshold", "5"],
    ["reproduce", "--sigma-threshold", "nan"],
    ["reproduce", "--sigma-threshold", "0"],
    ["reproduce", "--n-melodies", "-1"],
    ["reproduce", "--n-intervention-melodies", "0"],
    ["reproduce", "--activation-threshold", "-0.1"],
    ["reproduce", "--device", "cuda:7"],
    ["reproduce", "--device", "tpu"],
    ["extract", "builtin", "--files", "0", "-o", "x.parquet"],
    ["extract", "builtin", "--per-file", "-2", "-o", "x.parquet"],
    ["random", "--n", "-5", "-o", "x.parquet"],
    ["decode", "missing.npz", "--model", "mn-mel_2bar", "-o", "x"],
    ["decode", "missing.npz", "--model", "mn-mel_2bar", "--temperature", "-2", "-o", "x"],
    ["encode", "missing.parquet", "--model", "mn-mel_2bar", "--device", "cuda", "-o", "x"],
    ["encode", "missing.parquet", "--model", "mn-mel_2bar", "--batch-size", "0", "-o", "x"],
    ["train", "--config", "mn-mel_2bar", "--steps", "0", "-o", "x"],
    ["train", "--config", "no-such-config", "-o", "x"],
    ["convert", "src/musicneurons/weights/mn-mel_2bar", "--config", "cat-mel_2bar_big", "-o", "x"],
    ["reproduce", "--models", "2bar", "--model-2bar", "nope", "-o", "x"],
    ["reproduce", "--models", "2bar", "--checkpoint-2bar", "no/such/folder", "-o", "x"],
    ["sample", "--model", "mn-mel_2bar", "--n", "1", "-o", "tests/test_cli.py"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_arguments_give_one_line_and_exit_2(args, tmp_path, monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    args = [str(root / a) if a.startswith(("src/", "tests/")) else a for a in args]
    monkeypatch.chdir(tmp_path)
    r = subprocess.run([sys.executable, "-m", "musicneurons", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.parquet").exists()
