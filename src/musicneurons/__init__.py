"""musicneurons: which neurons of a MusicVAE carry pitch, rhythm and melody, and which are noise."""

__version__ = "0.1.0"
