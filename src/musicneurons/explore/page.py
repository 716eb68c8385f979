"""The explorer's one page: HTML, its style and its script (served by the app: no CDN, works offline)."""

from __future__ import annotations

import html
import json

FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
           'fill="#2f5fb3"/><rect x="3" y="9" width="3" height="2" fill="#fff"/><rect x="7" y="5" width="3" '
           'height="2" fill="#fff"/><rect x="11" y="7" width="2" height="2" fill="#fff"/></svg>')

STYLE = r"""
:root { --ink:#1d2330; --muted:#5b6577; --line:#dde2ea; --bg:#f3f5f9; --panel:#ffffff; --accent:#2f5fb3;
        --accent2:#d1495b; --soft:#eef2f8; --ok:#2a9d5c; --warn:#b7791f; --bad:#c0392b; }
* { box-sizing:border-box; }
html { font-size:14px; }
body { margin:0; color:var(--ink); background:var(--bg); line-height:1.45;
       font-family:-apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display:flex; align-items:center; gap:18px; flex-wrap:wrap; padding:12px 22px;
         background:linear-gradient(135deg,#1f3b73,#2f5fb3); color:#fff; }
header h1 { font-size:1.25rem; margin:0; font-weight:650; letter-spacing:.2px; }
header h1 span { font-weight:400; color:#cfdcf5; }
header .run { color:#e3ebfa; font-size:.9rem; }
header label { color:#e3ebfa; font-size:.9rem; }
header select { margin-left:4px; }
header .status { margin-left:auto; font-size:.85rem; color:#e3ebfa; font-variant-numeric:tabular-nums; }
main { display:grid; grid-template-columns:330px minmax(0,1fr); gap:16px; padding:16px 22px 30px; }
.card { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px;
        margin-bottom:16px; box-shadow:0 1px 2px rgba(20,30,60,.04); }
.card h2 { font-size:1rem; margin:0 0 8px; display:flex; align-items:center; gap:8px; }
.card h2 small { font-weight:400; color:var(--muted); font-size:.82rem; }
.tabs { display:flex; gap:4px; margin-bottom:8px; flex-wrap:wrap; }
.tabs button { border:1px solid var(--line); background:var(--soft); color:var(--ink); border-radius:14px;
               padding:3px 11px; cursor:pointer; font-size:.86rem; }
.tabs button.on { background:var(--accent); border-color:var(--accent); color:#fff; }
.pane { display:none; } .pane.on { display:block; }
input[type=search], input[type=number], select { font:inherit; padding:4px 6px; border:1px solid #c8cfdb;
        border-radius:5px; background:#fff; }
input[type=search] { width:100%; }
input[type=number] { width:76px; }
button.act { font:inherit; border:1px solid var(--accent); background:#fff; color:var(--accent); border-radius:6px;
             padding:4px 11px; cursor:pointer; }
button.act:hover { background:var(--accent); color:#fff; }
button.act.primary { background:var(--accent); color:#fff; }
button.act.primary:hover { background:#244c93; }
button.act:disabled { opacity:.5; cursor:default; }
ul.wins { list-style:none; margin:6px 0 0; padding:0; max-height:300px; overflow:auto; border:1px solid var(--line);
          border-radius:6px; }
ul.wins li { padding:4px 8px; border-bottom:1px solid var(--line); cursor:pointer; font-size:.84rem;
             white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
ul.wins li:last-child { border-bottom:0; }
ul.wins li:hover { background:var(--soft); }
ul.wins li.sel { background:#dfe8f8; }
ul.wins li b { color:var(--muted); font-weight:500; }
.hint { color:var(--muted); font-size:.82rem; margin:6px 0; }
.slot { display:flex; align-items:center; gap:8px; padding:6px 8px; border-radius:6px; background:var(--soft);
        margin:4px 0; font-size:.86rem; }
.slot .tag { font-weight:700; color:#fff; background:var(--accent); border-radius:4px; padding:0 6px; }
.slot.b .tag { background:var(--accent2); }
.slot .name { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; flex:1; }
.into { font-size:.85rem; margin:6px 0; }
.msg { display:none; border-left:4px solid var(--bad); background:#fdf0ee; padding:7px 10px; margin:8px 0;
       font-size:.86rem; border-radius:0 6px 6px 0; white-space:pre-wrap; }
.msg.on { display:block; }
.msg.warn { border-color:var(--warn); background:#fff8e6; }
.toolbar { display:flex; gap:10px; align-items:center; flex-wrap:wrap; margin-bottom:8px; font-size:.88rem; }
.toolbar .sep { width:1px; align-self:stretch; background:var(--line); }
canvas.roll { width:100%; height:250px; display:block; border:1px solid var(--line); border-radius:6px;
              background:#fbfcfe; }
.legend { font-size:.8rem; color:var(--muted); margin-top:5px; display:flex; gap:14px; flex-wrap:wrap; }
.legend i { display:inline-block; width:18px; height:9px; border-radius:2px; vertical-align:middle;
            margin-right:4px; }
.sliders { display:grid; grid-template-columns:repeat(auto-fill, minmax(330px, 1fr)); gap:8px 22px; }
.neuron { padding:6px 8px 2px; border-radius:6px; border:1px solid transparent; }
.neuron:hover { border-color:var(--line); background:#fafbfd; }
.neuron .top { display:flex; gap:6px; align-items:baseline; font-size:.86rem; }
.neuron .lab { font-weight:600; white-space:nowrap; }
.neuron .feat { color:var(--muted); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; flex:1; }
.neuron .feat.unv { font-style:italic; }
.neuron .val { font-variant-numeric:tabular-nums; font-family:ui-monospace, Menlo, Consolas, monospace;
               font-size:.82rem; }
.neuron .val.moved { color:var(--accent2); font-weight:700; }
.neuron button.x { border:0; background:none; color:var(--muted); cursor:pointer; font-size:.9rem; padding:0 2px; }
.track { position:relative; height:26px; }
.track input[type=range] { width:100%; margin:6px 0 0; accent-color:var(--accent); }
.track input[type=range]:focus-visible { outline:2px solid rgba(47,95,179,.35); outline-offset:1px; border-radius:6px; }
.track .mark { position:absolute; top:1px; width:2px; height:8px; background:var(--accent2); margin-left:-1px;
               pointer-events:none; }
.track .mark.beyond { background:#8a93a3; }
.track .mark.beyond::after { border-top-color:#8a93a3; }
.ends .beyond { color:var(--accent2); }
.track .mark::after { content:""; position:absolute; left:-3px; top:-1px; border:4px solid transparent;
                      border-top-color:var(--accent2); }
.ends { display:flex; justify-content:space-between; font-size:.72rem; color:#8a93a3;
        font-family:ui-monospace, Menlo, Consolas, monospace; margin-top:-3px; }
.add { display:flex; gap:8px; align-items:center; margin-top:10px; font-size:.86rem; flex-wrap:wrap; }
table.moved { border-collapse:collapse; width:100%; font-size:.86rem; }
table.moved th, table.moved td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left; }
table.moved th { background:var(--soft); font-weight:600; }
table.moved td.num { text-align:right; font-variant-numeric:tabular-nums; }
.bar { position:relative; height:12px; width:180px; background:linear-gradient(90deg,transparent 49.5%,#b8c0cc 49.5%,
       #b8c0cc 50.5%,transparent 50.5%); }
.bar span { position:absolute; top:2px; height:8px; border-radius:2px; }
.bar span.up { background:var(--accent); } .bar span.down { background:var(--accent2); }
.cat { display:inline-block; width:1.6em; text-align:center; border-radius:4px; font-weight:700; color:#fff;
       font-size:.75rem; margin-right:5px; }
.cat-P { background:#3a7ca5; } .cat-R { background:#e07a1f; } .cat-M { background:#7b4fa0; } .cat-x { background:#aab; }
.abrow { display:flex; gap:10px; align-items:center; font-size:.9rem; }
.abrow input[type=range] { flex:1; accent-color:var(--accent2); }
.hidden { display:none !important; }
.upwin { margin-top:6px; }
.tabs.inline { margin:0 0 0 10px; }
.legend i.k-dec { background:#2f5fb3; }
.legend i.k-mel { background:rgba(209,73,91,.25); border:1px solid #d1495b; }
footer { color:var(--muted); font-size:.8rem; padding:0 22px 20px; }
.errorpage { max-width:720px; margin:60px auto; background:#fff; border:1px solid var(--line); border-radius:8px;
             padding:24px 28px; }
.errorpage h1 { margin-top:0; font-size:1.3rem; color:var(--bad); }
.errorpage code { background:var(--soft); padding:1px 5px; border-radius:4px; }
"""

BODY = r"""
<header>
  <h1>musicneurons <span>explorer</span></h1>
  <span class="run">run <b id="run-name"></b></span>
  <label>model <select id="key"></select></label>
  <span class="status" id="status">loading…</span>
</header>
<main>
  <div>
    <section class="card" id="melody-card">
      <h2>Starting melody</h2>
      <div class="into">load into
        <label><input type="radio" name="slot" value="a" checked> A</label>
        <label><input type="radio" name="slot" value="b"> B <small>(for A ↔ B)</small></label></div>
      <div class="tabs" id="src-tabs">
        <button data-pane="pane-run" class="on">Run windows</button>
        <button data-pane="pane-twinkle">Twinkle</button>
        <button data-pane="pane-random">Random</button>
        <button data-pane="pane-upload">Upload MIDI</button>
      </div>
      <div class="pane on" id="pane-run">
        <input type="search" id="q" placeholder="search the run's windows by source…" autocomplete="off">
        <ul class="wins" id="wins"></ul>
        <div class="hint" id="wins-n"></div>
      </div>
      <div class="pane" id="pane-twinkle">
        <p class="hint">Twinkle Twinkle Little Star, the paper's example melody.</p>
        <button class="act" id="twinkle">load Twinkle</button>
      </div>
      <div class="pane" id="pane-random">
        <p class="hint">A random note sequence with the paper's recipe (random onsets, pitches and tempo).</p>
        seed <input type="number" id="rseed" value="0" min="0" step="1"> <button class="act" id="random">load</button>
      </div>
      <div class="pane" id="pane-upload">
        <p class="hint">A MIDI file (≤ <span id="maxup"></span>), read with the project's Magenta extraction rules.</p>
        <input type="file" id="file" accept=".mid,.midi,audio/midi,audio/x-midi">
        <div id="upwin" class="hidden upwin">window <select id="upsel"></select></div>
      </div>
      <div class="msg" id="msg" role="alert"></div>
      <div class="slot a"><span class="tag">A</span><span class="name" id="name-a">—</span></div>
      <div class="slot b"><span class="tag">B</span><span class="name" id="name-b">— (pick one with “load into B”)</span></div>
    </section>
    <section class="card">
      <h2>About</h2>
      <p class="hint">Each slider sets one latent dim of MusicVAE (range: the run's 1st–99th percentile of μ;
        the red tick marks the melody's own value). Sliders are labelled with rank, latent index and the top
        feature when its φK clears the run's chance baseline; without a baseline in the run it says
        “unverified”. Every change decodes the latent again and lists the features that moved most, in SDs of
        the run's real windows.</p>
    </section>
  </div>
  <div>
    <section class="card">
      <h2>Decoded melody <small id="roll-note"></small></h2>
      <div class="toolbar">
        <button class="act primary" id="play">▶ play</button>
        <button class="act" id="stop">■ stop</button>
        <button class="act" id="download">⬇ MIDI</button>
        <span class="sep"></span>
        <label>temperature <input type="number" id="temp" value="0" min="0" max="10" step="0.1"></label>
        <label>seed <input type="number" id="seed" value="0" min="0" step="1"></label>
        <span class="sep"></span>
        <label>compare with <select id="ref"><option value="melody">the starting melody</option>
          <option value="decode">its unchanged decode</option></select></label>
        <label><input type="checkbox" id="ghost" checked> show starting melody</label>
      </div>
      <canvas class="roll" id="roll"></canvas>
      <div class="legend"><span><i class="k-dec"></i>decoded</span>
        <span><i class="k-mel"></i>starting melody</span>
        <span id="legend-pitch"></span></div>
    </section>
    <section class="card">
      <h2><span id="mode-title">Music neurons</span>
        <span class="tabs inline" id="mode-tabs">
          <button data-mode="neurons" class="on">neurons</button><button data-mode="ab">A ↔ B</button></span>
        <small id="neurons-note"></small></h2>
      <div class="msg warn" id="warn"></div>
      <div id="mode-neurons">
        <div class="sliders" id="sliders"></div>
        <div class="add">add latent index <input type="number" id="addidx" min="0" step="1" placeholder="0–511">
          <button class="act" id="add">add</button>
          <button class="act" id="reset">reset all to the melody</button>
          <span class="hint" id="music-list"></span></div>
      </div>
      <div id="mode-ab" class="hidden">
        <p class="hint">Spherical interpolation (slerp) between the μ of melody A and melody B; t = 0 is A, t = 1 is B.</p>
        <div class="abrow"><b>A</b><input type="range" id="t" min="0" max="1" step="0.01" value="0.5"><b>B</b>
          <span class="val" id="tval">t = 0.50</span></div>
      </div>
    </section>
    <section class="card">
      <h2>Features that moved most <small id="moved-note"></small></h2>
      <table class="moved" id="moved"><thead><tr><th>feature</th><th class="num">start</th><th class="num">now</th>
        <th class="num">Δ (SD)</th><th></th></tr></thead><tbody></tbody></table>
    </section>
  </div>
</main>
<footer>musicneurons explorer · served locally, nothing leaves this machine ·
  <span id="foot"></span></footer>
"""

SCRIPT = r"""
'use strict';
(function () {
  var BOOT = JSON.parse(document.getElementById('boot').textContent);
  var S = { key: BOOT.keys[0], info: null, a: null, b: null, neurons: [], values: {}, mode: 'neurons',
            t: 0.5, seq: 0, shown: 0, last: null, ctrl: null, timer: null, decodes: 0, errors: [],
            client: 'c' + Math.random().toString(36).slice(2, 12), upload: null, waiting: false, inflight: 0 };
  var audio = { ctx: null, nodes: [], timer: null };
  var $ = function (id) { return document.getElementById(id); };
  // for tests and the console: the state, the audio context's state, and whether every change is decoded
  window.mnExplorer = { state: S, audioState: function () { return audio.ctx ? audio.ctx.state : 'none'; },
                        idle: function () { return !S.waiting && S.inflight === 0 && S.shown === S.seq && S.seq > 0; } };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function fmt(x, d) { return (x === null || x === undefined || !isFinite(x)) ? '–' : Number(x).toFixed(d === undefined ? 2 : d); }
  function signed(x, d) { return (x >= 0 ? '+' : '') + fmt(x, d); }
  function noteName(p) { return ['C','C♯','D','E♭','E','F','F♯','G','A♭','A','B♭','B'][p % 12] + (Math.floor(p / 12) - 1); }
  function say(text, warn) { var m = $('msg'); m.textContent = text || ''; m.className = 'msg' + (text ? ' on' : '') + (warn ? ' warn' : ''); }

  async function api(path, body, raw) {
    var opts = body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' },
                                           body: raw ? body : JSON.stringify(body) };
    if (raw && raw.name) { opts.headers['X-Filename'] = raw.name.replace(/[^\w. ()-]+/g, '_'); }
    if (raw && raw.signal) { opts.signal = raw.signal; }
    var r = await fetch(path, opts);
    if (!r.ok) {
      var msg = r.status + ' ' + r.statusText;
      try { var j = await r.json(); msg = j.error || msg; } catch (e) { /* not JSON */ }
      var err = new Error(msg); err.status = r.status; throw err;
    }
    return r;
  }

  // -- model key and run info -------------------------------------------------------------------------
  async function loadInfo(key) {
    S.key = key;
    $('status').textContent = 'loading the ' + key + ' model…';
    var info = await (await api('/api/info?key=' + encodeURIComponent(key))).json();
    S.info = info;
    S.neurons = info.neurons;
    $('addidx').max = info.z_size - 1; $('addidx').placeholder = '0–' + (info.z_size - 1);
    $('neurons-note').textContent = info.n_music_neurons + ' music neurons in ' + info.model +
      (info.n_music_neurons ? '; top ' + Math.min(8, info.n_music_neurons) + ' by the report’s order' : '');
    $('music-list').textContent = info.music_neurons.length ? 'music neurons: ' +
      info.music_neurons.slice(0, 40).map(function (n) { return 'd' + n.latent_index; }).join(' ') +
      (info.music_neurons.length > 40 ? ' …' : '') : '';
    var warns = [];
    if (!info.has_baseline) { warns.push('This run has no chance baseline for φK yet: top features are shown as “unverified”.'); }
    if (info.model_matches_run === false) { warns.push('The model loaded now does not give this run’s latents back (was its checkpoint changed?): slider ranges and labels may not fit it.'); }
    $('warn').textContent = warns.join(' '); $('warn').className = 'msg warn' + (warns.length ? ' on' : '');
    $('foot').textContent = info.n_windows + ' real ' + key + ' windows in the run · ' + info.bars + ' bars, ' + info.n_steps + ' steps · ' + info.z_size + '-D latent';
    S.b = null; $('name-b').textContent = '— (pick one with “load into B”)';
    setA(info.melody);
    searchWindows();
  }

  function setA(m) {
    S.a = m; S.values = {};
    $('name-a').textContent = m.source + (m.n_windows > 1 ? ' (window ' + (m.window + 1) + ' of ' + m.n_windows + ')' : '');
    $('name-a').title = $('name-a').textContent;
    renderSliders();
    decodeSoon(0);
  }
  function setB(m) {
    S.b = m; $('name-b').textContent = m.source; $('name-b').title = m.source;
    if (S.mode === 'ab') { decodeSoon(0); }
  }
  function slot() { return document.querySelector('input[name=slot]:checked').value; }
  async function loadMelody(spec) {
    say('');
    try {
      var m = await (await api('/api/melody', Object.assign({ key: S.key }, spec))).json();
      if (slot() === 'b') { setB(m); } else { setA(m); }
    } catch (e) { say(e.message); }
  }

  // -- sliders ------------------------------------------------------------------------------------------
  function renderSliders() {
    var box = $('sliders'); box.innerHTML = '';
    S.neurons.forEach(function (n) {
      var d = n.latent_index, own = S.a ? S.a.mu[d] : n.median, lo = n.lo, hi = n.hi;
      var frac = Math.max(0, Math.min(1, (own - lo) / ((hi - lo) || 1))), beyond = own < lo || own > hi;
      var row = el('div', { 'class': 'neuron', 'data-index': d, 'data-rank': n.rank || '' });
      var top = el('div', { 'class': 'top' });
      top.appendChild(el('span', { 'class': 'lab' }, (n.rank ? '#' + n.rank + ' · ' : '') + 'd' + d));
      var feat = el('span', { 'class': 'feat' + (n.verified ? '' : ' unv') },
        n.verified ? n.top_feature + ' ' + n.top_feature_name : (n.top_feature ? n.feature_label : (n.rank ? 'no feature' : 'not a music neuron')));
      feat.title = n.top_feature ? (n.top_feature + ' ' + n.top_feature_name + ', φK ' + fmt(n.top_phik) +
        (n.baseline === null || n.baseline === undefined ? ' — no chance baseline in this run' : ' vs chance ' + fmt(n.baseline))) : '';
      top.appendChild(feat);
      var val = el('span', { 'class': 'val' }); top.appendChild(val);
      var x = el('button', { 'class': 'x', title: 'back to the melody’s value' }, '↺'); top.appendChild(x);
      if (!n.rank || S.neurons.indexOf(n) >= 8) {
        var rm = el('button', { 'class': 'x', title: 'remove this slider' }, '×'); top.appendChild(rm);
        rm.onclick = function () { S.neurons.splice(S.neurons.indexOf(n), 1); delete S.values[d]; renderSliders(); decodeSoon(0); };
      }
      row.appendChild(top);
      var track = el('div', { 'class': 'track' });
      var input = el('input', { type: 'range', min: lo, max: hi, step: 'any',
                                'aria-label': 'latent dim ' + d });
      input.value = S.values[d] !== undefined ? S.values[d] : own;
      var mark = el('div', { 'class': 'mark' + (beyond ? ' beyond' : ''), title: 'the melody’s own value ' + fmt(own, 3) +
                             (beyond ? ' (outside the population’s 1st–99th percentile)' : '') });
      mark.style.left = 'calc(' + (100 * frac) + '% + ' + (8 - 16 * frac) + 'px)';
      track.appendChild(mark); track.appendChild(input); row.appendChild(track);
      var ends = el('div', { 'class': 'ends' });
      ends.appendChild(el('span', {}, fmt(lo))); ends.appendChild(el('span', { 'class': beyond ? 'beyond' : '' }, 'melody ' + fmt(own) + (beyond ? (own > hi ? ' ▶' : ' ◀') : '')));
      ends.appendChild(el('span', {}, fmt(hi))); row.appendChild(ends);
      function show() {
        var v = S.values[d] !== undefined ? S.values[d] : own;
        val.textContent = signed(v); val.className = 'val' + (S.values[d] !== undefined ? ' moved' : '');
      }
      input.addEventListener('input', function () { S.values[d] = parseFloat(input.value); show(); decodeSoon(); });
      x.onclick = function () { delete S.values[d]; input.value = own; show(); decodeSoon(0); };
      show();
      box.appendChild(row);
    });
  }

  async function addNeuron() {
    var d = parseInt($('addidx').value, 10);
    if (!(d >= 0 && d < S.info.z_size)) { say('a latent index is an integer in 0..' + (S.info.z_size - 1)); return; }
    if (S.neurons.some(function (n) { return n.latent_index === d; })) { say('d' + d + ' already has a slider', true); return; }
    try {
      var n = await (await api('/api/neuron?key=' + S.key + '&index=' + d)).json();
      S.neurons.push(n); say(''); renderSliders();
    } catch (e) { say(e.message); }
  }

  // -- decoding: debounced, the latest request wins -------------------------------------------------------
  function decodeSoon(ms) {
    clearTimeout(S.timer); S.waiting = true;
    S.timer = setTimeout(decodeNow, ms === undefined ? 35 : ms);
  }
  async function decodeNow() {
    S.waiting = false;
    if (!S.a) { return; }
    if (S.mode === 'ab' && !S.b) { $('status').textContent = 'pick melody B (load into B) for A ↔ B'; return; }
    var seq = ++S.seq;
    if (S.ctrl) { S.ctrl.abort(); }
    var ctrl = new AbortController(); S.ctrl = ctrl;
    var body = { key: S.key, events: S.a.events, values: S.values, temperature: parseFloat($('temp').value) || 0,
                 seed: parseInt($('seed').value, 10) || 0, reference: $('ref').value, mode: S.mode,
                 client: S.client, seq: seq };
    if (S.mode === 'ab') { body.b_events = S.b.events; body.t = S.t; }
    var t0 = performance.now();
    S.inflight += 1;
    try {
      var r = await fetch('/api/decode', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                           body: JSON.stringify(body), signal: ctrl.signal });
      var j = await r.json();
      if (!r.ok) { throw new Error(j.error || r.statusText); }
      if (j.superseded || seq !== S.seq) { return; }
      S.last = j; S.shown = seq; S.decodes += 1;
      $('status').textContent = 'decoded in ' + fmt(j.decode_ms, 1) + ' ms (round trip ' + fmt(performance.now() - t0, 0) + ' ms)';
      drawRoll(); renderMoved();
      document.body.setAttribute('data-decodes', String(S.decodes));
      document.body.setAttribute('data-seq', String(seq));
    } catch (e) {
      if (e.name === 'AbortError') { return; }
      $('status').textContent = 'error'; say(e.message);
    } finally { S.inflight -= 1; }
  }

  // -- piano roll -------------------------------------------------------------------------------------------
  function notesOf(events) {
    var out = [], cur = null;
    for (var i = 0; i < events.length; i++) {
      var e = events[i];
      if (e >= 1 && cur) { cur[2] = i; out.push(cur); cur = null; }
      if (e >= 2) { cur = [e + 19, i, events.length]; }
    }
    if (cur) { out.push(cur); }
    return out;
  }
  function drawRoll() {
    var c = $('roll'), j = S.last; if (!j) { return; }
    var dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    var g = c.getContext('2d'); g.setTransform(dpr, 0, 0, dpr, 0, 0); g.clearRect(0, 0, w, h);
    var dec = j.notes, ghost = $('ghost').checked ? notesOf(S.mode === 'ab' ? [] : S.a.events) : [];
    var ref = S.mode === 'ab' ? [notesOf(S.a.events), notesOf(S.b.events)] : [ghost];
    var all = dec.concat.apply(dec, ref), lo = 60, hi = 72;
    if (all.length) { lo = Math.min.apply(null, all.map(function (n) { return n[0]; })); hi = Math.max.apply(null, all.map(function (n) { return n[0]; })); }
    lo -= 2; hi += 2; while (hi - lo < 14) { lo -= 1; hi += 1; }
    var T = j.events.length, left = 38, right = 6, top = 6, bottom = 18;
    var cw = (w - left - right) / T, rh = (h - top - bottom) / (hi - lo + 1);
    function y(p) { return top + (hi - p) * rh; }
    for (var p = lo; p <= hi; p++) {
      var black = [1, 3, 6, 8, 10].indexOf(p % 12) >= 0;
      g.fillStyle = black ? '#eef1f6' : '#fbfcfe'; g.fillRect(left, y(p), w - left - right, rh);
      if (p % 12 === 0) { g.fillStyle = '#5b6577'; g.font = '10px sans-serif'; g.textBaseline = 'middle';
                          g.fillText(noteName(p), 4, y(p) + rh / 2); g.fillStyle = '#d5dbe5'; g.fillRect(left, y(p) + rh - 0.5, w - left - right, 1); }
    }
    for (var s = 0; s <= T; s += 4) {
      g.fillStyle = s % 16 === 0 ? '#9aa4b5' : '#e1e6ee'; g.fillRect(left + s * cw - 0.5, top, 1, h - top - bottom);
      if (s % 16 === 0 && s < T) { g.fillStyle = '#5b6577'; g.font = '10px sans-serif'; g.textBaseline = 'top';
                                   g.fillText('bar ' + (s / 16 + 1), left + s * cw + 3, h - bottom + 3); }
    }
    var colors = S.mode === 'ab' ? [['rgba(47,95,179,.18)', '#2f5fb3'], ['rgba(209,73,91,.2)', '#d1495b']] : [['rgba(209,73,91,.22)', '#d1495b']];
    ref.forEach(function (ns, k) {
      ns.forEach(function (n) { g.fillStyle = colors[k][0]; g.strokeStyle = colors[k][1]; g.lineWidth = 1;
        g.fillRect(left + n[1] * cw + 1, y(n[0]) + 1, (n[2] - n[1]) * cw - 2, rh - 2);
        g.strokeRect(left + n[1] * cw + 1.5, y(n[0]) + 1.5, (n[2] - n[1]) * cw - 3, rh - 3); });
    });
    dec.forEach(function (n) {
      g.fillStyle = S.mode === 'ab' ? '#3b2f63' : '#2f5fb3';
      g.fillRect(left + n[1] * cw + 1, y(n[0]) + 2, (n[2] - n[1]) * cw - 2, rh - 4);
      g.fillStyle = '#1a3b78'; g.fillRect(left + n[1] * cw + 1, y(n[0]) + 2, Math.min(3, cw), rh - 4);
    });
    $('legend-pitch').textContent = 'pitch ' + noteName(lo) + '–' + noteName(hi) + ' · ' + dec.length + ' notes decoded · ' + fmt(qpm(), 0) + ' qpm';
    $('roll-note').textContent = S.mode === 'ab' ? 'slerp(A, B, t = ' + fmt(S.t) + ')' :
      (Object.keys(S.values).length ? Object.keys(S.values).length + ' dim(s) changed' : 'the melody’s own μ');
  }

  function renderMoved() {
    var tb = $('moved').tBodies[0]; tb.innerHTML = '';
    var rows = S.last.moved || [];
    $('moved-note').textContent = '(vs ' + (S.mode === 'ab' ? 'melody A' : S.last.reference === 'decode' ? 'the unchanged decode of the melody' : 'the starting melody') + ', in SDs of the run’s real windows)';
    if (!rows.length) { var tr = el('tr'); tr.appendChild(el('td', { colspan: 5, 'class': 'hint' }, 'no defined feature to compare')); tb.appendChild(tr); }
    rows.forEach(function (r) {
      var tr = el('tr', { 'data-feature': r.feature });
      var td = el('td'); td.appendChild(el('span', { 'class': 'cat cat-' + (r.category || 'x') }, r.category || '?'));
      td.appendChild(document.createTextNode(r.feature + ' ' + r.name)); tr.appendChild(td);
      tr.appendChild(el('td', { 'class': 'num' }, fmt(r.start))); tr.appendChild(el('td', { 'class': 'num' }, fmt(r.now)));
      tr.appendChild(el('td', { 'class': 'num' }, signed(r.delta_sd)));
      var bt = el('td'), bar = el('div', { 'class': 'bar' }), sp = el('span', { 'class': r.delta_sd >= 0 ? 'up' : 'down' });
      var wpc = Math.min(50, Math.abs(r.delta_sd) / 3 * 50);
      sp.style.left = (r.delta_sd >= 0 ? 50 : 50 - wpc) + '%'; sp.style.width = wpc + '%';
      bar.appendChild(sp); bt.appendChild(bar); tr.appendChild(bt); tb.appendChild(tr);
    });
  }

  // -- audio: a tiny Web Audio synth (triangle waves), no samples, no network ---------------------------
  function qpm() { return S.mode === 'ab' ? S.a.qpm : (S.a ? S.a.qpm : 120); }
  function stop() {
    audio.nodes.forEach(function (n) { try { n.stop(); } catch (e) { /* already stopped */ } });
    audio.nodes = []; clearTimeout(audio.timer); $('play').textContent = '▶ play';
  }
  async function play() {
    if (!S.last) { return; }
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) { say('this browser has no Web Audio'); return; }
    if (!audio.ctx) { audio.ctx = new AC(); }
    if (audio.ctx.state !== 'running') { await audio.ctx.resume(); }
    stop();
    var ctx = audio.ctx, step = 60 / qpm() / 4, t0 = ctx.currentTime + 0.05, end = 0;
    S.last.notes.forEach(function (n) {
      var f = 440 * Math.pow(2, (n[0] - 69) / 12), a = t0 + n[1] * step, b = t0 + n[2] * step;
      var o = ctx.createOscillator(), gn = ctx.createGain();
      o.type = 'triangle'; o.frequency.value = f;
      gn.gain.setValueAtTime(0, a); gn.gain.linearRampToValueAtTime(0.25, a + 0.01);
      gn.gain.setTargetAtTime(0.12, a + 0.02, 0.1); gn.gain.setTargetAtTime(0, Math.max(a + 0.02, b - 0.01), 0.015);
      o.connect(gn); gn.connect(ctx.destination); o.start(a); o.stop(b + 0.1); audio.nodes.push(o); end = Math.max(end, b);
    });
    $('play').textContent = '▶ playing…';
    audio.timer = setTimeout(stop, (end - ctx.currentTime + 0.3) * 1000);
  }

  async function download() {
    if (!S.last) { return; }
    try {
      var name = (S.mode === 'ab' ? 'interp' : 'explore') + '_' + S.key;
      var r = await api('/api/midi', { key: S.key, events: S.last.events, qpm: qpm(), name: name });
      var url = URL.createObjectURL(await r.blob()), a = el('a', { href: url, download: name + '.mid' });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 5000);
    } catch (e) { say(e.message); }
  }

  // -- melody sources ---------------------------------------------------------------------------------------
  var searchTimer = null;
  async function searchWindows() {
    try {
      var q = $('q').value;
      var j = await (await api('/api/windows?key=' + S.key + '&limit=100&q=' + encodeURIComponent(q))).json();
      var ul = $('wins'); ul.innerHTML = '';
      j.windows.forEach(function (w) {
        var li = el('li', { 'data-index': w.index, title: w.source + ' #' + w.window });
        li.appendChild(el('b', {}, '#' + w.index + ' ')); li.appendChild(document.createTextNode(w.source.replace(/^builtin:/, '') + ' · w' + w.window));
        li.onclick = function () { Array.prototype.forEach.call(ul.children, function (x) { x.classList.remove('sel'); });
                                   li.classList.add('sel'); loadMelody({ kind: 'window', index: w.index }); };
        ul.appendChild(li);
      });
      $('wins-n').textContent = j.windows.length ? (j.more ? 'first ' + j.windows.length : j.windows.length) + ' of ' + j.n + ' windows' + (q ? ' matching “' + q + '”' : '') : 'no window matches';
    } catch (e) { say(e.message); }
  }
  async function upload(file) {
    say(''); $('upwin').classList.add('hidden');
    if (!file) { return; }
    if (file.size > BOOT.max_upload) { say(file.name + ': ' + (file.size / 1048576).toFixed(1) + ' MB is over the ' + (BOOT.max_upload / 1048576) + ' MB limit'); return; }
    try {
      var j = await (await api('/api/upload?key=' + S.key, file, { name: file.name })).json();
      S.upload = j;
      var sel = $('upsel'); sel.innerHTML = '';
      j.windows.forEach(function (w, k) { sel.appendChild(el('option', { value: k }, 'window ' + (k + 1) + ' of ' + j.n_windows + ' (bar ' + (w.first_bar + 1) + ', ' + fmt(w.qpm, 0) + ' qpm)')); });
      $('upwin').classList.toggle('hidden', j.windows.length <= 1);
      await useUpload(0);
    } catch (e) { say(e.message); }
  }
  async function useUpload(k) {
    var w = S.upload.windows[k];
    await loadMelody({ kind: 'events', events: w.events, qpm: w.qpm,
                       source: S.upload.source + (S.upload.n_windows > 1 ? ' (window ' + (k + 1) + ' of ' + S.upload.n_windows + ')' : '') });
  }

  // -- wiring ----------------------------------------------------------------------------------------------
  function init() {
    $('run-name').textContent = BOOT.run_name; $('run-name').title = BOOT.run;
    $('maxup').textContent = (BOOT.max_upload / 1048576) + ' MB';
    BOOT.keys.forEach(function (k) { $('key').appendChild(el('option', { value: k }, k)); });
    $('key').onchange = function () { loadInfo($('key').value).catch(function (e) { say(e.message); }); };
    Array.prototype.forEach.call(document.querySelectorAll('#src-tabs button'), function (b) {
      b.onclick = function () {
        Array.prototype.forEach.call(document.querySelectorAll('#src-tabs button'), function (x) { x.classList.toggle('on', x === b); });
        Array.prototype.forEach.call(document.querySelectorAll('.pane'), function (p) { p.classList.toggle('on', p.id === b.getAttribute('data-pane')); });
      };
    });
    Array.prototype.forEach.call(document.querySelectorAll('#mode-tabs button'), function (b) {
      b.onclick = function () {
        S.mode = b.getAttribute('data-mode');
        Array.prototype.forEach.call(document.querySelectorAll('#mode-tabs button'), function (x) { x.classList.toggle('on', x === b); });
        $('mode-neurons').classList.toggle('hidden', S.mode !== 'neurons');
        $('mode-ab').classList.toggle('hidden', S.mode !== 'ab');
        if (S.mode === 'ab' && !S.b) { document.querySelector('input[name=slot][value=b]').checked = true; }
        decodeSoon(0);
      };
    });
    $('q').addEventListener('input', function () { clearTimeout(searchTimer); searchTimer = setTimeout(searchWindows, 150); });
    $('twinkle').onclick = function () { loadMelody({ kind: 'twinkle' }); };
    $('random').onclick = function () { loadMelody({ kind: 'random', seed: parseInt($('rseed').value, 10) || 0 }); };
    $('file').onchange = function () { upload($('file').files[0]); };
    $('upsel').onchange = function () { useUpload(parseInt($('upsel').value, 10)); };
    $('add').onclick = addNeuron;
    $('addidx').addEventListener('keydown', function (e) { if (e.key === 'Enter') { addNeuron(); } });
    $('reset').onclick = function () { S.values = {}; renderSliders(); decodeSoon(0); };
    $('t').addEventListener('input', function () { S.t = parseFloat($('t').value); $('tval').textContent = 't = ' + fmt(S.t); decodeSoon(); });
    ['temp', 'seed', 'ref'].forEach(function (id) { $(id).addEventListener('change', function () { decodeSoon(0); }); });
    $('ghost').onchange = drawRoll;
    $('play').onclick = play; $('stop').onclick = stop; $('download').onclick = download;
    window.addEventListener('resize', drawRoll);
    loadInfo(S.key).then(function () { document.body.setAttribute('data-ready', '1'); })
                   .catch(function (e) { $('status').textContent = 'error'; say(e.message); });
  }
  init();
})();
"""


def index_html(boot: dict) -> str:
    data = json.dumps(boot).replace("<", "\\u003c")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>musicneurons explorer</title><link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">"
            "<link rel=\"stylesheet\" href=\"/explore.css\">"
            f"<script type=\"application/json\" id=\"boot\">{data}</script></head><body>{BODY}"
            "<script src=\"/explore.js\"></script></body></html>\n")


def error_page(title: str, message: str, not_a_run: bool = False) -> str:
    hint = ("<p>Start the explorer on a finished run folder: <code>musicneurons reproduce -o RUN_DIR</code>, then "
            "<code>musicneurons explore RUN_DIR</code>.</p>" if not_a_run else
            "<p><a href=\"/\">back to the explorer</a></p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>musicneurons explorer: "
            f"{html.escape(title)}</title><link rel=\"stylesheet\" href=\"/explore.css\"></head><body>"
            f"<div class=\"errorpage\"><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{hint}</div>"
            "</body></html>\n")
