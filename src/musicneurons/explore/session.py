"""The explorer's Python API: a run folder's model, its music neurons and a melody to change.

>>> s = Session("runs/default", key="2bar")
>>> s.set_melody("twinkle")                      # or events, a MIDI path or bytes, "random", a window index
>>> top = s.neurons()                             # the top 8 music neurons (report order) with slider ranges
>>> s.set_neuron(top[0]["latent_index"], top[0]["hi"])
>>> ev = s.decode()                               # greedy; s.decode(temperature=0.5, seed=1) samples
>>> s.features_moved()                            # features that moved most, in population SDs
>>> open("changed.mid", "wb").write(s.midi_bytes())
>>> s.interpolate("twinkle", 12, t=0.5)           # slerp between two melodies' mu

Everything is read from the run folder written by ``musicneurons reproduce`` (see
:mod:`musicneurons.pipeline`): ``settings.json`` (model names and checkpoints),
``data/melodies_<key>.parquet`` (the real windows), ``latents/<key>_real.npz`` (their mu: the slider ranges
are its 1st-99th percentiles), ``features/<key>_real.parquet`` (population SDs of the features),
``analysis/<key>/summary.json`` (the music neurons in the report's order, their top feature, and -- when the
analysis has it -- a chance baseline under ``"baselines"``) and ``analysis/<key>/traversal.csv``.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..run_folder import MODEL_KEYS as BARS, NotARunFolder, RunFolder

MODEL_KEYS = tuple(BARS)
MAX_UPLOAD_BYTES = 2 * 2**20  # uploaded MIDI files
DEFAULT_N_NEURONS = 8
PERCENTILES = (1.0, 99.0)  # slider range: the population's observed 1st..99th percentile of mu


NotARunError = NotARunFolder  # the folder is not a run folder (or lacks what the explorer needs): one class


class MelodyError(ValueError):
    """A melody that cannot be used (a file with no window, a bad index, bad events); ``reasons`` says why."""

    def __init__(self, message: str, reasons: dict | None = None):
        super().__init__(message)
        self.reasons = dict(reasons or {})


# -- the run folder --------------------------------------------------------------------------------------


def _required(root: Path, key: str) -> dict[str, Path]:
    run = RunFolder(root)
    return {"melodies": run.melodies(key), "latents": run.latents(key, "real"), "features": run.features(key),
            "summary": run.model_summary(key)}


def run_keys(run_dir) -> tuple[str, ...]:
    """The model keys of a run folder that the explorer can open; raises :class:`NotARunError` if none."""
    root = Path(run_dir)
    if not root.is_dir():
        raise NotARunError(f"{root}: no such folder; make a run with 'musicneurons reproduce -o {root}'")
    settings = RunFolder(root).read_settings()
    keys = [k for k in settings.get("keys", MODEL_KEYS) if k in MODEL_KEYS]
    ok = tuple(k for k in keys if all(p.is_file() for p in _required(root, k).values()))
    if not ok:
        missing = sorted({str(p.relative_to(root)) for k in keys or MODEL_KEYS
                          for p in _required(root, k).values() if not p.is_file()})
        raise NotARunError(f"{root}: the run is not finished (missing {', '.join(missing[:4])}"
                           f"{', ...' if len(missing) > 4 else ''}); rerun 'musicneurons reproduce -o {root}'")
    return ok


def _checkpoint_path(root: Path, ckpt):
    """A checkpoint recorded in settings.json: as recorded, or relative to the run folder when that exists."""
    if ckpt in (None, "", "None"):
        return None
    p = Path(ckpt)
    if not p.exists() and not p.is_absolute() and (root / p).exists():
        return root / p
    return ckpt


def _feature_catalog(root: Path) -> dict:
    path = RunFolder(root).catalog_file
    try:
        cat = json.loads(path.read_text())
    except (OSError, ValueError):
        from ..features import catalog

        cat = catalog()
    return {c["id"]: c for c in cat}


def chance_baseline(baselines, feature: str | None, latent_index: int | None = None):
    """The chance level a neuron's top-feature φK must clear, from ``summary[key]["baselines"]``, or None.

    Read as (first match wins): a number (one threshold for every φK); a dict holding, per latent index
    (``"neurons"``/``"per_neuron"``) or per feature (``"features"``/``"per_feature"``, or the feature id itself),
    a number or a nested dict of these; a ``"phik"``/``"top_phik"`` entry; or a scalar under ``threshold``,
    ``p95``, ``q95``, ``p99``, ``chance``, ``value``, ``max``, ``mean``; or a list of records with optional
    ``latent_index``/``feature`` and one of those value names. Anything else: None (the label stays
    "unverified").
    """
    if baselines is None or isinstance(baselines, bool):
        return None
    if isinstance(baselines, (int, float)):
        v = float(baselines)
        return v if math.isfinite(v) else None
    if isinstance(baselines, dict):
        for name in ("neurons", "per_neuron", "by_neuron"):
            sub = baselines.get(name)
            if isinstance(sub, dict) and latent_index is not None and str(latent_index) in {str(k) for k in sub}:
                v = {str(k): x for k, x in sub.items()}[str(latent_index)]
                got = chance_baseline(v, feature, latent_index)
                if got is not None:
                    return got
        for name in ("features", "per_feature", "by_feature"):
            sub = baselines.get(name)
            if isinstance(sub, dict) and feature in sub:
                got = chance_baseline(sub[feature], feature, latent_index)
                if got is not None:
                    return got
        if feature is not None and feature in baselines:
            got = chance_baseline(baselines[feature], feature, latent_index)
            if got is not None:
                return got
        for name in ("top_phik", "phik", "phik_chance", "chance_phik"):
            if name in baselines:
                got = chance_baseline(baselines[name], feature, latent_index)
                if got is not None:
                    return got
        for name in ("threshold", "p95", "q95", "p99", "q99", "chance", "value", "max", "mean"):
            v = baselines.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
                return float(v)
        return None
    if isinstance(baselines, (list, tuple)):
        for rec in baselines:
            if not isinstance(rec, dict):
                continue
            if "latent_index" in rec and latent_index is not None and int(rec["latent_index"]) != int(latent_index):
                continue
            if "feature" in rec and rec["feature"] != feature:
                continue
            got = chance_baseline({k: v for k, v in rec.items() if k not in ("latent_index", "feature")},
                                  feature, latent_index)
            if got is not None:
                return got
    return None


_VERDICT_FLAGS = ("clears_null", "top_feature_verified", "above_chance", "clears_baseline", "beats_baseline", "significant")


@dataclass
class ModelRun:
    """One model key of a run folder, read once: the model, the population and the analysis (read-only)."""

    root: Path
    key: str
    model: object
    events: np.ndarray            # (N, T) the run's real windows
    table: pd.DataFrame           # index, source, window, qpm of each window
    mu: np.ndarray                # (N, z) their mu
    lo: np.ndarray                # (z,) 1st percentile of mu per dim
    hi: np.ndarray                # (z,) 99th percentile
    median: np.ndarray
    feature_sd: pd.Series         # population SD per feature (NaN where constant)
    catalog: dict
    summary: dict
    traversal: pd.DataFrame | None
    top_features: pd.DataFrame | None
    model_matches_run: bool | None = None
    _cache: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bars(self) -> int:
        return int(self.model.cfg.bars)

    @property
    def n_steps(self) -> int:
        return int(self.model.cfg.max_seq_len)

    @property
    def z_size(self) -> int:
        return int(self.model.cfg.z_size)

    @classmethod
    def load(cls, run_dir, key: str, device="cpu", model=None) -> "ModelRun":
        root = Path(run_dir)
        keys = run_keys(root)
        if key not in keys:
            raise NotARunError(f"{root}: no finished {key} analysis in this run (it has: {', '.join(keys)})")
        paths = _required(root, key)
        settings = RunFolder(root).read_settings()
        if model is None:
            from ..model.checkpoint import load_model

            name = (settings.get("models") or {}).get(key)
            ckpt = _checkpoint_path(root, (settings.get("checkpoints") or {}).get(key))
            try:
                model = load_model(name, checkpoint=ckpt, device=device)
            except (ValueError, FileNotFoundError, KeyError, OSError) as e:
                raise NotARunError(f"{root}: cannot load the run's {key} model ({name}, checkpoint {ckpt}): "
                                   f"{str(e).strip(chr(34))}") from None
        from ..tables import TableError, read_table

        try:
            events, keys_df = read_table(paths["melodies"])
        except TableError as e:
            raise NotARunError(str(e)) from None
        try:
            with np.load(paths["latents"], allow_pickle=False) as f:
                mu = np.asarray(f["mu"], np.float32)
        except Exception as e:
            raise NotARunError(f"{paths['latents']}: cannot read mu ({type(e).__name__})") from None
        if mu.shape[0] != len(events) or mu.ndim != 2 or mu.shape[1] != model.cfg.z_size:
            raise NotARunError(f"{paths['latents']}: mu {mu.shape} does not match {len(events)} windows and the "
                               f"model's {model.cfg.z_size}-D latent")
        if events.shape[1] != model.cfg.max_seq_len:
            raise NotARunError(f"{paths['melodies']}: windows of {events.shape[1]} steps, but the {key} model "
                               f"takes {model.cfg.max_seq_len}")
        features = pd.read_parquet(paths["features"])
        feats = features.drop(columns=[c for c in ("source", "window") if c in features])
        sd = feats.apply(pd.to_numeric, errors="coerce").std(axis=0, ddof=0)
        sd = sd.where(sd > 1e-12)
        try:
            summary = json.loads(paths["summary"].read_text())
        except ValueError as e:
            raise NotARunError(f"{paths['summary']}: not JSON ({e})") from None
        folder = RunFolder(root).analysis_dir(key)
        traversal = pd.read_csv(folder / "traversal.csv") if (folder / "traversal.csv").is_file() else None
        top = pd.read_csv(folder / "top_features.csv") if (folder / "top_features.csv").is_file() else None
        table = pd.DataFrame({"index": np.arange(len(events)),
                              "source": keys_df["source"].astype(str).to_numpy() if "source" in keys_df
                              else [f"window {i}" for i in range(len(events))],
                              "window": keys_df["window"].to_numpy() if "window" in keys_df else np.zeros(len(events), int),
                              "qpm": keys_df["qpm"].to_numpy(float) if "qpm" in keys_df else np.full(len(events), 120.0)})
        lo, med, hi = np.percentile(mu, [PERCENTILES[0], 50.0, PERCENTILES[1]], axis=0)
        mr = cls(root, key, model, events, table, mu, lo.astype(np.float32), hi.astype(np.float32),
                 med.astype(np.float32), sd, _feature_catalog(root), summary, traversal, top)
        # the model now loaded should give the run's latents back (a retrained checkpoint would not)
        k = min(4, len(events))
        if k:
            got = mr.encode_many(events[:k])
            mr.model_matches_run = bool(np.allclose(got, mu[:k], atol=1e-3, rtol=1e-3))
        return mr

    # -- model calls (thread-safe: torch inference holds no state; the cache has a lock) ---------------

    def encode_many(self, events: np.ndarray) -> np.ndarray:
        _, mu, _ = self.model.encode(np.asarray(events, np.int64))
        return mu

    def encode(self, events: np.ndarray) -> np.ndarray:
        """mu of one window (T,), cached (the page sends the same starting melody again and again)."""
        ev = np.asarray(events, np.int64)
        key = ev.tobytes()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        mu = self.encode_many(ev[None])[0]
        with self._lock:
            self._cache[key] = mu
            while len(self._cache) > 256:
                self._cache.popitem(last=False)
        return mu

    def decode(self, z: np.ndarray, temperature: float = 0.0, seed: int = 0) -> np.ndarray:
        z = np.asarray(z, np.float32).reshape(1, -1)
        return self.model.decode(z, temperature=float(temperature), seed=int(seed))[0]

    # -- the analysis ------------------------------------------------------------------------------------

    def baselines(self):
        return self.summary.get("baselines")

    def music_neurons(self) -> list[dict]:
        return list(self.summary.get("music_neurons") or [])

    def feature_name(self, fid) -> str:
        c = self.catalog.get(str(fid)) or {}
        return c.get("name") or str(fid)

    def neuron(self, latent_index: int) -> dict:
        """Everything a slider needs for one latent dim: rank (None when not a music neuron), range, label."""
        d = int(latent_index)
        if not 0 <= d < self.z_size:
            raise ValueError(f"latent index {d} is outside 0..{self.z_size - 1}")
        entry = next((n for n in self.music_neurons() if int(n.get("latent_index", -1)) == d), None)
        rank = int(entry["rank"]) if entry else None
        feature = entry.get("top_feature") if entry else None
        phik = entry.get("top_phik") if entry else None
        if feature is None and self.top_features is not None and len(self.top_features):
            t = self.top_features[self.top_features["latent_index"] == d]
            if len(t):
                r = t.sort_values("phik", ascending=False).iloc[0]
                feature, phik = str(r["feature"]), float(r["phik"])
        baseline = chance_baseline(self.baselines(), feature, d) if feature is not None else None
        flag = next((entry[f] for f in _VERDICT_FLAGS if entry and isinstance(entry.get(f), bool)), None)
        if flag is not None:
            verified = flag
        elif baseline is not None and phik is not None:
            verified = bool(float(phik) > baseline)
        else:
            verified = None  # no baseline in the run: unverified
        label = f"#{rank} · d{d}" if rank else f"d{d}"
        if feature is not None and verified:
            label += f" · {feature} {self.feature_name(feature)}"
        return {
            "latent_index": d, "rank": rank, "music": entry is not None,
            "lo": float(self.lo[d]), "hi": float(self.hi[d]), "median": float(self.median[d]),
            "top_feature": feature, "top_feature_name": self.feature_name(feature) if feature else None,
            "top_phik": None if phik is None else float(phik), "category": entry.get("category") if entry else None,
            "baseline": baseline, "verified": verified, "label": label,
            "feature_label": (f"{feature} {self.feature_name(feature)}" if verified else
                              "unverified" if verified is None and feature else
                              "below chance" if feature else "no feature"),
        }

    def neurons(self, n: int | None = DEFAULT_N_NEURONS) -> list[dict]:
        """The top ``n`` music neurons in the report's order (rank 1 first); ``None``: all of them."""
        ms = sorted(self.music_neurons(), key=lambda m: int(m["rank"]))
        return [self.neuron(int(m["latent_index"])) for m in (ms if n is None else ms[:n])]

    def traversal_slope(self, latent_index: int, feature: str):
        """The run's traversal curve of (neuron, feature): mean at the top of the range minus at the bottom."""
        t = self.traversal
        if t is None:
            return None
        c = t[(t["latent_index"] == int(latent_index)) & (t["feature"] == str(feature))].sort_values("step")
        c = c.dropna(subset=["mean"])
        if len(c) < 2:
            return None
        return float(c["mean"].iloc[-1] - c["mean"].iloc[0])

    def find_windows(self, query: str = "", limit: int = 50) -> pd.DataFrame:
        """The run's windows whose source contains ``query`` (case-insensitive), in table order."""
        t = self.table
        q = str(query or "").strip().lower()
        if q:
            t = t[t["source"].str.lower().str.contains(q, regex=False)]
        return t.head(max(0, int(limit))).reset_index(drop=True)


class RunData:
    """A run folder, validated once; each model key is loaded on first use (thread-safe)."""

    def __init__(self, run_dir, device="cpu"):
        self.root = Path(run_dir)
        self.keys = run_keys(self.root)
        self.device = device
        self._models: dict[str, ModelRun] = {}
        self._lock = threading.Lock()

    def model(self, key: str) -> ModelRun:
        if key not in self.keys:
            raise NotARunError(f"{self.root}: no finished {key} analysis in this run (it has: {', '.join(self.keys)})")
        with self._lock:
            if key not in self._models:
                self._models[key] = ModelRun.load(self.root, key, device=self.device)
            return self._models[key]


# -- melodies ---------------------------------------------------------------------------------------------


@dataclass
class Melody:
    """A starting melody: one window of events and where it came from."""

    events: np.ndarray
    source: str
    qpm: float = 120.0
    window: int = 0          # which of the source's windows
    n_windows: int = 1       # how many the source gave
    kind: str = "events"     # events | run | twinkle | random | midi

    def to_dict(self) -> dict:
        return {"events": [int(e) for e in self.events], "source": self.source, "qpm": float(self.qpm),
                "window": int(self.window), "n_windows": int(self.n_windows), "kind": self.kind}


def reasons_text(reasons: dict, details: dict | None = None) -> str:
    from ..extract import REASONS

    parts = []
    for r, n in reasons.items():
        text = f"{r} ({REASONS[r]})" if r in REASONS else str(r)
        if details and details.get(r):
            text += f": {details[r]}"
        parts.append(text + (f" x{n}" if isinstance(n, int) and n > 1 else ""))
    return "; ".join(parts) or "no window"


def midi_windows(data: bytes, bars: int, name: str = "upload.mid", max_bytes: int = MAX_UPLOAD_BYTES):
    """Windows of MIDI bytes with the project's extraction rules (via a temp file and ``extract_file``).

    Returns the :class:`~musicneurons.extract.ExtractResult` (``windows``, ``info``, ``reasons``, ``details``);
    ``source`` is ``name``, never the temp path.
    """
    from ..extract import extract_file

    if len(data) > max_bytes:
        raise MelodyError(f"{name}: {len(data)} bytes is over the {max_bytes // 2**20} MB limit",
                          {"file too large": 1})
    fd, tmp = tempfile.mkstemp(suffix=".mid", prefix="mn-explore-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        res = extract_file(tmp, bars=bars, max_bytes=max_bytes)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    res.source = name
    res.details = {k: str(v).replace(tmp, name) for k, v in res.details.items()}
    return res


def _melody_from(mr: ModelRun, melody, window: int = 0, seed: int = 0) -> Melody:
    """Any melody spec -> :class:`Melody` of the model's length."""
    from ..analysis.twinkle import twinkle_events
    from ..melody import validate_events

    bars, n_steps = mr.bars, mr.n_steps
    if isinstance(melody, Melody):
        return melody
    if isinstance(melody, (bool, np.bool_)):
        raise MelodyError(f"not a melody: {melody!r}")
    if isinstance(melody, (int, np.integer)):
        i = int(melody)
        if not 0 <= i < len(mr.events):
            raise MelodyError(f"window index {i} is outside 0..{len(mr.events) - 1} (the run's {mr.key} windows)")
        r = mr.table.iloc[i]
        return Melody(mr.events[i].copy(), f"{r['source']} #{int(r['window'])}", float(r["qpm"]),
                      int(r["window"]), 1, "run")
    if isinstance(melody, str) and melody in ("twinkle", "random"):
        if melody == "twinkle":
            return Melody(twinkle_events(bars), "Twinkle Twinkle Little Star", 120.0, 0, 1, "twinkle")
        from ..randomseq import random_windows

        ev, _, qpm = random_windows(1, bars, int(seed))
        return Melody(ev[0], f"random sequence (seed {int(seed)})", float(qpm[0]), 0, 1, "random")
    if isinstance(melody, (bytes, bytearray, memoryview)):
        res = midi_windows(bytes(melody), bars)
        return _pick_window(res.windows, res.info, res.reasons, res.details, "uploaded MIDI", window, bars)
    if isinstance(melody, (str, Path)) or type(melody).__module__.split(".")[0] in ("pretty_midi", "music21", "muspy") \
            or type(melody).__name__ == "NoteSequence":
        from ..music import as_windows

        w = as_windows(melody, bars)
        name = str(melody) if isinstance(melody, (str, Path)) else type(melody).__name__
        reasons = next(iter(w.rejections.values()), {}) if w.rejections else {}
        info = [{"qpm": float(q), "first_bar": int(b)} for q, b in zip(w.qpm, w.first_bar)]
        return _pick_window(w.events, info, reasons, {}, name, window, bars)
    try:
        ev = validate_events(np.asarray(melody))
    except (ValueError, TypeError) as e:
        raise MelodyError(f"not a melody: {e}") from None
    if ev.ndim != 1 or ev.shape[0] != n_steps:
        raise MelodyError(f"a {bars}-bar melody has {n_steps} steps, got events of shape {ev.shape}")
    return Melody(ev, "events", 120.0, 0, 1, "events")


def _pick_window(windows, info, reasons, details, name, window, bars) -> Melody:
    if not len(windows):
        raise MelodyError(f"{name}: no {bars}-bar melody window ({reasons_text(reasons, details)})", reasons)
    if not 0 <= int(window) < len(windows):
        raise MelodyError(f"{name}: window {window} is outside 0..{len(windows) - 1}")
    i = int(window)
    qpm = float(info[i].get("qpm", 120.0)) if i < len(info) else 120.0
    return Melody(np.asarray(windows[i], np.int64), name, qpm, i, len(windows), "midi")


# -- the session ------------------------------------------------------------------------------------------


class Session:
    """A run's model, one starting melody and slider values on its latent dims.

    Parameters
    ----------
    run_dir : path
        A run folder of ``musicneurons reproduce``; :class:`NotARunError` when it is not one.
    key : "2bar" or "16bar"
        Which model of the run.
    melody : optional
        The starting melody (any spec of :meth:`set_melody`; default Twinkle).
    run : RunData, optional
        A run already opened (the web app shares one between requests).
    """

    def __init__(self, run_dir=None, key: str = "2bar", *, melody="twinkle", device="cpu",
                 run: RunData | None = None):
        self.run = run if run is not None else RunData(run_dir, device=device)
        self.mr = self.run.model(key)
        self.key = key
        self.melody: Melody | None = None
        self.mu: np.ndarray | None = None
        self.values: dict[int, float] = {}
        self.decoded: np.ndarray | None = None
        self.set_melody(melody)

    # -- what the run holds -----------------------------------------------------------------------------

    keys = property(lambda self: self.run.keys)
    bars = property(lambda self: self.mr.bars)
    n_steps = property(lambda self: self.mr.n_steps)
    z_size = property(lambda self: self.mr.z_size)

    def neurons(self, n: int | None = DEFAULT_N_NEURONS) -> list[dict]:
        """The top ``n`` music neurons (report order) with their slider range (1st-99th percentile of the
        population's mu), label and this melody's own value (``melody_value``)."""
        return [self._with_value(x) for x in self.mr.neurons(n)]

    def neuron(self, latent_index: int) -> dict:
        """Slider info for any latent dim (``rank`` None when it is not a music neuron)."""
        return self._with_value(self.mr.neuron(latent_index))

    def _with_value(self, info: dict) -> dict:
        d = info["latent_index"]
        return {**info, "melody_value": float(self.mu[d]), "value": float(self.values.get(d, self.mu[d]))}

    def windows(self, query: str = "", limit: int = 50) -> pd.DataFrame:
        """The run's real windows whose source contains ``query``: columns index, source, window, qpm."""
        return self.mr.find_windows(query, limit)

    # -- state ------------------------------------------------------------------------------------------

    def set_melody(self, melody, window: int = 0, seed: int = 0) -> Melody:
        """Start from ``melody``: events (T,), ``"twinkle"``, ``"random"`` (with ``seed``), a window index of the
        run (int), MIDI bytes, or a MIDI/score path or music object (its ``window``-th window). Resets the
        sliders. Raises :class:`MelodyError` (with the rejection reasons) when it gives no window."""
        m = _melody_from(self.mr, melody, window, seed)
        self.melody = m
        self.mu = self.mr.encode(m.events)
        self.values = {}
        self.decoded = None
        return m

    def set_neuron(self, latent_index: int, value: float | None):
        """Set one latent dim (``None``: back to the melody's own value)."""
        d = int(latent_index)
        if not 0 <= d < self.z_size:
            raise ValueError(f"latent index {d} is outside 0..{self.z_size - 1}")
        if value is None:
            self.values.pop(d, None)
            return
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"value of d{d} must be finite, got {value}")
        self.values[d] = v

    def set_neurons(self, values: dict):
        for d, v in dict(values).items():
            self.set_neuron(int(d), v)

    def reset_neurons(self):
        self.values = {}

    @property
    def z(self) -> np.ndarray:
        """The latent decoded: the melody's mu with the slider values in place."""
        z = np.array(self.mu, np.float32)
        for d, v in self.values.items():
            z[d] = v
        return z

    # -- results ----------------------------------------------------------------------------------------

    def decode(self, temperature: float = 0.0, seed: int = 0) -> np.ndarray:
        """Decode the current latent: greedy at ``temperature`` 0, else sampled with ``seed``; events (T,)."""
        if not (math.isfinite(float(temperature)) and temperature >= 0):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        self.decoded = self.mr.decode(self.z, temperature, seed)
        return self.decoded

    def features(self, events) -> pd.Series:
        """The catalog features of one window."""
        from ..features import compute_features

        return compute_features(np.asarray(events, np.int64)[None], progress=False).iloc[0]

    def features_moved(self, events=None, n: int | None = 10, reference="melody") -> pd.DataFrame:
        """The features that moved most from ``reference`` to ``events`` (default: the last decode), in the
        population's SDs (``features/<key>_real.parquet``).

        ``reference``: ``"melody"`` (the starting melody itself), ``"decode"`` (its unchanged greedy decode,
        so reconstruction error does not count as a move) or events. Columns: feature, name, category, start,
        now, delta, delta_sd; sorted by |delta_sd|, features undefined on either window or constant in the
        population left out; ``n`` None = all.
        """
        from ..features import compute_features

        now = self.decoded if events is None else np.asarray(events, np.int64)
        if now is None:
            now = self.decode()
        if isinstance(reference, str) and reference == "melody":
            ref = self.melody.events
        elif isinstance(reference, str) and reference == "decode":
            ref = self.mr.decode(self.mu, 0.0, 0)
        else:
            ref = np.asarray(reference, np.int64)
        f = compute_features(np.stack([np.asarray(ref, np.int64), np.asarray(now, np.int64)]), progress=False)
        return moved_table(f.iloc[0], f.iloc[1], self.mr, n)

    def midi_bytes(self, events=None, qpm: float | None = None) -> bytes:
        """A standard MIDI file of ``events`` (default: the last decode) at the melody's tempo."""
        from ..melody import events_to_midi

        ev = self.decoded if events is None else np.asarray(events, np.int64)
        if ev is None:
            ev = self.decode()
        buf = io.BytesIO()
        events_to_midi(ev, qpm=float(qpm or (self.melody.qpm if self.melody else 120.0))).write(buf)
        return buf.getvalue()

    def interpolate(self, a, b, t: float, temperature: float = 0.0, seed: int = 0) -> np.ndarray:
        """Decode the point ``t`` in [0, 1] on the slerp between the mu of melodies ``a`` and ``b`` (any melody
        spec of :meth:`set_melody`; ``None`` = the current melody)."""
        from ..model.musicvae import slerp

        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t}")
        mus = [self.mu if x is None else self.mr.encode(_melody_from(self.mr, x).events) for x in (a, b)]
        return self.mr.decode(slerp(mus[0], mus[1], t), temperature, seed)


def moved_table(start: pd.Series, now: pd.Series, mr: ModelRun, n: int | None = 10) -> pd.DataFrame:
    sd = mr.feature_sd.reindex(start.index)
    start = pd.to_numeric(start, errors="coerce")
    now = pd.to_numeric(now, errors="coerce")
    delta = now - start
    ok = start.notna() & now.notna() & sd.notna()
    df = pd.DataFrame({"feature": start.index, "name": [mr.feature_name(f) for f in start.index],
                       "category": [(mr.catalog.get(f) or {}).get("category") for f in start.index],
                       "start": start.to_numpy(float), "now": now.to_numpy(float), "delta": delta.to_numpy(float),
                       "delta_sd": (delta / sd).to_numpy(float)})[ok.to_numpy()]
    df = df.iloc[np.argsort(-np.abs(df["delta_sd"].to_numpy()), kind="stable")].reset_index(drop=True)
    return df if n is None else df.head(n)
