"""The HTML report of a run folder: ``build_report(run_dir) -> RUN_DIR/report/index.html``.

One self-contained page (inline CSS, figures as base64 PNG, no network) rebuilt from the
run folder's tables without recomputation. Modules: :mod:`.build` (reading the run folder and
the sections), :mod:`.figures` (matplotlib figures as PNG bytes), :mod:`.html` (HTML pieces),
:mod:`.paper` (the paper's findings and the rule that checks each).
"""

from .build import RunFolder, build_report
from .paper import comparison

__all__ = ["build_report", "RunFolder", "comparison"]
