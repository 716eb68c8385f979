"""musicneurons.testing: its MIDI writer gives the bytes the tests and benchmarks rely on."""

import io

import numpy as np
import pytest

from musicneurons.melody import events_to_midi
from musicneurons.randomseq import random_windows
from musicneurons.testing import chunk, melody_midi, realistic_midi, smf, tempo, time_signature, track, vlq


@pytest.mark.parametrize("n, expected", [(0, b"\x00"), (0x7F, b"\x7f"), (0x80, b"\x81\x00"), (0x3FFF, b"\xff\x7f"),
                                         (0x0FFFFFFF, b"\xff\xff\xff\x7f")])
def test_vlq(n, expected):
    assert vlq(n) == expected  # the SMF specification's examples


def test_smf_layout():
    data = smf([track([(0, tempo(120)), (0, time_signature(3, 2)), (480, bytes([0x90, 60, 0]))])], fmt=0)
    assert data[:14] == b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"
    body = b"\x00\xff\x51\x03\x07\xa1\x20" + b"\x00\xff\x58\x04\x03\x02\x18\x08" + b"\x83\x60\x90\x3c\x00\x00\xff\x2f\x00"
    assert data[14:] == chunk(b"MTrk", body)
    # running status drops a repeated channel status byte; a meta event resets it
    ev = [(0, b"\x90\x3c\x40"), (1, b"\x90\x3c\x00"), (0, b"\xff\x01\x00"), (0, b"\x90\x3e\x40")]
    assert track(ev, running_status=True) == chunk(b"MTrk", b"\x00\x90\x3c\x40\x01\x3c\x00\x00\xff\x01\x00"
                                                             b"\x00\x90\x3e\x40\x00\xff\x2f\x00")


def test_melody_midi_is_what_pretty_midi_writes():
    rng = np.random.default_rng(0)
    windows = list(random_windows(20, 2, seed=1)[0]) + [rng.integers(0, 90, size=32) for _ in range(20)]
    windows += [np.zeros(32, np.int64), np.ones(16, np.int64)]
    for k, w in enumerate(windows):
        qpm, vel, prog = (120.0, 80, 0) if k % 2 else (float(rng.uniform(40, 240)), int(rng.integers(1, 128)), 5)
        buf = io.BytesIO()
        events_to_midi(w, qpm=qpm, velocity=vel, program=prog).write(buf)
        assert melody_midi(w, qpm=qpm, velocity=vel, program=prog) == buf.getvalue(), (k, qpm)


def test_realistic_midi_is_seeded_and_readable():
    import pretty_midi

    a, n = realistic_midi(np.random.default_rng(5))
    assert realistic_midi(np.random.default_rng(5)) == (a, n)
    pm = pretty_midi.PrettyMIDI(io.BytesIO(a))
    assert n > 0 and sum(len(i.notes) for i in pm.instruments) == n
