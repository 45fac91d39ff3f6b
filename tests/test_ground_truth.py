"""End to end on simulated neurons with known filters: fit -> predict -> invert -> classify.

Measured on 2 CPU cores (seed 0, fit ~10 s): held-out correlation to the repeat average 0.95 on
average (min 0.87; CCnorm 0.96) for the trained CNN, -0.02 for the untrained one; MEI |r| with the
true filter 0.78-0.98 (15 of 16 above 0.8), untrained 0.04-0.25; gradient-RF |r| 0.85-0.99. The
thresholds below leave a margin but fail for an untrained model. Closed loop: the trained CNN's MEIs drive the true
cells 2.5-4.8x their best natural image at the same contrast (random images: at most 0.12x), an untrained CNN's
0.01-0.87x; all 16 MEIs get their type's label.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook.data.simulate import pink_noise_images, simulate_v1_population
from neurobook.evaluation import label_accuracy
from neurobook.inversion import closed_loop_scores, gradient_receptive_fields, most_exciting_inputs, to_data_units
from neurobook.metrics import correlation_to_average
from neurobook.models import build_model
from neurobook.models.ground_truth import TrueCellsModel
from neurobook.rf_fit import characterize, classify_rf
from neurobook.train import fit, predict

SHAPE = (18, 32)
N_TRAIN, N_VAL, N_TEST, REPEATS = 1500, 200, 40, 10
ARCH = {"hidden_channels": 16, "layers": 2, "input_kernel": 9, "hidden_kernel": 5}
MIN_MEAN_CC = 0.85  # mean held-out correlation to average (measured 0.95)
MIN_FILTER_R = 0.8  # |r| of MEI / gradient RF with the true filter (measured median ~0.96)
MIN_SHARE = 0.75  # share of neurons that must pass MIN_FILTER_R


@pytest.fixture(scope="module")
def simulated():
    images = pink_noise_images(N_TRAIN + N_VAL + N_TEST, SHAPE, seed=1)
    trials = np.concatenate([images[: N_TRAIN + N_VAL], np.repeat(images[N_TRAIN + N_VAL :], REPEATS, 0)])
    tiers = np.array(["train"] * N_TRAIN + ["validation"] * N_VAL + ["test"] * (N_TEST * REPEATS))
    test_ids = np.repeat(np.arange(N_TEST) + N_TRAIN + N_VAL, REPEATS)
    ids = np.concatenate([np.arange(N_TRAIN + N_VAL), test_ids])
    return simulate_v1_population(
        trials, tiers, ids, n_per_type=8, types=("gabor", "dog"), mean_rate=2.0, seed=0
    )


@pytest.fixture(scope="module")
def trained(simulated):
    torch.manual_seed(0)
    model = build_model("cnn_gaussian", SHAPE, simulated.n_neurons, **ARCH)
    result = fit(model, simulated, epochs=10, batch_size=64, lr=5e-3, patience=3, device="cpu")
    return result


def _abs_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) for x, y in zip(a, b, strict=True)])


def test_trained_cnn_predicts_held_out_responses_and_untrained_does_not(simulated, trained):
    test = simulated.tier("test")
    pred = predict(trained.model, test.images, device="cpu")
    cc = correlation_to_average(pred, test.responses, test.image_ids)
    assert cc.mean() > MIN_MEAN_CC, cc
    assert trained.best_val_corr > 0.5
    untrained = build_model("cnn_gaussian", SHAPE, simulated.n_neurons, **ARCH)
    untrained.set_input_stats(float(trained.model.input_mean), float(trained.model.input_std))
    pred0 = predict(untrained, test.images, device="cpu")
    cc0 = correlation_to_average(pred0, test.responses, test.image_ids)
    assert cc0.mean() < MIN_MEAN_CC


def test_mei_and_gradient_rf_match_the_true_filters(simulated, trained):
    neurons = list(range(simulated.n_neurons))
    true = simulated.meta["true_filters"]
    mei = most_exciting_inputs(trained.model, neurons, steps=150, device="cpu").standardized
    grf = gradient_receptive_fields(trained.model, neurons, device="cpu")
    assert np.mean(_abs_r(mei, true) > MIN_FILTER_R) >= MIN_SHARE, _abs_r(mei, true)
    assert np.mean(_abs_r(grf, true) > MIN_FILTER_R) >= MIN_SHARE, _abs_r(grf, true)
    untrained = build_model("cnn_gaussian", SHAPE, simulated.n_neurons, **ARCH)
    mei0 = most_exciting_inputs(untrained, neurons, steps=30, device="cpu").standardized
    assert np.mean(_abs_r(mei0, true) > MIN_FILTER_R) < MIN_SHARE


def test_rf_fit_labels_the_true_filters(simulated):
    filters, types = simulated.meta["true_filters"], simulated.meta["cell_types"]
    expected = {"gabor": "gabor", "dog": "center_surround"}
    labels = [classify_rf(f) for f in filters]
    assert labels == [expected[t] for t in types]


def test_meis_of_the_fitted_cnn_pass_the_closed_loop_and_get_their_types_label(simulated, trained):
    """Shown to the true cells, the fitted CNN's MEIs drive them beyond their best natural image (at the MEI's
    contrast); an untrained CNN's do not. Labels of the fitted MEIs match the cells' types."""
    cells = TrueCellsModel(simulated.meta["cells"])
    neurons = np.arange(simulated.n_neurons)
    natural = simulated.tier("train").images
    mei = most_exciting_inputs(trained.model, neurons, steps=150, device="cpu").standardized
    scores = closed_loop_scores(cells, to_data_units(trained.model, mei), neurons, natural, device="cpu")
    assert np.mean(scores["ratio_natural"] > 1.0) >= MIN_SHARE, scores
    assert (scores["ratio_random"] < 1.0).all(), scores
    labels = characterize(mei)["label"].to_numpy()
    assert (label_accuracy(simulated.meta["cell_types"], labels) >= 0.8).all(), labels
    untrained = build_model("cnn_gaussian", SHAPE, simulated.n_neurons, **ARCH)
    untrained.set_input_stats(float(trained.model.input_mean), float(trained.model.input_std))
    mei0 = most_exciting_inputs(untrained, neurons, steps=30, device="cpu").standardized
    scores0 = closed_loop_scores(cells, to_data_units(untrained, mei0), neurons, natural, device="cpu")
    assert np.mean(scores0["ratio_natural"] > 1.0) < MIN_SHARE, scores0
