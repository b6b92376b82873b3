"""The VAE Playground core: the article's ResNet-18 VAE on MNIST, its training, checkpoints and analysis (no Gradio)."""
from .cache import load_or_train
from .config import PRESETS, VAEConfig, preset_config
from .model import VAE
from .store import CheckpointError

__all__ = ["VAE", "VAEConfig", "PRESETS", "preset_config", "load_or_train", "CheckpointError"]
