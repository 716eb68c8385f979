"""The model commands: ``encode``, ``decode``, ``sample``, ``interpolate``, ``models``, ``convert`` and
``train``."""

from __future__ import annotations

import json
from pathlib import Path

from ..tables import KEY_COLUMNS, TableError
from .errors import UserError
from .shared import _device, _progress, read_table


def _load(a, name_attr="model", ckpt_attr="checkpoint"):
    from ..model.checkpoint import load_model

    name, ckpt = getattr(a, name_attr), getattr(a, ckpt_attr, None)
    if name is None and ckpt is None:
        raise UserError("say which model: --model NAME (see 'musicneurons models') or --checkpoint PATH")
    try:
        return load_model(name, checkpoint=ckpt, device=a.device)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise UserError(str(e).strip('"')) from None


def _npz_path(path) -> Path:
    """numpy adds ``.npz`` to a name without it: report the path actually written."""
    p = Path(path)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def cmd_encode(a):
    import numpy as np

    from ..model.checkpoint import model_fingerprint

    model = _load(a)
    ev, keys = read_table(a.melodies)
    if ev.shape[1] != model.cfg.max_seq_len:
        raise UserError(f"{a.melodies}: windows have {ev.shape[1]} steps but {model.cfg.name} takes "
                        f"{model.cfg.max_seq_len}")
    try:
        z, mu, sigma = model.encode(ev, batch_size=a.batch_size, seed=a.seed, precision=a.precision,
                                    progress=_progress())
    except ValueError as e:  # e.g. bf16 on a CPU without it
        raise UserError(str(e)) from None
    arrays = {"mu": mu, "sigma": sigma, "model": np.array(a.model or model.cfg.name),
              "checkpoint": np.array(str(a.checkpoint or "")), "model_fingerprint": np.array(model_fingerprint(model))}
    for col in KEY_COLUMNS:
        if col in keys:
            arrays[col] = keys[col].to_numpy().astype(str if col == "source" else keys[col].dtype)
    if a.z:
        arrays["z"] = z
    out = _npz_path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    print(f"encoded {len(ev)} windows with {model.cfg.name} -> {out} (mu, sigma: {mu.shape})")


def read_latents(path):
    """latents.npz -> (mu, the other arrays as a dict); one clear error when it is not one."""
    import numpy as np

    p = Path(path)
    if p.exists() and not p.is_file():  # np.load of a FIFO would block
        raise UserError(f"{path}: not a regular file ({'a folder' if p.is_dir() else 'a FIFO or device'})")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        mu = data.pop("mu")
    except Exception as e:
        raise UserError(f"{path}: cannot read array 'mu' ({type(e).__name__}: {e})") from None
    if not isinstance(mu, np.ndarray):  # a zip member that is not .npy: numpy hands back its raw bytes
        raise UserError(f"{path}: 'mu' is not a .npy array inside the .npz (got {type(mu).__name__})")
    if mu.ndim != 2 or mu.dtype.kind != "f" or not np.isfinite(mu).all():
        raise UserError(f"{path}: 'mu' must be a finite float array (N, z), got {mu.dtype} {mu.shape}")
    if len(mu) == 0:  # as a melody table with no rows: an empty extraction upstream, not 0 MIDI files and exit 0
        raise UserError(f"{path}: no latents to decode ('mu' has 0 rows; was the melody table it came from empty?)")
    from ..tables import check_keys

    try:
        data.update(check_keys(data, len(mu), path))
    except TableError as e:
        raise UserError(str(e)) from None
    return mu, data


def _midi_name(source, window, row: int) -> str:
    """A file name from a window's source and index, safe on every file system."""
    import re

    stem = Path(str(source)).stem if source is not None else ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80].strip("._") or "row"
    return f"{stem}_w{int(window):03d}.mid" if window is not None else f"{stem}_{row:06d}.mid"


def cmd_decode(a):
    import numpy as np
    import pandas as pd

    from ..melody import write_midi
    from ..model.checkpoint import model_fingerprint

    mu, meta = read_latents(a.latents)
    stored = a.model is None and a.checkpoint is None and "model" in meta
    if stored:
        a.model = str(meta["model"])
        a.checkpoint = str(meta.get("checkpoint", "")) or None
    if a.model is None and a.checkpoint is None:
        raise UserError(f"{a.latents}: the file names no model; say which: --model NAME (see 'musicneurons models') "
                        "or --checkpoint PATH")
    try:
        model = _load(a)
    except UserError as e:
        which = (f"the model it names (model {a.model!r}" + (f", checkpoint {a.checkpoint}" if a.checkpoint else "")
                 + "; pass --model or --checkpoint to choose another)") if stored else "the model asked for"
        raise UserError(f"{a.latents}: cannot decode with {which}: {e}") from None
    if "model_fingerprint" in meta and str(meta["model_fingerprint"]) != model_fingerprint(model):
        raise UserError(f"{a.latents}: latents of model {meta.get('model')} ({meta['model_fingerprint']}), not of "
                        f"{a.model or a.checkpoint} ({model_fingerprint(model)}); decode them with their own model")
    if mu.shape[1] != model.cfg.z_size:
        raise UserError(f"{a.latents}: latents have {mu.shape[1]} dims but {model.cfg.name} takes {model.cfg.z_size}")
    try:
        ev = model.decode(mu, temperature=a.temperature, seed=a.seed, precision=a.precision, progress=_progress())
    except ValueError as e:
        raise UserError(str(e)) from None
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"row": np.arange(len(ev))})
    for col in KEY_COLUMNS:
        if col in meta:
            table[col] = meta[col]
    table["events"] = [e.tolist() for e in ev]
    table.to_parquet(out / "decoded.parquet", index=False)
    sources = table["source"] if "source" in table else [None] * len(ev)
    windows = table["window"] if "window" in table else [None] * len(ev)
    qpms = table["qpm"] if "qpm" in table else [120.0] * len(ev)
    names = set()
    for i, (e, src, w, q) in enumerate(zip(ev, sources, windows, qpms)):
        name = _midi_name(src, w, i)
        if name in names:  # two sources with the same stem
            name = name[:-4] + f"_{i:06d}.mid"
        names.add(name)
        write_midi(e, out / name, qpm=float(q))
    print(f"decoded {len(ev)} latents with {model.cfg.name} -> {out}/decoded.parquet and {len(ev)} MIDI files")


def _write_sequence_midi(windows, path, qpm=120.0, gap_bars=1):
    """Windows one after another (a bar of rest between) in one MIDI file."""
    import numpy as np

    from ..melody import write_midi

    rest = np.zeros(16 * gap_bars, np.int64)
    rest[0] = 1  # end the previous window's last note
    parts = []
    for w in windows:
        parts += [np.asarray(w, np.int64), rest]
    return write_midi(np.concatenate(parts[:-1]), path, qpm=qpm)


def cmd_sample(a):
    import numpy as np
    import pandas as pd

    from ..melody import write_midi

    model = _load(a)
    ev = model.sample(a.n, temperature=a.temperature, seed=a.seed)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"row": np.arange(len(ev)), "events": [e.tolist() for e in ev]}).to_parquet(out / "samples.parquet")
    for i, e in enumerate(ev):
        write_midi(e, out / f"sample_{i:03d}.mid", qpm=a.qpm)
    _write_sequence_midi(ev, out / "samples_all.mid", qpm=a.qpm)
    print(f"sampled {len(ev)} melodies from {model.cfg.name} (z ~ N(0, I), temperature {a.temperature:g}, seed "
          f"{a.seed}) -> {out}: sample_000.mid ... and samples_all.mid")


def cmd_interpolate(a):
    import pandas as pd

    from ..melody import write_midi

    if len(a.inputs) not in (2, 4):
        raise UserError(f"interpolate takes 2 or 4 MIDI files, got {len(a.inputs)}")
    for path in a.inputs:  # before the model loads; the reader's "file not found" would hide a folder or a FIFO
        p = Path(path)
        if not p.is_file():
            why = ("a folder, not a MIDI/score file" if p.is_dir() else "not a regular file (a FIFO or device)"
                   if p.exists() else "no such file" + (" (a broken or looping symbolic link)" if p.is_symlink() else ""))
            raise UserError(f"{path}: {why}")
    model = _load(a)
    for path in a.inputs:
        w = model.windows_of(path)
        if not len(w):
            reasons = ", ".join(w.rejections.get(str(path), {})) or "no window"
            raise UserError(f"{path}: no {model.cfg.bars}-bar melody window ({reasons})")
    try:
        ev = model.interpolate(*a.inputs, steps=a.steps, temperature=a.temperature)
    except ValueError as e:
        raise UserError(str(e)) from None
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    grid = len(a.inputs) == 4
    rows = [(i // a.steps, i % a.steps) if grid else (0, i) for i in range(len(ev))]
    pd.DataFrame({"row": [r for r, _ in rows], "column": [c for _, c in rows],
                  "events": [e.tolist() for e in ev]}).to_parquet(out / "interpolation.parquet")
    for (r, c), e in zip(rows, ev):
        write_midi(e, out / (f"interp_{r:02d}_{c:02d}.mid" if grid else f"interp_{c:02d}.mid"), qpm=a.qpm)
    _write_sequence_midi(ev, out / "interpolation_all.mid", qpm=a.qpm)
    shape = f"a {a.steps} x {a.steps} grid" if grid else f"{a.steps} steps"
    print(f"interpolated {shape} between {', '.join(map(str, a.inputs))} with {model.cfg.name} -> {out} "
          f"(interpolation_all.mid holds them all in order)")


def cmd_models(a):
    from ..model.checkpoint import SHIPPED, WEIGHTS_DIR, _empty_model
    from ..model.config import CONFIGS

    print("shipped models (weights inside the package):")
    for name, folder in SHIPPED.items():
        path = WEIGHTS_DIR / folder
        card = json.loads((path / "card.json").read_text()) if (path / "card.json").exists() else {}
        size = sum(f.stat().st_size for f in path.glob("*") if f.is_file()) / 2**20 if path.exists() else 0.0
        acc = card.get("recon_accuracy")
        extra = f", val. greedy accuracy {acc:.3f}" if acc is not None else ""
        print(f"  {name:22s} {card.get('config', {}).get('name', '?'):20s} {size:6.1f} MB  {path}{extra}")
    print("Magenta configs (pass their checkpoint with --checkpoint; Google's published weights):")
    for name, cfg in CONFIGS.items():
        if name.startswith("mn-"):
            continue
        n = _empty_model(cfg).n_params()
        kind = ("hierarchical encoder + " if cfg.enc_level_lengths else "") + (
            "hierarchical decoder" if cfg.hierarchical else "flat decoder")
        print(f"  {name:22s} {cfg.bars:2d} bars, z {cfg.z_size}, {kind}, {n / 1e6:.1f} M parameters")


def cmd_convert(a):
    from ..model.checkpoint import CheckpointMismatch, load_model, save_model

    from ..model.checkpoint import is_model_folder

    if is_model_folder(a.path):
        saved = json.loads((Path(a.path) / "config.json").read_text()).get("name")
        raise UserError(f"{a.path} is already a musicneurons model folder (config {saved}): nothing to convert; "
                        f"use it as it is with --checkpoint {a.path}")
    out = Path(a.output)
    if out.is_dir() and not is_model_folder(out) and any(out.iterdir()):  # a run folder, a source tree, ...
        raise UserError(f"{out}: a folder holding other files (not a model folder); convert into a new or empty one")
    try:
        model = load_model(a.config, checkpoint=a.path)
    except (CheckpointMismatch, ValueError, FileNotFoundError, KeyError) as e:
        raise UserError(str(e).strip('"')) from None
    save_model(model, a.output, metadata={"converted_from": a.path})
    print(f"{a.path} ({a.config}, {model.n_params():,} parameters) -> {a.output}")


def cmd_train(a):
    import platform

    import numpy as np

    import torch

    from ..model.config import get_config
    from ..model.train import train

    try:
        cfg = get_config(a.config)
    except KeyError as e:
        raise UserError(str(e).strip('"')) from None
    device = _device(a.device)
    if a.precision == "bf16":  # before the corpus loads
        from ..model.musicvae import require_bf16

        try:
            require_bf16(device)
        except ValueError as e:
            raise UserError(str(e)) from None
    overrides = {k: getattr(a, k) for k in ("batch_size", "free_bits", "max_beta", "beta_rate")
                 if getattr(a, k) is not None}
    if overrides:
        cfg = cfg.with_(**overrides)
    if a.curriculum_bars is not None and not (0 < a.curriculum_bars < cfg.bars):
        raise UserError(f"--curriculum-bars must be between 1 and {cfg.bars - 1} for {cfg.name}")
    from ..corpus import training_windows

    windows, sources, results = training_windows(a.corpus, cfg.bars, a.workers, _progress())
    n_distinct = int(len(np.unique(windows, axis=0)))
    print(f"{len(windows)} {cfg.bars}-bar windows ({n_distinct} distinct) from {len(set(sources))} sources "
          f"({a.corpus}; Magenta's multiset: a window in two sections of a source counts twice)")
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    final = train(cfg, windows, sources, out, steps=a.steps, seed=a.seed, checkpoint_every=a.checkpoint_every,
                  eval_every=a.eval_every, progress=_progress() or a.progress, threads=a.threads,
                  time_limit_s=a.time_limit * 60 if a.time_limit else None,
                  log=lambda m: print(m, flush=True),
                  curriculum_bars=a.curriculum_bars, curriculum_steps=a.curriculum_steps, device=device,
                  init_from=a.init_from, precision=a.precision)
    recipe = "".join(f" --{k.replace('_', '-')} {v}" for k, v in overrides.items())
    if str(device) != "cpu" or a.precision != "fp32":
        recipe += f" --device {device} --precision {a.precision}"
    if a.curriculum_bars:
        recipe += f" --curriculum-bars {a.curriculum_bars} --curriculum-steps {a.curriculum_steps}"
    if a.init_from:
        recipe += f" --init-from {a.init_from}"
    card = {
        "model": cfg.name, "config": json.loads(cfg.to_json()), "corpus": a.corpus,
        "n_windows": int(len(windows)), "n_distinct_windows": n_distinct, "n_sources": int(len(set(sources))),
        "command": f"musicneurons train --config {a.config} --corpus {a.corpus} --steps {final['step']} "
                   f"--seed {a.seed} --threads {a.threads or torch.get_num_threads()}{recipe} -o {a.output}",
        "torch": torch.__version__, "python": platform.python_version(), **final,
    }
    from ..model.card import write_card

    write_card(out, card)
    print(json.dumps(final, indent=2))
