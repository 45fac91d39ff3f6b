"""Local receptive fields: a locally connected layer (a convolution whose weights are not shared over space)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int, check_shape


class LocallyConnected2d(nn.Module):
    """``y[o, p] = sum_{i, d} W[p, o, i, d] x[i, p + d] + b[o, p]``: one kernel per output position ``p``.

    Untied weights let each image position learn its own filters, as biological receptive fields do
    (Pogoncheff et al. 2023). Computed without a Python loop: ``F.unfold`` gathers every k x k patch, one
    ``einsum`` (depthwise: one broadcast product) applies each position's own weights.
    Parameters: H * W * out * in * k * k.

    With ``depthwise=True`` (requires ``in_channels == out_channels``) each channel is filtered only by itself,
    ``y[c, p] = sum_d W[p, c, d] x[c, p + d] + b[c, p]``: H * W * C * k * k parameters, C times fewer.

    Args:
        in_channels, out_channels: feature maps in and out.
        in_shape: (H, W) of the input (fixed: the weights are per position); 'same' padding keeps it.
        kernel_size: odd patch size.
        depthwise: one spatial kernel per channel and position instead of a full channel mix.
    """

    def __init__(self, in_channels: int, out_channels: int, in_shape: Sequence[int], kernel_size: int = 3,
                 depthwise: bool = False) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps height and width, got {kernel_size}")
        self.in_shape = check_shape("in_shape", in_shape, "H, W")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        if depthwise and in_channels != out_channels:
            raise ValueError(f"depthwise needs in_channels == out_channels, got {in_channels}, {out_channels}")
        self.depthwise = bool(depthwise)
        h, w = self.in_shape
        fan_in = kernel_size**2 if depthwise else in_channels * kernel_size**2
        self.weight = nn.Parameter(torch.randn(h * w, out_channels, fan_in) / fan_in**0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels, h * w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H, W)."""
        h, w = self.in_shape
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, h, w):
            raise ValueError(f"LocallyConnected2d expects (B, {self.in_channels}, {h}, {w}); "
                             f"got {tuple(getattr(x, 'shape', ()))}")
        if self.depthwise:
            return self._depthwise(x)
        patches = F.unfold(x, self.kernel_size, padding=self.kernel_size // 2)  # (B, in*k*k, H*W)
        out = torch.einsum("bfp,pof->bop", patches, self.weight.to(x.dtype)) + self.bias.to(x.dtype)
        return out.view(x.shape[0], self.out_channels, h, w)

    def _depthwise(self, x: torch.Tensor) -> torch.Tensor:
        # a sum of k*k shifted copies, each times its per-position weight map: no unfold (whose backward, a fold, is
        # slow on CPUs), 5x faster forward and backward than the unfolded product at 256 x 16 x 24 x 24
        h, w, k = *self.in_shape, self.kernel_size
        padded = F.pad(x.contiguous(), (k // 2,) * 4)
        weight = self.weight.to(x.dtype).permute(1, 2, 0).reshape(self.in_channels, k * k, h, w)
        out = self.bias.to(x.dtype).view(1, -1, h, w)
        for d in range(k * k):
            dy, dx = divmod(d, k)
            out = out + padded[:, :, dy : dy + h, dx : dx + w] * weight[:, d]
        return out

    def smoothness(self) -> torch.Tensor:
        """Mean squared difference between the kernels of horizontally and vertically neighbouring positions."""
        h, w = self.in_shape
        wt = self.weight.view(h, w, -1)
        return (wt[1:] - wt[:-1]).pow(2).mean() + (wt[:, 1:] - wt[:, :-1]).pow(2).mean()
