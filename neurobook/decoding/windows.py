"""Window-model decoding of the Gabor task: the machinery shared by the structured decoders.

A decoder here is a *window fit* (:data:`WindowFit`): given one window's counts, each trial's condition and the
training trials, it returns candidate models (:class:`Candidate`: settings and a log-likelihood over the 243
conditions). :func:`decode_windows` then, per animal: fits the candidates of the trial's own window on the train
repeats; chooses one on the **validation** repeats; optionally adds the next presentation's window (which holds
this stimulus's late response) as an independent observation with its own candidates and a weight, also chosen on
validation; optionally refits the chosen models on train + validation; and reads the posterior out per task
(:func:`read_out`). Test repeats are only predicted, and a test presentation's counts never serve as the next
window of a train or validation trial (:func:`animal_trials`).

The window fits are in :mod:`neurobook.decoding.poisson` (independent Poisson units) and
:mod:`neurobook.decoding.gaussian` (square-root counts with a shared covariance).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neurobook.data.allen_gabor import MAX_GAP_S, N_CONDITIONS, POSITIONS_DEG, TASKS, GaborSession
from neurobook.decoding.fit import DecodeResult
from neurobook.decoding.population import Population

__all__ = ["NEXT_WEIGHTS", "READOUTS", "AnimalTrials", "Candidate", "WindowFit", "animal_trials", "decode_windows",
           "read_out"]

READOUTS = ("marginal", "joint", "factorized")
NEXT_WEIGHTS = (0.25, 0.5, 1.0)  # weights of the next window's log-likelihood tried on validation
_K = len(POSITIONS_DEG)


def read_out(loglik: torch.Tensor, task: str, how: str = "marginal") -> torch.Tensor:
    """(n_trials,) class of ``task`` from the log-posterior over conditions (flat prior) ``loglik`` (n_trials, 243).

    ``marginal``: the class with the largest summed posterior (Bayes-optimal for accuracy under the model);
    ``joint``: the class of the most probable condition; ``factorized``: azimuth, elevation and orientation each
    from its own marginal, combined.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    if how not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {how!r}")
    if how == "joint":
        c = loglik.argmax(1)
        return {"condition": c, "position": c // 3, "orientation": c % 3}[task]
    lp = loglik.view(-1, _K, _K, 3)  # (trial, elevation, azimuth, orientation)
    if how == "marginal":
        if task == "condition":
            return loglik.argmax(1)
        if task == "orientation":
            return lp.logsumexp((1, 2)).argmax(1)
        return lp.logsumexp(3).reshape(-1, _K * _K).argmax(1)
    el, az, ori = lp.logsumexp((2, 3)).argmax(1), lp.logsumexp((1, 3)).argmax(1), lp.logsumexp((1, 2)).argmax(1)
    pos = el * _K + az
    return {"condition": pos * 3 + ori, "position": pos, "orientation": ori}[task]


def class_log_posterior(loglik: torch.Tensor, task: str) -> torch.Tensor:
    """(n_trials, n_classes) normalized log posterior of each class of ``task`` (the conditions' posterior summed
    over the others) from the log-posterior over conditions ``loglik`` (n_trials, 243), flat prior."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    lp = loglik.view(-1, _K, _K, 3)
    per_class = {"condition": loglik, "orientation": lp.logsumexp((1, 2)),
                 "position": lp.logsumexp(3).reshape(-1, _K * _K)}[task]
    return torch.log_softmax(per_class, dim=1)


def _class_of(condition: torch.Tensor, task: str) -> torch.Tensor:
    return {"condition": condition, "position": condition // 3, "orientation": condition % 3}[task]


@dataclass
class Candidate:
    """One fitted model of a window: its settings (reported per animal) and its log-likelihood ``score``, a function
    of the counts (n_trials, n_units) giving (n_trials, 243)."""

    info: dict
    score: Callable[[torch.Tensor], torch.Tensor]


#: fits the candidates of one window: (counts, condition, train mask) -> (candidates, a fit to report or None)
WindowFit = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[list[Candidate], object]]


def _choose(cands: list[Candidate], x: torch.Tensor, base: torch.Tensor | None, use: torch.Tensor,
            labels: torch.Tensor, val: torch.Tensor, task: str, readout: str, weights: Sequence[float] = (1.0,)
            ) -> tuple[Candidate, float, float]:
    """(candidate, weight, validation accuracy) of the best candidate and weight on validation (the first of
    equals); the window's log-likelihood times the weight is added to ``base`` (trials, 243; the other window's),
    ``use`` marks the trials where this window is observed."""
    best = None
    xv, uv = x[val], use[val].float()[:, None]
    base_v = 0.0 if base is None else base[val]
    for cand in cands:
        ll = cand.score(xv) * uv
        for w in weights:
            acc = float((read_out(base_v + w * ll, task, readout) == labels[val]).float().mean())
            if best is None or acc > best[2]:
                best = (cand, float(w), acc)
    return best


@dataclass
class AnimalTrials:
    """One animal's trials in the population's aligned order: this and the next window, and the condition to
    decode (the trial's own, or the previous presentation's for the control)."""

    x: torch.Tensor  # (n_trials, n_units) counts of this window, 0 where absent
    x_next: torch.Tensor  # (n_trials, n_units) counts of the next window, 0 where absent
    has_next: torch.Tensor  # (n_trials,) bool, the next window is there and may be used
    condition: torch.Tensor  # (n_trials,) condition to decode, -1 where absent
    ok: torch.Tensor  # (n_trials,) bool, the trial is there and has a condition to decode


def animal_trials(session: GaborSession, pop: Population, animal: int, target: str = "current",
                  max_gap_s: float | None = MAX_GAP_S, device: str | torch.device = "cpu") -> AnimalTrials:
    """The raw counts of ``session`` (animal ``animal`` of ``pop``) laid out like the population's trials.

    ``target``: ``current`` (each trial's condition) or ``previous`` (the condition shown before it). A test
    presentation's counts serve only to decode test trials: they are never the next window of a train or validation
    trial, so nothing fitted or chosen sees them.
    """
    n_repeats = pop.n_trials // N_CONDITIONS
    idx = session.aligned_index(n_repeats).reshape(-1)
    present = idx >= 0
    if not np.array_equal(present, pop.present[animal].cpu().numpy()):
        raise ValueError(f"session {session.session_id} does not line up with animal {animal} of the population")
    safe = np.maximum(idx, 0)
    nxt = session.next_window(max_gap_s)[safe]
    has_next = present & np.isfinite(nxt).all(1)
    aligned = np.full(session.n_trials, -1)
    aligned[idx[present]] = np.flatnonzero(present)
    following = np.where(has_next, aligned[session.next_trial(max_gap_s)[safe]], -1)
    next_is_test = (following >= 0) & (pop.split[np.maximum(following, 0)] == "test")
    has_next &= (pop.split == "test") | ~next_is_test
    cond = pop.condition if target == "current" else session.previous_condition(max_gap_s)[safe]
    cond = np.where(present, cond, -1)
    t = lambda v, dt=torch.float32: torch.as_tensor(np.ascontiguousarray(v), dtype=dt, device=device)  # noqa: E731
    return AnimalTrials(t(np.where(present[:, None], session.counts[safe], 0)),
                        t(np.where(has_next[:, None], np.nan_to_num(nxt), 0)), t(has_next, torch.bool),
                        t(cond, torch.long), t(cond >= 0, torch.bool))


@dataclass(frozen=True)
class _Plan:
    """How the windows are combined and read out (see :func:`decode_windows`)."""

    windows: str = "this"
    next_weights: tuple[float, ...] = NEXT_WEIGHTS
    readout: str = "marginal"
    refit: bool = False
    keep_scores: bool = False


def _refit(fit: WindowFit, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor, info: dict, warm: object
           ) -> tuple[Candidate, object]:
    """The chosen candidate (``info``) fitted again on the trials of ``mask``: only its own prior, its parametric
    tuning started from ``warm`` (the fit on the train trials, a subset of ``mask``)."""
    cands, fitted = fit(x, cond, mask, priors=(info["prior"],), warm=warm) if "prior" in info else fit(x, cond, mask)
    return next(c for c in cands if c.info == info), fitted


def _decode_animal(d: AnimalTrials, split: np.ndarray, task: str, fit: WindowFit, plan: _Plan,
                   train_trials: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Predicted class of every trial of one animal (-1 where absent) and the choices made on validation."""
    dev = d.x.device
    train = d.ok & torch.as_tensor(split == "train" if train_trials is None else train_trials, device=dev)
    val = d.ok & torch.as_tensor(split == "validation", device=dev)
    cond = d.condition.clamp(min=0)
    labels = _class_of(cond, task)
    cands, fitted = fit(d.x, cond, train)
    this, _, this_acc = _choose(cands, d.x, None, torch.ones_like(d.ok), labels, val, task, plan.readout)
    out = {**this.info, "uses_next": False, "val_accuracy": this_acc, "fit": fitted}
    nxt = None
    if plan.windows != "this":
        cands_n, fitted_next = fit(d.x_next, cond, train & d.has_next)
        cand, weight, acc = _choose(cands_n, d.x_next, this.score(d.x), d.has_next, labels, val, task,
                                    plan.readout, plan.next_weights)
        if plan.windows == "both" or acc > this_acc:
            nxt = (cand, weight)
            out |= {f"next_{k}": v for k, v in cand.info.items()}
            out |= {"uses_next": True, "next_weight": weight, "val_accuracy": acc}
    if plan.refit:  # the choices stand; the chosen models are fitted again on train + validation
        this, refitted = _refit(fit, d.x, cond, train | val, this.info, fitted)
        out["fit"] = refitted if refitted is not None else out["fit"]
        if nxt is not None:
            nxt = (_refit(fit, d.x_next, cond, (train | val) & d.has_next, nxt[0].info, fitted_next)[0], nxt[1])
    ll = this.score(d.x)
    if nxt is not None:
        ll = ll + nxt[1] * nxt[0].score(d.x_next) * d.has_next.float()[:, None]
    pred = torch.where(d.ok, read_out(ll, task, plan.readout), -1)
    if plan.keep_scores:
        out["scores"] = class_log_posterior(ll, task).float().cpu().numpy()
    return pred.cpu().numpy(), out


def _columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per-animal choices as one array per key (NaN or '' where an animal lacks the key)."""
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("fit", "scores")))
    out = {}
    for k in keys:
        text = any(isinstance(r.get(k), str) for r in rows)
        out[k] = np.array([r.get(k, "" if text else np.nan) for r in rows])
    return out


def decode_windows(sessions: Sequence[GaborSession], pop: Population, task: str, fit: WindowFit, *,
                   target: str = "current", windows: str = "this", next_weights: Sequence[float] = NEXT_WEIGHTS,
                   readout: str = "marginal", refit: bool = False, max_gap_s: float | None = MAX_GAP_S,
                   train_trials: np.ndarray | None = None, device: str | torch.device | None = None,
                   keep_scores: bool = False) -> DecodeResult:
    """Decode ``task`` per animal with the window models of ``fit`` (e.g. :func:`poisson_candidates` with its
    keywords bound), the candidate and the next window's weight chosen on the validation repeats.

    ``target``: ``current`` or ``previous`` (the previous-stimulus control; labels are then per animal,
    (n_animals, n_trials), -1 where no presentation precedes contiguously, and those trials are not scored).
    ``windows``: ``this``, ``both`` (plus the next window as an independent observation, weighted by one of
    ``next_weights``) or ``auto`` (the next window only where it raises the validation accuracy). ``refit``: once
    everything is chosen on validation, fit the chosen models again on the train and validation repeats (the test
    repeats are still only predicted; ``chosen["val_accuracy"]`` is that of the train-only fit). ``train_trials``
    (n_animals, n_trials) bool: fit on these train-repeat trials only (e.g. a few labelled trials per class,
    :func:`~neurobook.decoding.few_shot_mask`) instead of all train repeats; choices are still made on validation.
    ``keep_scores`` keeps every trial's class log posterior in ``scores`` (for ensembles).
    """
    started = time.time()
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    if windows not in ("this", "both", "auto") or target not in ("current", "previous"):
        raise ValueError(f"windows must be 'this', 'both' or 'auto' and target 'current' or 'previous'; got "
                         f"{windows!r}, {target!r}")
    if readout not in READOUTS or not next_weights or min(next_weights) <= 0:
        raise ValueError(f"readout must be one of {READOUTS} and next_weights positive; got {readout!r}, "
                         f"{next_weights}")
    if [int(s.session_id) for s in sessions] != list(pop.session_ids):
        raise ValueError(f"sessions {[s.session_id for s in sessions]} are not the population's animals "
                         f"{pop.session_ids} (in that order)")
    dev = torch.device(device) if device is not None else pop.device
    plan = _Plan(windows, tuple(next_weights), readout, bool(refit), bool(keep_scores))
    if train_trials is not None:
        train_trials = np.asarray(train_trials, bool)
        if train_trials.shape != (pop.n_animals, pop.n_trials) or (train_trials & (pop.split != "train")).any():
            raise ValueError(f"train_trials must be a bool mask (n_animals={pop.n_animals}, n_trials={pop.n_trials}) "
                             f"of train-repeat trials; got shape {train_trials.shape}")
    preds, labels, rows = [], [], []
    for a, s in enumerate(sessions):
        d = animal_trials(s, pop, a, target, max_gap_s, dev)
        pred, chosen = _decode_animal(d, pop.split, task, fit, plan,
                                      None if train_trials is None else train_trials[a])
        preds.append(pred)
        labels.append(np.where(d.ok.cpu().numpy(), _class_of(d.condition.clamp(min=0), task).cpu().numpy(), -1))
        rows.append(chosen)
    label_arr = np.stack(labels)
    test = pop.mask("test").cpu().numpy() & (label_arr >= 0)
    chosen = _columns(rows) | {"fit": {int(s.session_id): r["fit"] for s, r in zip(sessions, rows, strict=True)}}
    scores = np.stack([r["scores"] for r in rows]) if keep_scores else None
    return DecodeResult(task, np.stack(preds), pop.labels(task) if target == "current" else label_arr, test,
                        list(pop.session_ids), chosen, time.time() - started, scores=scores)
