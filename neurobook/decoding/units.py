"""Unit quality from the training repeats only: which units respond to the Gabor's position.

allensdk's ``p_value_rf`` and ``area_rf`` are computed from every Gabor presentation, test repeats included, so a
decoder restricted to units that pass them has seen the test trials through the choice of its inputs. Here the
receptive-field test is a one-way ANOVA of square-rooted counts across the 81 positions (orientations pooled) on
the training trials only, with a floor on the firing rate in those trials; the spike-sorting criteria of
``published_like_qc`` (``snr > 1``, ``firing_rate_dg > 0.1``, from other recordings than the Gabor test trials) can
be kept beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from neurobook.data.allen_gabor import N_POSITIONS, GaborSession

__all__ = ["TRAIN_QC", "WINDOW_S", "rf_anova_pvalues", "select_train_qc", "train_qc_mask"]

WINDOW_S = 0.249  # the counting window of the data (s)
TRAIN_QC = ("RF ANOVA across the 81 positions on the training repeats p < alpha & training-trial rate >= "
            "min_rate_hz (& snr > 1 & firing_rate_dg > 0.1 where the unit table has them)")


def _train_trials(session: GaborSession, trials: np.ndarray | None) -> np.ndarray:
    use = session.split == "train" if trials is None else np.asarray(trials, bool)
    if use.shape != (session.n_trials,):
        raise ValueError(f"trials must be a bool mask of the session's {session.n_trials} trials, got {use.shape}")
    if len(np.unique(session.position[use])) < 2:
        raise ValueError(f"session {session.session_id}: the chosen trials show fewer than 2 positions")
    return use


def rf_anova_pvalues(session: GaborSession, trials: np.ndarray | None = None) -> np.ndarray:
    """(n_units,) p-value of a one-way ANOVA of each unit's square-rooted counts across the 81 positions, on
    ``trials`` (bool per trial; default the training repeats, ``session.split == "train"``). A unit that never
    fires gets 1."""
    use = _train_trials(session, trials)
    y = np.sqrt(session.counts[use].astype(np.float64))
    pos = session.position[use]
    n, k = len(y), len(np.unique(pos))
    n_g = np.bincount(pos, minlength=N_POSITIONS).astype(np.float64)
    sums = np.eye(N_POSITIONS)[pos].T @ y  # (81, n_units) sum per position
    between = (sums[n_g > 0] ** 2 / n_g[n_g > 0, None]).sum(0) - y.sum(0) ** 2 / n
    within = (y**2).sum(0) - (sums[n_g > 0] ** 2 / n_g[n_g > 0, None]).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (between / (k - 1)) / (within / (n - k))
    p = stats.f.sf(f, k - 1, n - k)
    return np.where(np.isfinite(p) & (y.sum(0) > 0), p, 1.0)


def train_qc_mask(session: GaborSession, *, alpha: float = 0.01, min_rate_hz: float = 0.1,
                  spike_sorting: bool = True, trials: np.ndarray | None = None) -> np.ndarray:
    """(n_units,) bool: units whose counts on the training trials depend on position (:func:`rf_anova_pvalues`
    ``< alpha``) and whose mean rate there is at least ``min_rate_hz``; with ``spike_sorting`` also
    ``snr > 1 & firing_rate_dg > 0.1`` where the unit table has those columns (the rest of ``published_like_qc``).
    Nothing about the test repeats enters."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    use = _train_trials(session, trials)
    rate = session.counts[use].mean(0) / WINDOW_S
    keep = (rf_anova_pvalues(session, use) < alpha) & (rate >= min_rate_hz)
    if spike_sorting:
        for column, floor in (("snr", 1.0), ("firing_rate_dg", 0.1)):
            if column in session.units:
                values = pd.to_numeric(session.units[column], errors="coerce").to_numpy(float)
                keep &= np.nan_to_num(values, nan=-np.inf) > floor
    return keep


def select_train_qc(sessions: list[GaborSession], **kwargs) -> list[GaborSession]:
    """Each session restricted to the units of :func:`train_qc_mask` (load them with ``quality="none"``);
    ``kwargs`` go to :func:`train_qc_mask`. Sessions left with no unit raise a clear error."""
    out = []
    for s in sessions:
        keep = train_qc_mask(s, **kwargs)
        if not keep.any():
            raise ValueError(f"session {s.session_id}: no unit passes the training-repeat quality filter")
        picked = s.select_units(keep)
        picked.quality = "train_qc"
        out.append(picked)
    return out
