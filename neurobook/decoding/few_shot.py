"""A new animal with few labelled trials: the within-animal alternatives to transfer, fitted on the very trials the
adapted decoder gets, and the trial savings of transfer.

:func:`few_shot_alternatives` fits, for every shot count, the converged logistic baseline (its L2 strength chosen
on the validation repeats, no refit) and the Poisson decoder (its prior, shrinkage and gain chosen on validation) on
the nested few-shot training sets of :func:`~neurobook.decoding.few_shot_mask`, the same sets (same seed) that
:func:`~neurobook.decoding.transfer_across_animals` adapts on. The alternatives thus get one advantage the adapted
decoder does not: their settings are chosen on labelled validation repeats. :class:`FewShotComparison` sets them
beside the adapted and from-scratch decoders, names the best alternative at each shot count **on validation**, and
:func:`trial_savings` reads off how many labelled trials per class the best alternative needs to match the adapted
decoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurobook.data.allen_gabor import GaborSession
from neurobook.decoding.baselines import DEFAULT_L2_GRID, decode_logistic_baseline
from neurobook.decoding.fit import TransferResult, few_shot_mask
from neurobook.decoding.poisson import decode_poisson
from neurobook.decoding.population import Population
from neurobook.decoding.scores import accuracy

__all__ = ["ALTERNATIVES", "FewShotComparison", "compare_few_shot", "few_shot_alternatives", "trial_savings"]

#: the within-animal alternatives to transfer: converged logistic regression, the structured Poisson decoder, and a
#: whole neural decoder trained from scratch on the same trials (from :class:`TransferResult`)
ALTERNATIVES = ("logistic", "poisson", "scratch")


def few_shot_alternatives(sessions: Sequence[GaborSession] | None, pop: Population, task: str, shots: Sequence[int],
                          *, seed: int = 0, l2_grid: Sequence[float] = DEFAULT_L2_GRID, poisson_steps: int = 300,
                          ) -> dict[str, np.ndarray]:
    """Predictions (n_animals, n_shots, n_trials) of the logistic and Poisson alternatives trained on ``shots[s]``
    labelled trials per class (the nested sets of :func:`few_shot_mask` with ``seed``). ``sessions`` (the
    population's Gabor sessions, for the Poisson decoder's raw counts) may be None: logistic only."""
    labels = pop.labels(task)
    masks = few_shot_mask(pop, labels, shots, seed)
    out: dict[str, list[np.ndarray]] = {"logistic": []}
    if sessions is not None:
        out["poisson"] = []
    for s in range(len(shots)):
        trials = masks[:, s]
        out["logistic"].append(decode_logistic_baseline(pop, task, l2_grid=l2_grid, trials=trials, refit=False).pred)
        if sessions is not None:
            out["poisson"].append(decode_poisson(sessions, pop, task, steps=poisson_steps,
                                                 train_trials=trials.cpu().numpy()).pred)
    return {name: np.stack(preds, axis=1) for name, preds in out.items()}


@dataclass
class FewShotComparison:
    """Every decoder of a few-shot comparison on the same trials: predictions (n_animals, n_shots, n_trials) per
    decoder, at the shot counts ``shots`` (NaN accuracy where a decoder was not run at a shot count)."""

    task: str
    shots: list[int]
    predictions: dict[str, np.ndarray]
    labels: np.ndarray
    test_mask: np.ndarray  # (n_animals, n_trials)
    val_mask: np.ndarray  # (n_animals, n_trials)
    session_ids: list[int]

    def accuracy(self, name: str, split: str = "test") -> np.ndarray:
        """(n_animals, n_shots) accuracy of decoder ``name`` on the ``test`` or ``validation`` repeats."""
        mask = {"test": self.test_mask, "validation": self.val_mask}[split]
        pred = self.predictions[name]
        return np.where((pred < 0).all(-1), np.nan, accuracy(pred, self.labels, mask[:, None, :]))

    def correct(self, name: str, shot: int) -> np.ndarray:
        """(n_animals, n_trials) bool: which trials decoder ``name`` got right with ``shot`` trials per class."""
        return self.predictions[name][:, self.shots.index(shot)] == self.labels[None]

    def alternatives(self) -> list[str]:
        return [a for a in ALTERNATIVES if a in self.predictions]

    def best_alternative(self) -> list[str]:
        """Per shot count, the alternative with the highest median validation accuracy (test repeats choose
        nothing)."""
        val = {a: np.nanmedian(self.accuracy(a, "validation"), axis=0) for a in self.alternatives()}
        return [max(val, key=lambda a, s=s: (np.nan_to_num(val[a][s], nan=-1.0))) for s in range(len(self.shots))]

    def best_alternative_accuracy(self) -> np.ndarray:
        """(n_animals, n_shots) test accuracy of the alternative chosen on validation at each shot count."""
        best = self.best_alternative()
        return np.stack([self.accuracy(a)[:, s] for s, a in enumerate(best)], axis=1)

    def table(self) -> pd.DataFrame:
        """Median test (and validation) accuracy over animals per decoder and shot count, and the chosen
        alternative."""
        best = self.best_alternative()
        rows = []
        for s, k in enumerate(self.shots):
            row = {"shots": k, "best alternative (on validation)": best[s]}
            for name in self.predictions:
                row[name] = float(np.nanmedian(self.accuracy(name)[:, s]))
                row[f"{name} (validation)"] = float(np.nanmedian(self.accuracy(name, "validation")[:, s]))
            rows.append(row)
        return pd.DataFrame(rows).set_index("shots")


def compare_few_shot(transfer: TransferResult, alternatives: dict[str, np.ndarray], shots: Sequence[int],
                     pop: Population) -> FewShotComparison:
    """The adapted and scratch decoders of ``transfer`` beside ``alternatives`` (from :func:`few_shot_alternatives`
    at ``shots``, a superset of the transfer's shot counts); decoders missing at a shot count get -1 predictions
    (NaN accuracy there)."""
    shots = list(shots)
    missing = set(transfer.shots) - set(shots)
    if missing or not transfer.predictions:
        raise ValueError(f"shots must include the transfer's shot counts {transfer.shots} (missing {sorted(missing)})"
                         " and the transfer result must carry its predictions")
    preds = {}
    for name, p in transfer.predictions.items():
        full = np.full((p.shape[0], len(shots), p.shape[2]), -1, np.int64)
        for s, k in enumerate(transfer.shots):
            full[:, shots.index(k)] = p[:, s]
        preds[name] = full
    preds |= alternatives
    present = pop.present.cpu().numpy()
    return FewShotComparison(transfer.task, shots, preds, transfer.labels, pop.mask("test").cpu().numpy(),
                             pop.mask("validation").cpu().numpy() & present, list(pop.session_ids))


def trial_savings(shots: Sequence[int], curve: np.ndarray, target: float, at: int) -> float:
    """How many times more labelled trials per class than ``at`` a decoder with accuracy ``curve`` (one value per
    shot count in ``shots``, increasing shot counts) needs to reach ``target``: the crossing is interpolated
    linearly in log(shots). ``inf`` where the curve never reaches the target (then the saving is at least
    ``max(shots) / at``); below 1 where the curve reaches it with fewer trials than ``at``."""
    shots, curve = np.asarray(shots, float), np.asarray(curve, float)
    if shots.ndim != 1 or curve.shape != shots.shape or np.any(np.diff(shots) <= 0):
        raise ValueError(f"shots must increase and curve hold one value per shot count; got {shots}, {curve}")
    ok = np.isfinite(curve)
    shots, curve = shots[ok], curve[ok]
    if len(shots) == 0 or not math.isfinite(target):
        return float("nan")
    reached = np.flatnonzero(curve >= target)
    if len(reached) == 0:
        return float("inf")
    j = int(reached[0])
    if j == 0:
        return float(shots[0] / at)
    x0, x1, y0, y1 = np.log(shots[j - 1]), np.log(shots[j]), curve[j - 1], curve[j]
    x = x0 + (target - y0) / (y1 - y0) * (x1 - x0) if y1 > y0 else x1
    return float(np.exp(x) / at)
