"""Spike-triggered non-negative matrix factorization (STNMF; Liu et al. 2017, Nat Commun 8:149).

The spike-triggered stimulus ensemble of a ganglion cell (one spatial stimulus per spike) is factorized as

$$ X \\approx W H, \\qquad W \\ge 0 \\ (n_{\\mathrm{spikes}} \\times k), \\qquad H \\text{ signed } (k \\times p), $$

a semi-NMF (Ding, Li & Jordan 2010): the rows of ``H`` are the spatial **modules** (candidate bipolar-cell
subunits), ``W`` says how much each module contributed to each spike. ``W`` takes Ding's multiplicative update.
Sparsity, which Liu et al. impose to get localized modules, is an L1 penalty on the modules (``sparsity``: pixels
outside a subunit go to zero) and optionally on the weights (``weight_sparsity``: each spike explained by few
modules, the form in Liu et al.'s code); on the model cells of ``neurobook.data.retina_sim`` the module penalty
recovers the subunits better.

Each spatial stimulus is either the frame at the STA's peak lag (``temporal="peak"``) or the stimulus history
weighted by the STA's temporal filter (``temporal="sta"``, the "time integrated out" ensemble of Liu et al.'s code).
A bin with ``c`` spikes contributes its stimulus with weight ``c`` (rows scaled by ``sqrt(c)``, which is exact for
the squared loss and keeps ``W >= 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurobook.checks import check_positive_int
from neurobook.data.retina import RetinaRecording, history_stack

__all__ = ["STNMFResult", "semi_nmf", "shuffle_spikes", "spike_triggered_ensemble", "stnmf"]

TEMPORAL_MODES = ("peak", "sta")


@dataclass
class STNMFResult:
    """Modules (k, H, W) signed, sorted by their total weight; weights (n_events, k) >= 0; the ensemble's facts."""

    modules: np.ndarray
    weights: np.ndarray
    importance: np.ndarray  # (k,) total weight x module norm: its share of the ensemble, descending
    lag: int  # the STA's peak lag (bins before the spike)
    temporal_filter: np.ndarray  # (history,) unit-norm temporal STA used to integrate time out
    n_spikes: int
    loss: np.ndarray  # objective after each iteration

    def top(self, n: int) -> np.ndarray:
        """The ``n`` modules with the largest total weight, (n, H, W)."""
        return self.modules[:n]


def _check_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_events, n_pixels); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def semi_nmf(x: np.ndarray, n_modules: int, *, sparsity: float = 0.06, weight_sparsity: float = 0.0,
             n_iter: int = 200, seed: int = 0, tol: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse semi-NMF ``x ~ W H`` with ``W >= 0`` (n, k) and signed ``H`` (k, p).

    Minimizes ``||x - W H||^2 / n + sparsity * |H|_1 + weight_sparsity * sum(W) / n`` with the columns of ``W``
    kept at unit root-mean-square (so the penalties cannot be evaded by rescaling): each row of ``H`` takes an exact
    coordinate step with soft-thresholding (without penalties: the least-squares ``H`` of Ding et al.), ``W`` takes
    Ding, Li & Jordan's (2010) multiplicative update (the L1 weight in its denominator). ``W`` starts uniform in
    [0, 1) from ``seed``. Stops after ``n_iter`` iterations or when the loss (checked every 10) changes by less than
    ``tol`` relative. Returns (W, H, loss at each check).
    """
    x = _check_2d(x, "x")
    n, _ = x.shape
    check_positive_int("n_modules", n_modules)
    if n < 2 * n_modules:
        raise ValueError(f"need at least 2 x n_modules = {2 * n_modules} rows (spikes) to factorize; got {n}")
    for name, value in (("sparsity", sparsity), ("weight_sparsity", weight_sparsity)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    rng = np.random.default_rng(seed)
    eps = 1e-12
    w = rng.uniform(0, 1, (n, n_modules))
    w /= np.sqrt((w**2).mean(0))
    h = np.linalg.solve(w.T @ w + eps * np.eye(n_modules), w.T @ x)
    losses: list[float] = []
    for it in range(n_iter):
        gram, wx = w.T @ w, w.T @ x
        for j in range(n_modules):  # exact coordinate step on module j (soft-thresholded for the L1 penalty)
            r = wx[j] - gram[j] @ h + gram[j, j] * h[j]
            h[j] = np.sign(r) * np.maximum(np.abs(r) - 0.5 * sparsity * n, 0) / max(gram[j, j], eps)
        a, b = x @ h.T, h @ h.T
        w *= np.sqrt((np.maximum(a, 0) + w @ np.maximum(-b, 0) + eps)
                     / (np.maximum(-a, 0) + w @ np.maximum(b, 0) + 0.5 * weight_sparsity + eps))
        scale = np.sqrt((w**2).mean(0)) + eps
        w /= scale
        h *= scale[:, None]
        if it % 10 == 9 or it == n_iter - 1:
            loss = float(((x - w @ h) ** 2).sum() / n + sparsity * np.abs(h).sum() + weight_sparsity * w.sum() / n)
            losses.append(loss)
            if len(losses) > 1 and abs(losses[-2] - loss) <= tol * abs(losses[-2]):
                break
    return w, h, np.asarray(losses)


def _cell_counts(rec: RetinaRecording, cell: int) -> list[np.ndarray]:
    if isinstance(cell, bool) or not isinstance(cell, int | np.integer) or not 0 <= cell < rec.n_cells:
        raise ValueError(f"cell must be an index in 0..{rec.n_cells - 1}; got {cell!r}")
    return [c[:, cell] for c in rec.counts]


def spike_triggered_ensemble(rec: RetinaRecording, cell: int = 0, *, history: int = 12,
                             temporal: str = "sta") -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """The spike-triggered ensemble of one cell from the running trials of ``rec``.

    Returns (stimuli (n_events, H*W) float32, spike counts (n_events,), peak lag, unit-norm temporal filter): one
    row per bin with at least one spike; see the module docstring for ``temporal``.
    """
    if temporal not in TEMPORAL_MODES:
        raise ValueError(f"temporal must be one of {TEMPORAL_MODES}, got {temporal!r}")
    counts = _cell_counts(rec, cell)
    sta = rec.select_cells([cell]).spike_triggered_average(history)[0]  # (history, H, W)
    flat = sta.reshape(history, -1)
    lag = int(np.abs(flat).max(1).argmax())
    temporal_filter = flat @ flat[lag]
    temporal_filter /= max(float(np.linalg.norm(temporal_filter)), 1e-12)
    xs, cs = [], []
    for frames, y in zip(rec.frames, counts, strict=True):
        if len(frames) < history:
            continue
        y = y[history - 1 :]
        keep = y > 0
        stack = history_stack(frames, history)[keep]  # (n, history, H, W), channel k = k bins before
        if temporal == "peak":
            x = stack[:, lag].reshape(len(stack), -1).astype(np.float32)
        else:
            x = np.einsum("nkp,k->np", stack.reshape(len(stack), history, -1).astype(np.float32),
                          temporal_filter.astype(np.float32))
        xs.append(x)
        cs.append(y[keep])
    if not xs:
        raise ValueError(f"no running trial is longer than history={history} frames")
    return np.concatenate(xs), np.concatenate(cs).astype(np.float64), lag, temporal_filter


def stnmf(rec: RetinaRecording, cell: int = 0, n_modules: int = 10, *, history: int = 12, temporal: str = "sta",
          sparsity: float = 0.06, weight_sparsity: float = 0.0, n_iter: int = 200, seed: int = 0,
          min_spikes: int = 200) -> STNMFResult:
    """STNMF of one cell of ``rec`` (running trials only): modules sorted by total weight.

    Refuses a cell with fewer than ``min_spikes`` spikes (the modules would be noise). The ensemble is scaled to
    unit standard deviation (as in Liu et al.'s code) so that ``sparsity`` means the same for every cell.
    """
    if not isinstance(rec, RetinaRecording):
        raise TypeError(f"rec must be a RetinaRecording, got {type(rec).__name__}")
    x, c, lag, tf = spike_triggered_ensemble(rec, cell, history=history, temporal=temporal)
    n_spikes = int(c.sum())
    if n_spikes < max(min_spikes, 2 * n_modules):
        raise ValueError(f"cell {cell} has {n_spikes} spikes in the running trials; STNMF needs at least "
                         f"{max(min_spikes, 2 * n_modules)} (more trials, or lower min_spikes)")
    x = x.astype(np.float64) * np.sqrt(c)[:, None]
    x /= max(float(x.std()), 1e-12)
    w, h, loss = semi_nmf(x, n_modules, sparsity=sparsity, weight_sparsity=weight_sparsity, n_iter=n_iter,
                          seed=seed)
    importance = w.sum(0) * np.linalg.norm(h, axis=1)
    order = np.argsort(-importance, kind="stable")
    h_shape = rec.frame_shape
    return STNMFResult(h[order].reshape(n_modules, *h_shape), w[:, order], importance[order], lag, tf, n_spikes,
                       loss)


def shuffle_spikes(rec: RetinaRecording, seed: int = 0) -> RetinaRecording:
    """A control: ``rec`` with each cell's spike counts permuted in time within each trial (the frames kept)."""
    rng = np.random.default_rng(seed)
    counts = [np.stack([rng.permutation(col) for col in c.T], 1) for c in rec.counts]
    return RetinaRecording(rec.frames, counts, rec.frozen, rec.frozen_counts, rec.frame_rate, rec.cell_ids,
                           rec.name, dict(rec.meta))
