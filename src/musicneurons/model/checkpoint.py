"""Weights in and out: our safetensors format, Magenta TF checkpoints and magenta.js folders.

Our format is a folder with ``model.safetensors`` (PyTorch parameter names) and ``config.json``. Magenta's
variables are mapped onto our parameters by one explicit table (:func:`magenta_name_table`); every shape is
asserted and a checkpoint that does not fit a config fails with one error naming the variable and both shapes.
Nothing here unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .config import CONFIGS, MusicVAEConfig, get_config
from .musicvae import MusicVAE

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = {"mn-mel_2bar": "mn-mel_2bar", "mn-mel_16bar": "mn-mel_16bar"}


class CheckpointMismatch(ValueError):
    """A checkpoint whose variables do not fit the config."""


# -- the name table ---------------------------------------------------------------------------------------


def magenta_name_table(cfg: MusicVAEConfig) -> list[tuple[str, str, str]]:
    """``(magenta variable, our parameter prefix, kind)`` for every variable of a Magenta checkpoint.

    kind: ``dense`` (kernel [in, out] -> Linear.weight [out, in]) or ``lstm`` (LSTMBlockCell kernel
    [in + H, 4H] with gates i, j, f, o -> nn.LSTM weight_ih/weight_hh/bias_ih/bias_hh, gates i, f, g, o,
    forget bias + 1).
    """
    t = []
    if cfg.enc_level_lengths:  # HierarchicalLstmEncoder: one BidirectionalLstmEncoder per level
        enc_scopes = [(f"encoder/hierarchical_level_{i}", f"encoder.levels.{i}") for i in range(len(cfg.enc_level_lengths))]
    else:
        enc_scopes = [("encoder", "encoder.layers")]
    for tf_scope, ours in enc_scopes:
        for layer in range(len(cfg.enc_rnn_size)):
            for d, suffix in (("fw", "_l0"), ("bw", "_l0_reverse")):
                t.append((f"{tf_scope}/cell_{layer}/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell",
                          f"{ours}.{layer}|{suffix}", "lstm"))
    t += [("encoder/mu", "encoder.mu", "dense"), ("encoder/sigma", "encoder.sigma", "dense")]
    if cfg.hierarchical:
        t.append(("decoder/hierarchical_level_0/initial_state", "decoder.initial_state_proj", "dense"))
        for k in range(len(cfg.dec_rnn_size)):
            t.append((f"decoder/hierarchical_level_0/cell_{k}/lstm_cell", f"decoder.conductor.{k}|_l0", "lstm"))
        tf_dec, ours = "core_decoder/decoder", "decoder.core"
    else:
        tf_dec, ours = "decoder", "decoder"
    t.append((f"{tf_dec}/z_to_initial_state", f"{ours}.z_to_initial_state", "dense"))
    for k in range(len(cfg.dec_rnn_size)):
        t.append((f"{tf_dec}/multi_rnn_cell/cell_{k}/lstm_cell", f"{ours}.layers.{k}|_l0", "lstm"))
    t.append((f"{tf_dec}/output_projection", f"{ours}.output_projection", "dense"))
    return t


def _expect(params: dict, name: str, shape, source: str, cfg: MusicVAEConfig):
    if name not in params:
        raise CheckpointMismatch(f"{source}: variable {name} is missing (config {cfg.name})")
    arr = params[name]
    if tuple(arr.shape) != tuple(shape):
        raise CheckpointMismatch(
            f"{source}: variable {name} has shape {list(arr.shape)} but config {cfg.name} expects {list(shape)}")
    return np.asarray(arr, dtype=np.float32)


def state_dict_from_magenta(weights: dict, cfg: MusicVAEConfig, source: str = "checkpoint") -> dict:
    """Map Magenta variables (TF names -> arrays) onto a state dict of :class:`MusicVAE`."""
    ours = _empty_model(cfg).state_dict()  # shapes only
    sd = {}
    for tf_name, prefix, kind in magenta_name_table(cfg):
        if kind == "dense":
            w = ours[f"{prefix}.weight"]
            sd[f"{prefix}.weight"] = torch.from_numpy(
                _expect(weights, f"{tf_name}/kernel", (w.shape[1], w.shape[0]), source, cfg).T.copy())
            sd[f"{prefix}.bias"] = torch.from_numpy(_expect(weights, f"{tf_name}/bias", (w.shape[0],), source, cfg))
            continue
        module, suffix = prefix.split("|")
        four_h, n_in = ours[f"{module}.weight_ih{suffix}"].shape
        h = four_h // 4
        kernel = torch.from_numpy(_expect(weights, f"{tf_name}/kernel", (n_in + h, four_h), source, cfg))
        bias = _expect(weights, f"{tf_name}/bias", (four_h,), source, cfg)
        bi, bj, bf, bo = np.split(bias, 4)
        # Magenta's gates i, j, f, o (columns of [input; h] x 4H) -> PyTorch's rows i, f, g(=j), o
        # (one blocked transpose, then a row gather: ~2x faster than numpy's strided .T.copy() on 500 MB)
        rows = kernel.t().contiguous().reshape(4, h, n_in + h)[[0, 2, 1, 3]].reshape(four_h, n_in + h)
        sd[f"{module}.weight_ih{suffix}"] = rows[:, :n_in].contiguous()
        sd[f"{module}.weight_hh{suffix}"] = rows[:, n_in:].contiguous()
        sd[f"{module}.bias_ih{suffix}"] = torch.from_numpy(np.concatenate([bi, bf + 1.0, bj, bo]))
        sd[f"{module}.bias_hh{suffix}"] = torch.zeros(four_h)
    missing = set(ours) - set(sd)
    assert not missing, f"name table does not cover {sorted(missing)}"
    return sd


def magenta_from_state_dict(sd: dict, cfg: MusicVAEConfig) -> dict:
    """Inverse of :func:`state_dict_from_magenta` (our weights under Magenta's names)."""
    out = {}
    for tf_name, prefix, kind in magenta_name_table(cfg):
        if kind == "dense":
            out[f"{tf_name}/kernel"] = sd[f"{prefix}.weight"].float().numpy().T.copy()
            out[f"{tf_name}/bias"] = sd[f"{prefix}.bias"].float().numpy().copy()
            continue
        module, suffix = prefix.split("|")
        w_ih = sd[f"{module}.weight_ih{suffix}"].float().numpy()
        w_hh = sd[f"{module}.weight_hh{suffix}"].float().numpy()
        b = (sd[f"{module}.bias_ih{suffix}"] + sd[f"{module}.bias_hh{suffix}"]).float().numpy()
        k = np.concatenate([w_ih.T, w_hh.T], axis=0)
        ki, kf, kj, ko = np.split(k, 4, axis=1)
        bi, bf, bj, bo = np.split(b, 4)
        out[f"{tf_name}/kernel"] = np.concatenate([ki, kj, kf, ko], axis=1)
        out[f"{tf_name}/bias"] = np.concatenate([bi, bj, bf - 1.0, bo])
    return out


# -- reading and writing ----------------------------------------------------------------------------------


def save_model(model: MusicVAE, folder, dtype=torch.float32, metadata: dict | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(folder / "model.safetensors.tmp"), metadata={k: str(v) for k, v in (metadata or {}).items()})
    (folder / "model.safetensors.tmp").replace(folder / "model.safetensors")
    (folder / "config.json").write_text(model.cfg.to_json())
    return folder


def _read_magenta(path: Path, cfg: MusicVAEConfig | None = None) -> dict:
    if path.is_dir() and (path / "weights_manifest.json").exists():
        from .magentajs import read_magenta_js

        return read_magenta_js(path)
    from .tfcheckpoint import read_tf_checkpoint

    names = None
    if cfg is not None:  # only the variables the config uses are read (and allocated)
        names = {f"{tf}/{leaf}" for tf, _, _ in magenta_name_table(cfg) for leaf in ("kernel", "bias")}
    return read_tf_checkpoint(path, names=names)


def resolve_device(device) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` -> a torch device that exists here, or a ValueError saying why not."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r} ({e}); use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise ValueError(f"device {device!r} is not available: this PyTorch ({torch.__version__}) is built without "
                             f"CUDA; install a CUDA build of torch or use --device cpu")
        if not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available: {torch.cuda.device_count()} CUDA device(s) visible")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} is not available on this machine")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r} is not supported; use cpu, cuda, cuda:N or mps")
    return dev


def model_fingerprint(model: MusicVAE) -> str:
    """sha256 (first 16 hex digits) of the config and every weight: two latents files come from the same model
    exactly when their fingerprints agree."""
    h = hashlib.sha256(model.cfg.to_json().encode())
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def is_model_folder(path) -> bool:
    """A folder written by :func:`save_model` (``config.json`` + ``model.safetensors``)."""
    p = Path(path)
    return p.is_dir() and (p / "model.safetensors").is_file() and (p / "config.json").is_file()


def load_model(name: str | None = None, checkpoint=None, device="cpu", config: str | MusicVAEConfig | None = None
               ) -> MusicVAE:
    """A model by shipped name, from our folder format, or from a Magenta checkpoint.

    - ``load_model("mn-mel_2bar")``: a model shipped with the package.
    - ``load_model(checkpoint="runs/model")``: a folder written by :func:`save_model` / ``musicneurons train``.
    - ``load_model("cat-mel_2bar_big", checkpoint="cat-mel_2bar_big.tar")``: Magenta's TF checkpoint (a
      ``.tar``, a prefix or a folder) or a magenta.js folder, read without TensorFlow, with that config.
    """
    device = resolve_device(device)
    if checkpoint is None and name is not None and name not in SHIPPED and is_model_folder(name):
        name, checkpoint = None, name  # load_model("path/to/folder")
    if checkpoint is None:
        if name in SHIPPED:
            folder = WEIGHTS_DIR / SHIPPED[name]
            if not (folder / "model.safetensors").exists():
                raise FileNotFoundError(f"shipped model {name} is not installed at {folder}")
            return load_model(checkpoint=folder, device=device)
        if name in CONFIGS:
            raise ValueError(f"{name} is Magenta's architecture; pass its checkpoint (--checkpoint PATH). "
                             f"Shipped models: {', '.join(SHIPPED)}")
        raise ValueError(f"unknown model {name!r}; shipped: {', '.join(SHIPPED)}; configs: {', '.join(CONFIGS)}")
    path = Path(checkpoint)
    if not path.exists() and not Path(str(path) + ".index").exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.is_dir() and (path / "model.safetensors").exists():
        st = path / "model.safetensors"
        if st.is_symlink() or not st.is_file():  # a link out of the folder, or a FIFO that would block
            raise CheckpointMismatch(f"{st}: not a regular file in the folder (a symbolic link or a special file)")
        cfg = read_config(path / "config.json")
        model = _empty_model(cfg)
        try:
            sd = load_file(str(path / "model.safetensors"))
        except Exception as e:  # safetensors validates the header against the file size before reading
            raise CheckpointMismatch(f"{path / 'model.safetensors'}: not a readable safetensors file "
                                     f"({type(e).__name__}: {str(e)[:200]})") from None
        try:
            model.load_state_dict({k: v.float() for k, v in sd.items()}, assign=True)
        except RuntimeError as e:
            raise CheckpointMismatch(f"{path}: weights do not fit config.json: {str(e).splitlines()[-1]}") from None
        return model.to(device).eval()
    cfg = config if isinstance(config, MusicVAEConfig) else get_config(config or name) if (config or name) else None
    if cfg is None:
        raise ValueError(f"{path}: a Magenta checkpoint needs a config name (e.g. cat-mel_2bar_big)")
    weights = _read_magenta(path, cfg)
    sd = state_dict_from_magenta(weights, cfg, str(path))
    del weights
    model = _empty_model(cfg)
    model.load_state_dict(sd, assign=True)  # every parameter comes from the checkpoint: no init, no copy
    return model.to(device).eval()


def read_config(path) -> MusicVAEConfig:
    """A model folder's ``config.json``, validated (see :meth:`MusicVAEConfig.validate`); one clear error."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        raise CheckpointMismatch(f"{path}: missing (or a symbolic link)")
    if path.stat().st_size > 1_000_000:
        raise CheckpointMismatch(f"{path}: {path.stat().st_size} bytes is too large for a config")
    try:
        d = json.loads(path.read_text())
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise CheckpointMismatch(f"{path}: not valid JSON ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise CheckpointMismatch(f"{path}: expected a JSON object")
    try:
        return MusicVAEConfig.from_dict(d).validate()
    except (TypeError, ValueError) as e:
        raise CheckpointMismatch(f"{path}: {e}") from None


def _empty_model(cfg: MusicVAEConfig) -> MusicVAE:
    """A MusicVAE whose parameters have shapes but no storage (built on the meta device: no initialisation)."""
    with torch.device("meta"):
        return MusicVAE(cfg)
