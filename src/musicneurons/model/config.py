"""Named MusicVAE configurations.

Magenta's names (``cat-mel_2bar_small``, ``cat-mel_2bar_big``, ``hierdec-mel_16bar``, ``flat-mel_16bar``) mean
exactly Magenta's architecture and training hyper-parameters (magenta ``music_vae/configs.py``). The project's
own shipped models have their own names (``mn-mel_2bar``, ``mn-mel_16bar``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class MusicVAEConfig:
    """Architecture and training recipe of one MusicVAE.

    Sizes are per LSTM layer; encoder sizes are per direction. ``level_lengths`` set means a hierarchical
    decoder (a conductor of ``level_lengths[0]`` steps, each decoding ``level_lengths[1]`` steps);
    ``enc_level_lengths`` set means Magenta's ``HierarchicalLstmEncoder`` (``hier-`` configs) instead of one BiLSTM
    over the whole window.
    """

    name: str
    z_size: int = 512
    enc_rnn_size: tuple = (2048,)
    dec_rnn_size: tuple = (2048, 2048, 2048)
    max_seq_len: int = 32
    level_lengths: tuple | None = None
    enc_level_lengths: tuple | None = None
    n_classes: int = 90
    # training recipe (Magenta defaults)
    free_bits: float = 0.0
    max_beta: float = 0.5
    beta_rate: float = 0.99999
    sampling_schedule: str = "inverse_sigmoid"
    sampling_rate: float = 1000.0
    learning_rate: float = 1e-3
    decay_rate: float = 0.9999
    min_learning_rate: float = 1e-5
    grad_clip: float = 1.0
    grad_norm_clip_to_zero: float = 10000.0
    batch_size: int = 512
    transpose_range: tuple = (-5, 5)
    notes: str = field(default="", compare=False)

    @property
    def hierarchical(self) -> bool:
        return self.level_lengths is not None

    @property
    def bars(self) -> int:
        return self.max_seq_len // 16

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def from_dict(d: dict) -> "MusicVAEConfig":
        d = dict(d)
        for k in ("enc_rnn_size", "dec_rnn_size", "level_lengths", "enc_level_lengths", "transpose_range"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        known = MusicVAEConfig.__dataclass_fields__
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return MusicVAEConfig(**d)

    def with_(self, **changes) -> "MusicVAEConfig":
        """A copy with some fields changed (e.g. smaller sizes for a test)."""
        return replace(self, **changes)


CONFIGS: dict[str, MusicVAEConfig] = {
    c.name: c
    for c in [
        MusicVAEConfig(
            "cat-mel_2bar_small", z_size=256, enc_rnn_size=(512,), dec_rnn_size=(256, 256), max_seq_len=32,
            max_beta=0.2, beta_rate=0.99999,
        ),
        MusicVAEConfig(
            "cat-mel_2bar_big", z_size=512, enc_rnn_size=(2048,), dec_rnn_size=(2048, 2048, 2048), max_seq_len=32,
            max_beta=0.5, beta_rate=0.99999,
        ),
        MusicVAEConfig(
            "hierdec-mel_16bar", z_size=512, enc_rnn_size=(2048, 2048), dec_rnn_size=(1024, 1024),
            max_seq_len=256, level_lengths=(16, 16), free_bits=256, max_beta=0.2, beta_rate=0.0,
            sampling_schedule="constant", sampling_rate=0.0, transpose_range=(0, 0),
        ),
        MusicVAEConfig(
            "hier-mel_16bar", z_size=512, enc_rnn_size=(1024,), dec_rnn_size=(1024, 1024), max_seq_len=256,
            level_lengths=(16, 16), enc_level_lengths=(16, 16), free_bits=256, max_beta=0.2, beta_rate=0.0,
            sampling_schedule="constant", sampling_rate=0.0, transpose_range=(0, 0),
        ),
        MusicVAEConfig(
            "flat-mel_16bar", z_size=512, enc_rnn_size=(2048, 2048), dec_rnn_size=(2048, 2048, 2048),
            max_seq_len=256, free_bits=256, max_beta=0.2, beta_rate=0.0, sampling_schedule="constant",
            sampling_rate=0.0, transpose_range=(0, 0),
        ),
        # The project's own models: same architectures, widths sized to train on 2 CPU cores.
        MusicVAEConfig(
            "mn-mel_2bar", z_size=512, enc_rnn_size=(256,), dec_rnn_size=(256, 256), max_seq_len=32,
            max_beta=0.2, beta_rate=0.9997, sampling_schedule="inverse_sigmoid", sampling_rate=1000.0,
            batch_size=128, learning_rate=1e-3, decay_rate=0.9999,
            notes="cat-mel_2bar architecture at CPU width, z = 512 like the paper's models",
        ),
        MusicVAEConfig(
            "mn-mel_16bar", z_size=512, enc_rnn_size=(256,), dec_rnn_size=(256,), max_seq_len=256,
            level_lengths=(16, 16), free_bits=256, max_beta=0.2, beta_rate=0.0, sampling_schedule="constant",
            sampling_rate=0.0, batch_size=64, learning_rate=1e-3, decay_rate=0.9999, transpose_range=(-5, 5),
            notes="hierdec-mel_16bar architecture at CPU width, z = 512",
        ),
        MusicVAEConfig(
            "mn-hier-mel_16bar", z_size=512, enc_rnn_size=(256,), dec_rnn_size=(256,), max_seq_len=256,
            level_lengths=(16, 16), enc_level_lengths=(16, 16), free_bits=256, max_beta=0.2, beta_rate=0.0,
            sampling_schedule="constant", sampling_rate=0.0, batch_size=64, learning_rate=1e-3, decay_rate=0.9999,
            transpose_range=(-5, 5),
            notes="hier-mel_16bar architecture (hierarchical encoder and decoder) at CPU width, z = 512",
        ),
    ]
}


def get_config(name: str) -> MusicVAEConfig:
    """A named config; raises with the list of names when unknown."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}") from None
