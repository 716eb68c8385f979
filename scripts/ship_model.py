"""Copy a finished training folder into the package as a shipped model (safetensors + card).

    .venv/bin/python scripts/ship_model.py /path/to/mn-mel_2bar [--dtype float32|float16]

Reads ``card.json`` written by ``musicneurons train`` and the validation history in ``train_state.json``,
stores the weights (float32 by default) and records how far mu and sigma move from the training weights, and
writes ``src/musicneurons/weights/<name>/{model.safetensors, config.json, card.json}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from musicneurons.cli import training_windows
from musicneurons.model.checkpoint import WEIGHTS_DIR, load_model, save_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_dir")
    ap.add_argument("--n-check", type=int, default=300)
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                    help="float16 halves the size but moved mu by 1.4e-3-2e-3 here (the target is 1e-3)")
    a = ap.parse_args()
    src = Path(a.train_dir)
    card = json.loads((src / "card.json").read_text())
    history = json.loads((src / "train_state.json").read_text())["history"]
    card["val_history"] = [h for h in history if any(k.startswith("val_") for k in h)]
    model = load_model(checkpoint=src)
    windows, _, _ = training_windows("builtin", model.cfg.bars)
    check = windows[np.random.default_rng(0).choice(len(windows), a.n_check, replace=False)]
    _, mu_trained, sigma_trained = model.encode(check)
    dest = WEIGHTS_DIR / model.cfg.name
    save_model(model, dest, dtype=getattr(torch, a.dtype), metadata={"step": card["step"]})
    _, mu_stored, sigma_stored = load_model(checkpoint=dest).encode(check)
    card["stored_as"] = {"dtype": a.dtype, "max_abs_mu_diff_vs_fp32": float(np.abs(mu_stored - mu_trained).max()),
                         "max_abs_sigma_diff_vs_fp32": float(np.abs(sigma_stored - sigma_trained).max()),
                         "checked_on": f"{a.n_check} built-in windows"}
    (dest / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"{dest}: step {card['step']}, val recon {card['recon_accuracy']:.4f}, KL {card['kl_bits']:.1f} bits, "
          f"{a.dtype} max|dmu| {card['stored_as']['max_abs_mu_diff_vs_fp32']:.1e}")


if __name__ == "__main__":
    main()
