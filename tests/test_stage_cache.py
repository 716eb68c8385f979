"""A cached stage is reused only when its settings, inputs, outputs AND the code that computes it are unchanged."""

import musicneurons.pipeline as pl


def _stage(run, calls):
    out = run.root / "data" / "x.parquet"

    def fn():
        calls.append(1)
        out.write_bytes(b"result")

    run.stage("random_2bar", {"n": 1}, [out], fn)


def test_changed_code_recomputes_a_cached_stage(tmp_path, monkeypatch):
    lines = []
    run = pl.Run(tmp_path / "run", pl.Settings(keys=("2bar",)), log=lines.append)
    try:
        calls = []
        _stage(run, calls)
        _stage(run, calls)
        assert calls == [1] and "  [cached] random_2bar" in lines
        real = pl.code_digest
        monkeypatch.setattr(pl, "code_digest", lambda kind: real(kind) + ("-edited" if kind == "random" else ""))
        _stage(run, calls)
        assert calls == [1, 1]
        assert any("the code that computes it changed" in m for m in lines)
    finally:
        run.close()


def test_code_digest_covers_every_listed_file():
    for kind, paths in pl.STAGE_CODE.items():
        assert len(pl.code_digest(kind)) == 16
        for rel in paths:
            assert (pl.Path(pl.__file__).parent / rel).exists(), rel
