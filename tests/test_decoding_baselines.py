"""The fair logistic baseline (L-BFGS to convergence, L2 chosen on validation, refit) and unit quality from the
training repeats only, on simulated populations with known tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import minimize

from neurobook.data.allen_gabor import GaborSession
from neurobook.data.simulate_gabor import ideal_observer_accuracy, simulate_gabor_sessions
from neurobook.decoding import (
    SlotDecoder,
    build_population,
    convergence_report,
    decode_logistic_baseline,
    fit_logistic_lbfgs,
    rf_anova_pvalues,
    select_train_qc,
    train_qc_mask,
    train_slots,
)


def _objective(x: np.ndarray, y: np.ndarray, l2: float, n_classes: int):
    """Mean cross-entropy + l2 ||W||^2 and its gradient, in float64 numpy (an independent implementation)."""
    d = x.shape[1]

    def fg(theta):
        w, b = theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes:]
        z = x @ w + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y]).mean() + l2 * (w**2).sum()
        p[np.arange(len(y)), y] -= 1
        p /= len(y)
        return loss, np.concatenate([(x.T @ p + 2 * l2 * w).ravel(), p.sum(0)])

    return fg


def test_lbfgs_reaches_the_optimum_of_an_independent_solver(sim):
    _, pop = sim
    labels = pop.labels("position")
    fit = fit_logistic_lbfgs(pop, labels, [1e-1, 1e-2], gtol=1e-5)
    assert fit.converged.all() and not fit.stalled.any() and (fit.n_iter > 1).all()
    train = pop.mask("train")[0].numpy()
    x = pop.x[0].numpy()[train][:, : pop.n_units[0]].astype(np.float64)
    ref = minimize(_objective(x, labels[train], 1e-2, 81), np.zeros(x.shape[1] * 81 + 81), jac=True,
                   method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-9, "ftol": 1e-15})
    assert abs(fit.loss[0, 1] - ref.fun) < 1e-5 * ref.fun
    w, b = fit.slot_weights(pop)  # the SlotDecoder layout predicts the same classes
    model = SlotDecoder(pop.n_animals, 2, pop.x.shape[2], 81)
    with torch.no_grad():
        model.w_in.copy_(w)
        model.b_in.copy_(b[:, :, None])
        assert np.array_equal(model(pop.x).argmax(-1).numpy(), fit.predict(pop))


def test_a_short_adam_fit_is_reported_not_converged_and_lbfgs_is(sim):
    _, pop = sim
    labels, l2 = pop.labels("position"), 1e-2
    # the old baseline: fit_logistic(..., steps=150), i.e. 150 AdamW minibatch steps of a SlotDecoder
    model = SlotDecoder(pop.n_animals, 1, pop.x.shape[2], 81, seed=0)
    train_slots(model, pop, labels, pop.mask("train")[:, None], steps=150, lr=2e-2, batch_size=512,
                l2=torch.tensor([l2]), seed=0)
    adam = convergence_report(pop, labels, model.w_in, model.b_in, [l2])
    lbfgs = fit_logistic_lbfgs(pop, labels, [l2])
    done = convergence_report(pop, labels, *lbfgs.slot_weights(pop), [l2])
    assert not adam.converged.any() and (adam.grad_max > 10 * adam.gtol).all()
    assert done.converged.all() and np.array_equal(done.converged, lbfgs.converged)
    assert (adam.loss > done.loss).all() and (adam.loss_drop > 1e-3).all() and (done.loss_drop < 1e-4).all()
    assert (adam.rel_grad > 10 * done.rel_grad).all()
    capped = fit_logistic_lbfgs(pop, labels, [l2], max_iter=3)  # too few iterations of L-BFGS itself: flagged
    assert not capped.converged.any() and (capped.n_iter == 3).all()


def test_baseline_chooses_l2_on_validation_refits_and_decodes(sim):
    sessions, pop = sim
    res = decode_logistic_baseline(pop, "position", l2_grid=(1e-1, 1e-2, 1e-3))
    ideal = np.array([ideal_observer_accuracy(s, "position") for s in sessions])
    acc = res.accuracy()
    assert np.all(acc > 10 * res.chance) and np.all(acc > 0.35 * ideal) and np.all(acc <= ideal + 0.08)
    c = res.chosen
    assert set(c["l2"]) <= {1e-1, 1e-2, 1e-3} and c["converged"].all() and c["grid_converged"].all()
    assert c["grid_val_accuracy"].shape == (3, 3) and np.allclose(c["val_accuracy"], c["grid_val_accuracy"].max(1))
    n_train, n_fit = (pop.split == "train").sum(), (pop.split != "test").sum()
    assert np.allclose(c["refit_l2"], c["l2"] * n_train / n_fit)
    assert {"l2", "val_accuracy", "n_iter", "converged"} <= set(res.table().columns)
    shuffled = decode_logistic_baseline(pop, "position", l2_grid=(1e-2,), shuffle_labels=True).accuracy()
    assert np.all(shuffled < 3 * res.chance)
    orient = decode_logistic_baseline(pop, "orientation", l2_grid=(1.0, 1e-1))
    ideal = np.array([ideal_observer_accuracy(s, "orientation") for s in sessions])
    assert np.all(orient.accuracy() > 0.42) and np.all(orient.accuracy() <= ideal + 0.08) and orient.pred.max() <= 2


def test_baseline_never_reads_the_test_repeats(sim):
    sessions, pop = sim
    res = decode_logistic_baseline(pop, "position", l2_grid=(1e-1, 1e-2))
    test = pop.split == "test"
    noisy = build_population(sessions, n_repeats=6, n_val_repeats=1)
    noisy.x[:, torch.as_tensor(test)] = torch.randn_like(noisy.x[:, torch.as_tensor(test)])
    again = decode_logistic_baseline(noisy, "position", l2_grid=(1e-1, 1e-2))
    assert np.array_equal(res.chosen["l2"], again.chosen["l2"])
    assert np.array_equal(res.pred[:, ~test], again.pred[:, ~test])


def test_bad_arguments_fail_clearly(sim):
    _, pop = sim
    with pytest.raises(ValueError, match="task"):
        decode_logistic_baseline(pop, "colour")
    with pytest.raises(ValueError, match="labels"):
        fit_logistic_lbfgs(pop, np.zeros(3, int), [1e-2])
    with pytest.raises(ValueError, match="l2"):
        fit_logistic_lbfgs(pop, pop.labels("position"), np.ones((2, 2)))
    with pytest.raises(ValueError, match="init"):
        fit_logistic_lbfgs(pop, pop.labels("position"), [1e-2], init=[torch.zeros(2, 1, 81)] * 3)


def _with_untuned(n_untuned: int, seed: int = 0) -> tuple[GaborSession, np.ndarray]:
    """A simulated session with its tuned units followed by ``n_untuned`` units of constant rate; and which are
    tuned."""
    s = simulate_gabor_sessions(1, 300, seed=seed)[0]
    rng = np.random.default_rng(seed + 1)
    rate = rng.uniform(0.1, 3.0, n_untuned)  # spikes per window, like the tuned units' baselines and peaks
    flat = rng.poisson(np.broadcast_to(rate, (s.n_trials, n_untuned))).astype(np.float32)
    n = s.n_units + n_untuned
    units = pd.DataFrame({"ecephys_unit_id": np.arange(n), "ecephys_structure_acronym": "VISp"})
    mixed = GaborSession(s.session_id, np.hstack([s.counts, flat]), s.x_deg, s.y_deg, s.orientation_deg, s.repeat,
                         s.split, units["ecephys_unit_id"].to_numpy(), np.full(n, "VISp"), units, "none")
    return mixed, np.arange(n) < s.n_units


def test_train_qc_keeps_tuned_units_and_drops_untuned_at_the_p_threshold():
    session, tuned = _with_untuned(3000)
    for alpha in (0.01, 0.05):
        keep = train_qc_mask(session, alpha=alpha, min_rate_hz=0.0)
        assert keep[tuned].mean() > 0.97
        fpr, n = keep[~tuned].mean(), (~tuned).sum()
        assert abs(fpr - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / n), (alpha, fpr)
    p = rf_anova_pvalues(session)
    assert np.all((p >= 0) & (p <= 1)) and np.median(p[tuned]) < 1e-6
    silent = session.counts.copy()
    silent[:, 0] = 0.0  # a unit that never fires, and one below the rate floor
    silent[:, 1] = 0.0
    silent[:5, 1] = 1.0
    quiet = GaborSession(session.session_id, silent, session.x_deg, session.y_deg, session.orientation_deg,
                         session.repeat, session.split, session.unit_ids, session.areas, session.units, "none")
    assert rf_anova_pvalues(quiet)[0] == 1.0 and not train_qc_mask(quiet, min_rate_hz=0.1)[:2].any()


def test_train_qc_ignores_test_repeat_counts():
    session, _ = _with_untuned(300)
    keep = train_qc_mask(session)
    test = session.split == "test"
    changed = session.counts.copy()
    changed[test] = np.random.default_rng(5).poisson(5.0, changed[test].shape)  # test trials replaced entirely
    other = GaborSession(session.session_id, changed, session.x_deg, session.y_deg, session.orientation_deg,
                         session.repeat, session.split, session.unit_ids, session.areas, session.units, "none")
    assert np.array_equal(train_qc_mask(other), keep)
    assert np.array_equal(rf_anova_pvalues(other), rf_anova_pvalues(session))
    changed[~test] = np.random.default_rng(6).poisson(5.0, changed[~test].shape)  # the check can fail
    trained = GaborSession(session.session_id, changed, session.x_deg, session.y_deg, session.orientation_deg,
                           session.repeat, session.split, session.unit_ids, session.areas, session.units, "none")
    assert not np.array_equal(train_qc_mask(trained), keep)


def test_select_train_qc_and_unit_table_criteria():
    session, tuned = _with_untuned(200)
    session.units["snr"] = np.where(np.arange(session.n_units) % 10 == 0, 0.5, 2.0)
    (picked,) = select_train_qc([session])
    keep = train_qc_mask(session)
    assert picked.n_units == keep.sum() and picked.quality == "train_qc"
    assert not keep[np.arange(session.n_units) % 10 == 0].any()
    assert train_qc_mask(session, spike_sorting=False)[tuned & (np.arange(session.n_units) % 10 == 0)].any()
    with pytest.raises(ValueError, match="alpha"):
        train_qc_mask(session, alpha=1.5)
