"""The ``musicneurons`` command: a thin layer over the API (imports stay lazy so start-up is fast)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path


class UserError(Exception):
    """An error the user can fix; printed as one line, no traceback."""


_QUIET = False


def _progress() -> bool:
    """Progress bars on stderr when it is a terminal, unless ``--quiet``."""
    return sys.stderr.isatty() and not _QUIET


def _number(kind, lo=None, hi=None, lo_open=False, hi_open=False):
    """An argparse type: an int/float in a range, never NaN or infinite; the error names the range."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and (v > hi or (hi_open and v == hi))):
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            raise argparse.ArgumentTypeError(f"{text} is outside {left}{'-inf' if lo is None else lo}, "
                                             f"{'inf' if hi is None else hi}{right}")
        return v
    return parse


COUNT = _number(int, 1)  # a positive count
NONNEG = _number(int, 0)
SEED = _number(int, 0, 2**32 - 1)


def PATH(text):
    """An argparse type: a path that is not empty (``Path("")`` is the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return text


def _sigma_threshold(text):
    if text == "auto":
        return text
    return _number(float, 0.0, 1.0, lo_open=True)(text)


# -- extract / random --------------------------------------------------------------------------------------


def cmd_extract_sharded(a):
    """Folders and files through the partitioned executor (local processes or Dask); resumable."""
    from .executor import collect_extract, collect_rejections, extract_counts, make_executor, sharded_extract
    from .sources import find_files

    files = []
    for src in a.sources:
        try:
            files.extend(find_files(src))
        except FileNotFoundError as e:
            raise UserError(str(e)) from None
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(a.parts) if a.parts else out.with_name(out.name + ".parts")
    # local processes: at most one per CPU (as the unsharded path); --workers 100000 must not fork 100000
    workers = a.workers if a.scheduler or a.dask else min(a.workers, os.cpu_count() or 1)
    with make_executor(workers, a.scheduler, a.dask == "local") as ex:
        s = sharded_extract(files, a.bars, parts, ex, partition_size=a.partition_size, retries=a.retries,
                            progress=_progress())
    if s["failed"]:
        raise UserError(f"{len(s['failed'])} partition(s) failed after {a.retries} retries: see {parts / 'failed.json'}; "
                        "rerun the same command to retry them")
    table = collect_extract(parts, per_file=a.per_file, n_files=a.files, seed=a.seed)
    table.to_parquet(out, index=False)
    rej = out.with_name(out.stem + ".rejections.csv")
    collect_rejections(parts).to_csv(rej, index=False)
    c = extract_counts(parts)
    print(f"{c['n_files']} sources, {c['n_with_windows']} with windows -> {len(table)} windows of {a.bars} bars "
          f"in {out} (partitions in {parts}: {len(s['ran'])} run, {s['skipped']} already done)")
    for reason, n in sorted(c["reasons"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:7d}  {reason}")
    print(f"rejections: {rej}")


def _file_output(path, example="melodies.parquet") -> Path:
    """An output file (a table): one line before any work when it names a folder."""
    p = Path(path)
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise UserError(f"{path}: a folder; give -o a file name (e.g. {p / example})")
    return p


def cmd_extract(a):
    from collections import Counter

    from .corpus import sample_windows

    _file_output(a.output)

    if a.scheduler or a.dask or a.parts or (a.workers > 1 and "builtin" not in a.sources):
        return cmd_extract_sharded(a)
    from .corpus import extract_sources

    results = extract_sources(a.sources, a.bars, a.workers, _progress())  # a missing path: main's one line
    table = sample_windows(results, per_file=a.per_file, n_files=a.files, seed=a.seed)
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    rej = out.with_name(out.stem + ".rejections.csv")
    from .corpus import write_rejections

    write_rejections(results, rej)
    counts = Counter()
    for r in results:
        counts.update(r.reasons)
    n_ok = sum(1 for r in results if len(r.windows))
    kept = table["source"].nunique() if "source" in table and len(table) else 0
    print(f"{len(results)} sources read, {n_ok} with windows -> {len(table)} windows of {a.bars} bars from {kept} "
          f"sources in {out}" + (f" (--files {a.files}: a seeded sample of the sources)" if a.files else ""))
    if counts:
        print(f"rejections among all {len(results)} sources read (pieces or files; see {rej}):")
    for reason, n in counts.most_common():
        print(f"  {n:7d}  {reason}")


def cmd_random(a):
    from .randomseq import random_table

    _file_output(a.output, "random.parquet")

    t = random_table(a.n, a.bars, a.seed)
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    t.to_parquet(a.output, index=False)
    print(f"{len(t)} random {a.bars}-bar sequences (seed {a.seed}) -> {a.output}")


# -- model -------------------------------------------------------------------------------------------------


def _load(a, name_attr="model", ckpt_attr="checkpoint"):
    from .model.checkpoint import load_model

    name, ckpt = getattr(a, name_attr), getattr(a, ckpt_attr, None)
    if name is None and ckpt is None:
        raise UserError("say which model: --model NAME (see 'musicneurons models') or --checkpoint PATH")
    try:
        return load_model(name, checkpoint=ckpt, device=a.device)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise UserError(str(e).strip('"')) from None


from .tables import KEY_COLUMNS, TableError  # noqa: E402  (melody tables live in the library)


def read_table(path):
    """The library's :func:`musicneurons.tables.read_table`, its errors as one line."""
    from .tables import read_table as _read

    try:
        return _read(path)
    except TableError as e:
        raise UserError(str(e)) from None


def read_events(path):
    return read_table(path)[0]


def _npz_path(path) -> Path:
    """numpy adds ``.npz`` to a name without it: report the path actually written."""
    p = Path(path)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def cmd_encode(a):
    import numpy as np

    from .model.checkpoint import model_fingerprint

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
    from .tables import check_keys

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

    from .melody import write_midi
    from .model.checkpoint import model_fingerprint

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

    from .melody import write_midi

    rest = np.zeros(16 * gap_bars, np.int64)
    rest[0] = 1  # end the previous window's last note
    parts = []
    for w in windows:
        parts += [np.asarray(w, np.int64), rest]
    return write_midi(np.concatenate(parts[:-1]), path, qpm=qpm)


def cmd_sample(a):
    import numpy as np
    import pandas as pd

    from .melody import write_midi

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

    from .melody import write_midi

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
    from .model.checkpoint import SHIPPED, WEIGHTS_DIR, _empty_model
    from .model.config import CONFIGS

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
    from .model.checkpoint import CheckpointMismatch, load_model, save_model

    from .model.checkpoint import is_model_folder

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

    from .model.config import get_config
    from .model.train import train

    try:
        cfg = get_config(a.config)
    except KeyError as e:
        raise UserError(str(e).strip('"')) from None
    device = _device(a.device)
    if a.precision == "bf16":  # before the corpus loads
        from .model.musicvae import require_bf16

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
    from .corpus import training_windows

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
    from .model.card import write_card

    write_card(out, card)
    print(json.dumps(final, indent=2))


# -- features / analysis / reproduce ------------------------------------------------------------------------


def cmd_features(a):
    from .features import catalog_json, compute_features

    _file_output(a.output, "features.parquet")
    ev, keys = read_table(a.melodies)
    df = compute_features(ev, backend=a.backend, workers=a.workers, progress=_progress())
    for i, col in enumerate(c for c in ("source", "window") if c in keys):  # join back to the melody table
        df.insert(i, col, keys[col].to_numpy())
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    cat = out.with_name(out.stem + ".catalog.json")
    cat.write_text(catalog_json())
    print(f"{len(df)} windows x {df.shape[1]} features ({a.backend}) -> {out}; catalog -> {cat}")


def _settings_from_args(a):
    from .pipeline import DEFAULT_MODELS, Settings

    wanted = {k.strip() for k in a.models.split(",")}
    if not wanted <= {"2bar", "16bar"}:
        raise UserError(f"--models takes 2bar and/or 16bar, got {a.models!r}")
    keys = tuple(k for k in ("2bar", "16bar") if k in wanted)
    return Settings(
        corpus=a.corpus, n_melodies=a.n_melodies, per_file=a.per_file if a.per_file > 0 else None,
        n_random=a.n_random, models={"2bar": a.model_2bar or DEFAULT_MODELS["2bar"],
                                     "16bar": a.model_16bar or DEFAULT_MODELS["16bar"]},
        checkpoints={"2bar": a.checkpoint_2bar, "16bar": a.checkpoint_16bar}, keys=keys, workers=a.workers,
        seed=a.seed, sigma_threshold=a.sigma_threshold if a.sigma_threshold == "auto" else float(a.sigma_threshold),
        activation_threshold=a.activation_threshold, metrics=not a.no_metrics,
        n_intervention_melodies=a.n_intervention_melodies, device=_device(a.device), windows=a.windows,
        n_permutations=a.permutations, n_metric_permutations=a.metric_permutations)


def _device(name: str) -> str:
    from .model.checkpoint import resolve_device

    try:
        resolve_device(name)
    except ValueError as e:
        raise UserError(str(e)) from None
    return name


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (where a write into ``path`` would land)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _read_only(folder: Path) -> bool:
    """A folder this process cannot write into, or one nobody may (``chmod a-w``: read-only even to root)."""
    import os

    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return not os.access(folder, os.W_OK) or not mode & 0o222


def _refuse_read_only_run(root: Path):
    """One line, before any work, when the run folder (or one of its subfolders) is read-only."""
    root = Path(root)
    if not root.is_dir():
        if _read_only(_first_existing(root.parent)):
            raise UserError(f"{_first_existing(root.parent)}: read-only; choose a run folder elsewhere with -o")
        return
    try:
        subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        subs = []
    for d in (root, *subs):
        if _read_only(d):
            raise UserError(f"{d}: the run folder is read-only; copy it somewhere writable to rerun it (its report: "
                            f"'musicneurons report {root} -o DIR')")


def cmd_reproduce(a):
    from .pipeline import reproduce

    if a.corpus != "builtin" and not Path(a.corpus).exists():
        raise UserError(f"{a.corpus}: no such file or folder")
    _refuse_read_only_run(Path(a.output))
    from .fileio import FolderLocked

    s = _settings_from_args(a)
    from .model.checkpoint import SHIPPED

    for key in s.keys:  # before any work: a model that cannot load is one line, not a failure after extraction
        if s.checkpoints.get(key) is None and s.models[key] not in SHIPPED:
            raise UserError(f"--model-{key} {s.models[key]!r} is not a shipped model ({', '.join(SHIPPED)}); "
                            f"a Magenta config needs --checkpoint-{key} PATH")
        if s.checkpoints.get(key) is not None and not Path(s.checkpoints[key]).exists():
            raise UserError(f"--checkpoint-{key} {s.checkpoints[key]}: no such file or folder")
    try:
        summary = reproduce(a.output, s, log=lambda m: print(m, flush=True))
    except FolderLocked as e:
        raise UserError(str(e)) from None
    print_findings(summary)
    from .run_folder import RunFolder

    print(f"report: {RunFolder(a.output).report_file}")


def cmd_analyze(a):
    from .fileio import FolderLocked
    from .pipeline import Run, Settings
    from .run_folder import RunFolder, stage_name

    folder = RunFolder(a.run_dir)
    s = Settings.from_dict(folder.read_settings(), str(folder.settings_file))  # NotARunFolder/ValueError: one line
    _refuse_read_only_run(folder.root)
    try:
        run = Run(folder.root, s)
    except FolderLocked as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"{folder.root}: cannot write to the run folder ({e.strerror}); copy it somewhere "
                        "writable") from None
    try:
        run.recorded_keys()
        for key in s.keys:
            if a.force:
                folder.stage_record(stage_name("analyze", key)).unlink(missing_ok=True)
            run.analyze(key)
        print_findings(run.summary())
    finally:
        run.close()


def cmd_report(a):
    import os

    from .report import build_report
    from .run_folder import RunFolder

    folder = RunFolder(a.run_dir)
    if not folder.summary_file.exists():
        raise UserError(f"{folder.root}: no analysis/summary.json; run 'musicneurons reproduce -o {folder.root}' first")
    target = Path(a.output) if a.output else folder.report_file
    if a.output and (target.is_dir() or a.output.endswith(("/", os.sep))):  # -o DIR: DIR/index.html
        target = target / "index.html"
    if target.exists() and not target.is_file():
        raise UserError(f"{target}: not a regular file; give -o a file name (FILE.html) or a folder")
    where = _first_existing(target.parent)
    if not where.is_dir():
        raise UserError(f"{where}: not a folder; cannot write {target}")
    if _read_only(where):
        raise UserError(f"{where}: not writable (a read-only run?); write the report elsewhere with -o FILE.html or "
                        "-o DIR")
    print(f"report: {build_report(folder.root, target)}")


def cmd_explore(a):
    from .explore import NotARunError, serve

    try:
        serve(a.run_dir, host=a.host, port=a.port, open_browser=a.open, device=_device(a.device), threads=a.threads)
    except NotARunError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot listen on {a.host}:{a.port} ({e.strerror or e}); pick another --port (or "
                        "--host)") from None


def print_findings(summary: dict):
    for key, s in summary.items():
        act = s.get("activation") or {}
        abl = s.get("ablation") or {}
        health = s.get("health") or {}
        base = s.get("baselines") or {}
        perm, untr, trained = base.get("permutation") or {}, base.get("untrained") or {}, base.get("trained") or {}
        top = s.get("music_neurons", [])[:5]
        groups = s.get("bootstrap_groups")
        print(f"\n{key} ({s.get('model')}): {s['n_music_neurons']} music neurons "
              f"(mean sigma < {s['sigma_threshold']:.3f}, {s.get('sigma_threshold_rule')}; 95% CI {s.get('n_music_neurons_ci')}"
              + (f", cluster bootstrap over {groups} files" if groups else "") + ")")
        band = (s.get("sensitivity") or {}).get("band") or {}
        if band:
            print("  sensitivity: threshold x" + ", x".join(f"{k}: {v['n_music']}" for k, v in sorted(
                band.items(), key=lambda kv: float(kv[0]))))
        if s.get("n_leaky_neurons") is not None:
            share = (s.get("kl_share") or {}).get("leaky")
            print(f"  non-music dims: {s.get('n_noise_neurons')} noise (Burda-inactive), {s['n_leaky_neurons']} leaky "
                  f"(Burda-active)" + (f" holding {share * 100:.0f} % of the KL" if share is not None else ""))
        aw = s.get("analysed_windows") or {}
        if aw.get("n_in_training") is not None:
            print(f"  analysed windows: {aw['n_in_training']} from sources the model was trained on, {aw['n_held_out']} "
                  f"held out (--windows {aw.get('setting')})")
        ho = (s.get("held_out") or {}).get("held_out")
        if ho:
            hh = ho.get("health") or {}
            t1 = (ho.get("top") or [{}])[0]
            print(f"  held-out windows only ({ho.get('n_windows')} from {ho.get('n_sources')} sources): "
                  f"{ho.get('n_music_neurons')} music neurons (95% CI {ho.get('n_music_neurons_ci')}); health "
                  f"{'passes' if hh.get('passes') else 'fails'} (accuracy {hh.get('recon_accuracy') or 0:.3f} vs "
                  f"always-hold {hh.get('always_hold_accuracy') or 0:.3f}); rank 1 dim {t1.get('latent_index')} "
                  f"{t1.get('top_feature')} (phik {t1.get('top_phik') or 0:.2f})")
        if health:
            verdict = "passes" if health.get("passes") else "FAILS: " + "; ".join(health.get("failures") or [])
            print(f"  health ({health.get('n_windows')} windows): greedy accuracy {health.get('recon_accuracy', 0):.3f} "
                  f"vs always-hold {health.get('always_hold_accuracy', 0):.3f}; sigma gap "
                  f"{'yes' if health.get('sigma_gap_found') else 'no'}; zeroing noise changes "
                  f"{(health.get('noise_zeroing_changed_steps') or 0) * 100:.1f} % of steps -> {verdict}"
                  + ("" if health.get("passes") else " (no paper verdicts for this model)"))
        for n in top:
            label = n["category"] if n.get("clears_null") is not False else "below chance"
            null = f", null q99 {n['top_phik_null_q99']:.2f}" if n.get("top_phik_null_q99") is not None else ""
            stab = (f"  [rank {n['rank_lo']}-{n['rank_hi']}, {n.get('p_same_rank', 0) * 100:.0f} % here]"
                    if n.get("rank_lo") is not None else "")
            print(f"  rank {n['rank']:2d}  dim {n['latent_index']:3d}  var(mu) {n['var_mu']:.3f}  "
                  f"sigma {n['mean_sigma']:.3f}  top {n['top_feature']} ({label}, phik {n['top_phik'] or 0:.2f}{null})"
                  + stab)
        sig = s.get("significance") or {}
        if sig.get("share_bonferroni") is not None:
            print(f"  significance: {sig['share_bonferroni']:.0%} of {sig['n_cells']} neuron x feature cells pass "
                  f"Bonferroni, {sig['share_bh']:.0%} BH (alpha {sig['alpha']:g}); labels use the permutation null")
        if perm:
            judged = [n for n in s.get("music_neurons", []) if n.get("clears_null") is not None]
            print(f"  permutation null ({perm.get('n_permutations')} shuffles): best-phik q99 median "
                  f"{perm.get('best_phik_q99') or 0:.2f}; {sum(bool(n['clears_null']) for n in judged)} of "
                  f"{len(judged)} neurons clear it")
            rj = [n for n in s.get("music_neurons", []) if n.get("clears_spearman_null") is not None]
            if rj:
                print(f"    same shuffles, best |Spearman rho| q99 median {perm.get('best_abs_spearman_q99') or 0:.3f} vs "
                      f"trained {trained.get('median_best_abs_spearman') or 0:.3f}; "
                      f"{sum(bool(n['clears_spearman_null']) for n in rj)} of {len(rj)} neurons clear it")
        tm, um, mn = trained.get("metrics") or {}, untr.get("metrics") or {}, (base.get("metrics_null") or {})
        if tm:
            def mval(d, k):
                return "-" if d.get(k) is None else f"{d[k]:.3f}"

            nm = mn.get("max") or {}
            print("  metrics, trained / untrained / shuffled features"
                  + (f" (max of {mn.get('n_permutations')})" if mn else "") + ": "
                  + ", ".join(f"{k} {mval(tm, k)} / {mval(um, k)} / {mval(nm, k)}"
                              for k in ("mig", "sap", "dci_disentanglement", "dci_informativeness", "interpretability")))
        if untr:
            k = next((k for k in untr if k.startswith("n_best_phik_ge_")), None)
            print(f"  untrained baseline (top {untr.get('n_top')} dims each): median best phik "
                  f"{untr.get('median_best_phik_top') or 0:.2f} ({untr.get(k)} >= {k.rsplit('_', 1)[-1] if k else '?'})"
                  f" vs trained {trained.get('median_best_phik_top') or 0:.2f} ({trained.get(k)}); untrained music "
                  f"neurons by the same rule: {untr.get('n_music_neurons')} ({untr.get('sigma_threshold_rule')})")
        tnull = (s.get("interventions") or {}).get("traversal_null")
        if tnull:
            top = [t for t in (s["interventions"].get("traversal_top_moved") or []) if t.get("clears_null") is not None]
            print(f"  traversals: {sum(bool(t['clears_null']) for t in top)} of {len(top)} traversed neurons move their "
                  f"top feature more than {len(tnull['dims'])} {tnull.get('kind')} dims swept over the prior's range "
                  f"(null max effect {tnull.get('max_effect') or 0:.2f})")
        if act.get("auc") is not None:
            cut = (f"; cut <= {act['noise_count_cut']:g}" if act.get("noise_count_cut") is not None
                   and act["auc"] >= 0.5 else "")
            print(f"  activated noise neurons: real {act['activated_noise_real_mean']:.1f}, random "
                  f"{act['activated_noise_random_mean']:.1f}; music: real {act['activated_music_real_mean']:.1f}, "
                  f"random {act['activated_music_random_mean']:.1f}; detector AUC {act['auc']:.3f}{cut}")
            bc = act.get("by_class")
            if bc:
                parts = [f"{c} real {bc[r][c]['real_mean']:.1f} / random {bc[r][c]['random_mean']:.1f}"
                         for r in ("fixed", "spread_scaled") for c in ("noise", "leaky")]
                thr = ((s.get("settings") or {}).get("activation") or {}).get("activation_threshold")
                print(f"    by class, |mu| > {thr}: {parts[0]}, {parts[1]}; "
                      f"outside 2 sd of real: {parts[2]}, {parts[3]}")
        if abl.get("recon_accuracy_full") is not None:
            print(f"  reconstruction accuracy: full {abl['recon_accuracy_full']:.3f}, noise neurons zeroed "
                  f"{abl['recon_accuracy_noise_zeroed']:.3f}")


# -- parser ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = Parser(prog="musicneurons", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"musicneurons {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    s = sub.add_parser("extract", help="MIDI/ABC/MusicXML files or folders (or 'builtin') -> melody windows")
    s.add_argument("sources", type=PATH, nargs="+", help="files, folders (searched recursively) or 'builtin'")
    s.add_argument("--bars", type=int, choices=(2, 16), default=2)
    s.add_argument("-o", "--output", type=PATH, required=True, help="output Parquet table")
    s.add_argument("--per-file", type=NONNEG, default=None, help="keep at most K windows per file (seeded; 0 = all)")
    s.add_argument("--files", type=COUNT, default=None, help="sample N files at random (seeded)")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--workers", type=COUNT, default=1, help="local worker processes (or Dask workers with --dask local)")
    s.add_argument("--scheduler", default=None, help="a Dask scheduler address, e.g. tcp://HOST:8786")
    s.add_argument("--dask", choices=("local",), default=None, help="run on a dask.distributed.LocalCluster")
    s.add_argument("--parts", type=PATH, default=None, help="partition folder (default OUTPUT.parts); a rerun skips done parts")
    s.add_argument("--partition-size", type=COUNT, default=256, help="files per partition")
    s.add_argument("--retries", type=NONNEG, default=2, help="retries of a failed partition before it is reported")
    s.set_defaults(fn=cmd_extract)

    s = sub.add_parser("random", help="the paper's random note sequences")
    s.add_argument("--n", type=COUNT, default=50000)
    s.add_argument("--bars", type=int, choices=(2, 16), default=2)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.set_defaults(fn=cmd_random)

    for name, fn, helptext in (("encode", cmd_encode, "melody table -> latents.npz (mu, sigma)"),
                               ("decode", cmd_decode, "latents.npz -> decoded.parquet + MIDI files")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("melodies" if name == "encode" else "latents", type=PATH)
        s.add_argument("--model", default=None, help="shipped model name or Magenta config name")
        s.add_argument("--checkpoint", type=PATH, default=None, help="our folder, a Magenta TF checkpoint/.tar, or a magenta.js folder")
        s.add_argument("-o", "--output", type=PATH, required=True)
        s.add_argument("--device", default="cpu")
        s.add_argument("--seed", type=SEED, default=0)
        s.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                       help="fp32 = Magenta's numbers exactly; bf16 = about 2x faster on CPUs with AVX512-BF16, mu off by ~0.3%% of its spread")
        if name == "encode":
            s.add_argument("--batch-size", type=COUNT, default=512)
            s.add_argument("--z", action="store_true", help="also store a sample z = mu + sigma * eps")
        else:
            s.add_argument("--temperature", type=_number(float, 0.0), default=0.0, help="0 = greedy argmax")
        s.set_defaults(fn=fn)

    s = sub.add_parser("convert", help="a Magenta checkpoint (TF or magenta.js) -> our safetensors folder")
    s.add_argument("path", type=PATH)
    s.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_big")
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.set_defaults(fn=cmd_convert)

    s = sub.add_parser("sample", help="decode N draws z ~ N(0, I) into MIDI (Magenta's --mode sample)")
    s.add_argument("--model", default=None, help="shipped model name (see 'musicneurons models') or Magenta config")
    s.add_argument("--checkpoint", type=PATH, default=None)
    s.add_argument("--n", type=COUNT, default=8)
    s.add_argument("--temperature", type=_number(float, 0.0), default=0.5, help="0 = greedy argmax")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--qpm", type=_number(float, 1.0, 1000.0), default=120.0, help="tempo of the MIDI files")
    s.add_argument("--device", default="cpu")
    s.add_argument("-o", "--output", type=PATH, required=True, help="output folder")
    s.set_defaults(fn=cmd_sample)

    s = sub.add_parser("interpolate", help="A.mid B.mid [C.mid D.mid] -> the melodies between them (slerp / 2-D grid)")
    s.add_argument("inputs", type=PATH, nargs="+", help="2 MIDI/score files (a line) or 4 (a grid, corners A B / C D)")
    s.add_argument("--model", default=None, help="shipped model name or Magenta config")
    s.add_argument("--checkpoint", type=PATH, default=None)
    s.add_argument("--steps", type=_number(int, 2, 64), default=11, help="points per line (a grid is steps x steps)")
    s.add_argument("--temperature", type=_number(float, 0.0), default=0.0, help="0 = greedy argmax")
    s.add_argument("--qpm", type=_number(float, 1.0, 1000.0), default=120.0, help="tempo of the MIDI files")
    s.add_argument("--device", default="cpu")
    s.add_argument("-o", "--output", type=PATH, required=True, help="output folder")
    s.set_defaults(fn=cmd_interpolate)

    s = sub.add_parser("models", help="the shipped models and Magenta's configs")
    s.set_defaults(fn=cmd_models)

    s = sub.add_parser("train", help="train a MusicVAE with Magenta's recipe")
    s.add_argument("--config", required=True)
    s.add_argument("--corpus", type=PATH, default="builtin", help="'builtin' or a folder of MIDI/ABC/MusicXML")
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.add_argument("--steps", type=COUNT, default=5000)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--batch-size", type=COUNT, default=None)
    s.add_argument("--free-bits", type=_number(float, 0.0), default=None, help="override the config's free bits (KL budget, bits)")
    s.add_argument("--max-beta", type=_number(float, 0.0), default=None, help="override the config's max KL weight")
    s.add_argument("--beta-rate", type=_number(float, 0.0, 1.0), default=None, help="beta(step) = (1 - rate^step) * max_beta")
    s.add_argument("--curriculum-bars", type=COUNT, default=None,
                   help="hierarchical models: first train on random crops of this many bars")
    s.add_argument("--curriculum-steps", type=NONNEG, default=0, help="steps of the curriculum")
    s.add_argument("--init-from", type=PATH, default=None,
                   help="start from this model folder's weights (same architecture; schedules continue at its step)")
    s.add_argument("--threads", type=COUNT, default=None)
    s.add_argument("--workers", type=COUNT, default=1)
    s.add_argument("--checkpoint-every", type=COUNT, default=200)
    s.add_argument("--eval-every", type=COUNT, default=500)
    s.add_argument("--time-limit", type=_number(float, 0.0, lo_open=True), default=None, help="minutes; stop (and checkpoint) after this")
    s.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    s.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: bfloat16 autocast (the GPU recipe; needs native bf16 matmuls)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("features", help="melody table -> symbolic features per window")
    s.add_argument("melodies", type=PATH)
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.add_argument("--backend", choices=("native", "music21"), default="native")
    s.add_argument("--workers", type=COUNT, default=1)
    s.set_defaults(fn=cmd_features)

    s = sub.add_parser("reproduce", help="the paper end to end: extract, random, encode, features, analyze, report")
    s.add_argument("-o", "--output", type=PATH, default="runs/default", help="run folder (resumes if it exists)")
    s.add_argument("--corpus", type=PATH, default="builtin", help="'builtin' or a folder of MIDI/ABC/MusicXML (e.g. lmd_full)")
    s.add_argument("--n-melodies", type=COUNT, default=50000, help="at most this many real windows per model")
    s.add_argument("--per-file", type=NONNEG, default=5, help="at most K windows per file (0 = all)")
    s.add_argument("--n-random", type=COUNT, default=None, help="random sequences (default: as many as real)")
    s.add_argument("--models", default="2bar,16bar", help="which model keys to run")
    s.add_argument("--model-2bar", default=None, help="shipped name or Magenta config (default mn-mel_2bar)")
    s.add_argument("--checkpoint-2bar", type=PATH, default=None)
    s.add_argument("--model-16bar", default=None, help="shipped name or Magenta config (default mn-mel_16bar)")
    s.add_argument("--checkpoint-16bar", type=PATH, default=None)
    s.add_argument("--sigma-threshold", type=_sigma_threshold, default="auto", help="'auto' (gap of the sigma distribution) or a number")
    s.add_argument("--activation-threshold", type=_number(float, 0.0, lo_open=True), default=0.1, help="|mu| above which a dim is activated")
    s.add_argument("--n-intervention-melodies", type=COUNT, default=32)
    s.add_argument("--windows", choices=("all", "held_out"), default="all",
                   help="all windows (as the paper), or only those of sources the model was not trained on")
    s.add_argument("--no-metrics", action="store_true", help="skip the disentanglement metrics")
    s.add_argument("--permutations", type=NONNEG, default=200,
                   help="shuffles of the features for each neuron's phik / Spearman null (0: none, labels ungated)")
    s.add_argument("--metric-permutations", type=NONNEG, default=1,
                   help="shuffles for the disentanglement metrics' null (each is one full metrics pass; 0: none)")
    s.add_argument("--workers", type=COUNT, default=1)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (the models' device)")
    s.set_defaults(fn=cmd_reproduce)

    s = sub.add_parser("analyze", help="re-run the analysis of a run folder (cached when nothing changed)")
    s.add_argument("run_dir", type=PATH)
    s.add_argument("--force", action="store_true", help="recompute even when the cached analysis is up to date")
    s.set_defaults(fn=cmd_analyze)

    s = sub.add_parser("report", help="rebuild RUN_DIR/report/index.html from a run folder (no recomputation)")
    s.add_argument("run_dir", type=PATH)
    s.add_argument("-o", "--output", type=PATH, default=None,
                   help="write the report to this file, or DIR/index.html for a folder (e.g. for a read-only run)")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("explore", help="a local web app on a run folder: move its music neurons, see and hear the decode")
    s.add_argument("run_dir", type=PATH)
    s.add_argument("--port", type=_number(int, 0, 65535), default=8765, help="0 = any free port")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    s.add_argument("--open", action="store_true", help="open the page in the web browser")
    s.add_argument("--threads", type=COUNT, default=1, help="torch threads (one window decodes fastest on one)")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    s.set_defaults(fn=cmd_explore)
    return p


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``musicneurons CMD: error: ...``, exit 2) instead of usage + error; a file
    name starting with '-' (argparse reads ``-odd.mid`` as ``-o dd.mid``) is an error, or a hint in one, saying
    to put it after ``--``."""

    _args: list = []

    def parse_known_args(self, args=None, namespace=None):
        import os

        self._args = list(sys.argv[1:] if args is None else args)
        if self._subparsers is None:  # a command's own parser: every option it takes is known here
            taken = [x for x in self._dashed() if os.path.exists(x)]
            if taken:
                self.error(f"{taken[0]}: a file name starting with '-' is read as options")
        return super().parse_known_args(args, namespace)

    def _dashed(self) -> list:
        """Arguments before any ``--`` that look like file names starting with '-' rather than options."""
        def number(x):
            try:
                return float(x) == float(x)
            except ValueError:
                return False

        before = self._args[:self._args.index("--")] if "--" in self._args else self._args
        return [x for x in before if x.startswith("-") and x != "-" and not number(x)
                and x.split("=", 1)[0] not in self._option_string_actions and ("." in x or "/" in x)]

    def error(self, message):
        hint = ""
        after = self._args[self._args.index("--") + 1:] if "--" in self._args else []
        if any(x.split("=", 1)[0] in self._option_string_actions for x in after):
            hint = "; everything after '--' is read as a file name: put the options before it"
        elif self._dashed():
            x = self._dashed()[0]
            hint = (("; put it" if message.startswith(x) else f"; if {x} is a file, put it")
                    + f" after '--', at the end ({self.prog} ... -- {x}), or write ./{x}")
        self.exit(2, f"{self.prog}: error: {message}{hint} (see '{self.prog} --help')\n")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def main(argv=None) -> int:
    global _QUIET
    args = build_parser().parse_args(argv)
    _QUIET = args.quiet
    try:
        args.fn(args)
    except UserError as e:
        print(f"musicneurons {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output path that is a file/folder/read-only, a missing input: one line
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        why = e.strerror or e
        if isinstance(e, FileExistsError) and e.filename and not Path(e.filename).is_dir():  # mkdir on a non-folder
            why = "a file, not a folder" if Path(e.filename).is_file() else "not a folder (a FIFO or device)"
        print(f"musicneurons {args.command}: error: {where}{why}", file=sys.stderr)
        return 2
    except UnicodeError as e:  # a file name that is not UTF-8 (pyarrow, JSON and HTML take UTF-8 only)
        names = [x for x in (sys.argv[1:] if argv is None else argv) if not _utf8(str(x))]
        where = f"{ascii(names[0])[1:-1]}: " if names else ""
        print(f"musicneurons {args.command}: error: {where}a file name that is not valid UTF-8 ({e.reason}); "
              "rename it", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"musicneurons {args.command}: error: out of memory; ask for less (fewer windows/samples)",
              file=sys.stderr)
        return 2
    except ValueError as e:  # the library's checks (unknown model, bad checkpoint or settings, ...) say what is wrong
        print(f"musicneurons {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
