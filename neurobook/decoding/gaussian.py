"""The correlated-noise alternative to the Poisson decoder: square-root counts, Gaussian with a shared covariance.

The Poisson decoder (:mod:`neurobook.decoding.poisson`) treats units as independent given the stimulus. Real
populations share variability beyond one gain factor, so here a trial's square-root counts ``z`` are Gaussian with a
mean per condition and one covariance for all conditions (linear discriminant analysis):

* the means are the per-condition means of ``z`` shrunk toward the same structured priors as the Poisson decoder
  (the parametric receptive field x orientation gain form fitted to the square-root means, or the smoothed map;
  ``kappa`` pseudo-repeats, ``inf`` for the prior itself);
* the covariance is the pooled within-condition covariance of the train repeats, shrunk toward its diagonal by
  ``shrinkage`` (1 gives independent units).

Prior, ``kappa`` and ``shrinkage`` are chosen per animal on the validation repeats, with the same machinery (and
next-window option, and posterior readouts) as the Poisson decoder (:func:`~neurobook.decoding.windows.decode_windows`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch

from neurobook.data.allen_gabor import MAX_GAP_S, GaborSession
from neurobook.decoding.fit import DecodeResult
from neurobook.decoding.poisson import PRIORS, PoissonTuning, condition_sums, fit_tuning, shrunk_rates, smoothed_rates
from neurobook.decoding.population import Population
from neurobook.decoding.windows import NEXT_WEIGHTS, Candidate, decode_windows

__all__ = ["GAUSSIAN_KAPPAS", "SHRINKAGES", "decode_gaussian", "gaussian_candidates"]

GAUSSIAN_KAPPAS = (8.0, 32.0, math.inf)
SHRINKAGES = (0.2, 0.4, 0.6, 0.8)
_VAR_FLOOR = 1e-3  # a unit silent in all train trials keeps a finite precision


def _pooled_covariance(z: torch.Tensor, condition: torch.Tensor, train: torch.Tensor, means: torch.Tensor
                       ) -> torch.Tensor:
    """(n_units, n_units) within-condition covariance of the ``train`` trials (float64)."""
    res = (z[train] - means[condition[train]]).double()
    dof = max(int(train.sum()) - int(torch.unique(condition[train]).numel()), 1)
    return res.T @ res / dof


def _linear_score(weights: torch.Tensor, const: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Log-likelihood (up to a per-trial constant) of counts under the Gaussian of square-root counts."""
    return lambda x: x.float().sqrt() @ weights.T + const


def gaussian_candidates(x: torch.Tensor, condition: torch.Tensor, train: torch.Tensor, *,
                        priors: Sequence[str] = PRIORS, kappas: Sequence[float] = GAUSSIAN_KAPPAS,
                        shrinkages: Sequence[float] = SHRINKAGES, steps: int = 300,
                        warm: PoissonTuning | None = None) -> tuple[list[Candidate], PoissonTuning | None]:
    """Every (prior, kappa, shrinkage) Gaussian model of one window's square-root counts fitted on the ``train``
    trials, and the parametric fit of the square-root means (None when no prior is parametric; a
    :data:`~neurobook.decoding.windows.WindowFit` once the keywords are bound); ``warm`` as in
    :func:`~neurobook.decoding.poisson.poisson_candidates`."""
    z = x.float().sqrt()
    sums, n = condition_sums(z, condition, train)
    tuning = None if "parametric" not in priors else fit_tuning(sums, n, steps=steps) if warm is None else \
        fit_tuning(sums, n, steps=max(steps // 3, 1), init=warm)
    prior_means = {"smoothed": smoothed_rates(sums, n)}
    if tuning is not None:
        prior_means["parametric"] = tuning.rates().detach()
    cov = _pooled_covariance(z, condition, train, sums / n.clamp(min=1)[:, None])
    diag = torch.diag(cov).clamp(min=_VAR_FLOOR)
    out = []
    for lam in shrinkages:
        shrunk = (1 - lam) * cov + lam * torch.diag(diag)
        shrunk.diagonal().copy_(diag)
        chol = torch.linalg.cholesky(shrunk)
        for p in priors:
            for k in kappas:
                mu = shrunk_rates(sums, n, prior_means[p], k).double()
                w = torch.cholesky_solve(mu.T, chol).T  # (243, n_units) precision-weighted means
                out.append(Candidate({"prior": p, "kappa": float(k), "shrinkage": float(lam)},
                                     _linear_score(w.float(), (-0.5 * (w * mu).sum(1)).float())))
    return out, tuning


def decode_gaussian(sessions: Sequence[GaborSession], pop: Population, task: str = "position", *,
                    windows: str = "this", target: str = "current", priors: Sequence[str] = PRIORS,
                    kappas: Sequence[float] = GAUSSIAN_KAPPAS, shrinkages: Sequence[float] = SHRINKAGES,
                    next_weights: Sequence[float] = NEXT_WEIGHTS, readout: str = "marginal", refit: bool = False,
                    steps: int = 300, max_gap_s: float | None = MAX_GAP_S, device: str | torch.device | None = None,
                    keep_scores: bool = False) -> DecodeResult:
    """Within-animal decoding of ``task`` with correlated Gaussian noise on square-root counts; the same arguments
    as :func:`~neurobook.decoding.poisson.decode_poisson` (``target="previous"`` gives the previous-stimulus
    control), with ``shrinkages`` of the covariance toward its diagonal in place of the Poisson gain models."""
    if not priors or set(priors) - set(PRIORS) or not kappas or min(kappas) < 0:
        raise ValueError(f"priors must be from {PRIORS} and kappas >= 0; got {priors}, {kappas}")
    if not shrinkages or not all(0 < s <= 1 for s in shrinkages):
        raise ValueError(f"shrinkages must be in (0, 1], got {shrinkages}")
    fit = partial(gaussian_candidates, priors=tuple(priors), kappas=tuple(kappas), shrinkages=tuple(shrinkages),
                  steps=steps)
    return decode_windows(sessions, pop, task, fit, target=target, windows=windows, next_weights=next_weights,
                          readout=readout, refit=refit, max_gap_s=max_gap_s, device=device, keep_scores=keep_scores)
