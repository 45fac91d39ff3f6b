"""Image transforms for feature visualization, composable like lucent's: each factory returns a
callable ``(B, 1, H, W) tensor -> (B, 1, H, W) tensor``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

Transform = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["Transform", "compose", "gaussian_blur", "gaussian_kernel", "jitter"]


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` left to right."""
    transforms = list(transforms)
    for t in transforms:
        if not callable(t):
            raise TypeError(f"every transform must be callable, got {type(t).__name__}")

    def inner(x: torch.Tensor) -> torch.Tensor:
        for t in transforms:
            x = t(x)
        return x

    return inner


def jitter(d: int, generator: torch.Generator | None = None) -> Transform:
    """Shift the whole batch by a random integer offset in [-d, d] per axis (circular, size kept)."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 0:
        raise ValueError(f"jitter d must be an int >= 0, got {d!r}")

    def inner(x: torch.Tensor) -> torch.Tensor:
        if d == 0:
            return x
        dy, dx = torch.randint(-d, d + 1, (2,), generator=generator).tolist()
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))

    return inner


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalized 1-D Gaussian of std ``sigma`` with radius ``ceil(3 sigma)``."""
    radius = max(1, int(3 * sigma + 0.999))
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(sigma: float) -> Transform:
    """Separable Gaussian blur with reflect padding (identity for sigma <= 0)."""
    if not isinstance(sigma, (int, float)) or sigma < 0:
        raise ValueError(f"blur sigma must be a number >= 0, got {sigma!r}")

    def inner(x: torch.Tensor) -> torch.Tensor:
        if sigma <= 0:
            return x
        if x.dim() != 4:
            raise ValueError(f"gaussian_blur expects (B, C, H, W), got shape {tuple(x.shape)}")
        k = gaussian_kernel(float(sigma), x.dtype).to(x.device)
        r = k.numel() // 2
        c = x.shape[1]
        mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    return inner
