"""musicneurons explore: the Session API on a tiny run, the web app's API and its guards, and the page in
headless Chromium (Playwright driving Debian's chromium) on a small run of the shipped 2-bar model."""

import http.client
import io
import os
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_Z
from musicneurons.analysis.twinkle import twinkle_events
from musicneurons.explore import MelodyError, NotARunError, Session, chance_baseline, run_keys
from musicneurons.melody import events_to_notes
from musicneurons.model.musicvae import slerp
from musicneurons.pipeline import Settings, reproduce
from musicneurons.randomseq import random_windows
from musicneurons.testing import melody_midi

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def session(tiny_run):
    return Session(tiny_run, key="2bar")


# -- the Session API ----------------------------------------------------------------------------------------


def test_not_a_run(tmp_path, tiny_run):
    assert run_keys(tiny_run) == ("2bar",)
    with pytest.raises(NotARunError, match="no such folder"):
        Session(tmp_path / "missing")
    with pytest.raises(NotARunError, match="no settings.json"):
        Session(tmp_path)
    half = tmp_path / "half"
    shutil.copytree(tiny_run, half, ignore=shutil.ignore_patterns("analysis"))
    with pytest.raises(NotARunError, match="not finished"):
        Session(half)
    with pytest.raises(NotARunError, match="no finished 16bar"):
        Session(tiny_run, key="16bar")


@pytest.mark.parametrize("target", ["missing", "empty"])
def test_cli_not_a_run_exits_2_with_one_line(tmp_path, target):
    path = tmp_path / "not-a-run"
    if target == "empty":
        path.mkdir()
    r = subprocess.run([sys.executable, "-m", "musicneurons", "explore", str(path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("musicneurons explore: error:") and str(path) in lines[0], lines
    assert r.stdout == ""
    r = subprocess.run([sys.executable, "-m", "musicneurons", "explore", str(path), "--port", "70000"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--port" in r.stderr


def test_neurons_in_report_order_with_population_ranges(session, tiny_run):
    summary = json.loads((tiny_run / "analysis" / "2bar" / "summary.json").read_text())
    ranked = summary["music_neurons"]
    top = session.neurons()
    assert [n["latent_index"] for n in top] == [m["latent_index"] for m in ranked[:8]]
    assert [n["rank"] for n in top] == list(range(1, 9))
    mu = np.load(tiny_run / "latents" / "2bar_real.npz")["mu"]
    for n in top:
        lo, hi = np.percentile(mu[:, n["latent_index"]], [1, 99])
        assert n["lo"] == pytest.approx(lo, rel=1e-5, abs=1e-7) and n["hi"] == pytest.approx(hi, rel=1e-5, abs=1e-7)
        assert n["melody_value"] == pytest.approx(float(session.mu[n["latent_index"]]))
    assert len(session.neurons(None)) == len(ranked)
    # the run's chance baseline (summary["baselines"], per neuron) decides each label
    assert "baselines" in summary
    by_index = {m["latent_index"]: m for m in ranked}
    for n in top:
        clears = by_index[n["latent_index"]]["clears_null"]
        assert n["verified"] is clears
        if clears:
            assert n["label"] == f"#{n['rank']} · d{n['latent_index']} · {n['top_feature']} {n['top_feature_name']}"
        else:
            assert n["label"] == f"#{n['rank']} · d{n['latent_index']}" and n["feature_label"] == "below chance"
    # any latent index gets a slider; one that is not a music neuron has no rank
    other = next(d for d in range(session.z_size) if d not in {m["latent_index"] for m in ranked}) \
        if len(ranked) < session.z_size else None
    if other is not None:
        assert session.neuron(other)["rank"] is None
    with pytest.raises(ValueError):
        session.neuron(session.z_size)


def test_labels_use_a_chance_baseline_when_the_run_has_one(tiny_run):
    s = Session(tiny_run)
    for m in s.mr.music_neurons():  # the run's own per-neuron verdicts would decide first: test the thresholds
        m.pop("clears_null", None)
    n1 = s.mr.music_neurons()[0]
    phik, feat = n1["top_phik"], n1["top_feature"]
    assert feat is not None and phik is not None
    s.mr.summary["baselines"] = {"phik": {"p95": phik - 0.01}}
    n = s.neurons(1)[0]
    assert n["verified"] is True and n["label"].endswith(f"· {feat} {s.mr.feature_name(feat)}")
    s.mr.summary["baselines"] = {"phik": {"p95": phik + 0.01}}
    n = s.neurons(1)[0]
    assert n["verified"] is False and n["label"] == f"#1 · d{n['latent_index']}" and n["feature_label"] == "below chance"


def test_chance_baseline_forms():
    assert chance_baseline(None, "P12", 3) is None
    assert chance_baseline(0.3, "P12", 3) == 0.3
    assert chance_baseline({"phik": 0.2}, "P12", 3) == 0.2
    assert chance_baseline({"phik": {"q95": 0.25, "mean": 0.1}}, "P12", 3) == 0.25
    assert chance_baseline({"per_feature": {"P12": 0.4, "R15": 0.1}}, "P12", 3) == 0.4
    assert chance_baseline({"neurons": {"3": {"P12": 0.5}}, "threshold": 0.1}, "P12", 3) == 0.5
    assert chance_baseline({"neurons": {"3": {"P12": 0.5}}, "threshold": 0.1}, "P12", 4) == 0.1
    assert chance_baseline([{"feature": "R15", "p95": 0.9}, {"feature": "P12", "p95": 0.3}], "P12", 1) == 0.3
    assert chance_baseline({"unrelated": "x"}, "P12", 3) is None
    assert chance_baseline(float("nan"), "P12", 3) is None


def test_set_melody_from_every_kind_of_input(session, tiny_run, tmp_path):
    events = pd.read_parquet(tiny_run / "data" / "melodies_2bar.parquet")["events"]
    m = session.set_melody("twinkle")
    np.testing.assert_array_equal(m.events, twinkle_events(2))
    m = session.set_melody("random", seed=3)
    np.testing.assert_array_equal(m.events, random_windows(1, 2, 3)[0][0])
    m = session.set_melody(7)
    np.testing.assert_array_equal(m.events, np.asarray(events[7]))
    assert m.kind == "run" and m.source.startswith("builtin:")
    m = session.set_melody(np.asarray(events[5]))
    np.testing.assert_allclose(session.mu, session.mr.mu[5], rtol=1e-4, atol=1e-6)  # the run's latents
    four = twinkle_events(16)[:64]  # 4 bars -> 3 two-bar windows by Magenta's rules
    m = session.set_melody(melody_midi(four), window=1)
    assert (m.kind, m.n_windows, m.window) == ("midi", 3, 1)
    np.testing.assert_array_equal(m.events, four[16:48])
    p = tmp_path / "four.mid"
    p.write_bytes(melody_midi(four))
    np.testing.assert_array_equal(session.set_melody(p).events, four[:32])
    with pytest.raises(MelodyError, match="parse error") as e:
        session.set_melody(b"this is not a MIDI file")
    assert e.value.reasons == {"parse error": 1}
    with pytest.raises(MelodyError, match="no 2-bar melody window"):
        session.set_melody(melody_midi(np.zeros(32, np.int64)))
    with pytest.raises(MelodyError, match="outside"):
        session.set_melody(len(events))
    with pytest.raises(MelodyError, match="32 steps"):
        session.set_melody(np.zeros(16, np.int64))
    with pytest.raises(MelodyError, match="over the 2 MB limit"):
        session.set_melody(b"MThd" + b"\0" * (3 * 2**20))


def test_decode_is_the_models_decode_of_the_changed_latent(session):
    session.set_melody(3)
    d = session.neurons()[0]["latent_index"]
    session.set_neuron(d, 2.5)
    session.set_neuron(11, -1.0)
    z = session.mu.copy()  # the melody's own mu (encoded from its events: the run's to ~1e-9)
    np.testing.assert_allclose(z, session.mr.mu[3], rtol=1e-4, atol=1e-6)
    z[d], z[11] = 2.5, -1.0
    np.testing.assert_array_equal(session.z, z)
    model = session.mr.model
    np.testing.assert_array_equal(session.decode(), model.decode(z[None])[0])
    np.testing.assert_array_equal(session.decode(temperature=0.7, seed=5), model.decode(z[None], 0.7, seed=5)[0])
    np.testing.assert_array_equal(session.decode(temperature=0.7, seed=5), session.decode(temperature=0.7, seed=5))
    session.set_neuron(11, None)
    assert 11 not in session.values
    session.reset_neurons()
    np.testing.assert_array_equal(session.z, session.mu)
    with pytest.raises(ValueError):
        session.set_neuron(0, float("nan"))
    with pytest.raises(ValueError):
        session.decode(temperature=-1)


def test_features_moved_in_population_sds(session, tiny_run):
    session.set_melody("twinkle")
    other = random_windows(1, 2, 1)[0][0]
    moved = session.features_moved(other, n=None)
    from musicneurons.features import compute_features

    f = compute_features(np.stack([twinkle_events(2), other]), progress=False)
    sd = pd.read_parquet(tiny_run / "features" / "2bar_real.parquet").std(ddof=0)
    row = moved.set_index("feature").loc["P12"]
    assert row["start"] == pytest.approx(f["P12"][0]) and row["now"] == pytest.approx(f["P12"][1])
    assert row["delta_sd"] == pytest.approx((f["P12"][1] - f["P12"][0]) / sd["P12"])
    assert list(np.abs(moved["delta_sd"])) == sorted(np.abs(moved["delta_sd"]), reverse=True)
    assert moved["delta_sd"].notna().all() and len(session.features_moved(other)) == 10
    # against the unchanged decode, nothing has moved while no slider is set
    session.decode()
    assert (session.features_moved(reference="decode", n=None)["delta_sd"] == 0).all()


def test_midi_bytes_is_a_valid_file_of_the_decode(session):
    import pretty_midi

    session.set_melody(2)
    ev = session.decode()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(session.midi_bytes()))
    notes = [(n.pitch, round(n.start / 0.125), round(n.end / 0.125)) for n in pm.instruments[0].notes]
    assert notes == [tuple(map(int, r)) for r in events_to_notes(ev)]


def test_interpolate_between_two_melodies(session):
    a, b = twinkle_events(2), session.mr.events[9]
    mu_a, mu_b = session.mr.encode(a), session.mr.encode(b)
    model = session.mr.model
    np.testing.assert_array_equal(session.interpolate("twinkle", 9, 0.0), model.decode(mu_a[None])[0])
    np.testing.assert_array_equal(session.interpolate("twinkle", 9, 1.0), model.decode(mu_b[None])[0])
    np.testing.assert_array_equal(session.interpolate(a, b, 0.3), model.decode(slerp(mu_a, mu_b, 0.3)[None])[0])
    with pytest.raises(ValueError):
        session.interpolate(a, b, 1.5)


def test_windows_are_searchable_by_source(session):
    all_ = session.windows(limit=10**6)
    assert len(all_) == len(session.mr.events) and list(all_["index"]) == list(range(len(all_)))
    src = all_["source"].iloc[40]
    part = src.split("/")[-1].upper()
    hits = session.windows(part)
    assert len(hits) and all(part.lower() in s.lower() for s in hits["source"]) and 40 in set(hits["index"])
    assert len(session.windows("no such source at all")) == 0
    assert len(session.windows(limit=5)) == 5


# -- the web API (over HTTP, no browser) --------------------------------------------------------


@pytest.fixture(scope="module")
def client(tiny_run):
    """An HTTP client of the app served on a free port from a thread."""
    import httpx

    from musicneurons.explore.app import BackgroundServer

    with BackgroundServer(tiny_run) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        yield c


def test_api_decode_is_the_session(client, tiny_run):
    info = client.get("/api/info").json()
    assert info["keys"] == ["2bar"] and info["n_steps"] == 32 and info["has_baseline"] is True  # runs now carry chance baselines
    assert info["model_matches_run"] is True and len(info["neurons"]) == 8
    d = info["neurons"][0]["latent_index"]
    s = Session(tiny_run)
    s.set_melody(4)
    s.set_neuron(d, 1.5)
    ev = s.decode(temperature=0.5, seed=2)
    body = {"key": "2bar", "events": s.melody.events.tolist(), "values": {str(d): 1.5}, "temperature": 0.5, "seed": 2}
    r = client.post("/api/decode", json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["events"] == ev.tolist() and j["notes"] == events_to_notes(ev).tolist()
    moved = s.features_moved(n=10)
    assert [m["feature"] for m in j["moved"]] == list(moved["feature"])
    m = client.post("/api/melody", json={"key": "2bar", "kind": "window", "index": 4}).json()
    assert m["events"] == s.melody.events.tolist() and np.allclose(m["mu"], s.mu, atol=1e-4)
    r = client.post("/api/midi", json={"key": "2bar", "events": ev.tolist(), "qpm": 100})
    assert r.status_code == 200 and r.content[:4] == b"MThd" and "attachment" in r.headers["content-disposition"]
    w = client.get("/api/windows", params={"q": "ABC", "limit": 3}).json()
    assert len(w["windows"]) == 3 and all("abc" in x["source"].lower() for x in w["windows"])


def test_api_latest_request_wins(client):
    ev = twinkle_events(2).tolist()
    body = {"key": "2bar", "events": ev, "client": "page1"}
    assert "events" in client.post("/api/decode", json={**body, "seq": 5}).json()
    assert client.post("/api/decode", json={**body, "seq": 3}).json() == {"superseded": True, "seq": 3}
    assert "events" in client.post("/api/decode", json={**body, "seq": 6}).json()


@pytest.mark.parametrize("body,status,match", [
    ({"events": [0] * 31}, 400, "32 integer events"),
    ({"events": [0] * 31 + [90]}, 400, "0..89"),
    ({"events": [0] * 32, "values": {"600": 1.0}}, 400, f"outside 0..{TINY_Z - 1}"),
    ({"events": [0] * 32, "values": {"3": 1e9}}, 400, "finite number"),
    ({"events": [0] * 32, "temperature": -1}, 400, "temperature"),
    ({"events": [0] * 32, "key": "16bar"}, 404, "no 16bar model"),
    ({"events": [0] * 32, "key": "../x"}, 400, "key must be"),
    ({"events": [0] * 32, "mode": "ab"}, 400, "b_events"),
    ({"events": [0] * 32, "client": "<script>"}, 400, "client"),
])
def test_api_refuses_bad_decode_requests(client, body, status, match):
    r = client.post("/api/decode", json=body)
    assert r.status_code == status and match in r.json()["error"], r.text


def test_api_guards(client):
    ev = [0] * 32
    r = client.post("/api/decode", content=json.dumps({"events": ev}), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415  # a cross-site form could send text/plain without a preflight
    r = client.post("/api/decode", json={"events": ev}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.get("/api/info", headers={"Host": "evil.example"})
    assert r.status_code == 400  # DNS rebinding: only this machine's names
    r = client.post("/api/decode", content=b"{" * (300 * 1024), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.get("/")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/api/info").status_code == 200


def test_index_of_a_folder_that_stopped_being_a_run_is_an_error_page(tmp_path, tiny_run):
    import httpx

    from musicneurons.explore.app import BackgroundServer, create_app

    with pytest.raises(NotARunError):
        create_app(tmp_path)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    with BackgroundServer(run, preload=False) as srv:
        (run / "settings.json").unlink()
        r = httpx.get(srv.url)
        assert r.status_code == 404 and "Not a run folder" in r.text and "musicneurons reproduce" in r.text


# -- the page in headless Chromium, on a run of the shipped model -----------------------------------------------


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    """A small run of the shipped mn-mel_2bar (its rank-1 neuron has a real effect on the decode)."""
    d = tmp_path_factory.mktemp("explore_shipped")
    s = Settings(n_melodies=120, keys=("2bar",), n_intervention_melodies=8, n_traversed=2, metrics=False)
    reproduce(d / "run", s, log=lambda *_: None, report=False)
    return d / "run"


@pytest.fixture(scope="module")
def server(shipped_run):
    from musicneurons.explore.app import BackgroundServer

    with BackgroundServer(shipped_run) as srv:
        yield srv


@pytest.fixture(scope="module")
def chromium():
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("headless Chromium is needed for this test: install it with "
                    "'apt-get update && apt-get install -y chromium' (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield browser
        browser.close()


def wait_until(page, expr, timeout=60.0):
    """Poll a JS expression (page.evaluate: the page's CSP forbids the eval that wait_for_function uses)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if page.evaluate(expr):
            return
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {expr}")


def pitch_feature(run: Path, d: int):
    """The pitch (P) feature the run's traversal of neuron d moves most (in SDs of the run's windows), and its
    traversal slope (mean at the 99th percentile minus at the 1st)."""
    tr = pd.read_csv(run / "analysis" / "2bar" / "traversal.csv")
    cat = {c["id"]: c["category"] for c in json.loads((run / "features" / "catalog.json").read_text())}
    sd = pd.read_parquet(run / "features" / "2bar_real.parquet").std(ddof=0)
    t = tr[(tr["latent_index"] == d) & tr["feature"].map(lambda f: cat.get(f) == "P")].sort_values("step")
    slope = t.groupby("feature")["mean"].agg(lambda m: m.iloc[-1] - m.iloc[0])
    z = (slope / sd.reindex(slope.index)).dropna()
    f = z.abs().idxmax()
    return f, float(slope[f]), float(z[f])


def test_page_in_headless_chromium(server, chromium, shipped_run, tmp_path):
    import pretty_midi

    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    problems, outside = [], []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server.url) and
            not r.url.startswith(("blob:", "data:")) else None)
    page.goto(server.url)
    wait_until(page, "window.mnExplorer && mnExplorer.idle()")

    info = page.evaluate("mnExplorer.state.info")
    rank1 = info["neurons"][0]
    d = rank1["latent_index"]
    assert rank1["rank"] == 1 and page.locator(".neuron").count() == min(8, info["n_music_neurons"])
    assert page.locator(".neuron[data-rank='1'] .lab").inner_text().startswith(f"#1 · d{d}")
    assert page.locator(".neuron[data-rank='1'] .feat").inner_text() == rank1["feature_label"]  # the run's baseline
    slider = page.locator(".neuron[data-rank='1'] input[type=range]")
    mu = np.load(shipped_run / "latents" / "2bar_real.npz")["mu"]
    lo, hi = np.percentile(mu[:, d], [1, 99])
    assert float(slider.get_attribute("min")) == pytest.approx(lo, rel=1e-5)
    assert float(slider.get_attribute("max")) == pytest.approx(hi, rel=1e-5)

    feature, slope, slope_sd = pitch_feature(shipped_run, d)
    ref = Session(shipped_run)
    changes, changed = [], []
    for k, idx in enumerate([0, 15, 30, 45, 60, 75, 90]):
        if k == 0:  # find the first melody by searching for its source
            src = ref.windows(limit=10**6)["source"].iloc[idx]
            page.fill("#q", src.split(":", 1)[-1])
            wait_until(page, f"document.querySelector('#wins li[data-index=\"{idx}\"]') !== null")
        page.locator(f"#wins li[data-index='{idx}']").click()
        wait_until(page, f"mnExplorer.idle() && mnExplorer.state.a.events.join() === '{','.join(map(str, ref.mr.events[idx]))}'")
        if k == 0:
            page.fill("#q", "")
            wait_until(page, "document.querySelector('#wins li[data-index=\"90\"]') !== null")
        out = []
        for key in ("Home", "End"):  # the slider to its extremes, as a user does with the keyboard
            slider.focus()
            page.keyboard.press(key)
            wait_until(page, "mnExplorer.idle()")
            last = page.evaluate("mnExplorer.state.last")
            out.append((np.asarray(last["events"]), last["features"][feature]))
            # the page shows what the Python API decodes for the same melody and value
            ref.set_melody(idx)
            ref.set_neuron(d, float(slider.input_value()))
            np.testing.assert_array_equal(out[-1][0], ref.decode())
        assert float(slider.input_value()) == pytest.approx(hi, rel=1e-5)
        changed.append(bool((out[0][0] != out[1][0]).any()))
        if out[0][1] is not None and out[1][1] is not None:
            changes.append(out[1][1] - out[0][1])
    assert sum(changed) >= 5, changed  # moving the rank-1 neuron across its range changes the decoded notes
    assert abs(slope_sd) > 0.2, (feature, slope_sd)  # the traversal says this neuron moves a pitch feature
    assert len(changes) >= 5 and np.sign(np.mean(changes)) == np.sign(slope), (feature, slope, changes)
    # the moved-features table names features and their shift in SDs
    assert page.locator("#moved tbody tr").count() == 10

    # audio: a click starts the Web Audio context
    page.click("#play")
    wait_until(page, "mnExplorer.audioState() === 'running'", 20)
    page.click("#stop")

    # the MIDI download is a valid file of the decoded notes
    with page.expect_download() as dl:
        page.click("#download")
    path = tmp_path / "download.mid"
    dl.value.save_as(path)
    pm = pretty_midi.PrettyMIDI(str(path))
    notes = page.evaluate("mnExplorer.state.last.notes")
    assert [n.pitch for n in pm.instruments[0].notes] == [n[0] for n in notes] and notes

    # A <-> B: slerp between two melodies
    page.check("input[name=slot][value=b]")
    page.click("#src-tabs button[data-pane=pane-twinkle]")
    page.click("#twinkle")
    wait_until(page, "mnExplorer.state.b !== null")
    page.click("#mode-tabs button[data-mode=ab]")
    wait_until(page, "mnExplorer.idle() && mnExplorer.state.last.mode === 'ab'")
    a_events = np.asarray(page.evaluate("mnExplorer.state.a.events"))
    np.testing.assert_array_equal(page.evaluate("mnExplorer.state.last.events"),
                                  ref.interpolate(a_events, "twinkle", 0.5))
    page.click("#mode-tabs button[data-mode=neurons]")
    page.check("input[name=slot][value=a]")
    wait_until(page, "mnExplorer.idle() && mnExplorer.state.last.mode === 'neurons'")

    # add any latent index as a slider
    page.fill("#addidx", "5")
    page.click("#add")
    wait_until(page, "document.querySelector('.neuron[data-index=\"5\"]') !== null")

    shot = tmp_path / "explore.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MUSICNEURONS_UPDATE_DOCS") == "1":  # refresh docs/explore-screenshot.png on request only
        page.set_viewport_size({"width": 1400, "height": 900})
        page.click("#src-tabs button[data-pane=pane-run]")
        slider.focus()
        page.keyboard.press("End")
        wait_until(page, "mnExplorer.idle()")
        page.evaluate("document.activeElement.blur()")
        page.screenshot(path=str(ROOT / "docs" / "explore-screenshot.png"), full_page=True)
    assert not problems, problems
    assert not outside, outside  # fully offline: no request leaves this server
    context.close()


def raw_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)  # http.client sends the path as it is: no normalisation of dot segments
    r = c.getresponse()
    return r.status, r.read().decode("utf-8", "replace")


def test_bad_input_gives_clear_errors_and_the_server_stays_up(server):
    import httpx

    url = server.url
    ok = {"Content-Type": "application/octet-stream"}
    r = httpx.post(url + "api/upload", content=b"hello, not a MIDI file" * 10, headers={**ok, "X-Filename": "notes.txt"})
    assert r.status_code == 422 and "notes.txt" in r.json()["error"] and "parse error" in r.json()["error"], r.text
    assert httpx.get(url + "api/info").status_code == 200
    r = httpx.post(url + "api/upload", content=b"\0" * (50 * 2**20), headers=ok, timeout=120)
    assert r.status_code == 413 and "limit is 2 MB" in r.json()["error"], r.text

    def chunks():
        for _ in range(50):
            yield b"\0" * 2**20

    r = httpx.post(url + "api/upload", content=chunks(), headers=ok, timeout=120)  # no Content-Length
    assert r.status_code == 413, r.text
    assert httpx.get(url + "api/info").status_code == 200
    for path in ("/file?path=../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd",
                 "/api/../../etc/passwd", "/explore.js/../../../etc/passwd", "/api/windows?q=../../etc/passwd&limit=5"):
        status, text = raw_get(server.port, path)
        assert "root:" not in text, path
        if path.startswith("/api/windows"):
            assert status == 200 and json.loads(text)["windows"] == []  # a search string, never a path
        else:
            assert 400 <= status < 500, (path, status)
            assert "never files" in text or "Invalid" in text or "Bad Request" in text, (path, text[:200])
    good = melody_midi(twinkle_events(16)[:64])
    r = httpx.post(url + "api/upload", content=good, headers={**ok, "X-Filename": "../../twinkle.mid"})
    assert r.status_code == 200 and r.json()["n_windows"] == 3 and "/" not in r.json()["source"]
    r = httpx.post(url + "api/decode", json={"key": "2bar", "events": r.json()["windows"][0]["events"]})
    assert r.status_code == 200 and len(r.json()["events"]) == 32
