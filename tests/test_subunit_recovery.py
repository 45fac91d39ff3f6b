"""Subunit recovery by the shared-core retina CNN on simulated cells with known subunits.

The margins were set on another population (``seed=1``, same settings; there: matched - envelope +0.095, best
kernel per subunit - envelope +0.216, matched - untrained +0.293, medians over 6 cells) and are checked here on
``seed=3``. One kernel per subunit against the envelope (the chapter's aim, +0.2) is not asserted: its margin on
seed 3 (+0.079, interval over cells [-0.04, +0.12]) is within run-to-run spread; the best kernel per subunit is.
Matching with more subunits than filters is tested in ``tests/test_retina.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook import metrics
from neurobook import retina_training as rt
from neurobook import subunit_recovery as sr
from neurobook.data.retina_sim import simulate_retina
from neurobook.models.retina_core import ChunkLN, SharedCoreRetina

HISTORY = 12
REUSE_OVER_ENVELOPE = 0.1  # each subunit's best kernel minus the envelope's
OVER_UNTRAINED = 0.2  # matched |r| minus an untrained core's


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_shared_core_recovers_subunits_that_the_envelope_and_an_untrained_core_miss(one_thread):
    rec = simulate_retina(n_cells=6, n_trials=8, seed=3)
    chunks = rt.chunks_from_recordings(rec, n_validation=1)
    torch.manual_seed(0)
    core = SharedCoreRetina(rec.n_cells, chunks.window, HISTORY, channels=(8, 8), kernels=(5, 3))
    true = rec.meta["true_rate_frozen"][:, HISTORY - 1 :].T
    cells = range(rec.n_cells)
    untrained_corr = metrics.correlation(rt.predict_frames(core, chunks.frozen, cells), true)
    fit = rt.fit_chunks(core, chunks, steps_per_epoch=40, max_epochs=3, lr=7e-3, device="cpu")
    strong, _ = rt.fit_strong_ln(chunks, HISTORY, penalties=(10.0, 100.0), steps_per_epoch=40, max_epochs=3,
                                 device="cpu")
    # prediction: the trained core learned from training (validation likelihood fell) and predicts the true rate
    # better than an untrained core and than the strong LN of the same cells
    assert fit.best_epoch >= 1 and fit.history[0]["val_nll"] > min(h["val_nll"] for h in fit.history)
    cnn_corr = metrics.correlation(rt.predict_frames(fit.model, chunks.frozen, cells), true)
    ln_corr = metrics.correlation(rt.predict_frames(strong, chunks.frozen, cells), true)
    print("untrained", np.round(untrained_corr, 3), "core", np.round(cnn_corr, 3), "LN", np.round(ln_corr, 3))
    assert np.median(untrained_corr) < 0.5 < np.median(cnn_corr)
    assert np.median(cnn_corr) > np.median(ln_corr) + 0.03, (cnn_corr, ln_corr)
    envelopes = sr.envelope_filters(strong)
    assert envelopes.shape == (6, 12, 12)
    table = sr.subunit_table(fit.model, rec, envelopes)
    assert list(table["n_subunits"]) == [len(s) for s in rec.meta["subunits"]]
    summary = sr.recovery_summary(table)
    assert summary["median_reuse_minus_envelope"] > REUSE_OVER_ENVELOPE, table
    assert summary["median_matched_minus_untrained"] > OVER_UNTRAINED, table
    assert set(summary["by_polarity"]) <= {"ON", "OFF"}
    # the same thresholds fail for an untrained core of the same shape (the envelope fails them by construction)
    chance = sr.recovery_summary(sr.subunit_table(sr.untrained_core(fit.model, seed=1), rec, envelopes))
    assert chance["median_matched_minus_untrained"] < OVER_UNTRAINED
    assert chance["median_reuse_minus_envelope"] < REUSE_OVER_ENVELOPE
    # the fitted LN's envelope is no weaker a control than the noise-free envelope (the weighted sum of subunits)
    ideal = sr.subunit_table(fit.model, rec, sr.true_envelopes(rec))
    assert table["envelope_r"].median() > ideal["envelope_r"].median() - 0.05


def test_spatial_readouts_envelopes_and_an_untrained_core():
    core = SharedCoreRetina(2, 10, history=6, channels=(3, 2), kernels=(5, 3))
    g = np.exp(-((np.mgrid[:5, :5] - 2.0) ** 2).sum(0))
    t = np.array([0.0, 0.2, 1.0, 0.5, -0.3, -0.1])
    with torch.no_grad():  # first_layer flips time: weight[:, 0] is oldest frame first
        core.layers[0].weight[:, 0] = torch.as_tensor(np.flip(t)[:, None, None] * g, dtype=torch.float32)
    for readout in sr.READOUTS:
        np.testing.assert_allclose(sr.core_spatial_kernels(core, readout)[0] / g.max(),
                                   g / (1 if readout == "peak" else np.linalg.norm(g)) / g.max(), atol=1e-6)
    with pytest.raises(ValueError, match="readout"):
        sr.core_spatial_kernels(core, "mean")
    fresh = sr.untrained_core(core, seed=5)
    assert fresh.first_layer.shape == core.first_layer.shape
    torch.testing.assert_close(fresh.first_layer, sr.untrained_core(core, seed=5).first_layer)
    ln = ChunkLN(2, 10, history=6)
    with torch.no_grad():
        ln.weight[1] = torch.as_tensor(t[:, None, None] * np.pad(g, ((2, 3), (2, 3))), dtype=torch.float32)
    env = sr.envelope_filters(ln, rows=[1])
    np.testing.assert_allclose(env[0], np.pad(g, ((2, 3), (2, 3))) / np.linalg.norm(g), atol=1e-6)
    with pytest.raises(TypeError, match="NonparametricLN or a ChunkLN"):
        sr.envelope_filters(core)


def test_subunit_table_needs_the_truth_and_one_envelope_per_cell():
    rec = simulate_retina(n_cells=2, n_trials=2, trial_frames=60, frozen_frames=30, n_repeats=2, seed=0)
    core = SharedCoreRetina(2, 12, history=4, channels=(8, 8), kernels=(5, 3))
    envelopes = sr.true_envelopes(rec)
    assert envelopes.shape == (2, 12, 12)
    np.testing.assert_allclose(envelopes[0], np.tensordot(rec.meta["subunit_weights"][0], rec.meta["subunits"][0], 1))
    table = sr.subunit_table(core, rec, envelopes)
    assert list(table.columns[:4]) == ["cell", "layout", "polarity", "n_subunits"]
    assert ((table[["matched_r", "reuse_r", "envelope_r", "untrained_r"]] >= 0).all().all()
            and (table["reuse_r"] >= table["matched_r"] - 1e-12).all())
    summary = sr.recovery_summary(table)
    lo, hi = summary["median_matched_minus_envelope_ci"]
    assert lo <= summary["median_matched_minus_envelope"] <= hi
    with pytest.raises(ValueError, match="one envelope per cell"):
        sr.subunit_table(core, rec, envelopes[:1])
    rec.meta.pop("subunits")
    with pytest.raises(ValueError, match="no true subunits"):
        sr.subunit_table(core, rec, envelopes)
