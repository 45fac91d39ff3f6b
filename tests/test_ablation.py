"""Bookkeeping of the controlled ablation: fixed property sets, paired intervals, the helping rule."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurobook import ablation


def test_a_missing_property_counts_as_zero_and_is_never_dropped_from_one_variant():
    props = ["a", "b", "c", "d"]
    table = pd.DataFrame({"a": [0.5, 0.5], "b": [0.5, 0.5], "c": [0.5, 0.5], "d": [0.5, np.nan]},
                         index=["full", "one missing"])
    out = ablation.fixed_set_mean(table, props)
    assert out.loc["full", "mean"] == pytest.approx(0.5)
    assert out.loc["one missing", "mean"] == pytest.approx(0.375)  # dropping "d" would have given 0.5
    assert list(out["missing"]) == [0, 1]
    with pytest.raises(KeyError):
        ablation.fixed_set_mean(table, ["a", "e"])
    with pytest.raises(ValueError, match="empty"):
        ablation.fixed_set_mean(table, [])


def test_paired_interval_is_the_paired_t_interval_and_pairing_removes_the_seed_effect():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1.0, 6)  # large, shared by both variants of a seed
    a = seed_effect + 0.3 + rng.normal(0, 0.05, 6)
    b = seed_effect + rng.normal(0, 0.05, 6)
    mean, low, high = ablation.paired_interval(a, b)
    assert mean == pytest.approx(float(np.mean(a - b)))
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert low > 0  # paired: the 0.3 difference is found
    n = len(a)
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / n)
    unpaired_low = a.mean() - b.mean() - stats.t.ppf(0.975, 2 * n - 2) * pooled
    assert unpaired_low < 0  # unpaired, the seed effect hides it
    assert np.isnan(ablation.paired_interval([1.0], [0.0])[1])


def test_paired_differences_pair_by_seed_and_the_helping_rule_needs_core_and_control():
    rows = []
    for s in range(5):
        base = s * 0.1
        rows += [{"variant": "core", "seed": s, "v": base}, {"variant": "+ x", "seed": s, "v": base + 0.2 + 0.01 * s},
                 {"variant": "x control", "seed": s, "v": base + 0.2 + 0.01 * (4 - s)}]
    table = pd.DataFrame(rows)
    vs_core = ablation.paired_differences(table, "v", "core")
    assert vs_core.loc["core", "mean"] == 0 and vs_core.loc["+ x", "n"] == 5
    assert vs_core.loc["+ x", "low"] > 0
    vs_control = ablation.paired_differences(table, "v", "x control").loc["+ x"]
    assert vs_control["low"] < 0 < vs_control["high"]
    assert not ablation.helps(vs_core.loc["+ x"], vs_control)  # as good as its control: the structure did nothing
    assert ablation.helps(vs_core.loc["+ x"], None)
    verdicts = ablation.component_table(vs_core, {"+ x": vs_control})
    assert not verdicts.loc["+ x", "helps"]
    with pytest.raises(KeyError):
        ablation.paired_differences(table, "v", "nope")
    core2, control2, verdicts2 = ablation.compare_to_core_and_controls(table, "v", "core", {"+ x": "x control"})
    assert core2.equals(vs_core) and control2["+ x"].equals(vs_control) and verdicts2.equals(verdicts)
