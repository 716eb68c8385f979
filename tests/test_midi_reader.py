"""The fast MIDI reader gives exactly pretty_midi's notes, tempos and time signatures (pretty_midi is the
reader behind note-seq and so behind Magenta's converter; it is a dependency, so it is the live reference here).

Differential test on files built to hit every rule: overlapping notes of one key, note-on and note-off on one
tick, note-offs as velocity-0 note-ons, program changes inside notes, running status, several tempo changes
(some at one tick, some not changing the tempo), time and key signatures, sysex, text, unknown meta events,
several tracks and channels, drums, and byte-level corruptions of those files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicneurons.extract import ExtractionError
from musicneurons.midi_reader import scan_midi, tick_scales, ticks_to_seconds
from musicneurons.sources import read_midi
from musicneurons.testing import END_OF_TRACK, chunk, smf, track, vlq

FIXTURES = Path(__file__).parent / "fixtures" / "extract" / "midi"


def adversarial_track(rng, first: bool) -> bytes:
    """Random events from a distribution that exercises pretty_midi's pairing and mido's parsing rules."""
    events = []
    running = None
    channels = rng.choice(16, size=int(rng.integers(1, 4)), replace=False)
    keys = rng.integers(20, 110, size=int(rng.integers(1, 6)))  # few keys -> many overlaps
    for _ in range(int(rng.integers(0, 120))):
        delta = int(rng.choice([0, 0, 0, 1, 5, 60, 120, 240, 480, 1000, 20000]))
        r = rng.random()
        ch = int(rng.choice(channels))
        if r < 0.35:
            msg = bytes([0x90 | ch, int(rng.choice(keys)), int(rng.choice([0, 1, 64, 100, 127]))])
        elif r < 0.6:
            msg = bytes([0x80 | ch, int(rng.choice(keys)), int(rng.integers(0, 128))])
        elif r < 0.68:
            msg = bytes([0xC0 | ch, int(rng.integers(0, 128))])
        elif r < 0.72:
            msg = bytes([0xB0 | ch, int(rng.integers(0, 128)), int(rng.integers(0, 128))])
        elif r < 0.75:
            msg = bytes([0xE0 | ch, int(rng.integers(0, 128)), int(rng.integers(0, 128))])
        elif r < 0.77:
            msg = bytes([0xD0 | ch, int(rng.integers(0, 128))])
        elif r < 0.84:
            tempo = int(rng.choice([500000, 500000, 400000, 600000, 250000, int(rng.integers(1, 2**24))]))
            msg = b"\xff\x51\x03" + tempo.to_bytes(3, "big")
        elif r < 0.88:
            msg = b"\xff\x58\x04" + bytes([int(rng.choice([4, 4, 2, 3, 6, 7])), int(rng.choice([2, 2, 1, 3])), 24, 8])
        elif r < 0.9:
            msg = b"\xff\x59\x02" + bytes([int(rng.integers(-7, 8)) & 0xFF, int(rng.integers(0, 2))])
        elif r < 0.93:
            text = bytes(rng.integers(0, 256, size=int(rng.integers(0, 12))).astype(np.uint8))
            msg = bytes([0xFF, int(rng.choice([1, 2, 3, 4, 5, 6, 7, 9, 0x7F, 0x60]))]) + vlq(len(text)) + text
        elif r < 0.95:
            data = bytes(rng.integers(0, 128, size=int(rng.integers(0, 8))).astype(np.uint8))
            msg = b"\xf0" + vlq(len(data) + 1) + data + b"\xf7"
        else:
            msg = b"\xff\x21\x01\x00"  # midi port
        status = msg[0]
        if status < 0xF0 and status == running and rng.random() < 0.6:
            msg = msg[1:]  # running status
        if status < 0xF0:
            running = status
        elif status in (0xF0, 0xF7):
            running = None  # a data byte after a sysex is one of mido's quirks: tested by the corruptions
        events.append((delta, msg))
    return track(events)


def adversarial_file(rng) -> bytes:
    n_tracks = int(rng.integers(1, 5))
    tpq = int(rng.choice([1, 24, 96, 220, 480, 960, 32767]))
    tracks = [adversarial_track(rng, k == 0) for k in range(n_tracks)]
    return smf(tracks, fmt=int(rng.integers(0, 3)), division=tpq)


def corrupt(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(14, len(b))) if len(b) > 14 else 0
        b[i] = int(rng.integers(0, 256))
    return bytes(b)


def both(data: bytes):
    """(reference NoteSeq or the error's reason, ours) for one file."""
    out = []
    for reader in ("pretty_midi", "auto"):
        try:
            out.append(read_midi(data, "f.mid", reader=reader))
        except ExtractionError as e:
            out.append(e.reason)
    return out


def assert_same(ref, got):
    if isinstance(ref, str) or isinstance(got, str):
        assert ref == got
        return
    for f in ("pitch", "start", "end", "velocity", "program", "instrument", "is_drum"):
        a, b = getattr(ref, f), getattr(got, f)
        assert a.dtype.kind == b.dtype.kind, f
        np.testing.assert_array_equal(a, b, err_msg=f)  # bit-identical seconds, not approximately
    assert ref.time_signatures == got.time_signatures
    assert ref.tempos == got.tempos


def test_fast_reader_equals_pretty_midi_on_adversarial_files():
    rng = np.random.default_rng(7)
    n_fast = n_fallback = n_notes = 0
    for _ in range(600):
        data = adversarial_file(rng)
        n_fast += scan_midi(data) is not None
        ref, got = both(data)
        assert_same(ref, got)
        n_notes += 0 if isinstance(ref, str) else ref.pitch.size
        bad = corrupt(rng, data)
        n_fallback += scan_midi(bad) is None
        assert_same(*both(bad))
    # the generator really reaches the fast path, and corruptions really reach the fallback
    assert n_fast > 450, n_fast
    assert n_notes > 5000, n_notes
    assert n_fallback > 100, n_fallback


def test_fast_reader_equals_pretty_midi_on_fixture_files():
    paths = sorted(p for p in FIXTURES.rglob("*") if p.suffix.lower() in (".mid", ".midi", ".kar"))
    assert len(paths) >= 70
    n_fast = 0
    for p in paths:
        data = p.read_bytes()
        n_fast += scan_midi(data) is not None
        assert_same(*both(data))
    assert n_fast >= len(paths) - 5  # the fixtures are ordinary files: nearly all take the fast path


@pytest.mark.parametrize("case, expected_fast", [
    # two note-ons, one note-off: pretty_midi closes both at the off (symusic keeps one)
    (b"\x00\x90\x3c\x40\x10\x90\x3c\x40\x10\x80\x3c\x00", [(60, 0, 32), (60, 16, 32)]),
    # note-on and note-off on one tick: pretty_midi drops the note
    (b"\x00\x90\x3c\x40\x00\x80\x3c\x00\x10\x90\x3e\x40\x10\x80\x3e\x00", [(62, 16, 32)]),
    # an off closing an earlier note while a new note starts on its tick keeps the new note open
    (b"\x00\x90\x3c\x40\x10\x90\x3c\x50\x00\x80\x3c\x00\x10\x80\x3c\x00", [(60, 0, 16), (60, 16, 32)]),
    # velocity-0 note-on with running status closes the note
    (b"\x00\x90\x3c\x40\x10\x3c\x00", [(60, 0, 16)]),
], ids=["two-ons-one-off", "same-tick-on-off", "off-and-on-on-one-tick", "running-status-velocity-0"])
def test_pairing_rules(case, expected_fast):
    data = smf([chunk(b"MTrk", case + END_OF_TRACK)], fmt=0, division=16)
    fast = scan_midi(data)
    assert fast is not None
    ticks = [(int(p), int(round(s * 32)), int(round(e * 32))) for p, s, e in zip(fast.pitch, fast.start, fast.end)]
    assert ticks == expected_fast  # 16 ticks per quarter at 120 qpm = 1/32 s per tick
    assert_same(*both(data))


def test_program_at_note_off_decides_the_instrument():
    # program 5 at note-on, 7 at note-off -> pretty_midi files the note under program 7
    body = b"\x00\xc0\x05\x00\x90\x3c\x40\x08\xc0\x07\x08\x80\x3c\x00\x00\x90\x3e\x40\x10\x80\x3e\x00"
    data = smf([chunk(b"MTrk", body + END_OF_TRACK)], fmt=0, division=16)
    fast = scan_midi(data)
    assert fast.program.tolist() == [7, 7]
    assert_same(*both(data))


@pytest.mark.parametrize("body", [
    b"\x00\xff\x51\x03\x00\x00\x00\x00\x90\x3c\x40\x10\x80\x3c\x00",  # tempo 0: pretty_midi divides by it
    b"\x00\xff\x59\x02\x09\x00\x00\x90\x3c\x40\x10\x80\x3c\x00",  # key signature mido cannot decode
    b"\x00\xf0\x02\x01\x02\x00\x03\x04\x05",  # running status after a sysex (mido's own quirk)
    b"\x00\x3c\x40",  # running status with nothing before
    b"\x83\x80\x80\x80\x00\x90\x3c\x40",  # varint with 5 bytes
    b"\x00\xff\x58\x04\x00\x02\x18\x08\x00\x90\x3c\x40\x10\x80\x3c\x00",  # numerator 0: pretty_midi refuses it
    b"\x00\xf1\x01",  # system common message inside a track
    b"",  # empty track: pretty_midi takes max() over its events
], ids=["tempo-0", "bad-key-signature", "running-status-after-sysex", "running-status-first", "5-byte-varint",
        "numerator-0", "system-common", "empty-track"])
def test_unusual_files_are_left_to_pretty_midi(body):
    data = smf([chunk(b"MTrk", body)], fmt=0, division=16)
    assert scan_midi(data) is None
    assert_same(*both(data))


def test_tick_to_seconds_follows_pretty_midi_accumulation():
    # 96 ticks per quarter; tempo 120 -> 60 at tick 96 -> 60 again (dropped) -> 240 at 192 -> 90 at 192
    scales = tick_scales(np.array([[0, 500000], [96, 1000000], [150, 1000000], [192, 250000], [192, 666667]]), 96)
    assert [t for t, _ in scales] == [0, 96, 192, 192]
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=96)
    pm._tick_scales = scales
    pm._update_tick_to_time(400)
    ticks = np.arange(401)
    np.testing.assert_array_equal(ticks_to_seconds(ticks, scales), [pm.tick_to_time(int(t)) for t in ticks])
