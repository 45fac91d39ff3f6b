"""Per-neuron evaluation metrics on numpy arrays (trials x neurons).

Conventions: ``pred`` and ``resp`` are (n_trials, n_neurons) (1-D arrays are one neuron);
``image_ids`` (n_trials,) marks repeats of the same image. Every function returns one value per
neuron (a float for 1-D input).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bootstrap_median_ci",
    "ccnorm_from_image_means",
    "correlation",
    "correlation_to_average",
    "envelope_match",
    "explainable_fraction",
    "feve",
    "match_subunits",
    "normalized_correlation",
    "oracle_correlation",
    "power_spectrum_slope",
    "share_within_limit",
    "shifted_correlation",
    "single_trial_correlation",
    "spearman_brown",
    "split_half_reliability",
]


def _as_2d(name: str, x: object) -> tuple[np.ndarray, bool]:
    if not isinstance(x, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be a numpy array (n_trials, n_neurons), got {type(x).__name__}")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        return arr[:, None], True
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (n_trials,) or (n_trials, n_neurons); got shape {arr.shape}")
    return arr, False


def _pair(pred: object, resp: object) -> tuple[np.ndarray, np.ndarray, bool]:
    p, squeeze = _as_2d("pred", pred)
    r, _ = _as_2d("resp", resp)
    if p.shape != r.shape:
        raise ValueError(f"pred and resp must have the same shape; got {p.shape} and {r.shape}")
    if p.shape[0] < 2:
        raise ValueError(f"need at least 2 trials to correlate, got {p.shape[0]}")
    return p, r, squeeze


def _ids(image_ids: object, n: int) -> np.ndarray:
    ids = np.asarray(image_ids)
    if ids.shape != (n,):
        raise ValueError(f"image_ids must have shape ({n},) to match the trials; got {ids.shape}")
    return ids


def _out(values: np.ndarray, squeeze: bool):
    return float(values[0]) if squeeze else values


def _corr_cols(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per column; 0 where either column is constant."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    num = (a * b).sum(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    out = np.zeros(a.shape[1])
    ok = den > 1e-12 * np.maximum(1.0, np.abs(num))
    out[ok] = num[ok] / den[ok]
    return out


def _image_means(x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique ids, per-image means (n_images, n_neurons) and repeat counts."""
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(uniq), x.shape[1]))
    np.add.at(sums, inverse, x)
    return uniq, sums / counts[:, None], counts


def correlation(pred: np.ndarray, resp: np.ndarray) -> np.ndarray:
    """Pearson correlation per column.

    ``r = sum (p - mean p)(y - mean y) / sqrt(sum (p - mean p)^2 * sum (y - mean y)^2)``.

    Columns where either input is constant get 0.
    """
    p, r, squeeze = _pair(pred, resp)
    return _out(_corr_cols(p, r), squeeze)


def single_trial_correlation(pred: np.ndarray, resp: np.ndarray) -> np.ndarray:
    """Correlation of the prediction with every single-trial response (repeats counted separately)."""
    return correlation(pred, resp)


def correlation_to_average(pred: np.ndarray, resp: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Correlation, across unique images, of the mean prediction with the repeat-averaged response.

    ``r = corr_m( mean_{t in m} pred_t , mean_{t in m} resp_t )`` over unique images m.
    """
    p, r, squeeze = _pair(pred, resp)
    ids = _ids(image_ids, p.shape[0])
    _, p_mean, _ = _image_means(p, ids)
    _, r_mean, _ = _image_means(r, ids)
    if len(p_mean) < 2:
        raise ValueError("correlation_to_average needs at least 2 unique images")
    return _out(_corr_cols(p_mean, r_mean), squeeze)


def oracle_correlation(resp: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Leave-one-out oracle: correlate each trial with the mean of the *other* repeats of its image.

    For trial t of image m with n_m >= 2 repeats, ``o_t = (sum_{s in m} y_s - y_t) / (n_m - 1)``;
    the oracle is ``corr_t(y_t, o_t)`` pooled over all trials of images with >= 2 repeats.
    """
    r, squeeze = _as_2d("resp", resp)
    ids = _ids(image_ids, r.shape[0])
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2
    if keep.sum() < 2:
        raise ValueError("oracle_correlation needs images shown at least twice (repeats); found none")
    sums = np.zeros((len(uniq), r.shape[1]))
    np.add.at(sums, inverse, r)
    loo = (sums[inverse] - r) / np.maximum(counts[inverse] - 1, 1)[:, None]
    return _out(_corr_cols(r[keep], loo[keep]), squeeze)


def _repeat_stats(r: np.ndarray, ids: np.ndarray):
    """Per-image means, counts and unbiased within-image variances for images with >= 2 repeats."""
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(uniq), r.shape[1]))
    np.add.at(sums, inverse, r)
    means = sums / counts[:, None]
    sq = np.zeros_like(sums)
    np.add.at(sq, inverse, (r - means[inverse]) ** 2)
    rep = counts >= 2
    if not rep.any():
        raise ValueError("this metric needs images shown at least twice (repeats); found none")
    var = sq[rep] / (counts[rep] - 1)[:, None]
    return inverse, means, counts, rep, var


def feve(pred: np.ndarray, resp: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Fraction of explainable variance explained (Cadena et al. 2019).

    ``FEVE = 1 - (MSE - s2_noise) / (Var[y] - s2_noise)`` with ``MSE = mean_t (y_t - p_t)^2``,
    ``Var[y]`` the total variance over trials (ddof=1) and ``s2_noise`` the mean over images of the
    within-image variance across repeats (ddof=1; images with >= 2 repeats). All trials of images
    with >= 2 repeats enter MSE and Var[y]. NaN where ``Var[y] <= s2_noise`` (no explainable variance).
    """
    p, r, squeeze = _pair(pred, resp)
    ids = _ids(image_ids, p.shape[0])
    inverse, _, _counts, rep, var = _repeat_stats(r, ids)
    keep = rep[inverse]
    noise = var.mean(0)
    total = r[keep].var(0, ddof=1)
    mse = ((r[keep] - p[keep]) ** 2).mean(0)
    explainable = total - noise
    out = np.full(r.shape[1], np.nan)
    ok = explainable > 1e-12
    out[ok] = 1 - (mse[ok] - noise[ok]) / explainable[ok]
    return _out(out, squeeze)


def explainable_fraction(resp: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Fraction of each neuron's trial-to-trial variance that the stimulus can explain, ``1 - s2_noise / Var[y]``
    (the quantities of :func:`feve`; Cadena et al. 2019 keep neurons above 0.15); NaN without variance."""
    r, squeeze = _as_2d("resp", resp)
    ids = _ids(image_ids, r.shape[0])
    inverse, _, _counts, rep, var = _repeat_stats(r, ids)
    total = r[rep[inverse]].var(0, ddof=1)
    out = np.full(r.shape[1], np.nan)
    ok = total > 1e-12
    out[ok] = 1 - var.mean(0)[ok] / total[ok]
    return _out(out, squeeze)


def normalized_correlation(pred: np.ndarray, resp: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """CCnorm (Schoppe et al. 2016): ``CC_abs / CC_max``, the fraction of the predictability limit.

    With per-image means ``y_m`` and mean predictions ``p_m`` over the M images with >= 2 repeats
    (variances and covariance across images with ddof=1), the signal power is
    ``SP = Var(y_m) - mean_m(s2_m / n_m)`` where ``s2_m`` is the unbiased variance of the n_m repeats
    of image m (for equal n this is Schoppe's ``(Var(sum_n y_n) - sum_n Var(y_n)) / (n (n - 1))``
    without its dependence on the order of repeats). Then ``CC_abs = Cov(p, y) / sqrt(Var(p) Var(y))``,
    ``CC_max = sqrt(SP / Var(y))`` and ``CCnorm = Cov(p, y) / sqrt(Var(p) SP)``.
    NaN where ``SP <= 0`` (no explainable signal); 0 where the prediction is constant.
    """
    p, r, squeeze = _pair(pred, resp)
    ids = _ids(image_ids, p.shape[0])
    _inverse, r_means, counts, rep, var = _repeat_stats(r, ids)
    if rep.sum() < 2:
        raise ValueError("normalized_correlation needs at least 2 images with repeats")
    _, p_means, _ = _image_means(p, ids)
    return _out(ccnorm_from_image_means(r_means[rep], p_means[rep], var / counts[rep][:, None]), squeeze)


def ccnorm_from_image_means(resp_means: np.ndarray, pred_means: np.ndarray, mean_noise: np.ndarray) -> np.ndarray:
    """CCnorm (:func:`normalized_correlation`) from per-image statistics (n_images, n_neurons): the repeat-averaged
    responses, the mean predictions and the noise variance of each average (``s2_m / n_m``). Images may repeat
    (a bootstrap sample)."""
    y, q = np.asarray(resp_means, float), np.asarray(pred_means, float)
    signal_power = y.var(0, ddof=1) - np.asarray(mean_noise, float).mean(0)
    var_p = q.var(0, ddof=1)
    cov = ((q - q.mean(0)) * (y - y.mean(0))).sum(0) / (len(y) - 1)
    out = np.full(y.shape[1], np.nan)
    ok = signal_power > 1e-12
    out[ok] = 0.0
    ok_p = ok & (var_p > 1e-12)
    out[ok_p] = cov[ok_p] / np.sqrt(var_p[ok_p] * signal_power[ok_p])
    return out


def share_within_limit(frac: np.ndarray, tolerance: float = 0.1) -> float:
    """Fraction of neurons with ``frac >= 1 - tolerance``, ignoring NaN (NaN if all are NaN)."""
    values = np.asarray(frac, dtype=np.float64).ravel()
    if not 0 <= tolerance <= 1:
        raise ValueError(f"tolerance must be in [0, 1], got {tolerance}")
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan")
    return float(np.mean(values >= 1 - tolerance))


def shifted_correlation(filters: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """|Pearson r| of each filter (F, k, k') with each target (S, H, W), maximized over the filter's positions.

    A convolutional filter smaller than the stimulus window acts at every "valid" position; a target profile is
    compared with the filter at each position (the window of the target under the filter) and the best |r| kept.
    """
    filters, targets = np.asarray(filters, np.float64), np.asarray(targets, np.float64)
    if filters.ndim != 3 or targets.ndim != 3:
        raise ValueError(f"filters (F, k, k') and targets (S, H, W) must be 3-D; got {filters.shape}, {targets.shape}")
    k, kk = filters.shape[1:]
    h, w = targets.shape[1:]
    if k > h or kk > w:
        raise ValueError(f"filters {filters.shape[1:]} are larger than the targets {targets.shape[1:]}")
    f = filters.reshape(len(filters), -1)
    f = f - f.mean(1, keepdims=True)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    best = np.zeros((len(filters), len(targets)))
    for i in range(h - k + 1):
        for j in range(w - kk + 1):
            t = targets[:, i : i + k, j : j + kk].reshape(len(targets), -1)
            t = t - t.mean(1, keepdims=True)
            norm = np.linalg.norm(t, axis=1, keepdims=True)
            t = np.where(norm > 1e-12, t / np.maximum(norm, 1e-12), 0)
            best = np.maximum(best, np.abs(f @ t.T))
    return best


def match_subunits(filters: np.ndarray, subunits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching of learned spatial filters to true subunit profiles on :func:`shifted_correlation`.

    Returns (matched |r| per true subunit (S,), index of the filter matched to each subunit (S,)). Each filter is
    matched to at most one subunit: when a cell has more subunits than there are filters, the subunits left
    unmatched score 0 and get index -1 (a model with too few filters cannot recover them all).
    """
    from scipy.optimize import linear_sum_assignment

    c = shifted_correlation(filters, subunits)
    rows, cols = linear_sum_assignment(-c)
    matched = np.zeros(c.shape[1])
    index = np.full(c.shape[1], -1)
    matched[cols], index[cols] = c[rows, cols], rows
    return matched, index


def envelope_match(envelope: np.ndarray, subunits: np.ndarray, kernel: int) -> np.ndarray:
    """Control for :func:`match_subunits`: the receptive-field envelope (H, W) (e.g. an LN model's spatial filter),
    centre-cropped to ``kernel x kernel`` and offered as the filter for every subunit. A model that only learned the
    envelope, not the subunits, scores this. Returns |r| per subunit (S,).
    """
    envelope = np.asarray(envelope, np.float64)
    h, w = envelope.shape
    if kernel > min(h, w):
        raise ValueError(f"kernel {kernel} is larger than the envelope {envelope.shape}")
    top, left = (h - kernel) // 2, (w - kernel) // 2
    crop = envelope[top : top + kernel, left : left + kernel]
    return match_subunits(np.repeat(crop[None], len(subunits), 0), subunits)[0]


def power_spectrum_slope(images: np.ndarray, fmin: float = 2.0, fmax: float | None = None) -> np.ndarray:
    """Slope of the log radially averaged power spectrum against log spatial frequency, per image.

    ``images`` (n, H, W) grayscale or (n, 3, H, W) colour (averaged to luminance); each image's mean is removed and a
    Hann window applied. The fit uses frequencies ``fmin`` .. ``fmax`` cycles per image (default up to H/2 - 1).
    Natural images have slopes near -2 (power ~ 1/f^2); white noise near 0.
    """
    x = np.asarray(images, np.float64)
    if x.ndim == 4:
        x = x.mean(1)
    if x.ndim != 3 or min(x.shape[1:]) < 8:
        raise ValueError(f"images must be (n, H, W) or (n, C, H, W) with H, W >= 8; got shape {np.shape(images)}")
    _, h, w = x.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    x = (x - x.mean(axis=(1, 2), keepdims=True)) * win
    power = np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(1, 2))) ** 2
    fy, fx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    radius = np.round(np.hypot(fy, fx)).astype(int)
    fmax = min(h, w) // 2 - 1 if fmax is None else fmax
    freqs = np.arange(int(np.ceil(fmin)), int(fmax) + 1)
    if len(freqs) < 3:
        raise ValueError(f"need at least 3 frequencies between fmin={fmin} and fmax={fmax}")
    radial = np.stack([power[:, radius == f].mean(1) for f in freqs], axis=1)
    logf = np.log(freqs)
    logp = np.log(radial + 1e-12)
    a = logf - logf.mean()
    return ((logp - logp.mean(1, keepdims=True)) * a).sum(1) / (a ** 2).sum()


# noise ceilings of repeated recordings (retina: a PSTH over frozen repeats)


def spearman_brown(r: np.ndarray) -> np.ndarray:
    """Reliability of the full data from the correlation ``r`` between two halves: ``2r / (1 + r)``."""
    r = np.asarray(r, dtype=np.float64)
    return 2 * r / (1 + r)


def split_half_reliability(counts: np.ndarray, n_splits: int = 50, seed: int = 0) -> np.ndarray:
    """Split-half PSTH correlation of each cell, Spearman-Brown corrected, averaged over random splits.

    ``counts``: (n_repeats, n_bins, n_cells). The corrected value estimates the correlation between the PSTH of all
    repeats and that of an independent equally large set of repeats; its square root is the best correlation a
    model can reach with the measured PSTH (the ceiling used in this book's retina chapter).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 3 or counts.shape[0] < 2:
        raise ValueError(f"counts must be (n_repeats >= 2, n_bins, n_cells); got shape {counts.shape}")
    rng = np.random.default_rng(seed)
    n = counts.shape[0]
    values = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        a, b = counts[perm[: n // 2]].mean(0), counts[perm[n // 2 : 2 * (n // 2)]].mean(0)
        a, b = a - a.mean(0), b - b.mean(0)
        den = np.sqrt((a**2).sum(0) * (b**2).sum(0))
        values.append(np.where(den > 0, (a * b).sum(0) / np.where(den > 0, den, 1), np.nan))
    return spearman_brown(np.nanmean(np.stack(values), 0))


def bootstrap_median_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
                        ) -> tuple[float, float, float]:
    """(median, low, high): the median (over animals, neurons, images) and its bootstrap percentile interval."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    meds = np.median(rng.choice(v, size=(n_boot, len(v)), replace=True), axis=1)
    lo, hi = np.quantile(meds, [(1 - level) / 2, (1 + level) / 2])
    return float(np.median(v)), float(lo), float(hi)
