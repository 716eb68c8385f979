"""Small HTML building blocks of the report: escaping, tables, figures, sections, the page.

Everything is inline (CSS, base64 PNG figures, a few lines of inline script that only mark the
page as loaded), so ``index.html`` opens from disk with no network.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Iterable, Sequence

import pandas as pd

CSS = """
:root { --ink:#1d2330; --muted:#5b6577; --line:#dde2ea; --bg:#ffffff; --panel:#f6f8fb; --accent:#2f5fb3;
        --music:#d1495b; --noise:#8d99ae; --ok:#2a9d5c; --bad:#c0392b; --na:#8d99ae; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin:0; color:var(--ink); background:var(--bg);
       font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; line-height:1.5; }
header.top { background:linear-gradient(135deg,#1f3b73,#2f5fb3); color:#fff; padding:28px 40px 22px; }
header.top h1 { margin:0 0 6px; font-size:1.9rem; font-weight:650; }
header.top p { margin:4px 0; color:#e3ebfa; max-width:80ch; }
nav.toc { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
          padding:8px 40px; font-size:.9rem; }
nav.toc a { margin-right:14px; color:var(--accent); text-decoration:none; white-space:nowrap; }
main { padding:0 40px 60px; max-width:1280px; }
section { margin-top:34px; }
section > h2 { font-size:1.45rem; border-bottom:2px solid var(--line); padding-bottom:4px; margin-bottom:10px; }
section section { margin-top:22px; }
section section > h3 { font-size:1.12rem; margin-bottom:6px; color:#24324d; }
p.lead { color:var(--muted); max-width:95ch; margin-top:0; }
table { border-collapse:collapse; margin:8px 0 14px; font-size:.86rem; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
th { background:var(--panel); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr:hover td { background:#fafbfd; }
.grid { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
figure { margin:8px 0 16px; background:var(--panel); border:1px solid var(--line); border-radius:6px;
         padding:10px; max-width:100%; }
figure img { display:block; max-width:100%; height:auto; }
figcaption { font-size:.83rem; color:var(--muted); margin-top:6px; max-width:90ch; }
figcaption .settings, .settings { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
         font-size:.78rem; color:#445; }
.badge { display:inline-block; white-space:nowrap; padding:1px 8px; border-radius:10px; font-size:.8rem;
         font-weight:600; color:#fff; }
.badge.agrees { background:var(--ok); } .badge.differs { background:var(--bad); }
.badge.na { background:var(--na); }
.cat { display:inline-block; width:1.6em; text-align:center; border-radius:4px; font-weight:700; color:#fff;
       font-size:.78rem; }
.cat-P { background:#3a7ca5; } .cat-R { background:#e07a1f; } .cat-M { background:#7b4fa0; }
.cat-none { background:#aab; }
.note { background:#fff8e6; border-left:4px solid #f0b429; padding:8px 12px; margin:10px 0; max-width:95ch; }
.note.fail { background:#fdeeee; border-left-color:#c0392b; font-weight:600; }
.empty { color:var(--muted); font-style:italic; }
.kv { display:grid; grid-template-columns: max-content 1fr; gap:2px 16px; font-size:.88rem; margin:8px 0; }
.kv dt { color:var(--muted); } .kv dd { margin:0; font-family: ui-monospace, Menlo, Consolas, monospace; }
.stat { display:inline-block; background:var(--panel); border:1px solid var(--line); border-radius:6px;
        padding:8px 14px; margin:0 10px 10px 0; }
.stat b { display:block; font-size:1.5rem; }
.stat span { color:var(--muted); font-size:.82rem; }
details { margin:6px 0 14px; } summary { cursor:pointer; color:var(--accent); }
pre.json { background:var(--panel); border:1px solid var(--line); padding:10px; font-size:.78rem; overflow:auto;
           max-height:480px; }
.grid > figure { flex: 1 1 0; min-width: 380px; }
.grid > figure.wide { flex-basis: 100%; }
.grid > div { flex: 0 1 auto; }
/* piano rolls: at least 400 px wide (two per row on a 1400 px page), 16-bar ones wider */
.rolls { display:grid; grid-template-columns: repeat(auto-fill, minmax(min(400px, 100%), 1fr)); gap:10px; }
.rolls.wide { grid-template-columns: repeat(auto-fill, minmax(min(560px, 100%), 1fr)); }
.roll { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:6px; font-size:.8rem;
        min-width:0; }
.roll img { width:100%; height:auto; display:block; }
.roll.single { max-width:620px; } .roll.single.wide { max-width:1180px; }
button.play { font-size:.75rem; padding:1px 8px; margin-right:6px; border:1px solid var(--accent); color:var(--accent);
              background:#fff; border-radius:10px; cursor:pointer; }
button.play:hover { background:var(--accent); color:#fff; }
footer { color:var(--muted); font-size:.85rem; padding:20px 40px; border-top:1px solid var(--line); }
footer p { margin:4px 0; max-width:110ch; } footer b { color:var(--ink); }
"""

# Marks the page once every image has decoded (checked by the headless-browser test).
LOAD_SCRIPT = """
window.__mnErrors = [];
window.addEventListener('error', function (e) { window.__mnErrors.push(String(e.message || e)); });
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-images-broken', String(bad.length));
  document.body.setAttribute('data-errors', String(window.__mnErrors.length));
  document.body.setAttribute('data-report-loaded', bad.length === 0 && window.__mnErrors.length === 0 ? 'ok' : 'bad');
});
// A tiny Web Audio synth for the piano-roll "play" buttons: data-notes="pitch:start:end,..." in steps,
// data-step = seconds per step. No samples, no network.
var __mnAudio = null, __mnPlaying = null;
function mnPlay(btn) {
  var AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) { btn.textContent = 'no audio'; return; }
  if (!__mnAudio) { __mnAudio = new AC(); }
  var ctx = __mnAudio;
  if (__mnPlaying) { __mnPlaying.nodes.forEach(function (n) { try { n.stop(); } catch (e) {} });
                     __mnPlaying.btn.textContent = '\u25B6 play'; var was = __mnPlaying.btn; __mnPlaying = null;
                     if (was === btn) { return; } }
  var step = parseFloat(btn.getAttribute('data-step')) || 0.125, t0 = ctx.currentTime + 0.05, nodes = [], end = 0;
  (btn.getAttribute('data-notes') || '').split(',').forEach(function (s) {
    if (!s) { return; }
    var p = s.split(':').map(Number), f = 440 * Math.pow(2, (p[0] - 69) / 12);
    var a = t0 + p[1] * step, b = t0 + p[2] * step, o = ctx.createOscillator(), g = ctx.createGain();
    o.type = 'triangle'; o.frequency.value = f;
    g.gain.setValueAtTime(0, a); g.gain.linearRampToValueAtTime(0.25, a + 0.01);
    g.gain.setTargetAtTime(0.12, a + 0.02, 0.1); g.gain.setTargetAtTime(0, b - 0.01, 0.015);
    o.connect(g); g.connect(ctx.destination); o.start(a); o.stop(b + 0.1); nodes.push(o); end = Math.max(end, b);
  });
  btn.textContent = '\u25A0 stop';
  var me = {nodes: nodes, btn: btn}; __mnPlaying = me;
  setTimeout(function () { if (__mnPlaying === me) { __mnPlaying = null; btn.textContent = '\u25B6 play'; } },
             (end - ctx.currentTime + 0.3) * 1000);
}
"""


def esc(x) -> str:
    """HTML-escaped text of any value."""
    return html.escape("" if x is None else str(x), quote=True)


def fmt(x, digits: int = 3) -> str:
    """A number for a table: ints as ints, floats to ``digits`` significant decimals, None/NaN as an en dash."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if math.isnan(f):
        return "–"
    if math.isinf(f):
        return "∞" if f > 0 else "−∞"
    if f == int(f) and abs(f) < 1e9 and not isinstance(x, float):
        return str(int(f))
    if f != 0 and (abs(f) < 10 ** -digits or abs(f) >= 1e6):
        return f"{f:.{digits}g}"
    return f"{f:.{digits}f}"


def cat_badge(c) -> str:
    """A coloured P / R / M tag (grey dash when unknown)."""
    if c in ("P", "R", "M"):
        return f'<span class="cat cat-{c}" title="{ {"P": "pitch", "R": "rhythm", "M": "melody"}[c]}">{c}</span>'
    return '<span class="cat cat-none">–</span>'


def verdict_badge(v: str) -> str:
    cls = {"agrees": "agrees", "differs": "differs", "unstable": "differs"}.get(v, "na")
    return f'<span class="badge {cls}">{esc(v)}</span>'


def table(rows: Sequence[Sequence] | pd.DataFrame, header: Sequence[str] | None = None,
          numeric: Iterable[int] = (), raw: Iterable[int] = (), cls: str = "", digits: int = 3) -> str:
    """An HTML table. ``rows`` are sequences of cells (or a DataFrame, its columns the header).

    Cells in columns listed in ``raw`` are inserted as HTML; others are formatted with :func:`fmt`
    (numeric columns, right aligned, ``digits`` decimals) or escaped.
    """
    if isinstance(rows, pd.DataFrame):
        header = list(rows.columns) if header is None else header
        rows = rows.itertuples(index=False, name=None)
    numeric, raw = set(numeric), set(raw)
    out = [f'<table class="{esc(cls)}">']
    if header is not None:
        out.append("<thead><tr>" + "".join(
            f'<th class="num">{esc(h)}</th>' if j in numeric else f"<th>{esc(h)}</th>"
            for j, h in enumerate(header)) + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        cells = []
        for j, v in enumerate(r):
            if j in raw:
                cells.append(f"<td>{v}</td>")
            elif j in numeric:
                cells.append(f'<td class="num">{fmt(v, digits)}</td>')
            else:
                cells.append(f"<td>{esc(v) if v is not None else '–'}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def img(png: bytes, alt: str, width: int | None = None, kind: str | None = None) -> str:
    """An ``<img>`` holding a PNG as a base64 data URI; ``kind`` becomes ``data-fig`` (which figure it is)."""
    w = f' width="{int(width)}"' if width else ""
    k = f' data-fig="{esc(kind)}"' if kind else ""
    return (f'<img alt="{esc(alt)}"{w}{k} src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">')


def settings_line(settings: dict | None) -> str:
    """``key=value; ...`` of the settings a figure used, in monospace."""
    if not settings:
        return ""
    parts = "; ".join(f"{esc(k)}={esc(fmt(v) if isinstance(v, (int, float)) else v)}" for k, v in settings.items())
    return f'<div class="settings">settings: {parts}</div>'


def figure(png: bytes | None, caption: str, settings: dict | None = None, alt: str | None = None,
           kind: str | None = None, wide: bool = False) -> str:
    """A figure with its caption and the settings it used (a note instead when ``png`` is None).

    ``kind`` names the figure (``data-fig`` of its image); ``wide`` gives it a whole row of a grid.
    """
    if png is None:
        return f'<p class="empty">{caption}</p>'
    cls = ' class="wide"' if wide else ""
    return (f"<figure{cls}>{img(png, alt or _strip_tags(caption), kind=kind)}<figcaption>{caption}"
            f"{settings_line(settings)}</figcaption></figure>")


def _strip_tags(s: str) -> str:
    """Plain text of an HTML caption (tags dropped, entities decoded; escaped again by :func:`img`)."""
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", s))[:200]


def empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'


def section(sid: str, title: str, body: str, level: int = 2, lead: str | None = None) -> str:
    """``<section id=sid>`` with a heading (``h2`` or ``h3``) and an optional lead paragraph."""
    lp = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{esc(sid)}"><h{level}>{esc(title)}</h{level}>{lp}{body}</section>'


def kv(pairs: Sequence[tuple]) -> str:
    """A definition list of key / value pairs (values escaped)."""
    return '<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>"


def stat(value, label: str) -> str:
    return f'<div class="stat"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def details(summary: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body}</details>"


def page(title: str, header: str, toc: Sequence[tuple[str, str]], body: str, footer: str) -> str:
    """The whole document."""
    nav = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in toc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{LOAD_SCRIPT}</script></head>"
        f"<body>{header}<nav class=\"toc\">{nav}</nav><main>{body}</main><footer>{footer}</footer></body></html>\n"
    )


def play_button(events, seconds_per_step: float) -> str:
    """A "play" button for one events window (inline Web Audio synth; notes from ``events_to_notes``)."""
    from ..melody import events_to_notes

    notes = ",".join(f"{int(p)}:{int(a)}:{int(b)}" for p, a, b in events_to_notes(events))
    return (f'<button type="button" class="play" data-step="{seconds_per_step:g}" data-notes="{notes}" '
            f'onclick="mnPlay(this)">&#9654; play</button>')
