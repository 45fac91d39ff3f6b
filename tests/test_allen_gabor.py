"""The Allen Gabor loader: condition labels from stimulus values, alignment across orders, filters, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurobook.data import allen_gabor as ag


def _toy_session(rng: np.random.Generator, order: np.ndarray | None = None, sid: int = 1) -> ag.GaborSession:
    """A session whose unit 0 fires exactly its trial's condition number (so alignment can be checked)."""
    grid = np.array([(x, y, o) for y in ag.POSITIONS_DEG for x in ag.POSITIONS_DEG for o in ag.ORIENTATIONS_DEG])
    reps = 3
    trials = np.repeat(grid, reps, axis=0)
    repeat = np.tile(np.arange(reps), len(grid))
    if order is None:
        order = rng.permutation(len(trials))
    trials, repeat = trials[order], repeat[order]
    cond = np.arange(ag.N_CONDITIONS).repeat(reps)[order]
    counts = np.stack([cond * 10 + repeat, rng.poisson(2, len(cond))], axis=1)
    units = pd.DataFrame({"ecephys_unit_id": [10, 11], "ecephys_structure_acronym": ["VISp", "VISl"]})
    return ag.GaborSession(sid, counts, trials[:, 0], trials[:, 1], trials[:, 2], repeat,
                           np.where(repeat == 2, "test", "train"), np.array([10, 11]), np.array(["VISp", "VISl"]),
                           units)


def test_condition_index_grid():
    pos, ori, cond = ag.condition_index(np.array([-40, 40, 0]), np.array([-40, -40, 40]), np.array([0, 90, 45]))
    assert pos.tolist() == [0, 8, 76] and ori.tolist() == [0, 2, 1] and cond.tolist() == [0, 26, 229]
    with pytest.raises(ValueError, match="not on the Gabor grid"):
        ag.condition_index(np.array([5.0]), np.array([0.0]), np.array([0.0]))


def test_sessions_in_different_orders_line_up_by_condition():
    rng = np.random.default_rng(0)
    a, b = _toy_session(rng, sid=1), _toy_session(rng, sid=2)
    assert not np.array_equal(a.condition, b.condition)  # shown in different orders
    ia, ib = a.aligned_index(3), b.aligned_index(3)
    ca, cb = a.counts[ia, 0], b.counts[ib, 0]
    expected = np.arange(ag.N_CONDITIONS)[:, None] * 10 + np.arange(3)[None, :]
    assert np.array_equal(ca, expected) and np.array_equal(cb, expected)
    assert np.array_equal(a.condition[ia[:, 0]], np.arange(ag.N_CONDITIONS))


def test_missing_repeats_are_marked():
    rng = np.random.default_rng(1)
    s = _toy_session(rng)
    keep = ~((s.repeat == 2) & (s.condition < 5))
    s = ag.GaborSession(s.session_id, s.counts[keep], s.x_deg[keep], s.y_deg[keep], s.orientation_deg[keep],
                        s.repeat[keep], s.split[keep], s.unit_ids, s.areas, s.units)
    idx = s.aligned_index(3)
    assert (idx < 0).sum() == 5 and (idx[:5, 2] < 0).all()


def test_errors_area_and_trials():
    s = _toy_session(np.random.default_rng(2))
    assert s.area("VISp").n_units == 1
    with pytest.raises(ValueError, match="no units in LGd"):
        s.area("LGd")
    s.check_trials("condition", 2)
    with pytest.raises(ValueError, match="fewer than the 5 asked for"):
        s.check_trials("condition", 5)
    with pytest.raises(ValueError, match="task must be one of"):
        s.labels("colour")
    with pytest.raises(ValueError, match="shape"):
        ag.GaborSession(1, s.counts, s.x_deg[:-1], s.y_deg, s.orientation_deg, s.repeat, s.split, s.unit_ids,
                        s.areas, s.units)


def test_quality_filters():
    units = pd.DataFrame({"p_value_rf": [0.001, 0.5], "area_rf": [100, 100], "snr": [2, 2],
                          "firing_rate_dg": [1, 1], "isi_violations": [0.1, 0.9], "amplitude_cutoff": [0.01, 0.01],
                          "presence_ratio": [0.99, 0.99]})
    assert ag.quality_mask(units, "published_like_qc").tolist() == [True, False]
    assert ag.quality_mask(units, "allen_default").tolist() == [True, False]
    assert ag.quality_mask(units, "none").all()
    with pytest.raises(ValueError, match="quality must be one of"):
        ag.quality_mask(units, "good")


def test_real_sessions(data_root):
    ids = ag.list_sessions(data_root)
    assert len(ids) == 58
    with pytest.raises(KeyError, match="unknown session"):
        ag.load_gabor_session(123, data_root)
    s = ag.load_gabor_session(ids[0], data_root, include_lgd=True)
    assert s.quality == "published_like_qc" and s.n_trials == 3645 and "LGd" in s.units_per_area()
    assert set(s.areas) <= set(ag.AREAS) | {"LGd"}
    assert np.bincount(s.condition).tolist() == [15] * 243
    assert (s.aligned_index() >= 0).all()
    # the same presentations in another session, in another order, give the same condition per aligned row
    t = ag.load_gabor_session(ids[2], data_root)  # ids[1] lacks some repeats
    assert np.array_equal(s.condition[s.aligned_index()], t.condition[t.aligned_index()])
    assert not np.array_equal(s.condition, t.condition)
    with pytest.raises(ValueError, match="no units in"):
        ag.load_gabor_session(ids[1], data_root, areas=("LGd",))
    short = ag.load_gabor_session(719161530, data_root, quality="none")
    assert (short.aligned_index() < 0).sum() == 3645 - 3596
