"""MusicVAE: configs, the model, weights in and out, training."""

from .checkpoint import CheckpointMismatch, load_model, save_model
from .config import CONFIGS, MusicVAEConfig, get_config
from .musicvae import MusicVAE, slerp

__all__ = ["CONFIGS", "CheckpointMismatch", "MusicVAE", "MusicVAEConfig", "get_config", "load_model",
           "save_model", "slerp"]
