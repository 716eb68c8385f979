"""Which analysed windows a model was trained on: the split is recomputed from the model card and checked."""

import numpy as np
import pandas as pd
import pytest

from musicneurons.model.train import split_by_source, training_sources


def _card(sources, seed=0):
    uniq = np.unique(sources)
    n_val = int(split_by_source(uniq, 0.05, seed).sum())
    return {"corpus": "builtin", "seed": seed, "n_val_sources": n_val, "n_train_sources": uniq.size - n_val}


def test_training_sources_recomputes_the_split_and_checks_it():
    sources = [f"s{i}" for i in range(100)]
    card = _card(sources)
    trained = training_sources(card, "builtin", sources)
    held = set(sources) - trained
    assert len(held) == 5 and held == set(np.array(sources)[split_by_source(np.array(sources), 0.05, 0)])
    assert training_sources(card, "lmd_full", sources) is None  # another corpus
    assert training_sources(card, "builtin", sources[:90]) is None  # not the corpus it was trained on
    assert training_sources({**card, "seed": None}, "builtin", sources) is None
    assert training_sources(None, "builtin", sources) is None
    listed = training_sources({"corpus": "builtin", "held_out_sources": ["s1", "s2"]}, "builtin", sources)
    assert listed == set(sources) - {"s1", "s2"}


@pytest.mark.parametrize("windows", ["all", "held_out"])
def test_melody_table_flags_training_windows(tmp_path, windows):
    from musicneurons.pipeline import Run, Settings

    run = Run(tmp_path / "run", Settings(n_melodies=400, keys=("2bar",), windows=windows), log=lambda m: None)
    try:
        table = pd.read_parquet(run.melodies("2bar"))
    finally:
        run.close()
    flag = table["in_training"].astype("boolean")
    assert flag.notna().all()  # the shipped 2-bar model's card lets the split be recomputed
    if windows == "held_out":
        assert not flag.any() and len(table) > 0
    else:
        assert flag.mean() > 0.8  # 95 % of the sources are training sources


def test_held_out_needs_a_known_split():
    from musicneurons.pipeline import Settings

    with pytest.raises(ValueError, match="windows"):
        Settings(windows="some").validate()
