"""Full-size Magenta MusicVAE: checkpoint read and encode speed, ours (no TF) vs Magenta's TF code.

For each config (``cat-mel_2bar_big``, ``hierdec-mel_16bar``) an oracle Python with Magenta and
TensorFlow builds Magenta's graph at full size, gives it random weights (kernels N(0, 1/fan_in),
biases N(0, 0.1)), saves a TF checkpoint in a temp folder, and times

- ``tf.train.load_checkpoint(prefix).get_tensor(name)`` for every variable (TF's reader), and
- ``TrainedModel(config, batch_size=N, checkpoint).encode_tensors`` on N windows (after one warm-up run).

A second process (this Python) reads the same checkpoint with ``read_tf_checkpoint`` (crc32c verified),
loads it into the PyTorch model and times ``MusicVAE.encode`` on the same windows, once in fp32 (exact)
and once with ``precision="bf16"``; ``mu`` is compared with Magenta's. Each side's peak RSS is its own
process's. The encoder's FLOPs are set against this machine's measured matmul rate.

    .venv/bin/python benchmarks/bench_encode_magenta.py \\
        --oracle-python ORACLE/bin/python --magenta-src MAGENTA_SRC \\
        [--configs cat-mel_2bar_big hierdec-mel_16bar] [--n-2bar 512] [--n-16bar 512]

Prints a table and writes ``benchmarks/results/encode_magenta.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from musicneurons.model.musicvae import bf16_supported


ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "encode_magenta.json"

ORACLE = textwrap.dedent('''
    import copy, json, os, sys, time
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    from magenta.models.music_vae import configs, trained_model

    name, folder = sys.argv[1], sys.argv[2]
    events = np.load(os.path.join(folder, "events.npy"), allow_pickle=False)
    n, steps = events.shape
    cfg = copy.deepcopy(configs.CONFIG_MAP[name])
    cfg.hparams.batch_size = n
    prefix = os.path.join(folder, "model.ckpt")
    rng = np.random.default_rng(0)
    with tf.Graph().as_default():
        built = copy.deepcopy(cfg)  # TrainedModel deep-copies cfg: keep it free of graph tensors
        model = built.model
        model.build(built.hparams, built.data_converter.output_depth, is_training=False)
        z = tf.placeholder(tf.float32, [n, cfg.hparams.z_size])
        model.sample(n, max_length=steps, z=z, temperature=1.0)
        model.encode(tf.placeholder(tf.float32, [n, None, 90]), tf.placeholder(tf.int32, [n]))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for v in tf.global_variables():
                shape = v.shape.as_list()
                if v.op.name == "global_step":
                    continue
                std = 1.0 / np.sqrt(shape[0]) if len(shape) == 2 else 0.1
                v.load(rng.normal(0.0, std, size=shape).astype(np.float32), sess)
            tf.train.Saver().save(sess, prefix, write_meta_graph=False)
    t0 = time.perf_counter()
    reader = tf.train.load_checkpoint(prefix)
    total = sum(reader.get_tensor(k).nbytes for k in reader.get_variable_to_shape_map())
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    tm = trained_model.TrainedModel(cfg, batch_size=n, checkpoint_dir_or_path=prefix)
    t_restore = time.perf_counter() - t0
    x = list(np.eye(90, dtype=np.float32)[events])
    lengths = [steps] * n
    tm.encode_tensors(list(x), list(lengths))  # warm-up
    t0 = time.perf_counter()
    _, mu, sigma = tm.encode_tensors(list(x), list(lengths))
    t_encode = time.perf_counter() - t0
    np.save(os.path.join(folder, "mu_tf.npy"), mu.astype(np.float32))
    import resource
    json.dump({"tf_read_s": t_read, "bytes": int(total), "restore_s": t_restore,
               "encode_s": t_encode, "tf": tf.__version__,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
              open(os.path.join(folder, "tf.json"), "w"))
''')

# Ours runs in its own process too, so that its peak memory is its own.
OURS = textwrap.dedent('''
    import json, os, resource, sys, time
    import numpy as np
    from musicneurons.model.checkpoint import load_model
    from musicneurons.model.tfcheckpoint import read_tf_checkpoint

    name, folder, precision = sys.argv[1], sys.argv[2], sys.argv[3]
    events = np.load(os.path.join(folder, "events.npy"), allow_pickle=False)
    prefix = os.path.join(folder, "model.ckpt")
    t0 = time.perf_counter(); weights = read_tf_checkpoint(prefix); t_read = time.perf_counter() - t0
    del weights
    t0 = time.perf_counter(); model = load_model(name, checkpoint=prefix); t_load = time.perf_counter() - t0
    model.encode(events[:2], batch_size=len(events), precision=precision)  # warm-up
    t0 = time.perf_counter()
    _, mu, _ = model.encode(events, batch_size=len(events), precision=precision)
    t_encode = time.perf_counter() - t0
    np.save(os.path.join(folder, f"mu_{precision}.npy"), mu)
    json.dump({"read_s": t_read, "load_s": t_load, "encode_s": t_encode,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
              open(os.path.join(folder, f"ours_{precision}.json"), "w"))
''')


def encoder_flops(name: str, n: int, steps: int) -> float:
    """Multiply-adds x 2 of the encoder (BiLSTM stack + mu/sigma layers) for n windows."""
    from musicneurons.model.config import get_config

    cfg = get_config(name)
    flops, n_in = 0.0, cfg.n_classes
    for h in cfg.enc_rnn_size:
        flops += 2 * steps * 2.0 * n * (n_in + h) * 4 * h
        n_in = 2 * h
    return flops + 2 * 2.0 * n * n_in * cfg.z_size


def matmul_gflops(dtype, m: int = 512, k: int = 2048, n: int = 8192, reps: int = 10) -> float:
    """This machine's measured matmul rate at an LSTM-like shape (best of 3 rounds after warm-up)."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, reps * 2.0 * m * k * n / (time.perf_counter() - t0) / 1e9)
    return best


def melodies(n: int, steps: int, seed: int = 0) -> np.ndarray:
    """Random-walk melodies (n, steps) in the 90-class encoding (notes of 1-8 steps, some rests)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, steps), dtype=np.int64)
    for i in range(n):
        t, pitch = 0, int(rng.integers(57, 72))
        while t < steps:
            if rng.random() < 0.1:
                out[i, t] = 1
            else:
                pitch = int(np.clip(pitch + rng.integers(-5, 6), 48, 84))
                out[i, t] = pitch - 19
            t += int(rng.choice([1, 2, 2, 4, 4, 8]))
    return out


def bench(name: str, n: int, steps: int, oracle_python: str, magenta_src: str, precisions) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        events = melodies(n, steps)
        np.save(Path(tmp) / "events.npy", events)
        for script, text in (("oracle.py", ORACLE), ("ours.py", OURS)):
            (Path(tmp) / script).write_text(text)
        env = dict(os.environ, PYTHONPATH=magenta_src, TF_USE_LEGACY_KERAS="1")
        proc = subprocess.run([oracle_python, str(Path(tmp) / "oracle.py"), name, tmp], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"oracle failed for {name}:\n{proc.stderr[-3000:]}")
        tf_res = json.loads((Path(tmp) / "tf.json").read_text())
        mu_tf = np.load(Path(tmp) / "mu_tf.npy", allow_pickle=False)
        ours, mus = {}, {}
        for precision in precisions:
            proc = subprocess.run([sys.executable, str(Path(tmp) / "ours.py"), name, tmp, precision],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"ours failed for {name} {precision}:\n{proc.stderr[-3000:]}")
            ours[precision] = json.loads((Path(tmp) / f"ours_{precision}.json").read_text())
            mus[precision] = np.load(Path(tmp) / f"mu_{precision}.npy", allow_pickle=False)
    flops = encoder_flops(name, n, steps)
    enc = {"magenta": tf_res["encode_s"], **{f"ours_{p}": ours[p]["encode_s"] for p in precisions}}
    return {
        "config": name, "n_windows": n, "steps": steps, "checkpoint_bytes": tf_res["bytes"],
        "encoder_gflop": flops / 1e9,
        "read_s": {"tensorflow": tf_res["tf_read_s"], "ours_crc_verified": ours["fp32"]["read_s"]},
        "load_s": {"magenta_trained_model_restore": tf_res["restore_s"], "ours_load_model": ours["fp32"]["load_s"]},
        "encode_s": enc,
        "encode_windows_per_s": {k: n / v for k, v in enc.items()},
        "encode_gflop_per_s": {k: flops / v / 1e9 for k, v in enc.items()},
        "peak_rss_mb": {"magenta": tf_res["peak_rss_mb"], **{f"ours_{p}": ours[p]["peak_rss_mb"] for p in precisions}},
        "mu_max_abs_diff": {k: float(np.abs(mus[k] - mu_tf).max()) for k in mus},
        "mu_std_across_windows_mean": float(mu_tf.std(0).mean()),
        "tensorflow": tf_res["tf"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle-python", default=os.environ.get("MAGENTA_ORACLE_PYTHON"),
                    help="a Python with tensorflow(-cpu), tensorflow-probability, tf_keras, "
                         "note-seq (default: $MAGENTA_ORACLE_PYTHON)")
    ap.add_argument("--magenta-src", default=os.environ.get("MAGENTA_SRC"),
                    help="Magenta's source tree, put on PYTHONPATH (default: $MAGENTA_SRC)")
    ap.add_argument("--configs", nargs="+", default=["cat-mel_2bar_big", "hierdec-mel_16bar"])
    ap.add_argument("--n-2bar", type=int, default=512)
    ap.add_argument("--n-16bar", type=int, default=512)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    precisions = ("fp32", "bf16") if bf16_supported("cpu") else ("fp32",)
    if precisions == ("fp32",):
        print("this CPU has no native bfloat16 (AVX512-BF16/AMX): only fp32 is measured")
    if not args.oracle_python or not args.magenta_src:
        print("bench_encode_magenta: NOT RUN - it compares against Magenta's TensorFlow code, which "
              "needs a separate Python: pass --oracle-python and --magenta-src (or set "
              "MAGENTA_ORACLE_PYTHON and MAGENTA_SRC). Previous results are kept in "
              f"{OUT.relative_to(ROOT)}.")
        return
    machine = {"matmul_gflop_per_s_fp32": matmul_gflops(torch.float32),
               "matmul_gflop_per_s_bf16": matmul_gflops(torch.bfloat16) if "bf16" in precisions else None}
    rows = []
    for name in args.configs:
        steps = 256 if "16bar" in name else 32
        n = args.n_16bar if steps == 256 else args.n_2bar
        rows.append(bench(name, n, steps, args.oracle_python, args.magenta_src, precisions))
    print(f"matmul here (512x2048 @ 2048x8192): fp32 {machine['matmul_gflop_per_s_fp32']:.0f} GFLOP/s"
          + (f", bf16 {machine['matmul_gflop_per_s_bf16']:.0f} GFLOP/s" if machine["matmul_gflop_per_s_bf16"] else ""))
    print(f"{'config':18s} {'N':>4s} {'side':10s} {'windows/s':>9s} {'GFLOP/s':>8s} {'x Magenta':>9s} "
          f"{'peak MB':>8s} {'max|dmu|':>9s} {'load s':>7s}")
    for r in rows:
        w, g, m = r["encode_windows_per_s"], r["encode_gflop_per_s"], r["peak_rss_mb"]
        for side in ("magenta",) + tuple(f"ours_{p}" for p in precisions):
            dmu = r["mu_max_abs_diff"].get(side.replace("ours_", ""), 0.0)
            load = r["load_s"]["magenta_trained_model_restore" if side == "magenta" else "ours_load_model"]
            print(f"{r['config']:18s} {r['n_windows']:4d} {side:10s} {w[side]:9.2f} {g[side]:8.1f} "
                  f"{w[side] / w['magenta']:9.2f} {m[side]:8.0f} {dmu:9.1e} {load:7.2f}")
        print(f"{'':18s} mu spread (std across windows, mean over dims) {r['mu_std_across_windows_mean']:.3g}")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads(), **machine},
        "note": "random full-size weights; both sides encode the same windows in one batch",
        "results": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
