"""Retina models that read each cell's stimulus as a contiguous chunk of frames (time x space), not as stacked history.

* :class:`SharedCoreRetina`: one convolutional core shared by all cells and a readout per cell, in the style of
  deep-retina (McIntosh et al. 2016) and open-retina: layer 1 a spatiotemporal kernel over ``history`` frames and
  ``kernels[0]`` stixels (a bipolar subunit's size), later layers spatial; batch norm, Gaussian noise on the
  activations while training, ReLU. With ``on_off`` each layer-1 kernel is rectified with both signs (an ON and an
  OFF subunit of mirror-image filters, a concatenated ReLU), so that a core fitted mostly to OFF cells also serves
  the ON cells. Cell ``c`` reads the last layer through a spatial mask and a weight per channel
  (a factorized readout, Klindt et al. 2017), a bias and a softplus. Built with ``n_cells=1`` and trained on one cell
  it is the per-cell CNN of the same architecture.
* :class:`ChunkLN`: one linear spatiotemporal filter per cell and a softplus (the fitted LN model); its output
  nonlinearity can be replaced by a non-parametric one (:mod:`neurobook.retina_training`).

Both take ``x`` (batch, T, H, W) and ``cells`` (batch,) and return (batch, T - history + 1) spikes per bin: output
``i`` uses frames ``i .. i + history - 1`` (the response bin is the last of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ChunkLN", "SharedCoreRetina"]


class SharedCoreRetina(nn.Module):
    """Shared convolutional core + per-cell factorized readout; see the module docstring."""

    def __init__(self, n_cells: int, window: int, history: int = 20, channels: Sequence[int] = (8, 8),
                 kernels: Sequence[int] = (5, 3), noise_std: float = 0.1, readout_l1: float = 1e-3,
                 weight_l2: float = 1e-4, on_off: bool = True) -> None:
        super().__init__()
        if len(channels) != len(kernels) or not channels:
            raise ValueError(f"channels and kernels need one entry per layer; got {channels} and {kernels}")
        out = window - sum(k - 1 for k in kernels)
        if out < 1:
            raise ValueError(f"kernels {tuple(kernels)} do not fit a window of {window} stixels")
        self.history, self.window, self.n_cells = history, window, n_cells
        self.noise_std, self.readout_l1, self.weight_l2 = noise_std, readout_l1, weight_l2
        self.on_off = on_off
        layers, c_in = [], 1
        for i, (c, k) in enumerate(zip(channels, kernels, strict=True)):
            layers.append(nn.Conv3d(c_in, c, (history if i == 0 else 1, k, k), bias=False))
            layers.append(nn.BatchNorm3d(c))
            c_in = 2 * c if (i == 0 and on_off and len(channels) > 1) else c
        self.layers = nn.ModuleList(layers)
        self.mask = nn.Parameter(torch.full((n_cells, out, out), 1.0 / out))
        self.features = nn.Parameter(torch.full((n_cells, c_in), 1.0 / c_in))
        self.bias = nn.Parameter(torch.zeros(n_cells))

    @property
    def first_layer(self) -> torch.Tensor:
        """Layer 1's kernels as (channels, history, k, k) with history index 0 = the response bin (newest frame)."""
        return self.layers[0].weight[:, 0].flip(1)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, T, H, W) -> (batch, channels, T - history + 1, H', W')."""
        y = x.float().unsqueeze(1)
        n_layers = len(self.layers) // 2
        for i, (conv, norm) in enumerate(zip(self.layers[0::2], self.layers[1::2], strict=True)):
            y = norm(conv(y))
            if self.training and self.noise_std > 0:
                y = y + self.noise_std * torch.randn_like(y)
            if i == 0 and self.on_off and n_layers > 1:
                y = torch.cat([y, -y], 1)  # every kernel as an ON and an OFF (sign-flipped) subunit
            y = F.relu(y)
        return y

    def forward(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        y = self.core(x)
        drive = torch.einsum("bcthw,bhw,bc->bt", y, self.mask[cells], self.features[cells])
        return F.softplus(drive + self.bias[cells, None])

    def regularizer(self) -> torch.Tensor:
        """L1 on the readout masks and L2 on the convolution kernels (deep-retina's penalties)."""
        conv = sum(m.weight.pow(2).sum() for m in self.layers[0::2])
        return self.readout_l1 * self.mask.abs().sum() + self.weight_l2 * conv


class ChunkLN(nn.Module):
    """A linear spatiotemporal filter per cell (history x H x W) and a softplus: the fitted LN model.

    ``smoothness`` penalizes squared differences between neighbouring filter entries in space and time (a common
    LN prior); the trainer may fit several copies of a cell at different penalties (``penalties``, one per copy,
    the copies laid out as ``cell * len(penalties) + j``) and keep the best on validation.
    """

    def __init__(self, n_filters: int, window: int, history: int = 20,
                 penalties: Sequence[float] | None = None) -> None:
        super().__init__()
        self.history, self.window = history, window
        self.weight = nn.Parameter(torch.zeros(n_filters, history, window, window))
        self.bias = nn.Parameter(torch.zeros(n_filters))
        self.gain = nn.Parameter(torch.ones(n_filters))
        pen = np.zeros(n_filters) if penalties is None else np.resize(np.asarray(penalties, float), n_filters)
        self.register_buffer("penalties", torch.as_tensor(pen, dtype=torch.float32))

    def generator(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """The linear filter's output (batch, T - history + 1) for each row's own filter."""
        b = x.shape[0]
        w = self.weight[cells].flip(1).unsqueeze(1)  # (b, 1, history, H, W), oldest frame first
        return F.conv3d(x.float().reshape(1, b, *x.shape[1:]), w, groups=b)[0, :, :, 0, 0]

    def forward(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.gain[cells, None] * self.generator(x, cells) + self.bias[cells, None])

    def regularizer(self) -> torch.Tensor:
        w = self.weight
        rough = ((w[:, 1:] - w[:, :-1]).pow(2).sum((1, 2, 3)) + (w[:, :, 1:] - w[:, :, :-1]).pow(2).sum((1, 2, 3))
                 + (w[:, :, :, 1:] - w[:, :, :, :-1]).pow(2).sum((1, 2, 3)))
        return (self.penalties * rough).sum()
