"""The PyTorch MusicVAE against Magenta's own graph (fixtures made by tests/fixtures/magenta_models/make_fixtures.py)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musicneurons.model.checkpoint import CheckpointMismatch, load_model, magenta_from_state_dict, state_dict_from_magenta
from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE

FIX = Path(__file__).parent / "fixtures" / "magenta_models"
CONFIGS = json.loads((FIX / "configs.json").read_text())["models"]


def fixture_config(name):
    c = CONFIGS[name]
    return get_config(name).with_(z_size=c["z_size"], enc_rnn_size=tuple(c["enc_rnn_size"]),
                                  dec_rnn_size=tuple(c["dec_rnn_size"]))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def oracle(request):
    name = request.param
    cfg = fixture_config(name)
    expected = dict(np.load(FIX / name / "expected_outputs.npz", allow_pickle=False))
    return name, cfg, expected


def test_tf_checkpoint_mu_sigma_logits_and_greedy_decode(oracle):
    name, cfg, e = oracle
    model = load_model(checkpoint=FIX / name, config=cfg)
    _, mu, sigma = model.encode(e["events"])
    assert np.abs(mu - e["mu"]).max() <= 1e-4
    assert np.abs(sigma - e["sigma"]).max() <= 1e-4
    assert np.abs(mu - e["tm_mu"]).max() <= 1e-4  # Magenta's TrainedModel gives the same
    logits = model.teacher_forced_logits(e["mu"], e["events"])
    assert np.abs(logits - e["logits_tf"]).max() <= 1e-4
    greedy_tf = model.teacher_forced_logits(e["mu"], e["greedy_events"])
    assert np.abs(greedy_tf - e["logits_greedy"]).max() <= 1e-4
    np.testing.assert_array_equal(model.decode(e["mu"], temperature=0.0), e["greedy_events"])
    np.testing.assert_array_equal(e["tm_greedy_events"], e["greedy_events"])


@pytest.mark.parametrize("variant,tol_mu", [("js_float32", 1e-4), ("js_uint16", 5e-3)])
def test_magenta_js_folder(variant, tol_mu):
    name = "cat-mel_2bar_small"
    folder = FIX / name / variant
    cfg = fixture_config(name)
    e = dict(np.load(FIX / name / "expected_outputs.npz", allow_pickle=False))
    model = load_model(checkpoint=folder, config=cfg)
    _, mu, _ = model.encode(e["events"])
    assert np.abs(mu - e["mu"]).max() <= tol_mu
    if variant == "js_float32":
        np.testing.assert_array_equal(model.decode(e["mu"]), e["greedy_events"])


def test_uint8_js_is_close_but_lossy():
    name = "cat-mel_2bar_small"
    cfg = fixture_config(name)
    e = dict(np.load(FIX / name / "expected_outputs.npz", allow_pickle=False))
    _, mu, _ = load_model(checkpoint=FIX / name / "js_uint8", config=cfg).encode(e["events"])
    err = np.abs(mu - e["mu"]).max()
    assert 1e-4 < err < 1.0  # quantization noise is real but bounded


def test_name_table_round_trip():
    cfg = fixture_config("hierdec-mel_16bar")
    model = MusicVAE(cfg)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    back = state_dict_from_magenta(magenta_from_state_dict(sd, cfg), cfg)
    for k in sd:
        if "bias_hh" in k:
            continue  # Magenta has one LSTM bias: compare bias_ih + bias_hh
        want = sd[k] + sd[k.replace("bias_ih", "bias_hh")] if "bias_ih" in k else sd[k]
        got = back[k] + back[k.replace("bias_ih", "bias_hh")] if "bias_ih" in k else back[k]
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6, err_msg=k)


def test_config_that_does_not_fit_names_variable_and_shapes():
    cfg = fixture_config("cat-mel_2bar_small").with_(z_size=32)
    with pytest.raises(CheckpointMismatch) as err:
        load_model(checkpoint=FIX / "cat-mel_2bar_small", config=cfg)
    msg = str(err.value)
    assert "encoder/mu/kernel" in msg and "[128, 16]" in msg and "[128, 32]" in msg


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "musicneurons.cli", *args], capture_output=True, text=True)


def test_convert_cli_and_bad_checkpoints(tmp_path):
    src = FIX / "cat-mel_2bar_small"
    # the full-size config does not fit the reduced fixture: one clear line, no traceback
    r = run_cli("convert", str(src), "--config", "cat-mel_2bar_small", "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "encoder/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel" in r.stderr
    # a truncated data shard
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    data = bad / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    r = run_cli("convert", str(bad), "--config", "cat-mel_2bar_small", "-o", str(tmp_path / "out2"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "bad" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # a missing shard of a magenta.js folder
    js = tmp_path / "js"
    shutil.copytree(src / "js_float32", js)
    next(js.glob("group1-shard2of*")).unlink()
    r = run_cli("convert", str(js), "--config", "cat-mel_2bar_small", "-o", str(tmp_path / "out3"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "shard" in r.stderr.lower()
