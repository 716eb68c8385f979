"""Nothing a user did not ask to load is deserialised: music21's pickle cache is never read (nor written), and
checkpoint readers never follow a link out of the checkpoint folder."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from musicneurons.sources import read_score

ABC = """X:1
T:test
M:4/4
L:1/4
K:C
C D E F | G A B c | c B A G | F E D C |
"""


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def test_music21_pickle_cache_is_never_read_or_written(tmp_path, monkeypatch):
    import zlib

    from music21 import converter, environment

    score = tmp_path / "tune.abc"
    score.write_text(ABC)
    scratch = tmp_path / "m21scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    env = environment.Environment()
    old = env["directoryScratch"]
    environment.set("directoryScratch", str(scratch))
    try:
        # where music21's converter.parse would look for (and write) its cache of this file
        _, _, pickle_path = converter.PickleFilter(str(score)).status()
        pickle_path = Path(pickle_path)
        marker = tmp_path / "marker"
        pickle_path.parent.mkdir(parents=True, exist_ok=True)
        pickle_path.write_bytes(zlib.compress(pickle.dumps(_Payload(str(marker)))))  # music21's zlib pickle
        planted = pickle_path.stat().st_mtime_ns
        ns = read_score(score)
        assert ns.pitch.size == 16
        assert not marker.exists(), "the planted pickle was unpickled"
        assert pickle_path.stat().st_mtime_ns == planted  # not rewritten either
        assert sorted(p.name for p in scratch.rglob("*") if p.is_file()) == [pickle_path.name]
    finally:
        environment.set("directoryScratch", old)
