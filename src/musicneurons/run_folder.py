"""The run folder: where every file of a ``reproduce`` run lives, in one place.

    >>> run = RunFolder("runs/default")
    >>> run.latents("2bar", "real")        # runs/default/latents/2bar_real.npz
    >>> run.analysis_file("2bar", "phik.csv")

Layout::

    settings.json                         the settings and versions of the run
    stages/<stage>.json                   key, output digests, wall time, peak memory of each stage
    stages/timings.json                   what the last finished ``reproduce`` did
    data/melodies_<key>.parquet           real windows (source, window, events, provenance) + .rejections.csv
    data/random_<key>.parquet             random note sequences
    latents/<key>_<real|random|untrained>.npz   mu, sigma (N, z)
    features/<key>_real.parquet           features per window; features/catalog.json
    analysis/summary.json                 the findings per model key
    analysis/<key>/*.csv|parquet|json     every table behind them, decoded MIDI of the interventions
    report/index.html                     the report (self-contained)

Model keys (:data:`MODEL_KEYS`) name the two studies of the paper: ``"2bar"`` and ``"16bar"``; :func:`bars_of`
turns one into its window length in bars. Stage names are built by :func:`stage_name`.
"""

from __future__ import annotations

import json
from pathlib import Path

MODEL_KEYS = {"2bar": 2, "16bar": 16}  # model key -> bars per window
LATENT_KINDS = ("real", "random", "untrained")
SUBFOLDERS = ("stages", "data", "latents", "features", "analysis", "report")
STAGE_KINDS = ("melodies", "random", "encode", "features", "analyze")


class NotARunFolder(ValueError):
    """A folder that is not (or not yet) a run folder, or whose ``settings.json`` is unreadable."""


def bars_of(key: str) -> int:
    """Bars per window of a model key (``"2bar"`` -> 2); ``ValueError`` for an unknown key."""
    try:
        return MODEL_KEYS[key]
    except KeyError:
        raise ValueError(f"unknown model key {key!r} (known: {', '.join(MODEL_KEYS)})") from None


def stage_name(kind: str, key: str, latent: str | None = None) -> str:
    """``stage_name("encode", "2bar", "real")`` -> ``"encode_2bar_real"``; ``("analyze", "16bar")`` -> ``"analyze_16bar"``."""
    if kind not in STAGE_KINDS:
        raise ValueError(f"unknown stage kind {kind!r}")
    bars_of(key)
    return f"{kind}_{key}" + (f"_{latent}" if latent else "")


def stage_key_of(name: str) -> str | None:
    """The model key a stage name belongs to (``"encode_2bar_real"`` -> ``"2bar"``), or None (``"report"``)."""
    parts = name.split("_")
    return parts[1] if len(parts) > 1 and parts[0] in STAGE_KINDS and parts[1] in MODEL_KEYS else None


class RunFolder:
    """Paths of one run folder (nothing is created until :meth:`make`)."""

    def __init__(self, root):
        self.root = Path(root)

    def __repr__(self):
        return f"RunFolder({str(self.root)!r})"

    def make(self) -> "RunFolder":
        for sub in SUBFOLDERS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self

    # -- files ------------------------------------------------------------------------------------------

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def stages_dir(self) -> Path:
        return self.root / "stages"

    def stage_record(self, name: str) -> Path:
        return self.stages_dir / f"{name}.json"

    @property
    def timings_file(self) -> Path:
        return self.stages_dir / "timings.json"

    def melodies(self, key: str) -> Path:
        return self.root / "data" / f"melodies_{key}.parquet"

    def rejections(self, key: str) -> Path:
        return self.root / "data" / f"melodies_{key}.rejections.csv"

    def random(self, key: str) -> Path:
        return self.root / "data" / f"random_{key}.parquet"

    def inputs(self, key: str, kind: str) -> Path:
        """The table a latent kind encodes: the real windows (``real``, ``untrained``) or the random ones."""
        return self.random(key) if kind == "random" else self.melodies(key)

    def latents(self, key: str, kind: str) -> Path:
        if kind not in LATENT_KINDS:
            raise ValueError(f"unknown latent kind {kind!r} (known: {', '.join(LATENT_KINDS)})")
        return self.root / "latents" / f"{key}_{kind}.npz"

    def encode_parts(self, key: str, kind: str) -> Path:
        return self.root / "latents" / f"{key}_{kind}.parts"

    def features(self, key: str) -> Path:
        return self.root / "features" / f"{key}_real.parquet"

    @property
    def catalog_file(self) -> Path:
        return self.root / "features" / "catalog.json"

    def analysis_dir(self, key: str) -> Path:
        return self.root / "analysis" / key

    def analysis_file(self, key: str, name: str) -> Path:
        return self.analysis_dir(key) / name

    def model_summary(self, key: str) -> Path:
        return self.analysis_file(key, "summary.json")

    @property
    def summary_file(self) -> Path:
        return self.root / "analysis" / "summary.json"

    @property
    def report_file(self) -> Path:
        return self.root / "report" / "index.html"

    def stage_output(self, stage: str, name: str) -> Path:
        """Where stage ``stage`` wrote its output file ``name`` (records store file names only)."""
        kind = stage.split("_")[0]
        key = stage_key_of(stage)
        where = {"melodies": self.root / "data", "random": self.root / "data", "encode": self.root / "latents",
                 "features": self.root / "features", "report": self.root / "report"}
        if kind == "analyze" and key:
            return self.analysis_dir(key) / name
        return where.get(kind, self.root) / name

    # -- reading ----------------------------------------------------------------------------------------

    def read_settings(self) -> dict:
        """``settings.json``'s ``"settings"`` (a dict); :class:`NotARunFolder` naming the file otherwise."""
        path = self.settings_file
        if not path.is_file():
            raise NotARunFolder(f"{self.root}: not a run folder (no settings.json); make one with "
                                f"'musicneurons reproduce -o {self.root}'")
        try:
            settings = json.loads(path.read_text())["settings"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise NotARunFolder(f"{path}: not a run's settings ({type(e).__name__}: {str(e)[:80]})") from None
        if not isinstance(settings, dict):
            raise NotARunFolder(f"{path}: 'settings' is not an object")
        return settings

    def stage_records(self) -> dict[str, dict]:
        """``stages/<name>.json`` by stage name (unreadable or malformed records and ``timings.json`` left out)."""
        out = {}
        for p in sorted(self.stages_dir.glob("*.json")):
            if p == self.timings_file:
                continue
            try:
                rec = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                out[p.stem] = rec
        return out
