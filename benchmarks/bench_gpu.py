"""Encode throughput (fp32 vs bf16) and training steps/s on one device: the GPU half of issues #16 and #18.

For each config, a seeded model with Magenta's initial weights (throughput does not depend on training) encodes
random windows at ``--batch`` per call; median of ``--repeats`` timed calls after one warm-up, windows/s. Then
``--train-steps`` training steps of each ``--train-configs`` recipe (batch of the config unless ``--train-batch``),
steps/s, both precisions. Prints a table and writes ``benchmarks/results/gpu.json`` (and ``$OUT/gpu.json`` when
``OUT`` is set). On a CPU it runs too (tiny sizes, for the test); the JSON says which device it measured.

    python benchmarks/bench_gpu.py --device cuda
    python benchmarks/bench_gpu.py --device cpu --configs mn-mel_2bar --batch 8 --repeats 1 --train-steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE, bf16_supported
from musicneurons.model.train import train_step


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def encode_throughput(name: str, device: torch.device, batch: int, repeats: int, precision: str) -> dict:
    cfg = get_config(name)
    torch.manual_seed(0)
    model = MusicVAE(cfg).to(device).eval()
    windows = np.random.default_rng(0).integers(0, cfg.n_classes, size=(batch, cfg.max_seq_len))
    model.encode(windows, batch_size=batch, precision=precision)  # warm-up (cuDNN plans, autotuning)
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        model.encode(windows, batch_size=batch, precision=precision)
        _sync(device)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"config": name, "precision": precision, "batch": batch, "median_s": med, "windows_per_s": batch / med,
            "repeats": repeats}


def train_speed(name: str, device: torch.device, steps: int, precision: str, batch: int | None) -> dict:
    cfg = get_config(name)
    if batch:
        cfg = cfg.with_(batch_size=batch)
    torch.manual_seed(0)
    model = MusicVAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)

    def one(step):
        b = torch.from_numpy(rng.integers(0, cfg.n_classes, size=(cfg.batch_size, cfg.max_seq_len))).to(device)
        return train_step(model, opt, b, step, gen, precision)

    one(0)  # warm-up
    _sync(device)
    t = time.perf_counter()
    for s in range(1, steps + 1):
        m = one(s)
    _sync(device)
    sec = time.perf_counter() - t
    return {"config": name, "precision": precision, "batch": cfg.batch_size, "steps": steps,
            "steps_per_s": steps / sec, "windows_per_s": steps * cfg.batch_size / sec, "last_loss": m["loss"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--configs", nargs="+", default=["cat-mel_2bar_big", "hierdec-mel_16bar"])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-configs", nargs="+", default=["mn-hier-mel_16bar"])
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--train-batch", type=int, default=None)
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/gpu.json)")
    a = ap.parse_args()
    device = torch.device(a.device)
    precisions = ["fp32"] + (["bf16"] if bf16_supported(device) else [])
    enc = [encode_throughput(c, device, a.batch, a.repeats, p) for c in a.configs for p in precisions]
    tr = [train_speed(c, device, a.train_steps, p, a.train_batch) for c in a.train_configs for p in precisions]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({name})")
    print(f"{'encode':28s} {'precision':>9s} {'batch':>6s} {'windows/s':>11s}")
    for r in enc:
        print(f"{r['config']:28s} {r['precision']:>9s} {r['batch']:6d} {r['windows_per_s']:11.1f}")
    print(f"{'train':28s} {'precision':>9s} {'batch':>6s} {'steps/s':>11s}")
    for r in tr:
        print(f"{r['config']:28s} {r['precision']:>9s} {r['batch']:6d} {r['steps_per_s']:11.2f}")
    out = {"benchmark": "gpu", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "device": str(device), "device_name": name, "torch": torch.__version__,
           "python": platform.python_version(), "encode": enc, "train": tr}
    paths = [Path(a.out) if a.out else Path(__file__).parent / "results" / "gpu.json"]
    if os.environ.get("OUT"):
        paths.append(Path(os.environ["OUT"]) / "gpu.json")
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
