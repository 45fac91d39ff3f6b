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


def test_a_stimulus_named_by_its_seed_loads_like_its_frames(sim, tmp_path):
    stored = load_retina_file(save_retina_file(tmp_path / "frames.npz", sim), window=10, max_trials=3)
    seeded_path = save_retina_file(tmp_path / "seeds.npz", sim, seeds_only=True)
    with np.load(seeded_path) as z:
        assert "frames" not in z.files and str(z["stimulus_generator"]) == "numpy_binary"
    seeded = load_retina_file(seeded_path, window=10, max_trials=3, progress=False)
    assert seeded_path.stat().st_size < (tmp_path / "frames.npz").stat().st_size / 4
    for a, b in zip(stored, seeded, strict=True):
        assert a.meta["window"] == b.meta["window"] and a.meta["peak_lag"] == b.meta["peak_lag"]
        np.testing.assert_allclose(a.meta["sta_map"], b.meta["sta_map"], atol=1e-6)
        for fa, fb in zip(a.frames, b.frames, strict=True):
            np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(a.frozen, b.frozen)


def test_a_wrong_seed_finds_no_receptive_field(sim, tmp_path):
    """A check that can fail: the same counts against another seed's frames lose the cells' receptive fields."""
    path = save_retina_file(tmp_path / "seeds.npz", sim, seeds_only=True)
    arrays = dict(np.load(path))
    right = load_retina_file(path, window=10, progress=False)
    arrays["stimulus_seed"] = np.array([99, 1])
    np.savez(path, **arrays)
    wrong = load_retina_file(path, window=10, progress=False)
    envelopes = [np.sum(s, 0).ravel() for s in sim.meta["subunits"]]

    def match(recs) -> list[float]:
        return [abs(np.corrcoef(r.meta["sta_map"].ravel(), e)[0, 1]) for r, e in zip(recs, envelopes, strict=True)]

    assert min(match(right)) > 0.25 and max(match(wrong)) < 0.15, (match(right), match(wrong))


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.update(stimulus_generator=np.str_("matlab_rand")), "stimulus_generator must be one of"),
    (lambda a: a.pop("frozen_seed"), "missing ['frozen_seed']"),
    (lambda a: a.update(frames=np.zeros((4, 600, 20, 20), np.int8)), "not both"),
    (lambda a: a.update(stimulus_seed=np.array(1.5)), "stimulus_seed must be an int"),
    (lambda a: a.update(stimulus_generator=np.str_("retinawhitenoise_binary")), "must be one int for retinawhite"),
    (lambda a: a.update(frame_shape=np.array([20, 0])), "frame_shape must be two positive ints"),
    (lambda a: [a.pop(k) for k in ("stimulus_generator", "stimulus_seed", "frozen_seed", "frame_shape")],
     "missing array(s) ['frames', 'frozen']"),
])
def test_each_malformed_stimulus_name_gets_its_message(sim, tmp_path, change, message):
    path = save_retina_file(tmp_path / "seeds.npz", sim, seeds_only=True)
    arrays = dict(np.load(path))
    change(arrays)
    np.savez(path, **arrays)
    with pytest.raises(UserDataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        load_retina_file(path, window=10, progress=False)
