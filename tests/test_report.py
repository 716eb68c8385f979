"""The HTML report: sections, figures, the summary fields it reads, the CLI, and a headless browser.

One small run folder is built once per module with tiny random models (untrained: their latents
have no clear music/noise split, so the sigma threshold is set from the run's own encodings to
give a handful of music neurons per model and exercise every section).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musicneurons.report import build_report, comparison

KEYS = ("2bar", "16bar")
PER_KEY = ("model", "music-neurons", "neuron-correlations", "features", "attributes", "real-vs-random", "ablation",
           "interventions", "neuron-ablation", "metrics")
SECTION_IDS = (["overview", "paper-vs-run", "twinkle", "settings", "timings", "melody-candidates-16bar"]
               + [f"{p}-{k}" for p in PER_KEY for k in KEYS])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import pandas as pd
    import torch
    from threadpoolctl import threadpool_limits

    import musicneurons.analysis_io as aio
    from musicneurons.model.checkpoint import save_model
    from musicneurons.model.config import get_config
    from musicneurons.model.musicvae import MusicVAE
    from musicneurons.pipeline import Run, Settings, reproduce

    tmp = tmp_path_factory.mktemp("report")
    torch.manual_seed(0)
    save_model(MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(32,), dec_rnn_size=(32,), z_size=64)), tmp / "m2")
    save_model(MusicVAE(get_config("mn-mel_16bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=64)), tmp / "m16")
    root = tmp / "run"
    base = dict(n_melodies=200, checkpoints={"2bar": str(tmp / "m2"), "16bar": str(tmp / "m16")},
                n_intervention_melodies=8, n_traversed=3, metrics=True, n_permutations=20)
    quiet = lambda *a: None  # noqa: E731
    # one thread: on a small shared machine BLAS / torch thread pools mostly spin (2-4x the CPU time)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp, threadpool_limits(1):
            # analysis_io writes every value of neuron_correlations(), whose "settings" is a dict, not a
            # table: write only tables until it skips it (harmless once fixed)
            write = aio._write_csv
            mp.setattr(aio, "_write_csv", lambda df, path, index=True:
                       write(df, path, index) if df is None or isinstance(df, pd.DataFrame) else None)
            # encode first, then pick a fixed sigma threshold giving each model >= 4 music neurons
            run = Run(root, Settings(**base), log=quiet)
            thresholds = []
            for key in KEYS:
                run.melodies(key)
                run.random(key)
                run.encode(key, "real")
                with np.load(root / "latents" / f"{key}_real.npz") as f:
                    thresholds.append(float(np.sort(f["sigma"].mean(axis=0))[3]) + 1e-6)
            reproduce(root, Settings(**base, sigma_threshold=max(thresholds)), log=quiet, report=True)
    finally:
        torch.set_num_threads(n_threads)
    return root


@pytest.fixture(scope="module")
def html(run_dir):
    return (run_dir / "report" / "index.html").read_text(encoding="utf-8")


def section_ids(text: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', text)


def test_every_section_present(html):
    ids = section_ids(html)
    missing = [s for s in SECTION_IDS if s not in ids]
    assert not missing, f"missing sections: {missing}"
    assert len(ids) == len(set(ids)), "duplicate section ids"


def test_images_are_decodable_pngs(html):
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(srcs) >= 20, f"only {len(srcs)} images"
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == PNG_MAGIC and len(png) > 1000
        w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert w > 50 and h > 30


def test_self_contained(html):
    # no network: no external scripts, stylesheets or images
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)
    assert "<style>" in html


def test_report_shows_run_values(run_dir, html):
    summary = json.loads((run_dir / "analysis" / "summary.json").read_text())
    for key in KEYS:
        s = summary[key]
        top = s["music_neurons"][0]
        # the count, the threshold and rank 1 with its raw latent index appear
        assert f"{s['n_music_neurons']} / {s['n_dims']}" in html
        assert f"#1 <span class=\"settings\">d{top['latent_index']}</span>" in html
    # MIDI links are relative to report/ and point at files that exist
    links = re.findall(r'href="(\.\./analysis/[^"]+\.mid)"', html)
    assert links
    for link in links:
        assert (run_dir / "report" / link).resolve().exists(), link


def test_rebuild_is_stable(rebuild, html):
    again = rebuild[0]
    # the build inside reproduce ran before stages/timings.json existed: same sections, and apart from the
    # run-time sections the same bytes (figures render deterministically)
    assert section_ids(again) == section_ids(html)

    def body(t):
        t = re.sub(r"<footer>.*</footer>", "", t, flags=re.S)
        return re.sub(r'<section id="timings[^"]*".*?</section>', "", t, flags=re.S)

    assert body(again) == body(html)


def test_summary_has_analysis_fields(run_dir):
    summary = json.loads((run_dir / "analysis" / "summary.json").read_text())
    assert set(KEYS) <= set(summary)
    for key in KEYS:
        s = summary[key]
        assert isinstance(s["n_music_neurons"], int) and s["n_music_neurons"] >= 4
        assert isinstance(s["sigma_threshold"], float)
        assert len(s["music_neurons"]) == s["n_music_neurons"]
        for m in s["music_neurons"]:
            assert {"rank", "latent_index", "var_mu", "mean_sigma", "top_feature", "top_phik", "category"} <= set(m)
        assert [m["rank"] for m in s["music_neurons"]] == list(range(1, s["n_music_neurons"] + 1))
        act = s["activation"]
        for k in ("activated_music_real_mean", "activated_noise_real_mean", "activated_music_random_mean",
                  "activated_noise_random_mean", "auc"):
            assert isinstance(act[k], float), k
        assert 0.0 <= act["auc"] <= 1.0
        abl = s["ablation"]
        assert 0.0 <= abl["recon_accuracy_full"] <= 1.0 and 0.0 <= abl["recon_accuracy_noise_zeroed"] <= 1.0
        assert isinstance(s["settings"], dict) and s["settings"]["profile"]["sigma_threshold"] == s["sigma_threshold"]


def test_paper_comparison_rules():
    s = {"n_music_neurons": 37, "n_music_neurons_ci": [30, 40], "n_dims": 512,
         "music_neurons": [{"rank": 1, "latent_index": 5, "category": "P", "top_feature": "P1", "top_phik": .9},
                           {"rank": 2, "latent_index": 9, "category": "P", "top_feature": "P2", "top_phik": .8}],
         "activation": {"activated_noise_real_mean": 40.0, "activated_noise_random_mean": 150.0,
                        "activated_music_real_mean": 35.0, "activated_music_random_mean": 34.0}}
    rows = {r["claim"]: r for r in comparison({"2bar": s})}
    assert rows["music neurons, 2bar model"]["verdict"] == "agrees"
    assert rows["2-bar neuron 1 ↔ pitch"]["verdict"] == "agrees"
    assert rows["2-bar neuron 2 ↔ rhythm"]["verdict"] == "differs"
    assert rows["random ≫ real in activated noise neurons, 2bar"]["verdict"] == "agrees"
    assert rows["music neurons, 16bar model"]["verdict"] == "not computed"
    s2 = {**s, "n_music_neurons": 10, "n_music_neurons_ci": [8, 12],
          "activation": {**s["activation"], "activated_noise_random_mean": 60.0}}
    rows = {r["claim"]: r for r in comparison({"2bar": s2})}
    assert rows["music neurons, 2bar model"]["verdict"] == "differs"
    assert rows["random ≫ real in activated noise neurons, 2bar"]["verdict"] == "differs"


def test_no_music_neurons_renders(tmp_path):
    """A run whose threshold leaves no music neurons (and no per-neuron tables) still renders every section."""
    s = {"model": "tiny", "n_music_neurons": 0, "n_music_neurons_ci": [0, 0], "n_dims": 512, "n_real": 10,
         "n_random": 10, "sigma_threshold": 0.1, "sigma_threshold_rule": "fixed", "music_neurons": [],
         "category_neurons": None, "activation": {"activated_music_real_mean": 0.0, "activated_noise_real_mean": 3.0,
                                                  "activated_music_random_mean": 0.0,
                                                  "activated_noise_random_mean": 9.0, "auc": 0.7},
         "ablation": {"recon_accuracy_full": None, "recon_accuracy_noise_zeroed": None}, "metrics": None,
         "settings": {"profile": {"sigma_threshold": 0.1}}}
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "summary.json").write_text(json.dumps({"2bar": s, "16bar": {**s, "model": "tiny16"}}))
    text = build_report(tmp_path).read_text(encoding="utf-8")
    assert not [i for i in SECTION_IDS if i not in section_ids(text)]
    assert text.count("No music neurons at this threshold") >= 2


@pytest.fixture(scope="module")
def rebuild(run_dir):
    """One rebuild of the report, its figures kept: ``(page text, [(figure function, matplotlib Figure)])``."""
    from musicneurons.report import figures as F

    figs = []
    save = F.to_png

    def spy(fig):
        fig.canvas.draw()
        figs.append((sys._getframe(1).f_code.co_name, fig))
        return save(fig)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "to_png", spy)
        text = build_report(run_dir).read_text(encoding="utf-8")
    return text, figs


@pytest.fixture(scope="module")
def drawn(rebuild):
    """Every figure of a report build, drawn: ``[(figure function, matplotlib Figure)]``."""
    return rebuild[1]


def _figs(drawn, name):
    out = [f for n, f in drawn if n == name]
    assert out, f"no {name} figure in the report"
    return out


def _pngs(text: str, kind: str) -> list[tuple[int, int]]:
    """(width, height) in px of the PNGs of the report's ``data-fig=kind`` images."""
    out = []
    for src in re.findall(rf'<img [^>]*data-fig="{kind}"[^>]*src="data:image/png;base64,([^"]+)"', text):
        png = base64.b64decode(src)
        out.append((int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")))
    return out


def test_heatmap_labels_name_the_features(run_dir, drawn):
    names = {c["id"]: c["name"] for c in json.loads((run_dir / "features" / "catalog.json").read_text())}
    for fn in ("feature_heatmap", "ablation_heatmap"):
        for fig in _figs(drawn, fn):
            ax = fig.axes[0]
            xl = ax.get_xticklabels()
            labels = [t.get_text() for t in xl]
            assert len(labels) == ax.images[0].get_array().shape[1], "one label per feature column"
            named = 0
            for lab in labels:
                code = lab.split(" ", 1)[0]
                assert code in names, lab
                full = f"{code} {names[code]}"
                if lab != code:
                    named += 1
                    assert lab == full or (lab.endswith("…") and full.startswith(lab[:-1])), (lab, full)
            assert named >= 0.8 * len(labels), f"{fn}: feature names missing from {labels}"
            assert "P12 Primary Register" in labels or "P12" not in [lab.split()[0] for lab in labels]
            # readable: >= 8 pt at 100 dpi (11 px; the page shows these figures unscaled), every neuron row named
            yl = ax.get_yticklabels()
            assert min(t.get_fontsize() for t in [*xl, *yl]) >= 8
            assert fig.dpi == 100
            n_rows = ax.images[0].get_array().shape[0]
            if n_rows <= 40:
                assert len(yl) == n_rows


def test_figures_fit_the_page(html):
    # a 1400 px wide page gives figures about 1178 px: wider PNGs would be shrunk and their labels with them
    kinds = set(re.findall(r'data-fig="([^"]+)"', html))
    assert {"feature-heatmap", "ablation-heatmap", "neuron-heatmap", "sigma-scatter", "piano-roll"} <= kinds
    for kind in kinds:
        for w, _ in _pngs(html, kind):
            assert w <= 1178, (kind, w)
    for w, _ in _pngs(html, "neuron-heatmap") + _pngs(html, "sigma-scatter"):
        assert w <= 569, ("one of two side by side", w)


def _assert_labels_apart(fig, n_min: int):
    """The neuron labels of a sigma-mu scatter: at least ``n_min``, >= 8 pt, none overlapping another or the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()  # to_png closed it: a fresh canvas, drawn the same way
    r = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text().startswith("#")]
    assert len(labels) >= n_min, [t.get_text() for t in ax.texts]
    assert all(re.fullmatch(r"#\d+ \(d\d+\)", t.get_text()) for t in labels)
    boxes = [Text.get_window_extent(t, r) for t in labels]  # the label itself, not its leader line
    legend = ax.get_legend().get_window_extent(r)
    for i, a in enumerate(boxes):
        assert not a.overlaps(legend), labels[i].get_text()
        for j in range(i):
            assert not a.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
    assert min(t.get_fontsize() for t in labels) >= 8


def test_sigma_scatter_labels_do_not_overlap(drawn):
    for fig in _figs(drawn, "sigma_vs_spread"):
        _assert_labels_apart(fig, 4)


def test_sigma_scatter_labels_apart_when_points_coincide():
    import pandas as pd

    from musicneurons.report import figures as F

    # the top five music neurons on (nearly) the same spot: labels next to their points would overlap
    n = 40
    prof = pd.DataFrame({"latent_index": np.arange(n), "rank": [*range(1, 11), *[0] * (n - 10)],
                         "music": [True] * 10 + [False] * (n - 10),
                         "mean_sigma": [0.1 + 1e-4 * i for i in range(10)] + list(np.linspace(.9, 1, n - 10)),
                         "std_mu": [1.0 - 1e-4 * i for i in range(10)] + list(np.linspace(0, .1, n - 10))})
    figs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "to_png", lambda fig: figs.append(fig) or b"")
        F.sigma_vs_spread(prof, 0.5)
    _assert_labels_apart(figs[0], 5)


def test_piano_rolls_wide_with_note_names(html, drawn):
    sizes = _pngs(html, "piano-roll")
    assert len(sizes) >= 10
    assert min(w for w, _ in sizes) >= 400, sizes
    for fig in _figs(drawn, "piano_roll_png"):
        ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert len(ticks) >= 2 and all(re.fullmatch(r"[A-G]#?-?\d", t) for t in ticks), ticks
        assert min(t.get_fontsize() for t in fig.axes[0].get_yticklabels()) >= 8
    from musicneurons.report.figures import note_name

    assert [note_name(p) for p in (21, 60, 61, 69, 108)] == ["A0", "C4", "C#4", "A4", "C8"]


def _compute_seconds(run_dir) -> float:
    """The sum of the stage records of the computing stages (not timings.json, not the report's build)."""
    total = 0.0
    for p in (run_dir / "stages").glob("*.json"):
        if p.stem not in ("timings", "report"):
            total += json.loads(p.read_text())["seconds"]
    return round(total, 2)


def _footer_time(text: str) -> tuple[float, str, str]:
    foot = re.search(r"<footer>(.*)</footer>", text, re.S).group(1)
    m = re.search(r'id="run-time" data-seconds="([\d.]+)" data-rebuilt="(yes|no)">', foot)
    assert m, foot
    return float(m.group(1)), m.group(2), re.sub(r"<[^>]+>", "", foot)


def test_footer_shows_the_computing_runs_time(run_dir, html):
    from musicneurons.pipeline import Settings, reproduce

    total = _compute_seconds(run_dir)
    assert total > 0
    # the page reproduce built: the stage times, nothing about a rebuild
    secs, rebuilt, text = _footer_time(html)
    assert secs == pytest.approx(total, abs=0.011) and rebuilt == "no"
    assert f"Results computed in {total:.1f} s" in text and "rebuilt" not in text
    # a second reproduce with the same settings: every stage cached, a much shorter wall time
    saved = json.loads((run_dir / "settings.json").read_text())["settings"]
    s = Settings(**{k: v for k, v in saved.items() if k in Settings.__dataclass_fields__})
    s.keys = tuple(s.keys)
    log = []
    reproduce(run_dir, s, log=log.append, report=True)
    assert not [ln for ln in log if "[run]" in ln], log
    wall = json.loads((run_dir / "stages" / "timings.json").read_text())["total_seconds"]
    assert _compute_seconds(run_dir) == total
    assert abs(wall - total) > 0.1, "the test needs a cached rerun faster than the computation"
    # rebuilt from the cached stages: still the computing run's time, and says it was rebuilt
    secs, rebuilt, text = _footer_time(build_report(run_dir).read_text(encoding="utf-8"))
    assert secs == pytest.approx(total, abs=0.011) and rebuilt == "yes"
    assert f"Results computed in {total:.1f} s" in text
    assert "rebuilt from cached stages" in text and f"{wall:.1f} s wall time" in text
    assert f"computed in {wall:.1f} s" not in text


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "musicneurons.cli", "report", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_report(run_dir, tmp_path):
    index = run_dir / "report" / "index.html"
    index.unlink()
    r = _cli(run_dir)
    assert r.returncode == 0, r.stderr
    assert index.exists() and "paper-vs-run" in index.read_text(encoding="utf-8")
    (tmp_path / "settings.json").write_text("{}")
    r = _cli(tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "error" in lines[0]


def test_headless_chromium(run_dir, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("headless Chromium is needed for this test: install it with "
                    "'apt-get update && apt-get install -y chromium' (Debian package 'chromium', /usr/bin/chromium)")
    url = (run_dir / "report" / "index.html").resolve().as_uri()
    profile = tmp_path / "profile"
    shot = tmp_path / "shot.png"
    common = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,4000",
              "--virtual-time-budget=10000"]
    dom = subprocess.run([*common, "--enable-logging=stderr", "--v=0", "--dump-dom", url], capture_output=True,
                         text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the page logs nothing: any console line is an error (Chromium prints "Uncaught ..." there)
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    assert 'data-report-loaded="ok"' in body.group(0), body.group(0)
    n_img = int(re.search(r'data-images="(\d+)"', body.group(0)).group(1))
    assert n_img >= 20
    ids = section_ids(dom.stdout)
    assert not [i for i in SECTION_IDS if i not in ids]
    r = subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 50_000
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1400, 4000)
        colors = im.convert("RGB").resize((350, 1000)).getcolors(maxcolors=1 << 20)
    assert len(colors) > 200, "screenshot looks blank"

    # the in-page synth: click the first "play" button after load; no script error, the button flips to "stop"
    played = tmp_path / "play.html"
    text = (run_dir / "report" / "index.html").read_text(encoding="utf-8")
    played.write_text(text.replace("</body>", '<script>window.addEventListener("load", function () {'
                                   ' var b = document.querySelector("button.play"); b.click();'
                                   ' document.body.setAttribute("data-play", b.textContent); });</script></body>'),
                      encoding="utf-8")
    r = subprocess.run([*common, "--autoplay-policy=no-user-gesture-required", "--enable-logging=stderr", "--v=0",
                        "--dump-dom", played.as_uri()], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    body = re.search(r"<body[^>]*>", r.stdout).group(0)
    assert 'data-play="■ stop"' in body and 'data-report-loaded="ok"' in body, body

    # the layout at 1400 px: every figure shown at (nearly) its own size, so labels drawn at >= 8 pt stay
    # >= 11 px; piano rolls >= 400 px wide
    measured = tmp_path / "measure.html"
    measured.write_text(text.replace("</body>", '<script>window.addEventListener("load", function () {'
                                     ' var r = []; Array.prototype.forEach.call(document.images, function (i) {'
                                     ' r.push([i.getAttribute("data-fig"), i.naturalWidth,'
                                     ' i.getBoundingClientRect().width]); });'
                                     ' document.body.setAttribute("data-sizes", JSON.stringify(r)); });</script>'
                                     '</body>'), encoding="utf-8")
    r = subprocess.run([*common, "--dump-dom", measured.as_uri()], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    import html as htmllib

    sizes = json.loads(htmllib.unescape(re.search(r'data-sizes="([^"]*)"', r.stdout).group(1)))
    assert len(sizes) == n_img
    rolls = [w for kind, _, w in sizes if kind == "piano-roll"]
    assert len(rolls) >= 10 and min(rolls) >= 400, rolls
    for kind, natural, shown in sizes:
        if kind and kind != "piano-roll":
            assert shown >= 0.95 * natural, (kind, natural, shown)
    shutil.rmtree(profile, ignore_errors=True)


def _gated_summary(auc=0.7):
    base = {"model": "tiny", "n_music_neurons": 37, "n_music_neurons_ci": [30, 40], "n_dims": 512, "n_real": 10,
            "n_random": 10, "sigma_threshold": 0.5, "sigma_threshold_rule": "gap",
            "music_neurons": [{"rank": 1, "latent_index": 5, "var_mu": 1.0, "mean_sigma": 0.2, "kl": 1.0,
                               "top_feature": "P12", "top_phik": 0.9, "category": "P", "category_raw": "P",
                               "top_phik_null_q99": 0.2, "clears_null": True, "untrained_feature_phik": 0.6},
                              {"rank": 2, "latent_index": 9, "var_mu": 0.5, "mean_sigma": 0.3, "kl": 0.5,
                               "top_feature": "R15", "top_phik": 0.15, "category": None, "category_raw": "R",
                               "top_phik_null_q99": 0.2, "clears_null": False, "untrained_feature_phik": 0.9}],
            "category_neurons": {"P": [5], "R": [], "M": []},
            "activation": {"activated_music_real_mean": 35.0, "activated_noise_real_mean": 40.0,
                           "activated_music_random_mean": 34.0, "activated_noise_random_mean": 150.0, "auc": auc,
                           "noise_count_cut": 77.0},
            "ablation": {"recon_accuracy_full": 0.9, "recon_accuracy_noise_zeroed": 0.89, "agreement": 0.995,
                         "n_ablated_dims": 475},
            "metrics": None, "settings": {"profile": {"sigma_threshold": 0.5}},
            "baselines": {"permutation": {"n_permutations": 50, "quantile": 0.99, "best_phik_q99": 0.2,
                                          "best_phik_q99_max": 0.2},
                          "untrained": {"n_top": 2, "median_best_phik_top": 0.75, "n_best_phik_ge_0.5": 2,
                                        "n_music_neurons": 512, "sigma_threshold_rule": "fallback", "seed": 0,
                                        "top_feature_counts": {"R15": 2}},
                          "trained": {"n_top": 2, "median_best_phik_top": 0.52, "n_best_phik_ge_0.5": 1},
                          "per_neuron": {"5": 0.2, "9": 0.2}},
            "health": {"n_windows": 10, "recon_accuracy": 0.9, "always_hold_accuracy": 0.6, "sigma_gap_found": True,
                       "sigma_threshold_rule": "gap", "noise_zeroing_changed_steps": 0.005, "passes": True,
                       "failures": [], "checks": [], "rule": "the gate"}}
    return base


def test_failing_model_gets_no_paper_verdicts(tmp_path):
    from musicneurons.analysis.health import health_gate

    good = _gated_summary()
    bad = _gated_summary(auc=0.2)
    bad["health"] = health_gate({"n_windows": 10, "recon_accuracy": 0.604, "always_hold_accuracy": 0.608,
                                 "sigma_gap_found": False, "sigma_threshold_rule": "fallback",
                                 "noise_zeroing_changed_steps": 0.006})
    summary = {"2bar": good, "16bar": bad}
    rows = comparison(summary)
    for r in rows:
        if r["key"] == "16bar":
            assert r["verdict"] == "withheld" and "health gate" in r["rule"], r
        else:
            assert r["verdict"] != "withheld", r
    by = {r["claim"]: r for r in rows}
    assert by["2-bar neuron 1 ↔ pitch"]["verdict"] == "agrees"
    assert "null q99 0.20" in by["2-bar neuron 1 ↔ pitch"]["run"]
    assert by["2-bar neuron 2 ↔ rhythm"]["verdict"] == "differs"  # below chance: no label, cannot agree
    assert "below chance" in by["2-bar neuron 2 ↔ rhythm"]["run"]
    # the 2-bar-only figure is not applied to 16 bars; the ablation row cites the paper's own words
    assert "> 100" in by["random ≫ real in activated noise neurons, 2bar"]["paper"]
    assert "often > 100 (bimodal)" not in by["random ≫ real in activated noise neurons, 16bar"]["paper"]
    abl = by["noise neurons can be set to 0 with minimal impact, 2bar"]
    assert "several hundreds can be set to zero with minimal impact" in abl["paper"] and abl["verdict"] == "agrees"

    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "summary.json").write_text(json.dumps(summary))
    text = build_report(tmp_path).read_text(encoding="utf-8")
    assert not [i for i in SECTION_IDS if i not in section_ids(text)]
    paper_html = re.search(r'<section id="paper-vs-run">(.*?)</section>', text, re.S).group(1)
    for tr in re.findall(r"<tr>(.*?)</tr>", paper_html, re.S):
        if "16bar" in tr or "16-bar" in tr:
            assert "withheld" in tr and "badge agrees" not in tr and "badge differs" not in tr, tr
    assert "The 16bar model fails the model-health gate" in paper_html
    m16 = re.search(r'<section id="model-16bar">(.*?)<section id="twinkle">', text, re.S).group(1)
    m2 = re.search(r'<section id="model-2bar">(.*?)<section id="model-16bar">', text, re.S).group(1)
    assert 'id="health-fail-16bar"' in m16 and "fails the model-health gate" in m16
    assert "health-fail" not in m2
    for sid in ("health-2bar", "baselines-2bar", "health-16bar", "baselines-16bar"):
        assert f'<section id="{sid}">' in text
    assert "below chance" in m2 and "null q99" in m2
    # the Youden cut of a detector with AUC < 0.5 is not given
    assert "are called music" in m2 and "are called music" not in m16


def test_traversals_are_shown_next_to_their_noise_dim_chance_level(html, run_dir):
    s = json.loads((run_dir / "analysis" / "summary.json").read_text())["2bar"]
    null = s["interventions"]["traversal_null"]
    assert null and null["dims"] and (run_dir / "analysis" / "2bar" / "traversal_null.csv").is_file()
    section = html[html.index('<section id="interventions-2bar"'):]
    section = section[:section.index("</section>")]
    assert "Chance level:" in section and f"d{null['dims'][0]}" in section


def test_significance_shares_are_stated_beside_the_heatmap(html, run_dir):
    sig = json.loads((run_dir / "analysis" / "summary.json").read_text())["2bar"]["significance"]
    assert sig["n_cells"] > 0 and 0 <= sig["share_bonferroni"] <= sig["share_bh"] <= 1
    section = html[html.index('<section id="features-2bar"'):]
    assert "pass Bonferroni" in section[:section.index("</section>")]


def test_activation_by_class_is_tabled(html, run_dir):
    bc = json.loads((run_dir / "analysis" / "summary.json").read_text())["2bar"]["activation"]["by_class"]
    assert set(bc) == {"n_dims", "fixed", "spread_scaled"} and set(bc["fixed"]) == {"music", "noise", "leaky"}
    section = html[html.index('<section id="real-vs-random-2bar"'):]
    assert "prior-like noise dims vs leaky dims" in section[:section.index("</section>")]
