"""The HTML report of a run folder: ``build_report(run_dir) -> RUN_DIR/report/index.html``.

One self-contained page (inline CSS, figures as base64 PNG, no network) rebuilt from the
run folder's tables without recomputation. Modules: :mod:`.reader` (reading a finished run),
:mod:`.build` (assembles the page), :mod:`.page_sections` (header, overview, paper vs run, Twinkle, settings,
timings, footer), :mod:`.neuron_parts` and :mod:`.effect_parts` (the parts of a model's section),
:mod:`.cells` (what the sections share), :mod:`.figures` (matplotlib figures as PNG bytes), :mod:`.html`
(HTML pieces), :mod:`.paper` (the paper's findings and the rule that checks each).
"""

from .build import build_report
from .reader import RunResults
from .paper import comparison

__all__ = ["build_report", "RunResults", "comparison"]
