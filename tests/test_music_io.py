"""Music in, music out: every supported format gives the windows Magenta's rules give for the same MIDI file,
and decoded windows come back through every format unchanged."""

import numpy as np
import pretty_midi
import pytest

from musicneurons.extract import extract_file
from musicneurons.melody import events_to_midi, pitch_to_event
from musicneurons.model.config import get_config
from musicneurons.model.musicvae import Encoding, MusicVAE
from musicneurons.music import FORMATS, as_windows, from_events

P = [int(x) for x in pitch_to_event([60, 62, 64, 65, 67, 69, 71, 72])]
# a 2-bar window whose last note sounds to the end (so extraction from MIDI gives it back exactly)
WINDOW = np.array([P[0], 0, 0, 0, P[1], 0, 1, 0, P[2], 0, 0, 0, 0, 0, 0, 0,
                   P[3], 0, 0, 0, P[4], 0, 0, 0, 1, 0, 0, 0, P[5], 0, 0, 0], np.int64)
SONG = np.concatenate([WINDOW, np.roll(WINDOW, 0) + np.where(WINDOW >= 2, 2, 0)])  # 4 bars -> 3 windows


@pytest.fixture(scope="module")
def tiny():
    import torch

    torch.manual_seed(0)
    return MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=8)).eval()


def _as(fmt, events, qpm=100.0):
    return from_events(events, fmt, qpm=qpm)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "events"])
def test_every_format_gives_magentas_windows(fmt, tmp_path):
    path = tmp_path / "song.mid"
    events_to_midi(SONG, qpm=100.0).write(str(path))
    expected = extract_file(path, bars=2)
    assert len(expected.windows) == 3
    got = as_windows(_as(fmt, SONG), bars=2)
    np.testing.assert_array_equal(got.events, expected.windows)
    np.testing.assert_array_equal(got.first_bar, [i["first_bar"] for i in expected.info])
    assert list(got.window) == [0, 1, 2]
    assert np.allclose(got.qpm, 100.0)


def test_path_and_list_of_music(tmp_path):
    path = tmp_path / "song.mid"
    events_to_midi(SONG).write(str(path))
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    w = as_windows([str(path), pretty_midi.PrettyMIDI(str(path)), str(bad)], bars=2)
    assert len(w) == 6 and w.source[:3] == [str(path)] * 3 and w.source[3].startswith("<PrettyMIDI")
    assert w.rejections == {str(bad): {"parse error": 1}}


@pytest.mark.parametrize("fmt", FORMATS)
def test_decoded_windows_round_trip_through_every_format(fmt):
    back = as_windows(_as(fmt, WINDOW), bars=2)
    np.testing.assert_array_equal(back.events, WINDOW[None])


def test_events_are_validated():
    with pytest.raises(ValueError, match="outside"):
        as_windows(np.full((1, 32), 95), bars=2)
    with pytest.raises(ValueError, match="integers"):
        as_windows(np.full((1, 32), 0.5), bars=2)
    with pytest.raises(ValueError, match="32 steps"):
        as_windows(np.zeros((1, 31), np.int64), bars=2)
    with pytest.raises(ValueError, match="as_ must be one of"):
        from_events(WINDOW, "wav")


def test_model_takes_and_returns_music(tiny):
    enc = tiny.encode(_as("pretty_midi", SONG))
    assert isinstance(enc, Encoding)
    z, mu, sigma = enc  # still unpacks as (z, mu, sigma)
    assert mu.shape == (3, 8) and list(enc.windows.window) == [0, 1, 2]
    np.testing.assert_allclose(mu, tiny.encode(enc.windows.events)[1])
    events = tiny.decode(mu)
    for fmt in FORMATS[1:]:
        out = tiny.decode(mu, as_=fmt)
        assert len(out) == 3
        ref = from_events(events[0], fmt)
        assert type(out[0]) is type(ref)
        np.testing.assert_array_equal(as_windows(out[0], 2).events, as_windows(ref, 2).events)
    assert tiny.encode(WINDOW[None]).windows is None
    recon = tiny.reconstruct(_as("note_sequence", SONG, qpm=90.0), as_="pretty_midi")
    assert len(recon) == 3 and abs(recon[0].get_tempo_changes()[1][0] - 90.0) < 1e-6


def test_interpolate_two_and_four(tiny):
    a, b = WINDOW, np.where(WINDOW >= 2, WINDOW + 5, WINDOW)
    line = tiny.interpolate(a, b, steps=5)
    assert line.shape == (5, 32)
    ends = tiny.decode(tiny.encode(np.stack([a, b]))[1])
    np.testing.assert_array_equal(line[[0, -1]], ends)
    c, d = np.where(WINDOW >= 2, WINDOW - 3, WINDOW), np.where(WINDOW >= 2, WINDOW + 7, WINDOW)
    grid = tiny.interpolate(_as("pretty_midi", a), b, c, _as("music21", d), steps=3)
    assert grid.shape == (9, 32)
    corners = tiny.decode(tiny.encode(np.stack([a, b, c, d]))[1])
    np.testing.assert_array_equal(grid[[0, 2, 6, 8]], corners)
    mids = tiny.interpolate(a, b, steps=3, as_="muspy")
    assert len(mids) == 3 and type(mids[0]).__name__ == "Music"
    with pytest.raises(ValueError, match="2 or 4"):
        tiny.interpolate(a, b, c)


def test_decode_and_sample_validate(tiny):
    with pytest.raises(ValueError, match="temperature"):
        tiny.decode(np.zeros((1, 8), np.float32), temperature=-1)
    with pytest.raises(ValueError, match="temperature"):
        tiny.decode(np.zeros((1, 8), np.float32), temperature=float("nan"))
    with pytest.raises(ValueError, match="n must be"):
        tiny.sample(0)
    assert tiny.sample(2, as_="note_sequence")[0].tempos[0].qpm == 120.0
