"""Decode a population file (:mod:`neurobook.data.population_file`): the user's own recording, or the Allen
``natural_scenes`` / ``static_gratings`` population, with the chapter's fair protocol.

For every task of the file: the converged logistic baseline on all units (L2 on validation, refit on all non-test
trials) and its shuffled-label control; for the file's ``stimulus`` task also the neural decoder on each animal's
principal components, with its paired difference to the baseline; with several animals, transfer to a held-out
animal from a few labelled trials per class against the logistic baseline trained on the same trials
(:func:`neurobook.decoding.few_shot.few_shot_alternatives`), paired on the same test trials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from neurobook.data.population_file import PopulationRecording
from neurobook.decoding.baselines import decode_logistic_baseline
from neurobook.decoding.few_shot import FewShotComparison, compare_few_shot, few_shot_alternatives
from neurobook.decoding.fit import DecodeResult, decode_neural, transfer_across_animals
from neurobook.decoding.population import Population, population_from_file
from neurobook.decoding.scores import bootstrap_median_ci, paired_bootstrap_ci

__all__ = ["RecordingDecoding", "decode_recording"]


@dataclass
class RecordingDecoding:
    """What :func:`decode_recording` measured on one population file."""

    name: str
    n_animals: int
    n_units: np.ndarray
    logistic: dict[str, DecodeResult]
    shuffled: dict[str, DecodeResult]
    neural: DecodeResult | None = None
    #: neural minus logistic on the stimulus task, paired over animals and trials: (median, low, high)
    neural_minus_logistic: tuple[float, float, float] | None = None
    transfer: FewShotComparison | None = None
    #: per shot count of the transfer, adapted minus the logistic baseline on the same trials: (median, low, high)
    transfer_minus_logistic: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self) -> pd.DataFrame:
        """One row per (task, decoder): classes, chance, median test accuracy over animals and its 95% interval."""
        rows = []
        runs = [(t, "logistic", r) for t, r in self.logistic.items()]
        runs += [(t, "logistic, shuffled labels", r) for t, r in self.shuffled.items()]
        if self.neural is not None:
            runs.append((self.neural.task, "neural", self.neural))
        for task, kind, r in runs:
            med, lo, hi = bootstrap_median_ci(r.accuracy())
            rows.append({"task": task, "decoder": kind, "classes": r.n_classes, "chance": r.chance,
                         "median accuracy": med, "95% CI low": lo, "95% CI high": hi, "animals": len(r.accuracy())})
        return pd.DataFrame(rows)


def _shots_available(pop: Population, task: str, shots: tuple[int, ...]) -> list[int]:
    labels = pop.labels(task)
    per_class = int(np.bincount(labels[pop.split == "train"]).min())
    return [k for k in shots if k <= per_class]


def _transfer(rec_pops: tuple[Population, Population], opts: dict, seed: int
              ) -> tuple[FewShotComparison | None, dict[int, tuple[float, float, float]]]:
    full, small = rec_pops
    shots = _shots_available(full, "stimulus", opts["shots"])
    if full.n_animals < 2 or not shots:
        return None, {}
    t = transfer_across_animals(small, "stimulus", n_folds=min(opts["folds"], full.n_animals), shots=shots,
                                latent=opts["latent"], hidden=opts["hidden"], steps=opts["steps"],
                                adapt_steps=opts["adapt_steps"], lr=opts["lr"], batch_size=opts["batch"], seed=seed)
    alts = few_shot_alternatives(None, full, "stimulus", shots, seed=seed)
    few = compare_few_shot(t, alts, shots, full)
    diffs = {k: paired_bootstrap_ci(few.correct("adapted", k), few.correct("logistic", k), few.test_mask, seed=seed)
             for k in shots}
    return few, diffs


def decode_recording(rec: PopulationRecording, *, n_components: int | None = 64, neural_steps: int = 250,
                     latent: int = 64, hidden: int = 256, batch: int = 256, max_iter: int = 1000,
                     transfer_folds: int = 8, transfer_steps: int = 250, adapt_steps: int = 150,
                     transfer_lr: float = 1e-2, shots: tuple[int, ...] = (1, 2, 5, 10), seed: int = 0,
                     device: str | torch.device = "cpu") -> RecordingDecoding:
    """Decode every task of ``rec`` (see the module docstring); ``n_components`` principal components per animal
    feed the neural and transfer decoders (None: all units)."""
    started = time.time()
    full = population_from_file(rec, device=device)
    small = population_from_file(rec, n_components=n_components, device=device) if n_components else full
    logistic = {t: decode_logistic_baseline(full, t, max_iter=max_iter, seed=seed) for t in full.task_names}
    shuffled = {t: decode_logistic_baseline(full, t, l2_grid=(0.1,), max_iter=max_iter, shuffle_labels=True,
                                            seed=seed) for t in full.task_names}
    neural = decode_neural(small, "stimulus", latent=latent, hidden=hidden, steps=neural_steps, batch_size=batch,
                           seed=seed)
    base = logistic["stimulus"]
    neural_diff = paired_bootstrap_ci(neural.pred == neural.labels[None], base.pred == base.labels[None],
                                      base.test_mask, seed=seed)
    few, diffs = _transfer((full, small), {"shots": shots, "folds": transfer_folds, "latent": latent,
                                           "hidden": hidden, "steps": transfer_steps, "adapt_steps": adapt_steps,
                                           "lr": transfer_lr, "batch": batch}, seed)
    return RecordingDecoding(rec.name, full.n_animals, full.n_units, logistic, shuffled, neural, neural_diff, few,
                             diffs, time.time() - started)
