"""``reproduce``: the paper end to end, as cached stages writing to one run folder.

Stages (per model key ``2bar`` / ``16bar``): ``melodies`` -> ``random`` -> ``encode`` -> ``features`` ->
``analyze`` (which first runs ``encode_<key>_untrained``, the chance baseline: the same architecture with
Magenta's initial weights, seeded, never trained, on the same real windows); then ``report``. Each stage writes its outputs atomically and records a key (a hash of its
settings and of its inputs' keys) in ``RUN_DIR/stages/<name>.json``. A stage whose key is unchanged is
skipped, so a killed run resumes where it stopped and a changed setting recomputes only what depends on it.
Encoding writes its output in chunks, so even a run killed during encoding keeps the chunks already done.

The run folder's layout is :class:`musicneurons.run_folder.RunFolder`'s (one home for every path).
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import FolderLock, atomic_write, content_digest
from .run_folder import MODEL_KEYS as _BARS, RunFolder, bars_of, stage_name
from .sources import display_path

MODEL_KEYS = tuple(_BARS)
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
    n_metric_permutations: int = 1  # shuffles for the disentanglement metrics' null (each one full metrics pass)
    untrained_baseline: bool = True  # encode the real windows with the untrained architecture (chance baseline)
    windows: str = "all"  # "held_out": analyse only sources the model was not trained on (needs its card's split)

    @classmethod
    def from_dict(cls, saved: dict, source: str = "settings") -> "Settings":
        """Settings from a saved dict (unknown names ignored), checked: :meth:`validate`."""
        if not isinstance(saved, dict):
            raise ValueError(f"{source}: settings must be an object, not {type(saved).__name__}")
        s = cls(**{k: v for k, v in saved.items() if k in cls.__dataclass_fields__})
        if isinstance(s.keys, list):
            s.keys = tuple(s.keys)
        return s.validate(source)

    def validate(self, source: str = "settings") -> "Settings":
        """Raise ``ValueError`` naming ``source`` and the setting when one has the wrong type or range."""
        def bad(name, want):
            raise ValueError(f"{source}: {name} = {getattr(self, name)!r} is not {want}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        for name, lo in (("n_melodies", 1), ("workers", 1), ("seed", 0), ("phik_bins", 2), ("encode_chunk", 1),
                         ("n_intervention_melodies", 0), ("n_traversed", 0), ("n_permutations", 0),
                         ("n_metric_permutations", 0)):
            if not is_int(getattr(self, name)) or getattr(self, name) < lo:
                bad(name, f"an integer >= {lo}")
        for name in ("per_file", "n_random"):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v < 1):
                bad(name, "a positive integer or null")
        for name in ("metrics", "untrained_baseline"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "true or false")
        if self.windows not in ("all", "held_out"):
            bad("windows", "'all' or 'held_out'")
        for name in ("corpus", "feature_backend", "device"):
            if not isinstance(getattr(self, name), str):
                bad(name, "a string")
        if not isinstance(self.activation_threshold, (int, float)) or not 0 <= self.activation_threshold:
            bad("activation_threshold", "a number >= 0")
        st = self.sigma_threshold
        if st != "auto" and (not isinstance(st, (int, float)) or isinstance(st, bool) or not 0 < st <= 1):
            bad("sigma_threshold", "'auto' or a number in (0, 1]")
        if not isinstance(self.keys, tuple) or not self.keys or any(k not in MODEL_KEYS for k in self.keys):
            bad("keys", f"a non-empty list of {', '.join(MODEL_KEYS)}")
        for name in ("models", "checkpoints"):
            d = getattr(self, name)
            if not isinstance(d, dict) or any(not isinstance(v, (str, type(None))) for v in d.values()):
                bad(name, "an object of model key -> name")
        if any(not isinstance(self.models.get(k), str) for k in self.keys):
            bad("models", f"naming a model for each of {', '.join(self.keys)}")
        return self


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


#: the package's source files each stage's results depend on: their bytes enter the stage key, so a cached
#: result is reused only when the code that would recompute it is the code that made it
STAGE_CODE = {
    "melodies": ("extract.py", "noteseq.py", "sources.py", "midi_reader.py", "corpus.py", "melody.py", "data",
                 "executor/extract_shards.py", "executor/partitions.py"),
    "random": ("randomseq.py", "melody.py"),
    "encode": ("model/musicvae.py", "model/config.py", "model/checkpoint.py",
               "executor/encode_shards.py", "executor/rows.py", "executor/partitions.py"),
    "features": ("features", "executor/features_shards.py", "executor/rows.py", "executor/partitions.py"),
    "analyze": ("analysis", "analysis_io.py", "model/health.py", "model/musicvae.py"),
    "report": ("report",),
}


@functools.lru_cache(maxsize=None)  # the installed files do not change while a run is in progress
def code_digest(kind: str) -> str:
    """sha256 (16 hex) of the package files a stage kind depends on (:data:`STAGE_CODE`)."""
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for rel in STAGE_CODE[kind]:
        p = pkg / rel
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".py", ".parquet")) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(pkg)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


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
        self.folder = RunFolder(root)
        self.root = self.folder.root
        self.s = settings
        self.log = log
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = FolderLock(self.root).acquire() if lock else None  # FolderLocked if another run writes here
        self.folder.make()
        self.keys: dict[str, str] = {}
        self.timings: dict[str, dict] = {}
        self._models = {}
        self._model_ids = {}
        self._executor = None

    def close(self):
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # -- stage bookkeeping ------------------------------------------------------------------------------

    @staticmethod
    def stage_key(name: str, key_obj) -> str:
        """The key a stage records: its settings and inputs (``key_obj``) and, for the stages in ``STAGE_CODE``,
        a digest of the code that computes it."""
        kind = name.split("_")[0]
        if kind in STAGE_CODE:
            key_obj = {"stage": key_obj, "code": code_digest(kind)}
        return _hash(key_obj)

    def stage(self, name: str, key_obj, outputs: list[Path], fn, verify: bool = True):
        """Run ``fn()`` unless the stage's key matches its record AND every output's content digest matches the
        one recorded when it was written (a truncated, replaced or missing output makes the stage run again,
        saying why). The stage's identity for later stages (``self.keys``) covers its outputs' digests."""
        key = self.stage_key(name, key_obj)
        rec_path = self.folder.stage_record(name)
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
            why = "settings, inputs or the code that computes it changed"
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

    def recorded_keys(self, verify: bool = True):
        """Fill ``self.keys`` from the stage records on disk (to re-run a later stage without the earlier ones).

        With ``verify``, every recorded output of the computing stages (not ``analyze_*``, which checks its own,
        nor the report) must still have the digest recorded when it was written: a replaced, truncated or
        missing input raises ``ValueError`` naming it, instead of being analysed."""
        changed = []
        for name, rec in self.folder.stage_records().items():
            outputs = rec.get("outputs") or {}
            if verify and not name.startswith(("analyze_", "report")) and isinstance(outputs, dict):
                for fname, digest in outputs.items():
                    p = self.folder.stage_output(name, fname)
                    if not p.is_file() or content_digest(p) != digest:
                        changed.append(str(p.relative_to(self.root)))
            self.keys[name] = _hash([rec["key"], outputs])
        if changed:
            raise ValueError(f"{self.root}: {', '.join(changed)} changed or missing since the run wrote it; "
                             f"rerun 'musicneurons reproduce -o {self.root}' with the run's settings to recompute it")
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

    def executor(self):
        """The run's one executor (``settings.workers`` local processes) for extraction, encoding and features."""
        if self._executor is None:
            from .executor import make_executor

            self._executor = make_executor(self.s.workers)
        return self._executor

    def _fresh_parts(self, parts_root: Path, key: str) -> Path:
        """``parts_root/<key>``: the partitions of this exact computation; those of any other are deleted (a
        killed stage resumes from its own partitions, never from another model's or corpus')."""
        import shutil

        if parts_root.is_dir():
            for stale in parts_root.iterdir():
                if stale.name != key:
                    shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        return parts_root / key

    @staticmethod
    def _check_partitions(summary: dict, what: str):
        if summary["failed"]:
            pid, error = sorted(summary["failed"].items())[0]
            raise ValueError(f"{what}: {len(summary['failed'])} partition(s) failed after retries (first: partition "
                             f"{pid}: {error}); see {summary['out_dir']}/failed.json, rerun to retry")

    def model_card(self, key) -> dict | None:
        """The card of the run's model (shipped, or ``card.json`` in a checkpoint folder), or None."""
        from .model.card import read_card

        ckpt = self.s.checkpoints.get(key)
        if ckpt is not None:
            return read_card(ckpt) if Path(ckpt).is_dir() else None
        shipped = self._shipped_path(key)
        return read_card(shipped) if shipped is not None else None

    def melodies(self, key):
        bars = bars_of(key)
        out = self.folder.melodies(key)
        settings = {"corpus": self.s.corpus, "bars": bars, "n": self.s.n_melodies, "per_file": self.s.per_file,
                    "seed": self.s.seed, "corpus_digest": _listing_digest(self.s.corpus) if self.s.corpus != "builtin" else "builtin-v2"}
        if self.s.windows != "all":
            settings["windows"] = self.s.windows
        stage = stage_name("melodies", key)
        card = self.model_card(key)
        if card is not None:
            settings["model_card_split"] = [card.get("corpus"), card.get("seed"), card.get("n_val_sources")]

        def sampler(results):
            from .corpus import sample_windows
            from .model.train import training_sources

            trained_on = training_sources(card, self.s.corpus, [r.source for r in results if len(r.windows)])
            if self.s.windows == "held_out":
                if trained_on is None:
                    raise ValueError(f"windows='held_out': the {key} model's training split cannot be recomputed "
                                     f"(its card does not record one on corpus {self.s.corpus!r}); use windows='all'")
                results = [r for r in results if r.source not in trained_on]
            table = _sample_up_to(results, self.s.n_melodies, self.s.per_file, self.s.seed, sample_windows)
            table["in_training"] = (table["source"].astype(str).isin(trained_on) if trained_on is not None
                                    else pd.Series(pd.NA, index=table.index, dtype="boolean"))
            return table

        def run():
            import shutil

            from .corpus import extract_builtin, write_rejections

            if self.s.corpus == "builtin":  # parsed notes shipped with the package: no files to partition
                results = extract_builtin(bars, progress=False)
                table = sampler(results)
                write_rejections(results, self.folder.rejections(key))
                parts_root = None
            else:
                from .executor import collect_extract, collect_rejections, sharded_extract
                from .sources import find_files

                parts_root = self.folder.root / "data" / f"melodies_{key}.parts"
                parts = self._fresh_parts(parts_root, _hash(settings))
                summary = sharded_extract(find_files(self.s.corpus), bars, parts, self.executor(), progress=False)
                self._check_partitions(summary, f"{stage} of {self.s.corpus}")
                flags = {}

                def sampler_keep(stubs):  # collect_extract reads the chosen rows; the flag joins back after
                    chosen = sampler(stubs)
                    flags.update(zip(zip(chosen["source"], chosen["window"]), chosen["in_training"]))
                    return chosen

                table = collect_extract(parts, sampler=sampler_keep)
                table["in_training"] = pd.array([flags.get((a, b)) for a, b in zip(table["source"], table["window"])],
                                                dtype="boolean")
                rej = collect_rejections(parts)
                atomic_write(self.folder.rejections(key), lambda tmp: rej.to_csv(tmp, index=False))
            if len(table) == 0:
                raise ValueError(f"{self.s.corpus}: no {bars}-bar windows")
            _atomic_parquet(table, out)
            if parts_root is not None:
                shutil.rmtree(parts_root)

        self.stage(stage, settings, [out], run)
        return out

    def random(self, key):
        from .randomseq import RECIPE, random_table

        bars = bars_of(key)
        out = self.folder.random(key)
        n = self.s.n_random
        if n is None:
            n = len(pd.read_parquet(self.folder.melodies(key), columns=["window"]))
        self.stage(stage_name("random", key), {"n": n, "bars": bars, "seed": self.s.seed, "recipe": RECIPE[bars]}, [out],
                   lambda: _atomic_parquet(random_table(n, bars, self.s.seed), out))
        return out

    def encode(self, key, kind):
        src = self.folder.inputs(key, kind)
        out = self.folder.latents(key, kind)
        up = self.keys[stage_name("melodies" if kind == "real" else "random", key)]

        def run():
            import shutil

            from .executor import collect_encode, sharded_encode

            self.model(key)  # a model that cannot load fails here with its own message, not as a partition error
            parts_root = self.folder.encode_parts(key, kind)
            # partitions are named by input, model bytes and device: another model's are never reused
            parts = self._fresh_parts(parts_root, _hash([up, self.model_id(key), self.s.device]))
            summary = sharded_encode(src, parts, self.executor(), model=self.s.models[key],
                                     checkpoint=self.s.checkpoints.get(key), partition_rows=self.s.encode_chunk,
                                     devices=(self.s.device,), threads=None if self.s.workers == 1 else 1,
                                     progress=False)
            self._check_partitions(summary, f"encode {src.name}")
            mu, sigma = collect_encode(parts)
            _atomic_npz(out, mu=mu, sigma=sigma)
            shutil.rmtree(parts_root)

        self.stage(stage_name("encode", key, kind), {"input": up, "model": self.model_id(key)}, [out], run)
        return out

    def features(self, key):
        from .features import catalog_json

        src = self.folder.melodies(key)
        out = self.folder.features(key)
        up = self.keys[stage_name("melodies", key)]

        def run():
            import shutil

            import pyarrow.parquet as pq

            from .executor import collect_features, sharded_features

            n = pq.ParquetFile(src).metadata.num_rows
            workers = self.executor().n_workers
            rows = 8192 if workers == 1 else max(64, -(-n // (4 * workers)))  # ~4 partitions per worker
            parts_root = self.folder.root / "features" / f"{key}_real.parts"
            parts = self._fresh_parts(parts_root, _hash([up, self.s.feature_backend, rows]))
            summary = sharded_features(src, parts, self.executor(), partition_rows=rows,
                                       backend=self.s.feature_backend, progress=False)
            self._check_partitions(summary, f"features of {src.name}")
            df = collect_features(parts)
            _atomic_parquet(df, out)
            shutil.rmtree(parts_root)
            text = catalog_json()
            atomic_write(self.folder.catalog_file, lambda tmp: tmp.write_text(text))

        self.stage(stage_name("features", key), {"input": up, "backend": self.s.feature_backend}, [out], run)
        return out

    def encode_untrained(self, key):
        """The chance baseline's latents: ``MusicVAE(cfg)`` of the run's model's config with Magenta's initial
        weights (``torch.manual_seed(seed)``, never trained) on the real windows; ``latents/<key>_untrained.npz``."""
        from .tables import read_events

        src = self.folder.melodies(key)
        out = self.folder.latents(key, "untrained")
        cfg = self.model(key).cfg
        up = self.keys[stage_name("melodies", key)]

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

        self.stage(stage_name("encode", key, "untrained"), {"input": up, "config": json.loads(cfg.to_json()), "seed": self.s.seed,
                                               "init": "magenta", "device": self.s.device}, [out], run)
        return out

    def analyze(self, key):
        from .analysis_io import analyze_run_model

        out = self.folder.model_summary(key)
        untrained = self.s.untrained_baseline
        if untrained:
            self.encode_untrained(key)
        else:
            self.folder.latents(key, "untrained").unlink(missing_ok=True)
        needed = [stage_name("encode", key, "real"), stage_name("encode", key, "random"), stage_name("features", key)]
        needed += [stage_name("encode", key, "untrained")] if untrained else []
        inputs = {k: self.keys.get(k) for k in needed}
        analysis_settings = {k: getattr(self.s, k) for k in ("sigma_threshold", "activation_threshold", "phik_bins",
                                                             "n_intervention_melodies", "n_traversed", "metrics", "seed",
                                                             "n_permutations", "n_metric_permutations")}
        self.stage(stage_name("analyze", key), {"inputs": inputs, "settings": analysis_settings, "model": self.model_id(key)},
                   [out], lambda: analyze_run_model(self, key))
        return out

    def summary(self):
        summary = {}
        for key in self.s.keys:
            p = self.folder.model_summary(key)
            if p.exists():
                summary[key] = json.loads(p.read_text())
        text = json.dumps(summary, indent=1)
        atomic_write(self.folder.summary_file, lambda tmp: tmp.write_text(text))
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
    s = (settings or Settings()).validate()
    run = Run(run_dir, s, log)
    try:
        return _reproduce(run, s, log, report)
    finally:
        run.close()


def _reproduce(run, s, log, report):
    text = json.dumps({"settings": asdict(s), "versions": versions()}, indent=1, default=str)
    path = run.folder.settings_file
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

        run.stage("report", {"keys": dict(run.keys)}, [run.folder.report_file],
                  lambda: build_report(run.root), verify=False)
    timings = {**run.timings, "total_seconds": round(time.time() - t0, 1)}
    atomic_write(run.folder.timings_file, lambda tmp: tmp.write_text(json.dumps(timings, indent=1)))
    return summary
