"""Units aligned across mice by their receptive fields, and the paper's protocol: train on one mouse, test on others.

Units of different mice have nothing in common, so a decoder fitted to one mouse's units cannot read another's.
On the Gabor stimulus each unit has a receptive field, and that gives a common space: every unit's centre is
estimated from the **train repeats only** (:func:`rf_centres`: the peak of its position map, smoothed over the
neighbouring positions), and each mouse's units are pooled into one channel per grid position, the mean of the
z-scored units whose centre lies there (:func:`aligned_population`; an empty channel is 0). Every mouse then has the
same 81 inputs, and a logistic regression fitted to mouse A (L-BFGS to convergence, L2 chosen on A's validation
repeats, refitted on all of A's non-test repeats) decodes mouse B's test trials without a single labelled trial of
B (:func:`cross_animal_accuracy`), as Iqbal et al. trained on one animal and tested on the others. The control
that must fail: the same protocol on each mouse's principal components, whose order means nothing across mice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from neurobook.data.allen_gabor import N_ORIENTATIONS, N_POSITIONS, POSITIONS_DEG
from neurobook.decoding.baselines import DEFAULT_L2_GRID, fit_logistic_baseline
from neurobook.decoding.population import Population

__all__ = ["CrossAnimal", "aligned_population", "cross_animal_accuracy", "preferred_orientations", "rf_centres"]

_K = len(POSITIONS_DEG)


def _smooth(maps: np.ndarray) -> np.ndarray:
    """(n_units, 9, 9) maps averaged with their 4 neighbours (edges use the neighbours they have)."""
    padded = np.pad(maps, ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    stack = np.stack([padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2],
                      padded[:, 1:-1, 2:]])
    return np.nanmean(stack, axis=0)


def preferred_orientations(pop: Population, animal: int) -> np.ndarray:
    """(n_units,) each real unit's preferred orientation (0..2): the largest mean feature over the **train**
    repeats."""
    train = pop.mask("train")[animal].cpu().numpy()
    orientation = pop.labels("orientation")
    units = torch.nonzero(pop.unit_mask[animal]).squeeze(1)
    x = pop.x[animal][:, units].cpu().numpy()
    means = np.stack([x[train & (orientation == o)].mean(0) for o in range(N_ORIENTATIONS)])
    return means.argmax(0)


def rf_centres(pop: Population, animal: int) -> np.ndarray:
    """(n_units,) the grid position (0..80, ``9 * y + x``) of each real unit's receptive-field centre, from the
    animal's **train** repeats only: the peak of the unit's mean feature per position, smoothed over neighbours."""
    if pop.tasks is not None:
        raise ValueError("rf_centres needs a Gabor population (positions), not a population file")
    train = pop.mask("train")[animal].cpu().numpy()
    position = pop.labels("position")
    units = torch.nonzero(pop.unit_mask[animal]).squeeze(1)
    x = pop.x[animal][:, units].cpu().numpy()
    maps = np.zeros((N_POSITIONS, x.shape[1]))
    for p in range(N_POSITIONS):
        rows = train & (position == p)
        maps[p] = x[rows].mean(0) if rows.any() else np.nan
    smoothed = _smooth(maps.T.reshape(-1, _K, _K)).reshape(x.shape[1], N_POSITIONS)
    return np.nanargmax(np.nan_to_num(smoothed, nan=-np.inf), axis=1)


def aligned_population(pop: Population, *, by_orientation: bool = True) -> Population:
    """``pop`` (units, not principal components) with each animal's units pooled into channels by their
    receptive-field centre (:func:`rf_centres`, 81 channels) and, with ``by_orientation``, their preferred
    orientation (:func:`preferred_orientations`, 243 channels); channels are z-scored on the train repeats, empty
    ones are 0."""
    if pop.projected:
        raise ValueError("aligned_population needs a population of units (n_components=None)")
    n_channels = N_POSITIONS * (N_ORIENTATIONS if by_orientation else 1)
    x = torch.zeros(pop.n_animals, pop.n_trials, n_channels, device=pop.device)
    filled = torch.zeros(pop.n_animals, n_channels, dtype=torch.bool, device=pop.device)
    for a in range(pop.n_animals):
        channel = rf_centres(pop, a) * (N_ORIENTATIONS if by_orientation else 1)
        if by_orientation:
            channel = channel + preferred_orientations(pop, a)
        units = torch.nonzero(pop.unit_mask[a]).squeeze(1)
        onehot = torch.nn.functional.one_hot(torch.as_tensor(channel, device=pop.device), n_channels).float()
        n = onehot.sum(0)
        ch = pop.x[a][:, units] @ onehot / n.clamp_min(1)
        train = pop.mask("train")[a]
        mu, sd = ch[train].mean(0), ch[train].std(0)
        ch = torch.where(pop.present[a][:, None], (ch - mu) / torch.where(sd > 1e-6, sd, torch.ones_like(sd)), 0.0)
        x[a] = ch * (n > 0)
        filled[a] = n > 0
    return Population(x=x, unit_mask=torch.ones_like(filled), present=pop.present, condition=pop.condition,
                      repeat=pop.repeat, split=pop.split, session_ids=pop.session_ids, areas=pop.areas,
                      n_units=pop.n_units, projected=True, tasks=pop.tasks)


@dataclass
class CrossAnimal:
    """Decoders fitted to one animal and scored on every animal's test trials (no labelled trial of the target).

    ``accuracy[i, j]``: decoder of animal ``i`` on the test trials of animal ``j`` (the diagonal is within-animal);
    ``val_accuracy[i, j]``: the same on ``j``'s validation repeats (off the diagonal they are held out from the
    decoder, so they can choose between alignments); ``correct[i, j]``: (n_trials,) bool, which of ``j``'s trials it
    got right; ``test_mask`` (n_animals, n_trials).
    """

    task: str
    accuracy: np.ndarray
    val_accuracy: np.ndarray
    correct: np.ndarray
    test_mask: np.ndarray
    session_ids: list
    seconds: float

    def across_validation(self) -> float:
        """Median over target animals of the other animals' decoders' median validation accuracy on them."""
        off = self.val_accuracy.copy()
        np.fill_diagonal(off, np.nan)
        return float(np.nanmedian(np.nanmedian(off, axis=0)))

    def within(self) -> np.ndarray:
        """(n_animals,) each animal's own decoder on its own test trials."""
        return np.diag(self.accuracy).copy()

    def across(self) -> np.ndarray:
        """(n_animals,) per target animal, the median accuracy of the other animals' decoders on it."""
        off = self.accuracy.copy()
        np.fill_diagonal(off, np.nan)
        return np.nanmedian(off, axis=0)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"session": self.session_ids, "within": self.within(), "from other mice": self.across()})


def cross_animal_accuracy(pop: Population, task: str, *, l2_grid: Sequence[float] = DEFAULT_L2_GRID,
                          max_iter: int = 1000, seed: int = 0) -> CrossAnimal:
    """Fit the fair logistic baseline (:func:`~neurobook.decoding.fit_logistic_baseline`) to every animal of
    ``pop`` (whose inputs must mean the same in every animal, e.g. :func:`aligned_population`) and score each
    animal's decoder on every animal's test trials."""
    started = time.time()
    _, final = fit_logistic_baseline(pop, task, l2_grid=l2_grid, max_iter=max_iter, seed=seed)
    labels = pop.labels(task)
    test = pop.mask("test").cpu().numpy()
    n = pop.n_animals
    correct = np.zeros((n, n, pop.n_trials), bool)
    with torch.no_grad():
        for i, theta in enumerate(final.weights):
            w = torch.zeros(pop.x.shape[2], theta.shape[2], dtype=theta.dtype, device=pop.device)
            w[pop.unit_mask[i]] = theta[1:, 0]  # input k of animal i is input k of every animal
            for j in range(n):
                correct[i, j] = (pop.x[j] @ w + theta[0, 0]).argmax(-1).cpu().numpy() == labels
    val = pop.mask("validation").cpu().numpy()
    acc, val_acc = ((correct & m[None]).sum(-1) / np.maximum(m.sum(-1), 1)[None] for m in (test, val))
    return CrossAnimal(task, acc, val_acc, correct, test, list(pop.session_ids), time.time() - started)
