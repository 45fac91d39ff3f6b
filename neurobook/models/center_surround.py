"""Center-surround antagonism: a difference-of-Gaussians (DoG) convolution with learnable widths and weights."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int


def gaussian_kernel(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """Normalized isotropic Gaussians (n, size, size) for widths ``sigma`` (n,) in pixels; each sums to 1."""
    r = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - (size - 1) / 2
    d2 = r.view(1, -1, 1).pow(2) + r.view(1, 1, -1).pow(2)
    g = torch.exp(-d2 / (2 * sigma.view(-1, 1, 1).pow(2)))
    return g / g.sum(dim=(1, 2), keepdim=True)


class DoGConv(nn.Module):
    """``y_k = w_c,k (G_{sigma_c,k} * x) - w_s,k (G_{sigma_s,k} * x)`` for ``k = 1..out_channels``.

    Every output map is a center Gaussian minus a wider surround Gaussian of the (single-channel) input, the
    classical model of retinal and LGN receptive fields (Rodieck 1965; Enroth-Cugell & Robson 1966), used by
    Pogoncheff et al. (2023) as the center-surround component. Widths are kept positive through a softplus,
    and ``sigma_s > sigma_c`` by construction (``sigma_s = sigma_c + softplus(.)``). The weights are free in
    sign, so a channel can become ON-center or OFF-center. With ``w_s = 0`` the layer is a Gaussian blur.

    Args:
        out_channels: number of DoG maps.
        kernel_size: odd spatial size of the kernels ('same' padding).
        sigma_center: initial center width (pixels).
        sigma_surround: initial surround width (pixels), > sigma_center.
    """

    def __init__(self, out_channels: int = 4, kernel_size: int = 9, sigma_center: float = 0.8,
                 sigma_surround: float = 2.0) -> None:
        super().__init__()
        check_positive_int("out_channels", out_channels)
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps height and width, got {kernel_size}")
        if not 0 < sigma_center < sigma_surround:
            raise ValueError(f"need 0 < sigma_center < sigma_surround, got {sigma_center}, {sigma_surround}")
        self.out_channels, self.kernel_size = out_channels, kernel_size
        inv = lambda v: float(torch.log(torch.expm1(torch.tensor(v))))  # noqa: E731  (inverse softplus)
        spread = torch.linspace(0.8, 1.25, out_channels)
        self.raw_center = nn.Parameter(torch.full((out_channels,), inv(sigma_center)) * spread)
        self.raw_extra = nn.Parameter(torch.full((out_channels,), inv(sigma_surround - sigma_center)) * spread)
        sign = torch.where(torch.arange(out_channels) % 2 == 0, 1.0, -1.0)  # ON and OFF channels
        self.w_center = nn.Parameter(sign.clone())
        self.w_surround = nn.Parameter(0.8 * sign)

    @property
    def sigma_center(self) -> torch.Tensor:
        return F.softplus(self.raw_center) + 1e-3

    @property
    def sigma_surround(self) -> torch.Tensor:
        return self.sigma_center + F.softplus(self.raw_extra) + 1e-3

    def kernels(self) -> torch.Tensor:
        """The DoG kernels (out_channels, 1, k, k)."""
        k = self.kernel_size
        center = gaussian_kernel(self.sigma_center, k)
        surround = gaussian_kernel(self.sigma_surround, k)
        dog = self.w_center.view(-1, 1, 1) * center - self.w_surround.view(-1, 1, 1) * surround
        return dog.unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, out_channels, H, W)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"DoGConv expects (B, 1, H, W); got {getattr(x, 'shape', type(x).__name__)}")
        return F.conv2d(x, self.kernels().to(x.dtype), padding=self.kernel_size // 2)
