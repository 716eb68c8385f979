"""Every example of the README's "Command line" and "Python API" sections runs, in order, in a fresh folder."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _section_blocks(title, lang):
    body = README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", body, flags=re.S)


def test_command_line_examples_run(tmp_path, monkeypatch, capsys):
    from musicneurons.cli import main

    blocks = _section_blocks("Command line", "bash")
    assert blocks, "the README has no Command line examples"
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    monkeypatch.chdir(tmp_path)
    n = n_processes = 0
    for line in blocks[0].splitlines():
        cmd = line.split("#", 1)[0].strip()
        if not cmd:
            continue
        args = shlex.split(cmd)
        if args[0] == "python" or "--version" in args:  # the entry points themselves: as a user starts them
            args[0] = sys.executable if args[0] == "python" else args[0]
            r = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
            n_processes += 1
        else:  # the commands: the same main() the console script calls, without a new interpreter each
            assert args[0] == "musicneurons", cmd
            rc = main(args[1:])
            out = capsys.readouterr()
            assert rc == 0, f"{cmd}\n{out.out[-2000:]}\n{out.err[-2000:]}"
        n += 1
    assert n_processes == 2
    assert n >= 10
    assert len(list((tmp_path / "grid").glob("interp_*.mid"))) == 9
    assert len(list((tmp_path / "line").glob("interp_*.mid"))) == 5
    assert any((tmp_path / "decoded").glob("*_w000.mid"))


def test_python_api_example_runs(tmp_path, monkeypatch):
    blocks = _section_blocks("Python API", "python")
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(blocks[0], "README.md (Python API)", "exec"), scope)
    assert scope["mu"].shape[1] == 512 and scope["line"].shape == (5, 32)
    assert len(scope["grid"]) == 9 and len(scope["samples"]) == 4
    assert scope["enc"].mu.shape == (3, 512)
    assert scope["profile"].n_music_ > 0
