"""Parameter-matched controls of the four biological components: the same place, the same parameter count, the same
compute, without the biological structure.

Each control answers "is it the structure or just the extra parameters?":

* :class:`RandomBasisConv` for the DoG (center-surround): 4 learned numbers per map, as the DoG has (two widths, two
  weights), but they mix 4 fixed random smooth kernels instead of two concentric Gaussians.
* :class:`ScatteredConnected2d` for the locally connected layer: one kernel per position with as many weights, but
  each position reads k*k input positions drawn at random over the whole map instead of its k x k neighbourhood.
* :class:`PointwiseMix` for tuned normalization: ``C*C + C + 1`` parameters, as the normalization has (the pool
  weights, the semi-saturation constants, the pool width), in a residual linear channel mix with no division.
* :class:`AffineResampling` for cortical magnification: 3 parameters, as the magnification has (the exponent and
  the fixation point), in a uniform zoom and shift with no foveation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int, check_shape
from neurobook.models.center_surround import gaussian_kernel
from neurobook.models.local import LocallyConnected2d


class RandomBasisConv(nn.Module):
    """``y_k = (sum_j a_kj B_j) * x``: fixed random smooth kernels ``B_j`` (unit norm), learned coefficients ``a``.

    Args:
        out_channels: output maps.
        kernel_size: odd kernel size ('same' padding), as the DoG's.
        n_basis: fixed kernels mixed per map (4 matches :class:`DoGConv`'s parameters per map).
        seed: the seed of the fixed kernels.
    """

    def __init__(self, out_channels: int = 4, kernel_size: int = 9, n_basis: int = 4, seed: int = 0) -> None:
        super().__init__()
        check_positive_int("out_channels", out_channels)
        check_positive_int("n_basis", n_basis)
        if kernel_size % 2 == 0 or kernel_size < 1:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.out_channels, self.kernel_size = out_channels, kernel_size
        gen = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(n_basis, 1, kernel_size, kernel_size, generator=gen)
        blur = gaussian_kernel(torch.tensor([1.0]), 5).view(1, 1, 5, 5)
        basis = F.conv2d(noise, blur, padding=2)[:, 0]  # smooth like the DoG kernels, but without their symmetry
        self.register_buffer("basis", basis / basis.flatten(1).norm(dim=1).view(-1, 1, 1))
        self.coef = nn.Parameter(torch.randn(out_channels, n_basis, generator=gen) / n_basis**0.5)

    def kernels(self) -> torch.Tensor:
        """(out_channels, 1, k, k)."""
        return torch.einsum("kj,jhw->khw", self.coef, self.basis).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, out_channels, H, W)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"RandomBasisConv expects (B, 1, H, W); got {getattr(x, 'shape', type(x).__name__)}")
        return F.conv2d(x, self.kernels().to(x.dtype), padding=self.kernel_size // 2)


class ScatteredConnected2d(LocallyConnected2d):
    """A depthwise locally connected layer whose "patch" at each position is k*k positions drawn at random.

    Same weights, biases, smoothness penalty and compute as ``LocallyConnected2d(depthwise=True)``; only the
    neighbourhood structure (a receptive field of adjacent pixels) is gone.
    """

    def __init__(self, channels: int, in_shape: Sequence[int], kernel_size: int = 3, seed: int = 0) -> None:
        super().__init__(channels, channels, in_shape, kernel_size, depthwise=True)
        h, w = self.in_shape
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("sources", torch.randint(0, h * w, (kernel_size**2, h * w), generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.in_shape
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, h, w):
            raise ValueError(f"ScatteredConnected2d expects (B, {self.in_channels}, {h}, {w}); "
                             f"got {tuple(getattr(x, 'shape', ()))}")
        flat = x.reshape(x.shape[0], self.in_channels, h * w)
        patches = flat[:, :, self.sources]  # (B, C, k*k, H*W)
        out = (patches * self.weight.to(x.dtype).permute(1, 2, 0)).sum(2) + self.bias.to(x.dtype)
        return out.view(x.shape[0], self.out_channels, h, w)


class PointwiseMix(nn.Module):
    """``y = exp(s) (z + W z) + b``: a residual 1x1 channel mix, ``C*C + C + 1`` parameters, identity at the start."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        self.channels = channels
        self.weight = nn.Parameter(torch.zeros(channels, channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        if not isinstance(z, torch.Tensor) or z.dim() != 4 or z.shape[1] != self.channels:
            raise ValueError(f"PointwiseMix expects (B, {self.channels}, H, W); got {tuple(getattr(z, 'shape', ()))}")
        mixed = z + torch.einsum("cd,bdhw->bchw", self.weight.to(z.dtype), z)
        return self.log_scale.exp() * mixed + self.bias.to(z.dtype).view(1, -1, 1, 1)


class AffineResampling(nn.Module):
    """``u_in = c + s u``: a uniform zoom ``s`` and shift ``c`` of the image (3 parameters); identity at the start."""

    def __init__(self, image_shape: Sequence[int]) -> None:
        super().__init__()
        self.image_shape = check_shape("image_shape", image_shape, "H, W")
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.center = nn.Parameter(torch.zeros(2))
        h, w = self.image_shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        self.register_buffer("base_grid", torch.stack([xs, ys], dim=-1))

    def sampling_grid(self) -> torch.Tensor:
        """(H, W, 2) in grid units (x, y)."""
        return self.center.tanh() * 0.5 + self.base_grid * self.log_scale.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.image_shape
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[2:]) != (h, w):
            raise ValueError(f"AffineResampling expects (B, C, {h}, {w}); got {tuple(getattr(x, 'shape', ()))}")
        grid = self.sampling_grid().to(x.dtype).expand(x.shape[0], h, w, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
