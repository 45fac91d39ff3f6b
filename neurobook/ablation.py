"""A controlled ablation's bookkeeping: a score over one fixed property set, paired differences over seeds with
t intervals, and the rule for "a component helps".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats


def fixed_set_mean(similarities: pd.DataFrame, properties: Sequence[str]) -> pd.DataFrame:
    """Mean similarity over exactly ``properties`` for every row; a property with no value counts as 0.

    A property is never dropped for one variant and kept for another (that would compare means over different sets):
    a variant none of whose units has a defined value for a property matched none of that distribution, so it scores
    0 there. ``missing`` says how many of the set were missing in each row.
    """
    missing = [p for p in properties if p not in similarities.columns]
    if missing:
        raise KeyError(f"properties {missing} are not columns of the similarity table")
    if not len(properties):
        raise ValueError("the fixed property set is empty: no property can be compared")
    values = similarities[list(properties)].astype(float)
    return pd.DataFrame({"mean": values.fillna(0.0).mean(axis=1), "missing": values.isna().sum(axis=1)},
                        index=similarities.index)


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``a - b`` (one pair per seed) and its t interval: (mean, low, high).

    With fewer than two pairs the interval is NaN (a single seed has no spread).
    """
    d = np.asarray(a, float) - np.asarray(b, float)
    if d.ndim != 1 or len(d) != len(np.asarray(b, float)):
        raise ValueError("a and b must be 1-d and of the same length (one value per seed)")
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return (float("nan"),) * 3
    mean = float(d.mean())
    if len(d) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return mean, mean - half, mean + half


def paired_differences(table: pd.DataFrame, value: str, reference: str, *, variant: str = "variant",
                       seed: str = "seed", level: float = 0.95) -> pd.DataFrame:
    """Each variant minus ``reference`` in column ``value``, paired by ``seed``: mean, low, high, n (seeds)."""
    order = list(dict.fromkeys(table[variant]))
    wide = table.pivot_table(index=seed, columns=variant, values=value, aggfunc="first", dropna=False).reindex(
        columns=order)
    if reference not in wide.columns:
        raise KeyError(f"reference variant {reference!r} is not in the table ({list(wide.columns)})")
    rows = {}
    ref = wide[reference]
    for v in order:
        ok = wide[v].notna() & ref.notna()
        mean, low, high = paired_interval(wide.loc[ok, v].to_numpy(), ref[ok].to_numpy(), level)
        rows[v] = {"mean": mean, "low": low, "high": high, "n": int(ok.sum())}
    return pd.DataFrame(rows).T.astype({"n": int})


def helps(versus_core: pd.Series, versus_control: pd.Series | None) -> bool:
    """True only when the interval excludes 0 upwards against the core and, if given, against the control."""
    ok = bool(versus_core["low"] > 0)
    if versus_control is not None:
        ok = ok and bool(versus_control["low"] > 0)
    return ok


def component_table(deltas_core: pd.DataFrame, deltas_control: Mapping[str, pd.Series | None]) -> pd.DataFrame:
    """One row per component variant: its difference from the core and from its control, and the verdict."""
    rows = {}
    for v, control_row in deltas_control.items():
        core_row = deltas_core.loc[v]
        rows[v] = {"vs core": core_row["mean"], "core low": core_row["low"], "core high": core_row["high"],
                   "vs control": np.nan if control_row is None else control_row["mean"],
                   "control low": np.nan if control_row is None else control_row["low"],
                   "control high": np.nan if control_row is None else control_row["high"],
                   "helps": helps(core_row, control_row)}
    return pd.DataFrame(rows).T


def as_interval(row: pd.Series) -> list[float]:
    """[mean, low, high] of a paired-difference row, for results files."""
    return [float(row["mean"]), float(row["low"]), float(row["high"])]


def compare_to_core_and_controls(table: pd.DataFrame, value: str, core: str, control_of: Mapping[str, str],
                                 level: float = 0.95) -> tuple[pd.DataFrame, dict[str, pd.Series], pd.DataFrame]:
    """Every variant against ``core``, each component variant against its control (``control_of``), the verdicts."""
    vs_core = paired_differences(table, value, core, level=level)
    vs_control = {v: paired_differences(table, value, control, level=level).loc[v] for v, control in control_of.items()}
    return vs_core, vs_control, component_table(vs_core, vs_control)
