"""Training a batch of decoders, and the analyses built on it.

Every analysis trains all animals (and all variants: regularization strengths, unit subsets, folds, shot counts)
in one model, one tensor step at a time, on the device. Model choices (the L2 strength, the checkpoint) are made on
the **validation** repeats; the **test** repeats are only ever predicted, after all choices are made.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from neurobook.checks import check_positive_int
from neurobook.data.allen_gabor import TASKS
from neurobook.decoding.model import SlotDecoder
from neurobook.decoding.population import Population
from neurobook.decoding.scores import accuracy, wilson_ci

__all__ = ["DecodeResult", "TransferResult", "decode_by_area", "decode_labels", "decode_logistic", "decode_neural",
           "few_shot_mask", "fit_logistic", "predict_slots", "train_slots", "transfer_across_animals", "units_curve"]




def _labels_tensor(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device)


def _check_enough(train_mask: torch.Tensor, what: str) -> None:
    if not bool(train_mask.any()):
        raise ValueError(f"{what}: no training trials for any decoder; check the split and the trial counts")


def train_slots(model: SlotDecoder, pop: Population, labels: np.ndarray, train_mask: torch.Tensor, *, steps: int,
                batch_size: int = 512, lr: float = 1e-2, weight_decay: float = 0.0, l2: torch.Tensor | None = None,
                unit_mask: torch.Tensor | None = None, val_mask: torch.Tensor | None = None, eval_every: int = 50,
                params: list[torch.nn.Parameter] | None = None, seed: int = 0) -> dict:
    """Minimize each slot's mean cross-entropy on its training trials (plus ``l2`` penalty) with AdamW.

    ``labels``: (n_trials,) shared by all slots or (n_animals, n_variants, n_trials) per slot (e.g. shuffled).
    ``train_mask``/``val_mask``: (n_animals, n_variants, n_trials) bool. With ``val_mask`` the weights with the
    best mean validation accuracy (checked every ``eval_every`` steps) are kept. Returns the history.
    """
    check_positive_int("steps", steps)
    _check_enough(train_mask, "train_slots")
    dev = pop.device
    model.to(dev)
    torch.manual_seed(seed)  # dropout masks: reruns reproduce
    y = _labels_tensor(labels, dev)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    pool = torch.nonzero(train_mask.any(dim=(0, 1))).squeeze(1)
    active = train_mask.any(-1).to(pop.x.dtype)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    history, best, best_acc = [], None, -1.0
    started = time.time()
    for step in range(1, steps + 1):
        model.train()
        idx = pool[torch.randperm(len(pool), generator=gen)[:batch_size].to(dev)] if len(pool) > batch_size else pool
        logits = model(pop.x[:, idx], unit_mask)
        yb = y[..., idx].expand(logits.shape[:3])
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="none")
        w = train_mask[:, :, idx].to(ce.dtype)
        per_slot = (ce.view_as(w) * w).sum(-1) / w.sum(-1).clamp_min(1.0)
        loss = per_slot.sum()
        if l2 is not None:
            loss = loss + (model.penalty(l2) * active).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if val_mask is not None and (step % eval_every == 0 or step == steps):
            trials = torch.nonzero(val_mask.any(dim=(0, 1))).squeeze(1).cpu().numpy()
            pred = predict_slots(model, pop, unit_mask=unit_mask, trials=trials)
            lab = np.broadcast_to(y.cpu().numpy(), (*pred.shape[:2], pop.n_trials))[..., trials]
            acc = float(np.nanmean(accuracy(pred, lab, val_mask[..., trials].cpu().numpy())))
            history.append({"step": step, "loss": float(loss.detach()) / max(float(active.sum()), 1.0), "val_acc": acc})
            if acc > best_acc:
                best_acc, best = acc, {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best is not None:
        model.load_state_dict(best)
    return {"history": history, "best_val_acc": best_acc, "seconds": time.time() - started}


@torch.no_grad()
def predict_slots(model: SlotDecoder, pop: Population, *, unit_mask: torch.Tensor | None = None,
                  trials: np.ndarray | None = None, chunk: int = 256) -> np.ndarray:
    """Predicted class (n_animals, n_variants, n_trials) of every slot on ``trials`` (default all)."""
    model.eval()
    trials = np.arange(pop.n_trials) if trials is None else np.asarray(trials)
    out = []
    for start in range(0, len(trials), chunk):
        idx = torch.as_tensor(trials[start: start + chunk], device=pop.device)
        out.append(model(pop.x[:, idx], unit_mask).argmax(-1).cpu())
    return torch.cat(out, dim=-1).numpy()


@dataclass
class DecodeResult:
    """Within-animal decoding of one task: predictions of every aligned trial, and what was chosen on validation."""

    task: str
    pred: np.ndarray  # (n_animals, n_trials) predicted class
    labels: np.ndarray  # (n_trials,)
    test_mask: np.ndarray  # (n_animals, n_trials)
    session_ids: list[int]
    chosen: dict = field(default_factory=dict)
    seconds: float = 0.0
    n_classes: int = 0  # 0 means the task's number of classes
    #: (n_animals, n_trials, n_classes) log posterior of every class on every trial, when the decoder kept it
    scores: np.ndarray | None = None

    @property
    def chance(self) -> float:
        return 1.0 / (self.n_classes or TASKS[self.task])

    def accuracy(self) -> np.ndarray:
        """(n_animals,) test accuracy."""
        return accuracy(self.pred, self.labels, self.test_mask)

    def table(self) -> pd.DataFrame:
        """One row per animal: test accuracy, its 95% Wilson interval, number of test trials."""
        n = self.test_mask.sum(1)
        k = ((self.pred == self.labels) & self.test_mask).sum(1)
        lo, hi = wilson_ci(k, n)
        return pd.DataFrame({"session": self.session_ids, "accuracy": k / np.maximum(n, 1), "ci_low": lo,
                             "ci_high": hi, "n_test": n, **{key: v for key, v in self.chosen.items()
                                                           if np.ndim(v) == 1 and len(v) == len(n)}})


def fit_logistic(pop: Population, labels: np.ndarray, l2: Sequence[float], *, unit_mask: torch.Tensor | None = None,
                 train_mask: torch.Tensor | None = None, steps: int = 300, lr: float = 2e-2, batch_size: int = 512,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression per (animal, variant); variant k has L2 strength ``l2[k]``.

    Returns predictions (n_animals, n_variants, n_trials) on all trials, and which slots had training trials.
    """
    n_classes = int(np.max(labels)) + 1
    k = len(l2)
    model = SlotDecoder(pop.n_animals, k, pop.x.shape[2], n_classes, seed=seed)
    if train_mask is None:
        train_mask = pop.mask("train")[:, None, :].expand(-1, k, -1)
    if unit_mask is not None:
        train_mask = train_mask & unit_mask.any(-1, keepdim=True)
    l2t = torch.as_tensor(np.asarray(l2, np.float32), device=pop.device)
    train_slots(model, pop, labels, train_mask, steps=steps, lr=lr, batch_size=batch_size, l2=l2t,
                unit_mask=unit_mask, seed=seed)
    pred = predict_slots(model, pop, unit_mask=unit_mask)
    return pred, train_mask.any(-1).cpu().numpy()


def decode_logistic(pop: Population, task: str, *, l2_grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
                    steps: int = 300, lr: float = 2e-2, batch_size: int = 512, seed: int = 0,
                    shuffle_labels: bool = False) -> DecodeResult:
    """Within-animal logistic regression; the L2 strength of each animal is chosen on its validation repeats.

    ``shuffle_labels`` trains on labels permuted across training trials (a control that must sit at chance).
    """
    pop.labels(task)  # checks the task
    return decode_labels(pop, pop.labels(task), task=task, l2_grid=l2_grid, steps=steps, lr=lr,
                         batch_size=batch_size, seed=seed, shuffle_labels=shuffle_labels)


def decode_labels(pop: Population, labels: np.ndarray, *, task: str = "labels",
                  l2_grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1), steps: int = 300, lr: float = 2e-2,
                  batch_size: int = 512, seed: int = 0, shuffle_labels: bool = False) -> DecodeResult:
    """Logistic regression of any per-trial ``labels`` (n_trials,), L2 chosen per animal on validation trials."""
    started = time.time()
    labels = np.asarray(labels)
    if labels.shape != (pop.n_trials,):
        raise ValueError(f"labels must have one class per trial, shape ({pop.n_trials},); got {labels.shape}")
    train_labels = labels
    if shuffle_labels:
        rng = np.random.default_rng(seed)
        train_labels = labels.copy()
        fit_trials = np.flatnonzero(pop.split != "test")
        train_labels[fit_trials] = rng.permutation(labels[fit_trials])
    pred, _ = fit_logistic(pop, train_labels, l2_grid, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
    val_acc = accuracy(pred, train_labels, pop.mask("validation").cpu().numpy()[:, None, :])
    pick = np.nanargmax(np.nan_to_num(val_acc, nan=-1.0), axis=1)
    chosen = pred[np.arange(pop.n_animals), pick]
    return DecodeResult(task, chosen, labels, pop.mask("test").cpu().numpy(), pop.session_ids,
                        {"l2": np.asarray(l2_grid)[pick], "val_accuracy": val_acc[np.arange(pop.n_animals), pick]},
                        time.time() - started, n_classes=int(labels.max()) + 1)


def decode_neural(pop: Population, task: str, *, latent: int = 64, hidden: int = 256, steps: int = 600,
                  lr: float = 3e-3, weight_decay: float = 1e-2, dropout: float = 0.3, input_dropout: float = 0.2,
                  batch_size: int = 512, eval_every: int = 50, seed: int = 0) -> DecodeResult:
    """Within-animal neural decoding: per-animal input layers + one classifier shared by all animals, trained
    jointly on the training repeats of every animal; the checkpoint is chosen on the validation repeats."""
    n_classes = pop.n_classes(task)
    labels = pop.labels(task)
    model = SlotDecoder(pop.n_animals, 1, pop.x.shape[2], n_classes, latent=latent, hidden=hidden, head="shared",
                        dropout=dropout, input_dropout=input_dropout, seed=seed)
    out = train_slots(model, pop, labels, pop.mask("train")[:, None], steps=steps, lr=lr,
                      weight_decay=weight_decay, batch_size=batch_size, val_mask=pop.mask("validation")[:, None],
                      eval_every=eval_every, seed=seed)
    pred = predict_slots(model, pop)[:, 0]
    val = accuracy(pred, labels, pop.mask("validation").cpu().numpy())
    return DecodeResult(task, pred, labels, pop.mask("test").cpu().numpy(), pop.session_ids,
                        {"val_accuracy": val, "history": out["history"]}, out["seconds"], n_classes=n_classes)


def _restrict(pop: Population, mask: np.ndarray) -> tuple[Population, torch.Tensor]:
    """A population holding only the units that some variant uses (``mask``: animals x variants x units), and the
    mask re-indexed to it, so that training touches no unused (padded or unselected) units."""
    used = mask.any(1)
    width = max(int(used.sum(1).max()), 1)
    pick = np.zeros((pop.n_animals, width), np.int64)
    sub_mask = np.zeros((pop.n_animals, mask.shape[1], width), bool)
    for a in range(pop.n_animals):
        cols = np.flatnonzero(used[a])
        pick[a, : len(cols)] = cols
        sub_mask[a, :, : len(cols)] = mask[a][:, cols]
    idx = torch.as_tensor(pick, device=pop.device)
    sub = Population(torch.gather(pop.x, 2, idx[:, None, :].expand(-1, pop.n_trials, -1)),
                     torch.as_tensor(sub_mask.any(1), device=pop.device), pop.present, pop.condition, pop.repeat,
                     pop.split, pop.session_ids, pop.areas, pop.n_units)
    return sub, torch.as_tensor(sub_mask, device=pop.device)


def units_curve(pop: Population, task: str, sizes: Sequence[int], *, l2: float = 1e-2, steps: int = 300,
                batch_size: int = 512, seed: int = 0) -> pd.DataFrame:
    """Test accuracy of logistic regression on nested random subsets of each animal's units (one row per animal
    and size; sizes larger than an animal's unit count are skipped). All subsets are trained in one model, on a
    tensor that holds only the largest subset of each animal."""
    pop.labels(task)  # checks the task
    if pop.projected:
        raise ValueError("units_curve needs a population of units, not principal components (n_components=None)")
    sizes = sorted(int(n) for n in sizes)
    if not sizes or sizes[0] < 1:
        raise ValueError(f"sizes must be positive unit counts, got {sizes}")
    rng = np.random.default_rng(seed)
    mask = np.zeros((pop.n_animals, len(sizes), pop.x.shape[2]), bool)
    for a in range(pop.n_animals):
        order = rng.permutation(pop.n_units[a])
        for k, n in enumerate(sizes):
            if n <= pop.n_units[a]:
                mask[a, k, order[:n]] = True
    sub, sub_mask = _restrict(pop, mask)
    labels = pop.labels(task)
    pred, active = fit_logistic(sub, labels, [l2] * len(sizes), unit_mask=sub_mask, steps=steps,
                                batch_size=batch_size, seed=seed)
    acc = accuracy(pred, labels, pop.mask("test").cpu().numpy()[:, None, :])
    return pd.DataFrame([{"session": pop.session_ids[a], "n_units": n, "accuracy": acc[a, k]}
                         for a in range(pop.n_animals) for k, n in enumerate(sizes) if active[a, k]])


def decode_by_area(pop: Population, task: str, areas: Sequence[str], *, n_units: int = 20, l2: float = 1e-2,
                   steps: int = 300, batch_size: int = 512, seed: int = 0) -> pd.DataFrame:
    """Test accuracy of logistic regression on ``n_units`` random units of one area at a time, for every animal
    with at least that many units there (equal unit counts, so areas compare fairly). One model for all."""
    pop.labels(task)  # checks the task
    if pop.projected:
        raise ValueError("decode_by_area needs a population of units, not principal components")
    rng = np.random.default_rng(seed)
    mask = np.zeros((pop.n_animals, len(areas), pop.x.shape[2]), bool)
    for a in range(pop.n_animals):
        for k, area in enumerate(areas):
            there = np.flatnonzero(pop.areas[a] == area)
            if len(there) >= n_units:
                mask[a, k, rng.choice(there, n_units, replace=False)] = True
    if not mask.any():
        raise ValueError(f"no animal has {n_units} units in any of {list(areas)}; ask for fewer units")
    labels = pop.labels(task)
    sub, sub_mask = _restrict(pop, mask)
    pred, active = fit_logistic(sub, labels, [l2] * len(areas), unit_mask=sub_mask, steps=steps,
                                batch_size=batch_size, seed=seed)
    acc = accuracy(pred, labels, pop.mask("test").cpu().numpy()[:, None, :])
    return pd.DataFrame([{"session": pop.session_ids[a], "area": area, "n_units": n_units, "accuracy": acc[a, k]}
                         for a in range(pop.n_animals) for k, area in enumerate(areas) if active[a, k]])


@dataclass
class TransferResult:
    """Leave-mice-out transfer: accuracy of held-out animals against training trials per class."""

    task: str
    shots: list[int]
    folds: np.ndarray  # (n_animals,) fold in which each animal was held out
    adapted: np.ndarray  # (n_animals, n_shots) test accuracy, shared classifier frozen, input layer fitted
    scratch: np.ndarray  # (n_animals, n_shots) test accuracy, whole decoder trained on the same trials only
    session_ids: list[int]
    seconds: float = 0.0
    #: (n_animals, n_shots, n_trials) predicted class of every aligned trial, per decoder (adapted, scratch)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None  # (n_trials,)
    test_mask: np.ndarray | None = None  # (n_animals, n_trials)

    def table(self) -> pd.DataFrame:
        rows = []
        for a, sid in enumerate(self.session_ids):
            for s, k in enumerate(self.shots):
                rows.append({"session": sid, "fold": int(self.folds[a]), "shots": k,
                             "adapted": self.adapted[a, s], "scratch": self.scratch[a, s]})
        return pd.DataFrame(rows)


def few_shot_mask(pop: Population, labels: np.ndarray, shots: Sequence[int], seed: int = 0) -> torch.Tensor:
    """(n_animals, n_shots, n_trials) training masks with ``shots[s]`` training trials per class (nested sets)."""
    rng = np.random.default_rng(seed)
    order = np.zeros(pop.n_trials, np.int64) + np.iinfo(np.int64).max
    train = np.flatnonzero(pop.split == "train")
    for c in np.unique(labels):
        trials = train[labels[train] == c]
        order[rng.permutation(trials)] = np.arange(len(trials))
    per_class = np.bincount(labels[train]).min()
    if max(shots) > per_class:
        raise ValueError(f"asked for {max(shots)} training trials per class but the train repeats hold only "
                         f"{per_class} per class; ask for fewer shots")
    chosen = np.stack([order < k for k in shots])
    return pop.present[:, None, :] & torch.as_tensor(chosen, device=pop.device)[None]


def transfer_across_animals(pop: Population, task: str, *, n_folds: int, shots: Sequence[int] = (1, 2, 5, 10),
                            latent: int = 64, hidden: int = 256, steps: int = 400, adapt_steps: int = 300,
                            lr: float = 3e-3, weight_decay: float = 1e-2, dropout: float = 0.3,
                            input_dropout: float = 0.2, batch_size: int = 256, seed: int = 0) -> TransferResult:
    """Train the shared classifier on the other animals, then adapt each held-out animal with few trials.

    Animals are split into ``n_folds`` folds (``n_folds = n_animals`` is leave-one-mouse-out). One model holds a
    classifier per fold, each trained (with the input layers of the animals it sees) on the training repeats of the
    animals outside the fold, all folds in the same tensor step; the checkpoint is chosen on validation repeats of
    those animals. Each held-out animal then gets a fresh input layer fitted on ``k`` training trials per class with
    its fold's classifier frozen (``adapted``); ``scratch`` trains a whole decoder on the same trials only.
    """
    n_classes = pop.n_classes(task)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 2 <= n_folds <= pop.n_animals:
        raise ValueError(f"n_folds must be an int from 2 to the number of animals ({pop.n_animals}), got {n_folds!r}")
    started = time.time()
    labels = pop.labels(task)
    rng = np.random.default_rng(seed)
    folds = rng.permutation(np.arange(pop.n_animals) % n_folds)
    seen = torch.as_tensor(folds[:, None] != np.arange(n_folds)[None, :], device=pop.device)  # (A, K)
    shared = SlotDecoder(pop.n_animals, n_folds, pop.x.shape[2], n_classes, latent=latent, hidden=hidden,
                         head="variant", dropout=dropout, input_dropout=input_dropout, seed=seed)
    train_slots(shared, pop, labels, pop.mask("train")[:, None] & seen[..., None], steps=steps, lr=lr,
                weight_decay=weight_decay, batch_size=batch_size,
                val_mask=pop.mask("validation")[:, None] & seen[..., None], seed=seed)
    shot_mask = few_shot_mask(pop, labels, shots, seed)
    test = pop.mask("test").cpu().numpy()[:, None, :]
    out, preds = {}, {}
    for name in ("adapted", "scratch"):
        m = SlotDecoder(pop.n_animals, len(shots), pop.x.shape[2], n_classes, latent=latent, hidden=hidden,
                        head="slot", dropout=dropout, input_dropout=input_dropout, seed=seed + 1)
        m.to(pop.device)
        if name == "adapted":
            with torch.no_grad():
                for p_new, p_old in zip(m.head_parameters(), shared.head_parameters(), strict=True):
                    p_new.copy_(p_old[0, torch.as_tensor(folds, device=pop.device)][:, None].expand_as(p_new))
                    p_new.requires_grad_(False)
        train_slots(m, pop, labels, shot_mask, steps=adapt_steps, lr=lr, weight_decay=weight_decay,
                    batch_size=batch_size, seed=seed)
        preds[name] = predict_slots(m, pop)
        out[name] = accuracy(preds[name], labels, test)
    return TransferResult(task, list(shots), folds, out["adapted"], out["scratch"], pop.session_ids,
                          time.time() - started, preds, labels, test[:, 0])
