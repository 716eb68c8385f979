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
                if not isinstance(d[k], (list, tuple)):
                    raise ValueError(f"{k} must be a list, got {d[k]!r:.50}")
                d[k] = tuple(d[k])
        known = MusicVAEConfig.__dataclass_fields__
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)[:10]}")
        return MusicVAEConfig(**d)

    def validate(self) -> "MusicVAEConfig":
        """Raise ValueError naming the field when a value is impossible (sizes, lengths, schedules); returns self.

        Bounds keep a hostile config from making a model allocate or loop without end: widths and z at most
        16384, windows at most 4096 steps (256 bars) and a whole number of 16-step bars."""
        def sizes(name, v, lo=1, hi=16384):
            if not (isinstance(v, tuple) and v and all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi
                                                       for x in v)):
                raise ValueError(f"{name} must be a non-empty list of integers in {lo}..{hi}, got {v!r}")

        def integer(name, v, lo, hi):
            if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")

        def number(name, v, lo, hi):
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi):
                raise ValueError(f"{name} must be a number in {lo}..{hi}, got {v!r}")

        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        integer("z_size", self.z_size, 1, 16384)
        sizes("enc_rnn_size", self.enc_rnn_size)
        sizes("dec_rnn_size", self.dec_rnn_size)
        integer("max_seq_len", self.max_seq_len, 16, 4096)
        if self.max_seq_len % 16:
            raise ValueError(f"max_seq_len must be a whole number of 16-step bars, got {self.max_seq_len}")
        integer("n_classes", self.n_classes, 90, 90)
        for name in ("level_lengths", "enc_level_lengths"):
            v = getattr(self, name)
            if v is not None:
                sizes(name, v, 1, 4096)
                if len(v) != 2 or v[0] * v[1] != self.max_seq_len:
                    raise ValueError(f"{name} must be two lengths whose product is max_seq_len "
                                     f"({self.max_seq_len}), got {list(v)}")
        integer("batch_size", self.batch_size, 1, 1 << 20)
        for name in ("free_bits", "max_beta", "learning_rate", "min_learning_rate", "grad_clip",
                     "grad_norm_clip_to_zero", "sampling_rate"):
            number(name, getattr(self, name), 0.0, 1e9)
        for name in ("beta_rate", "decay_rate"):
            number(name, getattr(self, name), 0.0, 1.0)
        if self.sampling_schedule not in ("constant", "inverse_sigmoid", "exponential"):
            raise ValueError(f"sampling_schedule must be constant, inverse_sigmoid or exponential, "
                             f"got {self.sampling_schedule!r}")
        lo, hi = self.transpose_range if isinstance(self.transpose_range, tuple) and len(self.transpose_range) == 2 \
            else (None, None)
        if not all(isinstance(x, int) and -48 <= x <= 48 for x in (lo, hi)) or lo > hi:
            raise ValueError(f"transpose_range must be two integers low <= high in -48..48, got {self.transpose_range!r}")
        return self

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
