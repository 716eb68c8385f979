"""Training with Magenta's recipe (``music_vae/base_model.py``, ``music_vae_train.py``).

loss = mean over the batch of (cross-entropy summed over steps) + beta(step) * mean(max(KL - free_bits*ln2, 0)),
beta(step) = (1 - beta_rate^step) * max_beta, scheduled sampling (inverse sigmoid), Adam with
lr(step) = (lr0 - lr_min) * decay^step + lr_min, gradients clipped to global norm 1 (and zeroed above 10000).

Every random draw of step ``s`` comes from generators seeded by ``(seed, s)``, so a run interrupted after a
checkpoint and resumed gives the same weights as an uninterrupted run. Validation windows come from sources
(files or tunes) that are never trained on.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..melody import MAX_PITCH, MIN_PITCH, PITCH_OFFSET
from .checkpoint import save_model
from .config import MusicVAEConfig
from .musicvae import MusicVAE, beta_schedule, kl_per_window, learning_rate, sampling_probability


def split_by_source(sources: np.ndarray, val_fraction: float = 0.05, seed: int = 0) -> np.ndarray:
    """Boolean mask of validation rows: whole sources, never split across train and validation."""
    uniq = np.unique(sources)
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(val_fraction * uniq.size))) if uniq.size > 1 else 0
    val_sources = rng.choice(uniq, size=n_val, replace=False) if n_val else []
    return np.isin(sources, val_sources)


def training_sources(card: dict | None, corpus: str, sources_with_windows) -> set[str] | None:
    """The sources a model was trained on, when its card lets us recompute them, else None.

    Recomputable: the card says it was trained by ``musicneurons train`` on the same ``corpus`` with a ``seed``
    and ``n_val_sources``; the split (:func:`split_by_source`, 5 % of the sources) is redone on
    ``sources_with_windows`` (the sources that give windows of the model's length) and must give exactly the
    card's number of validation sources -- otherwise the corpus is not the one trained on and None is returned.
    A card that lists ``held_out_sources`` is used as it is.
    """
    if not card or card.get("corpus") != corpus:
        return None
    uniq = np.unique(np.asarray(list(sources_with_windows), dtype=str))
    if card.get("held_out_sources"):
        held = set(map(str, card["held_out_sources"]))
        return set(uniq.tolist()) - held
    if card.get("seed") is None or card.get("n_val_sources") is None:
        return None
    val = uniq[split_by_source(uniq, 0.05, int(card["seed"]))]
    if val.size != int(card["n_val_sources"]) or uniq.size != int(card.get("n_train_sources", -1)) + val.size:
        return None
    return set(uniq.tolist()) - set(val.tolist())


def transpose_windows(windows: np.ndarray, rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    """Shift every note of each window by a random number of semitones in [low, high].

    Magenta's augmenter transposes the NoteSequence and deletes notes that leave 21..108; here each window's
    shift is drawn from the part of [low, high] that keeps all of its notes in range, so no note is deleted.
    """
    if low == 0 and high == 0:
        return windows
    notes = windows >= 2
    pitches = np.where(notes, windows + PITCH_OFFSET, 0)
    hi = np.where(notes.any(1), np.where(notes, pitches, 0).max(1), MIN_PITCH)
    lo = np.where(notes.any(1), np.where(notes, pitches, 10_000).min(1), MAX_PITCH)
    a = np.maximum(low, MIN_PITCH - lo)
    b = np.minimum(high, MAX_PITCH - hi)
    shift = rng.integers(a, b + 1)
    return np.where(notes, windows + shift[:, None], windows)


def _step_rng(seed: int, step: int):
    return np.random.default_rng([seed, step]), torch.Generator().manual_seed(seed * 1_000_003 + step)


def crop_bars(windows: np.ndarray, n_bars: int, rng: np.random.Generator, bar_steps: int = 16) -> np.ndarray:
    """A random bar-aligned crop of ``n_bars`` bars from each window: (N, T) -> (N, n_bars * bar_steps).

    Every crop is itself a window Magenta's converter would cut from the same melody (windows hop by one bar).
    """
    total = windows.shape[1] // bar_steps
    start = rng.integers(0, total - n_bars + 1, size=len(windows)) * bar_steps
    idx = start[:, None] + np.arange(n_bars * bar_steps)[None, :]
    return np.take_along_axis(windows, idx, axis=1)


PRECISIONS = ("fp32", "bf16")


def train_step(model: MusicVAE, opt, batch: torch.Tensor, step: int, gen: torch.Generator,
               precision: str = "fp32") -> dict:
    """One optimisation step; returns loss, reconstruction loss, KL bits (total and above the free bits), beta,
    accuracy. ``batch`` (B, T) may be shorter than the config's windows for a hierarchical model (a curriculum
    crop of whole bars). ``precision="bf16"``: the encoder and decoder run under bfloat16 autocast (the GPU
    recipe); the posterior, the KL, the loss and the weights stay float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cfg = model.cfg
    for g in opt.param_groups:
        g["lr"] = learning_rate(cfg, step)
    model.train()
    autocast = (torch.autocast(batch.device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
    with autocast:
        if batch.shape[1] == cfg.max_seq_len:
            mu, sigma = model.posterior(batch)
        else:
            mu, sigma = model.encoder(model.one_hot(batch))
    mu, sigma = mu.float(), sigma.float()
    eps = torch.randn(mu.shape, generator=gen).to(mu.device)  # drawn on the CPU: the same noise on every device
    z = mu + sigma * eps
    p = sampling_probability(cfg, step)
    with autocast:
        if p > 0.0:
            _, logits = model.decoder.generate(z, batch.shape[1], targets=batch, p_sample=p, temperature=1.0,
                                               generator=gen)
        else:
            logits = model.logits(z, batch)
    logits = logits.float()
    ce = F.cross_entropy(logits.reshape(-1, cfg.n_classes), batch.reshape(-1), reduction="none")
    r_loss = ce.view(batch.shape).sum(1).mean()
    kl = kl_per_window(mu, sigma)
    free_nats = cfg.free_bits * math.log(2.0)
    beta = beta_schedule(cfg, step)
    loss = r_loss + beta * torch.clamp(kl - free_nats, min=0.0).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    if not torch.isfinite(norm) or norm >= cfg.grad_norm_clip_to_zero:
        opt.zero_grad(set_to_none=True)
    opt.step()
    acc = (logits.argmax(-1) == batch).float().mean()
    kl_bits = kl.detach() / math.log(2.0)
    return {"loss": float(loss.detach()), "r_loss": float(r_loss.detach()), "kl_bits": float(kl_bits.mean()),
            "kl_above_free_bits": float(torch.clamp(kl_bits - cfg.free_bits, min=0.0).mean()),
            "beta": beta, "p_sample": p, "accuracy": float(acc), "grad_norm": float(norm.detach()),
            "steps_per_window": int(batch.shape[1])}


@torch.no_grad()
def evaluate(model: MusicVAE, windows: np.ndarray, batch_size: int = 256) -> dict:
    """Greedy reconstruction accuracy per step (decode mu by argmax), KL bits and active dims."""
    model.eval()
    _, mu, sigma = model.encode(windows, batch_size=batch_size)
    recon = model.decode(mu, temperature=0.0, batch_size=batch_size)
    kl_bits = kl_per_window(torch.from_numpy(mu), torch.from_numpy(sigma)).numpy() / math.log(2.0)
    nll = []
    for i in range(0, len(windows), batch_size):
        ev = torch.from_numpy(np.asarray(windows[i:i + batch_size], np.int64)).to(model.device)
        lg = model.logits(torch.from_numpy(mu[i:i + batch_size]).to(model.device), ev)
        nll.append(F.cross_entropy(lg.reshape(-1, lg.shape[-1]), ev.reshape(-1), reduction="none")
                   .view(ev.shape).sum(1).cpu().numpy())
    return {
        "recon_accuracy": float((recon == windows).mean()),
        "always_hold_accuracy": float((np.asarray(windows) == 0).mean()),  # predicting "hold" at every step
        "recon_exact_windows": float((recon == windows).all(1).mean()),
        "teacher_forced_nll": float(np.concatenate(nll).mean()) if nll else float("nan"),  # nats per window, at mu
        "kl_bits": float(kl_bits.mean()),
        "kl_above_free_bits": float(np.maximum(kl_bits - model.cfg.free_bits, 0.0).mean()),
        "active_dims": int((mu.var(0) > 0.01).sum()),  # Burda et al. 2016
        "n_windows": int(len(windows)),
    }


def _save_state(folder: Path, model, opt, step: int, history: list, extra: dict):
    save_model(model, folder, metadata={"step": step})
    flat, meta = {}, {"step": step, "history": history, **extra}
    state = opt.state_dict()
    for pid, st in state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                flat[f"{pid}.{k}"] = v.detach().cpu().contiguous()
    save_file(flat, str(folder / "optimizer.safetensors.tmp"))
    (folder / "optimizer.safetensors.tmp").replace(folder / "optimizer.safetensors")
    (folder / "train_state.json.tmp").write_text(json.dumps(meta, indent=1))
    (folder / "train_state.json.tmp").replace(folder / "train_state.json")


def _load_state(folder: Path, model, opt) -> tuple[int, list]:
    from .checkpoint import load_model

    loaded = load_model(checkpoint=folder, device=model.device)
    model.load_state_dict(loaded.state_dict())
    meta = json.loads((folder / "train_state.json").read_text())
    flat = load_file(str(folder / "optimizer.safetensors"))
    state = {}
    for key, v in flat.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)
    return meta["step"], meta["history"]


def _init_weights(model: MusicVAE, folder: Path) -> int:
    """Copy a model folder's weights into ``model`` (architectures must agree); returns the folder's step."""
    from safetensors import safe_open

    from .checkpoint import load_model

    src = load_model(checkpoint=folder, device=model.device)
    arch = ("z_size", "enc_rnn_size", "dec_rnn_size", "max_seq_len", "level_lengths", "enc_level_lengths", "n_classes")
    diff = [k for k in arch if getattr(src.cfg, k) != getattr(model.cfg, k)]
    if diff:
        raise ValueError(f"{folder}: another architecture ({', '.join(diff)} differ); cannot start from its weights")
    model.load_state_dict(src.state_dict())
    step = None
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        step = (f.metadata() or {}).get("step")
    if step is None and (folder / "card.json").exists():
        step = json.loads((folder / "card.json").read_text()).get("step")
    return int(step or 0)


def _device_name(device) -> str:
    """``cpu`` / ``cuda:0 (NVIDIA H200)``: where a model was trained, for its card."""
    d = torch.device(device)
    if d.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{d.index or 0} ({torch.cuda.get_device_name(d.index or 0)})"
    return str(d)


def train(cfg: MusicVAEConfig, windows: np.ndarray, sources: np.ndarray, out_dir, steps: int, seed: int = 0,
          checkpoint_every: int = 200, eval_every: int = 500, val_fraction: float = 0.05, max_val: int = 2000,
          progress: bool = True, threads: int | None = None, time_limit_s: float | None = None,
          log=print, log_every: int = 50, curriculum_bars: int | None = None, curriculum_steps: int = 0,
          device="cpu", init_from=None, precision: str = "fp32") -> dict:
    """Train (or resume) a model in ``out_dir``; returns the final validation metrics.

    ``windows`` (N, T) int events, ``sources`` (N,) their source ids (for the validation split).
    ``curriculum_bars``/``curriculum_steps`` (hierarchical models): the first ``curriculum_steps`` steps train on
    random crops of ``curriculum_bars`` bars (``level_lengths [b, 16]``; the weights are shared across bars, so
    they carry over), with ``n_bars / curriculum_bars`` times as many crops per batch -- the same steps per batch.
    ``init_from``: a model folder (same architecture) whose weights start a new run; the schedules (learning rate,
    beta, scheduled sampling) continue from that model's recorded step, so a finished model can be trained on
    with a changed recipe (e.g. a higher ``max_beta``). The optimizer starts fresh.
    ``device``/``precision``: where and how the steps run ("bf16": bfloat16 autocast, the GPU recipe; it needs
    native bf16 matmuls); both are recorded in the card's data section.
    """
    from tqdm import tqdm

    from .musicvae import require_bf16

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16":
        require_bf16(device)

    if threads:
        torch.set_num_threads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    windows = np.asarray(windows, np.int64)
    if windows.ndim != 2 or windows.shape[1] != cfg.max_seq_len:
        raise ValueError(f"{cfg.name} trains on windows of {cfg.max_seq_len} steps, got {windows.shape}")
    is_val = split_by_source(np.asarray(sources), val_fraction, seed)
    train_w, val_w = windows[~is_val], windows[is_val]
    if len(train_w) == 0:
        raise ValueError("no training windows")
    val_w = val_w[np.random.default_rng(seed).permutation(len(val_w))[:max_val]]
    torch.manual_seed(seed)
    model = MusicVAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    step, history = 0, []
    if (out / "train_state.json").exists():
        saved = MusicVAEConfig.from_dict(json.loads((out / "config.json").read_text()))
        if saved != cfg:
            diff = {k: (getattr(saved, k), getattr(cfg, k)) for k in MusicVAEConfig.__dataclass_fields__
                    if k != "notes" and getattr(saved, k) != getattr(cfg, k)}
            raise ValueError(f"{out} holds a training run of another recipe ({diff}, saved vs asked); "
                             f"resume with the same settings or train into a new folder")
        step, history = _load_state(out, model, opt)
        log(f"resuming {out} at step {step}")
    elif init_from is not None:
        step = _init_weights(model, Path(init_from))
        log(f"starting from the weights of {init_from} at its step {step}")
    data_info = {"init_from": str(init_from) if init_from is not None else None,
                 "n_train_windows": int(len(train_w)), "n_val_windows": int(len(val_w)),
                 "n_train_sources": int(np.unique(np.asarray(sources)[~is_val]).size),
                 "n_val_sources": int(np.unique(np.asarray(sources)[is_val]).size), "seed": seed,
                 "device": _device_name(device), "precision": precision}
    t0 = time.time()
    bar = tqdm(total=steps, initial=step, disable=not progress, desc=f"train {cfg.name}", unit="step")
    lo, hi = cfg.transpose_range
    while step < steps:
        rng, gen = _step_rng(seed, step)
        if curriculum_bars and step < curriculum_steps:
            n = cfg.batch_size * cfg.bars // curriculum_bars
            idx = rng.integers(0, len(train_w), size=n)
            batch = torch.from_numpy(transpose_windows(crop_bars(train_w[idx], curriculum_bars, rng), rng, lo, hi))
            batch = batch.to(device)
        else:
            idx = rng.integers(0, len(train_w), size=cfg.batch_size)
            batch = torch.from_numpy(transpose_windows(train_w[idx], rng, lo, hi)).to(device)
        m = train_step(model, opt, batch, step, gen, precision)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{m['loss']:.2f}", kl_bits=f"{m['kl_bits']:.1f}", acc=f"{m['accuracy']:.3f}")
        if step % log_every == 0 or step == 1:
            history.append({"step": step, **{k: round(v, 5) for k, v in m.items()}})
        if step % eval_every == 0 and len(val_w):
            ev = evaluate(model, val_w[:500])
            history.append({"step": step, **{f"val_{k}": v for k, v in ev.items()}})
            log(f"step {step}: val greedy {ev['recon_accuracy']:.4f} (always-hold {ev['always_hold_accuracy']:.4f}), "
                f"exact {ev['recon_exact_windows']:.3f}, nll {ev['teacher_forced_nll']:.1f}, kl {ev['kl_bits']:.1f} "
                f"bits ({ev['kl_above_free_bits']:.1f} above free), active {ev['active_dims']}")
        if step % checkpoint_every == 0 or step == steps:
            _save_state(out, model, opt, step, history, data_info)
        if time_limit_s is not None and time.time() - t0 > time_limit_s:
            _save_state(out, model, opt, step, history, data_info)
            log(f"time limit reached at step {step}")
            break
    bar.close()
    final = evaluate(model, val_w) if len(val_w) else {}
    final.update({"step": step, "wall_time_s": round(time.time() - t0, 1), **data_info})
    (out / "metrics.json").write_text(json.dumps(final, indent=2))
    return final
