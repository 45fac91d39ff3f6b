"""Scores of decoders: accuracy with confidence intervals, position error in degrees, confusion matrices, and
paired comparisons of one area against others within the same animals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurobook.metrics import bootstrap_median_ci

__all__ = ["accuracy", "bootstrap_median_ci", "confusion_matrix", "paired_area_accuracy", "paired_bootstrap_ci",
           "position_error_deg", "wilson_ci"]


def accuracy(pred: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Fraction correct along the last axis: ``pred`` (..., n_trials), ``labels`` (n_trials,) or same shape as pred,
    ``mask`` (..., n_trials) picks the trials that count (NaN where a row has none)."""
    pred = np.asarray(pred)
    correct = pred == np.broadcast_to(np.asarray(labels), pred.shape)
    m = np.ones_like(correct) if mask is None else np.broadcast_to(np.asarray(mask, bool), pred.shape)
    n = m.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (correct & m).sum(-1) / np.maximum(n, 1), np.nan)


def wilson_ci(k: np.ndarray | float, n: np.ndarray | float, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion of ``k`` successes in ``n`` trials (95% by default)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    p = k / np.maximum(n, 1)
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def paired_bootstrap_ci(correct_a: np.ndarray, correct_b: np.ndarray, mask: np.ndarray, *, trials: bool = True,
                        n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high) of the per-animal accuracy difference A - B, median over animals, with a paired bootstrap
    percentile interval.

    ``correct_a``, ``correct_b``: (n_animals, n_trials) bool, whether each decoder got each trial right; ``mask``
    (n_animals, n_trials) the trials that count (both decoders are scored on the same ones: the pairing). Every
    bootstrap sample draws animals with replacement and, with ``trials`` (a two-level bootstrap), each drawn animal's
    trials with replacement, the same trials for A and B; ``trials=False`` resamples animals only.
    """
    a, b, m = (np.asarray(v, bool) for v in (correct_a, correct_b, mask))
    if a.shape != b.shape or a.shape != m.shape or a.ndim != 2:
        raise ValueError(f"correct_a, correct_b and mask must be (n_animals, n_trials) alike; got {a.shape}, "
                         f"{b.shape}, {m.shape}")
    n = m.sum(1)
    keep = n > 0
    if not keep.any():
        return float("nan"), float("nan"), float("nan")
    # per animal, how many trials only A / only B got right: the difference depends on the trials through them only
    up, down, n = (a & ~b & m).sum(1)[keep], (~a & b & m).sum(1)[keep], n[keep]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(n), size=(n_boot, len(n)))
    if trials:
        probs = np.stack([up / n, down / n, 1 - (up + down) / n], axis=1)
        draws = np.stack([rng.multinomial(n[i], probs[i], size=n_boot) for i in range(len(n))], axis=1)
        diff = (draws[..., 0] - draws[..., 1]) / n  # (n_boot, n_animals)
        boots = np.median(np.take_along_axis(diff, pick, axis=1), axis=1)
    else:
        boots = np.median(((up - down) / n)[pick], axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(np.median((up - down) / n)), float(lo), float(hi)


def position_error_deg(pred_position: np.ndarray, true_position: np.ndarray, grid_deg: np.ndarray) -> np.ndarray:
    """Euclidean distance in degrees between predicted and true position classes (``grid_deg``: (81, 2))."""
    p, t = np.asarray(pred_position), np.asarray(true_position)
    return np.linalg.norm(grid_deg[p] - grid_deg[np.broadcast_to(t, p.shape)], axis=-1)


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, n_classes: int, normalize: bool = True) -> np.ndarray:
    """(true, predicted) counts, or row-normalized fractions."""
    pred, labels = np.asarray(pred).ravel(), np.broadcast_to(np.asarray(labels), np.shape(pred)).ravel()
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (labels, pred), 1)
    if normalize:
        cm /= np.maximum(cm.sum(1, keepdims=True), 1)
    return cm


def paired_area_accuracy(by_area: pd.DataFrame, area: str, others: Sequence[str], reference: str) -> pd.DataFrame:
    """Per animal that has ``area`` and at least one of ``others``: its accuracy from ``area``, from ``reference``
    (NaN where that animal lacks it) and from its best area among ``others``.

    ``by_area``: one row per (session, area) with an ``accuracy`` column, as
    :func:`neurobook.decoding.decode_by_area` returns it. Rows: sessions; columns: ``area``, ``reference``,
    ``"best of others"``.
    """
    missing = {"session", "area", "accuracy"} - set(by_area.columns)
    if missing:
        raise ValueError(f"by_area lacks columns {sorted(missing)}; pass decode_by_area's table")
    wide = by_area.pivot(index="session", columns="area", values="accuracy")
    other = wide.reindex(columns=[a for a in others if a != area])
    if area not in wide:
        return pd.DataFrame(columns=[area, reference, "best of others"], dtype=float)
    both = wide[area].notna() & other.notna().any(axis=1)
    return pd.DataFrame({area: wide.loc[both, area],
                         reference: other.loc[both].get(reference, pd.Series(np.nan, index=wide.index[both])),
                         "best of others": other.loc[both].max(axis=1)})
