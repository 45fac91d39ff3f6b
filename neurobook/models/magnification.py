"""Cortical magnification: a differentiable foveated resampling of the input image (``grid_sample``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_shape


class CorticalMagnification(nn.Module):
    r"""Resample the image so that the center (the "fovea") takes more output pixels than the periphery.

    Output pixel at normalized position ``u`` (in [-1, 1]^2, radius ``r = |u|``) reads the input at

    .. math:: u_\text{in} = c + u \, r^{\alpha - 1}, \qquad \alpha = 1 + \text{softplus}(a) \ge 1,

    a radial power law: near the center ``d r_in / d r_out = alpha r^{alpha-1} < 1``, i.e. one input pixel
    is spread over several output pixels (magnified), while the periphery is compressed, as in V1's cortical
    magnification (Daniel & Whitteridge 1961). ``alpha`` and the fixation point ``c`` are learned. With
    ``alpha = 1`` and ``c = 0`` the layer is the identity. Bilinear sampling keeps it differentiable.

    Args:
        image_shape: (H, W) of the input and output.
        alpha: initial exponent (>1 magnifies the center).
        learn_center: whether the fixation point is learned.
    """

    def __init__(self, image_shape: Sequence[int], alpha: float = 1.5, learn_center: bool = True) -> None:
        super().__init__()
        self.image_shape = check_shape("image_shape", image_shape, "H, W")
        if not alpha > 1:
            raise ValueError(f"alpha must be > 1 (1 would be the identity), got {alpha}")
        self.raw_alpha = nn.Parameter(torch.log(torch.expm1(torch.tensor(float(alpha) - 1))))
        self.center = nn.Parameter(torch.zeros(2), requires_grad=learn_center)
        h, w = self.image_shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        self.register_buffer("base_grid", torch.stack([xs, ys], dim=-1))  # (H, W, 2), x then y

    @property
    def alpha(self) -> torch.Tensor:
        return 1 + F.softplus(self.raw_alpha)

    def sampling_grid(self) -> torch.Tensor:
        """Where each output pixel reads the input, (H, W, 2) in grid units (x, y)."""
        u = self.base_grid
        r = u.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return self.center.tanh() * 0.5 + u * r.pow(self.alpha - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W), foveated."""
        h, w = self.image_shape
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[2:]) != (h, w):
            raise ValueError(f"CorticalMagnification expects (B, C, {h}, {w}); got {tuple(getattr(x, 'shape', ()))}")
        grid = self.sampling_grid().to(x.dtype).expand(x.shape[0], h, w, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
