"""Partitioned extract / features on local processes and a real Dask LocalCluster: identical outputs,
retries, failures recorded, resume."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicneurons.executor import (
    IncompleteOutput,
    LocalExecutor,
    collect_extract,
    collect_features,
    collect_encode,
    collect_rejections,
    extract_counts,
    extract_partition,
    make_executor,
    run_partitions,
    sharded_encode,
    sharded_extract,
    sharded_features,
    split,
)

pretty_midi = pytest.importorskip("pretty_midi")


def _song(rng, path: Path, meter=(4, 4), tempo_change=False):
    """A small multi-track song; ``tempo_change`` adds a set_tempo event after bar 4 (a second piece)."""
    import mido

    qpm = float(rng.integers(80, 160))
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    sec = 60.0 / qpm / 4  # seconds per 16th
    n_bars = int(rng.integers(3, 9))
    for prog in rng.choice([0, 24, 33, 40, 73], size=int(rng.integers(1, 4)), replace=False):
        inst = pretty_midi.Instrument(int(prog))
        s = int(rng.integers(0, 4))
        while s < 16 * n_bars:
            d = int(rng.choice([1, 2, 2, 4]))
            inst.notes.append(pretty_midi.Note(90, int(rng.integers(55, 80)), s * sec, (s + d) * sec))
            s += d + int(rng.choice([0, 0, 1]))
        pm.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    if tempo_change:
        mid = mido.MidiFile(str(path))
        track, t, out = mid.tracks[0], 0, []
        at = 4 * 4 * mid.ticks_per_beat
        for msg in track:
            t += msg.time
            out.append((t, msg))
        out.append((at, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm * 1.5))))
        out.sort(key=lambda x: (x[0], x[1].type == "end_of_track"))
        track.clear()
        now = 0
        for t, msg in out:
            track.append(msg.copy(time=t - now))
            now = t
        mid.save(str(path))


@pytest.fixture(scope="module")
def lakh(tmp_path_factory):
    """~40 files in the Lakh layout lmd_full/<x>/<md5>.mid: songs, 3/4 songs, an empty and a corrupt file."""
    root = tmp_path_factory.mktemp("corpus") / "lmd_full"
    rng = np.random.default_rng(7)
    for i in range(40):
        md5 = hashlib.md5(f"song{i}".encode()).hexdigest()
        path = root / md5[0] / f"{md5}.mid"
        if i == 5:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        elif i == 9:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"MThd\x00\x00\x00\x06garbage")
        else:
            _song(rng, path, meter=(3, 4) if i % 7 == 3 else (4, 4), tempo_change=i % 6 == 1)
    from musicneurons.sources import find_files

    return find_files(root)


@pytest.fixture(scope="module")
def reference(lakh):
    """The single-process results (the CLI's extract path)."""
    from musicneurons.corpus import extract_sources

    return extract_sources([str(lakh[0].parents[1])], bars=2, workers=1)


@pytest.fixture(scope="module")
def dask_executor():
    pytest.importorskip("distributed")
    from musicneurons.executor import DaskExecutor

    with DaskExecutor(n_workers=2, threads_per_worker=1) as ex:
        yield ex


def _rejections_frame(results, tmp_path):
    from musicneurons.corpus import write_rejections

    write_rejections(results, tmp_path / "ref.csv")
    return pd.read_csv(tmp_path / "ref.csv", keep_default_na=False, dtype={"source": str, "reason": str, "detail": str})


def test_corpus_is_lakh_layout_with_rejections(lakh, reference):
    assert len(lakh) == 40
    assert all(p.parent.name == p.stem[0] for p in lakh)
    reasons = {k for r in reference for k in r.reasons}
    assert {"empty file", "parse error", "not 16 steps per bar"} <= reasons
    assert sum(len(r.windows) for r in reference) > 100
    assert any(i["piece"] == 1 for r in reference for i in r.info)  # the tempo changes split songs


def test_local_processes_identical_to_single_process(lakh, reference, tmp_path):
    from musicneurons.corpus import sample_windows

    with LocalExecutor(2) as ex:
        s = sharded_extract(lakh, 2, tmp_path / "out", ex, partition_size=7, progress=False)
    assert s["n_partitions"] == 6 and not s["failed"] and s["ran"] == list(range(6))
    pd.testing.assert_frame_equal(collect_extract(tmp_path / "out"), sample_windows(reference))
    pd.testing.assert_frame_equal(collect_extract(tmp_path / "out", per_file=3, n_files=10, seed=4),
                                  sample_windows(reference, per_file=3, n_files=10, seed=4))
    pd.testing.assert_frame_equal(collect_rejections(tmp_path / "out"), _rejections_frame(reference, tmp_path))
    counts = extract_counts(tmp_path / "out")
    assert counts["n_files"] == 40
    assert counts["n_windows"] == sum(len(r.windows) for r in reference)
    assert counts["n_with_windows"] == sum(1 for r in reference if len(r.windows))


def test_collect_with_a_custom_sampler_keeps_its_rows_and_order(lakh, reference, tmp_path):
    from musicneurons.corpus import sample_windows

    def sampler(results):  # e.g. the pipeline's "N files x k windows, at most n windows": a cut and a reorder
        return sample_windows(results, per_file=2, seed=3).head(17).iloc[::-1]

    with LocalExecutor(1) as ex:
        sharded_extract(lakh, 2, tmp_path / "out", ex, partition_size=9, progress=False)
    expected = sampler(reference).reset_index(drop=True)
    pd.testing.assert_frame_equal(collect_extract(tmp_path / "out", sampler=sampler), expected)


def test_dask_local_cluster_identical_to_local_run(lakh, reference, dask_executor, tmp_path):
    from musicneurons.corpus import sample_windows

    assert len(dask_executor.client.scheduler_info()["workers"]) == 2
    s = sharded_extract(lakh, 2, tmp_path / "dask", dask_executor, partition_size=5, progress=False)
    assert s["n_partitions"] == 8 and not s["failed"]
    with LocalExecutor(1) as ex:
        sharded_extract(lakh, 2, tmp_path / "local", ex, partition_size=5, progress=False)
    for kw in ({}, {"per_file": 5, "n_files": 12, "seed": 1}):
        dask_table = collect_extract(tmp_path / "dask", **kw)
        pd.testing.assert_frame_equal(dask_table, collect_extract(tmp_path / "local", **kw))
        pd.testing.assert_frame_equal(dask_table, sample_windows(reference, **kw))
    pd.testing.assert_frame_equal(collect_rejections(tmp_path / "dask"), collect_rejections(tmp_path / "local"))
    for i in range(8):  # the partition files themselves are identical
        a = pd.read_parquet(tmp_path / "dask" / f"part-{i:05d}.parquet")
        b = pd.read_parquet(tmp_path / "local" / f"part-{i:05d}.parquet")
        pd.testing.assert_frame_equal(a, b)


def test_relative_paths_are_found_by_workers_started_elsewhere(lakh, dask_executor, tmp_path, monkeypatch):
    from musicneurons.corpus import extract_sources
    from musicneurons.corpus import sample_windows
    from musicneurons.sources import find_files

    monkeypatch.chdir(lakh[0].parents[2])  # the workers were started in another folder
    files = find_files("lmd_full")
    assert not files[0].is_absolute()
    s = sharded_extract(files, 2, tmp_path / "rel", dask_executor, partition_size=10, progress=False)
    assert not s["failed"]
    table = collect_extract(tmp_path / "rel")
    assert table["source"].iloc[0].startswith("lmd_full/")
    pd.testing.assert_frame_equal(table, sample_windows(extract_sources(["lmd_full"], bars=2)))
    assert "file not found" not in set(collect_rejections(tmp_path / "rel")["reason"])


def test_features_dask_identical_to_compute_features(lakh, reference, dask_executor, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from musicneurons.corpus import sample_windows
    from musicneurons.features import compute_features

    table = sample_windows(reference)
    path = tmp_path / "melodies.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=50)  # ranges cut groups
    expected = compute_features(np.asarray(table["events"].to_list()), progress=False)
    s = sharded_features(path, tmp_path / "feat", dask_executor, partition_rows=64, progress=False)
    assert s["n_partitions"] == -(-len(table) // 64) and not s["failed"]
    pd.testing.assert_frame_equal(collect_features(tmp_path / "feat"), expected)
    with LocalExecutor(1) as ex:
        sharded_features(path, tmp_path / "feat1", ex, partition_rows=100, progress=False)
    pd.testing.assert_frame_equal(collect_features(tmp_path / "feat1"), expected)


def test_encode_dask_identical_to_single_process(lakh, reference, dask_executor, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from musicneurons.corpus import sample_windows
    from musicneurons.model.checkpoint import load_model, save_model
    from musicneurons.model.config import get_config
    from musicneurons.model.musicvae import MusicVAE

    torch.manual_seed(0)
    save_model(MusicVAE(get_config("mn-mel_2bar")), tmp_path / "model")
    table = sample_windows(reference, per_file=4, seed=0)
    path = tmp_path / "melodies.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
    ev = np.asarray(table["events"].to_list())
    _, mu, sigma = load_model(checkpoint=tmp_path / "model").encode(ev, batch_size=16)
    s = sharded_encode(path, tmp_path / "enc", dask_executor, checkpoint=tmp_path / "model", partition_rows=16,
                       batch_size=16, progress=False)
    assert s["n_partitions"] == -(-len(table) // 16) and not s["failed"]
    mu2, sigma2 = collect_encode(tmp_path / "enc")
    assert mu2.shape == mu.shape == (len(table), 512)
    # same batches; only the torch thread count differs (1 per worker), which may change float reduction order
    np.testing.assert_allclose(mu2, mu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sigma2, sigma, rtol=0, atol=1e-6)


# -- failures, retries, resume ------------------------------------------------------------------------------


def _flaky(job, marker_dir="", bad=(), mode="raise", bars=2):
    """extract_partition that fails on its first attempt for partitions in ``bad`` (marker file per pid)."""
    pid = job[0]
    marker = Path(marker_dir) / f"tried-{pid}"
    calls = Path(marker_dir) / f"calls-{pid}-{os.getpid()}-{len(list(Path(marker_dir).glob(f'calls-{pid}-*')))}"
    calls.touch()
    if pid in bad and not marker.exists():
        marker.touch()
        if mode == "kill":
            os._exit(1)  # the worker process dies
        raise RuntimeError(f"flaky partition {pid}")
    return extract_partition(job, bars=bars)


def _always_fails(job, bad=()):
    if job[0] in bad:
        raise RuntimeError(f"partition {job[0]} is broken")
    return extract_partition(job, bars=2)


def test_failed_partition_is_retried_then_succeeds(lakh, reference, tmp_path):
    from musicneurons.corpus import sample_windows

    markers = tmp_path / "m"
    markers.mkdir()
    parts = split([str(p) for p in lakh], 10)
    out = tmp_path / "out"
    _write_manifest(out, len(parts))
    with LocalExecutor(1) as ex:
        s = run_partitions(partial(_flaky, marker_dir=str(markers), bad=(2,)), parts, out, ex, progress=False)
    assert s["retried"] == [2] and not s["failed"]
    assert len(list(markers.glob("calls-2-*"))) == 2 and len(list(markers.glob("calls-1-*"))) == 1
    assert not (out / "failed.json").exists()
    pd.testing.assert_frame_equal(collect_extract(out), sample_windows(reference))


def test_killed_worker_process_triggers_retry(lakh, reference, tmp_path):
    from musicneurons.corpus import sample_windows

    markers = tmp_path / "m"
    markers.mkdir()
    parts = split([str(p) for p in lakh], 10)
    out = tmp_path / "out"
    _write_manifest(out, len(parts))
    with LocalExecutor(2) as ex:
        s = run_partitions(partial(_flaky, marker_dir=str(markers), bad=(1,), mode="kill"), parts, out, ex,
                           progress=False)
    assert 1 in s["retried"] and not s["failed"]
    pd.testing.assert_frame_equal(collect_extract(out), sample_windows(reference))


def test_killed_dask_worker_is_recovered(lakh, reference, dask_executor, tmp_path):
    import cloudpickle

    from musicneurons.corpus import sample_windows

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    markers = tmp_path / "m"
    markers.mkdir()
    parts = split([str(p) for p in lakh], 10)
    out = tmp_path / "out"
    _write_manifest(out, len(parts))
    s = run_partitions(partial(_flaky, marker_dir=str(markers), bad=(3,), mode="kill"), parts, out, dask_executor,
                       progress=False)
    assert not s["failed"] and (markers / "tried-3").exists()
    pd.testing.assert_frame_equal(collect_extract(out), sample_windows(reference))


def test_partition_that_keeps_failing_is_recorded_not_dropped_and_rerun_resumes(lakh, reference, tmp_path):
    from musicneurons.corpus import sample_windows

    parts = split([str(p) for p in lakh], 10)
    out = tmp_path / "out"
    _write_manifest(out, len(parts))
    with LocalExecutor(2) as ex:
        s = run_partitions(partial(_always_fails, bad=(2,)), parts, out, ex, retries=1, progress=False)
    assert list(s["failed"]) == [2] and "partition 2 is broken" in s["failed"][2]
    record = json.loads((out / "failed.json").read_text())
    assert [r["partition"] for r in record] == [2] and record[0]["attempts"] == 2
    assert record[0]["inputs"] == parts[2]
    with pytest.raises(IncompleteOutput, match="1 of 4 partitions missing.*part-00002.*failed.json"):
        collect_extract(out)
    assert len(collect_extract(out, allow_incomplete=True)) < len(sample_windows(reference))
    done = {p: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    with LocalExecutor(1) as ex:  # the rerun only runs the missing partition
        s2 = run_partitions(partial(_always_fails, bad=()), parts, out, ex, progress=False)
    assert s2["skipped"] == 3 and s2["ran"] == [2] and not s2["failed"]
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    assert not (out / "failed.json").exists()
    pd.testing.assert_frame_equal(collect_extract(out), sample_windows(reference))


def test_rerun_skips_done_partitions_and_refuses_other_settings(lakh, tmp_path):
    out = tmp_path / "out"
    with LocalExecutor(1) as ex:
        first = sharded_extract(lakh, 2, out, ex, partition_size=20, progress=False)
        (out / "part-00001.parquet").unlink()
        again = sharded_extract(lakh, 2, out, ex, partition_size=20, progress=False)
        assert first["ran"] == [0, 1] and again["skipped"] == 1 and again["ran"] == [1]
        with pytest.raises(ValueError, match="other settings.*bars"):
            sharded_extract(lakh, 16, out, ex, partition_size=20, progress=False)
        with pytest.raises(ValueError, match="files_digest"):
            sharded_extract(lakh[:-1], 2, out, ex, partition_size=20, progress=False)


def test_make_executor_flags():
    ex = make_executor(workers=3)
    assert isinstance(ex, LocalExecutor) and ex.n_workers == 3
    with pytest.raises(ValueError, match="workers must be >= 1"):
        LocalExecutor(0)


def _write_manifest(out: Path, n: int):
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps({"stage": "test", "n_partitions": n}))
