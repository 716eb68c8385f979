"""Model cards: ``card.json`` (everything measured) and a Hugging Face-style ``README.md`` generated from it.

The folder layout is the one people recognise from the Hub: ``config.json``, ``model.safetensors``, ``README.md``
(YAML front matter: license, datasets, metrics, base architecture), plus ``card.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

MAGENTA_BASE = {"hier": "hier-mel_16bar", "hierdec": "hierdec-mel_16bar", "flat2": "cat-mel_2bar_big"}


def base_architecture(cfg: dict) -> str:
    """The Magenta config whose architecture this one follows (widths aside)."""
    if cfg.get("enc_level_lengths"):
        return MAGENTA_BASE["hier"]
    if cfg.get("level_lengths"):
        return MAGENTA_BASE["hierdec"]
    return MAGENTA_BASE["flat2"] if cfg.get("max_seq_len", 32) == 32 else "flat-mel_16bar"


def _yaml_value(v) -> str:
    return json.dumps(v)  # JSON scalars and lists are valid YAML flow values


def card_markdown(card: dict, name: str | None = None) -> str:
    """The README.md of a model folder, from its card."""
    cfg = card.get("config", {})
    name = name or card.get("model") or cfg.get("name", "model")
    metrics = {k: card[k] for k in ("recon_accuracy", "always_hold_accuracy", "recon_exact_windows", "kl_bits",
                                     "kl_above_free_bits", "active_dims", "noise_zeroing_changed_steps")
               if card.get(k) is not None}
    front = ["---", "license: apache-2.0", "library_name: musicneurons", "tags: [music, midi, musicvae, vae, melody]",
             f"datasets: [{_yaml_value(card.get('corpus', 'builtin'))}]",
             f"base_model_architecture: {_yaml_value(base_architecture(cfg))}", "model-index:",
             f"- name: {_yaml_value(name)}", "  results:", "  - task: {type: melody-reconstruction}",
             "    metrics:"]
    front += [f"    - {{type: {k}, value: {_yaml_value(round(v, 4) if isinstance(v, float) else v)}}}"
              for k, v in metrics.items()]
    front.append("---")
    lines = [f"# {name}", "",
             f"A MusicVAE ({base_architecture(cfg)} architecture at CPU width: encoder {cfg.get('enc_rnn_size')}, "
             f"decoder {cfg.get('dec_rnn_size')}, z = {cfg.get('z_size')}, {cfg.get('max_seq_len', 0) // 16} bars), "
             f"trained by musicneurons on the `{card.get('corpus', '?')}` corpus.", ""]
    if card.get("command"):
        lines += ["Trained with:", "", "```bash", card["command"], "```", ""]
    where = card.get("trained_on")
    if where:
        lines += [f"Trained on: {where}.", ""]
    lines += ["| measure (held-out validation windows) | value |", "|---|---|"]
    labels = {"recon_accuracy": "greedy reconstruction, per step", "always_hold_accuracy": "always-hold baseline",
              "recon_exact_windows": "exactly reconstructed windows", "kl_bits": "KL to the prior (bits)",
              "kl_above_free_bits": "KL above the free-bits floor (bits)", "active_dims": "active dims (Burda)",
              "noise_zeroing_changed_steps": "decoded steps changed by zeroing the noise dims"}
    lines += [f"| {labels[k]} | {v:.4g} |" if isinstance(v, float) else f"| {labels[k]} | {v} |"
              for k, v in metrics.items()]
    if card.get("val_history"):
        lines += ["", "![learning curves](curves.png)"]
    lines += ["", f"Validation: {card.get('n_val_windows', '?')} windows from {card.get('n_val_sources', '?')} sources "
              f"never trained on; training: {card.get('n_train_windows', '?')} windows. Steps: {card.get('step', '?')}, "
              f"wall time {card.get('wall_time_s', '?')} s. Every number is in `card.json`.", "",
              "```python", "from musicneurons.model import load_model", f'model = load_model("{name}")', "```", ""]
    return "\n".join(front) + "\n\n" + "\n".join(lines)


def write_card(folder, card: dict, name: str | None = None) -> Path:
    """Write ``card.json`` and the generated ``README.md`` into a model folder."""
    folder = Path(folder)
    (folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    (folder / "README.md").write_text(card_markdown(card, name))
    return folder


def read_card(folder) -> dict | None:
    """``folder/card.json`` as a dict, or None when absent or unreadable."""
    p = Path(folder) / "card.json"
    try:
        card = json.loads(p.read_text()) if p.is_file() else None
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None
