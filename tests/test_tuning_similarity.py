"""Brain-Score-style distribution similarity: identical distributions score ~1, shifted ones score less."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.data.tuning_literature import ReferenceHistogram, load_v1_tuning_literature
from neurobook.tuning_similarity import distribution_similarity, ks_similarity, sample_reference, similarity_ceiling

REF = ReferenceHistogram("cv", np.linspace(0, 1, 11), np.array([2, 5, 10, 20, 30, 30, 20, 10, 5, 2.0]), "", "test")


def test_ks_similarity_extremes():
    q = REF.counts / REF.counts.sum()
    assert ks_similarity(q, q) == pytest.approx(1.0)
    first = np.zeros(10)
    first[0] = 1
    last = np.zeros(10)
    last[-1] = 1
    assert min(ks_similarity(first, q), ks_similarity(last, q)) == pytest.approx(0.0, abs=1e-12)


def test_identical_distribution_scores_near_one_and_shifted_ones_less():
    same = sample_reference(REF, 2000, seed=1)
    s_same = distribution_similarity(same, REF, n_boot=200)
    assert 0.9 < s_same < 1.1
    shifted = np.clip(same + 0.2, 0, 1)
    far = np.clip(same + 0.5, 0, 1)
    s_shift = distribution_similarity(shifted, REF, n_boot=200)
    s_far = distribution_similarity(far, REF, n_boot=200)
    assert s_far < s_shift < 0.8 * s_same
    assert distribution_similarity(np.full(50, 0.05), REF, n_boot=200) < 0.3
    assert np.isnan(distribution_similarity(np.array([np.nan, np.nan]), REF))


def test_ceiling_is_below_one_and_unceiled_is_smaller():
    c = similarity_ceiling(REF, n_boot=300)
    assert 0.7 < c < 1.0
    same = sample_reference(REF, 2000, seed=2)
    assert distribution_similarity(same, REF, n_boot=200, ceiled=False) < distribution_similarity(same, REF, n_boot=200)


def test_reference_loader_reads_the_published_histograms(data_root):
    refs = load_v1_tuning_literature(data_root)
    assert refs["circular_variance"].n == 304 and len(refs["circular_variance"].edges) == 14
    assert refs["surround_suppression_index"].n == 190
    assert refs["peak_spatial_frequency"].n == 363 and refs["peak_spatial_frequency"].log_bins
    assert refs["spatial_frequency_bandwidth"].n == 73
    assert refs["grating_summation_field"].n == 148
    assert refs["modulation_ratio"].counts.tolist()[:3] == [70, 47, 38]
