"""The population npz of Chapter 3 (``-p data_file``): its checks, and decoding through it recovers known tuning."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook import decoding
from neurobook.data import UserDataError, load_population_file, save_population_file
from neurobook.data.population_file import repeats_within_class, split_from_repeats


def _simulated(tmp_path, *, informative: bool = True, n_classes: int = 6, n_repeats: int = 12, seed: int = 0,
               **extra):
    """Two animals (30 and 20 units), Poisson counts whose rates depend on the class when ``informative``."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_repeats)
    rates = rng.gamma(2.0, 1.5, (50, n_classes)) if informative else np.full((50, n_classes), 3.0)
    counts = rng.poisson(rates[:, labels]).astype(float)
    counts[30:, :n_repeats] = np.nan  # the second animal was never shown class 0
    arrays = {"counts": counts, "labels": labels, "animal": np.array(["m1"] * 30 + ["m2"] * 20),
              "task_parity": labels % 2, **extra}
    path = tmp_path / "pop.npz"
    np.savez(path, **arrays)
    return path, arrays


def test_split_rules():
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    assert repeats_within_class(labels).tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8]
    assert split_from_repeats(np.arange(10)).tolist() == ["train", "train", "test", "train", "validation", "test",
                                                          "train", "train", "test", "validation"]


def test_load_round_trip_and_population(tmp_path):
    rec = load_population_file(_simulated(tmp_path)[0])
    assert rec.animals == ["m1", "m2"] and rec.n_units == 50 and rec.n_trials == 72
    assert set(rec.tasks) == {"stimulus", "parity"}
    assert (rec.split == "test").sum() == 6 * 4  # repeats 2, 5, 8, 11 of each class
    again = load_population_file(save_population_file(rec, tmp_path / "again.npz"))
    np.testing.assert_array_equal(again.counts, rec.counts)
    assert again.animals == rec.animals and np.array_equal(again.split, rec.split)
    pop = decoding.population_from_file(rec)
    assert pop.n_animals == 2 and pop.task_names == ["stimulus", "parity"]
    assert pop.n_classes("stimulus") == 6 and pop.n_classes("parity") == 2
    assert pop.present[1, :12].sum() == 0 and bool(pop.present[0].all())
    assert pop.unit_mask.sum(1).tolist() == [30, 20]
    with pytest.raises(ValueError, match="task must be one of"):
        pop.labels("position")


def test_decoding_a_file_recovers_tuning_and_fails_without_it(tmp_path):
    tuned = decoding.population_from_file(load_population_file(_simulated(tmp_path)[0]))
    res = decoding.decode_logistic_baseline(tuned, "stimulus", l2_grid=(1e-3, 1e-2, 1e-1))
    assert res.chance == pytest.approx(1 / 6)
    assert np.all(res.accuracy() > 0.8)
    flat_dir = tmp_path / "flat"
    flat_dir.mkdir()
    flat = decoding.population_from_file(load_population_file(_simulated(flat_dir, informative=False)[0]))
    chance = decoding.decode_logistic_baseline(flat, "stimulus", l2_grid=(1e-3, 1e-2, 1e-1))
    assert np.all(chance.accuracy() < 0.45)  # 24 and 20 test trials at chance 1/6: 0.45 is beyond 2.5 s.d.


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.pop("labels"), r"missing \['labels'\]"),
    (lambda a: a.update(labels=a["labels"][:-1]), "one value per trial"),
    (lambda a: a.update(labels=a["labels"] + 0.5), "integer classes"),
    (lambda a: a.update(labels=np.zeros_like(a["labels"])), "single class"),
    (lambda a: a.update(counts=-a["counts"]), "spike counts >= 0"),
    (lambda a: a.update(counts=a["counts"][0]), r"\(n_units, n_trials\)"),
    (lambda a: a.update(animal=a["animal"][:3]), "one value per unit"),
    (lambda a: a.update(split=np.full(72, "train")), "no 'test' trials"),
    (lambda a: a.update(split=np.full(72, "held-out")), "must hold only"),
    (lambda a: a.update(stimuli=a["labels"]), r"unknown keys \['stimuli'\]"),
    (lambda a: a["counts"].__setitem__((31, 40), np.nan), "NaN for some of its units"),
    (lambda a: a.update(label_names=np.array(["a", "b"])), "must name every class"),
])
def test_bad_files_say_what_is_wrong(tmp_path, change, message):
    _, arrays = _simulated(tmp_path)
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserDataError, match=message):
        load_population_file(tmp_path / "bad.npz")


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(UserDataError, match="does not exist"):
        load_population_file(tmp_path / "nothing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(UserDataError, match="not a readable npz"):
        load_population_file(tmp_path / "junk.npz")


def test_decode_recording_measures_every_task_and_transfer(tmp_path):
    path, arrays = _simulated(tmp_path, n_repeats=15)
    arrays["animal"] = np.array(["m1"] * 17 + ["m2"] * 17 + ["m3"] * 16)
    arrays["counts"] = np.where(np.isnan(arrays["counts"]), 0.0, arrays["counts"])
    np.savez(path, **arrays)
    out = decoding.decode_recording(load_population_file(path), n_components=8, neural_steps=60, latent=16,
                                    hidden=32, batch=64, transfer_folds=3, transfer_steps=60, adapt_steps=40,
                                    shots=(1, 5), max_iter=300)
    table = out.table().set_index(["task", "decoder"])
    assert table.loc[("stimulus", "logistic"), "median accuracy"] > 0.8
    assert table.loc[("parity", "logistic"), "chance"] == pytest.approx(0.5)
    assert table.loc[("stimulus", "logistic, shuffled labels"), "median accuracy"] < 0.45
    assert out.transfer is not None and set(out.transfer_minus_logistic) == {1, 5}
    lo, hi = out.neural_minus_logistic[1:]
    assert lo <= out.neural_minus_logistic[0] <= hi


@pytest.mark.slow
def test_chapter_3_runs_on_a_user_file(tmp_path):
    """`neurobook run ch03 -p data_file mine.npz`: the page decodes the file and its results name it; a bad file
    stops the chapter with the loader's message before any output is written."""
    import json

    from neurobook.pipeline.run import ChapterFailed, run_chapter

    path, arrays = _simulated(tmp_path)
    out = tmp_path / "out"
    run_chapter("ch03", {"profile": "quick", "data_file": str(path), "n_mice": 2}, output_dir=out)
    record = json.loads((out / "ch03_decoding.results.json").read_text())
    summary = record["headline"]["population_file"]
    assert summary["animals"] == 2 and "your population file" in summary["source"]
    stimulus = next(r for r in summary["accuracy"] if r["task"] == "stimulus" and r["decoder"] == "logistic")
    assert stimulus["median accuracy"] > 0.8
    assert "population file" in record["data"]["description"]
    arrays.pop("labels")
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ChapterFailed, match=r"missing \['labels'\]"):
        run_chapter("ch03", {"profile": "quick", "data_file": str(tmp_path / "bad.npz")}, output_dir=tmp_path / "b")
    assert not (tmp_path / "b" / "ch03_decoding.results.json").exists()
