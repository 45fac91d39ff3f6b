"""Closed-loop scores and the true cells of a simulated population as a model.

Measured (seed 3, 5 cells per type, 18x32 pink noise): MEIs of the true Gabor cells drive them 2.7-5.8x their best
contrast-matched natural image and 1.00 of their exact optimum; white-noise images of that contrast reach 0.04-0.12
of the best natural image, and one in the MEI's place 0.01-0.23.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.data.simulate import pink_noise_images, simulate_v1_population
from neurobook.inversion import closed_loop_scores, contrast, match_contrast, most_exciting_inputs, to_data_units
from neurobook.models.ground_truth import TrueCellsModel
from neurobook.train import predict

SHAPE = (18, 32)


@pytest.fixture(scope="module")
def population():
    images = pink_noise_images(400, SHAPE, seed=5) * 40 + 120  # data units, like a camera's 0..255
    tiers = np.array(["train"] * 300 + ["validation"] * 50 + ["test"] * 50)
    return simulate_v1_population(images, tiers, np.arange(400), n_per_type=5, seed=3)


@pytest.fixture(scope="module")
def true_cells(population):
    return TrueCellsModel(population.meta["cells"])


def test_true_cells_model_gives_the_simulated_rates(population, true_cells):
    rates = predict(true_cells, population.images, device="cpu")
    np.testing.assert_allclose(rates, population.meta["true_rates"], rtol=2e-4, atol=1e-4)


def test_optimal_stimuli_beat_every_natural_and_random_image_at_their_contrast(population, true_cells):
    bank = population.meta["cells"]
    norm = float(np.sqrt(np.prod(SHAPE)))
    optimal = to_data_units(true_cells, bank.optimal_stimuli(norm))
    assert np.allclose(contrast(true_cells, optimal), norm, rtol=1e-3)
    natural = match_contrast(true_cells, population.images, norm)
    noise = match_contrast(true_cells, np.random.default_rng(0).normal(120, 40, (64, *SHAPE)), norm)
    at_optimum = np.diag(predict(true_cells, optimal, device="cpu"))
    best_other = np.maximum(predict(true_cells, natural, device="cpu").max(0),
                            predict(true_cells, noise, device="cpu").max(0))
    assert np.all(at_optimum >= best_other * 0.999), (at_optimum, best_other)


def test_mei_of_a_true_gabor_cell_beats_its_best_natural_image_and_random_images_do_not(population, true_cells):
    cells = np.flatnonzero(population.meta["cell_types"] == "gabor")
    meis = most_exciting_inputs(true_cells, cells, steps=80, device="cpu", seed=0).standardized
    norm = float(np.sqrt(np.prod(SHAPE)))
    optimal = to_data_units(true_cells, population.meta["cells"].optimal_stimuli(norm)[cells])
    scores = closed_loop_scores(true_cells, to_data_units(true_cells, meis), cells, population.images,
                                optimal=optimal, device="cpu")
    assert (scores["ratio_natural"] > 1.5).all(), scores
    assert (scores["ratio_random"] < 1.0).all(), scores
    assert (scores["ratio_optimal"] > 0.9).all(), scores
    # a random image in place of the MEI does not pass the closed-loop test
    noise = match_contrast(true_cells, np.random.default_rng(1).normal(120, 40, (len(cells), *SHAPE)), norm)
    control = closed_loop_scores(true_cells, noise, cells, population.images, device="cpu")
    assert (control["ratio_natural"] < 1.0).all(), control


def test_closed_loop_scores_bad_input(population, true_cells):
    images = population.images[:3]
    with pytest.raises(ValueError, match="one each"):
        closed_loop_scores(true_cells, images, [0, 1], population.images, device="cpu")
    with pytest.raises(ValueError, match="natural images must be"):
        closed_loop_scores(true_cells, images, [0, 1, 2], population.images[:, :5], device="cpu")
    with pytest.raises(TypeError, match="V1CellBank"):
        TrueCellsModel("not a bank")
