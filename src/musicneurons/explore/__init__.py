"""Explore a run's latent space: move its music neurons, hear and see what the decoder makes of it.

- :class:`Session` -- the Python API (a notebook can do everything the page does);
- :func:`create_app` / :func:`serve` -- the local web app behind ``musicneurons explore RUN_DIR``
  (Starlette + uvicorn, imported only when used).
"""

from .session import (MAX_UPLOAD_BYTES, Melody, MelodyError, ModelRun, NotARunError, RunData, Session,
                      chance_baseline, run_keys)

__all__ = ["MAX_UPLOAD_BYTES", "Melody", "MelodyError", "ModelRun", "NotARunError", "RunData", "Session",
           "chance_baseline", "create_app", "run_keys", "serve"]


def __getattr__(name):
    if name in ("create_app", "serve"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'musicneurons.explore' has no attribute {name!r}")
