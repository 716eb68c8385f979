"""Reading a finished run for the report: :class:`RunResults`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..run_folder import RunFolder, stage_key_of


class RunResults:
    """Read-only, tolerant access to a finished run's results (paths from :class:`~musicneurons.run_folder.RunFolder`)."""

    def __init__(self, root):
        self.folder = RunFolder(root)
        self.root = self.folder.root
        sp = self.folder.summary_file
        if not sp.exists():
            raise FileNotFoundError(f"{sp}: no analysis summary; run 'musicneurons reproduce' first")
        try:
            self.summary = json.loads(sp.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{sp}: not valid JSON ({e})") from None
        st = self.folder.settings_file
        self.run_settings = json.loads(st.read_text()) if st.exists() else {}
        self.catalog = self._catalog()
        self.categories = {c["id"]: c["category"] for c in self.catalog}
        self.names = {c["id"]: c["name"] for c in self.catalog}

    def _catalog(self) -> list[dict]:
        p = self.folder.catalog_file
        if p.exists():
            return json.loads(p.read_text())
        from ..features import catalog

        return catalog()

    @property
    def keys(self) -> list[str]:
        return list(self.summary.keys())

    def path(self, key: str, name: str) -> Path:
        return self.folder.analysis_file(key, name)

    def csv(self, key: str, name: str, index_col=None) -> pd.DataFrame | None:
        p = self.path(key, name)
        if not p.exists() or p.stat().st_size == 0:
            return None
        df = pd.read_csv(p, index_col=index_col)
        return df

    def matrix(self, key: str, name: str) -> pd.DataFrame | None:
        """A CSV whose first column is the latent index (rows), integer-labelled."""
        df = self.csv(key, name, index_col=0)
        if df is None:
            return None
        df.index = df.index.astype(int)
        return df

    def parquet(self, key: str, name: str) -> pd.DataFrame | None:
        p = self.path(key, name)
        return pd.read_parquet(p) if p.exists() else None

    def latents(self, key: str, kind: str) -> np.ndarray | None:
        p = self.folder.latents(key, kind)
        if not p.exists():
            return None
        with np.load(p, allow_pickle=False) as f:
            return f["mu"]

    def stage_records(self) -> dict[str, dict]:
        """``stages/<name>.json`` by stage name: the key, compute seconds and peak memory of the run that
        computed each stage (a cached rerun leaves them as they are; ``timings.json`` is not one)."""
        return self.folder.stage_records()

    def last_reproduce(self) -> dict | None:
        """``stages/timings.json``: what the last finished ``reproduce`` did (per stage ``cached``, and its
        ``total_seconds`` wall time, which is a cached rerun's when nothing was recomputed); None if absent."""
        t = self.folder.timings_file
        try:
            saved = json.loads(t.read_text()) if t.exists() else None
        except json.JSONDecodeError:
            return None
        return saved if isinstance(saved, dict) else None

    def compute_stages(self) -> dict[str, dict]:
        """The stage records behind this report's results: the stages of its model keys (``melodies_2bar``,
        ``encode_2bar_real``, ... ``analyze_2bar``); not the report's own build, not other keys' leftovers."""
        keys = set(self.keys)
        return {k: v for k, v in self.stage_records().items() if stage_key_of(k) in keys}

    def run_time(self) -> dict:
        """How long the results took to compute, and whether this build only reuses cached stages.

        ``seconds``: the sum of the compute stages' recorded times (``None`` without records).
        ``rebuilt``: True when the last finished ``reproduce`` (``timings.json``) already had every one
        of these records unchanged, i.e. nothing was computed since: this page is rebuilt from cached
        stages (``musicneurons report``, or a ``reproduce`` that only rebuilt the report). A ``reproduce``
        that computes a stage builds its report before writing ``timings.json``, so it differs there.
        """
        recs = self.compute_stages()
        secs = [float(r["seconds"]) for r in recs.values() if isinstance(r.get("seconds"), (int, float))]
        last = self.last_reproduce()
        rebuilt = bool(recs) and last is not None and all(
            isinstance(last.get(k), dict) and last[k].get("key") == r.get("key")
            and last[k].get("seconds") == r.get("seconds") for k, r in recs.items())
        out = {"seconds": round(sum(secs), 2) if secs else None, "n_stages": len(recs), "rebuilt": rebuilt,
               "last_wall_seconds": None, "last_cached": None, "last_n_stages": None}
        if last is not None:
            stages = {k: v for k, v in last.items() if isinstance(v, dict)}
            out["last_wall_seconds"] = last.get("total_seconds")
            out["last_cached"] = sum(bool(v.get("cached")) for v in stages.values())
            out["last_n_stages"] = len(stages)
        return out
