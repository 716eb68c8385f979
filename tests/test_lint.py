"""The package, scripts and benchmarks pass pyflakes (through ruff, pinned in the ``test`` extra): no undefined
name, no unused import or variable -- the cheap half of a code review that a test can do."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pyflakes_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src", "scripts", "benchmarks", "tests"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
