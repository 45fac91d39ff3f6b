"""A fair logistic-regression baseline: multinomial logistic regression per animal on all its units, fitted to
convergence, the L2 strength chosen per animal on the validation repeats and refitted on all non-test repeats.

The objective of one fit (one *slot*: an animal and an L2 strength) is the mean cross-entropy over its training
trials plus ``l2 * ||W||^2`` (biases unpenalized), the convention of :func:`neurobook.decoding.fit_logistic`. It is
minimized by full-batch L-BFGS (two-loop recursion; backtracking line search with quadratic interpolation that
accepts an Armijo decrease, or an approximate-Wolfe step where float32 round-off hides the decrease). The slots of
one animal (e.g. several L2 strengths) share every matrix product; animals run on their own unit counts (no padded
unit costs anything), on the CPU one animal per core, each single-threaded. A fit stops when its largest gradient
entry falls to ``gtol`` (``converged``), when the line search finds no lower loss (``stalled``) or after
``max_iter`` iterations. :func:`decode_logistic_baseline` walks the L2 grid from the strongest value down, each
fit warm-started from the previous one (a regularization path).

:func:`convergence_report` checks any fit (this one, or the Adam fits of :mod:`neurobook.decoding.fit`) with the
same gradient criterion, and measures how much a few more L-BFGS iterations still lower its loss.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from neurobook.checks import check_positive_int
from neurobook.decoding.fit import DecodeResult
from neurobook.decoding.population import Population
from neurobook.decoding.scores import accuracy

__all__ = ["DEFAULT_L2_GRID", "ConvergenceReport", "LbfgsFit", "convergence_report", "decode_logistic_baseline",
           "fit_logistic_baseline", "fit_logistic_lbfgs"]

#: L2 strengths (per-trial convention: mean cross-entropy + l2 ||W||^2) tried for every animal, strongest first
DEFAULT_L2_GRID = (3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3)
_ARMIJO = 1e-4


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-slot inner product of two (params, slots, classes) tensors -> (slots,)."""
    return (a * b).sum((0, 2))  # einsum is ~300x slower here on CPU


def _loss_grad(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, l2: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (k,) and gradient (1 + units, k, classes) of k slots; ``x`` (n, 1 + units) leads with a column of 1s
    and ``theta`` (1 + units, k, classes) with the biases."""
    n, p = x.shape
    k, c = theta.shape[1:]
    z = (x @ theta.reshape(p, k * c)).view(n, k, c)
    lse = torch.logsumexp(z, -1)
    at = y.view(n, 1, 1).expand(n, k, 1)
    w = theta[1:]
    loss = (lse - z.gather(-1, at).squeeze(-1)).mean(0) + l2 * w.pow(2).sum((0, 2))
    prob = torch.exp(z - lse[..., None])
    prob.scatter_add_(-1, at, torch.full_like(prob[..., :1], -1.0))
    grad = (x.T @ prob.view(n, k * c)).view(p, k, c) / n
    grad[1:] += 2 * l2[None, :, None] * w
    return loss, grad


def _direction(g: torch.Tensor, history: deque, gamma: torch.Tensor) -> torch.Tensor:
    """L-BFGS two-loop recursion, per slot (pairs with ``rho = 0`` are skipped for that slot)."""
    q = g.clone()
    alphas = []
    for s, yv, rho in reversed(history):
        a = rho * _dot(s, q)
        q -= a[None, :, None] * yv
        alphas.append(a)
    q *= gamma[None, :, None]
    for (s, yv, rho), a in zip(history, reversed(alphas), strict=True):
        q += (a - rho * _dot(yv, q))[None, :, None] * s
    return -q


def _line_search(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, f: torch.Tensor, g: torch.Tensor,
                 d: torch.Tensor, l2: torch.Tensor, idx: torch.Tensor, max_ls: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backtracking line search for the slots ``idx``: new theta, loss, gradient (all slots; unchanged where no step
    was accepted) and which slots of ``idx`` accepted a step."""
    theta, f, g = theta.clone(), f.clone(), g.clone()
    gd = _dot(g[:, idx], d[:, idx])
    t = torch.ones_like(gd)
    pending = torch.ones_like(gd, dtype=torch.bool)
    for _ in range(max_ls):
        sel = torch.nonzero(pending).squeeze(1)
        cand = theta[:, idx[sel]] + t[sel][None, :, None] * d[:, idx[sel]]
        f_new, g_new = _loss_grad(x, y, cand, l2[idx[sel]])
        f0, slope0 = f[idx[sel]], gd[sel]
        ok = f_new <= f0 + _ARMIJO * t[sel] * slope0
        # approximate Wolfe (Hager & Zhang 2005): near the optimum float32 round-off hides the Armijo decrease,
        # so a step whose loss is equal within round-off and whose slope shows progress is accepted too
        slope = _dot(g_new, d[:, idx[sel]])
        ok |= (f_new <= f0 + 1e-6 * f0.abs()) & (slope >= 0.9 * slope0) & (slope <= -0.8 * slope0)
        take = idx[sel[ok]]
        theta[:, take], f[take], g[:, take] = cand[:, ok], f_new[ok], g_new[:, ok]
        excess = (f_new - f0 - slope0 * t[sel]).clamp_min(1e-30)
        shrink = (-slope0 * t[sel] ** 2 / (2 * excess)).clamp(0.1 * t[sel], 0.5 * t[sel])
        t[sel] = torch.where(ok, t[sel], shrink)
        pending[sel[ok]] = False
        if not pending.any():
            break
    return theta, f, g, ~pending


def _lbfgs(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, l2: torch.Tensor, *, gtol: float,
           max_iter: int, history: int, max_ls: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Minimize the k slots of one animal from ``theta``; returns the solution and per-slot diagnostics."""
    k = theta.shape[1]
    f, g = _loss_grad(x, y, theta, l2)
    pairs: deque = deque(maxlen=history)
    gamma = torch.ones(k, dtype=theta.dtype, device=theta.device)
    n_iter = torch.zeros(k, dtype=torch.long, device=theta.device)
    change = torch.zeros_like(f)
    stalled = torch.zeros(k, dtype=torch.bool, device=theta.device)
    active = g.abs().amax((0, 2)) > gtol
    for _ in range(max_iter):
        if not active.any():
            break
        d = _direction(g, pairs, gamma)
        uphill = _dot(g, d) >= 0  # a broken curvature model: restart from the (scaled) steepest descent
        d = torch.where(uphill[None, :, None], -g * gamma[None, :, None], d)
        idx = torch.nonzero(active).squeeze(1)
        new_theta, new_f, new_g, ok = _line_search(x, y, theta, f, g, d, l2, idx, max_ls)
        s, yv = new_theta - theta, new_g - g
        sy, yy = _dot(s, yv), _dot(yv, yv)
        valid = sy > 1e-10 * yy.clamp_min(1e-30)
        pairs.append((s * valid[None, :, None], yv * valid[None, :, None],
                      torch.where(valid, 1.0 / sy.clamp_min(1e-30), torch.zeros_like(sy))))
        gamma = torch.where(valid, sy / yy.clamp_min(1e-30), gamma)
        change = torch.where(active, (f - new_f) / new_f.abs().clamp_min(1.0), change)
        theta, f, g = new_theta, new_f, new_g
        n_iter[idx] += 1
        stalled[idx[~ok]] = True
        active = active & ~stalled & (g.abs().amax((0, 2)) > gtol)
    info = {"loss": f, "grad_max": g.abs().amax((0, 2)), "loss_change": change, "n_iter": n_iter,
            "stalled": stalled}
    return theta, {key: v.cpu().numpy() for key, v in info.items()}


@dataclass
class LbfgsFit:
    """Fitted multinomial logistic regressions of (n_animals, n_variants) slots, and how each fit ended.

    ``weights[a]``: (1 + n_units_a, n_variants, n_classes), the biases in row 0, then one row per unit of animal
    ``a`` (its real units, in the population's order). Diagnostics are (n_animals, n_variants) arrays.
    """

    weights: list[torch.Tensor]
    l2: np.ndarray
    loss: np.ndarray
    grad_max: np.ndarray
    rel_grad: np.ndarray
    loss_change: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    stalled: np.ndarray
    gtol: float
    seconds: float

    def predict(self, pop: Population, trials: np.ndarray | None = None) -> np.ndarray:
        """Predicted class (n_animals, n_variants, n_trials) on ``trials`` (default all)."""
        trials = np.arange(pop.n_trials) if trials is None else np.asarray(trials)
        out = []
        with torch.no_grad():
            for a, theta in enumerate(self.weights):
                x = _design(pop, a, torch.as_tensor(trials, device=pop.device))
                p, k, c = theta.shape
                out.append((x @ theta.reshape(p, k * c)).view(-1, k, c).argmax(-1).T.cpu().numpy())
        return np.stack(out)

    def log_proba(self, pop: Population, variant: int = 0) -> np.ndarray:
        """(n_animals, n_trials, n_classes) log posterior of every class on every trial, for one variant."""
        out = []
        with torch.no_grad():
            for a, theta in enumerate(self.weights):
                x = _design(pop, a, torch.arange(pop.n_trials, device=pop.device))
                out.append(torch.log_softmax(x @ theta[:, variant], dim=1).float().cpu().numpy())
        return np.stack(out)

    def slot_weights(self, pop: Population) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights in :class:`~neurobook.decoding.SlotDecoder` layout: ``w`` (n_animals, n_variants,
        n_units_max, n_classes) with zeros on padded units, and ``b`` (n_animals, n_variants, n_classes)."""
        _, k, c = self.weights[0].shape
        w = torch.zeros(pop.n_animals, k, pop.x.shape[2], c, device=pop.device)
        b = torch.zeros(pop.n_animals, k, c, device=pop.device)
        for a, theta in enumerate(self.weights):
            cols = torch.nonzero(pop.unit_mask[a]).squeeze(1)
            w[a][:, cols] = theta[1:].permute(1, 0, 2)
            b[a] = theta[0]
        return w, b


def _design(pop: Population, a: int, trials: torch.Tensor) -> torch.Tensor:
    """(n_trials, 1 + n_units_a): a column of ones, then animal ``a``'s real units on ``trials``."""
    cols = torch.nonzero(pop.unit_mask[a]).squeeze(1)
    x = pop.x[a].index_select(0, trials).index_select(1, cols)
    return torch.cat([torch.ones_like(x[:, :1]), x], dim=1)


def _slot_l2(l2: Sequence[float] | np.ndarray, n_animals: int) -> np.ndarray:
    arr = np.asarray(l2, np.float64)
    arr = np.broadcast_to(arr, (n_animals, arr.shape[-1])) if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[0] != n_animals or arr.shape[1] < 1 or (arr < 0).any():
        raise ValueError(f"l2 must be non-negative strengths, (n_variants,) or (n_animals={n_animals}, n_variants); "
                         f"got shape {np.shape(l2)}")
    return np.ascontiguousarray(arr)


def _trial_mask(pop: Population, trials: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    mask = pop.mask("train") if trials is None else torch.as_tensor(trials, device=pop.device)
    if mask.shape != (pop.n_animals, pop.n_trials) or mask.dtype != torch.bool:
        raise ValueError(f"trials must be a bool mask (n_animals={pop.n_animals}, n_trials={pop.n_trials}); "
                         f"got {tuple(mask.shape)} {mask.dtype}")
    return mask & pop.present


def _fit_animal(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, l2: torch.Tensor, opts: dict
                ) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """One animal's slots from ``theta``; adds the gradient norm relative to the one at zero weights."""
    with torch.no_grad():
        g0 = _loss_grad(x, y, torch.zeros_like(theta), l2)[1].pow(2).sum((0, 2)).sqrt()
        theta, info = _lbfgs(x, y, theta, l2, **opts)
        g = _loss_grad(x, y, theta, l2)[1].pow(2).sum((0, 2)).sqrt()
    info["rel_grad"] = (g / g0.clamp_min(1e-30)).cpu().numpy()
    return theta, info


def _run(tasks: list, workers: int, device: torch.device) -> list:
    """``_fit_animal`` on every task; on the CPU ``workers`` animals at a time, each on one thread (one animal's
    products are too small to share out, and shared ones stall whenever another process holds a core)."""
    if device.type != "cpu":
        return [_fit_animal(*t) for t in tasks]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers <= 1:
            return [_fit_animal(*t) for t in tasks]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda t: _fit_animal(*t), tasks))
    finally:
        torch.set_num_threads(threads)


def fit_logistic_lbfgs(pop: Population, labels: np.ndarray, l2: Sequence[float] | np.ndarray, *,
                       trials: torch.Tensor | np.ndarray | None = None, init: list[torch.Tensor] | None = None,
                       n_classes: int | None = None, gtol: float = 1e-4, max_iter: int = 1000, history: int = 10,
                       max_ls: int = 20, workers: int | None = None) -> LbfgsFit:
    """Multinomial logistic regression of every (animal, variant) slot to convergence by full-batch L-BFGS.

    ``labels`` (n_trials,); ``l2`` (n_variants,) shared by all animals or (n_animals, n_variants); ``trials``: bool
    (n_animals, n_trials) training trials (default the train repeats); ``init``: per-animal starting weights as in
    :attr:`LbfgsFit.weights` (a warm start), default zeros. ``gtol`` bounds the largest gradient entry (1e-4 is
    scikit-learn's default for the same mean loss). ``workers``: animals fitted at once on the CPU (default
    ``torch.get_num_threads()``).
    """
    check_positive_int("max_iter", max_iter)
    check_positive_int("history", history)
    started = time.time()
    labels = np.asarray(labels)
    if labels.shape != (pop.n_trials,):
        raise ValueError(f"labels must have one class per trial, shape ({pop.n_trials},); got {labels.shape}")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    l2s, mask = _slot_l2(l2, pop.n_animals), _trial_mask(pop, trials)
    y_all = torch.as_tensor(labels, dtype=torch.long, device=pop.device)
    opts = {"gtol": gtol, "max_iter": max_iter, "history": history, "max_ls": max_ls}
    tasks = []
    for a in range(pop.n_animals):
        rows = torch.nonzero(mask[a]).squeeze(1)
        if len(rows) == 0:
            raise ValueError(f"animal {pop.session_ids[a]} has no training trials")
        x = _design(pop, a, rows)
        zero = torch.zeros(x.shape[1], l2s.shape[1], n_classes, dtype=x.dtype, device=x.device)
        theta = zero if init is None else init[a].to(device=x.device, dtype=x.dtype).clone()
        if theta.shape != zero.shape:
            raise ValueError(f"init[{a}] must have shape {tuple(zero.shape)}, got {tuple(theta.shape)}")
        tasks.append((x, y_all[rows], theta, torch.tensor(l2s[a], dtype=x.dtype, device=x.device), opts))
    done = _run(tasks, torch.get_num_threads() if workers is None else workers, pop.device)
    stack = {key: np.stack([info[key] for _, info in done]) for key in done[0][1]}
    return LbfgsFit([theta for theta, _ in done], l2s, stack["loss"], stack["grad_max"], stack["rel_grad"],
                    stack["loss_change"], stack["n_iter"], stack["grad_max"] <= gtol, stack["stalled"], gtol,
                    time.time() - started)


@dataclass
class ConvergenceReport:
    """How far a fit is from the optimum of its objective, per (animal, variant) slot.

    ``grad_max``: largest gradient entry; ``rel_grad``: gradient norm relative to the norm at zero weights;
    ``loss_drop``: relative loss decrease that ``polish`` more L-BFGS iterations still find; ``converged``:
    ``grad_max <= gtol``.
    """

    loss: np.ndarray
    grad_max: np.ndarray
    rel_grad: np.ndarray
    loss_drop: np.ndarray
    converged: np.ndarray
    gtol: float


def convergence_report(pop: Population, labels: np.ndarray, w: torch.Tensor, b: torch.Tensor,
                       l2: Sequence[float] | np.ndarray, *, trials: torch.Tensor | np.ndarray | None = None,
                       gtol: float = 1e-4, polish: int = 20) -> ConvergenceReport:
    """Check a fitted logistic regression against its own objective (mean cross-entropy on ``trials`` + ``l2``
    ``||W||^2``). ``w`` (n_animals, n_variants, n_units_max, n_classes) and ``b`` (n_animals, n_variants, [1,]
    n_classes) in :class:`~neurobook.decoding.SlotDecoder` layout (``model.w_in``, ``model.b_in``, or
    :meth:`LbfgsFit.slot_weights`)."""
    w, b = w.detach().to(pop.device), b.detach().to(pop.device).reshape(w.shape[0], w.shape[1], w.shape[3])
    init = []
    for a in range(pop.n_animals):
        cols = torch.nonzero(pop.unit_mask[a]).squeeze(1)
        init.append(torch.cat([b[a][None], w[a][:, cols].permute(1, 0, 2)], dim=0))
    kw = {"trials": trials, "init": init, "n_classes": w.shape[3]}
    now = fit_logistic_lbfgs(pop, labels, l2, gtol=np.inf, max_iter=1, **kw)  # no step: the state as given
    later = fit_logistic_lbfgs(pop, labels, l2, gtol=0.0, max_iter=polish, **kw).loss if polish else now.loss
    drop = (now.loss - later) / np.maximum(np.abs(later), 1.0)
    return ConvergenceReport(now.loss, now.grad_max, now.rel_grad, drop, now.grad_max <= gtol, gtol)


def _l2_path(pop: Population, labels: np.ndarray, l2_grid: Sequence[float], trials: torch.Tensor, opts: dict
             ) -> list[LbfgsFit]:
    """One fit per grid value, strongest first, each warm-started from the previous one (a regularization path:
    fewer iterations than fitting every strength from zero)."""
    order = np.argsort(-np.asarray(l2_grid, float), kind="stable")
    fits: list[LbfgsFit | None] = [None] * len(order)
    init = None
    for k in order:
        fits[k] = fit_logistic_lbfgs(pop, labels, [l2_grid[k]], trials=trials, init=init, **opts)
        init = fits[k].weights
    return fits


def _chosen_fit(path: list[LbfgsFit], pick: np.ndarray) -> LbfgsFit:
    """One fit holding, per animal, the path's fit at that animal's chosen strength."""
    rows = np.arange(len(pick))
    arrays = {key: np.stack([getattr(path[k], key)[a] for a, k in enumerate(pick)])
              for key in ("l2", "loss", "grad_max", "rel_grad", "loss_change", "n_iter", "converged", "stalled")}
    return LbfgsFit([path[k].weights[a] for a, k in zip(rows, pick, strict=True)], gtol=path[0].gtol,
                    seconds=sum(f.seconds for f in path), **arrays)


def fit_logistic_baseline(pop: Population, task: str, *, l2_grid: Sequence[float] = DEFAULT_L2_GRID,
                          gtol: float = 1e-4, max_iter: int = 1000, history: int = 10,
                          shuffle_labels: bool = False, seed: int = 0, workers: int | None = None,
                          trials: torch.Tensor | np.ndarray | None = None, refit: bool = True,
                          keep_scores: bool = False) -> tuple[DecodeResult, LbfgsFit]:
    """Within-animal logistic regression as the field builds it: every unit of the animal, fitted to convergence
    (L-BFGS, a warm-started path over ``l2_grid``) on the train repeats, the L2 strength with the best validation
    accuracy kept per animal, then refitted (warm start) on train + validation repeats and scored on the test
    repeats. The refit keeps the penalty of the *summed* log-loss (scikit-learn's ``C``), i.e. its per-trial
    ``l2`` is the chosen one times n_train / n_fit.

    ``chosen`` holds per animal ``l2`` (chosen), ``refit_l2``, ``val_accuracy``, ``n_iter``, ``converged``,
    ``grad_max`` (of the refit), and per (animal, grid value) ``grid_val_accuracy``, ``grid_n_iter``,
    ``grid_converged``. ``shuffle_labels`` permutes the labels across the non-test trials (a chance control).
    ``trials`` (n_animals, n_trials) bool fits on these train-repeat trials only (e.g. a few labelled trials per
    class); ``refit=False`` keeps the train-only fit of the chosen strength (no refit on validation).
    ``keep_scores`` keeps every trial's class log posterior in the result's ``scores`` (for ensembles).
    Returns the result and the final fit (its weights, one slot per animal).
    """
    n_classes = pop.n_classes(task)  # checks the task
    if len(l2_grid) < 1 or min(l2_grid) < 0:
        raise ValueError(f"l2_grid must hold non-negative strengths, got {l2_grid!r}")
    started = time.time()
    labels = pop.labels(task)
    fit_labels = labels
    if shuffle_labels:
        fit_labels = labels.copy()
        fit_trials = np.flatnonzero(pop.split != "test")
        fit_labels[fit_trials] = np.random.default_rng(seed).permutation(labels[fit_trials])
    train, val = pop.mask("train"), pop.mask("validation")
    if trials is not None:
        trials = torch.as_tensor(trials, device=pop.device)
        if trials.shape != train.shape or trials.dtype != torch.bool or bool((trials & ~train & pop.present).any()):
            raise ValueError(f"trials must be a bool mask (n_animals, n_trials) = {tuple(train.shape)} of train-repeat "
                             f"trials; got {tuple(trials.shape)} {trials.dtype}")
        train = train & trials
    if len(l2_grid) > 1 and not bool(val.any(1).all()):
        raise ValueError("choosing the L2 strength needs validation repeats for every animal (n_val_repeats >= 1)")
    opts = {"n_classes": n_classes, "gtol": gtol, "max_iter": max_iter, "history": history, "workers": workers}
    path = _l2_path(pop, fit_labels, l2_grid, train, opts)
    val_acc = np.concatenate([accuracy(f.predict(pop), fit_labels, val.cpu().numpy()[:, None, :]) for f in path], 1)
    pick = np.nanargmax(np.nan_to_num(val_acc, nan=-1.0), axis=1)
    rows = np.arange(pop.n_animals)
    fit = train | val if refit else train
    chosen_l2 = np.asarray(l2_grid, float)[pick]
    refit_l2 = chosen_l2 * (train.sum(1) / fit.sum(1)).cpu().numpy()
    init = [path[k].weights[a] for a, k in enumerate(pick)]
    final = fit_logistic_lbfgs(pop, fit_labels, refit_l2[:, None], trials=fit, init=init, **opts) if refit \
        else _chosen_fit(path, pick)
    grid_info = {key: np.concatenate([getattr(f, key) for f in path], 1) for key in ("n_iter", "converged")}
    chosen = {"l2": chosen_l2, "refit_l2": refit_l2, "val_accuracy": val_acc[rows, pick],
              "n_iter": final.n_iter[:, 0], "converged": final.converged[:, 0], "grad_max": final.grad_max[:, 0],
              "l2_grid": np.asarray(l2_grid, float), "grid_val_accuracy": val_acc,
              "grid_n_iter": grid_info["n_iter"], "grid_converged": grid_info["converged"], "gtol": gtol}
    return DecodeResult(task, final.predict(pop)[:, 0], labels, pop.mask("test").cpu().numpy(), pop.session_ids,
                        chosen, time.time() - started, n_classes=n_classes,
                        scores=final.log_proba(pop) if keep_scores else None), final


def decode_logistic_baseline(pop: Population, task: str, *, l2_grid: Sequence[float] = DEFAULT_L2_GRID,
                             gtol: float = 1e-4, max_iter: int = 1000, history: int = 10,
                             shuffle_labels: bool = False, seed: int = 0, workers: int | None = None,
                             trials: torch.Tensor | np.ndarray | None = None, refit: bool = True,
                             keep_scores: bool = False) -> DecodeResult:
    """Within-animal logistic regression as the field builds it (:func:`fit_logistic_baseline`, its result)."""
    return fit_logistic_baseline(pop, task, l2_grid=l2_grid, gtol=gtol, max_iter=max_iter, history=history,
                                 shuffle_labels=shuffle_labels, seed=seed, workers=workers, trials=trials,
                                 refit=refit, keep_scores=keep_scores)[0]
