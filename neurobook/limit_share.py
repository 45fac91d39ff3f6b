"""The share of neurons near their predictability limit, with its uncertainty and its estimator's bias.

Kindel et al. report the share of neurons predicted within 10% of their limit. Here the limit is CCnorm (Schoppe
et al. 2016, :func:`neurobook.metrics.normalized_correlation`) and a neuron counts when its CCnorm is at least a
threshold (0.9 for "within 10%"). Three things make one number misleading, and this module measures each:

* :func:`share_curve`: the share over thresholds (0.8 to 0.95), since a small share moves fast with the threshold;
* :func:`share_bias`: the estimator's bias, measured on simulated neurons with a **known** CCnorm at the data's
  own image count, repeats, signal and noise: a neuron's CCnorm estimate scatters by about +-0.1, which pushes
  neurons just below the threshold above it (and the reverse) and so biases a share taken in a distribution's tail;
* :meth:`ShareBias.corrected_interval`: a 95% interval for the true share from the same simulations (a parametric
  bootstrap of new test images: new image signals and repeat noise), which carries that bias. Resampling the
  recorded images instead (a percentile bootstrap) duplicates images, widens each neuron's scatter and so moves
  a tail share further up: its interval can miss its own point estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurobook.metrics import ccnorm_from_image_means

__all__ = ["THRESHOLDS", "ImageStats", "ShareBias", "image_stats", "share_bias", "share_curve"]

THRESHOLDS = (0.8, 0.85, 0.9, 0.95)


@dataclass
class ImageStats:
    """Per-image statistics of the test images with >= 2 repeats: everything CCnorm needs.

    ``resp_mean``, ``pred_mean``: (n_images, n_neurons) means over repeats; ``noise``: (n_images, n_neurons)
    unbiased variance over repeats divided by the number of repeats (the noise in each mean)."""

    resp_mean: np.ndarray
    pred_mean: np.ndarray
    noise: np.ndarray

    def ccnorm(self, images: np.ndarray | None = None) -> np.ndarray:
        """(n_neurons,) CCnorm over ``images`` (indices, repeats allowed; default all), NaN without signal."""
        idx = np.arange(len(self.resp_mean)) if images is None else np.asarray(images)
        return ccnorm_from_image_means(self.resp_mean[idx], self.pred_mean[idx], self.noise[idx])


def image_stats(pred: np.ndarray, resp: np.ndarray, image_ids: np.ndarray) -> ImageStats:
    """:class:`ImageStats` of trials x neurons predictions and responses; images shown once are dropped."""
    pred, resp, ids = np.asarray(pred, float), np.asarray(resp, float), np.asarray(image_ids)
    if pred.shape != resp.shape or resp.ndim != 2 or ids.shape != (len(resp),):
        raise ValueError(f"pred and resp must be (trials, neurons) alike with one image id per trial; got "
                         f"{pred.shape}, {resp.shape}, {ids.shape}")
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    rep = counts >= 2
    if rep.sum() < 3:
        raise ValueError("the share needs at least 3 images with >= 2 repeats")
    sums = np.zeros((len(uniq), resp.shape[1]))
    np.add.at(sums, inverse, resp)
    psums = np.zeros_like(sums)
    np.add.at(psums, inverse, pred)
    means, pmeans = sums / counts[:, None], psums / counts[:, None]
    sq = np.zeros_like(sums)
    np.add.at(sq, inverse, (resp - means[inverse]) ** 2)
    var = sq[rep] / (counts[rep] - 1)[:, None]
    return ImageStats(means[rep], pmeans[rep], var / counts[rep][:, None])


def share_curve(ccnorm: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> dict[float, float]:
    """Share of neurons (with a defined CCnorm) whose CCnorm is >= each threshold."""
    values = np.asarray(ccnorm, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {float(t): float("nan") for t in thresholds}
    return {float(t): float(np.mean(values >= t)) for t in thresholds}


@dataclass
class ShareBias:
    """The share estimator on simulated neurons whose true CCnorm is known, per threshold."""

    true_share: dict[float, float]
    estimated_share: dict[float, float]  # mean over the simulations
    ccnorm_sd: float  # median over neurons of the s.d. of the estimate around its true value
    simulated_shares: dict[float, np.ndarray]  # the estimated share of every simulation

    def bias(self) -> dict[float, float]:
        """Estimated minus true share, per threshold."""
        return {t: self.estimated_share[t] - self.true_share[t] for t in self.true_share}

    def corrected_interval(self, observed: float, threshold: float = 0.9, level: float = 0.95
                           ) -> tuple[float, float, float]:
        """(bias-corrected share, low, high) for the true share behind an ``observed`` one: the observed share
        minus the simulated estimator errors (their mean, and their upper and lower quantiles), clipped to [0, 1]."""
        t = float(threshold)
        errors = self.simulated_shares[t] - self.true_share[t]
        lo_err, hi_err = np.quantile(errors, [(1 - level) / 2, (1 + level) / 2])
        clip = lambda v: float(min(max(v, 0.0), 1.0))  # noqa: E731
        return clip(observed - errors.mean()), clip(observed - hi_err), clip(observed - lo_err)


def share_bias(stats: ImageStats, true_ccnorm: np.ndarray, *, thresholds: Sequence[float] = THRESHOLDS,
               n_sims: int = 100, seed: int = 0) -> ShareBias:
    """Simulate, for every neuron, ``n_sims`` recordings at the data's own images, signal power and noise (from
    ``stats``): an image signal ``s`` with the neuron's signal variance, repeats averaged with the neuron's noise in
    each image mean, and a prediction correlated ``true_ccnorm`` with ``s``; estimate CCnorm from the simulated
    data and compare the share to the one the true values give."""
    true = np.clip(np.nan_to_num(np.asarray(true_ccnorm, float), nan=0.0), 0.0, 1.0)
    if true.shape != (stats.resp_mean.shape[1],):
        raise ValueError(f"true_ccnorm must have one value per neuron ({stats.resp_mean.shape[1]}); got {true.shape}")
    rng = np.random.default_rng(seed)
    signal = np.clip(stats.resp_mean.var(0, ddof=1) - stats.noise.mean(0), 1e-6, None)
    m, k = stats.resp_mean.shape
    estimates = []
    for _ in range(n_sims):
        s = rng.standard_normal((m, k)) * np.sqrt(signal)
        y = s + rng.standard_normal((m, k)) * np.sqrt(stats.noise)
        q = true * s + np.sqrt(1 - true**2) * rng.standard_normal((m, k)) * np.sqrt(signal)
        estimates.append(ImageStats(y, q, stats.noise).ccnorm())
    est = np.stack(estimates)
    sims = {float(t): np.array([share_curve(e, (t,))[float(t)] for e in est]) for t in thresholds}
    return ShareBias(share_curve(true, thresholds), {t: float(np.nanmean(v)) for t, v in sims.items()},
                     float(np.nanmedian(np.nanstd(est - true, axis=0))), sims)
