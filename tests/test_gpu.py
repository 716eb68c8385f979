"""The GPU path: the throughput benchmark runs (on the CPU here, tiny), and on a machine with CUDA the encode,
decode and training step agree with the CPU's (skipped, with the reason, where there is no CUDA)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE
from musicneurons.model.train import train_step

ROOT = Path(__file__).resolve().parents[1]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_bench_gpu_runs_and_writes_its_table(tmp_path):
    out = tmp_path / "gpu.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--device", "cpu", "--configs",
                        "mn-mel_2bar", "--batch", "4", "--repeats", "1", "--train-configs", "mn-mel_2bar",
                        "--train-steps", "1", "--train-batch", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(out.read_text())
    assert d["device"] == "cpu" and d["encode"][0]["config"] == "mn-mel_2bar" and d["encode"][0]["windows_per_s"] > 0
    assert d["train"][0]["steps_per_s"] > 0 and "windows/s" in r.stdout


def _tiny():
    return get_config("mn-mel_2bar").with_(enc_rnn_size=(32,), dec_rnn_size=(32,), z_size=16, batch_size=8)


@needs_cuda
def test_cuda_encode_decode_and_train_step_match_the_cpu():
    cfg = _tiny()
    torch.manual_seed(0)
    cpu = MusicVAE(cfg)
    gpu = MusicVAE(cfg).to("cuda")
    gpu.load_state_dict(cpu.state_dict())
    w = np.random.default_rng(0).integers(0, cfg.n_classes, size=(16, cfg.max_seq_len))
    _, mu_c, s_c = cpu.encode(w)
    _, mu_g, s_g = gpu.encode(w)
    np.testing.assert_allclose(mu_g, mu_c, atol=1e-4)
    np.testing.assert_allclose(s_g, s_c, atol=1e-4)
    agree = (gpu.decode(mu_c.astype(np.float32)) == cpu.decode(mu_c.astype(np.float32))).mean()
    assert agree > 0.99
    b = torch.from_numpy(w[:8])
    losses = []
    for model in (cpu, gpu):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses.append(train_step(model, opt, b.to(model.device), 0, torch.Generator().manual_seed(0))["loss"])
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    opt = torch.optim.Adam(gpu.parameters(), lr=1e-3)
    bf = train_step(gpu, opt, b.to("cuda"), 1, torch.Generator().manual_seed(0), "bf16")["loss"]
    assert np.isfinite(bf)
