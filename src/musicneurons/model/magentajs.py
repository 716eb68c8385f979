"""Read and write magenta.js checkpoint folders (TensorFlow.js weight manifests), numpy only.

A folder holds ``weights_manifest.json``::

    [{"paths": ["group1-shard1of3.bin", ...],
      "weights": [{"name": "encoder/mu/kernel", "shape": [1024, 256], "dtype": "float32",
                   "quantization": {"dtype": "uint8", "min": -0.68, "scale": 0.005}}, ...]}]

and, per group, shard files that concatenated in ``paths`` order form one little-endian byte
stream with the weights back to back in manifest order (float32: 4 bytes a value; quantized:
1 byte (uint8) or 2 bytes (uint16/float16) a value, dequantized as ``v = q * scale + min``).
Weight names are the TF checkpoint names unchanged. magenta.js folders may also hold a
``config.json`` (``{"type": "MusicVAE", "dataConverter": {...}}``).

The writer follows magenta-js ``scripts/checkpoint_converter.py`` (drop ``global_step`` and names
matching ``.*Adam.*|beta.*_power``) and ``tensorflowjs.write_weights`` (one group, 4 MiB shards
``group1-shard{i}of{n}.bin``, float64 -> float32 and int64 -> int32 auto conversion, only float32
tensors quantized, with tfjs's zero-nudged affine ``min``/``scale``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath

import numpy as np

from musicneurons.model.tfcheckpoint import CheckpointError

__all__ = ["read_magenta_js", "read_magenta_js_config", "write_magenta_js", "quantize_tfjs",
           "MANIFEST", "CONVERTER_REMOVE_REGEX"]

MANIFEST = "weights_manifest.json"
CONFIG = "config.json"
CONVERTER_REMOVE_REGEX = r".*Adam.*|beta.*_power"

_PLAIN = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("?")}
_QUANT = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}


def _load_json(path: Path, what: str):
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from e
    except RecursionError:  # e.g. [[[[...]]]] 200,000 deep
        raise CheckpointError(f"{path}: invalid {what}: JSON nested too deeply") from None


def read_magenta_js_config(folder) -> dict | None:
    """The folder's ``config.json`` as a dict, or None when the folder has none."""
    path = _inside(Path(folder), CONFIG)
    if not path.exists():
        return None
    cfg = _load_json(path, "config file")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing a symbolic link or anything that resolves outside the folder."""
    path = folder / name
    if path.is_symlink():
        raise CheckpointError(f"{path}: is a symbolic link; checkpoint files must be plain files in the folder")
    if path.exists() and folder.resolve() not in path.resolve().parents:
        raise CheckpointError(f"{path}: resolves outside the checkpoint folder {folder}")
    return path


def _check_manifest(manifest, path: Path) -> list[dict]:
    if not isinstance(manifest, list) or not manifest:
        raise CheckpointError(f"{path}: expected a non-empty JSON list of weight groups")
    for g, group in enumerate(manifest):
        if (not isinstance(group, dict) or not isinstance(group.get("paths"), list)
                or not isinstance(group.get("weights"), list)):
            raise CheckpointError(f"{path}: group {g} needs a 'paths' list and a 'weights' list")
        for p in group["paths"]:
            pp = PurePosixPath(p) if isinstance(p, str) else None
            if pp is None or pp.is_absolute() or ".." in pp.parts or "\\" in p or not p:
                raise CheckpointError(f"{path}: group {g} shard path {p!r} is not a plain "
                                      f"relative file name")
        for w in group["weights"]:
            ok = (isinstance(w, dict) and isinstance(w.get("name"), str)
                  and isinstance(w.get("shape"), list)
                  and all(isinstance(d, int) and d >= 0 for d in w["shape"]))
            if not ok:
                raise CheckpointError(f"{path}: group {g} has a malformed weight entry {w!r:.200}")
    return manifest


def _decode(w: dict, raw: bytes, manifest_path: Path) -> np.ndarray:
    name, shape, dtype = w["name"], w["shape"], w.get("dtype", "float32")
    q = w.get("quantization")
    if q is None:
        arr = np.frombuffer(raw, dtype=_PLAIN[dtype]).reshape(shape)
        return arr.astype(_PLAIN[dtype].newbyteorder("="), copy=True)
    qd = np.frombuffer(raw, dtype=_QUANT[q["dtype"]]).reshape(shape)
    if q["dtype"] == "float16":
        return qd.astype(np.float32)
    try:
        scale, vmin = float(q["scale"]), float(q["min"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{manifest_path}: weight {name!r} is quantized without a numeric "
                              f"'scale' and 'min'") from e
    values = qd.astype(np.float64) * scale + vmin  # tfjs: float64 arithmetic, stored as float32
    if dtype == "int32":
        return np.round(values).astype(np.int32)
    return values.astype(np.float32)


def _nbytes(w: dict, manifest_path: Path) -> int:
    dtype, q = w.get("dtype", "float32"), w.get("quantization")
    if dtype not in _PLAIN:
        raise CheckpointError(f"{manifest_path}: weight {w['name']!r} has unsupported dtype "
                              f"{dtype!r}")
    if q is not None:
        if not isinstance(q, dict) or q.get("dtype") not in _QUANT:
            raise CheckpointError(f"{manifest_path}: weight {w['name']!r} has unsupported "
                                  f"quantization {q!r}")
        itemsize = _QUANT[q["dtype"]].itemsize
    else:
        itemsize = _PLAIN[dtype].itemsize
    return math.prod(w["shape"]) * itemsize  # Python ints: a shape like [10**30] cannot overflow to a small size


def read_magenta_js(folder) -> dict[str, np.ndarray]:
    """Read every weight of a magenta.js / TF.js checkpoint folder.

    Parameters
    ----------
    folder : str or Path
        Folder with ``weights_manifest.json`` and its shard files.

    Returns
    -------
    dict[str, np.ndarray]
        ``name -> array`` in manifest order, with the manifest shapes; quantized weights are
        dequantized to float32 (``q * scale + min``), as tfjs does.

    Raises
    ------
    CheckpointError
        ``"<file>: <reason>"`` for a missing manifest or shard, invalid JSON, a shard shorter
        (or longer) than the manifest describes, duplicate names, or an unsupported dtype.
    """
    folder = Path(folder)
    manifest_path = _inside(folder, MANIFEST)
    manifest = _check_manifest(_load_json(manifest_path, "weights manifest"), manifest_path)
    out: dict[str, np.ndarray] = {}
    for g, group in enumerate(manifest):
        sizes = [_nbytes(w, manifest_path) for w in group["weights"]]
        need = sum(sizes)
        shards = [_inside(folder, p) for p in group["paths"]]
        for shard in shards:
            if not shard.is_file():
                raise CheckpointError(f"{shard}: weight shard is missing")
        have = sum(sh.stat().st_size for sh in shards)
        if have != need:  # checked before reading anything: a manifest cannot make us allocate what is not there
            kind = "short" if have < need else "longer than the manifest describes"
            raise CheckpointError(f"{shards[-1] if shards else manifest_path}: group {g + 1} shards hold {have} "
                                  f"bytes, the manifest needs {need}: shard data is {kind}")
        chunks = [sh.read_bytes() for sh in shards]
        buf = b"".join(chunks)
        if len(buf) != need:
            last = folder / group["paths"][-1] if group["paths"] else manifest_path
            kind = "short" if len(buf) < need else "longer than the manifest describes"
            raise CheckpointError(f"{last}: group {g + 1} shards hold {len(buf)} bytes, the "
                                  f"manifest needs {need}: shard data is {kind}")
        pos = 0
        for w, n in zip(group["weights"], sizes):
            if w["name"] in out:
                raise CheckpointError(f"{manifest_path}: duplicate weight name {w['name']!r}")
            out[w["name"]] = _decode(w, buf[pos:pos + n], manifest_path)
            pos += n
    return out


def quantize_tfjs(data: np.ndarray, dtype: str) -> tuple[np.ndarray, dict]:
    """tfjs ``quantization.quantize_weights``: zero-nudged affine uint8/uint16 quantization.

    Returns
    -------
    (np.ndarray, dict)
        Quantized values (shape of ``data``), and ``{"min", "scale"}`` with
        ``data ~= q * scale + min`` to within ``scale / 2``.
    """
    qdtype = _QUANT[dtype]
    if dtype == "float16":
        return data.astype("<f2"), {}
    vmin = np.float64(data.min())
    vmax = np.float64(data.max())
    if vmin == vmax:
        return np.zeros(data.shape, dtype=qdtype), {"min": vmin, "scale": 1.0}
    qmax = np.iinfo(qdtype).max
    scale = (vmax - vmin) / qmax
    if vmin <= 0 <= vmax:  # nudge so that 0.0 is exactly representable (as TF-Lite)
        zero = np.round((0 - vmin) / scale)
        vmin = -zero * scale
        vmax = qmax * scale + vmin
    q = np.round((data.astype(np.float64).clip(vmin, vmax) - vmin) / scale).astype(qdtype)
    return q, {"min": vmin, "scale": scale}


def write_magenta_js(weights: dict, folder, quantize: str | None = None,
                     shard_bytes: int = 4 * 1024 * 1024,
                     remove_regex: str | None = CONVERTER_REMOVE_REGEX,
                     config: dict | None = None) -> list[dict]:
    """Write ``weights`` as a magenta.js checkpoint folder, as magenta-js's converter does.

    Parameters
    ----------
    weights : dict[str, np.ndarray]
        Name -> array, written in this order. ``global_step`` and names matching
        ``remove_regex`` (``re.match``) are dropped.
    folder : str or Path
        Output folder (created).
    quantize : None, "uint8", "uint16" or "float16"
        Quantize float32 weights (tfjs ``quantization_dtype_map={quantize: True}``).
    shard_bytes : int
        Shard size; the last shard holds the rest.
    config : dict, optional
        Written as ``config.json``.

    Returns
    -------
    list[dict]
        The manifest written to ``weights_manifest.json``.
    """
    if quantize not in (None, "uint8", "uint16", "float16"):
        raise ValueError(f"quantize must be None, 'uint8', 'uint16' or 'float16', not {quantize!r}")
    if not isinstance(shard_bytes, int) or shard_bytes <= 0:
        raise ValueError(f"shard_bytes must be a positive int, not {shard_bytes!r}")
    rx = re.compile(remove_regex) if remove_regex else None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries, blobs = [], []
    for name, value in weights.items():
        if name == "global_step" or (rx is not None and rx.match(name)):
            continue
        arr = np.asarray(value)
        if arr.dtype == np.float64 or arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64:
            arr = arr.astype(np.int32)
        dname = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32",
                 np.dtype(bool): "bool"}.get(arr.dtype)
        if dname is None:
            raise ValueError(f"weight {name!r}: dtype {arr.dtype} cannot be written")
        entry = {"name": name, "shape": list(arr.shape), "dtype": dname}
        if quantize is not None and dname == "float32":
            q, meta = quantize_tfjs(arr, quantize)
            entry["quantization"] = {"dtype": quantize, **meta, "original_dtype": "float32"}
            arr = q
        entries.append(entry)
        blobs.append(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    data = b"".join(blobs)
    n_shards = max(1, math.ceil(len(data) / shard_bytes)) if data else 0
    paths = []
    for i in range(n_shards):
        name = f"group1-shard{i + 1}of{n_shards}.bin"
        (folder / name).write_bytes(data[i * shard_bytes:(i + 1) * shard_bytes])
        paths.append(name)
    manifest = [{"paths": paths, "weights": entries}]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    if config is not None:
        (folder / CONFIG).write_text(json.dumps(config))
    return manifest
