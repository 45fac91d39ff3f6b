"""A small GAN image prior: generator, discriminator and a trainer, in two designs.

* ``arch="dcgan"`` (Radford et al. 2016): stride-2 transposed convolutions, an unnormalized discriminator and the
  non-saturating loss. Transposed convolutions leave a checkerboard in the images (Odena et al. 2016).
* ``arch="upsample"``: nearest-neighbour upsampling followed by a 3x3 convolution (no checkerboard), a spectrally
  normalized discriminator (Miyato et al. 2018) trained with the hinge loss, and differentiable augmentation of real
  and generated images alike (colour, translation, cutout; Zhao et al. 2020), which keeps a discriminator from
  memorizing a few thousand images.

The generator maps a latent code z ~ N(0, I) to a colour image in [-1, 1]; ``ImagePrior.to_pixels`` maps that to
0..255, the units of the neural data's images.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int
from neurobook.config import resolve_device


@dataclass(frozen=True)
class PriorConfig:
    """Everything that decides a trained prior (and so its cache key)."""

    size: int = 28  # image height and width
    z_dim: int = 32  # latent dimension
    width: int = 32  # channels of the generator's last hidden layer (doubled per layer towards the latent)
    steps: int = 400  # generator updates
    batch_size: int = 64
    lr: float = 2e-4
    seed: int = 0
    n_patches: int = 4096  # training patches (drawn by natural_patches)
    data: str = "kodak24+skimage"  # what the patches came from (part of the cache key)
    arch: str = "dcgan"  # "dcgan" or "upsample" (see the module docstring)

    def __post_init__(self) -> None:
        for name in ("size", "z_dim", "width", "steps", "batch_size", "n_patches"):
            check_positive_int(f"PriorConfig.{name}", getattr(self, name))
        if self.size < 8:
            raise ValueError(f"PriorConfig.size must be >= 8, got {self.size}")
        if self.arch not in ARCHS:
            raise ValueError(f"PriorConfig.arch must be one of {ARCHS}, got {self.arch!r}")

    def as_dict(self) -> dict:
        return asdict(self)


ARCHS = ("dcgan", "upsample")


def _n_up(size: int) -> int:
    return max(1, math.ceil(math.log2(size / 4)))


class Generator(nn.Module):
    """z (B, z_dim) -> images (B, 3, size, size) in [-1, 1]: a 4x4 seed, then per octave a stride-2 transposed
    conv (``arch="dcgan"``) or a nearest-neighbour x2 upsampling and a 3x3 conv (``"upsample"``), then resize."""

    def __init__(self, z_dim: int, size: int, width: int = 32, arch: str = "dcgan") -> None:
        super().__init__()
        self.z_dim, self.size = z_dim, size
        n = _n_up(size)
        ch = [width * 2 ** (n - 1 - i) for i in range(n)] + [3]
        self.seed = nn.Sequential(nn.Linear(z_dim, ch[0] * 16), nn.BatchNorm1d(ch[0] * 16), nn.ReLU())
        blocks: list[nn.Module] = []
        for i in range(n):
            c_out = ch[i + 1] if i < n - 1 else width
            if arch == "upsample":
                blocks += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch[i], c_out, 3, padding=1,
                                                                                  bias=False)]
            else:
                blocks.append(nn.ConvTranspose2d(ch[i], c_out, 4, 2, 1, bias=False))
            blocks += [nn.BatchNorm2d(c_out), nn.ReLU()]
        blocks.append(nn.Conv2d(width, 3, 3, padding=1))
        self.body = nn.Sequential(*blocks)
        self._c0 = ch[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"Generator expects latents (B, {self.z_dim}); got shape {tuple(z.shape)}")
        x = self.body(self.seed(z).view(-1, self._c0, 4, 4))
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return torch.tanh(x)


class Discriminator(nn.Module):
    """images (B, 3, size, size) in [-1, 1] -> logit of 'natural patch' (B,); spectrally normalized layers with
    ``arch="upsample"``."""

    def __init__(self, size: int, width: int = 32, arch: str = "dcgan") -> None:
        super().__init__()
        norm = nn.utils.parametrizations.spectral_norm if arch == "upsample" else (lambda layer: layer)
        n = _n_up(size)
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(n):
            c_out = width * 2 ** i
            layers += [norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = norm(nn.Linear(c_in, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3))).squeeze(1)


@dataclass
class ImagePrior:
    """A trained generator and discriminator with their settings and training record."""

    generator: Generator
    discriminator: Discriminator
    config: PriorConfig
    seconds: float = 0.0
    images_per_second: float = 0.0
    history: list[dict] = field(default_factory=list)
    from_cache: bool = False

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    def to(self, device: torch.device | str) -> ImagePrior:
        self.generator.to(device)
        self.discriminator.to(device)
        return self

    def eval(self) -> ImagePrior:
        self.generator.eval()
        self.discriminator.eval()
        return self

    @staticmethod
    def to_pixels(images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> 0..255 (the units of the stimulus images)."""
        return (images + 1.0) * 127.5

    def images(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, z_dim) -> images (B, 3, size, size) in 0..255 (differentiable)."""
        return self.to_pixels(self.generator(z))

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, device: str | torch.device = "cpu") -> np.ndarray:
        """``n`` images (n, 3, size, size) in 0..255 from random latents."""
        self.eval().to(device)
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        return self.images(z).cpu().numpy()


@torch.no_grad()
def discriminator_score(prior: ImagePrior, images: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """The discriminator's probability that each image (n, 3, size, size) in 0..255 is a natural patch."""
    images = np.asarray(images, np.float32)
    size = prior.config.size
    if images.ndim != 4 or images.shape[1:] != (3, size, size):
        raise ValueError(f"images must be (n, 3, {size}, {size}) in 0..255; got shape {images.shape}")
    prior.eval().to(device)
    x = torch.from_numpy(images / 127.5 - 1.0).to(device)
    return torch.sigmoid(prior.discriminator(x)).cpu().numpy()


def diff_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Differentiable augmentation (Zhao et al. 2020) of images (B, 3, H, W) in [-1, 1]: random brightness,
    saturation and contrast, a translation by up to 1/8 of the side (zero padded) and a cutout of half the side."""
    b, _, h, w = x.shape
    dev = x.device

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, device=dev, generator=generator)

    x = x + (u(b, 1, 1, 1) - 0.5)
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (u(b, 1, 1, 1) * 2) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * (u(b, 1, 1, 1) + 0.5) + mean
    shift = max(1, h // 8)
    dy = (u(b) * (2 * shift + 1)).long() - shift
    dx = (u(b) * (2 * shift + 1)).long() - shift
    rows = (torch.arange(h, device=dev)[None, :] - dy[:, None])  # (B, H): source row of each output row
    cols = (torch.arange(w, device=dev)[None, :] - dx[:, None])
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    x = x[torch.arange(b, device=dev)[:, None, None], :, rows.clamp(0, h - 1)[:, :, None],
          cols.clamp(0, w - 1)[:, None, :]].permute(0, 3, 1, 2) * valid[:, None]
    ch, cw = h // 2, w // 2
    cy = (u(b) * (h - ch + 1)).long()
    cx = (u(b) * (w - cw + 1)).long()
    yy, xx = torch.arange(h, device=dev)[None, :], torch.arange(w, device=dev)[None, :]
    keep = ~(((yy >= cy[:, None]) & (yy < cy[:, None] + ch))[:, :, None]
             & ((xx >= cx[:, None]) & (xx < cx[:, None] + cw))[:, None, :])
    return x * keep[:, None]


def train_prior(patches: np.ndarray, config: PriorConfig, device: str | torch.device = "auto",
                progress: bool = False) -> ImagePrior:
    """Train the GAN of ``config.arch`` on ``patches`` (n, 3, size, size) in [-1, 1] with Adam: the non-saturating
    loss for ``"dcgan"``, the hinge loss on augmented images for ``"upsample"``."""
    patches = np.asarray(patches, np.float32)
    s = config.size
    if patches.ndim != 4 or patches.shape[1:] != (3, s, s):
        raise ValueError(f"patches must be (n, 3, {s}, {s}) in [-1, 1]; got shape {patches.shape}")
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    gen = Generator(config.z_dim, s, config.width, config.arch).to(dev)
    disc = Discriminator(s, config.width, config.arch).to(dev)
    hinge = config.arch == "upsample"
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=(0.5, 0.999))
    data = torch.from_numpy(patches).to(dev)
    rng = torch.Generator(device=dev).manual_seed(config.seed)
    bce = nn.BCEWithLogitsLoss()
    history = []
    b = config.batch_size
    ones, zeros = torch.ones(b, device=dev), torch.zeros(b, device=dev)
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        real = data[torch.randint(len(data), (b,), device=dev, generator=rng)]
        z = torch.randn(b, config.z_dim, device=dev, generator=rng)
        fake = gen(z)
        if hinge:  # spectrally normalized hinge GAN on augmented real and fake images
            loss_d = (F.relu(1 - disc(diff_augment(real, rng))).mean()
                      + F.relu(1 + disc(diff_augment(fake.detach(), rng))).mean())
        else:
            loss_d = bce(disc(real), ones) + bce(disc(fake.detach()), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = -disc(diff_augment(fake, rng)).mean() if hinge else bce(disc(fake), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if step % max(1, config.steps // 20) == 0 or step == config.steps:
            ld, lg = float(loss_d.detach()), float(loss_g.detach())
            if not (np.isfinite(ld) and np.isfinite(lg)):
                raise FloatingPointError(f"prior training diverged at step {step}; lower PriorConfig.lr")
            history.append({"step": step, "loss_d": ld, "loss_g": lg})
            if progress:
                print(f"step {step}: loss_d {ld:.3f} loss_g {lg:.3f}")
    seconds = time.perf_counter() - start
    return ImagePrior(gen.eval(), disc.eval(), config, seconds, config.steps * b / seconds, history).to("cpu")
