"""Every metric against values worked out by hand on tiny arrays, plus edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook import metrics as M
from neurobook.data.simulate import pink_noise_images, simulate_v1_population

# Three images (ids 0, 1, 2), two repeats each; one neuron.
IDS = np.array([0, 0, 1, 1, 2, 2])
RESP = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 7.0])  # image means 2, 2, 6
PRED = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0])  # image means 1, 2, 3


def test_correlation_by_hand():
    pred = np.array([[1.0, 1.0, 5.0], [2.0, 2.0, 5.0], [3.0, 3.0, 5.0]])
    resp = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 2.0], [4.0, 1.0, 3.0]])
    # column 0: p - mean = (-1, 0, 1), y - mean = (-4/3, -1/3, 5/3)
    #   sum product = 4/3 + 0 + 5/3 = 3; sum p^2 = 2; sum y^2 = (16 + 1 + 25) / 9 = 14/3
    #   r = 3 / sqrt(2 * 14/3) = 3 / sqrt(28/3)
    # column 1: y = (3, 2, 1) is p reversed -> r = -1
    # column 2: constant prediction -> 0 by convention
    expected = [3 / np.sqrt(28 / 3), -1.0, 0.0]
    np.testing.assert_allclose(M.correlation(pred, resp), expected, atol=1e-12)
    np.testing.assert_allclose(M.single_trial_correlation(pred, resp), expected, atol=1e-12)


def test_correlation_1d_returns_float_and_constant_response_is_zero():
    assert isinstance(M.correlation(PRED, RESP), float)
    assert M.correlation(PRED, np.ones(6)) == 0.0


def test_correlation_to_average_by_hand():
    # corr over images of p = (1, 2, 3) and y = (2, 2, 6):
    #   p - mean = (-1, 0, 1); y - mean = (-4/3, -4/3, 8/3)
    #   sum product = 4/3 + 8/3 = 4; sum p^2 = 2; sum y^2 = 96/9 = 32/3
    #   r = 4 / sqrt(2 * 32/3) = 4 / sqrt(64/3) = sqrt(3)/2
    assert M.correlation_to_average(PRED, RESP, IDS) == pytest.approx(np.sqrt(3) / 2)


def test_oracle_correlation_by_hand_two_repeats():
    # Leave-one-out means are the other repeat: o = (3, 1, 2, 2, 7, 5).
    # y - 10/3 = (-7, -1, -4, -4, 5, 11)/3 and o - 10/3 = (-1, -7, -4, -4, 11, 5)/3
    # sum product = (7 + 7 + 16 + 16 + 55 + 55)/9 = 156/9; sum y^2 = sum o^2 = 228/9 -> r = 156/228 = 13/19
    assert M.oracle_correlation(RESP, IDS) == pytest.approx(13 / 19)


def test_oracle_correlation_three_repeats_and_single_shown_images_ignored():
    ids = np.array([0, 0, 0, 1, 1, 1, 7])
    resp = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 100.0])
    # loo means: (2+3)/2, (1+3)/2, (1+2)/2, (6+8)/2, (4+8)/2, (4+6)/2; image 7 has no repeat -> dropped
    loo = np.array([2.5, 2.0, 1.5, 7.0, 6.0, 5.0])
    expected = np.corrcoef(resp[:6], loo)[0, 1]
    assert M.oracle_correlation(resp, ids) == pytest.approx(expected)


def test_feve_by_hand():
    # noise: within-image variances (ddof=1) are 2, 0, 2 -> s2_noise = 4/3
    # Var[y] (ddof=1): sum of squares about 10/3 is 228/9, / 5 -> 76/15; explainable = 76/15 - 20/15 = 56/15
    # prediction = image means (2, 2, 2, 2, 6, 6): MSE = (1 + 1 + 0 + 0 + 1 + 1)/6 = 2/3
    #   FEVE = 1 - (2/3 - 4/3) / (56/15) = 1 + 10/56
    means = np.array([2.0, 2.0, 2.0, 2.0, 6.0, 6.0])
    assert M.feve(means, RESP, IDS) == pytest.approx(1 + 10 / 56)
    # constant prediction 10/3: MSE = 228/54 = 38/9 -> FEVE = 1 - (38/9 - 12/9) * 15/56 = 1 - 390/504
    assert M.feve(np.full(6, 10 / 3), RESP, IDS) == pytest.approx(1 - 390 / 504)


def test_feve_nan_without_explainable_variance():
    # both images have mean 2: Var[y] = 4/3 < s2_noise = 2 -> NaN
    out = M.feve(np.array([2.0, 2, 2, 2]), np.array([1.0, 3, 3, 1]), np.array([0, 0, 1, 1]))
    assert np.isnan(out)


def test_normalized_correlation_by_hand():
    # y_m = (2, 2, 6): Var (ddof=1) = (32/3)/2 = 16/3
    # noise of the means: s2_m / n_m = (2, 0, 2)/2 -> mean 2/3; SP = 16/3 - 2/3 = 14/3
    # p_m = (1, 2, 3): Var = 1; Cov = 4/2 = 2 -> CCnorm = 2 / sqrt(1 * 14/3)
    value = M.normalized_correlation(PRED, RESP, IDS)
    assert value == pytest.approx(2 / np.sqrt(14 / 3))
    # the same as CC_abs / CC_max with CC_max = sqrt(SP / Var(y)) = sqrt(14/16)
    assert value == pytest.approx((np.sqrt(3) / 2) / np.sqrt(14 / 16))


def test_normalized_correlation_edge_cases():
    pred, resp, ids = np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 3, 1]), np.array([0, 0, 1, 1])
    noise_only = M.normalized_correlation(pred, resp, ids)
    assert np.isnan(noise_only)
    assert M.normalized_correlation(np.full(6, 2.0), RESP, IDS) == 0.0
    two = M.normalized_correlation(np.stack([PRED, -PRED], 1), np.stack([RESP, RESP], 1), IDS)
    np.testing.assert_allclose(two, [2 / np.sqrt(14 / 3), -2 / np.sqrt(14 / 3)])


def test_normalized_correlation_of_the_true_rates_is_near_one():
    n_images, reps = 150, 8
    images = np.repeat(pink_noise_images(n_images, (12, 16), seed=3), reps, 0)
    ids = np.repeat(np.arange(n_images), reps)
    tiers = np.full(len(ids), "test")
    data = simulate_v1_population(images, tiers, ids, n_per_type=10, types=("gabor",), seed=1)
    cc = M.normalized_correlation(data.meta["true_rates"], data.responses, ids)
    assert abs(np.nanmean(cc) - 1) < 0.05
    # while the raw correlation to the average is capped by the noise
    assert np.mean(M.correlation_to_average(data.meta["true_rates"], data.responses, ids)) < np.nanmean(cc)


def test_share_within_limit():
    # values >= 0.9 among the non-NaN (0.95, 0.85, 1.1, 0.9): 3 of 4
    assert M.share_within_limit(np.array([0.95, 0.85, np.nan, 1.1, 0.9]), tolerance=0.1) == 0.75
    assert M.share_within_limit(np.array([0.5, 0.7]), tolerance=0.5) == 1.0
    assert np.isnan(M.share_within_limit(np.array([np.nan, np.nan])))
    with pytest.raises(ValueError, match="tolerance"):
        M.share_within_limit(np.array([1.0]), tolerance=2)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="same shape"):
        M.correlation(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="n_trials"):
        M.correlation(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="numpy array"):
        M.correlation("abc", np.zeros(3))
    with pytest.raises(ValueError, match="image_ids"):
        M.correlation_to_average(PRED, RESP, IDS[:3])
    with pytest.raises(ValueError, match="repeats"):
        M.oracle_correlation(RESP, np.arange(6))
    with pytest.raises(ValueError, match="repeats"):
        M.feve(PRED, RESP, np.arange(6))
