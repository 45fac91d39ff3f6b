"""Tuned divisive normalization: each feature map divided by a learned, feature-weighted, spatially pooled energy."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int
from neurobook.models.center_surround import gaussian_kernel


class TunedDivisiveNormalization(nn.Module):
    r"""Divisive normalization with a feature-tuned, spatially pooled normalization signal.

    .. math::

        y_c(x) = \frac{z_c(x)}{\left(\sigma_c^2 + \sum_{c'} w_{cc'} \, (G_\rho * z_{c'}^2)(x)\right)^{1/2}}

    ``z`` are the input feature maps, ``w_{cc'} >= 0`` a learned matrix saying how strongly feature ``c'``
    normalizes feature ``c`` (the *tuning* of the normalization pool), ``G_rho`` a learned Gaussian that pools
    the energy over neighbouring positions, and ``sigma_c > 0`` a learned semi-saturation constant.
    Sources: the normalization model of Heeger (1992, Vis Neurosci 9:181) and Carandini & Heeger (2012,
    Nat Rev Neurosci 13:51); the learned, feature-weighted pool follows Burg et al. (2021, PLoS Comput Biol
    17:e1009028), which Pogoncheff et al. (2023) adopt as "tuned normalization". Exponents are fixed at 2 (energy)
    and 1/2, so that for a small input the layer is linear (``y = z / sigma``) and for a large input it saturates.

    Args:
        channels: feature maps.
        kernel_size: odd size of the spatial pooling kernel.
        sigma: initial semi-saturation constant.
        pool_width: initial width (pixels) of the spatial pool.
    """

    def __init__(self, channels: int, kernel_size: int = 5, sigma: float = 1.0, pool_width: float = 1.5) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if not (sigma > 0 and pool_width > 0):
            raise ValueError(f"sigma and pool_width must be > 0, got {sigma}, {pool_width}")
        self.channels, self.kernel_size = channels, kernel_size
        inv = lambda v: float(torch.log(torch.expm1(torch.tensor(float(v)))))  # noqa: E731  (inverse softplus)
        self.raw_sigma = nn.Parameter(torch.full((channels,), inv(sigma)))
        self.raw_width = nn.Parameter(torch.tensor(inv(pool_width)))
        self.raw_weight = nn.Parameter(torch.full((channels, channels), inv(0.1 / channels)) + 0.01 * torch.randn(
            channels, channels))

    @property
    def weight(self) -> torch.Tensor:
        """Non-negative normalization weights ``w_{cc'}`` (channels, channels)."""
        return F.softplus(self.raw_weight)

    @property
    def sigma(self) -> torch.Tensor:
        return F.softplus(self.raw_sigma) + 1e-3

    def normalization_signal(self, z: torch.Tensor) -> torch.Tensor:
        """The denominator (B, C, H, W)."""
        k = self.kernel_size
        g = gaussian_kernel((F.softplus(self.raw_width) + 0.3).view(1), k).to(z.dtype)
        energy = F.conv2d(z.pow(2), g.expand(z.shape[1], 1, k, k), padding=k // 2, groups=z.shape[1])
        pooled = torch.einsum("cd,bdhw->bchw", self.weight.to(z.dtype), energy)
        return (self.sigma.to(z.dtype).pow(2).view(1, -1, 1, 1) + pooled).sqrt()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        if not isinstance(z, torch.Tensor) or z.dim() != 4 or z.shape[1] != self.channels:
            raise ValueError(f"TunedDivisiveNormalization expects (B, {self.channels}, H, W); "
                             f"got {tuple(getattr(z, 'shape', ()))}")
        return z / self.normalization_signal(z)
