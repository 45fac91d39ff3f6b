"""The yardstick of preferred images: each neuron's best natural image, taken from one pool, at a stated contrast.

"X times the best natural image" means little unless the natural images are natural, the same for every neuron, and
shown at the preferred image's contrast. :func:`natural_yardstick` scores a pool of photographs (for Chapter 5,
:func:`neurobook.data.cowley2023.natural_pool`) twice: as they are, and all set to one RMS contrast;
:func:`contrast_matched_measures` scores every search's images the same two ways, so each method gets a ratio at its
own contrast and one at the matched contrast.

RMS contrast is the standard deviation of an image's pixel values (0..255, over channels and pixels). Setting it keeps
the image's pattern, puts its mean at a common grey and rescales its deviations; pixels are then clipped to 0..255,
which can lower the contrast of a high-contrast image a little (the achieved value is reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from neurobook import metrics
from neurobook.inversion.result import PreferredImages
from neurobook.train import predict

__all__ = ["NaturalYardstick", "contrast_matched_measures", "natural_yardstick", "rms_contrast", "set_rms_contrast"]


def rms_contrast(images: np.ndarray) -> np.ndarray:
    """Per image (n, ...) the standard deviation of its pixel values (0..255 units)."""
    x = np.asarray(images, np.float64)
    return x.reshape(len(x), -1).std(1)


def set_rms_contrast(images: np.ndarray, rms: float, mean: float) -> np.ndarray:
    """``images`` (n, ...) with mean ``mean`` and RMS contrast ``rms``, clipped to 0..255 (float32)."""
    if not rms > 0:
        raise ValueError(f"rms must be > 0, got {rms}")
    x = np.asarray(images, np.float64)
    axes = tuple(range(1, x.ndim))
    dev = x - x.mean(axis=axes, keepdims=True)
    size = dev.reshape(len(x), -1).std(1).clip(1e-9).reshape(-1, *([1] * (x.ndim - 1)))
    return np.clip(mean + dev * (rms / size), 0, 255).astype(np.float32)


@dataclass
class NaturalYardstick:
    """Per neuron its best natural response in the pool, as shown and at the matched contrast."""

    neurons: np.ndarray  # (n,) model output columns
    best: np.ndarray  # (n,) largest response over the pool as the images are
    best_index: np.ndarray  # (n,) which pool image
    best_matched: np.ndarray  # (n,) largest response over the pool, every image at RMS contrast `rms`
    best_matched_index: np.ndarray  # (n,)
    rms: float  # the matched RMS contrast (the pool's median)
    mean: float  # the common mean grey of matched images (the pool's mean)
    n_pool: int


def natural_yardstick(model: torch.nn.Module, neurons: np.ndarray, pool: np.ndarray, *, rms: float | None = None,
                      device: str | torch.device = "auto") -> NaturalYardstick:
    """Score the pool (m, C, H, W) in 0..255 for ``neurons``; ``rms`` defaults to the pool's median RMS contrast."""
    pool = np.asarray(pool, np.float32)
    neurons = np.asarray(neurons)
    if pool.ndim < 3 or len(pool) == 0:
        raise ValueError(f"pool must be a non-empty stack of images (m, C, H, W); got shape {pool.shape}")
    rms = float(np.median(rms_contrast(pool))) if rms is None else float(rms)
    mean = float(pool.mean())
    native = predict(model, pool, device=device)[:, neurons]
    matched = predict(model, set_rms_contrast(pool, rms, mean), device=device)[:, neurons]
    return NaturalYardstick(neurons, native.max(0), native.argmax(0), matched.max(0), matched.argmax(0), rms, mean,
                            len(pool))


def contrast_matched_measures(model: torch.nn.Module, results: Mapping[str, PreferredImages],
                              yardstick: NaturalYardstick, device: str | torch.device = "auto") -> pd.DataFrame:
    """Per search and neuron: the image's RMS contrast and spectral slope, its ratio to the best natural image as
    shown (``ratio_own``) and, with both set to the yardstick's RMS contrast, ``ratio_matched``.

    Searches must have run on the yardstick's neurons in its order; images are clipped to 0..255 first.
    """
    rows = []
    cols = np.arange(len(yardstick.neurons))
    for name, result in results.items():
        if not np.array_equal(np.asarray(result.neurons), yardstick.neurons):
            raise ValueError(f"results[{name!r}] ran on other neurons than the yardstick's")
        images = np.clip(np.asarray(result.images, np.float32), 0, 255)
        matched = set_rms_contrast(images, yardstick.rms, yardstick.mean)
        own = predict(model, images, device=device)[cols, yardstick.neurons]
        at_rms = predict(model, matched, device=device)[cols, yardstick.neurons]
        rows.append(pd.DataFrame({
            "method": name, "neuron": yardstick.neurons, "rms_contrast": rms_contrast(images),
            "spectral_slope": metrics.power_spectrum_slope(images),
            "matched_rms_achieved": rms_contrast(matched), "response": own, "ratio_own": own / yardstick.best,
            "response_matched": at_rms, "ratio_matched": at_rms / yardstick.best_matched}))
    return pd.concat(rows, ignore_index=True)
