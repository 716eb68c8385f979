"""``main``: parse the command line, set the progress switch, run the command with its errors as one line."""

from __future__ import annotations

from . import shared
from .errors import run_command
from .parser import build_parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    shared._QUIET = args.quiet
    return run_command(args, argv)
