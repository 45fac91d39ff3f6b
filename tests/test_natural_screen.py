"""The natural-stimulus screen: on flashed, RF-normalized natural patches the best LN of a known subunit cell fails,
on the old natural movies it does not; the linear-equivalent control, the normalization and the argument checks.

The flash parameters were chosen on other cells (``seed=11``, see :mod:`neurobook.natural_screen`); these use seed 3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from neurobook import natural_screen as ns
from neurobook.data import natural_flash as nf
from neurobook.data.natural_movie import movie_images
from neurobook.data.retina_sim import simulate_retina

SEED = 3


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return movie_images()[0]


@pytest.fixture(scope="module")
def white():
    return simulate_retina(n_cells=4, n_trials=5, seed=SEED)


@pytest.fixture(scope="module")
def cells(white) -> nf.ModelCells:
    return nf.model_cells(white)


@pytest.fixture(scope="module")
def flashes(cells, images):
    return nf.simulate_flashes(cells, images=images, n_trials=2, trial_flashes=60, frozen_flashes=40, seed=SEED)


@pytest.fixture(scope="module")
def ln(white):
    return ns.fit_white_noise_ln(white, penalties=(10.0, 100.0), steps_per_epoch=40, max_epochs=2)


def test_the_rebuilt_cells_are_the_simulated_ones(white, cells):
    assert np.allclose(cells.rates(white.frozen).T, white.meta["true_rate_frozen"], rtol=1e-5)
    assert np.allclose(cells.receptive_fields().sum((1, 2)), 1)
    with pytest.raises(ValueError, match="do not reproduce"):
        nf.model_cells(white, threshold=0.2)
    with pytest.raises(ValueError, match="do not reproduce"):
        nf.model_cells(white, mean_rate=0.4)


def test_a_strong_ln_fails_on_the_flashes_and_not_on_the_old_movies(white, flashes, ln, images):
    table = ns.natural_screen(white, flashes, ln=ln)
    assert flashes.frozen_counts.shape[0] == 15 and 0.8 < table["ceiling"].min() <= table["ceiling"].max() < 0.99
    assert (table["best_ln_fraction"] >= table["ln_fraction"]).all()
    assert 0.2 < table["best_ln_fraction"].median() < 0.85, table
    assert ns.screen_passes(table)
    assert table["ln_uniform_fraction"].median() > table["ln_fraction"].median() + 0.1, table  # LN fine when linear
    movie = simulate_retina(n_cells=4, n_trials=2, trial_frames=600, frozen_frames=300, n_repeats=15, seed=SEED,
                            stimulus="movie", movie_kwargs={"images": images})
    old = ns.natural_screen(white, movie, ln=ln)
    assert old["best_ln_fraction"].median() > 0.85, old
    assert not ns.screen_passes(old)


def test_the_uniform_equivalent_fools_a_linear_cell_but_not_a_subunit_cell(cells, flashes):
    linear = [dict(c, threshold=-10.0, offset=c["offset"] + 10.0) for c in cells.cells]  # never rectified: LN cells
    ln_cells = dataclasses.replace(cells, cells=linear)
    frames = flashes.frozen
    rf = cells.receptive_fields()
    support = flashes.meta["flash"]["weighting"] > 0
    for c in range(cells.n_cells):
        uniform = nf.uniform_equivalent(frames, rf[c], support=support)
        assert len(np.unique(uniform[50][support])) == 1 and not uniform[50][~support].any()
        assert np.allclose(uniform, flashes.meta["uniform_frozen"][c])
        lin_nat, lin_uni = ln_cells.rates(frames)[:, c], ln_cells.rates(uniform)[:, c]
        assert np.abs(lin_nat - lin_uni).max() < 1e-4 * lin_nat.max()
        sub_nat, sub_uni = cells.rates(frames)[:, c], cells.rates(uniform)[:, c]
        assert np.abs(sub_nat - sub_uni).max() > 0.3 * sub_nat.max()
        assert np.allclose(sub_uni, flashes.meta["true_rate_uniform"][c], rtol=1e-5, atol=1e-7)
    # with the wrong weighting (the aperture's Gaussian) even a linear cell tells the two apart
    wrong = nf.uniform_equivalent(frames, flashes.meta["flash"]["weighting"])
    assert np.abs(ln_cells.rates(frames) - ln_cells.rates(wrong)).max() > 1e-2 * ln_cells.rates(frames).max()


def test_patches_are_full_resolution_and_normalized_inside_the_rf(images):
    w = nf.gaussian_weighting(12, sigma=1.7)
    for mean_contrast in (0.0, 0.1):
        p = nf.natural_patches(200, w, contrast=0.4, mean_contrast=mean_contrast, images=images, seed=1)
        m, r = nf.rf_contrast(p.patches, w)
        assert np.allclose(r, 0.4, atol=1e-5) and np.abs(p.patches).max() <= 1 + 1e-6
        assert not p.patches[:, w == 0].any()
        if mean_contrast == 0:
            assert np.abs(m).max() < 1e-6
        else:
            assert 0.05 < np.sqrt(np.mean(m**2)) < 0.15 and np.corrcoef(m, p.raw_mean)[0, 1] > 0.99
    # an unclipped patch is its photograph's full-resolution crop (Weber contrast), normalized
    k = int(np.flatnonzero(p.clipped == 0)[0])
    img = images[p.image_index[k]]
    top, left = p.positions[k]
    crop = img[top : top + 12, left : left + 12] / img.mean() - 1
    mu = (w * crop).sum()
    expected = (0.4 * (crop - mu) / np.sqrt((w * (crop - mu) ** 2).sum()) + m[k]) * (w > 0)
    assert np.allclose(p.patches[k], expected, atol=1e-5)
    frames, onsets = nf.flash_sequence(p.patches[:3], flash_frames=4, grey_frames=2)
    assert frames.shape == (18, 12, 12) and list(onsets) == [2, 8, 14]
    assert not frames[[0, 1, 6, 7]].any() and np.array_equal(frames[8], frames[11])


def test_bad_arguments_are_refused(white, cells, flashes, images):
    w = nf.gaussian_weighting(12)
    with pytest.raises(ValueError, match="contrast > 0"):
        nf.natural_patches(5, w, contrast=0, images=images)
    with pytest.raises(ValueError, match="cannot exceed max_value"):
        nf.natural_patches(5, w, contrast=2.0, images=images)
    with pytest.raises(ValueError, match=">= 0"):
        nf.natural_patches(5, -w, images=images)
    with pytest.raises(ValueError, match="at least 12 pixels"):
        nf.natural_patches(5, w, images=[np.ones((8, 8))])
    with pytest.raises(ValueError, match="found only 0"):
        nf.natural_patches(5, w, images=[np.ones((40, 40))], max_tries=3)
    with pytest.raises(ValueError, match="flash_frames"):
        nf.flash_sequence(np.zeros((2, 12, 12)), flash_frames=0)
    with pytest.raises(ValueError, match="support"):
        nf.uniform_equivalent(np.zeros((2, 12, 12)), w, support=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="sigma and radius"):
        nf.gaussian_weighting(12, sigma=0)
    with pytest.raises(ValueError, match="weighting must be"):
        nf.simulate_flashes(cells, nf.gaussian_weighting(10), images=images)
    movie = simulate_retina(n_cells=1, n_trials=2, trial_frames=50, frozen_frames=20, n_repeats=2, seed=SEED,
                            stimulus="movie", movie_kwargs={"images": images})
    with pytest.raises(ValueError, match="checkerboard simulation"):
        nf.model_cells(movie)
    with pytest.raises(ValueError, match="same cells"):
        ns.natural_screen(white.select_cells([0, 1]), flashes, ln=None)
    with pytest.raises(ValueError, match="limit"):
        ns.screen_passes(pd.DataFrame({"ln_fraction": [0.5]}), limit=0)
    with pytest.raises(ValueError, match="natural_screen's"):
        ns.screen_passes(pd.DataFrame({"corr": [0.5]}))
