"""Chapter 2's own-data loader: a good file loads with receptive fields found; each malformed array gets its message."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.data.npz import UserDataError
from neurobook.data.retina_file import load_retina_file, save_retina_file
from neurobook.data.retina_sim import simulate_retina


@pytest.fixture(scope="module")
def sim():
    return simulate_retina(n_cells=3, grid=20, n_trials=4, trial_frames=600, frozen_frames=60, n_repeats=5,
                           mean_rate=0.5, seed=3)


def _arrays(sim) -> dict[str, np.ndarray]:
    return {"frames": np.stack(sim.frames), "counts": np.stack(sim.counts), "frozen": sim.frozen,
            "frozen_counts": sim.frozen_counts}


def test_good_file_loads_and_finds_each_receptive_field(sim, tmp_path):
    path = save_retina_file(tmp_path / "mine.npz", sim)
    recs = load_retina_file(path, window=10)
    assert len(recs) == sim.n_cells
    for c, rec in enumerate(recs):
        assert rec.frames[0].shape == (600, 10, 10) and rec.frames[0].dtype == np.int8
        assert rec.frozen_counts.shape == (5, 60, 1) and rec.frame_rate == 30.0
        np.testing.assert_array_equal(rec.counts[2][:, 0], sim.counts[2][:, c])
        true_centre = np.mean([np.unravel_index(s.argmax(), s.shape) for s in sim.meta["subunits"][c]], 0)
        assert np.abs(rec.meta["rf_centre"] - true_centre).max() <= 2.5, (rec.meta["rf_centre"], true_centre)
        top, left, size = rec.meta["window"]
        np.testing.assert_array_equal(rec.frozen, sim.frozen[:, top : top + size, left : left + size])
        sign = np.sign(rec.meta["sta_map"][tuple(np.round(rec.meta["rf_centre"]).astype(int))])
        assert sign == sim.meta["polarity"][c], "the STA's sign at the centre is the cell's polarity"
    assert len(load_retina_file(path, window=10, max_trials=3)[0].frames) == 3
    assert load_retina_file(path, window=32)[0].frames[0].shape == (600, 20, 20), "small frames are used whole"


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.pop("frozen_counts"), "missing array"),
    (lambda a: a.update(frames=a["frames"][0]), "frames must be (n_trials, T, H, W)"),
    (lambda a: a.update(counts=a["counts"][:, :-1]), "counts must be (n_trials, T, n_cells)"),
    (lambda a: a.update(counts=-a["counts"]), "negative"),
    (lambda a: a.update(frozen=a["frozen"][:, :5]), "frozen frames must be 20x20"),
    (lambda a: a.update(frozen_counts=a["frozen_counts"][:1]), "at least 2 repeats"),
    (lambda a: a.update(frozen_counts=a["frozen_counts"][:, :10]), "frozen_counts must be (n_repeats, 60, 3)"),
    (lambda a: a.update(frames=a["frames"][:2], counts=a["counts"][:2]), "at least 3 running trials"),
    (lambda a: a.update(frames=np.where(a["frames"] > 0, np.nan, 1.0)), "NaN or infinite"),
    (lambda a: a.update(frames=a["frames"].astype(str)), "must be numeric"),
    (lambda a: a.update(frame_rate=np.array([30.0, 60.0])), "frame_rate must be one number"),
    (lambda a: a.update(cell_ids=np.array([1, 1, 2])), "must not repeat"),
    (lambda a: a["counts"].__setitem__((slice(None), slice(None), 1), 0), "fire no spike"),
])
def test_each_malformed_array_gets_its_message(sim, tmp_path, change, message):
    arrays = _arrays(sim)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_retina_file(path, window=10)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(UserDataError, match="does not exist"):
        load_retina_file(tmp_path / "nothing.npz")
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserDataError, match="could not be read as an npz"):
        load_retina_file(bad)
