"""Errors as one line: :class:`UserError` (an error the user can fix) and :func:`run_command`, which maps it
and the other expected exceptions to ``musicneurons CMD: error: ...`` on stderr and an exit code."""

from __future__ import annotations

import sys
from pathlib import Path


class UserError(Exception):
    """An error the user can fix; printed as one line, no traceback."""


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_command(args, argv=None) -> int:
    """Run the parsed command ``args.fn(args)``; an expected error is one line on stderr and exit code 2 (130 on
    Ctrl-C), anything else a traceback. ``argv`` as given to ``main`` (None: ``sys.argv[1:]``)."""
    try:
        args.fn(args)
    except UserError as e:
        print(f"musicneurons {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output path that is a file/folder/read-only, a missing input: one line
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        why = e.strerror or e
        if isinstance(e, FileExistsError) and e.filename and not Path(e.filename).is_dir():  # mkdir on a non-folder
            why = "a file, not a folder" if Path(e.filename).is_file() else "not a folder (a FIFO or device)"
        print(f"musicneurons {args.command}: error: {where}{why}", file=sys.stderr)
        return 2
    except UnicodeError as e:  # a file name that is not UTF-8 (pyarrow, JSON and HTML take UTF-8 only)
        names = [x for x in (sys.argv[1:] if argv is None else argv) if not _utf8(str(x))]
        where = f"{ascii(names[0])[1:-1]}: " if names else ""
        print(f"musicneurons {args.command}: error: {where}a file name that is not valid UTF-8 ({e.reason}); "
              "rename it", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"musicneurons {args.command}: error: out of memory; ask for less (fewer windows/samples)",
              file=sys.stderr)
        return 2
    except ValueError as e:  # the library's checks (unknown model, bad checkpoint or settings, ...) say what is wrong
        print(f"musicneurons {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0

