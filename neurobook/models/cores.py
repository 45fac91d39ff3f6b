"""Convolutional cores: image -> feature maps of the same height and width."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LAPLACE_KERNEL = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def laplacian(images: torch.Tensor) -> torch.Tensor:
    """The 5-point Laplacian of images (..., H, W) with zero padding: ``conv2d(x, LAPLACE_KERNEL, padding=1)``.

    Written with shifted slices: for thousands of single-channel images (an LN model's filters) this is far faster
    than a convolution call on CPUs.
    """
    p = F.pad(images, (1, 1, 1, 1))
    return 4 * images - p[..., :-2, 1:-1] - p[..., 2:, 1:-1] - p[..., 1:-1, :-2] - p[..., 1:-1, 2:]


def laplace_l2(weight: torch.Tensor) -> torch.Tensor:
    """Normalized Laplacian roughness ``sum(L * w)^2 / sum(w^2)`` of conv kernels (out, in, k, k)."""
    out_ch, in_ch, kh, kw = weight.shape
    w = weight.reshape(out_ch * in_ch, 1, kh, kw)
    kernel = LAPLACE_KERNEL.to(weight.device, weight.dtype).view(1, 1, 3, 3)
    lap = F.conv2d(w, kernel, padding=1)
    return lap.pow(2).sum() / w.pow(2).sum().clamp_min(1e-12)


def group_sparsity(weight: torch.Tensor) -> torch.Tensor:
    """Group lasso over input channels: ``sum_{out,in} sqrt(sum_xy w^2)`` / number of groups."""
    norms = weight.pow(2).sum(dim=(2, 3)).clamp_min(1e-12).sqrt()
    return norms.sum() / norms.numel()


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_kernel(name: str, value: object) -> int:
    _check_int(name, value, 1)
    if value % 2 == 0:
        raise ValueError(f"{name} must be odd so that padding keeps height and width, got {value}")
    return value


class DepthSeparableConv2d(nn.Sequential):
    """1x1 conv (in -> out), a depthwise k x k conv (one kernel per channel), 1x1 conv (out -> out); no biases.

    The hidden layer of neuralpredictors' ``Stacked2dCore(depth_separable=True)``, the Sensorium 2022 baseline core:
    far fewer weights than a full k x k conv (2 C^2 + C k^2 against C^2 k^2), so wide kernels stay affordable.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Conv2d(out_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=out_channels,
                      bias=False),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
        )

    @property
    def weight(self) -> torch.Tensor:
        """The first pointwise weights (out, in, 1, 1): what the group-sparsity penalty acts on."""
        return self[0].weight


class ConvCore(nn.Module):
    """A stack of conv -> batchnorm -> ELU layers; 'same' padding keeps (H, W).

    Args:
        in_channels: image channels (1 for grayscale).
        hidden_channels: feature maps per layer.
        layers: number of conv layers (>= 1).
        input_kernel: odd kernel size of the first layer.
        hidden_kernel: odd kernel size of the later layers.
        gamma_input: weight of the Laplacian smoothness penalty on the first-layer kernels.
        gamma_hidden: weight of the group-sparsity penalty on the hidden kernels.
        momentum: batchnorm momentum.
        depth_separable: hidden layers as :class:`DepthSeparableConv2d` (pointwise, depthwise, pointwise), as in the
            Sensorium 2022 baseline; the group-sparsity penalty then acts on their first pointwise weights.
        linear: no ELU between layers (batch norm stays, it is affine in eval mode): a linear core, which with a
            Gaussian readout and the output nonlinearity is the field's LN baseline (Sensorium 2022's "LN model").
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden_channels: int = 32,
        layers: int = 3,
        input_kernel: int = 9,
        hidden_kernel: int = 7,
        gamma_input: float = 1.0,
        gamma_hidden: float = 0.01,
        momentum: float = 0.1,
        depth_separable: bool = False,
        linear: bool = False,
    ) -> None:
        super().__init__()
        _check_int("in_channels", in_channels, 1)
        _check_int("hidden_channels", hidden_channels, 1)
        _check_int("layers", layers, 1)
        _check_kernel("input_kernel", input_kernel)
        _check_kernel("hidden_kernel", hidden_kernel)
        if gamma_input < 0 or gamma_hidden < 0:
            raise ValueError(f"gamma_input and gamma_hidden must be >= 0, got {gamma_input}, {gamma_hidden}")
        self.in_channels = in_channels
        self.gamma_input = float(gamma_input)
        self.gamma_hidden = float(gamma_hidden)
        self.depth_separable = bool(depth_separable)
        self.linear = bool(linear)
        self._out_channels = hidden_channels
        blocks = []
        for i in range(layers):
            k = input_kernel if i == 0 else hidden_kernel
            cin = in_channels if i == 0 else hidden_channels
            if i > 0 and self.depth_separable:
                conv: nn.Module = DepthSeparableConv2d(cin, hidden_channels, k)
            else:
                conv = nn.Conv2d(cin, hidden_channels, k, padding=k // 2, bias=False)
            blocks.append(
                nn.Sequential(
                    conv,
                    nn.BatchNorm2d(hidden_channels, momentum=momentum),
                    nn.Identity() if self.linear else nn.ELU(),
                )
            )
        self.features = nn.Sequential(*blocks)

    @property
    def out_channels(self) -> int:
        return self._out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H, W)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"ConvCore expects a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ConvCore expects (B, {self.in_channels}, H, W); got shape {tuple(x.shape)}")
        # channels-last throughout: the format does not survive a 1-channel input on its own, and the depthwise
        # convs' backward is 4x faster in it on the CPU (11 against 44 ms at 64 x 32 x 18 x 32)
        for block in self.features:
            x = block(x.contiguous(memory_format=torch.channels_last))
        return x

    def regularizer(self) -> torch.Tensor:
        """gamma_input * Laplacian(first kernels) + gamma_hidden * group sparsity(hidden kernels)."""
        convs = [block[0] for block in self.features]
        reg = self.gamma_input * laplace_l2(convs[0].weight)
        if len(convs) > 1 and self.gamma_hidden > 0:
            reg = reg + self.gamma_hidden * sum(group_sparsity(c.weight) for c in convs[1:])
        return reg
