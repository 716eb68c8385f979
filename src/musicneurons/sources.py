"""Reading sources into a :class:`~musicneurons.extract.NoteSeq`.

- MIDI (``.mid``, ``.midi``, ``.kar``): the notes pretty_midi gives, as note-seq's ``midi_file_to_note_sequence``
  uses them (the reader behind Magenta's converter), so windows match Magenta's. :mod:`.midi_reader` computes
  them from the bytes ~50x faster; the unusual files it declines are read by pretty_midi itself.
- Scores (``.abc``, ``.xml``, ``.mxl``, ``.musicxml``, ``.krn``): parsed by music21, repeats expanded (as a
  MIDI rendering would play them), one instrument per part, notes timed at 120 qpm.
- Folders: searched recursively for those extensions (the Lakh layout ``lmd_full/<x>/<md5>.mid`` included).
"""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from .melody import DEFAULT_QPM
from .noteseq import ExtractionError, NoteSeq
from .midi_reader import scan_midi

MIDI_EXTENSIONS = (".mid", ".midi", ".kar", ".smf")
SCORE_EXTENSIONS = (".abc", ".xml", ".mxl", ".musicxml", ".krn")
EXTENSIONS = MIDI_EXTENSIONS + SCORE_EXTENSIONS
FALLBACK_MAX_BYTES = 8 * 2**20  # largest MIDI handed to pretty_midi when the fast scan declines it (a 60 MB one: 140 s)
MAX_BYTES = 64 * 2**20  # largest source read; also what the members of an .mxl (a zip) may unpack to
#: music21 builds an ``N/d`` time signature in up to ~6e-5 * N**2 s (N = 256: 4 s; 1000: a minute; 10**9: GBs, then
#: MemoryError). An ABC file may make it build none above ABC_MAX_METER, and large ones (N > 16) whose N**2 sum to
#: at most ABC_METER_BUDGET (~2 s) + ABC_METER_PER_BYTE per byte of the file (about half what music21 spends on it).
ABC_MAX_METER, ABC_METER_BUDGET, ABC_METER_PER_BYTE = 256, 2**15, 4


def display_path(path) -> str:
    """A path as text that any table, CSV or terminal takes: names that are not UTF-8 (their bytes reach Python
    as surrogates) get their bad bytes written as ``\\xNN``, so one odd name never stops a batch."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _walk(root: Path):
    """Source files below ``root``: iterative (no recursion limit however deep the tree), symbolic links to folders
    not followed (no loops), unreadable folders skipped; regular files only (a FIFO would block a reader)."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.name.lower().endswith(EXTENSIONS) and e.is_file():
                    yield Path(e.path)
            except OSError:
                continue


def find_files(root) -> list[Path]:
    """Every readable source below ``root`` (a file or a folder), sorted; raises on a missing or empty path."""
    root = Path(root)
    if not root.exists():
        link = " (a broken or looping symbolic link)" if root.is_symlink() else ""
        raise FileNotFoundError(f"{root}: no such file or folder{link}")
    if root.is_file():
        return [root]
    if not root.is_dir():  # a FIFO would block the reader, a device has no end
        raise FileNotFoundError(f"{root}: not a regular file or folder (a FIFO or device)")
    files = sorted(_walk(root))
    if not files:
        raise FileNotFoundError(f"{root}: folder holds no MIDI/ABC/MusicXML files ({', '.join(EXTENSIONS)})")
    return files


def read_source(path, max_bytes: int = MAX_BYTES) -> NoteSeq:
    """Read a MIDI or score file; raises :class:`ExtractionError` with a named reason."""
    path = Path(path)
    if not path.is_file():
        raise ExtractionError(path, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise ExtractionError(path, "empty file")
    if size > max_bytes:
        raise ExtractionError(path, "file too large", f"{size} bytes > {max_bytes}")
    if path.suffix.lower() in SCORE_EXTENSIONS:
        return read_score(path, max_bytes)
    return read_midi(path.read_bytes(), path)


def read_midi(data: bytes, name="<bytes>", reader: str = "auto") -> NoteSeq:
    """MIDI bytes -> NoteSeq, as note-seq's ``midi_to_note_sequence``.

    ``reader="auto"`` scans the bytes with :mod:`musicneurons.midi_reader` (pretty_midi's exact notes, 35-75x
    faster) and hands the unusual files it declines to pretty_midi; ``"pretty_midi"`` always uses pretty_midi.
    """
    if reader not in ("auto", "pretty_midi"):
        raise ValueError(f"reader must be 'auto' or 'pretty_midi', got {reader!r}")
    fast = scan_midi(data) if reader == "auto" else None
    if fast is None and len(data) > FALLBACK_MAX_BYTES:
        raise ExtractionError(name, "file too large", f"{len(data)} bytes: the fast reader declined this unusual file "
                              f"and pretty_midi takes minutes and GBs above {FALLBACK_MAX_BYTES // 2**20} MB")
    if fast is not None:
        return _noteseq(name, fast.time_signatures, fast.tempo_times, fast.tempo_qpms, [(
            fast.pitch, fast.start, fast.end, fast.velocity, fast.program, fast.instrument, fast.is_drum)])
    return _read_pretty_midi(data, name)


def _read_pretty_midi(data: bytes, name) -> NoteSeq:
    import pretty_midi

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
        tempo_times, tempo_qpms = pm.get_tempo_changes()
    except Exception as e:  # pretty_midi/mido raise many types on corrupt files
        raise ExtractionError(name, "parse error", f"{type(e).__name__}: {e}"[:200]) from None
    return noteseq_from_pretty_midi(pm, name, (tempo_times, tempo_qpms))


def noteseq_from_pretty_midi(pm, name="<PrettyMIDI>", tempo_changes=None) -> NoteSeq:
    """A ``pretty_midi.PrettyMIDI`` -> NoteSeq, as note-seq's ``midi_to_note_sequence`` (instrument = index)."""
    tempo_times, tempo_qpms = tempo_changes if tempo_changes is not None else pm.get_tempo_changes()
    tss = [(float(ts.time), int(ts.numerator), int(ts.denominator)) for ts in pm.time_signature_changes]
    columns = []
    for idx, inst in enumerate(pm.instruments):
        n = len(inst.notes)
        if not n:
            continue
        arr = np.array([(x.pitch, x.start, x.end, x.velocity) for x in inst.notes], dtype=np.float64)
        columns.append((arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3].astype(np.int64),
                        np.full(n, inst.program, np.int64), np.full(n, idx, np.int64), np.full(n, bool(inst.is_drum))))
    return _noteseq(name, tss, tempo_times, tempo_qpms, columns)


def _noteseq(name, time_signatures, tempo_times, tempo_qpms, columns) -> NoteSeq:
    """note-seq's checks and layout: time signature denominators must fit an int32."""
    for _, _, den in time_signatures:
        if not (0 <= den < 2**31):
            raise ExtractionError(name, "parse error", f"invalid time signature denominator {den}")
    tempos = [(float(t), float(q)) for t, q in zip(tempo_times, tempo_qpms)]
    columns = [c for c in columns if len(c[0])]
    if not columns:
        return NoteSeq(*(np.zeros(0, d) for d in (np.int64, float, float, np.int64, np.int64, np.int64, bool)),
                       list(time_signatures), tempos)
    dtypes = (np.int64, np.float64, np.float64, np.int64, np.int64, np.int64, bool)
    cols = [np.concatenate(c).astype(d, copy=False) for c, d in zip(zip(*columns), dtypes)]
    return NoteSeq(*cols, list(time_signatures), tempos)


def score_to_noteseq(score, qpm: float = DEFAULT_QPM, expand_repeats: bool = True) -> NoteSeq:
    """A music21 Score/Part -> NoteSeq: one instrument per part, chords keep all pitches, ties merged."""
    from music21 import chord, meter, note, stream

    if expand_repeats:
        try:
            score = score.expandRepeats()
        except Exception:  # music21 raises on inconsistent repeat marks: keep the score as written
            pass
    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    sec_per_ql = 60.0 / qpm
    rows, tss = [], set()
    for idx, part in enumerate(parts):
        flat = part.stripTies().flatten()
        for el in flat.notes:
            if el.duration.quarterLength <= 0:
                continue  # grace notes
            start = float(el.offset) * sec_per_ql
            end = float(el.offset + el.duration.quarterLength) * sec_per_ql
            pitches = el.pitches if isinstance(el, chord.Chord) else [el.pitch] if isinstance(el, note.Note) else []
            for p in pitches:
                rows.append((int(p.midi), start, end, 90, 0, idx, False))
        for ts in flat.getElementsByClass(meter.TimeSignature):
            tss.add((float(ts.offset) * sec_per_ql, int(ts.numerator), int(ts.denominator)))
    return NoteSeq.from_notes(rows, sorted(tss), [(0.0, float(qpm))])


def parse_score_file(path, max_bytes: int = MAX_BYTES):
    """music21's parse of a score file WITHOUT its pickle cache: ``converter.parse`` would unpickle
    ``$TMPDIR/music21/<name>.p.gz`` if present (anyone who can write there could run code) and writes and re-reads
    one after each parse. ``forceSource=True, storePickle=False`` reads only the file itself.

    Small files music21 would take minutes or GBs on are refused first (:class:`ExtractionError`): an ``.mxl``
    whose members unpack to more than ``max_bytes`` ("file too large"), an ABC file whose time signatures and
    overfull bars exceed :data:`ABC_MAX_METER` or :data:`ABC_METER_BUDGET` ("parse error")."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".abc":
        return _parse_abc(path)
    if suffix == ".mxl":
        _check_mxl(path, max_bytes)
    from music21 import converter

    c = converter.Converter()
    c.parseFile(str(path), forceSource=True, storePickle=False)
    return c.stream


def _check_mxl(path: Path, max_bytes: int):
    """Refuse a zip whose members unpack to more than ``max_bytes`` (zipfile never unpacks more than a member's
    stated size); a file that is not a readable zip is left to music21 (which then reads it as plain XML)."""
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OverflowError, EOFError):
        return
    if unpacked > max_bytes:
        raise ExtractionError(path, "file too large", f"its zip members unpack to {unpacked} bytes > {max_bytes}")


def _parse_abc(path: Path):
    """An ABC file as music21's ``ConverterABC.parseFile`` reads it (no pickle cache either), refused first
    ("parse error") when its time signatures would take music21 minutes (:data:`ABC_MAX_METER`): every ``M:n/d``
    field builds an ``n/d`` signature (already while tokenizing), and every bar holding more than its signature is
    re-barred with one for the excess (``C1000 D |`` in 4/4: 999/4, a minute)."""
    from music21 import abcFormat, stream

    text = path.read_text(encoding="utf-8")  # as music21 reads it
    large = []  # (N, what) of every N/d signature music21 would build with N > 16
    for data in re.findall(r"(?m)^[ \t]*M:(.*)$", text):  # the lines music21 takes for M: fields
        field = abcFormat.ABCMetadata("M:" + data)
        try:
            field.preParse()
            n, d, _ = field.getTimeSignatureParameters() or (0, 0, "")
        except Exception:  # music21 fails on it too, at once
            continue
        large += [(n, f"time signature M:{n}/{d}")] if n > 16 else []
    _check_abc_meters(large, len(text), path)
    handler = abcFormat.ABCFile().readstr(text)
    _check_abc_meters(large + _overfull_bars(handler), len(text), path)
    if handler.definesReferenceNumbers():
        return abcFormat.translate.abcToStreamOpus(handler)
    score = stream.Score()
    abcFormat.translate.abcToStreamScore(handler, score)
    return score


def _overfull_bars(handler) -> list:
    """(N, what) for every bar music21 would re-bar with an N/d signature, N > 16 (per tune and voice, as
    ``abcFormat.translate`` does)."""
    from music21 import abcFormat

    large = []
    tunes = handler.splitByReferenceNumber().values() if handler.definesReferenceNumbers() else [handler]
    for tune in tunes:
        voices = tune.splitByVoice()
        for part in voices if len(voices) == 1 else [voices[0] + v for v in voices[1:]]:
            if not part.definesMeasures():  # music21 re-bars only then
                continue
            bar, meter = None, ""  # quarter notes per bar, and the M: field
            for measure in part.splitByMeasure():
                held = Fraction(0)
                for t in measure.tokens:
                    if isinstance(t, abcFormat.ABCMetadata) and t.isMeter():
                        try:
                            n, d, _ = t.getTimeSignatureParameters() or (0, 0, "")
                        except Exception:
                            continue
                        bar, meter = (Fraction(4 * n, d), f"{n}/{d}") if n > 0 and d > 0 else (None, "")
                    elif (isinstance(t, abcFormat.ABCNote) and not t.inGrace
                          and not (isinstance(t, abcFormat.ABCChord) and not t.subTokens)):  # music21 skips those
                        ql = t.quarterLength * (t.activeTuplet.tupletMultiplier() if t.activeTuplet else 1)
                        held += Fraction(ql).limit_denominator(4096)
                if bar is not None and held > bar:
                    over = (held - bar) / 4  # the excess in whole notes: music21's signature for it
                    n = over.numerator * (4 // over.denominator if over.denominator < 4 else 1)
                    if n > 16:
                        large.append((n, f"a bar of {float(held):g} quarter notes in {meter} (re-barred as "
                                         f"{n}/{max(4, over.denominator)})"))
    return large


def _check_abc_meters(large, size: int, path):
    """Raise the "parse error" for ``large`` [(N, what)] over :data:`ABC_MAX_METER` or the file's budget."""
    n, what = max(large, default=(0, ""))
    if n > ABC_MAX_METER:
        raise ExtractionError(path, "parse error", f"{what}: music21 would take minutes or GBs building a time "
                              f"signature of {n} beats (at most {ABC_MAX_METER})")
    cost, budget = sum(k * k for k, _ in large), ABC_METER_BUDGET + ABC_METER_PER_BYTE * size
    if cost > budget:
        raise ExtractionError(path, "parse error", f"{len(large)} time signatures of over 16 beats (sum of their "
                              f"squares {cost} > {budget}; the largest for {what}): music21 would take minutes "
                              "building them")


def read_score(path, max_bytes: int = MAX_BYTES) -> NoteSeq:
    """Parse an ABC/MusicXML/Humdrum file with music21 (the first tune of a multi-tune ABC file)."""
    import music21

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = parse_score_file(path, max_bytes)
    except ExtractionError:
        raise
    except Exception as e:
        raise ExtractionError(path, "parse error", f"{type(e).__name__}: {e}"[:200]) from None
    if isinstance(parsed, music21.stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise ExtractionError(path, "no notes")
        parsed = scores[0]
    return score_to_noteseq(parsed)
