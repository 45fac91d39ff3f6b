"""Ganglion-cell models whose input is a stimulus history as channels, (B, history, H, W).

* :class:`RetinaCNN`, in the spirit of Yan et al. 2020: conv (history -> subunit filters, "valid") -> ReLU ->
  conv -> ReLU -> dense readout -> softplus. The first layer's filters play the role of bipolar-cell subunits.
* :class:`RetinaLN`: one spatio-temporal linear filter per cell and a softplus (the classical LN model).
* :class:`RetinaLNLN`: the explicit subunit model between them: ``n_subunits`` window-sized spatio-temporal filters,
  each rectified, summed with non-negative weights, softplus.
* :class:`RetinaSTALN`: the classical LN model estimated without training: the spike-triggered average as the
  filter and the output nonlinearity read off a histogram of the filter's output (Chichilnisky 2001); it is built by
  :func:`neurobook.cell_fits.fit_sta_ln`.

Both keep the :class:`~neurobook.models.encoder.ImageModel` interface (input/output scaling, bias initialization),
so :func:`neurobook.train.fit` trains them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int, check_shape
from neurobook.models.cores import LAPLACE_KERNEL
from neurobook.models.encoder import ImageModel, check_nonlinearity, output_nonlinearity

__all__ = ["RETINA_KINDS", "RetinaCNN", "RetinaLN", "RetinaLNLN", "RetinaSTALN", "build_retina_model",
           "spatiotemporal_filters"]

RETINA_KINDS = ("retina_cnn", "retina_ln", "retina_lnln")


class _HistoryModel(ImageModel):
    """Shared input check for (B, history, H, W) stimuli."""

    history: int

    def check_images(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor (B, history, H, W); "
                            f"got {type(images).__name__}")
        expected = (self.history, *self.image_shape)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"{type(self).__name__} was built for stimuli (B, {', '.join(map(str, expected))}) "
                             f"(a stimulus history of {self.history} frames as channels); got {tuple(images.shape)}")
        return images if images.is_floating_point() else images.float()


def _smoothness(w: torch.Tensor) -> torch.Tensor:
    """Sum of squared spatial Laplacians of filters (..., H, W)."""
    kernel = LAPLACE_KERNEL.to(w.device, w.dtype).view(1, 1, 3, 3)
    return F.conv2d(w.reshape(-1, 1, *w.shape[-2:]), kernel, padding=1).pow(2).sum()


class RetinaCNN(_HistoryModel):
    """Two convolutional layers and a dense readout (Yan et al. 2020 style).

    Args:
        history: frames of stimulus history (input channels).
        image_shape: (H, W) of the stimulus window.
        n_neurons: cells predicted (the paper fits one CNN per cell: ``n_neurons=1``).
        n_subunits: first-layer filters.
        kernel1: first-layer kernel size; default ``min(H, W) - 2`` so each filter spans nearly the whole window
            and may sit anywhere in it (a subunit has a position as well as a shape).
        channels2, kernel2: second layer.
        gamma_l2: L2 weight on the first-layer filters; gamma_smooth: spatial smoothness of those filters;
        gamma_readout: L1 on the dense readout.
    """

    def __init__(self, history: int, image_shape: Sequence[int], n_neurons: int = 1, n_subunits: int = 8,
                 kernel1: int | None = None, channels2: int = 8, kernel2: int = 3, nonlinearity: str = "softplus",
                 gamma_l2: float = 1e-3, gamma_smooth: float = 1e-2, gamma_readout: float = 1e-4) -> None:
        super().__init__()
        self.history = check_positive_int("history", history)
        self.image_shape = check_shape("image_shape", image_shape, "height, width")  # type: ignore[assignment]
        self.n_neurons = check_positive_int("n_neurons", n_neurons)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        h, w = self.image_shape
        k1 = max(1, min(h, w) - 2) if kernel1 is None else check_positive_int("kernel1", kernel1)
        k2 = check_positive_int("kernel2", kernel2)
        if k1 > min(h, w) or k1 + k2 - 1 > min(h, w):
            raise ValueError(f"kernel1={k1} and kernel2={k2} do not fit a {h}x{w} window "
                             f"(need kernel1 + kernel2 - 1 <= {min(h, w)})")
        self.conv1 = nn.Conv2d(self.history, check_positive_int("n_subunits", n_subunits), k1)
        self.conv2 = nn.Conv2d(n_subunits, check_positive_int("channels2", channels2), k2)
        out_h, out_w = h - k1 - k2 + 2, w - k1 - k2 + 2
        self.readout = nn.Linear(channels2 * out_h * out_w, self.n_neurons)
        self.gamma_l2, self.gamma_smooth, self.gamma_readout = float(gamma_l2), float(gamma_smooth), float(
            gamma_readout)

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return output_nonlinearity(self.readout(x.flatten(1)), self.nonlinearity)

    def regularizer(self) -> torch.Tensor:
        w = self.conv1.weight
        return (self.gamma_l2 * w.pow(2).sum() + self.gamma_smooth * _smoothness(w)
                + self.gamma_readout * self.readout.weight.abs().sum())

    def output_bias(self) -> nn.Parameter:
        return self.readout.bias


class RetinaLN(_HistoryModel):
    """A spatio-temporal linear filter per cell, a bias and a softplus (or elu+1) output."""

    def __init__(self, history: int, image_shape: Sequence[int], n_neurons: int = 1, nonlinearity: str = "softplus",
                 gamma_l2: float = 1e-3, gamma_smooth: float = 1e-2) -> None:
        super().__init__()
        self.history = check_positive_int("history", history)
        self.image_shape = check_shape("image_shape", image_shape, "height, width")  # type: ignore[assignment]
        self.n_neurons = check_positive_int("n_neurons", n_neurons)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self.weight = nn.Parameter(torch.randn(self.n_neurons, self.history, *self.image_shape) * 1e-3)
        self.bias = nn.Parameter(torch.zeros(self.n_neurons))
        self.gamma_l2, self.gamma_smooth = float(gamma_l2), float(gamma_smooth)

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        return output_nonlinearity(F.linear(x.flatten(1), self.weight.flatten(1), self.bias), self.nonlinearity)

    def regularizer(self) -> torch.Tensor:
        return self.gamma_l2 * self.weight.pow(2).sum() + self.gamma_smooth * _smoothness(self.weight)

    def output_bias(self) -> nn.Parameter:
        return self.bias


class RetinaLNLN(_HistoryModel):
    """LN-LN subunit model: rectified window-sized subunit filters, a non-negative weighted sum and a softplus."""

    def __init__(self, history: int, image_shape: Sequence[int], n_neurons: int = 1, n_subunits: int = 8,
                 nonlinearity: str = "softplus", gamma_l2: float = 1e-3, gamma_smooth: float = 1e-2) -> None:
        super().__init__()
        self.history = check_positive_int("history", history)
        self.image_shape = check_shape("image_shape", image_shape, "height, width")  # type: ignore[assignment]
        self.n_neurons = check_positive_int("n_neurons", n_neurons)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        n = check_positive_int("n_subunits", n_subunits)
        self.subunits = nn.Parameter(torch.randn(n, self.history, *self.image_shape) * 0.05)
        self.subunit_bias = nn.Parameter(torch.zeros(n))
        self.log_weights = nn.Parameter(torch.full((self.n_neurons, n), -1.0))
        self.bias = nn.Parameter(torch.zeros(self.n_neurons))
        self.gamma_l2, self.gamma_smooth = float(gamma_l2), float(gamma_smooth)

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        drive = F.relu(F.linear(x.flatten(1), self.subunits.flatten(1), self.subunit_bias))
        return output_nonlinearity(F.linear(drive, self.log_weights.exp(), self.bias), self.nonlinearity)

    def regularizer(self) -> torch.Tensor:
        return self.gamma_l2 * self.subunits.pow(2).sum() + self.gamma_smooth * _smoothness(self.subunits)

    def output_bias(self) -> nn.Parameter:
        return self.bias


class RetinaSTALN(_HistoryModel):
    """LN model with a fixed filter (the STA, unit norm) and a piecewise-linear nonlinearity, nothing trained.

    ``filters`` (n_neurons, history, H, W) act on standardized stimuli; ``centers`` and ``values``
    (n_neurons, n_bins) are the mean generator signal and mean response in each bin of the training data
    (increasing centers); outside them the nonlinearity is held at its end values.
    """

    def __init__(self, filters: torch.Tensor, centers: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        if filters.dim() != 4:
            raise ValueError(f"filters must be (n_neurons, history, H, W); got shape {tuple(filters.shape)}")
        n, history, h, w = filters.shape
        if centers.shape != values.shape or centers.dim() != 2 or centers.shape[0] != n or centers.shape[1] < 2:
            raise ValueError(f"centers and values must both be (n_neurons={n}, n_bins >= 2); got "
                             f"{tuple(centers.shape)} and {tuple(values.shape)}")
        self.history, self.image_shape, self.n_neurons = history, (h, w), n
        self.nonlinearity = "binned"
        self.register_buffer("filters", filters.float())
        self.register_buffer("centers", centers.float().contiguous())
        self.register_buffer("values", values.float())

    def generator_signal(self, x: torch.Tensor) -> torch.Tensor:
        """The filter's output (B, n_neurons) for standardized stimuli."""
        return x.flatten(1) @ self.filters.flatten(1).T

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        g = self.generator_signal(x).T.contiguous()  # (n, B)
        c, v = self.centers, self.values
        g = torch.minimum(torch.maximum(g, c[:, :1]), c[:, -1:])
        hi = torch.searchsorted(c, g).clamp(1, c.shape[1] - 1)
        lo = hi - 1
        c_lo, c_hi = c.gather(1, lo), c.gather(1, hi)
        t = ((g - c_lo) / (c_hi - c_lo).clamp_min(1e-12)).clamp(0, 1)
        return (v.gather(1, lo) * (1 - t) + v.gather(1, hi) * t).T


def build_retina_model(kind: str, history: int, image_shape: Sequence[int], n_neurons: int = 1,
                       **kwargs) -> RetinaCNN | RetinaLN | RetinaLNLN:
    """``"retina_cnn"``, ``"retina_ln"`` or ``"retina_lnln"``; kwargs go to the class (a misspelled one is refused)."""
    if kind not in RETINA_KINDS:
        raise ValueError(f"kind must be one of {RETINA_KINDS}, got {kind!r}")
    cls = {"retina_cnn": RetinaCNN, "retina_ln": RetinaLN, "retina_lnln": RetinaLNLN}[kind]
    try:
        return cls(history, image_shape, n_neurons, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad argument for {kind}: {err}") from err


def spatiotemporal_filters(weight: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank-1 split of filters (F, history, H, W) into spatial (F, H, W) and temporal (F, history) parts.

    The sign is fixed so that each spatial profile's largest-magnitude pixel is positive (polarity goes to time).
    """
    w = weight.detach().cpu().numpy() if isinstance(weight, torch.Tensor) else np.asarray(weight)
    if w.ndim != 4:
        raise ValueError(f"filters must be (F, history, H, W); got shape {w.shape}")
    n, t, h, wd = w.shape
    spatial, temporal = np.zeros((n, h, wd)), np.zeros((n, t))
    for i in range(n):
        u, s, vt = np.linalg.svd(w[i].reshape(t, h * wd), full_matrices=False)
        sp, tm = vt[0].reshape(h, wd), u[:, 0] * s[0]
        sign = np.sign(sp.flat[np.abs(sp).argmax()]) or 1.0
        spatial[i], temporal[i] = sp * sign, tm * sign
    return spatial, temporal
