"""The Poisson decoder built on the structure of the Gabor task, and the previous-stimulus control.

Every unit gets a tuning over the 243 conditions, fitted on the **training** repeats only:

* parametric (:func:`fit_tuning`): ``rate(c) = baseline + gain * rf(azimuth, elevation) * w(orientation)`` with an
  axis-aligned 2-D Gaussian receptive field and three orientation gains (geometric mean 1), fitted by Poisson
  maximum likelihood from the per-condition spike sums, batched over units in torch, from three starts built from
  the condition means (the best one per unit is kept);
* non-parametric: the per-condition means shrunk toward a prior (:func:`shrunk_rates`), the parametric fit or a
  smoothed map that pools neighbouring positions (:func:`smoothed_rates`); ``kappa`` is the prior's weight in
  pseudo-repeats (``inf`` is the prior itself).

A trial is decoded by its Poisson log-likelihood summed over units (:func:`poisson_log_likelihood`), optionally with a
per-trial population gain (the trial's total count relative to the expected one, ``ratio``, or fitted by maximum
likelihood for each condition, ``profile``), and optionally with the next presentation's window as a second
observation. Prior, ``kappa``, gain and the next window are chosen per animal on the validation repeats, and the
posterior is read out per task, by :func:`neurobook.decoding.windows.decode_windows`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from neurobook.data.allen_gabor import MAX_GAP_S, N_CONDITIONS, POSITIONS_DEG, GaborSession
from neurobook.decoding.fit import DecodeResult
from neurobook.decoding.population import Population
from neurobook.decoding.windows import NEXT_WEIGHTS, Candidate, WindowFit, decode_windows

__all__ = ["GAINS", "KAPPAS", "PRIORS", "PoissonTuning", "condition_sums", "decode_poisson", "decode_previous",
           "fit_tuning", "poisson_candidates", "poisson_log_likelihood", "shrunk_rates", "smoothed_rates"]

GAINS = ("none", "ratio", "profile")
PRIORS = ("parametric", "smoothed")
KAPPAS = (0.5, 2.0, 8.0, 32.0, math.inf)  # prior weights (pseudo-repeats) tried on validation
RATE_FLOOR = 1e-3  # spikes per window: no condition is impossible
_K = len(POSITIONS_DEG)
_STEP = float(POSITIONS_DEG[1] - POSITIONS_DEG[0])  # the fit works in grid steps (10 deg)


def _grid(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(243,) azimuth and elevation in grid steps, and the orientation index, of each condition."""
    c = torch.arange(N_CONDITIONS, device=device)
    pos = c // 3
    centre = (_K - 1) / 2
    return (pos % _K).float() - centre, (pos // _K).float() - centre, c % 3


@dataclass
class PoissonTuning:
    """Fitted parametric tuning of a batch of units (torch tensors on one device).

    Attributes:
        baseline, gain: (n_units,) spikes per window.
        centre_deg, width_deg: (n_units, 2) receptive-field centre and s.d. (azimuth, elevation) in degrees.
        orientation_gain: (n_units, 3) multiplicative gain of each orientation (geometric mean 1).
        nll: (n_units,) final negative log-likelihood per training trial (up to a constant).
    """

    baseline: torch.Tensor
    gain: torch.Tensor
    centre_deg: torch.Tensor
    width_deg: torch.Tensor
    orientation_gain: torch.Tensor
    nll: torch.Tensor

    def rates(self) -> torch.Tensor:
        """(243, n_units) mean count of every unit in every condition."""
        az, el, oi = _grid(self.baseline.device)
        c, w = self.centre_deg / _STEP, self.width_deg / _STEP
        rf = torch.exp(-0.5 * ((az[:, None] - c[:, 0]) / w[:, 0]) ** 2 - 0.5 * ((el[:, None] - c[:, 1]) / w[:, 1]) ** 2)
        return self.baseline + self.gain * rf * self.orientation_gain[:, oi].T


def _param_rates(p: dict[str, torch.Tensor], az: torch.Tensor, el: torch.Tensor, oi: torch.Tensor) -> torch.Tensor:
    """(n_starts, 243, n_units) rates of the unconstrained parameters ``p`` (each (n_starts, n_units[, 3]))."""
    sx, sy = p["log_sx"].clamp(-1.2, 2.3).exp(), p["log_sy"].clamp(-1.2, 2.3).exp()
    rf = torch.exp(-0.5 * ((az[None, :, None] - p["cx"][:, None]) / sx[:, None]) ** 2
                   - 0.5 * ((el[None, :, None] - p["cy"][:, None]) / sy[:, None]) ** 2)
    w = p["w"] - p["w"].mean(-1, keepdim=True)
    ori = torch.exp(w)[:, :, oi].transpose(1, 2)  # (n_starts, 243, n_units)
    return p["log_b"].exp()[:, None] + p["log_g"].exp()[:, None] * rf * ori


def _starts(sums: torch.Tensor, n: torch.Tensor) -> dict[str, torch.Tensor]:
    """Three starting points per unit from the condition means: the peak of the smoothed position map, the map's
    centre of mass, and a broad field at the screen centre."""
    units = sums.shape[1]
    n_pos = n.view(_K * _K, 3).sum(1).clamp(min=1)
    pos_map = sums.view(_K * _K, 3, units).sum(1) / n_pos[:, None]  # (81, U)
    base = pos_map.quantile(0.25, dim=0).clamp(min=RATE_FLOOR)
    resp = (pos_map - base).clamp(min=0)
    smooth = torch.nn.functional.avg_pool2d(resp.T.reshape(units, 1, _K, _K), 3, 1, 1, count_include_pad=False)
    peak = smooth.reshape(units, -1).argmax(1)
    centre = (_K - 1) / 2
    px, py = (peak % _K).float() - centre, (peak // _K).float() - centre
    az, el, _ = _grid(sums.device)
    wts = resp**2 / (resp**2).sum(0).clamp(min=1e-9)
    mx, my = (wts * az.view(81, 3)[:, 0, None]).sum(0), (wts * el.view(81, 3)[:, 0, None]).sum(0)
    ori_mean = sums.view(_K * _K, 3, units).sum(0) / n.view(_K * _K, 3).sum(0).clamp(min=1)[:, None]
    w = torch.log((ori_mean - base).clamp(min=1e-2)).T  # (U, 3)
    top = resp.max(0).values.clamp(min=1e-2)
    return {"log_b": torch.log(base).expand(3, -1), "log_g": torch.stack([top.log(), top.log(), (top / 2).log()]),
            "cx": torch.stack([px, mx, torch.zeros_like(px)]), "cy": torch.stack([py, my, torch.zeros_like(py)]),
            "log_sx": torch.tensor([0.4, 0.7, 1.4], device=sums.device)[:, None].expand(3, units),
            "log_sy": torch.tensor([0.4, 0.7, 1.4], device=sums.device)[:, None].expand(3, units),
            "w": w[None].expand(3, -1, -1)}


def _warm_start(init: PoissonTuning) -> dict[str, torch.Tensor]:
    """One starting point per unit: the unconstrained parameters of a previous fit."""
    return {"log_b": init.baseline.log()[None], "log_g": init.gain.log()[None],
            "cx": init.centre_deg[None, :, 0] / _STEP, "cy": init.centre_deg[None, :, 1] / _STEP,
            "log_sx": (init.width_deg[None, :, 0] / _STEP).log(), "log_sy": (init.width_deg[None, :, 1] / _STEP).log(),
            "w": init.orientation_gain.log()[None]}


def fit_tuning(sums: torch.Tensor, n: torch.Tensor, *, steps: int = 300, lr: float = 0.05,
               init: PoissonTuning | None = None) -> PoissonTuning:
    """Poisson maximum-likelihood fit of the parametric tuning of every unit from its spike ``sums`` (243, n_units)
    over the ``n`` (243,) training trials of each condition; all units and starting points in one Adam loop.
    ``init`` (a fit of the same units on other trials, e.g. a subset) replaces the three starting points by one."""
    sums, n = sums.float(), n.float().to(sums.device)
    az, el, oi = _grid(sums.device)
    starts = _starts(sums, n) if init is None else _warm_start(init)
    params = {k: v.detach().clone().contiguous().requires_grad_(True) for k, v in starts.items()}
    opt = torch.optim.Adam(params.values(), lr=lr)
    total = n.sum().clamp(min=1)

    def nll() -> torch.Tensor:  # (n_starts, n_units)
        rate = _param_rates(params, az, el, oi).clamp(min=RATE_FLOOR)
        return -(sums * rate.log() - n[:, None] * rate).sum(1) / total

    for _ in range(steps):
        opt.zero_grad()
        nll().sum().backward()
        opt.step()
    with torch.no_grad():
        loss = nll()
        best = loss.argmin(0)
        pick = {k: v[best, torch.arange(len(best))] for k, v in params.items()}
        w = pick["w"] - pick["w"].mean(-1, keepdim=True)
        sx, sy = pick["log_sx"].clamp(-1.2, 2.3).exp(), pick["log_sy"].clamp(-1.2, 2.3).exp()
        return PoissonTuning(pick["log_b"].exp(), pick["log_g"].exp(), torch.stack([pick["cx"], pick["cy"]], 1) * _STEP,
                             torch.stack([sx, sy], 1) * _STEP, w.exp(), loss.min(0).values)


def condition_sums(x: torch.Tensor, condition: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(243, n_units) spike sums and (243,) trial numbers of each condition over the trials in ``mask``."""
    cond = condition[mask]
    sums = torch.zeros(N_CONDITIONS, x.shape[1], device=x.device).index_add_(0, cond, x[mask].float())
    return sums, torch.bincount(cond, minlength=N_CONDITIONS).float()


def smoothed_rates(sums: torch.Tensor, n: torch.Tensor, width_steps: float = 1.0) -> torch.Tensor:
    """(243, n_units) condition means pooled over neighbouring positions of the same orientation (Gaussian kernel of
    ``width_steps`` grid steps; sums and trial numbers are pooled alike, so conditions without trials get a rate)."""
    d = torch.arange(_K, device=sums.device, dtype=torch.float32)
    kern = torch.exp(-0.5 * ((d[:, None] - d[None, :]) / width_steps) ** 2)
    pool = lambda v: torch.einsum("ae,bz,ezo...->abo...", kern, kern, v)  # noqa: E731
    s = pool(sums.view(_K, _K, 3, -1)).reshape(N_CONDITIONS, -1)
    m = pool(n.view(_K, _K, 3)).reshape(N_CONDITIONS, 1)
    return (s / m.clamp(min=1e-9)).clamp(min=RATE_FLOOR)


def shrunk_rates(sums: torch.Tensor, n: torch.Tensor, prior: torch.Tensor, kappa: float) -> torch.Tensor:
    """(243, n_units) posterior-mean rates: condition means shrunk toward ``prior`` with ``kappa`` pseudo-trials
    (a Gamma prior of mean ``prior``); ``kappa = inf`` returns the prior."""
    if math.isinf(kappa):
        return prior.clamp(min=RATE_FLOOR)
    return ((sums + kappa * prior) / (n[:, None] + kappa)).clamp(min=RATE_FLOOR)


def poisson_log_likelihood(x: torch.Tensor, rates: torch.Tensor, gain: str = "none") -> torch.Tensor:
    """(n_trials, 243) Poisson log-likelihood of each trial's counts ``x`` (n_trials, n_units) under each condition's
    ``rates`` (243, n_units), summed over units, up to a per-trial constant.

    ``gain``: ``none``; ``ratio``, all rates scaled by the trial's total count over the mean expected total;
    ``profile``, scaled by the maximum-likelihood gain of each condition (total count over that condition's total).
    """
    if gain not in GAINS:
        raise ValueError(f"gain must be one of {GAINS}, got {gain!r}")
    x = x.float()
    fit = x @ rates.log().T
    expected = rates.sum(1)  # (243,)
    total = x.sum(1, keepdim=True)
    if gain == "none":
        return fit - expected
    if gain == "ratio":
        return fit - total / expected.mean() * expected
    return fit - total * expected.log()


def poisson_candidates(x: torch.Tensor, condition: torch.Tensor, train: torch.Tensor, *,
                       priors: Sequence[str] = PRIORS, kappas: Sequence[float] = KAPPAS,
                       gains: Sequence[str] = GAINS, steps: int = 300, warm: PoissonTuning | None = None
                       ) -> tuple[list[Candidate], PoissonTuning | None]:
    """Every (prior, kappa, gain) Poisson model of one window fitted on the ``train`` trials, and the parametric
    fit (None when no prior is parametric; a :data:`WindowFit` once the keywords are bound). ``warm``: a fit of
    the same window on a subset of these trials, the start of a shorter parametric fit (a third of the steps)."""
    sums, n = condition_sums(x, condition, train)
    tuning = None if "parametric" not in priors else fit_tuning(sums, n, steps=steps) if warm is None else \
        fit_tuning(sums, n, steps=max(steps // 3, 1), init=warm)
    prior_rates = {"smoothed": smoothed_rates(sums, n)}
    if tuning is not None:
        prior_rates["parametric"] = tuning.rates().detach()
    out = []
    for p in priors:
        for k in kappas:
            rates = shrunk_rates(sums, n, prior_rates[p], k)
            for g in gains:
                out.append(Candidate({"prior": p, "kappa": float(k), "gain": g},
                                     lambda v, r=rates, g=g: poisson_log_likelihood(v, r, g)))
    return out, tuning


def _poisson_fit(priors: Sequence[str], kappas: Sequence[float], gains: Sequence[str], steps: int) -> WindowFit:
    if not priors or set(priors) - set(PRIORS) or not gains or set(gains) - set(GAINS):
        raise ValueError(f"priors must be from {PRIORS} and gains from {GAINS}; got {priors}, {gains}")
    if not kappas or min(kappas) < 0:
        raise ValueError(f"kappas must be >= 0 (inf for the prior itself), got {kappas}")
    return partial(poisson_candidates, priors=tuple(priors), kappas=tuple(kappas), gains=tuple(gains), steps=steps)


def decode_poisson(sessions: Sequence[GaborSession], pop: Population, task: str = "position", *,
                   windows: str = "this", priors: Sequence[str] = PRIORS, kappas: Sequence[float] = KAPPAS,
                   gains: Sequence[str] = GAINS, next_weights: Sequence[float] = NEXT_WEIGHTS,
                   readout: str = "marginal", refit: bool = False, steps: int = 300,
                   max_gap_s: float | None = MAX_GAP_S, train_trials: np.ndarray | None = None,
                   device: str | torch.device | None = None, keep_scores: bool = False) -> DecodeResult:
    """Within-animal Poisson decoding of ``task`` from the raw counts of ``sessions`` (the animals of ``pop``, in
    order; ``pop`` gives the aligned trials and the train/validation/test split, so the result tables beside the
    other decoders of the same population).

    Per animal and window the tuning is fitted on the train repeats; the prior (``priors``), the shrinkage
    (``kappas``) and the gain model (``gains``) are chosen on the validation repeats. ``windows``: ``this`` (the
    presentation's own window), ``both`` (plus the next presentation's window, :meth:`GaborSession.next_window`, as
    an independent observation with its own tuning, where it follows within ``max_gap_s``; its log-likelihood is
    weighted by one of ``next_weights``, chosen on validation, since the next stimulus's own response makes that
    window more variable than a Poisson count), or ``auto`` (the next window only where it raises the validation
    accuracy). ``refit`` fits the chosen models again on train + validation and ``train_trials`` restricts the fit
    to some train trials (:func:`decode_windows`). ``chosen``
    holds the choices per animal and, under ``fit``, each animal's parametric fit of this window
    (:class:`PoissonTuning`) by session id; ``keep_scores`` keeps the class log posteriors (``scores``).
    """
    return decode_windows(sessions, pop, task, _poisson_fit(priors, kappas, gains, steps), windows=windows,
                          next_weights=next_weights, readout=readout, refit=refit, max_gap_s=max_gap_s,
                          train_trials=train_trials, device=device, keep_scores=keep_scores)


def decode_previous(sessions: Sequence[GaborSession], pop: Population, task: str = "position", *,
                    priors: Sequence[str] = PRIORS, kappas: Sequence[float] = KAPPAS, gains: Sequence[str] = GAINS,
                    readout: str = "marginal", steps: int = 300, max_gap_s: float | None = MAX_GAP_S,
                    device: str | torch.device | None = None) -> DecodeResult:
    """The previous-stimulus control: decode the ``task`` class of the presentation shown *before* each trial from
    the trial's own window (the Poisson decoder of :func:`decode_poisson`). At chance when windows are independent;
    above chance when a stimulus's response spills into the next window. ``labels`` of the result are per animal
    (n_animals, n_trials), -1 where no presentation precedes contiguously (those trials are not scored)."""
    return decode_windows(sessions, pop, task, _poisson_fit(priors, kappas, gains, steps), target="previous",
                          readout=readout, max_gap_s=max_gap_s, device=device)
