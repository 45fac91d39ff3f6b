"""How far category labels can be trusted: proportions with Wilson intervals, and Cohen's kappa between two labellings
of the same items (for example the preferred-image types of the same neurons from two independently trained models).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurobook.decoding.scores import wilson_ci

__all__ = ["cohen_kappa", "kappa_interval", "label_proportions"]


def _labels(name: str, labels: Sequence | np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of labels, got shape {arr.shape}")
    return arr


def cohen_kappa(a: Sequence | np.ndarray, b: Sequence | np.ndarray) -> float:
    """Cohen's kappa of two labellings of the same items: (observed - chance agreement) / (1 - chance agreement).

    1 is perfect agreement, 0 what two independent labellings with these label frequencies agree by chance. When
    both labellings give every item one and the same label, chance agreement is 1 and kappa is undefined (NaN).
    """
    a, b = _labels("a", a), _labels("b", b)
    if len(a) != len(b):
        raise ValueError(f"a and b must label the same items, got {len(a)} and {len(b)} labels")
    observed = float(np.mean(a == b))
    categories = np.union1d(a, b)
    chance = float(sum(np.mean(a == c) * np.mean(b == c) for c in categories))
    return float("nan") if chance >= 1 else (observed - chance) / (1 - chance)


def kappa_interval(a: Sequence | np.ndarray, b: Sequence | np.ndarray, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float, float]:
    """Kappa and its percentile bootstrap interval over items (resampled in pairs): (kappa, low, high)."""
    a, b = _labels("a", a), _labels("b", b)
    kappa = cohen_kappa(a, b)
    rng = np.random.default_rng(seed)
    draws = np.array([cohen_kappa(a[i], b[i]) for i in rng.integers(0, len(a), (n_boot, len(a)))])
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return kappa, float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return kappa, float(low), float(high)


def label_proportions(labels: Sequence | np.ndarray, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Count, share and Wilson 95% interval of each label (rows in ``categories`` order, absent ones with 0)."""
    arr = _labels("labels", labels)
    cats = list(categories) if categories is not None else sorted(set(arr.tolist()))
    counts = np.array([int(np.sum(arr == c)) for c in cats])
    low, high = wilson_ci(counts, len(arr))
    return pd.DataFrame({"neurons": counts, "share": counts / len(arr), "Wilson 95% low": low,
                         "Wilson 95% high": high}, index=pd.Index(cats, name="label"))
