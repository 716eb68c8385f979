"""``python -m musicneurons.cli``: the command line (as ``python -m musicneurons``)."""

import sys

from . import main

sys.exit(main())
