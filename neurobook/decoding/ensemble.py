"""Ensembles of decoders: a product of experts over their class posteriors.

Each member gives every trial a log posterior over the classes (``DecodeResult.scores``, kept with
``keep_scores=True``); the ensemble adds them with fixed weights (equal unless given) and takes the largest. The
weights are set before anything is scored: when the members are refitted on train + validation repeats (as the
chapter's are), validation accuracies of any combination would be in-sample, so nothing is chosen for the ensemble.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from neurobook.decoding.fit import DecodeResult

__all__ = ["ensemble"]


def ensemble(members: Sequence[DecodeResult], weights: Sequence[float] | None = None) -> DecodeResult:
    """The product-of-experts ensemble of ``members`` (decoders of one task on one population, each with
    ``scores``), weighted by ``weights`` (default equal). Its test trials are those every member scores."""
    started = time.time()
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
    missing = [k for k, m in enumerate(members) if m.scores is None]
    if missing:
        raise ValueError(f"members {missing} kept no scores; decode them with keep_scores=True")
    first = members[0]
    if any(m.task != first.task or m.scores.shape != first.scores.shape or not np.array_equal(m.labels, first.labels)
           for m in members):
        raise ValueError("the members must decode the same task on the same population (same labels and shapes)")
    w = np.ones(len(members)) / len(members) if weights is None else np.asarray(weights, float)
    if w.shape != (len(members),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be one non-negative weight per member, not all 0; got {weights!r}")
    total = sum(wk * np.nan_to_num(m.scores, nan=0.0, neginf=-1e30) for wk, m in zip(w, members, strict=True))
    test = np.logical_and.reduce([m.test_mask for m in members])
    pred = np.where(np.logical_or.reduce([m.pred >= 0 for m in members]), total.argmax(-1), -1)
    return DecodeResult(first.task, pred, first.labels, test, first.session_ids, {"weights": w},
                        time.time() - started, n_classes=first.n_classes, scores=total)
