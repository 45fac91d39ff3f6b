"""Two models on the same test images: the difference of their mean correlation to the repeat average, with a
paired bootstrap interval over test images (both models see the same resampled images, so the shared difficulty
of an image cancels)."""

from __future__ import annotations

import numpy as np

from neurobook.limit_share import ImageStats
from neurobook.metrics import correlation

__all__ = ["mean_corr_to_avg", "paired_corr_to_avg_ci"]


def mean_corr_to_avg(stats: ImageStats, images: np.ndarray | None = None) -> float:
    """Mean over neurons of the correlation, across ``images`` (indices, repeats allowed), of the mean prediction
    with the repeat-averaged response."""
    idx = np.arange(len(stats.resp_mean)) if images is None else np.asarray(images)
    return float(np.nanmean(correlation(stats.pred_mean[idx], stats.resp_mean[idx])))


def paired_corr_to_avg_ci(a: ImageStats, b: ImageStats, *, n_boot: int = 1000, level: float = 0.95,
                          seed: int = 0) -> tuple[float, float, float]:
    """(difference, low, high) of ``mean_corr_to_avg(a) - mean_corr_to_avg(b)``, the interval from resampling the
    test images with replacement, the same images for both models."""
    if a.resp_mean.shape != b.resp_mean.shape or not np.allclose(a.resp_mean, b.resp_mean):
        raise ValueError("the two models must be scored on the same test images and neurons")
    rng = np.random.default_rng(seed)
    n = len(a.resp_mean)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boots.append(mean_corr_to_avg(a, idx) - mean_corr_to_avg(b, idx))
    lo, hi = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return mean_corr_to_avg(a) - mean_corr_to_avg(b), float(lo), float(hi)
