"""musicneurons: which neurons of a MusicVAE carry pitch, rhythm and melody, and which are noise.

The entry points of the README, imported lazily (``import musicneurons`` stays fast)::

    from musicneurons import load_model, extract_file, as_windows, from_events, NeuronProfile, reproduce
"""

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "musicneurons.model.checkpoint", "save_model": "musicneurons.model.checkpoint",
    "MusicVAE": "musicneurons.model.musicvae", "get_config": "musicneurons.model.config",
    "extract_file": "musicneurons.extract", "extract_sequence": "musicneurons.extract",
    "as_windows": "musicneurons.music", "from_events": "musicneurons.music", "Windows": "musicneurons.music",
    "NeuronProfile": "musicneurons.analysis", "analyze_latents": "musicneurons.analysis",
    "compute_features": "musicneurons.features", "reproduce": "musicneurons.pipeline",
    "Settings": "musicneurons.pipeline",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'musicneurons' has no attribute {name!r}")
