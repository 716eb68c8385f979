"""The page's sections outside the models: header, overview, paper vs run, Twinkle, settings, timings, footer."""

from __future__ import annotations

import json

from . import figures as F
from .reader import RunResults
from . import paper
from ..melody import SECONDS_PER_STEP
from .html import empty, esc, figure, fmt, img, kv, play_button, section, table, verdict_badge
from .cells import _neuron_cell, _split_table


def header_html(run: RunResults) -> str:
    s = run.run_settings.get("settings", {})
    models = ", ".join(f"{k}: {v.get('model', '?')}" for k, v in run.summary.items())
    return (
        '<header class="top" id="top"><h1>Music neurons in MusicVAE\'s latent space</h1>'
        "<p>Which of the 512 latent dimensions (\"neurons\") of a MusicVAE carry the music, and which pitch, rhythm "
        "and melody features each one tracks: music vs noise neurons, neuron × feature correlations, real vs "
        "random inputs, ablations and traversals — the study of Barenboim, Del Debbio, Hirn and Sanz, "
        "reproduced on this run.</p>"
        f"<p>Models: {esc(models)} · corpus: {esc(s.get('corpus', '?'))} · "
        f"real windows per model: {esc(s.get('n_melodies', '?'))}</p></header>"
    )


def overview_section(run: RunResults) -> str:
    st = run.run_settings.get("settings", {})
    ver = run.run_settings.get("versions", {})
    rows = []
    for key, s in run.summary.items():
        rows.append((key, s.get("model"), s.get("n_real"), s.get("n_random"), s.get("n_music_neurons"),
                     s.get("n_dims"), s.get("sigma_threshold"), s.get("sigma_threshold_rule")))
    models = table(rows, ["model key", "model", "real inputs", "random inputs", "music neurons", "latent dims",
                          "σ threshold", "threshold rule"], numeric=(2, 3, 4, 5, 6))
    ckpt = st.get("checkpoints") or {}
    settings_pairs = [(k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in st.items()
                      if k != "checkpoints"]
    settings_pairs.append(("checkpoints", ", ".join(f"{k}: {v if v else 'shipped weights'}" for k, v in ckpt.items())))
    body = (
        "<p>Neuron numbering: <b>rank 1</b> is the music neuron whose μ varies most over the real inputs "
        "(ranking by var μ unless the settings say otherwise); the model's raw latent index is always shown "
        "beside it as <span class=\"settings\">d&lt;index&gt;</span>.</p>"
        + models
        + '<div class="grid"><div><h3>Run settings (settings.json)</h3>' + kv(settings_pairs) + "</div>"
        + "<div><h3>Versions</h3>" + kv(list(ver.items())) + "</div></div>"
    )
    return section("overview", "Overview", body)


def paper_section(run: RunResults) -> str:
    rows = paper.comparison(run.summary, run.csv)
    body = table([(r["claim"], r["paper"], r["run"], verdict_badge(r["verdict"]), r["rule"]) for r in rows],
                 ["finding", "paper", "this run", "verdict", "rule for the verdict"], raw=(3,))
    n_ag = sum(r["verdict"] == "agrees" for r in rows)
    n_df = sum(r["verdict"] == "differs" for r in rows)
    n_wh = sum(r["verdict"] == paper.WITHHELD for r in rows)
    lead = (f"{n_ag} of {len(rows)} findings agree with the paper, {n_df} differ, "
            f"{len(rows) - n_ag - n_df - n_wh} could not be checked on this run"
            + (f", {n_wh} withheld because their model fails the health gate" if n_wh else "") + ".")
    failing = paper.failing_models(run.summary)
    if failing:
        body = "".join(f'<p class="note fail">The {esc(k)} model fails the model-health gate, so no paper verdict '
                       f'is given for it: {esc("; ".join(f))}.</p>' for k, f in failing.items()) + body
    body += ('<p class="settings">A concept label (P/R/M) counts only when the neuron\'s best φK clears the 99th '
             "percentile of its permutation null; each association is shown with that chance level (null q99) and "
             "the best φK the untrained model reaches with the same feature (untrained).</p>")
    return section("paper-vs-run", "The paper vs this run", body, lead=lead)


def twinkle_section(run: RunResults) -> str:
    body = ""
    for key in run.keys:
        tw = run.csv(key, "twinkle.csv")
        if tw is None or len(tw) == 0:
            body += f"<h3>{esc(key)}</h3>" + empty("No Twinkle table for this model.")
            continue
        music = tw[tw["rank"] > 0]
        body += f"<h3>{esc(key)}</h3>"
        from ..analysis.twinkle import twinkle_events

        ev = twinkle_events(2 if key == "2bar" else 16)
        body += (f'<div class="roll single{"" if key == "2bar" else " wide"}">'
                 f'{img(F.piano_roll_png(ev, wide=key != "2bar"), "Twinkle piano roll", kind="piano-roll")}'
                 f"<div>{play_button(ev, SECONDS_PER_STEP)}the input melody</div></div>")
        if len(music) == 0:
            body += empty("No music neurons at this threshold: nothing to compare.")
            continue
        bars = "2" if key == "2bar" else "16"
        body += figure(F.twinkle_plot(tw), f"“Twinkle, Twinkle, Little Star” (first {bars} "
                       "bars) encoded: its μ and σ on each music neuron (by rank) against the real inputs.",
                       {"neurons_shown": min(40, len(music))}, kind="twinkle")
        rows = [(_neuron_cell(r.rank, r.latent_index), r.twinkle_mu, r.mu_percentile, r.pop_mean_mu, r.pop_std_mu,
                 r.twinkle_sigma) for r in music.itertuples()]
        body += _split_table(rows, ["neuron", "Twinkle μ", "μ percentile in population", "population mean μ",
                                    "population std μ", "Twinkle σ"], numeric=(1, 2, 3, 4, 5), raw=(0,), limit=10,
                             what="music neurons")
    return section("twinkle", "Twinkle, Twinkle, Little Star", body,
                   lead="The paper's running example: one familiar melody, seen through the music neurons.")


def _settings_rows(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and k != "config":
            rows += _settings_rows(v, name + ".")
        else:
            rows.append((name, json.dumps(v) if isinstance(v, (dict, list)) else ("–" if v is None else str(v))))
    return rows


def settings_section(run: RunResults) -> str:
    body = ""
    for key, s in run.summary.items():
        st = s.get("settings") or {}
        body += f"<h3>{esc(key)}</h3>" + table(_settings_rows(st), ["estimator.setting", "value"])
    return section("settings", "Settings of every estimator", body,
                   lead="Everything each number above depends on, as recorded in analysis/summary.json.")


def _stage_order(name: str, keys) -> tuple:
    """Sort key of a stage record: by model key, then in pipeline order."""
    parts = name.split("_")
    kinds = ("melodies", "random", "encode", "features", "analyze")
    k = next((i for i, key in enumerate(keys) if key in parts), len(keys))
    return (k, kinds.index(parts[0]) if parts[0] in kinds else len(kinds), name)


def timings_section(run: RunResults) -> str:
    recs = run.stage_records()
    compute = run.compute_stages()
    last = run.last_reproduce() or {}
    rt = run.run_time()

    def cached(k, r):
        v = last.get(k)
        return v.get("cached") if isinstance(v, dict) and v.get("key") == r.get("key") else None

    names = sorted(compute, key=lambda k: _stage_order(k, run.keys))
    rows = [(k, recs[k].get("seconds"), recs[k].get("peak_rss_mb"), cached(k, recs[k])) for k in names]
    if rows:
        rows.append(("all stages: the results", rt["seconds"], max((r[2] or 0) for r in rows) or None, None))
        if "report" in recs:  # the previous build of this page, not counted above
            r = recs["report"]
            rows.append(("report (a build of this page; not counted)", r.get("seconds"), r.get("peak_rss_mb"),
                         cached("report", r)))
        rows = [(a, b, c, "–" if d is None else "yes" if d else "no") for a, b, c, d in rows]
        body = table(rows, ["stage", "seconds", "peak memory (MB, RSS)", "cached on the last reproduce"],
                     numeric=(1, 2), digits=1)
    else:
        body = empty("No stage records in stages/.")
    if rt["last_wall_seconds"] is not None:
        body += (f"<p>The last <code>musicneurons reproduce</code> on this folder took "
                 f"{fmt(rt['last_wall_seconds'], 1)} s wall time, with {rt['last_cached']} of "
                 f"{rt['last_n_stages']} stages cached (stages/timings.json); the stage times above are those of "
                 "the runs that computed each stage.</p>")
    return section("timings", "Timings", body,
                   lead="Compute time and peak resident memory of each pipeline stage, as recorded by the run that "
                        "computed it (stages/*.json; a cached rerun keeps these records).")


def footer_html(run: RunResults) -> str:
    """The page footer: the version, the folder, and the time the results took to compute.

    The time is the sum of the stage records (:meth:`RunResults.run_time`), not a cached rerun's wall
    time; a page rebuilt from cached stages says so.
    """
    ver = run.run_settings.get("versions", {}).get("musicneurons", "?")
    rt = run.run_time()
    out = (f"<p>Built by musicneurons {esc(ver)} from the run folder “{esc(run.root.name)}” "
           "(figures: matplotlib; no network needed). Rebuild with <code>musicneurons report RUN_DIR</code>.</p>")
    if rt["seconds"] is None:
        return out + '<p id="run-time" data-rebuilt="unknown">No stage records in stages/: compute time unknown.</p>'
    out += (f'<p id="run-time" data-seconds="{rt["seconds"]:.2f}" data-rebuilt="{"yes" if rt["rebuilt"] else "no"}">'
            f"Results computed in <b>{fmt(rt['seconds'], 1)} s</b>: the sum of the {rt['n_stages']} stage "
            "records' compute times (stages/*.json; building this page not included).")
    if rt["rebuilt"]:
        out += (" <b>This page was rebuilt from cached stages</b>: nothing was recomputed for it")
        if rt["last_wall_seconds"] is not None:
            out += (f"; the last <code>reproduce</code> took {fmt(rt['last_wall_seconds'], 1)} s wall time with "
                    f"{rt['last_cached']} of {rt['last_n_stages']} stages cached")
        out += "."
    return out + "</p>"
