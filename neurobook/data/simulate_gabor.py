"""Simulated mouse visual populations on the Allen Gabor stimulus, with known tuning (ground truth for decoders).

Each unit has a Gaussian receptive field on the 9 x 9 position grid (centre uniform over the screen, width
``rf_sigma_deg``) and von Mises-like orientation tuning on the 3 orientations (modulation ``orientation_depth``).
Its rate on a trial is ``baseline + gain * rf(position) * tuning(orientation)`` spikes per window, and the count is
Poisson, so repeats differ. Every session is shown the conditions in its own random order, like the real data.
The true rates are kept in ``meta["rates"]`` (243 conditions x units) so the ideal observer is known.

Presentations last 0.25 s back to back (``start_time``/``stop_time``), in the session's random order. With
``spill > 0`` a fraction of each stimulus's driven response falls into the window of the presentation that follows
it (as in the real recordings, where 250 ms windows hold the previous stimulus's late response); ``spill=0`` (the
default) keeps every window independent of its neighbours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurobook.checks import check_positive_int
from neurobook.data.allen_gabor import N_CONDITIONS, N_REPEATS, ORIENTATIONS_DEG, POSITIONS_DEG, GaborSession

__all__ = ["condition_rates", "ideal_observer_accuracy", "simulate_gabor_sessions"]


PRESENTATION_S = 0.25  # duration of a simulated presentation, shown back to back
BASELINE = 0.5  # default spontaneous mean count per window


def condition_rates(n_units: int, rng: np.random.Generator, *, rf_sigma_deg: float = 15.0, gain: float = 3.0,
                    baseline: float = BASELINE, orientation_depth: float = 0.6) -> np.ndarray:
    """(243, n_units) true mean counts of each unit in each condition: ``baseline`` + the driven response."""
    return baseline + _driven(n_units, rng, rf_sigma_deg, gain, orientation_depth)


def _driven(n_units: int, rng: np.random.Generator, rf_sigma_deg: float, gain: float, orientation_depth: float
            ) -> np.ndarray:
    """(243, n_units) driven part of the mean counts (above baseline)."""
    cx, cy = rng.uniform(-45, 45, n_units), rng.uniform(-45, 45, n_units)
    pref = rng.integers(0, len(ORIENTATIONS_DEG), n_units)
    gx, gy = np.meshgrid(POSITIONS_DEG, POSITIONS_DEG)  # row = y index, column = x index: position = 9 y + x
    d2 = (gx.reshape(-1, 1) - cx) ** 2 + (gy.reshape(-1, 1) - cy) ** 2
    rf = np.exp(-d2 / (2 * rf_sigma_deg**2))  # (81, n_units)
    ori = np.where(np.arange(len(ORIENTATIONS_DEG))[:, None] == pref, 1.0, 1.0 - orientation_depth)  # (3, n)
    g = gain * rng.lognormal(0, 0.5, n_units)
    return (g * rf[:, None, :] * ori[None, :, :]).reshape(N_CONDITIONS, n_units)


def _window_rates(rates: np.ndarray, cond: np.ndarray, baseline: float, spill: float) -> np.ndarray:
    """(n_trials, n_units) mean count of each window (trials in time order): ``1 - spill`` of the driven response
    of its own stimulus plus ``spill`` of the previous one's (none before the first)."""
    if spill == 0:
        return rates[cond]
    driven = rates - baseline
    late = np.zeros((len(cond), rates.shape[1]))
    late[1:] = driven[cond[:-1]]
    return baseline + (1 - spill) * driven[cond] + spill * late


def simulate_gabor_sessions(n_sessions: int = 3, n_units: int | tuple[int, int] = (40, 80), *,
                            n_repeats: int = N_REPEATS, seed: int = 0, spill: float = 0.0,
                            **tuning) -> list[GaborSession]:
    """``n_sessions`` simulated sessions (mice) as :class:`GaborSession` objects; ``tuning`` goes to
    :func:`condition_rates`. ``n_units`` is a number or a (low, high) range drawn per session.

    ``spill`` (0 <= spill < 1) is the fraction of each stimulus's driven response that falls into the next
    presentation's window. With spill-over ``meta["rates"]`` holds each condition's mean count averaged over the
    previous stimulus (so :func:`ideal_observer_accuracy`, which ignores the neighbours, is then only a reference,
    not a ceiling) and ``meta["late_rates"]`` what a condition adds to the next window.
    """
    check_positive_int("n_sessions", n_sessions)
    if not isinstance(n_repeats, int) or n_repeats < 3:
        raise ValueError(f"n_repeats must be an int >= 3 (one third are test repeats), got {n_repeats!r}")
    if not 0 <= spill < 1:
        raise ValueError(f"spill must be in [0, 1), got {spill!r}")
    baseline = float(tuning.get("baseline", BASELINE))
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_sessions):
        n = int(rng.integers(n_units[0], n_units[1] + 1)) if isinstance(n_units, tuple) else int(n_units)
        rates = condition_rates(n, rng, **tuning)
        cond = np.repeat(np.arange(N_CONDITIONS), n_repeats)
        rep = np.tile(np.arange(n_repeats), N_CONDITIONS)
        order = rng.permutation(len(cond))
        cond, rep = cond[order], rep[order]
        counts = rng.poisson(_window_rates(rates, cond, baseline, spill)).astype(np.float32)
        pos, oi = cond // len(ORIENTATIONS_DEG), cond % len(ORIENTATIONS_DEG)
        k = len(POSITIONS_DEG)
        areas = np.array(["VISp", "VISl"])[rng.integers(0, 2, n)]
        units = pd.DataFrame({"ecephys_unit_id": np.arange(n) + 1000 * s, "ecephys_structure_acronym": areas})
        out.append(GaborSession(
            session_id=s, counts=counts, x_deg=POSITIONS_DEG[pos % k], y_deg=POSITIONS_DEG[pos // k],
            orientation_deg=ORIENTATIONS_DEG[oi], repeat=rep, split=np.where(rep % 3 == 2, "test", "train"),
            unit_ids=units["ecephys_unit_id"].to_numpy(), areas=areas, units=units, quality="simulated",
            meta=_meta(rates, baseline, spill), start_time=np.arange(len(cond)) * PRESENTATION_S,
            stop_time=(np.arange(len(cond)) + 1) * PRESENTATION_S,
        ))
    return out


def _meta(rates: np.ndarray, baseline: float, spill: float) -> dict:
    if spill == 0:
        return {"rates": rates, "simulated": True}
    driven = rates - baseline
    return {"rates": baseline + (1 - spill) * driven + spill * driven.mean(0), "late_rates": spill * driven,
            "spill": spill, "simulated": True}


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
