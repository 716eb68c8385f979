"""Parity of melody extraction with Magenta's own ``OneHotMelodyConverter``.

``fixtures/extract/expected.json`` holds, for every MIDI file under ``fixtures/extract/midi/`` and for
2 and 16 bars, the multiset of windows that Magenta 2.1.4 (``cat-mel_2bar_small`` / ``hierdec-mel_16bar``
converters, inference mode, every window kept) extracts, sorted; it was written by
``fixtures/extract/make_fixtures.py`` running the real Magenta code. Magenta de-duplicates windows within
each tempo / time-signature piece only, so a window found in two pieces is there twice. Here the same files
go through :func:`musicneurons.extract.extract_file` and the window multisets must be equal.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from musicneurons.extract import extract_file

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
FILES = {k: v for k, v in EXPECTED.items() if not k.startswith("_")}
BARS = (2, 16)
CASES = [(rel, bars) for rel in FILES for bars in BARS]


def _fmt(window) -> str:
    """A window as text, one bar per ``|``: pitch at an onset, ``-`` note-off, ``.`` no event."""
    cells = ["." if e == 0 else "-" if e == 1 else str(e + 19) for e in window]
    return " | ".join(" ".join(cells[i:i + 16]) for i in range(0, len(cells), 16))


def _diff(got: Counter, exp: Counter, limit: int = 3) -> str:
    missing, extra = sorted((exp - got).elements()), sorted((got - exp).elements())
    lines = [f"ours {got.total()} windows ({len(got)} distinct), Magenta {exp.total()} ({len(exp)} distinct): "
             f"{len(missing)} missing, {len(extra)} extra (counting repeats)"]
    for title, rows in (("missing (Magenta has, we don't)", missing), ("extra (we have, Magenta doesn't)", extra)):
        for w in rows[:limit]:
            lines.append(f"  {title}: {_fmt(w)}")
        if len(rows) > limit:
            lines.append(f"  ... {len(rows) - limit} more {title.split()[0]}")
    # the nearest extra window for the first missing one, to show where they differ
    if missing and extra:
        m = np.array(missing[0])
        best = min(extra, key=lambda w: int((np.array(w) != m).sum()))
        pos = np.flatnonzero(np.array(best) != m)
        lines.append(f"  first missing vs nearest extra differ at steps {pos.tolist()[:12]}")
    return "\n".join(lines)


def test_every_fixture_file_has_expected_windows():
    on_disk = {str(p.relative_to(FIXTURES)) for p in (FIXTURES / "midi").rglob("*.mid")}
    assert on_disk == set(FILES), "expected.json is stale: re-run make_fixtures.py with the oracle"
    assert len(FILES) >= 40
    n2 = sum(len(v.get("2", [])) for v in FILES.values())
    n16 = sum(len(v.get("16", [])) for v in FILES.values())
    assert n2 > 500 and n16 > 200, "fixtures should produce many windows"


@pytest.mark.parametrize("rel,bars", CASES, ids=[f"{Path(r).stem}-{b}bar" for r, b in CASES])
def test_windows_equal_magenta(rel, bars):
    entry = FILES[rel]
    steps = 16 * bars
    res = extract_file(FIXTURES / rel, bars=bars)
    win = np.asarray(res.windows)
    assert win.ndim == 2 and win.shape[1] == steps, win.shape
    assert win.dtype == np.int64
    got = Counter(tuple(int(e) for e in w) for w in win)
    exp = Counter(tuple(w) for w in entry.get(str(bars), []))
    if "error" in entry:  # note-seq could not read the file: Magenta gives no window
        assert not got
    assert got == exp, f"{rel}, {bars} bars\n" + _diff(got, exp)
    # distinct within a piece (Magenta de-duplicates per piece), so a window repeats at most once per piece
    keys = [(info["piece"], tuple(int(e) for e in w)) for info, w in zip(res.info, win)]
    assert len(res.info) == len(win) and len(set(keys)) == len(keys), "a window repeated within one piece"
    if not got:
        assert sum(res.reasons.values()) > 0, "a file without windows must say why"


def test_fixtures_hold_windows_repeated_across_pieces():
    """Magenta's multiset differs from its set on some fixtures (a phrase in several tempo / meter pieces)."""
    repeated = {rel for rel, v in FILES.items() for b in ("2", "16")
                if len(v.get(b, [])) > len({tuple(w) for w in v.get(b, [])})}
    assert {"midi/hand/h55_phrase_in_3_tempo_sections.mid", "midi/hand/h56_ts_44_22_44_same_phrase.mid",
            "midi/hand/h59_17bar_phrase_2_tempi.mid"} <= repeated, sorted(repeated)


def test_every_hand_written_file_names_its_rule():
    doc = (FIXTURES / "make_fixtures.py").read_text()
    table = doc[: doc.index('"""', 3)]
    for rel in FILES:
        if "/hand/" in rel:
            name = Path(rel).name
            line = next((ln for ln in table.splitlines() if ln.startswith(name)), "")
            assert len(line.split(maxsplit=1)) == 2, f"{name} is missing from the generator's rule table"
