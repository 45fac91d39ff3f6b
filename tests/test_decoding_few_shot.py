"""Few-shot alternatives to transfer, trial savings and the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.decoding import (
    compare_few_shot,
    few_shot_alternatives,
    few_shot_mask,
    paired_bootstrap_ci,
    transfer_across_animals,
    trial_savings,
)
from neurobook.decoding.few_shot import FewShotComparison


def _correct(rng, p, shape):
    return rng.random(shape) < p


def test_paired_bootstrap_excludes_zero_only_for_a_real_difference():
    rng = np.random.default_rng(0)
    shape = (20, 400)
    mask = np.ones(shape, bool)
    base = _correct(rng, 0.4, shape)
    better = base | _correct(rng, 0.1, shape)  # A right wherever B is, and on some more trials
    med, lo, hi = paired_bootstrap_ci(better, base, mask, seed=1)
    assert 0 < lo <= med <= hi
    assert abs(med - 0.06) < 0.03
    same_level = _correct(rng, 0.4, shape)  # an independent decoder at the same accuracy
    med, lo, hi = paired_bootstrap_ci(same_level, base, mask, seed=1)
    assert lo < 0 < hi
    med_a, lo_a, hi_a = paired_bootstrap_ci(better, base, mask, trials=False, seed=1)
    assert med_a == pytest.approx(np.median((better & mask).mean(1) - (base & mask).mean(1)))
    assert hi_a - lo_a <= hi - lo + 1e-9  # resampling trials as well can only widen the interval here
    with pytest.raises(ValueError, match="n_animals, n_trials"):
        paired_bootstrap_ci(better, base[:, :10], mask)


def test_trial_savings_interpolates_in_log_shots():
    shots = [1, 2, 5, 10, 20]
    curve = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    assert trial_savings(shots, curve, 0.4, at=5) == pytest.approx(2.0)
    assert trial_savings(shots, curve, 0.35, at=5) == pytest.approx(np.sqrt(50) / 5)
    assert trial_savings(shots, curve, 0.6, at=5) == np.inf
    assert trial_savings(shots, curve, 0.05, at=5) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="increase"):
        trial_savings([5, 2], [0.1, 0.2], 0.1, at=5)


def test_the_best_alternative_is_chosen_on_validation_not_test():
    labels = np.zeros(8, int)  # class 0 everywhere: a prediction of 0 is right, 1 is wrong
    test = np.array([[1, 1, 1, 1, 0, 0, 0, 0]], bool)
    val = ~test
    right_on_test = np.array([[[0, 0, 0, 0, 1, 1, 1, 1]]])
    right_on_val = 1 - right_on_test
    comp = FewShotComparison("position", [5], {"logistic": right_on_test, "poisson": right_on_val}, labels, test,
                             val, [0])
    assert comp.best_alternative() == ["poisson"]
    assert comp.best_alternative_accuracy()[0, 0] == 0.0  # its test accuracy, whatever it is
    assert comp.accuracy("logistic")[0, 0] == 1.0


def test_alternatives_train_on_the_adapted_decoders_trials(sim):
    sessions, pop = sim
    shots = [1, 3, 9]
    alts = few_shot_alternatives(sessions, pop, "position", shots, seed=0, poisson_steps=60)
    assert set(alts) == {"logistic", "poisson"}
    assert alts["logistic"].shape == (pop.n_animals, len(shots), pop.n_trials)
    transfer = transfer_across_animals(pop, "position", n_folds=3, shots=[1, 3], latent=16, hidden=32, steps=40,
                                       adapt_steps=30, batch_size=64, seed=0)
    comp = compare_few_shot(transfer, alts, shots, pop)
    acc = {name: np.nanmedian(comp.accuracy(name), axis=0) for name in comp.predictions}
    assert np.isnan(acc["adapted"][2]) and np.isfinite(acc["adapted"][:2]).all()
    for name in ("logistic", "poisson"):
        assert acc[name][2] > acc[name][0] + 0.1, f"{name}: more labelled trials must help"
    assert acc["poisson"][2] > 5 / 81
    # the masks are the nested sets of few_shot_mask with the same seed: one trial per class at the first count
    mask = few_shot_mask(pop, pop.labels("position"), shots, 0).cpu().numpy()
    per_class = np.bincount(pop.labels("position")[mask[0, 0]], minlength=81)
    assert per_class.max() == 1
    assert set(comp.table().columns) >= {"best alternative (on validation)", "logistic", "adapted"}
