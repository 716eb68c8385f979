"""What a user installs: the built wheel (and sdist), installed non-editable into a fresh virtualenv and used
from a folder outside the repository. Every shipped model loads, encodes and decodes; the built-in corpus
extracts; the CLI runs."""

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FILES = sorted(
    p.relative_to(ROOT / "src").as_posix()
    for sub in ("weights", "data") for p in (ROOT / "src" / "musicneurons" / sub).rglob("*")
    if p.is_file() and "__pycache__" not in p.parts)


def _run(cmd, cwd, env=None, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w",
          str(out)], cwd=out)
    _run([sys.executable, "-c", f"from setuptools import build_meta as b; b.build_sdist({str(out)!r})"], cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory):
    """A fresh virtualenv with the wheel installed (not editable); dependencies reused from this environment
    through a path entry (the test venv's site-packages, whose editable musicneurons finder is not loaded)."""
    v = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(v)], cwd=v)
    py = v / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=v).stdout.strip())
    (site / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("*.whl"))
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)],
         cwd=v)
    return v


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_distribution_carries_every_package_file(dist, kind):
    if kind == "wheel":
        names = set(zipfile.ZipFile(next(dist.glob("*.whl"))).namelist())
        prefix = ""
    else:
        with tarfile.open(next(dist.glob("*.tar.gz"))) as t:
            names = set(t.getnames())
        prefix = next(iter(names)).split("/")[0] + "/src/"
    missing = [f for f in PACKAGE_FILES if prefix + f not in names]
    assert PACKAGE_FILES and not missing, f"{kind} lacks {missing}"


def test_installed_wheel_works_outside_the_repo(venv, tmp_path):
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    script = r'''
import json, sys
import numpy as np
import musicneurons
from musicneurons.model.checkpoint import SHIPPED, load_model
from musicneurons.extract import extract_file
from musicneurons.corpus import extract_builtin
out = {"file": musicneurons.__file__, "models": {}}
for name in SHIPPED:
    m = load_model(name)
    w = np.zeros((2, m.cfg.max_seq_len), np.int64); w[:, 0] = 62; w[1, 8] = 1
    z, mu, sigma = m.encode(w)
    dec = m.decode(mu)
    out["models"][name] = [list(mu.shape), bool(np.isfinite(mu).all()), list(dec.shape)]
res = extract_builtin(2, progress=False)
out["builtin_sources"] = len(res)
out["builtin_windows"] = int(sum(len(r.windows) for r in res))
print(json.dumps(out))
'''
    r = _run([str(py), "-c", script], cwd=tmp_path, env=env)
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(venv)), f"imported {got['file']}, not the installed wheel"
    assert set(got["models"]) >= {"mn-mel_2bar", "mn-mel_16bar"}
    for name, (shape, finite, dec_shape) in got["models"].items():
        assert shape[0] == 2 and finite and dec_shape[0] == 2, name
    assert got["builtin_sources"] > 1000 and got["builtin_windows"] > 10000
    # the console script, from outside the repo
    exe = venv / "bin" / "musicneurons"
    _run([str(exe), "extract", "builtin", "--bars", "2", "--files", "20", "-o", "mel.parquet"], cwd=tmp_path, env=env)
    _run([str(exe), "encode", "mel.parquet", "--model", "mn-mel_2bar", "-o", "lat.npz"], cwd=tmp_path, env=env)
    _run([str(exe), "decode", "lat.npz", "--model", "mn-mel_2bar", "-o", "dec"], cwd=tmp_path, env=env)
    assert len(list((tmp_path / "dec").glob("*.mid"))) > 0
