"""MusicVAE in one file: Magenta's BiLSTM encoder, flat categorical decoder and hierarchical decoder.

The math is Magenta's (``magenta/models/music_vae/lstm_models.py``, ``base_model.py``):

- encoder: a stack of bidirectional LSTM layers over the one-hot events; the final forward and backward
  states of the top layer are concatenated; ``mu = dense(h)``, ``sigma = softplus(dense(h))`` (a std dev).
- flat decoder: ``state = tanh(dense(z))`` split as ``[c0, h0, c1, h1, ...]``; each step's input is the
  previous one-hot event (zeros at step 0) concatenated with ``z``; ``logits = dense(h_top)``.
- hierarchical decoder (``hierdec``): a conductor LSTM, initialised by ``tanh(dense(z))`` and fed zeros,
  emits one embedding per bar; each bar runs the flat decoder with the embedding in place of ``z``, its state
  re-initialised from that embedding, its first input the previous bar's last event.

Every LSTM is Magenta's ``LSTMBlockCell`` (gates i, j, f, o; forget bias +1 added at run time). Here the
weights are stored in PyTorch's ``nn.LSTM`` layout (gates i, f, g, o) with the +1 folded into ``bias_ih``;
``checkpoint.py`` maps Magenta's variables onto these parameters.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MusicVAEConfig


def _lstm_stack(input_size: int, sizes) -> nn.ModuleList:
    layers, n_in = [], input_size
    for h in sizes:
        layers.append(nn.LSTM(n_in, h, batch_first=True))
        n_in = h
    return nn.ModuleList(layers)


def _split_state(flat: torch.Tensor, sizes) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``tanh(dense(z))`` output -> [(h, c)] per layer, from Magenta's [c0, h0, c1, h1, ...] order."""
    states, offset = [], 0
    for h in sizes:
        c = flat[:, offset:offset + h]
        hh = flat[:, offset + h:offset + 2 * h]
        states.append((hh, c))
        offset += 2 * h
    return states


def _cell(layer: nn.LSTM, x_proj: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """One LSTM step given the input projection ``x @ W_ih.T + b_ih`` already computed."""
    gates = x_proj + F.linear(h, layer.weight_hh_l0, layer.bias_hh_l0)
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


class Encoder(nn.Module):
    """Stacked bidirectional LSTM -> (mu, sigma)."""

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        self.layers = nn.ModuleList()
        n_in = cfg.n_classes
        for h in cfg.enc_rnn_size:
            self.layers.append(nn.LSTM(n_in, h, batch_first=True, bidirectional=True))
            n_in = 2 * h
        self.mu = nn.Linear(n_in, cfg.z_size)
        self.sigma = nn.Linear(n_in, cfg.z_size)

    def forward(self, x: torch.Tensor):
        """x: (B, T, 90) one-hot -> mu, sigma: (B, z)."""
        for layer in self.layers:
            x, (h_n, _) = layer(x)
        feat = torch.cat([h_n[0], h_n[1]], dim=-1)  # final fw state, final bw state (after step 0)
        return self.mu(feat), F.softplus(self.sigma(feat))


class HierarchicalEncoder(nn.Module):
    """Magenta's ``HierarchicalLstmEncoder(BidirectionalLstmEncoder, level_lengths)`` (``hier-mel_16bar``).

    Level 0 runs a BiLSTM stack over each segment of ``level_lengths[-1]`` steps (all segments of all windows in
    one batch, shared weights) and keeps ``cat(h_fw_final, h_bw_final)`` per segment; each next level does the
    same over the previous level's embeddings; the top level's single embedding gives ``mu`` and ``sigma``.
    For ``[16, 16]``: 16 bars of 16 steps, then 16 bar embeddings -- gradient paths of 16 + 16 steps, not 256.
    """

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        self.level_lengths = tuple(cfg.enc_level_lengths)
        self.levels = nn.ModuleList()
        n_in = cfg.n_classes
        for _ in self.level_lengths:
            layers = nn.ModuleList()
            for h in cfg.enc_rnn_size:
                layers.append(nn.LSTM(n_in, h, batch_first=True, bidirectional=True))
                n_in = 2 * h
            self.levels.append(layers)
        self.mu = nn.Linear(n_in, cfg.z_size)
        self.sigma = nn.Linear(n_in, cfg.z_size)

    def forward(self, x: torch.Tensor):
        """x: (B, T, 90) one-hot, T = prod(level_lengths) -> mu, sigma: (B, z)."""
        B, T = x.shape[:2]
        # Magenta splits the sequence into prod(level_lengths[level+1:]) equal chunks at each level; a shorter
        # whole number of segments (a training curriculum on fewer bars) shortens the top level
        chunks = [int(np.prod(self.level_lengths[k + 1:])) for k in range(len(self.level_lengths))]
        chunks[0] = T // self.level_lengths[-1] if len(chunks) == 2 else chunks[0]
        for layers, n_chunks in zip(self.levels, chunks):
            x = x.reshape(B * n_chunks, x.shape[1] // n_chunks, x.shape[2])
            for layer in layers:
                x, (h_n, _) = layer(x)
            x = torch.cat([h_n[0], h_n[1]], dim=-1).reshape(B, n_chunks, -1)
        feat = x[:, 0]
        return self.mu(feat), F.softplus(self.sigma(feat))


class FlatDecoder(nn.Module):
    """Magenta's CategoricalLstmDecoder, conditioned on a vector ``z`` of size ``cond_size``."""

    def __init__(self, cfg: MusicVAEConfig, cond_size: int):
        super().__init__()
        self.sizes = tuple(cfg.dec_rnn_size)
        self.n_classes = cfg.n_classes
        self.z_to_initial_state = nn.Linear(cond_size, 2 * sum(self.sizes))
        self.layers = _lstm_stack(cfg.n_classes + cond_size, self.sizes)
        self.output_projection = nn.Linear(self.sizes[-1], cfg.n_classes)

    def initial_state(self, z):
        return _split_state(torch.tanh(self.z_to_initial_state(z)), self.sizes)

    def forward(self, z: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits. z: (B, C); prev: (B, T, 90) previous one-hot events -> (B, T, 90)."""
        x = torch.cat([prev, z.unsqueeze(1).expand(-1, prev.shape[1], -1)], dim=-1)
        for layer, (h, c) in zip(self.layers, self.initial_state(z)):
            x, _ = layer(x, (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
        return self.output_projection(x)

    def generate(self, z, n_steps: int, first: torch.Tensor | None = None, temperature: float = 0.0,
                 targets: torch.Tensor | None = None, p_sample: float = 1.0, generator=None):
        """Decode step by step; returns (events (B, n_steps) long, logits (B, n_steps, 90)).

        ``first`` is the first step's input event (-1 or None = zeros). temperature 0 = argmax. With
        ``targets`` and ``p_sample`` < 1, each step's next input is the model's sample with probability
        ``p_sample`` and the target otherwise (Magenta's scheduled sampling).
        """
        B = z.shape[0]
        first_layer = self.layers[0]
        w_event = first_layer.weight_ih_l0[:, :self.n_classes]  # (4H, 90): one-hot input = column gather
        z_proj = F.linear(z, first_layer.weight_ih_l0[:, self.n_classes:], first_layer.bias_ih_l0)
        states = self.initial_state(z)
        prev = first if first is not None else torch.full((B,), -1, dtype=torch.long, device=z.device)
        events, logits_all = [], []
        for t in range(n_steps):
            x_proj = z_proj + torch.where((prev >= 0).unsqueeze(1), w_event.t()[prev.clamp(min=0)], 0.0)
            new_states, inp = [], None
            for k, layer in enumerate(self.layers):
                h, c = states[k]
                if k > 0:  # the layer below's output
                    x_proj = F.linear(inp, layer.weight_ih_l0, layer.bias_ih_l0)
                h, c = _cell(layer, x_proj, h, c)
                new_states.append((h, c))
                inp = h
            states = new_states
            logits = self.output_projection(inp)
            if temperature and temperature > 0:
                tok = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator).squeeze(1)
            else:
                tok = logits.argmax(dim=-1)
            if targets is not None and p_sample < 1.0:
                use_sample = torch.rand(B, device=z.device, generator=generator) < p_sample
                tok_in = torch.where(use_sample, tok, targets[:, t])
            else:
                tok_in = tok
            events.append(tok)
            logits_all.append(logits)
            prev = tok_in
        return torch.stack(events, 1), torch.stack(logits_all, 1)


class HierarchicalDecoder(nn.Module):
    """Magenta's HierarchicalLstmDecoder with one conductor level and autoregression disabled."""

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        self.n_bars, self.bar_steps = cfg.level_lengths
        assert self.n_bars * self.bar_steps == cfg.max_seq_len, "level_lengths must multiply to max_seq_len"
        self.sizes = tuple(cfg.dec_rnn_size)
        self.initial_state_proj = nn.Linear(cfg.z_size, 2 * sum(self.sizes))
        self.conductor = _lstm_stack(1, self.sizes)
        self.core = FlatDecoder(cfg, cond_size=self.sizes[-1])

    def embeddings(self, z, n_bars: int | None = None):
        """Conductor outputs, one per bar: (B, n_bars, H)."""
        x = z.new_zeros(z.shape[0], n_bars or self.n_bars, 1)
        for layer, (h, c) in zip(self.conductor, _split_state(torch.tanh(self.initial_state_proj(z)), self.sizes)):
            x, _ = layer(x, (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
        return x

    def forward(self, z, prev):
        """Teacher-forced logits; prev is the whole shifted sequence (B, T, 90)."""
        B, n_bars = z.shape[0], prev.shape[1] // self.bar_steps  # fewer bars than n_bars: a curriculum crop
        emb = self.embeddings(z, n_bars).reshape(B * n_bars, -1)
        prev_bars = prev.reshape(B * n_bars, self.bar_steps, -1)
        return self.core(emb, prev_bars).reshape(B, n_bars * self.bar_steps, -1)

    def generate(self, z, n_steps, first=None, temperature=0.0, targets=None, p_sample=1.0, generator=None):
        emb = self.embeddings(z)
        events, logits = [], []
        prev = first
        for b in range(self.n_bars):
            tg = None if targets is None else targets[:, b * self.bar_steps:(b + 1) * self.bar_steps]
            ev, lg = self.core.generate(emb[:, b], self.bar_steps, prev, temperature, tg, p_sample, generator)
            events.append(ev)
            logits.append(lg)
            prev = ev[:, -1] if tg is None or p_sample >= 1.0 else tg[:, -1]
        return torch.cat(events, 1), torch.cat(logits, 1)


ENCODE_MAX_STEPS = 32 * 1024  # windows x steps per encoder pass (512 two-bar or 128 sixteen-bar windows)
MIN_TEMPERATURE = 1e-6  # below it sampling is greedy decoding anyway, and logits / temperature overflows


def bf16_supported(device) -> bool:
    """Whether ``device`` runs bfloat16 matmuls natively (oneDNN's bf16 LSTM on CPU needs AVX512-BF16 or AMX;
    without it PyTorch cannot build the primitive)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return True


def require_bf16(device) -> None:
    """ValueError (one line, naming the device) unless ``device`` runs bfloat16 matmuls natively."""
    device = torch.device(device)
    if not bf16_supported(device):
        raise ValueError(f"precision 'bf16' needs native bfloat16 matmuls (a CPU with AVX512-BF16 or AMX, or a GPU "
                         f"with bf16); this {device.type.upper()} has none: use precision 'fp32'")


class MusicVAE(nn.Module):
    """A MusicVAE. The numpy-facing methods (``encode``, ``decode``, ...) batch and run without gradients."""

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = HierarchicalEncoder(cfg) if cfg.enc_level_lengths else Encoder(cfg)
        self.decoder = HierarchicalDecoder(cfg) if cfg.hierarchical else FlatDecoder(cfg, cfg.z_size)
        if not self.encoder.mu.weight.is_meta:  # built on the meta device to be filled from a checkpoint
            self.reset_parameters()

    def reset_parameters(self):
        """Magenta's initial weights (TF 1 defaults): glorot-uniform LSTM kernels over ``[input, h]`` as one
        matrix, zero biases (so the forget gate starts at Magenta's run-time +1), glorot dense layers, and
        N(0, 0.001) kernels for ``mu``, ``sigma`` and every initial-state layer (``base_model.py``,
        ``lstm_utils.initial_cell_state_from_embedding``). PyTorch's own defaults train far slower here."""
        small = {self.encoder.mu, self.encoder.sigma}
        small |= {m.z_to_initial_state for m in self.modules() if isinstance(m, FlatDecoder)}
        small |= {m.initial_state_proj for m in self.modules() if isinstance(m, HierarchicalDecoder)}
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if m in small:
                    nn.init.normal_(m.weight, std=0.001)
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LSTM):
                for name, p in m.named_parameters():
                    if name.startswith("weight_ih"):
                        four_h, n_in = p.shape
                        limit = math.sqrt(6.0 / (n_in + four_h // 4 + four_h))
                        nn.init.uniform_(p, -limit, limit)
                        nn.init.uniform_(getattr(m, name.replace("weight_ih", "weight_hh")), -limit, limit)
                    elif name.startswith("bias_ih"):
                        nn.init.zeros_(p)
                        h = p.shape[0] // 4
                        with torch.no_grad():
                            p[h:2 * h] = 1.0  # forget bias, as LSTMBlockCell adds at run time
                    elif name.startswith("bias_hh"):
                        nn.init.zeros_(p)

    # -- tensors in, tensors out --------------------------------------------------------------------

    def one_hot(self, events: torch.Tensor) -> torch.Tensor:
        return F.one_hot(events, self.cfg.n_classes).float()

    def posterior(self, events: torch.Tensor):
        """events (B, T) long -> mu, sigma (B, z)."""
        if events.shape[1] != self.cfg.max_seq_len:
            raise ValueError(f"{self.cfg.name} takes windows of {self.cfg.max_seq_len} steps, got {events.shape[1]}")
        return self.encoder(self.one_hot(events))

    def logits(self, z: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder logits (B, T, 90) for target ``events`` (B, T)."""
        x = self.one_hot(events)
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        return self.decoder(z, prev)

    def generate(self, z: torch.Tensor, temperature: float = 0.0, generator=None) -> torch.Tensor:
        return self.decoder.generate(z, self.cfg.max_seq_len, temperature=temperature, generator=generator)[0]

    # -- numpy in, numpy out ------------------------------------------------------------------------

    @property
    def device(self):
        return next(self.parameters()).device

    def _batches(self, n, batch_size, progress: str | bool = False):
        """Slices of ``batch_size`` rows; a tqdm bar on stderr (in windows) when ``progress`` names the work."""
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n, desc=str(progress), unit="window", leave=False)
        for i in range(0, n, batch_size):
            yield slice(i, min(i + batch_size, n))
            if bar is not None:
                bar.update(min(batch_size, n - i))
        if bar is not None:
            bar.close()

    def _autocast(self, precision: str):
        """``"fp32"`` (exact, Magenta's numbers) or ``"bf16"`` (matmuls in bfloat16: about 2x faster on CPUs
        with AVX512-BF16/AMX; on mn-mel_2bar mu moves by a median 0.3 % of a dim's spread, greedy decodes agree on 99.9 % of steps)."""
        if precision == "fp32":
            return contextlib.nullcontext()
        if precision == "bf16":
            require_bf16(self.device)
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")

    def windows_of(self, music):
        """Music (a MIDI path, PrettyMIDI, NoteSequence, muspy.Music, music21 stream, a list of them, or events)
        -> :class:`musicneurons.music.Windows` of this model's length, by Magenta's converter rules."""
        from ..music import as_windows

        return as_windows(music, self.cfg.bars)

    @torch.no_grad()
    def encode(self, windows, batch_size: int = 512, seed: int | None = 0, precision: str = "fp32",
               progress: bool = False) -> "Encoding":
        """Encode windows (N, T) of 90-class events -> (z, mu, sigma), each float32 (N, z_size).

        ``windows`` may also be music (see :meth:`windows_of`): one object can give several windows, and the
        result's ``.windows`` says which (source, window, first bar, tempo).
        ``mu`` and ``sigma`` are deterministic; ``z = mu + sigma * eps`` with eps from ``seed``.
        ``precision="bf16"`` trades exactness for speed (see ``_autocast``).
        """
        info = None
        if isinstance(windows, torch.Tensor):
            windows = windows.cpu().numpy()
        if not (isinstance(windows, np.ndarray) and windows.dtype.kind in "iu"):
            info = self.windows_of(windows)
            windows = info.events
        ev = np.asarray(windows, dtype=np.int64)
        if ev.ndim != 2:
            raise ValueError(f"windows must have shape (N, {self.cfg.max_seq_len}), got {ev.shape}")
        if ev.size and (ev.min() < 0 or ev.max() >= self.cfg.n_classes):
            raise ValueError(f"events must be in 0..{self.cfg.n_classes - 1}")
        was_training = self.training
        self.eval()
        mus, sigmas = [], []
        # long windows go through in smaller batches: the LSTM's per-step buffers stay in cache and memory
        # stays bounded (hierdec-mel_16bar at batch 512 would hold ~10 GB); the numbers do not depend on it
        batch_size = max(1, min(batch_size, ENCODE_MAX_STEPS // max(ev.shape[1], 1)))
        for sl in self._batches(len(ev), batch_size, progress and "encode"):
            with self._autocast(precision):
                mu, sigma = self.posterior(torch.from_numpy(ev[sl]).to(self.device))
            mus.append(mu.float().cpu().numpy())
            sigmas.append(sigma.float().cpu().numpy())
        self.train(was_training)
        zs = self.cfg.z_size
        mu = np.concatenate(mus) if mus else np.zeros((0, zs), np.float32)
        sigma = np.concatenate(sigmas) if sigmas else np.zeros((0, zs), np.float32)
        eps = np.random.default_rng(seed).standard_normal(mu.shape).astype(np.float32)
        return Encoding(mu + sigma * eps, mu, sigma, info)

    @torch.no_grad()
    def decode(self, z, temperature: float = 0.0, batch_size: int = 512, seed: int | None = 0,
               precision: str = "fp32", as_: str = "events", qpm=120.0, progress: bool = False):
        """Decode latents (N, z_size) -> events (N, T). temperature 0 = greedy argmax, else sampling.

        ``as_`` = ``"pretty_midi" | "note_sequence" | "muspy" | "music21"`` returns a list of music objects
        played at ``qpm`` (one value or one per row) instead.
        """
        if not (temperature >= 0.0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        if 0.0 < temperature < MIN_TEMPERATURE:  # logits / temperature would overflow to inf and NaN the softmax
            raise ValueError(f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE:g}, got {temperature:g}")
        if as_ != "events":
            from ..music import from_events

            return from_events(self.decode(z, temperature, batch_size, seed, precision, progress=progress), as_,
                               qpm=qpm)
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.cfg.z_size:
            raise ValueError(f"z must have shape (N, {self.cfg.z_size}), got {z.shape}")
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        out = []
        for sl in self._batches(len(z), batch_size, progress and "decode"):
            with self._autocast(precision):
                out.append(self.generate(torch.from_numpy(z[sl]).to(self.device), temperature, gen).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.cfg.max_seq_len), np.int64)

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0, as_: str = "events"):
        """Decode ``n`` draws z ~ N(0, I) (Magenta's ``TrainedModel.sample``)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.z_size)).astype(np.float32)
        return self.decode(z, temperature=temperature, seed=seed, as_=as_)

    def reconstruct(self, windows, temperature: float = 0.0, as_: str = "events"):
        """Encode to mu and decode: (N, T) -> (N, T); music in (see :meth:`windows_of`) keeps its tempo."""
        enc = self.encode(windows)
        qpm = enc.windows.qpm if enc.windows is not None else 120.0
        return self.decode(enc.mu, temperature=temperature, as_=as_, qpm=qpm)

    def interpolate(self, a, b, c=None, d=None, steps: int = 11, temperature: float = 0.0, as_: str = "events"):
        """Decode points between the mus of 2 or 4 melodies (each a window or music; its first window is used).

        2 inputs: ``steps`` points on the slerp from ``a`` to ``b`` (Magenta's ``music_vae_generate``).
        4 inputs: a ``steps x steps`` bilinear grid with ``a, b, c, d`` at the top-left, top-right, bottom-left and
        bottom-right corners (magenta.js), row by row: ``steps**2`` results.
        """
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        corners = [x for x in (a, b, c, d) if x is not None]
        if len(corners) not in (2, 4):
            raise ValueError(f"interpolate takes 2 or 4 melodies, got {len(corners)}")
        mus = []
        for x in corners:
            w = self.windows_of(x)
            if not len(w):
                raise ValueError(f"no {self.cfg.bars}-bar window in {w.rejections or x}")
            mus.append(self.encode(w.events[:1])[1][0])
        t = np.linspace(0.0, 1.0, steps)
        if len(mus) == 2:
            zs = np.stack([slerp(mus[0], mus[1], ti) for ti in t])
        else:
            top = (1 - t)[:, None] * mus[0] + t[:, None] * mus[1]
            bottom = (1 - t)[:, None] * mus[2] + t[:, None] * mus[3]
            zs = ((1 - t)[:, None, None] * top[None] + t[:, None, None] * bottom[None]).reshape(-1, len(mus[0]))
        return self.decode(zs.astype(np.float32), temperature=temperature, as_=as_)

    @torch.no_grad()
    def teacher_forced_logits(self, z, windows) -> np.ndarray:
        """Decoder logits (N, T, 90) for target windows given latents (for parity checks)."""
        z = torch.as_tensor(np.asarray(z, np.float32), device=self.device)
        ev = torch.as_tensor(np.asarray(windows, np.int64), device=self.device)
        return self.logits(z, ev).cpu().numpy()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class Encoding(tuple):
    """``(z, mu, sigma)``, each (N, z_size) float32 -- unpacks like a tuple -- plus ``windows``: the
    :class:`musicneurons.music.Windows` encoded when music was given (None for event arrays)."""

    def __new__(cls, z, mu, sigma, windows=None):
        self = super().__new__(cls, (z, mu, sigma))
        self.windows = windows
        return self

    z = property(lambda self: self[0])
    mu = property(lambda self: self[1])
    sigma = property(lambda self: self[2])


def slerp(p0, p1, t: float) -> np.ndarray:
    """Spherical interpolation, as Magenta's ``music_vae_generate``."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    omega = np.arccos(np.clip(np.dot(p0 / np.linalg.norm(p0), p1 / np.linalg.norm(p1)), -1.0, 1.0))
    so = np.sin(omega)
    if so < 1e-12:
        return ((1.0 - t) * p0 + t * p1).astype(np.float32)
    return (np.sin((1.0 - t) * omega) / so * p0 + np.sin(t * omega) / so * p1).astype(np.float32)


def kl_per_window(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per example, summed over dims, in nats (tfp's formula)."""
    return (-torch.log(sigma) + 0.5 * (sigma**2 + mu**2) - 0.5).sum(-1)


def beta_schedule(cfg: MusicVAEConfig, step: int) -> float:
    return (1.0 - cfg.beta_rate**step) * cfg.max_beta


def sampling_probability(cfg: MusicVAEConfig, step: int) -> float:
    """Probability of feeding the model's own sample (Magenta's scheduled sampling)."""
    if cfg.sampling_schedule == "constant":
        return cfg.sampling_rate
    if cfg.sampling_schedule == "inverse_sigmoid":
        k = cfg.sampling_rate
        return 1.0 - k / (k + math.exp(min(step / k, 700.0)))
    if cfg.sampling_schedule == "exponential":
        return 1.0 - cfg.sampling_rate**step
    raise ValueError(f"unknown sampling schedule {cfg.sampling_schedule!r}")


def learning_rate(cfg: MusicVAEConfig, step: int) -> float:
    return (cfg.learning_rate - cfg.min_learning_rate) * cfg.decay_rate**step + cfg.min_learning_rate
