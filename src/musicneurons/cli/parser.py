"""The argument parser: every command and its options, and :class:`Parser`, argparse with one-line errors."""

from __future__ import annotations

import argparse
import sys

from .args import COUNT, NONNEG, PATH, SEED, _number, _sigma_threshold
from .data import cmd_extract, cmd_features, cmd_random
from .model import cmd_convert, cmd_decode, cmd_encode, cmd_interpolate, cmd_models, cmd_sample, cmd_train
from .run import cmd_analyze, cmd_explore, cmd_report, cmd_reproduce

DESCRIPTION = "The ``musicneurons`` command: a thin layer over the API (imports stay lazy so start-up is fast)."


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = Parser(prog="musicneurons", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"musicneurons {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    s = sub.add_parser("extract", help="MIDI/ABC/MusicXML files or folders (or 'builtin') -> melody windows")
    s.add_argument("sources", type=PATH, nargs="+", help="files, folders (searched recursively) or 'builtin'")
    s.add_argument("--bars", type=int, choices=(2, 16), default=2)
    s.add_argument("-o", "--output", type=PATH, required=True, help="output Parquet table")
    s.add_argument("--per-file", type=NONNEG, default=None, help="keep at most K windows per file (seeded; 0 = all)")
    s.add_argument("--files", type=COUNT, default=None, help="sample N files at random (seeded)")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--workers", type=COUNT, default=1, help="local worker processes (or Dask workers with --dask local)")
    s.add_argument("--scheduler", default=None, help="a Dask scheduler address, e.g. tcp://HOST:8786")
    s.add_argument("--dask", choices=("local",), default=None, help="run on a dask.distributed.LocalCluster")
    s.add_argument("--parts", type=PATH, default=None, help="partition folder (default OUTPUT.parts); a rerun skips done parts")
    s.add_argument("--partition-size", type=COUNT, default=256, help="files per partition")
    s.add_argument("--retries", type=NONNEG, default=2, help="retries of a failed partition before it is reported")
    s.set_defaults(fn=cmd_extract)

    s = sub.add_parser("random", help="the paper's random note sequences")
    s.add_argument("--n", type=COUNT, default=50000)
    s.add_argument("--bars", type=int, choices=(2, 16), default=2)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.set_defaults(fn=cmd_random)

    for name, fn, helptext in (("encode", cmd_encode, "melody table -> latents.npz (mu, sigma)"),
                               ("decode", cmd_decode, "latents.npz -> decoded.parquet + MIDI files")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("melodies" if name == "encode" else "latents", type=PATH)
        s.add_argument("--model", default=None, help="shipped model name or Magenta config name")
        s.add_argument("--checkpoint", type=PATH, default=None, help="our folder, a Magenta TF checkpoint/.tar, or a magenta.js folder")
        s.add_argument("-o", "--output", type=PATH, required=True)
        s.add_argument("--device", default="cpu")
        s.add_argument("--seed", type=SEED, default=0)
        s.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                       help="fp32 = Magenta's numbers exactly; bf16 = about 2x faster on CPUs with AVX512-BF16, mu off by ~0.3%% of its spread")
        if name == "encode":
            s.add_argument("--batch-size", type=COUNT, default=512)
            s.add_argument("--z", action="store_true", help="also store a sample z = mu + sigma * eps")
        else:
            s.add_argument("--temperature", type=_number(float, 0.0), default=0.0, help="0 = greedy argmax")
        s.set_defaults(fn=fn)

    s = sub.add_parser("convert", help="a Magenta checkpoint (TF or magenta.js) -> our safetensors folder")
    s.add_argument("path", type=PATH)
    s.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_big")
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.set_defaults(fn=cmd_convert)

    s = sub.add_parser("sample", help="decode N draws z ~ N(0, I) into MIDI (Magenta's --mode sample)")
    s.add_argument("--model", default=None, help="shipped model name (see 'musicneurons models') or Magenta config")
    s.add_argument("--checkpoint", type=PATH, default=None)
    s.add_argument("--n", type=COUNT, default=8)
    s.add_argument("--temperature", type=_number(float, 0.0), default=0.5, help="0 = greedy argmax")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--qpm", type=_number(float, 1.0, 1000.0), default=120.0, help="tempo of the MIDI files")
    s.add_argument("--device", default="cpu")
    s.add_argument("-o", "--output", type=PATH, required=True, help="output folder")
    s.set_defaults(fn=cmd_sample)

    s = sub.add_parser("interpolate", help="A.mid B.mid [C.mid D.mid] -> the melodies between them (slerp / 2-D grid)")
    s.add_argument("inputs", type=PATH, nargs="+", help="2 MIDI/score files (a line) or 4 (a grid, corners A B / C D)")
    s.add_argument("--model", default=None, help="shipped model name or Magenta config")
    s.add_argument("--checkpoint", type=PATH, default=None)
    s.add_argument("--steps", type=_number(int, 2, 64), default=11, help="points per line (a grid is steps x steps)")
    s.add_argument("--temperature", type=_number(float, 0.0), default=0.0, help="0 = greedy argmax")
    s.add_argument("--qpm", type=_number(float, 1.0, 1000.0), default=120.0, help="tempo of the MIDI files")
    s.add_argument("--device", default="cpu")
    s.add_argument("-o", "--output", type=PATH, required=True, help="output folder")
    s.set_defaults(fn=cmd_interpolate)

    s = sub.add_parser("models", help="the shipped models and Magenta's configs")
    s.set_defaults(fn=cmd_models)

    s = sub.add_parser("train", help="train a MusicVAE with Magenta's recipe")
    s.add_argument("--config", required=True)
    s.add_argument("--corpus", type=PATH, default="builtin", help="'builtin' or a folder of MIDI/ABC/MusicXML")
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.add_argument("--steps", type=COUNT, default=5000)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--batch-size", type=COUNT, default=None)
    s.add_argument("--free-bits", type=_number(float, 0.0), default=None, help="override the config's free bits (KL budget, bits)")
    s.add_argument("--max-beta", type=_number(float, 0.0), default=None, help="override the config's max KL weight")
    s.add_argument("--beta-rate", type=_number(float, 0.0, 1.0), default=None, help="beta(step) = (1 - rate^step) * max_beta")
    s.add_argument("--curriculum-bars", type=COUNT, default=None,
                   help="hierarchical models: first train on random crops of this many bars")
    s.add_argument("--curriculum-steps", type=NONNEG, default=0, help="steps of the curriculum")
    s.add_argument("--init-from", type=PATH, default=None,
                   help="start from this model folder's weights (same architecture; schedules continue at its step)")
    s.add_argument("--threads", type=COUNT, default=None)
    s.add_argument("--workers", type=COUNT, default=1)
    s.add_argument("--checkpoint-every", type=COUNT, default=200)
    s.add_argument("--eval-every", type=COUNT, default=500)
    s.add_argument("--time-limit", type=_number(float, 0.0, lo_open=True), default=None, help="minutes; stop (and checkpoint) after this")
    s.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    s.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: bfloat16 autocast (the GPU recipe; needs native bf16 matmuls)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("features", help="melody table -> symbolic features per window")
    s.add_argument("melodies", type=PATH)
    s.add_argument("-o", "--output", type=PATH, required=True)
    s.add_argument("--backend", choices=("native", "music21"), default="native")
    s.add_argument("--workers", type=COUNT, default=1)
    s.set_defaults(fn=cmd_features)

    s = sub.add_parser("reproduce", help="the paper end to end: extract, random, encode, features, analyze, report")
    s.add_argument("-o", "--output", type=PATH, default="runs/default", help="run folder (resumes if it exists)")
    s.add_argument("--corpus", type=PATH, default="builtin", help="'builtin' or a folder of MIDI/ABC/MusicXML (e.g. lmd_full)")
    s.add_argument("--n-melodies", type=COUNT, default=50000, help="at most this many real windows per model")
    s.add_argument("--per-file", type=NONNEG, default=5, help="at most K windows per file (0 = all)")
    s.add_argument("--n-random", type=COUNT, default=None, help="random sequences (default: as many as real)")
    s.add_argument("--models", default="2bar,16bar", help="which model keys to run")
    s.add_argument("--model-2bar", default=None, help="shipped name or Magenta config (default mn-mel_2bar)")
    s.add_argument("--checkpoint-2bar", type=PATH, default=None)
    s.add_argument("--model-16bar", default=None, help="shipped name or Magenta config (default mn-mel_16bar)")
    s.add_argument("--checkpoint-16bar", type=PATH, default=None)
    s.add_argument("--sigma-threshold", type=_sigma_threshold, default="auto", help="'auto' (gap of the sigma distribution) or a number")
    s.add_argument("--activation-threshold", type=_number(float, 0.0, lo_open=True), default=0.1, help="|mu| above which a dim is activated")
    s.add_argument("--n-intervention-melodies", type=COUNT, default=32)
    s.add_argument("--windows", choices=("all", "held_out"), default="all",
                   help="all windows (as the paper), or only those of sources the model was not trained on")
    s.add_argument("--no-metrics", action="store_true", help="skip the disentanglement metrics")
    s.add_argument("--permutations", type=NONNEG, default=200,
                   help="shuffles of the features for each neuron's phik / Spearman null (0: none, labels ungated)")
    s.add_argument("--metric-permutations", type=NONNEG, default=1,
                   help="shuffles for the disentanglement metrics' null (each is one full metrics pass; 0: none)")
    s.add_argument("--workers", type=COUNT, default=1)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (the models' device)")
    s.set_defaults(fn=cmd_reproduce)

    s = sub.add_parser("analyze", help="re-run the analysis of a run folder (cached when nothing changed)")
    s.add_argument("run_dir", type=PATH)
    s.add_argument("--force", action="store_true", help="recompute even when the cached analysis is up to date")
    s.set_defaults(fn=cmd_analyze)

    s = sub.add_parser("report", help="rebuild RUN_DIR/report/index.html from a run folder (no recomputation)")
    s.add_argument("run_dir", type=PATH)
    s.add_argument("-o", "--output", type=PATH, default=None,
                   help="write the report to this file, or DIR/index.html for a folder (e.g. for a read-only run)")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("explore", help="a local web app on a run folder: move its music neurons, see and hear the decode")
    s.add_argument("run_dir", type=PATH)
    s.add_argument("--port", type=_number(int, 0, 65535), default=8765, help="0 = any free port")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    s.add_argument("--open", action="store_true", help="open the page in the web browser")
    s.add_argument("--threads", type=COUNT, default=1, help="torch threads (one window decodes fastest on one)")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    s.set_defaults(fn=cmd_explore)
    return p


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``musicneurons CMD: error: ...``, exit 2) instead of usage + error; a file
    name starting with '-' (argparse reads ``-odd.mid`` as ``-o dd.mid``) is an error, or a hint in one, saying
    to put it after ``--``."""

    _args: list = []

    def parse_known_args(self, args=None, namespace=None):
        import os

        self._args = list(sys.argv[1:] if args is None else args)
        if self._subparsers is None:  # a command's own parser: every option it takes is known here
            taken = [x for x in self._dashed() if os.path.exists(x)]
            if taken:
                self.error(f"{taken[0]}: a file name starting with '-' is read as options")
        return super().parse_known_args(args, namespace)

    def _dashed(self) -> list:
        """Arguments before any ``--`` that look like file names starting with '-' rather than options."""
        def number(x):
            try:
                return float(x) == float(x)
            except ValueError:
                return False

        before = self._args[:self._args.index("--")] if "--" in self._args else self._args
        return [x for x in before if x.startswith("-") and x != "-" and not number(x)
                and x.split("=", 1)[0] not in self._option_string_actions and ("." in x or "/" in x)]

    def error(self, message):
        hint = ""
        after = self._args[self._args.index("--") + 1:] if "--" in self._args else []
        if any(x.split("=", 1)[0] in self._option_string_actions for x in after):
            hint = "; everything after '--' is read as a file name: put the options before it"
        elif self._dashed():
            x = self._dashed()[0]
            hint = (("; put it" if message.startswith(x) else f"; if {x} is a file, put it")
                    + f" after '--', at the end ({self.prog} ... -- {x}), or write ./{x}")
        self.exit(2, f"{self.prog}: error: {message}{hint} (see '{self.prog} --help')\n")
