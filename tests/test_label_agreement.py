"""Cohen's kappa and label proportions with intervals."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.label_agreement import cohen_kappa, kappa_interval, label_proportions


def test_kappa_is_one_for_identical_labels_and_near_zero_for_independent_ones():
    rng = np.random.default_rng(0)
    a = rng.choice(["gabor", "center_surround", "textural"], 2000, p=[0.5, 0.3, 0.2])
    assert cohen_kappa(a, a) == 1.0
    b = rng.permutation(a)  # same frequencies, no relation to the items
    assert abs(cohen_kappa(a, b)) < 0.05
    assert cohen_kappa(a, b) < 0.1 < cohen_kappa(a, np.where(rng.random(2000) < 0.7, a, b))


def test_kappa_matches_a_worked_example():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    kappa, low, high = kappa_interval(a, b, n_boot=400, seed=1)
    assert low < kappa < high and low > 0.1 and high < 0.7


def test_kappa_rejects_unpaired_labels_and_is_undefined_without_variety():
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa(["a", "b"], ["a"])
    assert np.isnan(cohen_kappa(["a", "a"], ["a", "a"]))


def test_label_proportions_keep_absent_categories_with_intervals():
    table = label_proportions(["gabor"] * 30 + ["textural"] * 10, ["gabor", "center_surround", "textural"])
    assert table["neurons"].tolist() == [30, 0, 10]
    assert table.loc["gabor", "share"] == pytest.approx(0.75)
    assert table.loc["center_surround", "Wilson 95% low"] == 0.0
    assert (table["Wilson 95% low"] <= table["share"]).all() and (table["share"] <= table["Wilson 95% high"]).all()
