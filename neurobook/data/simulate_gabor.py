"""Simulated mouse visual populations on the Allen Gabor stimulus, with known tuning (ground truth for decoders).

Each unit has a Gaussian receptive field on the 9 x 9 position grid (centre uniform over the screen, width
``rf_sigma_deg``) and von Mises-like orientation tuning on the 3 orientations (modulation ``orientation_depth``).
Its rate on a trial is ``baseline + gain * rf(position) * tuning(orientation)`` spikes per window, and the count is
Poisson, so repeats differ. Every session is shown the conditions in its own random order, like the real data.
The true rates are kept in ``meta["rates"]`` (243 conditions x units) so the ideal observer is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurobook.checks import check_positive_int
from neurobook.data.allen_gabor import N_CONDITIONS, N_REPEATS, ORIENTATIONS_DEG, POSITIONS_DEG, GaborSession

__all__ = ["condition_rates", "ideal_observer_accuracy", "simulate_gabor_sessions"]


def condition_rates(n_units: int, rng: np.random.Generator, *, rf_sigma_deg: float = 15.0, gain: float = 3.0,
                    baseline: float = 0.5, orientation_depth: float = 0.6) -> np.ndarray:
    """(243, n_units) true mean counts of each unit in each condition."""
    cx, cy = rng.uniform(-45, 45, n_units), rng.uniform(-45, 45, n_units)
    pref = rng.integers(0, len(ORIENTATIONS_DEG), n_units)
    gx, gy = np.meshgrid(POSITIONS_DEG, POSITIONS_DEG)  # row = y index, column = x index: position = 9 y + x
    d2 = (gx.reshape(-1, 1) - cx) ** 2 + (gy.reshape(-1, 1) - cy) ** 2
    rf = np.exp(-d2 / (2 * rf_sigma_deg**2))  # (81, n_units)
    ori = np.where(np.arange(len(ORIENTATIONS_DEG))[:, None] == pref, 1.0, 1.0 - orientation_depth)  # (3, n)
    g = gain * rng.lognormal(0, 0.5, n_units)
    return (baseline + g * rf[:, None, :] * ori[None, :, :]).reshape(N_CONDITIONS, n_units)


def simulate_gabor_sessions(n_sessions: int = 3, n_units: int | tuple[int, int] = (40, 80), *,
                            n_repeats: int = N_REPEATS, seed: int = 0, **tuning) -> list[GaborSession]:
    """``n_sessions`` simulated sessions (mice) as :class:`GaborSession` objects; ``tuning`` goes to
    :func:`condition_rates`. ``n_units`` is a number or a (low, high) range drawn per session."""
    check_positive_int("n_sessions", n_sessions)
    if not isinstance(n_repeats, int) or n_repeats < 3:
        raise ValueError(f"n_repeats must be an int >= 3 (one third are test repeats), got {n_repeats!r}")
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_sessions):
        n = int(rng.integers(n_units[0], n_units[1] + 1)) if isinstance(n_units, tuple) else int(n_units)
        rates = condition_rates(n, rng, **tuning)
        cond = np.repeat(np.arange(N_CONDITIONS), n_repeats)
        rep = np.tile(np.arange(n_repeats), N_CONDITIONS)
        order = rng.permutation(len(cond))
        cond, rep = cond[order], rep[order]
        counts = rng.poisson(rates[cond]).astype(np.float32)
        pos, oi = cond // len(ORIENTATIONS_DEG), cond % len(ORIENTATIONS_DEG)
        k = len(POSITIONS_DEG)
        areas = np.array(["VISp", "VISl"])[rng.integers(0, 2, n)]
        units = pd.DataFrame({"ecephys_unit_id": np.arange(n) + 1000 * s, "ecephys_structure_acronym": areas})
        out.append(GaborSession(
            session_id=s, counts=counts, x_deg=POSITIONS_DEG[pos % k], y_deg=POSITIONS_DEG[pos // k],
            orientation_deg=ORIENTATIONS_DEG[oi], repeat=rep, split=np.where(rep % 3 == 2, "test", "train"),
            unit_ids=units["ecephys_unit_id"].to_numpy(), areas=areas, units=units, quality="simulated",
            meta={"rates": rates, "simulated": True},
        ))
    return out


def ideal_observer_accuracy(session: GaborSession, task: str = "position", split: str = "test") -> float:
    """Accuracy of the Bayes-optimal decoder that knows the true Poisson rates (flat prior over conditions).

    The posterior of a class sums the likelihoods of its conditions; no decoder fitted on data can do better
    on average, so it is the ceiling for the decoders on simulated sessions.
    """
    rates = session.meta.get("rates")
    if rates is None:
        raise ValueError("ideal_observer_accuracy needs a simulated session (meta['rates'])")
    trials = session.split == split
    x = session.counts[trials]
    loglik = x @ np.log(rates).T - rates.sum(1)[None, :]  # (trials, 243) Poisson log-likelihood up to a constant
    n_classes = {"position": 81, "orientation": 3, "condition": 243}[task]
    cls = {"position": np.arange(243) // 3, "orientation": np.arange(243) % 3, "condition": np.arange(243)}[task]
    m = loglik.max(1, keepdims=True)
    lik = np.exp(loglik - m)
    post = np.stack([lik[:, cls == c].sum(1) for c in range(n_classes)], axis=1)
    return float((post.argmax(1) == session.labels(task)[trials]).mean())
