"""The argument types of the command line: numbers in a range (never NaN or infinite), paths that are not
empty, ``--sigma-threshold``'s ``auto`` or a number; argparse turns their errors into one line."""

from __future__ import annotations

import argparse
import math


def _number(kind, lo=None, hi=None, lo_open=False, hi_open=False):
    """An argparse type: an int/float in a range, never NaN or infinite; the error names the range."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and (v > hi or (hi_open and v == hi))):
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            raise argparse.ArgumentTypeError(f"{text} is outside {left}{'-inf' if lo is None else lo}, "
                                             f"{'inf' if hi is None else hi}{right}")
        return v
    return parse


COUNT = _number(int, 1)  # a positive count
NONNEG = _number(int, 0)
SEED = _number(int, 0, 2**32 - 1)


def PATH(text):
    """An argparse type: a path that is not empty (``Path("")`` is the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return text


def _sigma_threshold(text):
    if text == "auto":
        return text
    return _number(float, 0.0, 1.0, lo_open=True)(text)
