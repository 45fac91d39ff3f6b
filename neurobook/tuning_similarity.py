"""Brain-Score-style similarity of a model's tuning-property distribution to a published one (Marques et al. 2021).

Steps (brain-score/vision ``metrics/distribution_similarity``, described in the data set's SOURCE.md):

1. Model values are clipped to the data's bin range; NaNs (e.g. the bandwidth of an untuned neuron) drop out.
2. ``n_data`` model values are drawn with replacement, ``n_boot`` times; each draw is binned on the data's edges.
3. Each draw scores ``1 - max|CDF_model - CDF_data| / D_max``, ``D_max`` the largest distance reached when all
   mass sits in the first or in the last bin.
4. The mean over draws is divided by the ceiling: the same score of resampled data against the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurobook.data.tuning_literature import ReferenceHistogram


def ks_similarity(p: np.ndarray, q: np.ndarray) -> float:
    """``1 - max|cumsum p - cumsum q| / D_max`` for normalized histograms ``p`` (model) and ``q`` (data)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    cq = np.cumsum(q)
    first, last = np.zeros_like(q), np.zeros_like(q)
    first[0], last[-1] = 1, 1
    d_max = max(np.abs(np.cumsum(first) - cq).max(), np.abs(np.cumsum(last) - cq).max())
    return float(1 - np.abs(np.cumsum(p) - cq).max() / d_max)


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    h = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0].astype(float)
    return h / max(h.sum(), 1.0)


def distribution_similarity(model_values: np.ndarray, reference: ReferenceHistogram, n_boot: int = 1000,
                            seed: int = 0, ceiled: bool = True) -> float:
    """Bootstrapped KS similarity of model values to ``reference`` (divided by the data's ceiling if ``ceiled``).

    Returns NaN when no model value is finite (the property is undefined for every model neuron).
    """
    values = np.asarray(model_values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    q = reference.counts / reference.counts.sum()
    n = reference.n
    draws = rng.choice(values, size=(n_boot, n), replace=True)
    score = float(np.mean([ks_similarity(_histogram(d, reference.edges), q) for d in draws]))
    return score / similarity_ceiling(reference, n_boot, seed) if ceiled else score


def similarity_ceiling(reference: ReferenceHistogram, n_boot: int = 1000, seed: int = 0) -> float:
    """Mean score of ``n_data`` cells resampled (with replacement) from the data against the data itself."""
    rng = np.random.default_rng(seed + 1)
    q = reference.counts / reference.counts.sum()
    draws = rng.multinomial(reference.n, q, size=n_boot) / reference.n
    return float(np.mean([ks_similarity(p, q) for p in draws]))


def sample_reference(reference: ReferenceHistogram, n: int, seed: int = 0) -> np.ndarray:
    """``n`` values drawn like Brain-Score's assemblies: a bin by its count, then uniform inside it (log-uniform
    for log-spaced bins)."""
    rng = np.random.default_rng(seed)
    q = reference.counts / reference.counts.sum()
    k = rng.choice(len(q), size=n, p=q)
    lo, hi = reference.edges[k], reference.edges[k + 1]
    if reference.log_bins:
        return np.exp(rng.uniform(np.log(lo), np.log(hi)))
    return rng.uniform(lo, hi)


def property_similarities(table: pd.DataFrame, references: dict[str, ReferenceHistogram],
                          properties: list[str] | tuple[str, ...], n_boot: int = 1000,
                          seed: int = 0) -> dict[str, float]:
    """Ceiled similarity per property, over the neurons marked ``responsive`` (as Brain-Score filters them)."""
    missing = [p for p in properties if p not in table.columns or p not in references]
    if missing:
        raise KeyError(f"properties {missing} are missing from the model table or the references")
    kept = table[table["responsive"].astype(bool)] if "responsive" in table.columns else table
    return {p: distribution_similarity(kept[p].to_numpy(), references[p], n_boot, seed) for p in properties}
