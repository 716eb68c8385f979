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


FIX = Path(__file__).parent / "fixtures" / "magenta_models" / "cat-mel_2bar_small"


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _cli_load(args, tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "musicneurons", *map(str, args)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    return r.returncode, r.stderr


def test_magenta_js_shard_symlink_is_refused(tmp_path):
    from musicneurons.model.magentajs import read_magenta_js
    from musicneurons.model.tfcheckpoint import CheckpointError

    folder = _copy(FIX / "js_float32", tmp_path / "js")
    secret = tmp_path / "secret.bin"
    shard = folder / "group1-shard1of9.bin"
    secret.write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to(secret)
    with pytest.raises(CheckpointError, match="symbolic link"):
        read_magenta_js(folder)
    rc, err = _cli_load(["convert", folder, "--config", "cat-mel_2bar_small", "-o", "out"], tmp_path)
    assert rc == 2 and "symbolic link" in err and "Traceback" not in err


def test_tf_checkpoint_symlinked_shard_and_escaping_state_file_are_refused(tmp_path):
    from musicneurons.model.tfcheckpoint import CheckpointError, read_tf_checkpoint

    folder = _copy(FIX, tmp_path / "tf")
    data = folder / "model.ckpt.data-00000-of-00001"
    outside = tmp_path / "elsewhere.data"
    outside.write_bytes(data.read_bytes())
    data.unlink()
    data.symlink_to(outside)
    with pytest.raises(CheckpointError, match="symbolic link"):
        read_tf_checkpoint(folder)
    # a state file pointing out of the folder reads the folder's own file of that name, never the outside one
    folder2 = _copy(FIX, tmp_path / "tf2")
    other = tmp_path / "other"
    other.mkdir()
    for f in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
        (other / f).write_bytes(b"garbage")
    (folder2 / "checkpoint").write_text(f'model_checkpoint_path: "{other}/model.ckpt"\n')
    assert len(read_tf_checkpoint(folder2)) > 0


@pytest.mark.parametrize("shape", [[10**30], [2**62, 4], [-1]])
def test_manifest_with_absurd_shapes_is_one_clear_error(tmp_path, shape):
    from musicneurons.model.magentajs import read_magenta_js
    from musicneurons.model.tfcheckpoint import CheckpointError

    folder = _copy(FIX / "js_float32", tmp_path / "js")
    manifest = json.loads((folder / "weights_manifest.json").read_text())
    manifest[0]["weights"][0]["shape"] = shape
    (folder / "weights_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError):
        read_magenta_js(folder)


@pytest.mark.parametrize("change", [
    {"max_seq_len": 10**9}, {"max_seq_len": 0}, {"max_seq_len": 33}, {"z_size": -4}, {"enc_rnn_size": [10**7]},
    {"dec_rnn_size": "big"}, {"level_lengths": [16, 3]}, {"n_classes": 91}, {"unknown_field": 1},
    {"beta_rate": float("nan")}, {"sampling_schedule": "whatever"},
])
def test_hostile_config_json_is_one_clear_error(tmp_path, change):
    from musicneurons.model.checkpoint import CheckpointMismatch, WEIGHTS_DIR, load_model

    folder = _copy(WEIGHTS_DIR / "mn-mel_2bar", tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(change)
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointMismatch, match="config.json"):
        load_model(checkpoint=folder)
    np.save(tmp_path / "x.npy", np.zeros(1))
    rc, err = _cli_load(["sample", "--checkpoint", folder, "--n", 1, "-o", "s"], tmp_path)
    assert rc == 2 and "config.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["truncate", "garbage_header", "huge_header_length", "nested_json_config"])
def test_corrupt_model_folder_is_one_clear_error(tmp_path, damage):
    from musicneurons.model.checkpoint import CheckpointMismatch, WEIGHTS_DIR, load_model

    folder = _copy(WEIGHTS_DIR / "mn-mel_2bar", tmp_path / "m")
    st = folder / "model.safetensors"
    raw = st.read_bytes()
    if damage == "truncate":
        st.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage_header":
        st.write_bytes(raw[:8] + b"{not json" + raw[17:])
    elif damage == "huge_header_length":
        st.write_bytes((2**60).to_bytes(8, "little") + raw[8:])
    else:
        (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointMismatch):
        load_model(checkpoint=folder)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_model_folder_weights_must_be_a_regular_file(tmp_path, kind):
    from musicneurons.model.checkpoint import CheckpointMismatch, WEIGHTS_DIR, load_model

    folder = _copy(WEIGHTS_DIR / "mn-mel_2bar", tmp_path / "m")
    st = folder / "model.safetensors"
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(st.read_bytes())
    st.unlink()
    if kind == "symlink":
        st.symlink_to(outside)
    else:
        os.mkfifo(st)
    with pytest.raises(CheckpointMismatch, match="not a regular file"):
        load_model(checkpoint=folder)


def test_deeply_nested_magenta_js_manifest_is_one_clear_error(tmp_path):
    from musicneurons.model.magentajs import read_magenta_js
    from musicneurons.model.tfcheckpoint import CheckpointError

    folder = _copy(FIX / "js_float32", tmp_path / "js")
    (folder / "weights_manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CheckpointError, match="weights_manifest.json: .*nested too deeply"):
        read_magenta_js(folder)
    rc, err = _cli_load(["convert", folder, "--config", "cat-mel_2bar_small", "-o", "out"], tmp_path)
    assert rc == 2 and "weights_manifest.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_convert_of_a_garbage_tar_is_one_line_saying_what_was_expected(tmp_path):
    (tmp_path / "garbage.tar").write_bytes(np.random.default_rng(0).bytes(3000))
    rc, err = _cli_load(["convert", "garbage.tar", "--config", "cat-mel_2bar_small", "-o", "out"], tmp_path)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert "garbage.tar: not a readable tar archive" in lines[0] and "Magenta TF checkpoint" in lines[0]


@pytest.mark.parametrize("stored, args, says", [
    ({"model": "no-such-model"}, [], "the model it names (model 'no-such-model'"),
    ({"model": "cat-mel_2bar_small", "checkpoint": "no/such/ckpt"}, [], "checkpoint no/such/ckpt"),
    ({}, ["--model", "no-such-model"], "the model asked for: unknown model 'no-such-model'"),
    ({}, [], "the file names no model"),
], ids=["stored-name", "stored-checkpoint", "asked-for", "none"])
def test_decode_with_a_model_that_cannot_load_names_the_latents(tmp_path, stored, args, says):
    mu = np.zeros((2, 512), np.float32)
    np.savez(tmp_path / "lat.npz", mu=mu, **{k: np.array(v) for k, v in stored.items()})
    rc, err = _cli_load(["decode", "lat.npz", *args, "-o", "dec"], tmp_path)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("musicneurons decode: error: lat.npz: "), err
    assert says in lines[0]
