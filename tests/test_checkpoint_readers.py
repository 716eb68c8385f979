"""The TF checkpoint and magenta.js readers against what TensorFlow and tensorflowjs wrote and read.

Fixtures: tests/fixtures/magenta_models/, made by make_fixtures.py there with Magenta's real code
(TF checkpoints saved by ``tf.train.Saver``; expected values from ``tf.train.load_checkpoint``;
magenta.js folders written by the real ``tensorflowjs.write_weights``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from musicneurons.model.magentajs import (read_magenta_js, read_magenta_js_config,
                                          write_magenta_js)
from musicneurons.model.tfcheckpoint import (OPTIMIZER_PATTERN, CheckpointError, _block,
                                             _block_entries, _varint, crc32c, list_tf_checkpoint,
                                             read_tf_checkpoint)

FIX = Path(__file__).parent / "fixtures" / "magenta_models"
MODELS = ["cat-mel_2bar_small", "cat-mel_2bar_big", "hierdec-mel_16bar"]
JS_DIR = FIX / "cat-mel_2bar_small"
SKIPPED_BY_DEFAULT = {"global_step", "beta1_power", "beta2_power", "enc/dense/kernel/Adam",
                      "enc/dense/kernel/Adam_1"}


def _fingerprint(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
                          ).hexdigest()


def _copy_ckpt(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.name.startswith("model.ckpt") or p.name == "checkpoint":
            shutil.copy(p, dst / p.name)
    return dst


def _raises_naming(path_fragment: str, fn, *args, match: str | None = None, **kw):
    with pytest.raises(CheckpointError) as info:
        fn(*args, **kw)
    msg = str(info.value)
    assert path_fragment in msg.split(": ")[0], msg
    if match is not None:
        assert match in msg, msg
    return msg


# --------------------------------------------------------------------------- TF: exact values
@pytest.mark.parametrize("name", MODELS)
def test_tf_reader_equals_tensorflow(name):
    expected = json.loads((FIX / name / "expected_weights.json").read_text())
    got = read_tf_checkpoint(FIX / name, skip_optimizer=False)
    assert sorted(got) == sorted(expected)
    for k, e in expected.items():
        a = got[k]
        assert list(a.shape) == e["shape"] and a.dtype.str == e["dtype"], k
        assert _fingerprint(a) == e["sha256"], k
        assert float(np.sum(a, dtype=np.float64)) == pytest.approx(e["sum"], rel=1e-12, abs=1e-9)
    assert got["global_step"].dtype == np.int64 and got["global_step"].shape == ()
    default = read_tf_checkpoint(FIX / name)
    assert sorted(default) == sorted(k for k in expected if k != "global_step")


@pytest.mark.parametrize("name", MODELS)
def test_fixture_shapes_match_config(name):
    meta = json.loads((FIX / "configs.json").read_text())["models"][name]
    shapes = {k: tuple(v[0]) for k, v in list_tf_checkpoint(FIX / name).items()}
    assert shapes == {k: tuple(v) for k, v in meta["variables"].items()}
    h = meta["enc_rnn_size"][0]
    k = shapes["encoder/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel"]
    assert k == (meta["input_depth"] + h, 4 * h)
    assert shapes["encoder/mu/kernel"] == (2 * meta["enc_rnn_size"][-1], meta["z_size"])


def test_reader_misc_dtypes_scalars_and_two_shards():
    expected = np.load(FIX / "reader_misc" / "expected_weights.npz", allow_pickle=False)
    assert len(list((FIX / "reader_misc").glob("model.ckpt.data-*"))) == 2
    got = read_tf_checkpoint(FIX / "reader_misc" / "model.ckpt", skip_optimizer=False)
    assert sorted(got) == sorted(expected.files)
    dtypes = set()
    for k in expected.files:
        e = expected[k]
        assert got[k].dtype == e.dtype and got[k].shape == e.shape, k
        assert np.array_equal(got[k], e), k
        assert got[k].flags.writeable and got[k].flags.c_contiguous
        dtypes.add(e.dtype.name)
    assert {"float32", "float16", "float64", "int32", "int64", "bool"} <= dtypes
    assert got["empty/w"].shape == (0, 3) and got["scalar/f"].shape == ()
    default = read_tf_checkpoint(FIX / "reader_misc")
    assert set(expected.files) - set(default) == SKIPPED_BY_DEFAULT


def test_optimizer_pattern():
    for n in ["global_step", "beta1_power", "beta2_power", "a/b/Adam", "a/b/Adam_1", "x/Adam/y"]:
        assert OPTIMIZER_PATTERN.search(n), n
    for n in ["encoder/mu/kernel", "decoder/Adamant/w", "my_global_step_x", "beta1_power_x"]:
        assert not OPTIMIZER_PATTERN.search(n), n


def test_many_vars_multi_block_index_in_tar_gz():
    tar = FIX / "many_vars.tar.gz"
    with tarfile.open(tar) as t:
        index = t.extractfile("many_vars/model.ckpt.index").read()
    # precondition: the fixture's index table has several data blocks
    footer = index[-48:]
    _, p = _varint(footer, 0, "")
    _, p = _varint(footer, p, "")
    off, p = _varint(footer, p, "")
    size, _ = _varint(footer, p, "")
    n_blocks = len(list(_block_entries(_block(index, off, size, "index", True), "index")))
    assert n_blocks >= 2
    expected = np.load(FIX / "many_vars_expected.npz", allow_pickle=False)
    names = [n.decode() for n in expected["names"]]
    got = read_tf_checkpoint(tar)
    assert list(got) == names
    assert np.array_equal(np.array([got[n] for n in names]), expected["values"])


# ------------------------------------------------------------------------------ input forms
def test_input_forms(tmp_path):
    ref = read_tf_checkpoint(FIX / "cat-mel_2bar_small")
    src = FIX / "cat-mel_2bar_small"
    forms = [src / "model.ckpt", str(src / "model.ckpt.index"),
             src / "model.ckpt.data-00000-of-00001"]
    bare = _copy_ckpt(src, tmp_path / "bare")
    (bare / "checkpoint").unlink()  # no state file: the single *.index is used
    forms.append(bare)
    moved = _copy_ckpt(src, tmp_path / "moved")  # state file with another machine's path
    (moved / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/run/model.ckpt"\n')
    forms.append(moved)
    tar_path = tmp_path / "cat-mel_2bar_small.tar"
    with tarfile.open(tar_path, "w") as t:
        for p in sorted(src.glob("model.ckpt*")):
            t.add(p, arcname=f"cat-mel_2bar_small/{p.name}")
        t.add(src / "checkpoint", arcname="cat-mel_2bar_small/checkpoint")
    forms.append(tar_path)
    for form in forms:
        got = read_tf_checkpoint(form)
        assert list(got) == list(ref), form
        assert all(np.array_equal(got[k], ref[k]) for k in ref), form
    assert not any(p.name.startswith("model.ckpt") for p in tmp_path.iterdir())  # no extraction


def test_not_a_checkpoint(tmp_path):
    _raises_naming(str(tmp_path / "nothing"), read_tf_checkpoint, tmp_path / "nothing")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    _raises_naming(str(empty), read_tf_checkpoint, empty, match="index")


# --------------------------------------------------------------------------- TF: bad files
def _index_layout(index: bytes):
    footer = index[-48:]
    _, p = _varint(footer, 0, "")
    _, p = _varint(footer, p, "")
    off, p = _varint(footer, p, "")
    size, _ = _varint(footer, p, "")
    block = _block(index, off, size, "index", True)
    (_, handle), = list(_block_entries(block, "index"))
    d_off, q = _varint(handle, 0, "")
    d_size, _ = _varint(handle, q, "")
    return d_off, d_size


@pytest.fixture
def ckpt(tmp_path):
    return _copy_ckpt(FIX / "cat-mel_2bar_small", tmp_path / "ckpt")


def test_truncated_index(ckpt):
    idx = ckpt / "model.ckpt.index"
    idx.write_bytes(idx.read_bytes()[:-10])
    _raises_naming(str(idx), read_tf_checkpoint, ckpt)
    idx.write_bytes(b"")
    _raises_naming(str(idx), read_tf_checkpoint, ckpt, match="footer")


def test_index_bad_magic(ckpt):
    idx = ckpt / "model.ckpt.index"
    raw = bytearray(idx.read_bytes())
    raw[-1] ^= 0xFF
    idx.write_bytes(bytes(raw))
    _raises_naming(str(idx), read_tf_checkpoint, ckpt, match="magic")


def test_index_corrupt_block_fails_crc(ckpt):
    idx = ckpt / "model.ckpt.index"
    raw = bytearray(idx.read_bytes())
    d_off, d_size = _index_layout(bytes(raw))
    raw[d_off + d_size // 2] ^= 0x01
    idx.write_bytes(bytes(raw))
    _raises_naming(str(idx), read_tf_checkpoint, ckpt, match="crc32c")


def test_index_snappy_block_is_refused(ckpt):
    idx = ckpt / "model.ckpt.index"
    raw = bytearray(idx.read_bytes())
    d_off, d_size = _index_layout(bytes(raw))
    raw[d_off + d_size] = 1  # block trailer: compression type snappy
    idx.write_bytes(bytes(raw))
    _raises_naming(str(idx), read_tf_checkpoint, ckpt, match="snappy")


def test_missing_data_shard(ckpt):
    data = ckpt / "model.ckpt.data-00000-of-00001"
    data.unlink()
    _raises_naming(str(data), read_tf_checkpoint, ckpt, match="missing")


def test_missing_second_shard(tmp_path):
    d = _copy_ckpt(FIX / "reader_misc", tmp_path / "misc")
    second = d / "model.ckpt.data-00001-of-00002"
    second.unlink()
    _raises_naming(str(second), read_tf_checkpoint, d, match="missing")


def test_truncated_data_shard(ckpt):
    data = ckpt / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-100])
    _raises_naming(str(data), read_tf_checkpoint, ckpt, match="truncated")


def test_corrupt_data_shard_fails_crc(ckpt):
    data = ckpt / "model.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 3] ^= 0x40
    data.write_bytes(bytes(raw))
    _raises_naming(str(data), read_tf_checkpoint, ckpt, match="crc32c")
    # the checksum is what catches it: without it the bytes are read and differ
    got = read_tf_checkpoint(ckpt, verify_crc=False)
    ref = read_tf_checkpoint(FIX / "cat-mel_2bar_small")
    assert sum(not np.array_equal(got[k], ref[k]) for k in ref) == 1


def test_tar_missing_data_member(tmp_path):
    src = FIX / "cat-mel_2bar_small"
    tar_path = tmp_path / "broken.tar"
    with tarfile.open(tar_path, "w") as t:
        t.add(src / "model.ckpt.index", arcname="m/model.ckpt.index")
    msg = _raises_naming(str(tar_path), read_tf_checkpoint, tar_path, match="missing")
    assert "model.ckpt.data-00000-of-00001" in msg


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 300_001, dtype=np.uint8).tobytes()  # vectorized path
    assert crc32c(data) == crc32c(data[100_000:], crc32c(data[:100_000]))
    small = [crc32c(data[i:i + 50_000]) for i in range(0, 300_001, 50_000)]
    crc = 0
    for i in range(0, 300_001, 50_000):
        crc = crc32c(data[i:i + 50_000], crc)
    assert crc == crc32c(data) and len(set(small)) == len(small)


# ------------------------------------------------------------------------------ magenta.js
def _manifest(folder: Path) -> list[dict]:
    return json.loads((folder / "weights_manifest.json").read_text())


def test_js_float32_equals_tf():
    tf_w = read_tf_checkpoint(JS_DIR)
    folder = JS_DIR / "js_float32"
    assert len(_manifest(folder)[0]["paths"]) > 1  # several shards, concatenated
    js = read_magenta_js(folder)
    assert list(js) == [w["name"] for w in _manifest(folder)[0]["weights"]]
    assert sorted(js) == sorted(tf_w)
    for k, v in tf_w.items():
        assert js[k].dtype == np.float32 and np.array_equal(js[k], v), k


@pytest.mark.parametrize("q", ["uint8", "uint16"])
def test_js_quantized_within_half_scale(q):
    tf_w = read_tf_checkpoint(JS_DIR)
    folder = JS_DIR / f"js_{q}"
    js = read_magenta_js(folder)
    assert sorted(js) == sorted(tf_w)
    for w in _manifest(folder)[0]["weights"]:
        assert w["quantization"]["dtype"] == q
        a, b = js[w["name"]], tf_w[w["name"]]
        assert a.shape == b.shape and a.dtype == np.float32
        tol = w["quantization"]["scale"] / 2 + np.spacing(np.abs(b).astype(np.float32))
        assert np.all(np.abs(a.astype(np.float64) - b) <= tol), w["name"]
        assert np.abs(a - b).max() > 0  # really quantized


@pytest.mark.parametrize("q", ["float32", "uint8", "uint16"])
def test_js_reader_equals_tfjs_loader(q):
    """Bit-identical to TensorFlow.js's own loader (tf.io.weightsLoaderFactory, tfjs-core 4.22)."""
    decoded = json.loads((JS_DIR / "tfjs_decoded.json").read_text())[f"js_{q}"]
    got = read_magenta_js(JS_DIR / f"js_{q}")
    assert sorted(got) == sorted(decoded)
    for name, e in decoded.items():
        assert list(got[name].shape) == e["shape"] and got[name].dtype == np.float32, name
        assert _fingerprint(got[name]) == e["sha256"], name


@pytest.mark.parametrize("q", [None, "uint8", "uint16"])
def test_js_writer_matches_tensorflowjs_bytes(tmp_path, q):
    """Our writer reproduces the real tfjs writer's manifest text and shard bytes exactly."""
    ref = JS_DIR / f"js_{q or 'float32'}"
    tf_w = read_tf_checkpoint(JS_DIR, skip_optimizer=False)  # includes global_step: dropped
    order = [w["name"] for w in _manifest(ref)[0]["weights"]]
    weights = {"global_step": tf_w["global_step"], **{n: tf_w[n] for n in order}}
    meta = json.loads((FIX / "configs.json").read_text())["models"]["cat-mel_2bar_small"]
    out = tmp_path / "js"
    write_magenta_js(weights, out, quantize=q, shard_bytes=meta["magenta_js"]["shard_bytes"])
    assert (out / "weights_manifest.json").read_text() == (ref / "weights_manifest.json").read_text()
    for p in _manifest(ref)[0]["paths"]:
        assert (out / p).read_bytes() == (ref / p).read_bytes(), p


def test_js_writer_roundtrip_dtypes_and_filter(tmp_path):
    rng = np.random.default_rng(1)
    w = {"a/kernel": rng.normal(size=(5, 3)), "a/kernel/Adam": np.ones(3, np.float32),
         "beta1_power": np.float32(0.9), "global_step": np.int64(7),
         "n/i": np.arange(6, dtype=np.int64).reshape(2, 3), "n/b": np.array([True, False]),
         "c": np.full((4,), 0.25, np.float32)}
    man = write_magenta_js(w, tmp_path / "x", quantize="uint8", shard_bytes=7,
                           config={"type": "MusicVAE"})
    assert [e["name"] for e in man[0]["weights"]] == ["a/kernel", "n/i", "n/b", "c"]
    assert len(man[0]["paths"]) == 7  # 15 + 24 + 2 + 4 = 45 bytes in 7-byte shards
    got = read_magenta_js(tmp_path / "x")
    assert got["n/i"].dtype == np.int32 and np.array_equal(got["n/i"], w["n/i"])
    assert got["n/b"].dtype == np.bool_ and np.array_equal(got["n/b"], w["n/b"])
    assert np.array_equal(got["c"], w["c"])  # constant tensor: min = value, scale 1
    scale = man[0]["weights"][0]["quantization"]["scale"]
    assert np.abs(got["a/kernel"] - w["a/kernel"]).max() <= scale / 2 + 1e-6
    assert read_magenta_js_config(tmp_path / "x") == {"type": "MusicVAE"}
    assert read_magenta_js_config(tmp_path) is None


@pytest.fixture
def js_copy(tmp_path):
    dst = tmp_path / "js"
    shutil.copytree(JS_DIR / "js_uint16", dst)
    return dst


def test_js_missing_shard(js_copy):
    p = js_copy / _manifest(js_copy)[0]["paths"][1]
    p.unlink()
    _raises_naming(str(p), read_magenta_js, js_copy, match="missing")


def test_js_short_and_long_shard(js_copy):
    p = js_copy / _manifest(js_copy)[0]["paths"][-1]
    raw = p.read_bytes()
    p.write_bytes(raw[:-3])
    _raises_naming(str(p), read_magenta_js, js_copy, match="short")
    p.write_bytes(raw + b"\0\0")
    _raises_naming(str(p), read_magenta_js, js_copy, match="longer")


def test_js_bad_json_and_missing_manifest(js_copy):
    m = js_copy / "weights_manifest.json"
    m.write_text(m.read_text()[:-5])
    _raises_naming(str(m), read_magenta_js, js_copy, match="JSON")
    m.write_text(json.dumps({"paths": []}))
    _raises_naming(str(m), read_magenta_js, js_copy)
    m.unlink()
    _raises_naming(str(m), read_magenta_js, js_copy, match="missing")
    cfg = js_copy / "config.json"
    cfg.write_text("{not json")
    _raises_naming(str(cfg), read_magenta_js_config, js_copy, match="JSON")


def test_js_manifest_paths_must_stay_inside(js_copy):
    m = js_copy / "weights_manifest.json"
    man = _manifest(js_copy)
    man[0]["paths"][0] = "../outside.bin"
    m.write_text(json.dumps(man))
    _raises_naming(str(m), read_magenta_js, js_copy, match="relative")


def test_struct_sanity():
    # the footer magic the reader checks is TF's kTableMagicNumber, little-endian
    raw = (FIX / "cat-mel_2bar_small" / "model.ckpt.index").read_bytes()
    assert struct.unpack("<Q", raw[-8:])[0] == 0xDB4775248B80FB57
