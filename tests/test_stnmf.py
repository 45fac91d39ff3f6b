"""STNMF (semi-NMF of the spike-triggered ensemble) on model cells with known subunits, and the natural movies."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook import metrics
from neurobook.data.natural_movie import natural_movie
from neurobook.data.retina_sim import simulate_retina
from neurobook.stnmf import semi_nmf, shuffle_spikes, spike_triggered_ensemble, stnmf


@pytest.fixture(scope="module")
def rec():
    return simulate_retina(n_cells=2, n_trials=20, seed=0)  # cell 1: a ring of 6 subunits


def test_stnmf_recovers_subunits_better_than_controls(rec):
    cell = 1
    subunits = rec.meta["subunits"][cell]
    result = stnmf(rec, cell, 10)
    matched, _ = metrics.match_subunits(result.modules, subunits)
    shuffled, _ = metrics.match_subunits(stnmf(shuffle_spikes(rec, 1), cell, 10).modules, subunits)
    sta = rec.select_cells([cell]).spike_triggered_average(12)[0, result.lag]
    envelope = metrics.envelope_match(sta, subunits, 12)
    assert matched.mean() > shuffled.mean() + 0.25  # spikes carry the subunits; shuffled spikes do not
    assert matched.mean() > envelope.mean() + 0.05  # more than the receptive field's envelope
    assert result.weights.min() >= 0 and result.modules.shape == (10, 12, 12)
    assert np.all(np.diff(result.importance) <= 1e-9)  # sorted by importance
    again = stnmf(rec, cell, 10)  # seeded: the same modules
    np.testing.assert_array_equal(again.modules, result.modules)


def test_semi_nmf_factorizes_a_planted_nonnegative_mixture():
    rng = np.random.default_rng(0)
    h = np.zeros((3, 30))
    for j in range(3):
        h[j, 10 * j : 10 * j + 10] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0, 10)
    w = rng.exponential(1.0, (400, 3)) * (rng.random((400, 3)) < 0.4)
    x = w @ h + 0.01 * rng.normal(size=(400, 30))
    w_hat, h_hat, loss = semi_nmf(x, 3, sparsity=0.0, n_iter=300)
    assert w_hat.min() >= 0 and loss[-1] <= loss[0]
    r = np.abs(np.corrcoef(h, h_hat)[:3, 3:]).max(1)
    assert r.mean() > 0.85
    assert np.linalg.norm(x - w_hat @ h_hat) / np.linalg.norm(x) < 0.05


def test_stnmf_bad_input(rec):
    few = simulate_retina(n_cells=1, n_trials=2, trial_frames=100, frozen_frames=30, n_repeats=2, seed=0)
    with pytest.raises(ValueError, match="spikes"):
        stnmf(few, 0, 10)
    with pytest.raises(ValueError, match="cell must be"):
        stnmf(rec, 5)
    with pytest.raises(ValueError, match="temporal"):
        spike_triggered_ensemble(rec, 0, temporal="mean")
    with pytest.raises(ValueError, match="2-D"):
        semi_nmf(np.zeros((10, 3, 3)), 2)
    with pytest.raises(ValueError, match="n_modules"):
        semi_nmf(np.zeros((10, 3)), 0)
    with pytest.raises(ValueError, match="rows"):
        semi_nmf(np.zeros((3, 4)), 2)
    with pytest.raises(TypeError, match="RetinaRecording"):
        stnmf(np.zeros((10, 12, 12)))


def test_ensemble_modes(rec):
    x, c, lag, tf = spike_triggered_ensemble(rec, 0, temporal="peak")
    assert x.shape[1] == 144 and (c > 0).all() and len(x) == len(c)
    assert np.isclose(np.linalg.norm(tf), 1) and tf[lag] > 0
    xs, _, _, _ = spike_triggered_ensemble(rec, 0, temporal="sta")
    assert xs.shape == x.shape


def _images():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    return [gaussian_filter(rng.normal(size=(240, 240)), 6) for _ in range(3)]


def test_natural_movie_statistics():
    images = _images()
    a = natural_movie(3000, 12, seed=3, images=images, jitter=0.25, saccade_rate=1.5)
    b = natural_movie(3000, 12, seed=3, images=images, jitter=0.25, saccade_rate=1.5)
    assert a.frames.shape == (3000, 12, 12) and a.frames.dtype == np.float32
    np.testing.assert_array_equal(a.frames, b.frames)  # seeded
    assert not np.array_equal(a.frames, natural_movie(3000, 12, seed=4, images=images).frames)
    assert 0.2 < a.frames.std() < 0.5  # RMS contrast near 0.35 (the default)
    step = np.linalg.norm(np.diff(a.positions, axis=0), axis=1)  # checkers per frame
    jitter, jump = step[~a.saccade[1:]], step[a.saccade[1:]]
    assert 0.2 < np.median(jitter) < 0.45 and jitter.max() < 2  # fixational jitter of ~0.25 checkers per axis
    assert np.median(jump) > 12  # saccades move the window further than its own size
    assert 1.0 < a.saccade.sum() / (3000 / 30) < 2.0  # ~1.5 saccades per second
    # consecutive frames within a fixation are similar, across a saccade they are not
    r = [np.corrcoef(a.frames[t - 1].ravel(), a.frames[t].ravel())[0, 1] for t in range(1, 3000)]
    r = np.asarray(r)
    assert np.median(r[~a.saccade[1:]]) > 0.8 > 0.5 > np.median(np.abs(r[a.saccade[1:]]))
    with pytest.raises(ValueError, match="at least"):
        natural_movie(10, 12, images=[np.zeros((20, 20))])
    with pytest.raises(ValueError, match="n_frames"):
        natural_movie(0, 12, images=images)


def test_movie_model_cells_share_the_checkerboard_cells():
    images = _images()
    kw = dict(n_cells=2, n_trials=2, trial_frames=300, frozen_frames=60, n_repeats=3, seed=2)
    wn = simulate_retina(**kw)
    mv = simulate_retina(**kw, stimulus="movie", movie_kwargs={"images": images})
    for a, b in zip(wn.meta["subunits"], mv.meta["subunits"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert mv.frames[0].dtype == np.float32 and mv.meta["stimulus"] == "movie"
    data = mv.to_data(12)
    assert data.images.dtype == np.float32 and wn.to_data(12).images.dtype == np.int8
    with pytest.raises(ValueError, match="stimulus"):
        simulate_retina(**kw, stimulus="gratings")
