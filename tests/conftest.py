"""Shared test fixtures: one tiny model and one small finished run, built once per test session.

The end-to-end tests only read ``tiny_run``; a test that writes into a run copies it first
(``copy_run``), so no test sees another test's changes.
"""

import shutil

import pytest
import torch

from musicneurons.model.checkpoint import save_model
from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE
from musicneurons.pipeline import Settings, reproduce

TINY_Z = 64  # a tiny, untrained 2-bar model: the σ rule falls back and every dim is "music" (64 analysed)


def tiny_settings(ckpt, **kw) -> Settings:
    """The settings of ``tiny_run``: 120 built-in melodies, 2 bars only, a 10-shuffle permutation null."""
    base = dict(n_melodies=120, keys=("2bar",), checkpoints={"2bar": str(ckpt), "16bar": None},
                n_intervention_melodies=4, n_traversed=2, metrics=False, encode_chunk=50, n_permutations=10)
    return Settings(**{**base, **kw})


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A seeded, untrained 2-bar MusicVAE (32-unit LSTMs, z of 64 dims), saved as a checkpoint folder."""
    d = tmp_path_factory.mktemp("tiny_model") / "m2"
    torch.manual_seed(0)
    save_model(MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(32,), dec_rnn_size=(32,), z_size=TINY_Z)), d)
    return d


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_checkpoint):
    """A finished ``reproduce`` of ``tiny_checkpoint`` with ``tiny_settings`` (no report). Read only."""
    root = tmp_path_factory.mktemp("tiny_run") / "run"
    reproduce(root, tiny_settings(tiny_checkpoint), log=lambda *_: None, report=False)
    return root


@pytest.fixture
def copy_run(tiny_run, tmp_path):
    """A private copy of ``tiny_run`` that a test may write into."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst)
    return dst
