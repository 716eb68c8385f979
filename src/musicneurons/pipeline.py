"""``reproduce``: the paper end to end, as cached stages writing to one run folder.

Stages (per model key ``2bar`` / ``16bar``): ``melodies`` -> ``random`` -> ``encode`` -> ``features`` ->
``analyze`` (which first runs ``encode_<key>_untrained``, the chance baseline: the same architecture with
Magenta's initial weights, seeded, never trained, on the same real windows); then ``report``. Each stage writes its outputs atomically and records a key (a hash of its
settings and of its inputs' keys) in ``RUN_DIR/stages/<name>.json``. A stage whose key is unchanged is
skipped, so a killed run resumes where it stopped and a changed setting recomputes only what depends on it.
Encoding writes its output in chunks, so even a run killed during encoding keeps the chunks already done.

Run folder layout::

    settings.json                         the settings and versions of the run
    stages/<stage>.json                   key, wall time, peak memory of each stage
    data/melodies_<key>.parquet           real windows (source, window, events, provenance)
    data/random_<key>.parquet             random note sequences
    latents/<key>_<real|random>.npz       mu, sigma (N, z)
    latents/<key>_untrained.npz           mu, sigma (N, z) of the untrained model on the real windows
    features/<key>_real.parquet           features per window; features/catalog.json
    analysis/summary.json                 the findings per model key
    analysis/<key>/*.csv|parquet|json     every table behind them, decoded MIDI of the interventions
    report/index.html                     the report (self-contained)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import FolderLock, atomic_write, content_digest
from .sources import display_path

MODEL_KEYS = ("2bar", "16bar")
DEFAULT_MODELS = {"2bar": "mn-mel_2bar", "16bar": "mn-mel_16bar"}


@dataclass
class Settings:
    """Everything a run depends on (``reproduce``'s options)."""

    corpus: str = "builtin"
    n_melodies: int = 50000
    per_file: int | None = 5
    n_random: int | None = None  # None: as many as real melodies
    models: dict = field(default_factory=lambda: dict(DEFAULT_MODELS))
    checkpoints: dict = field(default_factory=lambda: {"2bar": None, "16bar": None})
    keys: tuple = MODEL_KEYS
    workers: int = 1
    seed: int = 0
    feature_backend: str = "native"
    sigma_threshold: str | float = "auto"
    activation_threshold: float = 0.1
    phik_bins: int = 10
    n_intervention_melodies: int = 32
    n_traversed: int = 5
    metrics: bool = True
    device: str = "cpu"
    encode_chunk: int = 4096  # windows per encoded part file (a killed encode resumes from the last part)
    n_permutations: int = 200  # permutation null of each neuron's best-feature phik (0: no null, labels ungated)
    untrained_baseline: bool = True  # encode the real windows with the untrained architecture (chance baseline)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _listing_digest(path) -> str | None:
    """A cheap identity of a corpus folder (names, sizes and mtimes of its files; the bytes of a Lakh-size corpus
    are too many to hash on every run -- the extracted table's own content digest is checked instead)."""
    if path is None:
        return None
    p = Path(path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    return _hash([(display_path(f), f.stat().st_size, int(f.stat().st_mtime)) for f in files if f.is_file()])


def _peak_mem_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _atomic_parquet(df: pd.DataFrame, path: Path):
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def _atomic_npz(path: Path, **arrays):
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def _read_record(path: Path, log) -> dict | None:
    """A stage record, or None (with one warning line) when it is missing, unreadable or malformed."""
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
        if isinstance(rec, dict) and isinstance(rec.get("key"), str):
            return rec
    except (OSError, ValueError):
        pass
    log(f"  [warn]   {path.name}: unreadable stage record, ignored (the stage runs again)")
    return None


class Run:
    """A run folder and its stage cache."""

    def __init__(self, root, settings: Settings, log=print, lock: bool = True):
        self.root = Path(root)
        self.s = settings
        self.log = log
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = FolderLock(self.root).acquire() if lock else None  # FolderLocked if another run writes here
        for sub in ("stages", "data", "latents", "features", "analysis", "report"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.keys: dict[str, str] = {}
        self.timings: dict[str, dict] = {}
        self._models = {}
        self._model_ids = {}

    def close(self):
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # -- stage bookkeeping ------------------------------------------------------------------------------

    def stage(self, name: str, key_obj, outputs: list[Path], fn, verify: bool = True):
        """Run ``fn()`` unless the stage's key matches its record AND every output's content digest matches the
        one recorded when it was written (a truncated, replaced or missing output makes the stage run again,
        saying why). The stage's identity for later stages (``self.keys``) covers its outputs' digests."""
        key = _hash(key_obj)
        rec_path = self.root / "stages" / f"{name}.json"
        rec = _read_record(rec_path, self.log)
        why = None
        if rec is not None and rec["key"] == key:
            recorded = rec.get("outputs") or {}
            if verify:
                bad = [p.name for p in outputs if recorded.get(p.name) is None or content_digest(p) != recorded[p.name]]
            else:  # a view that is rebuilt on demand (the report): it only has to exist
                bad = [p.name for p in outputs if not p.exists()]
            if not bad:
                self.log(f"  [cached] {name}")
                self.keys[name] = _hash([key, recorded])
                self.timings[name] = {**rec, "cached": True}
                return
            why = f"output changed or missing since it was recorded: {', '.join(bad)}"
        elif rec is not None:
            why = "settings or inputs changed"
        self.log(f"  [run]    {name}")
        if why:
            self.log(f"           why: {why}")
        t0 = time.time()
        fn()
        digests = {p.name: content_digest(p) for p in outputs}
        rec = {"key": key, "outputs": digests, "seconds": round(time.time() - t0, 2),
               "peak_rss_mb": round(_peak_mem_mb(), 1)}
        atomic_write(rec_path, lambda tmp: tmp.write_text(json.dumps(rec)))
        self.keys[name] = _hash([key, digests])
        self.log(f"  [done]   {name} in {rec['seconds']:.1f} s")
        self.timings[name] = {**rec, "cached": False}

    def recorded_keys(self):
        """Fill ``self.keys`` from the stage records on disk (to re-run a later stage without the earlier ones)."""
        for rec_path in sorted((self.root / "stages").glob("*.json")):
            if rec_path.name == "timings.json":
                continue
            rec = _read_record(rec_path, self.log)
            if rec is not None:
                self.keys[rec_path.stem] = _hash([rec["key"], rec.get("outputs") or {}])
        return self.keys

    def model(self, key):
        from .model.checkpoint import load_model

        if key not in self._models:
            self._models[key] = load_model(self.s.models[key], checkpoint=self.s.checkpoints.get(key),
                                           device=self.s.device)
        return self._models[key]

    def model_id(self, key):
        if key not in self._model_ids:  # the weights' bytes: a changed checkpoint is a different model
            self._model_ids[key] = {"model": self.s.models[key], "checkpoint": str(self.s.checkpoints.get(key)),
                                    "digest": content_digest(self.s.checkpoints.get(key) or self._shipped_path(key))
                                    if (self.s.checkpoints.get(key) or self._shipped_path(key)) else None}
        return self._model_ids[key]

    def _shipped_path(self, key):
        from .model.checkpoint import SHIPPED, WEIGHTS_DIR

        name = self.s.models[key]
        return WEIGHTS_DIR / SHIPPED[name] if name in SHIPPED else None

    # -- stages -----------------------------------------------------------------------------------------

    def melodies(self, key):
        bars = 2 if key == "2bar" else 16
        out = self.root / "data" / f"melodies_{key}.parquet"
        settings = {"corpus": self.s.corpus, "bars": bars, "n": self.s.n_melodies, "per_file": self.s.per_file,
                    "seed": self.s.seed, "corpus_digest": _listing_digest(self.s.corpus) if self.s.corpus != "builtin" else "builtin-v2"}

        def run():
            from .corpus import extract_sources, sample_windows, write_rejections

            results = extract_sources([self.s.corpus], bars, self.s.workers)
            table = _sample_up_to(results, self.s.n_melodies, self.s.per_file, self.s.seed, sample_windows)
            if len(table) == 0:
                raise RuntimeError(f"{self.s.corpus}: no {bars}-bar windows")
            write_rejections(results, self.root / "data" / f"melodies_{key}.rejections.csv")
            _atomic_parquet(table, out)

        self.stage(f"melodies_{key}", settings, [out], run)
        return out

    def random(self, key):
        from .randomseq import RECIPE, random_table

        bars = 2 if key == "2bar" else 16
        out = self.root / "data" / f"random_{key}.parquet"
        n = self.s.n_random
        if n is None:
            n = len(pd.read_parquet(self.root / "data" / f"melodies_{key}.parquet", columns=["window"]))
        self.stage(f"random_{key}", {"n": n, "bars": bars, "seed": self.s.seed, "recipe": RECIPE[bars]}, [out],
                   lambda: _atomic_parquet(random_table(n, bars, self.s.seed), out))
        return out

    def encode(self, key, kind):
        from .tables import read_events

        src = self.root / "data" / f"{'melodies' if kind == 'real' else 'random'}_{key}.parquet"
        out = self.root / "latents" / f"{key}_{kind}.npz"
        up = self.keys[f"{'melodies' if kind == 'real' else 'random'}_{key}"]

        def run():
            ev = read_events(src)
            model = self.model(key)
            parts = self.root / "latents" / f"{key}_{kind}.parts"
            parts.mkdir(exist_ok=True)
            chunk = self.s.encode_chunk
            mus, sigmas = [], []
            part_key = _hash([up, self.model_id(key), self.s.device])  # parts of another model are never reused
            for stale in parts.glob("*.npz"):
                if not stale.name.startswith(part_key):
                    stale.unlink()
            for i in range(0, len(ev), chunk):
                part = parts / f"{part_key}-{i:09d}.npz"
                if not part.exists():
                    _, mu, sigma = model.encode(ev[i:i + chunk])
                    _atomic_npz(part, mu=mu, sigma=sigma)
                with np.load(part, allow_pickle=False) as f:
                    mus.append(f["mu"])
                    sigmas.append(f["sigma"])
            _atomic_npz(out, mu=np.concatenate(mus), sigma=np.concatenate(sigmas))
            for p in parts.glob("*.npz"):
                p.unlink()
            parts.rmdir()

        self.stage(f"encode_{key}_{kind}", {"input": up, "model": self.model_id(key)}, [out], run)
        return out

    def features(self, key):
        from .tables import read_events
        from .features import catalog_json, compute_features

        src = self.root / "data" / f"melodies_{key}.parquet"
        out = self.root / "features" / f"{key}_real.parquet"

        def run():
            df = compute_features(read_events(src), backend=self.s.feature_backend, workers=self.s.workers,
                                  progress=False)
            _atomic_parquet(df, out)
            (self.root / "features" / "catalog.json").write_text(catalog_json())

        self.stage(f"features_{key}", {"input": self.keys[f"melodies_{key}"], "backend": self.s.feature_backend},
                   [out], run)
        return out

    def encode_untrained(self, key):
        """The chance baseline's latents: ``MusicVAE(cfg)`` of the run's model's config with Magenta's initial
        weights (``torch.manual_seed(seed)``, never trained) on the real windows; ``latents/<key>_untrained.npz``."""
        from .tables import read_events

        src = self.root / "data" / f"melodies_{key}.parquet"
        out = self.root / "latents" / f"{key}_untrained.npz"
        cfg = self.model(key).cfg
        up = self.keys[f"melodies_{key}"]

        def run():
            import torch

            from .model.musicvae import MusicVAE

            ev = read_events(src)
            with torch.random.fork_rng(devices=[]):  # the global RNG of the caller is left as it was
                torch.manual_seed(self.s.seed)
                model = MusicVAE(cfg)  # MusicVAE.__init__ applies Magenta's initialisation
            model = model.to(self.model(key).device).eval()
            mus, sigmas = [], []
            for i in range(0, len(ev), self.s.encode_chunk):
                _, mu, sigma = model.encode(ev[i:i + self.s.encode_chunk])
                mus.append(mu)
                sigmas.append(sigma)
            _atomic_npz(out, mu=np.concatenate(mus), sigma=np.concatenate(sigmas))

        self.stage(f"encode_{key}_untrained", {"input": up, "config": json.loads(cfg.to_json()), "seed": self.s.seed,
                                               "init": "magenta", "device": self.s.device}, [out], run)
        return out

    def analyze(self, key):
        from .analysis_io import analyze_run_model

        folder = self.root / "analysis" / key
        out = folder / "summary.json"
        untrained = getattr(self.s, "untrained_baseline", True)
        if untrained:
            self.encode_untrained(key)
        else:
            (self.root / "latents" / f"{key}_untrained.npz").unlink(missing_ok=True)
        inputs = {k: self.keys.get(f"{k}") for k in (f"encode_{key}_real", f"encode_{key}_random", f"features_{key}")
                  + ((f"encode_{key}_untrained",) if untrained else ())}
        analysis_settings = {k: getattr(self.s, k) for k in ("sigma_threshold", "activation_threshold", "phik_bins",
                                                             "n_intervention_melodies", "n_traversed", "metrics", "seed",
                                                             "n_permutations")}
        self.stage(f"analyze_{key}", {"inputs": inputs, "settings": analysis_settings, "model": self.model_id(key)},
                   [out], lambda: analyze_run_model(self, key))
        return out

    def summary(self):
        summary = {}
        for key in self.s.keys:
            p = self.root / "analysis" / key / "summary.json"
            if p.exists():
                summary[key] = json.loads(p.read_text())
        text = json.dumps(summary, indent=1)
        atomic_write(self.root / "analysis" / "summary.json", lambda tmp: tmp.write_text(text))
        return summary


def _sample_up_to(results, n, per_file, seed, sample_windows):
    """N files at random x up to ``per_file`` windows, stopping at ``n`` windows (the paper's recipe)."""
    table = sample_windows(results, per_file=per_file, seed=seed)
    if len(table) <= n:
        return table
    # keep whole files in a seeded random order until n windows
    rng = np.random.default_rng(seed)
    files = table["source"].unique()
    order = files[rng.permutation(files.size)]
    counts = table.groupby("source").size().reindex(order).to_numpy()
    keep = set(order[: int(np.searchsorted(np.cumsum(counts), n, side="right"))])
    return table[table["source"].isin(keep)].head(n).reset_index(drop=True)


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("musicneurons", "torch", "numpy", "pandas", "music21", "phik", "pretty_midi", "scikit-learn",
                "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def reproduce(run_dir, settings: Settings | None = None, log=print, report: bool = True) -> dict:
    """Run every stage for every model key; returns the summary."""
    s = settings or Settings()
    run = Run(run_dir, s, log)
    try:
        return _reproduce(run, s, log, report)
    finally:
        run.close()


def _reproduce(run, s, log, report):
    text = json.dumps({"settings": asdict(s), "versions": versions()}, indent=1, default=str)
    path = run.root / "settings.json"
    if not path.exists() or path.read_text() != text:  # a finished run is not rewritten
        atomic_write(path, lambda tmp: tmp.write_text(text))
    t0 = time.time()
    for key in s.keys:
        log(f"{key}: {s.models[key]}" + (f" ({s.checkpoints[key]})" if s.checkpoints.get(key) else ""))
        run.melodies(key)
        run.random(key)
        run.encode(key, "real")
        run.encode(key, "random")
        run.features(key)
        run.analyze(key)
    summary = run.summary()
    if report:
        from .report import build_report

        run.stage("report", {"keys": dict(run.keys)}, [run.root / "report" / "index.html"],
                  lambda: build_report(run.root), verify=False)
    timings = {**run.timings, "total_seconds": round(time.time() - t0, 1)}
    atomic_write(run.root / "stages" / "timings.json", lambda tmp: tmp.write_text(json.dumps(timings, indent=1)))
    return summary
