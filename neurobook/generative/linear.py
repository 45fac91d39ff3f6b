"""A linear-Gaussian image prior: the principal components of natural images, scaled by their standard deviations.

``image = mean + sum_k z_k * s_k * v_k`` with ``z ~ N(0, I)``: samples have the training images' mean and their
covariance within the top ``z_dim`` components. It cannot mode-collapse and trains in a second, so it is the control
for a learned generator: what a generator adds beyond second-order statistics, and what neither can draw.
It has the interface that latent ascent and evolution use (``generator``, ``images``, ``sample``, ``z_dim``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurobook.checks import check_positive_int

__all__ = ["LinearDecoder", "LinearGaussianPrior", "fit_linear_prior"]


class LinearDecoder(nn.Module):
    """z (B, z_dim) -> images (B, C, H, W) in [-1, 1] units: ``mean + z @ basis``."""

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("mean", mean.reshape(1, -1))
        self.register_buffer("basis", basis)  # (z_dim, C*H*W): component k times its standard deviation

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.mean + z @ self.basis).view(len(z), *self.shape)


@dataclass
class LinearGaussianPrior:
    """The fitted PCA prior; ``explained`` is the share of the images' variance its components hold."""

    generator: LinearDecoder
    explained: float
    n_images: int

    @property
    def z_dim(self) -> int:
        return int(self.generator.basis.shape[0])

    @property
    def size(self) -> int:
        return int(self.generator.shape[-1])

    def to(self, device: torch.device | str) -> LinearGaussianPrior:
        self.generator.to(device)
        return self

    def eval(self) -> LinearGaussianPrior:
        self.generator.eval()
        return self

    def images(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, z_dim) -> images (B, C, H, W) in 0..255 (differentiable)."""
        return (self.generator(z) + 1.0) * 127.5

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, device: str | torch.device = "cpu") -> np.ndarray:
        """``n`` images (n, C, H, W) in 0..255 from random latents."""
        self.eval().to(device)
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        return self.images(z).cpu().numpy()


def fit_linear_prior(images: np.ndarray, z_dim: int = 64) -> LinearGaussianPrior:
    """The top ``z_dim`` principal components of ``images`` (n, C, H, W) in 0..255."""
    images = np.asarray(images, np.float64)
    check_positive_int("z_dim", z_dim)
    if images.ndim != 4:
        raise ValueError(f"images must be (n, C, H, W) in 0..255; got shape {images.shape}")
    n = len(images)
    if n <= z_dim:
        raise ValueError(f"a {z_dim}-component prior needs more than {z_dim} images; got {n}")
    x = images.reshape(n, -1) / 127.5 - 1.0
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    sd = s / np.sqrt(n - 1)
    basis = sd[:z_dim, None] * vt[:z_dim]
    decoder = LinearDecoder(torch.tensor(mean, dtype=torch.float32), torch.tensor(basis, dtype=torch.float32),
                            images.shape[1:])
    return LinearGaussianPrior(decoder.eval(), float((sd[:z_dim] ** 2).sum() / (sd ** 2).sum()), n)
