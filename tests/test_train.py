"""Training: the loss goes down, and an interrupted run resumes at the same step with the same weights."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from musicneurons.model.config import get_config
from musicneurons.model.musicvae import beta_schedule, learning_rate, sampling_probability
from musicneurons.model.train import split_by_source, train, transpose_windows


@pytest.fixture(scope="module")
def data():
    # a learnable toy corpus: 40 short "tunes" of scale fragments, 8 windows each
    rng = np.random.default_rng(0)
    windows, sources = [], []
    for tune in range(40):
        root = rng.integers(50, 70)
        for k in range(8):
            w = np.zeros(32, np.int64)
            for i in range(8):
                w[4 * i] = root + (i + k) % 5 - 19
            windows.append(w)
            sources.append(f"tune{tune}")
    return np.stack(windows), np.array(sources)


def tiny():
    return get_config("mn-mel_2bar").with_(enc_rnn_size=(32,), dec_rnn_size=(32,), z_size=8, batch_size=32,
                                          learning_rate=1e-2)


def test_loss_decreases(tmp_path, data):
    w, src = data
    train(tiny(), w, src, tmp_path, steps=60, checkpoint_every=60, eval_every=1000, progress=False, log=lambda *_: None,
          log_every=10)
    hist = [h for h in json.loads((tmp_path / "train_state.json").read_text())["history"] if "r_loss" in h]
    assert hist[-1]["r_loss"] < 0.6 * hist[0]["r_loss"]


def test_resume_gives_the_same_result(tmp_path, data):
    w, src = data
    cfg = tiny()
    full = tmp_path / "full"
    train(cfg, w, src, full, steps=20, checkpoint_every=10, eval_every=1000, progress=False, log=lambda *_: None)
    part = tmp_path / "part"
    train(cfg, w, src, part, steps=10, checkpoint_every=10, eval_every=1000, progress=False, log=lambda *_: None)
    assert json.loads((part / "train_state.json").read_text())["step"] == 10
    msgs = []
    train(cfg, w, src, part, steps=20, checkpoint_every=10, eval_every=1000, progress=False, log=msgs.append)
    assert any("resuming" in m and "step 10" in m for m in msgs)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_validation_split_is_by_source(data):
    _, src = data
    val = split_by_source(src, 0.1, seed=3)
    assert set(src[val]).isdisjoint(set(src[~val]))
    assert 0 < val.sum() < len(src)


def test_transpose_keeps_notes_in_range_and_rhythm():
    rng = np.random.default_rng(0)
    w = np.zeros((200, 32), np.int64)
    w[:, 0] = 2  # pitch 21: can only go up
    w[:, 4] = 89  # pitch 108: can only go down -> shift must be 0
    w[:, 8] = 1
    out = transpose_windows(w, rng, -5, 5)
    np.testing.assert_array_equal(out, w)
    w2 = np.zeros((500, 32), np.int64)
    w2[:, 0] = 41
    out2 = transpose_windows(w2, rng, -5, 5)
    assert set(np.unique(out2[:, 0] - 41)) == set(range(-5, 6))
    assert (out2[:, 1:] == 0).all()


def test_schedules_match_magenta_formulas():
    big = get_config("cat-mel_2bar_big")
    assert beta_schedule(big, 0) == 0.0
    assert abs(beta_schedule(big, 69315) - 0.25) < 1e-3  # half of max_beta after ln2 / -ln(0.99999) steps
    assert abs(sampling_probability(big, 0) - (1 - 1000 / 1001)) < 1e-12
    assert abs(sampling_probability(big, 6908) - 0.5) < 1e-3
    assert abs(learning_rate(big, 0) - 1e-3) < 1e-12
    assert abs(learning_rate(big, 10**6) - 1e-5) < 1e-9
    hier = get_config("hierdec-mel_16bar")
    assert beta_schedule(hier, 1) == 0.2 and sampling_probability(hier, 100) == 0.0


def test_new_models_start_from_magentas_initial_weights():
    import math

    import torch

    from musicneurons.model.config import get_config
    from musicneurons.model.musicvae import MusicVAE

    torch.manual_seed(0)
    m = MusicVAE(get_config("mn-mel_2bar")).requires_grad_(False)
    assert abs(float(m.encoder.mu.weight.std()) - 0.001) < 1e-4
    assert abs(float(m.encoder.sigma.weight.std()) - 0.001) < 1e-4
    assert abs(float(m.decoder.z_to_initial_state.weight.std()) - 0.001) < 1e-4
    lstm = m.decoder.layers[0]  # input 90 + 512, 256 units: glorot over the [input, h] kernel
    h = lstm.hidden_size
    limit = math.sqrt(6.0 / (602 + h + 4 * h))
    assert float(lstm.weight_ih_l0.abs().max()) <= limit and float(lstm.weight_hh_l0.abs().max()) <= limit
    assert float(lstm.weight_ih_l0.abs().max()) > 0.99 * limit
    forget = lstm.bias_ih_l0[h:2 * h]
    assert torch.all(forget == 1.0) and torch.all(lstm.bias_ih_l0[:h] == 0) and torch.all(lstm.bias_hh_l0 == 0)
    assert torch.all(m.encoder.layers[0].bias_ih_l0_reverse[256:512] == 1.0)


def test_init_from_continues_the_schedules_with_a_new_recipe(tmp_path, data):
    w, src = data
    cfg = tiny()
    base = tmp_path / "base"
    train(cfg, w, src, base, steps=8, checkpoint_every=8, eval_every=1000, progress=False, log=lambda *_: None)
    msgs = []
    new = cfg.with_(max_beta=0.5)
    train(new, w, src, tmp_path / "more", steps=12, checkpoint_every=4, eval_every=1000, progress=False,
          log=msgs.append, init_from=base)
    state = json.loads((tmp_path / "more" / "train_state.json").read_text())
    assert state["step"] == 12 and state["init_from"] == str(base)
    assert any("step 8" in m for m in msgs)
    assert json.loads((tmp_path / "more" / "config.json").read_text())["max_beta"] == 0.5
    # resuming it with the old recipe is refused
    with pytest.raises(ValueError, match="another recipe"):
        train(cfg, w, src, tmp_path / "more", steps=14, progress=False, log=lambda *_: None)
    with pytest.raises(ValueError, match="another architecture"):
        train(cfg.with_(z_size=4), w, src, tmp_path / "other", steps=10, progress=False, log=lambda *_: None,
              init_from=base)


def test_curriculum_crops_and_hierarchical_encoder(tmp_path):
    from musicneurons.model.train import crop_bars

    rng = np.random.default_rng(0)
    wins = rng.integers(0, 90, (20, 256))
    crops = crop_bars(wins, 4, rng)
    assert crops.shape == (20, 64)
    for c, full in zip(crops, wins):  # every crop is 4 whole bars of its window
        starts = [s for s in range(0, 256 - 63, 16) if (full[s:s + 64] == c).all()]
        assert starts
    cfg = get_config("mn-hier-mel_16bar").with_(enc_rnn_size=(8,), dec_rnn_size=(8,), z_size=4, batch_size=4)
    src = np.repeat(np.arange(10), 2)
    final = train(cfg, wins, src, tmp_path, steps=6, checkpoint_every=3, eval_every=3, progress=False,
                  log=lambda *_: None, curriculum_bars=4, curriculum_steps=3, log_every=1)
    hist = json.loads((tmp_path / "train_state.json").read_text())["history"]
    assert [h["steps_per_window"] for h in hist if "steps_per_window" in h] == [64, 64, 64, 256, 256, 256]
    assert {"always_hold_accuracy", "teacher_forced_nll", "kl_above_free_bits"} <= set(final)


def test_bf16_training_step_is_close_to_fp32_and_recorded(tmp_path, data):
    """The GPU recipe's bfloat16 autocast, run on this CPU when it has native bf16 (else a clear error)."""
    from musicneurons.model.musicvae import MusicVAE, bf16_supported
    from musicneurons.model.train import train_step

    w, src = data
    cfg = tiny()
    batch = torch.from_numpy(w[:32])
    losses = {}
    for prec in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = MusicVAE(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses[prec] = train_step(model, opt, batch, 0, torch.Generator().manual_seed(0), prec)["loss"]
        assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02) and losses["bf16"] != losses["fp32"]
    with pytest.raises(ValueError, match="precision must be one of"):
        train_step(model, opt, batch, 0, torch.Generator(), "fp16")
    if not bf16_supported("cpu"):
        with pytest.raises(ValueError, match="needs native bfloat16"):
            train(cfg, w, src, tmp_path, steps=2, progress=False, log=lambda *_: None, precision="bf16")
        return
    final = train(cfg, w, src, tmp_path, steps=4, checkpoint_every=4, eval_every=1000, progress=False,
                  log=lambda *_: None, precision="bf16")
    state = json.loads((tmp_path / "train_state.json").read_text())
    assert state["precision"] == final["precision"] == "bf16" and state["device"] == "cpu"
    assert np.isfinite(final["recon_accuracy"])
