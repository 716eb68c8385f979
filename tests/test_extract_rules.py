"""Each rule of Magenta's melody converter, on note sequences built in code (note-seq style builders).

At 120 qpm one 16th-note step is 0.125 s, so ``s(k)`` is step k in seconds.
"""

import numpy as np
import pytest

from musicneurons.extract import NoteSeq, extract_sequence, split_on_time_changes
from musicneurons.melody import NOTE_OFF, events_to_notes, notes_to_events


def s(step):
    return step * 0.125


def seq(notes, ts=(), tempos=()):
    """notes: (pitch, start_step, end_step[, velocity, program, instrument, is_drum])."""
    rows = [(n[0], s(n[1]), s(n[2])) + tuple(n[3:]) for n in notes]
    return NoteSeq.from_notes(rows, time_signatures=ts, tempos=tempos)


def windows(ns, bars=2):
    return {tuple(w) for w in extract_sequence(ns, bars).windows.tolist()}


def ev(pitch):
    return pitch - 19


def test_single_bar_aligned_melody_and_final_note_off_stripped():
    # 8 quarter notes over 2 bars: the last note ends on the bar line, so its NOTE_OFF is stripped
    notes = [(60 + i, 4 * i, 4 * i + 4) for i in range(8)]
    (w,) = windows(seq(notes))
    expected = np.zeros(32, int)
    for i in range(8):
        expected[4 * i] = ev(60 + i)
    assert list(w) == expected.tolist()


def test_note_off_restored_when_melody_is_padded():
    # the last note ends mid-bar: pad to the bar line and note-seq's set_length re-adds the NOTE_OFF
    notes = [(60, 0, 4), (62, 4, 8), (64, 16, 20), (65, 20, 22)]
    (w,) = windows(seq(notes))
    assert w[22] == NOTE_OFF and w[23:] == (0,) * 9


def test_highest_note_of_a_chord_and_later_onset_cuts_note():
    notes = [(60, 0, 8), (67, 0, 8), (64, 0, 8), (72, 4, 6), (62, 16, 32)]
    (w,) = windows(seq(notes))
    assert w[0] == ev(67)  # highest of the chord
    assert w[4] == ev(72) and w[6] == NOTE_OFF  # a later onset cuts the held chord note
    assert w[16] == ev(62)


def test_gap_of_one_bar_ends_melody_and_shorter_gap_does_not():
    # gap exactly 16 steps after the NOTE_OFF: two melodies of 1 bar each -> no 2-bar window
    assert windows(seq([(60, 0, 4), (62, 20, 24)])) == set()
    # gap of 15 steps: one melody of 2 bars
    (w,) = windows(seq([(60, 0, 4), (62, 19, 23)]))
    assert w[0] == ev(60) and w[19] == ev(62)


def test_melody_starts_at_bar_line_before_first_note():
    (w,) = windows(seq([(60, 5, 9), (62, 9, 13), (64, 20, 30)]))
    assert w[:5] == (0,) * 5 and w[5] == ev(60)


def test_pitch_range_and_programs():
    notes = [(20, 0, 4), (109, 0, 4), (60, 4, 8), (62, 16, 20)]
    (w,) = windows(seq(notes))
    assert w[0] == 0 and w[4] == ev(60)  # out-of-range notes are dropped before extraction
    prog40 = [(60, 0, 16, 100, 40, 0, False), (62, 16, 32, 100, 40, 0, False)]
    assert windows(seq(prog40), bars=2) == set()  # 2-bar models take programs 0..31 only
    r16 = extract_sequence(seq([(60 + (i % 5), 16 * i, 16 * i + 8, 100, 40, 0, False) for i in range(16)]), 16)
    assert len(r16.windows) == 1  # 16-bar models take any non-drum program


def test_drums_are_ignored():
    notes = [(36, 4 * i, 4 * i + 1, 100, 0, 1, True) for i in range(8)]
    r = extract_sequence(seq(notes), 2)
    assert len(r.windows) == 0


def test_meter_filter():
    notes = [(60 + i, 4 * i, 4 * i + 4) for i in range(8)]
    assert windows(seq(notes, ts=[(0.0, 3, 4)])) == set()
    r = extract_sequence(seq(notes, ts=[(0.0, 6, 8)]), 2)
    assert r.reasons["not 16 steps per bar"] == 1
    assert len(windows(seq(notes, ts=[(0.0, 2, 2)]))) == 1  # 2/2 has 16 steps per bar
    assert extract_sequence(seq(notes, ts=[(0.0, 4, 3)]), 2).reasons["bad time signature"] == 1


def test_tempo_change_splits_the_sequence():
    # 4 bars at 120 qpm, then the tempo doubles at 8 s: the piece after the change is quantized at 240 qpm
    notes = [(50 + i, s(4 * i), s(4 * i + 4)) for i in range(16)]
    rows = [(p, a, b) for p, a, b in notes] + [(72, 8.0, 8.0625), (74, 8.0625, 8.125)]
    ns = NoteSeq.from_notes(rows, tempos=[(0.0, 120.0), (8.0, 240.0)])
    pieces = split_on_time_changes(ns)
    assert [round(off, 3) for _, off in pieces] == [0.0, 8.0]
    assert pieces[1][0].start.min() == 0.0  # shifted to start at 0
    r = extract_sequence(ns, 2)
    assert len(r.windows) == 3  # 4 bars -> 3 windows; the second piece is too short


def test_windows_deduplicated_per_piece_not_across_pieces():
    # Magenta (data.py _dedupe_and_sample inside split_process_and_combine) de-duplicates the windows of each
    # tempo / time-signature piece, then concatenates the pieces: a phrase in 3 pieces gives its windows 3 times
    riff = [(60, 0, 3), (63, 3, 6), (67, 6, 8), (70, 8, 12), (67, 12, 14)]
    phrase = [(p, a + 16 * b, e + 16 * b) for b in range(3) for p, a, e in riff]  # A A A: 2 equal windows
    phrase += [(62, 48, 60)]  # ... then B: 3 windows, 2 distinct
    notes = [(p, a + 80 * k, e + 80 * k) for k in range(3) for p, a, e in phrase]  # 5-bar sections
    one_piece = extract_sequence(seq(notes), 2)
    assert len(one_piece.windows) == 2  # one piece: the repeats are de-duplicated
    for ts, tempos in (([(0.0, 4, 4), (s(80), 2, 2), (s(160), 4, 4)], ()),  # 4/4 -> 2/2 -> 4/4
                       ((), [(0.0, 120.0), (s(80), 120.0), (s(160), 120.0)])):  # redundant tempos: no split
        r = extract_sequence(seq(notes, ts=ts, tempos=tempos), 2)
        n_pieces = 3 if ts else 1
        assert len(r.windows) == 2 * n_pieces
        assert len({tuple(w) for w in r.windows.tolist()}) == 2
        assert [i["piece"] for i in r.info] == sorted(i["piece"] for i in r.info)  # piece after piece
        assert len({(i["piece"], tuple(w)) for i, w in zip(r.info, r.windows.tolist())}) == len(r.windows)
    # a real tempo change: 120 -> 100 -> 120 qpm, the phrase at the same steps in each piece
    sec = [0.0, 80 * 0.125, 80 * 0.125 + 80 * 0.15]  # 80 steps at 120 qpm, 80 steps at 100 qpm
    rows = [(p, sec[k] + (a - 80 * k) * (0.15 if k == 1 else 0.125), sec[k] + (e - 80 * k) * (0.15 if k == 1 else 0.125))
            for k in range(3) for p, a, e in notes[len(phrase) * k:len(phrase) * (k + 1)]]
    r = extract_sequence(NoteSeq.from_notes(rows, tempos=[(0.0, 120.0), (sec[1], 100.0), (sec[2], 120.0)]), 2)
    assert len(r.windows) == 6 and len({tuple(w) for w in r.windows.tolist()}) == 2
    assert [i["qpm"] for i in r.info] == [120.0] * 2 + [100.0] * 2 + [120.0] * 2


def test_truncation_at_100_bars():
    notes = [(60 + (i % 7), 4 * i, 4 * i + 4) for i in range(4 * 120)]  # 120 bars
    r = extract_sequence(seq(notes), 2)
    first_bars = {info["first_bar"] for info in r.info}
    assert max(first_bars) <= 98  # windows end at bar 100 at the latest


def test_leading_note_offs_of_a_window_become_no_event():
    # the window starting at bar 1 begins with the NOTE_OFF of the previous note
    notes = [(60, 0, 16), (62, 18, 24), (64, 32, 40), (65, 40, 48)]
    ws = windows(seq(notes))
    assert all(w[0] != NOTE_OFF for w in ws)


def test_events_notes_round_trip():
    events = np.zeros(32, int)
    events[[0, 4, 9]] = [ev(60), ev(62), ev(64)]
    events[6] = NOTE_OFF
    notes = events_to_notes(events)
    assert notes.tolist() == [[60, 0, 4], [62, 4, 6], [64, 9, 32]]
    assert notes_to_events(notes, 32).tolist() == events.tolist()


def test_empty_sequence_has_a_reason():
    r = extract_sequence(NoteSeq.from_notes([]), 2)
    assert len(r.windows) == 0 and r.reasons["no notes"] == 1


@pytest.mark.parametrize("bars", [2, 16])
def test_random_sequences_recipe(bars):
    from musicneurons.randomseq import RECIPE, random_windows

    events, n_onsets, qpm = random_windows(500, bars, seed=1)
    T = bars * 16
    assert events.shape == (500, T)
    onsets = (events >= 2).sum(1)
    np.testing.assert_array_equal(onsets, n_onsets)
    lo, hi = RECIPE[bars]["onsets"]
    assert onsets.min() >= lo and onsets.max() <= hi
    assert (events[:, 0] >= 2).all() and not (events == NOTE_OFF).any()
    pitches = events[events >= 2] + 19
    assert pitches.min() >= 30 and pitches.max() <= 100
    dur = (T / 4) * 60 / qpm
    assert dur.min() >= RECIPE[bars]["duration_s"][0] and dur.max() <= RECIPE[bars]["duration_s"][1]
    again, _, _ = random_windows(500, bars, seed=1)
    np.testing.assert_array_equal(events, again)


def test_every_reason_the_extractor_counts_is_documented():
    """REASONS is closed: each reason string the extractor counts is in it, and the errors refuse others."""
    import ast
    from pathlib import Path

    import pytest

    import musicneurons.extract as ex
    from musicneurons.noteseq import REASONS, ExtractionError, PieceRejected

    tree = ast.parse(Path(ex.__file__).read_text())
    counted = {n.slice.value for n in ast.walk(tree)
               if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "reasons"
               and isinstance(n.slice, ast.Constant)}
    assert counted and counted <= set(REASONS), counted - set(REASONS)
    with pytest.raises(ValueError, match="unknown rejection reason"):
        PieceRejected("a reason nobody documented")
    with pytest.raises(ValueError, match="unknown rejection reason"):
        ExtractionError("x.mid", "a reason nobody documented")


def test_quantize_refuses_a_piece_with_two_tempos_with_a_public_documented_error():
    # after splitting, a piece has one tempo; quantize called on an unsplit sequence says why it refuses
    import pytest

    from musicneurons.extract import quantize
    from musicneurons.noteseq import REASONS, PieceRejected

    ns = NoteSeq.from_notes([(60, 0.0, 0.5), (62, 2.0, 2.5)], tempos=[(0.0, 120.0), (1.0, 90.0)])
    with pytest.raises(PieceRejected) as e:
        quantize(ns)
    assert e.value.reason == "multiple tempos" and e.value.reason in REASONS
