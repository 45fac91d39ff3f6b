"""Single-trial response noise for closed-loop searches: what a real experiment returns instead of the mean rate.

A search shown only noisy counts must not be scored on them: :class:`NoisyObjective` wraps a noise-free objective
(:func:`neurobook.inversion.neuron_objective`) and returns one draw per image, Poisson by default or negative
binomial with a given Fano factor; the noise-free objective stays the monitor that scores what the search found.
Calibrate the noise on real repeats with :func:`fano_factor`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["NoisyObjective", "fano_factor"]


def fano_factor(repeats: np.ndarray, min_repeats: int = 4, min_mean: float = 0.05) -> float:
    """Pooled variance / mean of spike counts over repeats, ``repeats`` (n_neurons, n_images, n_repeats), NaN missing.

    Pooled over the (neuron, image) pairs with at least ``min_repeats`` repeats and a mean above ``min_mean``.
    """
    x = np.asarray(repeats, np.float64)
    if x.ndim != 3:
        raise ValueError(f"repeats must be (n_neurons, n_images, n_repeats); got shape {x.shape}")
    n = np.isfinite(x).sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, var = np.nanmean(x, 2), np.nanvar(x, 2, ddof=1)
    ok = (n >= min_repeats) & (mean > min_mean)
    if not ok.any():
        raise ValueError(f"no (neuron, image) pair has {min_repeats} repeats and a mean above {min_mean}")
    return float(var[ok].sum() / mean[ok].sum())


class NoisyObjective:
    """Latents -> one noisy count per candidate around ``objective``'s rate (spike counts per bin).

    ``fano`` 1 is Poisson; above 1, a negative binomial (gamma-Poisson) with variance ``fano * rate``; below 1 the
    counts are Poisson (no common count distribution is less variable at every rate). ``neurons`` and ``images`` are
    the wrapped objective's, so a search returns its images as before.
    """

    def __init__(self, objective: Callable[[np.ndarray], np.ndarray], fano: float = 1.0, seed: int = 0) -> None:
        if not fano > 0:
            raise ValueError(f"fano must be > 0, got {fano}")
        self.objective, self.fano = objective, float(fano)
        self.rng = np.random.default_rng(seed)
        if hasattr(objective, "neurons"):
            self.neurons = objective.neurons
        if hasattr(objective, "images"):
            self.images = objective.images

    def __call__(self, z: np.ndarray) -> np.ndarray:
        rate = np.clip(np.asarray(self.objective(z), np.float64), 0, None)
        if self.fano <= 1.0:
            return self.rng.poisson(rate).astype(np.float64)
        shape = rate / (self.fano - 1.0)  # gamma-Poisson: mean rate, variance rate + rate^2 / shape = fano * rate
        return self.rng.poisson(self.rng.gamma(np.maximum(shape, 1e-12), self.fano - 1.0)).astype(np.float64)
