"""The chunked retina trainer, the shared-core model and the strong LN baseline on cells with known truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook import metrics
from neurobook import retina_training as rt
from neurobook.data.retina import RetinaRecording
from neurobook.data.retina_sim import biphasic_filter, simulate_retina
from neurobook.models.retina_core import ChunkLN, SharedCoreRetina

HISTORY = 12


def _ln_cell(n_trials: int = 12, seed: int = 0) -> tuple[RetinaRecording, np.ndarray]:
    """One LN cell with a U-shaped output (ON-OFF, stronger ON): a monotonic softplus cannot follow its OFF arm."""
    rng = np.random.default_rng(seed)
    shape, t_frames = (8, 8), 1000
    yy, xx = np.mgrid[:8, :8]
    space = np.exp(-((yy - 3.5) ** 2 + (xx - 4.0) ** 2) / 4.0)
    kernel = biphasic_filter(HISTORY)[:, None, None] * space / np.linalg.norm(space)

    def rate(frames: np.ndarray) -> np.ndarray:
        g = np.zeros(len(frames))
        for lag in range(HISTORY):
            g[lag:] += (frames[: len(frames) - lag] * kernel[lag]).sum((1, 2))
        return 0.8 * np.clip(g, 0, None) ** 2 + 0.25 * np.clip(-g, 0, None) ** 2

    frames = [rng.choice(np.array([-1, 1], np.int8), (t_frames, *shape)) for _ in range(n_trials)]
    counts = [rng.poisson(rate(f))[:, None].astype(np.float32) for f in frames]
    frozen = rng.choice(np.array([-1, 1], np.int8), (300, *shape))
    true = rate(frozen)
    frozen_counts = rng.poisson(np.broadcast_to(true, (30, 300)))[..., None].astype(np.float32)
    return RetinaRecording(frames, counts, frozen, frozen_counts, 30.0, np.array([0])), true[HISTORY - 1 :]


def test_chunks_spread_the_validation_trials_and_keep_test_out():
    rec = simulate_retina(n_cells=2, n_trials=14, trial_frames=200, frozen_frames=60, n_repeats=4, seed=0)
    chunks = rt.chunks_from_recordings(rec, n_validation=3)
    assert list(chunks.validation) == [3, 6, 10] and len(np.intersect1d(chunks.train, chunks.validation)) == 0
    assert chunks.frames.shape == (1, 14, 200, 12, 12) and chunks.counts.shape == (2, 14, 200)
    assert len(rt.chunks_from_recordings(rec, 3, max_train_trials=2).train) == 2
    with pytest.raises(ValueError, match="at least 2 running trials"):
        rt.chunks_from_recordings(RetinaRecording(rec.frames[:1], rec.counts[:1], None, None, 30.0, rec.cell_ids))


def test_chunk_models_agree_with_an_explicit_filter():
    ln = ChunkLN(2, 6, history=4)
    with torch.no_grad():
        ln.weight.normal_()
    x = torch.randn(2, 20, 6, 6)
    g = ln.generator(x, torch.tensor([1, 0]))
    # output 0 of row 0 uses frames 0..3 with filter 1, whose history index 0 is the newest frame (3)
    expected = sum((x[0, 3 - k] * ln.weight[1, k]).sum() for k in range(4))
    assert g.shape == (2, 17) and float(g[0, 0].detach()) == pytest.approx(float(expected.detach()), rel=1e-4)
    core = SharedCoreRetina(3, 10, history=5, channels=(4, 4), kernels=(5, 3))
    assert core(torch.randn(2, 30, 10, 10), torch.tensor([0, 2])).shape == (2, 26)
    assert core.first_layer.shape == (4, 5, 5, 5)


def test_the_strong_ln_recovers_a_threshold_nonlinearity_that_a_softplus_misses():
    rec, true = _ln_cell()
    chunks = rt.chunks_from_recordings(rec, n_validation=1)
    strong, summary = rt.fit_strong_ln(chunks, HISTORY, device="cpu", steps_per_epoch=60, max_epochs=10,
                                       chunk_len=150)
    pred = rt.predict_frames(strong, chunks.frozen)[:, 0]
    softplus = rt.predict_frames(strong.ln, chunks.frozen, rows=[int(strong.rows[0])])[:, 0]
    r_strong, r_soft = metrics.correlation(pred, true), metrics.correlation(softplus, true)
    assert r_strong > 0.8, summary
    assert r_strong > r_soft + 0.1  # the binned output follows the OFF arm that a monotonic softplus cannot
