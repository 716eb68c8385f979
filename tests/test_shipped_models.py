"""The models shipped in the package load by name, encode and decode, and have honest model cards."""

import json

import numpy as np
import pytest

from musicneurons.analysis.twinkle import twinkle_events
from musicneurons.model import load_model
from musicneurons.model.musicvae import bf16_supported
from musicneurons.model.checkpoint import SHIPPED, WEIGHTS_DIR


@pytest.mark.parametrize("name,bars", [("mn-mel_2bar", 2), ("mn-mel_16bar", 16)])
def test_shipped_model_encodes_and_decodes(name, bars):
    model = load_model(name)
    assert model.cfg.z_size == 512 and model.cfg.max_seq_len == bars * 16
    w = twinkle_events(bars)[None]
    z, mu, sigma = model.encode(np.repeat(w, 2, axis=0))
    assert mu.shape == (2, 512) and np.isfinite(mu).all() and (sigma > 0).all()
    np.testing.assert_array_equal(mu[0], mu[1])  # mu is deterministic
    out = model.decode(mu[:1])
    assert out.shape == (1, bars * 16) and out.min() >= 0 and out.max() < 90


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_model_card(name):
    card = json.loads((WEIGHTS_DIR / SHIPPED[name] / "card.json").read_text())
    for key in ("command", "seed", "step", "wall_time_s", "recon_accuracy", "kl_bits", "active_dims",
                "n_distinct_windows", "n_train_windows", "n_val_windows", "corpus"):
        assert key in card, key
    assert card["command"].startswith("musicneurons train --config " + name)
    assert 0.0 < card["recon_accuracy"] <= 1.0


def test_unknown_model_name_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown model"):
        load_model("no-such-model")


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16 (AVX512-BF16/AMX); "
                    "test_bf16_without_native_support_is_one_clear_error covers it")
def test_bf16_precision_is_close_to_fp32_and_fp32_is_default():
    from musicneurons.corpus import training_windows

    model = load_model("mn-mel_2bar")
    windows, _, _ = training_windows("builtin", 2)
    w = windows[np.random.default_rng(1).choice(len(windows), 80, replace=False)]
    _, mu32, s32 = model.encode(w)
    _, mu16, s16 = model.encode(w, precision="bf16")
    spread = mu32.std(0).max()
    assert not np.array_equal(mu32, mu16)  # bf16 really ran in lower precision
    assert np.abs(mu16 - mu32).max() < 0.02 * spread
    assert np.abs(s16 - s32).max() < 0.02
    np.testing.assert_array_equal(model.encode(w)[1], mu32)
    with pytest.raises(ValueError, match="precision"):
        model.encode(w, precision="fp8")


def test_bf16_without_native_support_is_one_clear_error(monkeypatch, tmp_path):
    import musicneurons.model.musicvae as mv
    from musicneurons.cli import main

    monkeypatch.setattr(mv, "bf16_supported", lambda device: False)
    model = load_model("mn-mel_2bar")
    w = np.zeros((2, 32), np.int64)
    with pytest.raises(ValueError, match="bfloat16.*use precision 'fp32'"):
        model.encode(w, precision="bf16")
    np.testing.assert_array_equal(model.encode(w)[1], model.encode(w, precision="fp32")[1])  # fp32 still works
    import pandas as pd

    pd.DataFrame({"events": [list(range(2, 34))]}).to_parquet(tmp_path / "m.parquet")
    assert main(["encode", str(tmp_path / "m.parquet"), "--model", "mn-mel_2bar", "--precision", "bf16",
                 "-o", str(tmp_path / "l.npz")]) == 2
    assert not (tmp_path / "l.npz").exists()


def test_encoding_does_not_depend_on_batching(monkeypatch):
    import musicneurons.model.musicvae as mv

    model = load_model("mn-mel_16bar")
    w = np.random.default_rng(0).integers(0, 90, size=(20, 256))
    _, mu, sigma = model.encode(w, batch_size=512)
    monkeypatch.setattr(mv, "ENCODE_MAX_STEPS", 3 * 256)  # long windows in chunks of 3
    _, mu3, sigma3 = model.encode(w, batch_size=512)
    np.testing.assert_allclose(mu3, mu, rtol=1e-6, atol=1e-6)  # float32 rounding of other matmul blockings
    np.testing.assert_allclose(sigma3, sigma, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_model_folder_has_a_hub_style_readme(name):
    import yaml

    folder = WEIGHTS_DIR / SHIPPED[name]
    assert {"config.json", "model.safetensors", "README.md", "card.json"} <= {p.name for p in folder.iterdir()}
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    card = json.loads((folder / "card.json").read_text())
    assert meta["license"] == "apache-2.0" and meta["datasets"] == [card["corpus"]]
    assert meta["base_model_architecture"] in ("cat-mel_2bar_big", "hierdec-mel_16bar", "hier-mel_16bar")
    got = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert abs(got["recon_accuracy"] - card["recon_accuracy"]) < 1e-4
