"""``python -m musicneurons``: the command line."""

import sys

from .cli import main

sys.exit(main())
