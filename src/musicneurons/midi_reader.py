"""A fast Standard MIDI File reader that gives exactly the notes pretty_midi (hence note-seq, hence Magenta) gives.

Magenta reads MIDI through note-seq, which builds on ``pretty_midi.PrettyMIDI``, which parses with mido. That
chain spends ~40 ms on a typical multi-track file, almost all of it creating one Python object per MIDI message.
General fast readers (symusic) pair notes differently (see ``benchmarks/bench_midi_readers.py``), so they give
other windows. This module scans the bytes in one compiled loop (numba) and applies pretty_midi's rules:

- mido's parsing: running status (set by channel and sysex messages, not by meta messages), meta events by
  type byte and length, a track ends exactly at its chunk length, and the delta time of a meta event of a type
  mido does not know is lost (``build_meta_message`` makes an ``UnknownMetaMessage`` without it);
- pretty_midi's tick -> seconds table (tempo changes of the first track only; a tempo at tick 0 replaces the
  default; a change that does not change the tick scale is dropped) with the same float operations;
- pretty_midi's note pairing: a note-on (velocity > 0) opens a note on (channel, pitch); a note-off (or a note-on
  with velocity 0) closes every open note of that key that started on an earlier tick, keeps those that started
  on its own tick when it closed others, and otherwise forgets them; the instrument is (program at the
  note-off, channel, track), numbered in order of first note, drums = channel 9.

Anything unusual for which mido or pretty_midi have their own behaviour (a parse error, running status after a
sysex, system messages inside a track, a meta event mido cannot decode, a track that overruns its chunk, an
empty track, a tempo of 0, a largest tick over pretty_midi's limit, a time signature pretty_midi rejects, ...)
makes :func:`scan_midi` return ``None``; the caller then reads the file with pretty_midi itself. So the result is
always pretty_midi's: fast for ordinary files, pretty_midi's own code for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._numba import njit

MAX_TICK = 10_000_000  # pretty_midi.pretty_midi.MAX_TICK: a file with a larger tick is refused as corrupt
MAX_MESSAGE_LENGTH = 1_000_000  # mido.midifiles.midifiles.MAX_MESSAGE_LENGTH

# return codes of _scan (0 = read; anything else = let pretty_midi read the file)
_OK, _UNUSUAL = 0, 1

# meta types mido decodes (mido.midifiles.meta); for any other type mido drops the event's delta time
_KNOWN_META = np.zeros(256, np.bool_)
_KNOWN_META[[0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x20, 0x21, 0x2F, 0x51, 0x54, 0x58, 0x59,
             0x7F]] = True


@njit(cache=True)
def _varint(data, pos, end):
    """(value, new_pos); new_pos = -1 when the bytes run out or the number has more than 4 bytes."""
    value = 0
    for k in range(4):
        if pos >= end:
            return 0, -1
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos
    return 0, -1


@njit(cache=True)
def _be(data, pos, n):
    v = 0
    for k in range(n):
        v = (v << 8) | data[pos + k]
    return v


@njit(cache=True)
def _declined():
    """_scan's result for a file left to pretty_midi."""
    return _UNUSUAL, 0, 0, np.zeros((0, 7), np.int64), np.zeros((0, 2), np.int64), np.zeros((0, 3), np.int64)


@njit(cache=True)
def _scan(data):
    """Parse SMF bytes. Returns (code, ticks_per_beat, max_tick, notes, tempos, time_signatures).

    notes: (n, 7) int64 rows (track, channel, program at note-off, pitch, velocity, start tick, end tick) in
    pretty_midi's order of creation; tempos: (k, 2) (tick, microseconds per quarter) of track 0;
    time_signatures: (m, 3) (tick, numerator, log2 denominator) of track 0.
    """
    n = data.shape[0]
    if n < 14 or data[0] != 0x4D or data[1] != 0x54 or data[2] != 0x68 or data[3] != 0x64:  # MThd
        return _declined()
    hsize = _be(data, 4, 4)
    if hsize < 6 or 8 + hsize > n:
        return _declined()
    ntracks = _be(data, 10, 2)
    tpb = _be(data, 12, 2)
    if ntracks >= 0x8000 or tpb >= 0x8000:  # negative as mido's signed '>h'
        return _declined()
    if ntracks == 0 or tpb == 0:
        return _declined()

    cap = n // 3 + 1  # every note-on takes at least 3 bytes
    notes = np.empty((cap, 7), np.int64)
    n_notes = 0
    tempos = np.empty((cap, 2), np.int64)
    n_tempos = 0
    tss = np.empty((cap, 3), np.int64)
    n_tss = 0
    # open notes: a linked list per (channel, pitch) key in a pool, in note-on order
    pool_start = np.empty(cap, np.int64)
    pool_vel = np.empty(cap, np.int64)
    pool_next = np.empty(cap, np.int64)
    head = np.empty(2048, np.int64)
    tail = np.empty(2048, np.int64)
    program = np.empty(16, np.int64)
    max_tick = 0

    pos = 8 + hsize
    for trk in range(ntracks):
        if pos + 8 > n:
            return _declined()
        if data[pos] != 0x4D or data[pos + 1] != 0x54 or data[pos + 2] != 0x72 or data[pos + 3] != 0x6B:  # MTrk
            return _declined()
        size = _be(data, pos + 4, 4)
        start = pos + 8
        end = start + size
        if end > n:
            return _declined()
        pos = start
        head[:] = -1
        tail[:] = -1
        program[:] = 0
        n_pool = 0
        last_status = -1
        tick = 0
        n_events = 0
        while pos != end:
            if pos > end:
                return _declined()
            delta, pos = _varint(data, pos, end)
            if pos < 0 or pos >= end:
                return _declined()
            tick += delta
            if tick > MAX_TICK:
                return _declined()
            n_events += 1
            status = np.int64(data[pos])
            pos += 1
            if status < 0x80:
                if last_status < 0x80 or last_status >= 0xF0:  # none yet, or sysex: mido's own quirks
                    return _declined()
                status = last_status
                pos -= 1  # the byte is the first data byte
            elif status != 0xFF:
                last_status = status
            if status == 0xFF:  # meta event
                if pos >= end:
                    return _declined()
                mtype = data[pos]
                length, pos = _varint(data, pos + 1, end)
                if pos < 0 or length > MAX_MESSAGE_LENGTH or pos + length > end:
                    return _declined()
                p = pos
                pos += length
                if not _KNOWN_META[mtype]:
                    # mido builds UnknownMetaMessage without its delta time: the ticks do not advance
                    tick -= delta
                # only the types whose decoding can fail in mido need a check
                if mtype == 0x00 and length == 1:  # sequence_number reads 2 bytes
                    return _declined()
                if mtype == 0x20 and length < 1:  # channel_prefix
                    return _declined()
                if mtype == 0x54 and (length < 5 or (data[p] >> 5) > 3):  # smpte_offset
                    return _declined()
                if mtype == 0x51:  # set_tempo
                    if length < 3:
                        return _declined()
                    if trk == 0:
                        tempo = _be(data, p, 3)
                        if tempo == 0:  # pretty_midi divides by it
                            return _declined()
                        tempos[n_tempos, 0] = tick
                        tempos[n_tempos, 1] = tempo
                        n_tempos += 1
                elif mtype == 0x58:  # time_signature
                    if length < 4:
                        return _declined()
                    if trk == 0:
                        if data[p] == 0 or data[p + 1] > 62:  # pretty_midi refuses numerator 0
                            return _declined()
                        tss[n_tss, 0] = tick
                        tss[n_tss, 1] = data[p]
                        tss[n_tss, 2] = data[p + 1]
                        n_tss += 1
                elif mtype == 0x59:  # key_signature: mido raises on keys outside its table
                    if length < 2:
                        return _declined()
                    key = np.int64(data[p])
                    if key > 127:
                        key -= 256
                    if key < -7 or key > 7 or data[p + 1] > 1:
                        return _declined()
            elif status == 0xF0 or status == 0xF7:  # sysex: mido checks its bytes
                length, pos = _varint(data, pos, end)
                if pos < 0 or length > MAX_MESSAGE_LENGTH or pos + length > end:
                    return _declined()
                a = pos
                b = pos + length
                pos = b
                if b > a and data[a] == 0xF0:
                    a += 1
                if b > a and data[b - 1] == 0xF7:
                    b -= 1
                for k in range(a, b):
                    if data[k] > 127:
                        return _declined()
            elif status >= 0xF0:  # system common / real-time bytes inside a track
                return _declined()
            else:  # channel message
                kind = status >> 4
                ch = status & 0x0F
                nb = 1 if (kind == 0xC or kind == 0xD) else 2
                if pos + nb > end:
                    return _declined()
                d1 = np.int64(data[pos])
                d2 = np.int64(data[pos + 1]) if nb == 2 else np.int64(0)
                if d1 > 127 or d2 > 127:
                    return _declined()
                pos += nb
                if kind == 0xC:
                    program[ch] = d1
                elif kind == 0x9 and d2 > 0:  # note on
                    key = ch * 128 + d1
                    pool_start[n_pool] = tick
                    pool_vel[n_pool] = d2
                    pool_next[n_pool] = -1
                    if tail[key] >= 0:
                        pool_next[tail[key]] = n_pool
                    else:
                        head[key] = n_pool
                    tail[key] = n_pool
                    n_pool += 1
                elif kind == 0x8 or kind == 0x9:  # note off (or note on with velocity 0)
                    key = ch * 128 + d1
                    i = head[key]
                    if i >= 0:
                        closed = 0
                        kept_head = -1
                        kept_tail = -1
                        while i >= 0:
                            nxt = pool_next[i]
                            if pool_start[i] != tick:
                                notes[n_notes, 0] = trk
                                notes[n_notes, 1] = ch
                                notes[n_notes, 2] = program[ch]
                                notes[n_notes, 3] = d1
                                notes[n_notes, 4] = pool_vel[i]
                                notes[n_notes, 5] = pool_start[i]
                                notes[n_notes, 6] = tick
                                n_notes += 1
                                closed += 1
                            else:
                                pool_next[i] = -1
                                if kept_tail >= 0:
                                    pool_next[kept_tail] = i
                                else:
                                    kept_head = i
                                kept_tail = i
                            i = nxt
                        if closed > 0 and kept_head >= 0:
                            head[key] = kept_head
                            tail[key] = kept_tail
                        else:
                            head[key] = -1
                            tail[key] = -1
        if n_events == 0:  # pretty_midi takes max() over each track's events
            return _declined()
        if tick > max_tick:
            max_tick = tick
        pos = end
    return _OK, tpb, max_tick, notes[:n_notes].copy(), tempos[:n_tempos].copy(), tss[:n_tss].copy()


def tick_scales(tempos: np.ndarray, resolution: int) -> list[tuple[int, float]]:
    """pretty_midi's ``_tick_scales`` from track 0's (tick, tempo) events."""
    scales = [(0, 60.0 / (120.0 * resolution))]
    for tick, tempo in tempos.tolist():
        if tick == 0:
            bpm = 6e7 / tempo
            scales = [(0, 60.0 / (bpm * resolution))]
        else:
            scale = 60.0 / ((6e7 / tempo) * resolution)
            if scale != scales[-1][1]:
                scales.append((tick, scale))
    return scales


def ticks_to_seconds(ticks: np.ndarray, scales: list[tuple[int, float]]) -> np.ndarray:
    """pretty_midi's ``__tick_to_time[ticks]`` with the same floating-point operations."""
    starts = np.array([s for s, _ in scales], np.int64)
    factor = np.array([f for _, f in scales], np.float64)
    seg_end_time = np.zeros(len(scales))  # time at each segment's first tick, as pretty_midi accumulates it
    for k in range(1, len(scales)):
        seg_end_time[k] = seg_end_time[k - 1] + factor[k - 1] * np.float64(starts[k] - starts[k - 1])
    seg = np.searchsorted(starts, ticks, side="right") - 1
    return seg_end_time[seg] + factor[seg] * (ticks - starts[seg]).astype(np.float64)


@dataclass
class FastMidi:
    """What :func:`scan_midi` read: pretty_midi's instruments, notes, tempo changes and time signatures."""

    pitch: np.ndarray
    start: np.ndarray
    end: np.ndarray
    velocity: np.ndarray
    program: np.ndarray
    instrument: np.ndarray
    is_drum: np.ndarray
    tempo_times: np.ndarray
    tempo_qpms: np.ndarray
    time_signatures: list  # [(seconds, numerator, denominator)]


def scan_midi(data: bytes) -> FastMidi | None:
    """Read MIDI bytes as pretty_midi would; ``None`` when the file needs pretty_midi's own code (see module doc).

    Notes come grouped by instrument in pretty_midi's instrument order, each instrument's notes in pretty_midi's
    order; ``instrument`` is the index in ``PrettyMIDI.instruments``.
    """
    code, tpb, max_tick, notes, tempos, tss = _scan(np.frombuffer(data, dtype=np.uint8))
    if code != _OK or max_tick + 1 > MAX_TICK:
        return None
    scales = tick_scales(tempos, tpb)
    # instruments numbered by first note, keyed by (program, channel, track)
    key = (notes[:, 2] * 16 + notes[:, 1]) * 65536 + notes[:, 0]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    instrument = rank[inverse.reshape(-1)]
    order = np.argsort(instrument, kind="stable")
    notes, instrument = notes[order], instrument[order]
    k, m = notes.shape[0], len(scales)
    scale_ticks = np.array([t for t, _ in scales], np.int64)
    times = ticks_to_seconds(np.concatenate([notes[:, 5], notes[:, 6], scale_ticks, tss[:, 0]]), scales)
    tempo_qpms = np.array([60.0 / (f * tpb) for _, f in scales])
    time_signatures = [(float(t), int(num), 2 ** int(p))
                       for t, (num, p) in zip(times[2 * k + m:], tss[:, 1:].tolist())]
    return FastMidi(
        pitch=notes[:, 3].copy(), start=times[:k], end=times[k:2 * k], velocity=notes[:, 4].copy(),
        program=notes[:, 2].copy(), instrument=instrument, is_drum=notes[:, 1] == 9,
        tempo_times=times[2 * k:2 * k + m], tempo_qpms=tempo_qpms, time_signatures=time_signatures,
    )
