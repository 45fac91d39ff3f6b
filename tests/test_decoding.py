"""Decoders on simulated populations with known tuning: they recover the stimulus, controls sit at chance."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.data.simulate_gabor import ideal_observer_accuracy, simulate_gabor_sessions
from neurobook.decoding import (
    SlotDecoder,
    accuracy,
    build_population,
    confusion_matrix,
    decode_labels,
    decode_logistic,
    decode_neural,
    few_shot_mask,
    population_from_trials,
    position_error_deg,
    predict_slots,
    split_by_repeat,
    transfer_across_animals,
    units_curve,
    wilson_ci,
)


def test_population_lines_up_sessions_by_condition(sim):
    sessions, pop = sim
    assert pop.x.shape == (3, 243 * 6, max(s.n_units for s in sessions)) and bool(pop.present.all())
    assert set(pop.split) == {"train", "validation", "test"} and (pop.split == "test").sum() == 243 * 2
    for a, s in enumerate(sessions):  # the aligned trial of condition c holds a trial of condition c
        idx = s.aligned_index(6)
        assert np.array_equal(s.condition[idx].reshape(-1), pop.condition)
        rank = np.argsort(np.argsort(s.counts[idx.reshape(-1), 0]))  # monotone transform keeps the ordering
        assert np.array_equal(rank, np.argsort(np.argsort(pop.x[a, :, 0].numpy())))


def test_logistic_recovers_position_and_shuffled_labels_fail(sim):
    sessions, pop = sim
    ideal = np.array([ideal_observer_accuracy(s, "position") for s in sessions])
    fit = decode_logistic(pop, "position", l2_grid=(1e-3, 1e-2), steps=80, seed=0)
    acc = fit.accuracy()  # 3 training repeats per condition here: well above chance, below the ideal observer
    assert np.all(acc > 10 * fit.chance) and np.all(acc > 0.35 * ideal) and np.all(acc <= ideal + 0.08)
    shuffled = decode_logistic(pop, "position", l2_grid=(1e-2,), steps=80, seed=0, shuffle_labels=True).accuracy()
    assert np.all(shuffled < 3 * fit.chance)
    table = fit.table()
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()


def test_neural_decoder_recovers_orientation_and_untrained_is_at_chance(sim):
    sessions, pop = sim
    ideal = np.array([ideal_observer_accuracy(s, "orientation") for s in sessions])
    fit = decode_neural(pop, "orientation", latent=16, hidden=32, steps=150, eval_every=50, seed=0)
    assert np.all(fit.accuracy() > 0.45) and np.all(fit.accuracy() <= ideal + 0.08)  # chance 1/3
    untrained = SlotDecoder(pop.n_animals, 1, pop.x.shape[2], 3, latent=16, hidden=32)
    pred = predict_slots(untrained, pop)[:, 0]
    assert np.all(accuracy(pred, pop.labels("orientation"), pop.mask("test").numpy()) < 0.42)


def test_units_curve_increases(sim):
    _, pop = sim
    curve = units_curve(pop, "position", [2, 30], steps=120)
    by_n = curve.groupby("n_units")["accuracy"].mean()
    assert by_n[30] > by_n[2] + 0.1 and len(curve) == 6


def test_transfer_adapts_held_out_animals():
    sessions = simulate_gabor_sessions(5, (30, 40), n_repeats=6, seed=1, gain=6.0, rf_sigma_deg=12.0)
    pop = build_population(sessions, n_repeats=6, n_val_repeats=1, n_components=24)
    res = transfer_across_animals(pop, "position", n_folds=5, shots=(1, 3), latent=16, hidden=64, steps=200,
                                  adapt_steps=100, seed=0)
    assert res.adapted.shape == (5, 2) and sorted(res.folds.tolist()) == [0, 1, 2, 3, 4] and len(res.table()) == 10
    # with one trial per class, the classifier learned on the other animals helps: adapted beats from scratch
    assert np.all(res.adapted[:, 0] > 4 / 81) and res.adapted[:, 0].mean() > 1.2 * res.scratch[:, 0].mean()
    with pytest.raises(ValueError, match="fewer shots"):
        few_shot_mask(pop, pop.labels("position"), [50])
    with pytest.raises(ValueError, match="n_folds"):
        transfer_across_animals(pop, "orientation", n_folds=9)
    with pytest.raises(ValueError, match="task must be"):
        decode_logistic(pop, "colour")
    with pytest.raises(ValueError, match="principal components"):
        units_curve(pop, "position", [5])


def test_scores():
    lo, hi = wilson_ci(5, 10)
    assert 0.2 < lo < 0.5 < hi < 0.8
    grid = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert position_error_deg(np.array([1, 0]), np.array([0, 0]), grid).tolist() == [5.0, 0.0]
    cm = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    assert np.allclose(cm, [[0.5, 0.5], [0, 1]])
    assert np.isnan(accuracy(np.array([[1, 2]]), np.array([1, 2]), np.array([[False, False]]))[0])


def test_image_identity_from_trials():
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(20), 9)
    means = rng.gamma(2.0, 1.0, (20, 60))
    responses = rng.poisson(means[labels]).astype(float)
    split = split_by_repeat(labels)
    assert (split == "test").sum() == 60 and (split == "validation").sum() == 20
    pop = population_from_trials(responses, labels, split, n_components=30)
    fit = decode_labels(pop, labels, l2_grid=(1e-2,), steps=100)
    shuffled = decode_labels(pop, labels, l2_grid=(1e-2,), steps=100, shuffle_labels=True)
    assert fit.chance == 1 / 20 and fit.accuracy()[0] > 0.6 and shuffled.accuracy()[0] < 0.2
    with pytest.raises(ValueError, match="train and test"):
        population_from_trials(responses, labels, np.full(len(labels), "train"))


def test_paired_area_accuracy_compares_within_the_same_animals():
    import pandas as pd

    from neurobook.decoding import paired_area_accuracy

    table = pd.DataFrame({"session": [1, 1, 1, 2, 2, 3, 3],
                          "area": ["LGd", "VISp", "VISl", "LGd", "VISl", "VISp", "VISl"],
                          "accuracy": [0.1, 0.3, 0.4, 0.2, 0.25, 0.5, 0.6]})
    out = paired_area_accuracy(table, "LGd", ("VISp", "VISl"), reference="VISp")
    assert out.index.tolist() == [1, 2]  # mouse 3 has no LGd
    assert out.loc[1].tolist() == [0.1, 0.3, 0.4]
    assert out.loc[2, "LGd"] == 0.2 and np.isnan(out.loc[2, "VISp"]) and out.loc[2, "best of others"] == 0.25
    assert paired_area_accuracy(table, "LP", ("VISp",), reference="VISp").empty
    with pytest.raises(ValueError, match="lacks columns"):
        paired_area_accuracy(table.drop(columns="accuracy"), "LGd", ("VISp",), reference="VISp")
