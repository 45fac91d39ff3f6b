"""The share of neurons near their limit: CCnorm from image statistics, its bootstrap interval, its bias."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook import limit_share as ls
from neurobook.metrics import normalized_correlation


def _recording(n_images: int, n_repeats: int, n_neurons: int, rho: float, noise_sd: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n_images, n_neurons))
    pred_img = rho * signal + np.sqrt(1 - rho**2) * rng.standard_normal((n_images, n_neurons))
    ids = np.repeat(np.arange(n_images), n_repeats)
    resp = signal[ids] + noise_sd * rng.standard_normal((len(ids), n_neurons))
    return pred_img[ids], resp, ids


def test_image_stats_give_the_metrics_ccnorm():
    pred, resp, ids = _recording(60, 4, 30, 0.8, 1.5)
    stats = ls.image_stats(pred, resp, ids)
    np.testing.assert_allclose(stats.ccnorm(), normalized_correlation(pred, resp, ids), atol=1e-10)
    with pytest.raises(ValueError, match="at least 3 images"):
        ls.image_stats(pred[:2], resp[:2], ids[:2])


def test_share_curve_and_the_corrected_interval_covers_the_truth():
    pred, resp, ids = _recording(100, 10, 400, 0.85, 2.0)
    stats = ls.image_stats(pred, resp, ids)
    curve = ls.share_curve(stats.ccnorm())
    assert list(curve) == list(ls.THRESHOLDS) and all(np.diff(list(curve.values())) <= 0)
    observed = curve[0.9]
    assert observed > 0.1  # no neuron is truly within 10% of its limit, yet the raw share says otherwise
    bias = ls.share_bias(stats, np.full(400, 0.85), thresholds=(0.9,), n_sims=60)
    corrected, lo, hi = bias.corrected_interval(observed, 0.9)
    assert lo <= corrected <= hi and lo == 0.0  # the truth, 0, is inside
    assert corrected < 0.05


def test_share_bias_is_seen_where_it_exists_and_not_where_it_does_not():
    pred, resp, ids = _recording(100, 10, 300, 0.85, 2.0)
    stats = ls.image_stats(pred, resp, ids)
    just_below = np.full(300, 0.85)  # no neuron truly within 10% of its limit
    noisy = ls.share_bias(stats, just_below, thresholds=(0.9,))
    assert noisy.true_share[0.9] == 0.0
    assert noisy.bias()[0.9] > 0.1  # scatter of the estimate lifts neurons over the threshold
    assert 0.01 < noisy.ccnorm_sd < 0.3
    quiet = ls.share_bias(ls.image_stats(*_recording(100, 200, 300, 0.85, 0.2)), just_below, thresholds=(0.9,))
    assert abs(quiet.bias()[0.9]) < 0.02  # almost no noise: the estimator is unbiased
    with pytest.raises(ValueError, match="one value per neuron"):
        ls.share_bias(stats, just_below[:5])


def test_explainable_fraction_and_paired_difference():
    from neurobook.metrics import correlation_to_average, explainable_fraction
    from neurobook.paired_images import mean_corr_to_avg, paired_corr_to_avg_ci

    good, resp, ids = _recording(80, 10, 50, 0.9, 1.0, seed=1)
    frac = explainable_fraction(resp, ids)
    assert abs(np.median(frac) - 0.5) < 0.05 and np.all((frac > 0.2) & (frac < 0.8))  # signal = noise variance
    stats_good = ls.image_stats(good, resp, ids)
    assert mean_corr_to_avg(stats_good) == pytest.approx(np.mean(correlation_to_average(good, resp, ids)))
    rng = np.random.default_rng(2)
    worse = good + 1.5 * rng.standard_normal((80, 50))[ids]  # the same model with extra error per image
    diff = paired_corr_to_avg_ci(stats_good, ls.image_stats(worse, resp, ids), n_boot=300)
    assert diff[1] > 0 and diff[1] <= diff[0] <= diff[2]
    same = paired_corr_to_avg_ci(stats_good, stats_good, n_boot=50)
    assert same == (0.0, 0.0, 0.0)
