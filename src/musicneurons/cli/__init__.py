"""The ``musicneurons`` command: a thin layer over the API (imports stay lazy so start-up is fast).

One concept per module: ``args`` (the argument types), ``parser`` (every command's options), ``data``, ``model``
and ``run`` (the commands, by what they work on), ``printing`` (the findings of reproduce / analyze), ``shared``
(what several commands share), ``errors`` (UserError and the exception -> one line / exit code mapping) and
``entry`` (``main``). The library never imports this package.
"""

from .entry import main
from .errors import UserError
from .parser import build_parser

__all__ = ["UserError", "build_parser", "main"]
