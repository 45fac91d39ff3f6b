"""Units aligned across mice by receptive field, and the train-on-one-mouse, test-on-the-others protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook import decoding
from neurobook.data.allen_gabor import N_POSITIONS
from neurobook.data.simulate_gabor import simulate_gabor_sessions


@pytest.fixture(scope="module")
def sims():
    sessions = simulate_gabor_sessions(4, (60, 100), seed=3)
    return sessions, decoding.build_population(sessions)


def test_rf_centres_recover_the_true_peaks(sims):
    sessions, pop = sims
    for a, s in enumerate(sessions):
        true = s.meta["rates"].reshape(N_POSITIONS, 3, -1).mean(1).argmax(0)  # peak position of each unit
        est = decoding.rf_centres(pop, a)
        dist = np.hypot(est % 9 - true % 9, est // 9 - true // 9)
        assert np.median(dist) <= 1.0  # grid steps
        assert np.mean(dist <= 2) > 0.7


def test_rf_centres_use_train_repeats_only(sims):
    _, pop = sims
    before = decoding.rf_centres(pop, 0)
    x = pop.x.clone()
    hidden = torch.as_tensor(pop.split != "train")
    pop.x[0][hidden] = torch.randn_like(pop.x[0][hidden]) * 10
    try:
        np.testing.assert_array_equal(decoding.rf_centres(pop, 0), before)
    finally:
        pop.x.copy_(x)


def test_aligned_decoder_reads_other_mice_and_unaligned_components_cannot(sims):
    sessions, pop = sims
    aligned = decoding.aligned_population(pop, by_orientation=False)
    assert aligned.x.shape[2] == N_POSITIONS and bool(aligned.unit_mask.all())
    cross = decoding.cross_animal_accuracy(aligned, "position")
    assert cross.accuracy.shape == (4, 4)
    assert np.all(cross.within() > 0.15) and np.all(cross.across() > 5 / 81)  # chance is 1/81
    assert cross.across_validation() > 5 / 81
    pcs = decoding.cross_animal_accuracy(decoding.build_population(sessions, n_components=30), "position")
    assert np.all(pcs.within() > 0.15)  # the components do decode their own mouse
    assert np.all(pcs.across() < 3 / 81)  # but their order means nothing in another mouse
    assert np.median(cross.across() - pcs.across()) > 0.05


def test_orientation_needs_channels_by_preferred_orientation(sims):
    _, pop = sims
    by_position = decoding.cross_animal_accuracy(decoding.aligned_population(pop, by_orientation=False),
                                                 "orientation")
    by_both = decoding.cross_animal_accuracy(decoding.aligned_population(pop), "orientation")
    assert decoding.aligned_population(pop).x.shape[2] == 3 * N_POSITIONS
    assert np.median(by_position.across()) < 0.42  # chance 1/3: a channel mixes all preferences
    assert np.median(by_both.across()) > np.median(by_position.across()) + 0.1
    assert by_both.across_validation() > by_position.across_validation()


def test_aligned_needs_units(sims):
    sessions, _ = sims
    with pytest.raises(ValueError, match="population of units"):
        decoding.aligned_population(decoding.build_population(sessions, n_components=10))
