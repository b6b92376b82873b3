"""The article's VAE: a ResNet-18 encoder giving (mu, logvar), the reparameterization trick, an Upsample+Conv decoder."""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import load_file, save_file
from torchvision.models import ResNet18_Weights

from .config import ConfigError, VAEConfig
from .losses import kl_per_dim, likelihood_mean, likelihood_sigma, log_normal
from .store import CheckpointError, atomic_path, atomic_write_text, read_json

# diffusers clamps logvar the same way: without a KL force (beta = 0) nothing stops
# logvar from running to -inf, and exp() of it to 0 * inf = NaN in the loss.
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0

_warned_offline = False


def imagenet_resnet18_state() -> dict[str, torch.Tensor] | None:
    """ResNet-18 ImageNet weights from torch's cache (TORCH_HOME) or the internet; None when neither works.

    torch.hub prints 'Downloading: ...' on stdout before every attempt, also offline, where each preset would print
    it again: that line is held back and this says one sentence instead, once per process (a failed download is not
    retried, so offline starts do not wait on the network again for every preset)."""
    global _warned_offline
    if _warned_offline:
        return None
    weights = ResNet18_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        if cached.is_file():
            return weights.get_state_dict(progress=False)
        with contextlib.redirect_stdout(io.StringIO()):  # torch.hub's own 'Downloading: ...' line
            state = weights.get_state_dict(progress=False)
        logging.getLogger("vae").warning(f"downloaded ImageNet weights for ResNet-18 into {cached}")
        return state
    except Exception as err:  # offline: URLError, socket errors, a broken cache file
        logging.getLogger("vae").warning(
            f"ImageNet weights for ResNet-18 are not available ({type(err).__name__}); "
            "the encoder starts from random initialisation and metrics.json records pretrained_loaded: false."
        )
        _warned_offline = True
        return None


def trim_last_stage(layer4: nn.Module) -> None:
    """Keep only the taps of ResNet-18's last stage that ever see a pixel of a 28x28 digit.

    There the stage turns 2x2 maps into 1x1 maps: its first 3x3/stride-2 convolution reads only the 2x2 taps at
    the bottom right of its kernel (the rest meet zero padding), so it is exactly a 2x2 convolution; the 3x3/stride-1
    convolutions after it see 1x1 maps, where only the centre tap meets a pixel, so each is exactly a 1x1 convolution.
    Same outputs and gradients, 7 M fewer parameters for Adam to update and autocast to copy (1.15x a training step
    on one core); ImageNet weights and older checkpoints load through `live_taps`.
    """
    for block in layer4:
        for name in ("conv1", "conv2"):
            conv = getattr(block, name)
            kernel = 2 if conv.stride == (2, 2) else 1
            setattr(block, name, nn.Conv2d(conv.in_channels, conv.out_channels, kernel, bias=False))


def live_taps(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """A ResNet-18 state dict with full 3x3 kernels in layer4 cut down to the taps trim_last_stage keeps."""
    out = dict(state)
    for key, w in state.items():
        if key.startswith(prefix + "layer4.") and key.endswith((".conv1.weight", ".conv2.weight")) and w.shape[-2:] == (3, 3):
            first = key == prefix + "layer4.0.conv1.weight"  # stride 2 on a 2x2 map: the bottom-right 2x2 taps
            out[key] = w[:, :, 1:, 1:].contiguous() if first else w[:, :, 1:2, 1:2].contiguous()
    return out


def to_channels_last(model: nn.Module) -> nn.Module:
    """channels_last for the convolutions (faster on CPU, with bf16 and without, as vae/speed.py measures)."""
    return model.to(memory_format=torch.channels_last)


class Encoder(nn.Module):
    """x (B,1,28,28) -> mu, logvar (B,D). ResNet-18 with a one-channel conv1, standard 7x7/2 stem."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        net = torchvision.models.resnet18(weights=None)
        rgb_conv1 = net.conv1.weight.data  # (64, 3, 7, 7)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.conv1.weight.data.copy_(rgb_conv1.sum(dim=1, keepdim=True))
        net.fc = nn.Identity()  # keep the 512-d pooled features
        trim_last_stage(net.layer4)  # 2x2 -> 1x1 maps there: see trim_last_stage
        self.backbone = net
        self.head = nn.Sequential(
            nn.Linear(512, config.hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden_dim, 2 * config.latent_dim),  # "Project"
        )

    def load_imagenet(self, state: dict[str, torch.Tensor]) -> None:
        """Copy ImageNet weights in; conv1's RGB kernels are summed into the one grey channel."""
        state = live_taps({k: v for k, v in state.items() if not k.startswith("fc.")})
        state["conv1.weight"] = state["conv1.weight"].sum(dim=1, keepdim=True)  # (64,3,7,7) -> (64,1,7,7)
        self.backbone.load_state_dict(state, strict=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-2:] != (28, 28):  # trim_last_stage is exact for 28x28 inputs only
            raise ValueError(f"the encoder takes 28x28 images, got {tuple(x.shape[-2:])}")
        h = self.head(self.backbone(x))  # (B, 2D)
        mu, logvar = h.float().chunk(2, dim=1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class Decoder(nn.Module):
    """z (B,D) -> image (B,1,28,28) in [0,1]: Linear, reshape to 7x7, then Upsample x2 + Conv per step.

    No BatchNorm: its running statistics come from noisy training codes z = mu + sigma * eps, so decoding
    mu itself fell off-distribution (a collapsed model decoded mu = 0 to a black image, not the mean digit).
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        c = config.decoder_channels
        self.config = config
        self.c0 = c[0]
        self.fc = nn.Linear(config.latent_dim, c[0] * 7 * 7)
        # No ReLU right after fc: when z carries nothing (collapse) the decoder must learn to ignore it, and
        # ReLU(W z + b) kept decode(0) far from the average digit for the whole run (measured, see README).
        layers: list[nn.Module] = []
        for _ in range(config.decoder_depth - 1):  # extra 3x3 convs at 7x7: depth where it is cheap
            layers += [nn.Conv2d(c[0], c[0], kernel_size=3, padding=1), nn.ReLU(inplace=True)]
        for c_in, c_out in zip(c[:-1], c[1:]):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
            ]
            for _ in range(config.decoder_depth - 1):
                layers += [nn.Conv2d(c_out, c_out, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
        out = 2 if config.likelihood == "gaussian-learned-sigma" else 1  # the mean's logits, and log sigma per pixel
        layers.append(nn.Conv2d(c[-1], out, kernel_size=3, padding=1))
        self.net = nn.Sequential(*layers)
        self.steps = len(c) - 1
        if 7 * 2**self.steps != 28:
            raise ConfigError(f"decoder_channels needs exactly 3 entries (7 -> 14 -> 28), got {c}")

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.c0, 7, 7)  # (B, C, 7, 7)
        return self.net(h).float()  # (B, 1, 28, 28); (B, 2, 28, 28) with a learned sigma

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The image for z: the likelihood's mean, clipped to the [0, 1] of a picture."""
        return likelihood_mean(self.logits(z), self.config).clamp(0, 1)

    def sigma(self, z: torch.Tensor) -> torch.Tensor:
        """The likelihood's sigma per pixel (B,1,28,28): learned, or the fixed sigma everywhere."""
        logits = self.logits(z)
        return torch.as_tensor(likelihood_sigma(logits, self.config)).expand_as(logits[:, :1])


class Posterior:
    """q(z|x) = N(mu, diag(exp(logvar))) for a batch of codes (B, D): the one place the Gaussian's maths lives, where eps
    is drawn and z = mu + sigma * eps is formed (as diffusers' DiagonalGaussianDistribution)."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        self.mu, self.logvar = mu, logvar

    @property
    def sigma(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def noise(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """eps ~ N(0, I) shaped like mu, or (n, B, D) for n draws per code."""
        shape = self.mu.shape if n is None else (n, *self.mu.shape)
        return torch.randn(shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype)

    def sample(self, generator: torch.Generator | None = None, eps: torch.Tensor | None = None, n: int | None = None) -> torch.Tensor:
        """z = mu + sigma * eps, the reparameterization trick: the noise is an input, so gradients reach mu and sigma
        (Kingma & Welling 2014). eps is drawn here unless given (training draws a whole batch's noise from the epoch's
        seed, and a rank of a torchrun job passes its rows of it)."""
        if eps is None:
            eps = self.noise(n, generator)
        return self.mu + self.sigma * eps

    def mode(self) -> torch.Tensor:
        """The deterministic code: mu."""
        return self.mu

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) of each dimension (B, D), closed form."""
        return kl_per_dim(self.mu, self.logvar)

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per code (B,)."""
        return self.kl_per_dim().sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over the dimensions; z (..., B, D)."""
        return log_normal(z, self.mu, self.logvar)


class Pass(NamedTuple):
    """What one forward pass computed (a tuple of tensors, so DistributedDataParallel can wrap the forward)."""

    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)
    z: torch.Tensor  # (B, D), mu + sigma * eps
    logits: torch.Tensor  # (B, 1, 28, 28) the decoder's output before its likelihood's mean (B, 2, ...) with a learned sigma

    @property
    def posterior(self) -> Posterior:
        return Posterior(self.mu, self.logvar)


class VAE(nn.Module):
    def __init__(self, config: VAEConfig | None = None, load_imagenet: bool = False):
        super().__init__()
        self.config = config or VAEConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.pretrained_loaded = False  # whether the encoder started from ImageNet weights (train records it in metrics.json)
        if load_imagenet:
            state = imagenet_resnet18_state() if self.config.pretrained else None
            if state is not None:
                self.encoder.load_imagenet(state)
            self.pretrained_loaded = state is not None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def posterior(self, x: torch.Tensor) -> Posterior:
        """q(z|x) for images x (B,1,28,28)."""
        return Posterior(*self.encode(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None, generator: torch.Generator | None = None) -> Pass:
        """The one forward pass, the article's pseudo-code (training, evaluation and torchrun's DDP all call it):
        x -> encoder -> (mu, logvar) -> z = mu + sigma * eps -> the decoder's logits. The losses take it from there
        (vae.losses.vae_loss); decode(mu) is the deterministic reconstruction."""
        mu, logvar = self.encode(x)
        z = Posterior(mu, logvar).sample(generator, eps)
        return Pass(mu, logvar, z, self.decoder.logits(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images decoded from the prior z ~ N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        return self.decode(z)

    # --- checkpoints: config.json + model.safetensors, never pickle ---------------

    def save_pretrained(self, directory: str | Path, metadata: dict[str, str] | None = None) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt", **(metadata or {})})
        atomic_write_text(directory / "config.json", self.config.to_json())

    @classmethod
    def from_pretrained(cls, source: str | Path, device: str | torch.device = "cpu", revision: str | None = None,
                        subfolder: str | None = None) -> "VAE":
        """Rebuild from config.json and load model.safetensors, from a folder or a Hugging Face Hub repo id ("owner/name",
        at `revision`, through the Hub's cache: vae/hub.py); raises CheckpointError with a readable reason."""
        from .hub import checkpoint_folder

        directory = checkpoint_folder(source, revision, subfolder)
        config = read_config(directory)
        model = cls(config)
        weights = directory / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"{directory} has no model.safetensors")
        try:
            state = load_file(str(weights), device=str(device))
        except Exception as err:
            raise CheckpointError(f"{weights} is not a readable safetensors file ({err})") from None
        try:
            model.load_state_dict(live_taps(state, prefix="encoder.backbone."), strict=True)  # older files: full 3x3 kernels
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise CheckpointError(f"{weights} does not fit its config.json: {' '.join(first[:3])[:300]}") from None
        return model.to(device).eval()


def read_config(directory: str | Path) -> VAEConfig:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a folder")
    d = read_json(directory / "config.json")
    try:
        return VAEConfig.from_dict(d)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{directory / 'config.json'} is not a VAE config ({err})") from None
