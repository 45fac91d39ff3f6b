"""Retina: the simulator's statistics, the history container, models and subunit recovery on model cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook import metrics
from neurobook.data.retina import RetinaRecording, history_stack
from neurobook.data.retina_sim import biphasic_filter, simulate_retina
from neurobook.metrics import spearman_brown, split_half_reliability
from neurobook.models.retina import build_retina_model, spatiotemporal_filters
from neurobook.train import fit, predict


@pytest.fixture(scope="module")
def rec() -> RetinaRecording:
    return simulate_retina(n_cells=4, n_trials=6, seed=0)


def test_simulator_statistics(rec):
    counts = np.concatenate(rec.counts)
    assert counts.shape == (6 * 1500, 4)
    np.testing.assert_allclose(counts.mean(0), 0.3, rtol=0.05)  # mean rate as asked
    frames = np.concatenate(rec.frames)
    assert set(np.unique(frames)) == {-1, 1} and abs(frames.mean()) < 0.01  # balanced binary checkerboard
    assert rec.frozen_counts.shape == (40, 300, 4)
    # the repeats are Poisson around the known rate: the PSTH tracks the true rate
    psth = rec.frozen_counts.mean(0)
    for c in range(4):
        assert np.corrcoef(psth[:, c], rec.meta["true_rate_frozen"][c])[0, 1] > 0.9
    # OFF cells have a negative STA at the filter's peak lag, ON cells a positive one
    sta = rec.spike_triggered_average(12)
    peak_lag = int(np.argmax(biphasic_filter(12)))
    centre = sta[:, peak_lag, 4:8, 4:8].mean((1, 2))
    assert np.array_equal(np.sign(centre), rec.meta["polarity"])


def test_same_seed_same_recording():
    a, b = simulate_retina(n_cells=2, n_trials=2, trial_frames=200, seed=3), simulate_retina(
        n_cells=2, n_trials=2, trial_frames=200, seed=3)
    assert np.array_equal(a.counts[1], b.counts[1]) and np.array_equal(a.frames[0], b.frames[0])


def test_reliability_ceiling_is_consistent(rec):
    rel = split_half_reliability(rec.test_counts(12))
    true = rec.meta["true_rate_frozen"][:, 11:].T
    psth = rec.test_counts(12).mean(0)
    r_true = np.array([np.corrcoef(true[:, c], psth[:, c])[0, 1] for c in range(4)])
    np.testing.assert_allclose(np.sqrt(rel), r_true, atol=0.03)  # sqrt(reliability) = the true rate's correlation
    assert spearman_brown(0.5) == pytest.approx(2 / 3)


def test_history_stack_and_to_data(rec):
    frames = np.arange(5 * 2 * 2).reshape(5, 2, 2)
    x = history_stack(frames, 3)
    assert x.shape == (3, 3, 2, 2)
    assert np.array_equal(x[0, 0], frames[2]) and np.array_equal(x[0, 2], frames[0])
    data = rec.to_data(12)
    assert data.images.dtype == np.int8 and data.n_channels == 12 and data.image_shape == (12, 12)
    assert (data.tiers == "test").sum() == 289 and (data.tiers == "validation").sum() == 1489
    with pytest.raises(ValueError, match="n_validation_trials"):
        rec.to_data(12, n_validation_trials=6)
    with pytest.raises(IndexError, match="4 cells"):
        rec.select_cells([7])
    with pytest.raises(ValueError, match="does not fit"):
        rec.crop(5, 5, 10)


def test_lnln_model_shapes():
    m = build_retina_model("retina_lnln", 12, (12, 12), n_subunits=5)
    out = m(torch.zeros(3, 12, 12, 12, dtype=torch.int8))
    assert out.shape == (3, 1) and bool((out > 0).all())
    assert spatiotemporal_filters(m.subunits)[0].shape == (5, 12, 12)


def test_model_input_errors():
    m = build_retina_model("retina_cnn", 12, (12, 12))
    with pytest.raises(ValueError, match="history of 12"):
        m(torch.zeros(2, 10, 12, 12))
    with pytest.raises(ValueError, match="kind"):
        build_retina_model("cnn", 12, (12, 12))
    with pytest.raises(ValueError, match="bad argument"):
        build_retina_model("retina_ln", 12, (12, 12), n_subunits=3)


def test_cnn_recovers_subunits_and_untrained_does_not(rec):
    """Quick fit on one model cell: the first-layer filters match the true subunits; an untrained net does not."""
    cell = 3  # five scattered subunits: their envelope alone matches them poorly
    data = rec.to_data(12).select_neurons([cell])
    subunits = rec.meta["subunits"][cell]
    torch.manual_seed(0)
    model = build_retina_model("retina_cnn", 12, (12, 12))
    untrained, _ = metrics.match_subunits(spatiotemporal_filters(model.conv1.weight)[0], subunits)
    result = fit(model, data, epochs=8, batch_size=128, device="cpu", seed=0, patience=3)
    trained, _ = metrics.match_subunits(spatiotemporal_filters(result.model.conv1.weight)[0], subunits)
    ln = fit(build_retina_model("retina_ln", 12, (12, 12)), data, epochs=8, batch_size=128, device="cpu", seed=0)
    envelope = metrics.envelope_match(spatiotemporal_filters(ln.model.weight)[0][0], subunits, 10)
    assert untrained.mean() < 0.35 < 0.5 < trained.mean()
    assert trained.mean() > envelope.mean() + 0.08  # more than the receptive field's envelope
    test = data.tier("test")
    pred = predict(result.model, test.images, device="cpu")
    assert np.corrcoef(pred[:, 0], test.responses[:, 0])[0, 1] > 0.6


def test_match_subunits_exact():
    g = np.exp(-((np.mgrid[:8, :8] - 3.5) ** 2).sum(0) / 2)
    targets = np.stack([np.roll(g, 2, 1), np.roll(g, -2, 0)])
    r, idx = metrics.match_subunits(np.stack([targets[1], targets[0], np.random.default_rng(0).normal(size=(8, 8))]),
                                    targets)
    np.testing.assert_allclose(r, 1.0)
    assert list(idx) == [1, 0]


def test_transfer_readout_only_freezes_the_subunit_layers():
    from neurobook.cell_fits import transfer_fit
    from neurobook.train import input_stats

    rec = simulate_retina(n_cells=2, n_trials=3, trial_frames=300, frozen_frames=60, n_repeats=4, seed=1)
    data = rec.to_data(12)
    torch.manual_seed(0)
    source = build_retina_model("retina_cnn", 12, (12, 12))
    source.set_input_stats(*input_stats(data.tier("train").images))  # same statistics: no re-parametrization
    before = source.conv1.weight.detach().clone()
    run = transfer_fit(source, data.select_neurons([1]), "readout", epochs=2, device="cpu")
    assert torch.equal(run.model.conv1.weight.detach(), before)  # frozen
    assert torch.equal(source.conv1.weight.detach(), before)  # the source is not modified
    run = transfer_fit(source, data.select_neurons([1]), "all", epochs=2, device="cpu")
    assert not torch.equal(run.model.conv1.weight.detach(), before)
    with pytest.raises(ValueError, match="mode"):
        transfer_fit(source, data.select_neurons([1]), "half", epochs=1)
    with pytest.raises(ValueError, match="one cell"):
        transfer_fit(source, data, "readout", epochs=1)


def test_transfer_keeps_the_source_function_under_new_input_statistics():
    from neurobook.cell_fits import _keep_function_under_new_input_stats

    torch.manual_seed(0)
    model = build_retina_model("retina_cnn", 12, (12, 12))
    x = torch.randn(5, 12, 12, 12) * 0.3 + 0.1  # e.g. a natural movie after white noise
    before = model(x)
    _keep_function_under_new_input_stats(model, 0.1, 0.3)
    assert float(model.input_std) == pytest.approx(0.3)
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-4)


def _ln_cell(n: int = 20000, seed: int = 0):
    """A known LN cell on binary noise: biphasic x Gaussian filter, softplus, Poisson counts."""
    from neurobook.data.types import StimulusResponseData

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:8, :8]
    spatial = np.exp(-((yy - 3.5) ** 2 + (xx - 3.5) ** 2) / (2 * 1.2**2))
    true = biphasic_filter(12)[:, None, None] * spatial
    true /= np.linalg.norm(true)
    x = rng.choice(np.array([-1, 1], np.int8), size=(n, 12, 8, 8))
    rate = 0.4 * np.log1p(np.exp(3.0 * (x.reshape(n, -1).astype(np.float64) @ true.ravel()) - 1.0))
    y = rng.poisson(rate)[:, None].astype(np.float32)
    tiers = np.array(["train"] * (n - 2000) + ["validation"] * 1000 + ["test"] * 1000)
    return StimulusResponseData(x, y, tiers, np.arange(n), np.arange(1)), true, rate


def test_sta_ln_recovers_a_known_ln_cell_and_fails_on_shuffled_spikes():
    from neurobook.cell_fits import fit_sta_ln

    data, true, rate = _ln_cell()
    model = fit_sta_ln(data)
    filt = model.filters[0].numpy()
    assert abs(np.corrcoef(filt.ravel(), true.ravel())[0, 1]) > 0.9
    test = data.tier("test")
    pred = predict(model, test.images)[:, 0]
    assert np.corrcoef(pred, rate[data.tiers == "test"])[0, 1] > 0.9
    assert np.all(np.diff(model.values[0].numpy()[5:]) > -0.05)  # a rising nonlinearity (up to bin noise)
    # the same estimate from spikes that no longer follow the stimulus finds no filter
    shuffled = type(data)(data.images, np.random.default_rng(1).permutation(data.responses), data.tiers,
                          data.image_ids, data.neuron_ids)
    filt_shuffled = fit_sta_ln(shuffled).filters[0].numpy()
    assert abs(np.corrcoef(filt_shuffled.ravel(), true.ravel())[0, 1]) < 0.3
    with pytest.raises(ValueError, match="n_bins"):
        fit_sta_ln(data, n_bins=1)


def test_match_subunits_with_more_subunits_than_filters_scores_the_unmatched_zero():
    g = np.exp(-((np.mgrid[:8, :8] - 3.5) ** 2).sum(0) / 2)
    targets = np.stack([np.roll(g, 2, 1), np.roll(g, -2, 0), np.roll(g, 2, 0)])
    r, idx = metrics.match_subunits(targets[[1]], targets)  # one filter, three subunits
    assert (idx >= 0).sum() == 1 and (r == 0).sum() == 2
    assert r.max() == pytest.approx(1.0)  # the filter at its best position is each shifted copy of g
