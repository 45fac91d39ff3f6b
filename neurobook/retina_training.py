"""Fit retina models on contiguous chunks of frames: the whole recording without stacking a history per bin.

A recording of 219 trials x 1500 frames would need ``history`` copies of every frame as stacked input (tens of GB
for 20 cells); here each cell's frames stay as (trials, T, H, W) int8 and a model convolves over time
(:mod:`neurobook.models.retina_core`). Training draws random chunks of the train trials, checks the Poisson
log-likelihood on validation trials spread through the recording after every epoch (a fixed number of steps),
decays the learning rate on a plateau, stops early and keeps the best weights.

The strong LN baseline: the fitted linear filter (a smoothness penalty per cell chosen on validation) followed by a
non-parametric output nonlinearity, the mean count in quantile bins of the filter's output on the train trials,
interpolated (Chichilnisky 2001, Network 12:199).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from neurobook.config import resolve_device, seed_everything
from neurobook.data.retina import RetinaRecording
from neurobook.models.retina_core import ChunkLN

__all__ = [
    "CellChunks",
    "ChunkFit",
    "NonparametricLN",
    "binned_output",
    "chunks_from_recordings",
    "fit_chunks",
    "fit_strong_ln",
    "predict_frames",
    "validation_nll",
]


@dataclass
class CellChunks:
    """Frames and counts of a set of cells, trial by trial, with train and validation trials chosen.

    ``frames`` is (n_cells, n_trials, T, H, W), or (1, ...) when all cells see the same frames; ``frozen`` likewise
    (n_cells or 1, T_f, H, W); ``frozen_counts`` (n_repeats, T_f, n_cells).
    """

    frames: torch.Tensor
    counts: torch.Tensor
    train: np.ndarray
    validation: np.ndarray
    frozen: torch.Tensor | None
    frozen_counts: np.ndarray | None
    frame_rate: float
    cell_ids: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.counts.shape[0])

    @property
    def window(self) -> int:
        return int(self.frames.shape[-1])

    def cell_frames(self, c: int) -> torch.Tensor:
        return self.frames[c if self.frames.shape[0] > 1 else 0]

    def minutes(self, trials: np.ndarray | None = None) -> float:
        trials = self.train if trials is None else trials
        return float(len(trials) * self.counts.shape[2] / self.frame_rate / 60)


def chunks_from_recordings(recordings: Sequence[RetinaRecording] | RetinaRecording, n_validation: int = 6,
                           max_train_trials: int | None = None) -> CellChunks:
    """Stack recordings (one per cell with its own crop, or one with several cells sharing frames).

    ``n_validation`` trials spread evenly through the recording are the validation tier; the others are the train
    tier, of which the first ``max_train_trials`` are used (the amount of recording, for data-efficiency curves).
    """
    recs = [recordings] if isinstance(recordings, RetinaRecording) else list(recordings)
    if not recs:
        raise ValueError("need at least one recording")
    n_trials = len(recs[0].frames)
    if any(len(r.frames) != n_trials or r.frame_shape != recs[0].frame_shape for r in recs):
        raise ValueError("all recordings need the same number of trials and the same frame shape")
    if len({f.shape[0] for f in recs[0].frames}) != 1:
        raise ValueError("all trials need the same number of frames")
    if n_trials < 2:
        raise ValueError(f"need at least 2 running trials (train + validation); got {n_trials}")
    n_validation = min(n_validation, n_trials // 2) or 1
    validation = np.unique(np.round(np.linspace(0, n_trials - 1, n_validation + 2)[1:-1]).astype(int))
    if n_validation == 1:
        validation = np.array([n_trials - 1])
    train = np.setdiff1d(np.arange(n_trials), validation)
    if max_train_trials is not None:
        if max_train_trials < 1:
            raise ValueError(f"max_train_trials must be >= 1; got {max_train_trials}")
        train = train[:max_train_trials]
    if len(recs) == 1:
        frames = torch.from_numpy(np.stack(recs[0].frames))[None]
        counts = torch.from_numpy(np.stack(recs[0].counts).transpose(2, 0, 1).astype(np.float32))
        frozen = None if recs[0].frozen is None else torch.from_numpy(recs[0].frozen)[None]
        frozen_counts = recs[0].frozen_counts
    else:
        if any(r.n_cells != 1 for r in recs):
            raise ValueError("a list of recordings needs one cell per recording")
        frames = torch.from_numpy(np.stack([np.stack(r.frames) for r in recs]))
        counts = torch.from_numpy(np.stack([np.stack(r.counts)[..., 0] for r in recs]).astype(np.float32))
        has_frozen = all(r.frozen is not None for r in recs)
        frozen = torch.from_numpy(np.stack([r.frozen for r in recs])) if has_frozen else None
        frozen_counts = np.concatenate([r.frozen_counts for r in recs], 2) if has_frozen else None
    ids = np.concatenate([np.asarray(r.cell_ids) for r in recs])
    return CellChunks(frames, counts, train, validation, frozen, frozen_counts, recs[0].frame_rate, ids)


@dataclass
class ChunkFit:
    """What :func:`fit_chunks` returns: the best weights, the validation curve and why training stopped."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = ""
    seconds: float = 0.0


def _rows(cells: torch.Tensor, copies: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Model rows for data cells: each cell ``c`` is evaluated by rows ``c * copies + j``."""
    rows = (cells[:, None] * copies + torch.arange(copies, device=cells.device)).reshape(-1)
    return rows, torch.repeat_interleave(torch.arange(len(cells), device=cells.device), copies)


def _poisson(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return pred - y * torch.log(pred + 1e-6)


@torch.no_grad()
def validation_nll(model: nn.Module, chunks: CellChunks, copies: int = 1, trials: np.ndarray | None = None,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Mean Poisson negative log-likelihood per model row on the validation trials (or ``trials``)."""
    dev = torch.device(device)
    trials = chunks.validation if trials is None else trials
    model.eval()
    total = torch.zeros(chunks.n_cells * copies, device=dev)
    n = 0
    h = model.history
    for k in trials:
        for c in range(chunks.n_cells):
            x = chunks.cell_frames(c)[k][None].to(dev)
            rows, _ = _rows(torch.tensor([c], device=dev), copies)
            pred = model(x.expand(copies, *x.shape[1:]), rows)
            y = chunks.counts[c, k, h - 1 :].to(dev)
            total[rows] += _poisson(pred, y[None]).sum(1)
        n += chunks.counts.shape[2] - h + 1
    return (total / max(n, 1)).cpu().numpy()


def fit_chunks(model: nn.Module, chunks: CellChunks, *, copies: int = 1, chunk_len: int = 200, batch: int = 16,
               steps_per_epoch: int = 100, max_epochs: int = 30, lr: float = 3e-3, patience: int = 3,
               max_seconds: float | None = None, device: str | torch.device = "auto", seed: int = 0) -> ChunkFit:
    """Train on random chunks of the train trials with a Poisson loss; early stopping on validation likelihood.

    Every epoch is ``steps_per_epoch`` steps of ``batch`` chunks of ``chunk_len`` frames (one random cell, trial
    and start each). The learning rate drops 3x when the validation likelihood has not improved for one epoch;
    training stops after ``patience`` epochs without improvement, after ``max_epochs`` or after ``max_seconds``
    (``stopped`` says which), and the best epoch's weights are returned.
    """
    h = model.history
    if chunk_len <= h:
        raise ValueError(f"chunk_len ({chunk_len}) must exceed the model's history ({h})")
    t_frames = chunks.counts.shape[2]
    chunk_len = min(chunk_len, t_frames)
    dev = resolve_device(device)
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    _start_at_the_mean_rate(model, chunks, copies)
    model = model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state, best_epoch, since, stopped = np.inf, None, 0, 0, "max_epochs"
    history: list[dict] = []
    t0 = time.time()
    for epoch in range(1, max_epochs + 1):
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            cells = rng.integers(0, chunks.n_cells, batch)
            trials = rng.choice(chunks.train, batch)
            starts = rng.integers(0, t_frames - chunk_len + 1, batch)
            x = torch.stack([chunks.cell_frames(c)[k, s : s + chunk_len] for c, k, s in
                             zip(cells, trials, starts, strict=True)]).to(dev)
            y = torch.stack([chunks.counts[c, k, s + h - 1 : s + chunk_len] for c, k, s in
                             zip(cells, trials, starts, strict=True)]).to(dev)
            rows, item = _rows(torch.as_tensor(cells, device=dev), copies)
            pred = model(x[item], rows)
            loss = _poisson(pred, y[item]).mean() * copies + model.regularizer() / (chunks.n_cells * t_frames)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        val = validation_nll(model, chunks, copies, device=dev)
        score = float(val.mean())
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_nll": score,
                        "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - t0})
        if score < best - 1e-5:
            best, best_state, best_epoch, since = score, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            since += 1
            for g in optimizer.param_groups:
                g["lr"] /= 3
            if since >= patience:
                stopped = "patience"
                break
        if max_seconds is not None and time.time() - t0 > max_seconds:
            stopped = "time"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return ChunkFit(model, history, best_epoch, stopped, time.time() - t0)


@torch.no_grad()
def _start_at_the_mean_rate(model: nn.Module, chunks: CellChunks, copies: int) -> None:
    """Set each row's output bias so that it starts near its cell's mean count (softplus(bias) = mean rate)."""
    bias = getattr(model, "bias", None)
    if not isinstance(bias, torch.Tensor) or bias.shape != (chunks.n_cells * copies,):
        return
    mean = chunks.counts[:, chunks.train].mean((1, 2)).clamp_min(1e-3)
    bias.copy_(torch.repeat_interleave(torch.log(torch.expm1(mean)), copies).to(bias.device))


@torch.no_grad()
def predict_frames(model: nn.Module, frames: torch.Tensor, cells: Sequence[int] | None = None,
                   device: str | torch.device = "cpu", rows: Sequence[int] | None = None) -> np.ndarray:
    """Predictions (T - history + 1, n) for each cell of ``cells`` on its frames.

    ``frames`` is (n_cells or 1, T, H, W): row ``c`` is cell ``c``'s crop (one row: shared by all cells). The
    model row of each cell is the cell's index, or the matching entry of ``rows``.
    """
    dev = torch.device(device)
    model = model.to(dev).eval()
    cells = list(range(frames.shape[0])) if cells is None else list(cells)
    rows = cells if rows is None else list(rows)
    out = []
    for c, row in zip(cells, rows, strict=True):
        x = frames[c if frames.shape[0] > 1 else 0][None].to(dev)
        out.append(model(x, torch.tensor([row], device=dev))[0].cpu().numpy())
    return np.stack(out, 1)


class NonparametricLN(nn.Module):
    """A fitted LN filter with a non-parametric output: mean counts in quantile bins of the generator, interpolated
    linearly between bin centres and, above the top bin, extended along the last segment (rates keep rising)."""

    def __init__(self, ln: ChunkLN, rows: Sequence[int], centres: np.ndarray, values: np.ndarray,
                 extrapolate: bool = True) -> None:
        super().__init__()
        self.history, self.extrapolate = ln.history, extrapolate
        self.ln = ln
        self.register_buffer("rows", torch.as_tensor(np.asarray(rows), dtype=torch.long))
        self.register_buffer("centres", torch.as_tensor(centres, dtype=torch.float32))
        self.register_buffer("values", torch.as_tensor(values, dtype=torch.float32))

    def forward(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        g = self.ln.generator(x, self.rows[cells])
        centres, values = self.centres[cells], self.values[cells]  # (b, n_bins)
        idx = torch.searchsorted(centres.contiguous(), g.contiguous()).clamp(1, centres.shape[1] - 1)
        lo, hi = centres.gather(1, idx - 1), centres.gather(1, idx)
        v_lo, v_hi = values.gather(1, idx - 1), values.gather(1, idx)
        frac = ((g - lo) / (hi - lo).clamp_min(1e-9)).clamp_min(0)
        if not self.extrapolate:
            frac = frac.clamp_max(1)
        return (v_lo + frac * (v_hi - v_lo)).clamp_min(0)  # beyond the top bin: the last segment's slope

    def regularizer(self) -> torch.Tensor:
        return torch.zeros(())


def _sta_init(ln: ChunkLN, chunks: CellChunks, copies: int, trials: np.ndarray) -> None:
    """Start each filter at its cell's spike-triggered average (scaled to unit norm): LN fits converge in an epoch."""
    h = ln.history
    with torch.no_grad():
        for c in range(chunks.n_cells):
            sta = torch.zeros(h, chunks.window, chunks.window)
            frames = chunks.cell_frames(c)
            for k in trials:
                x = frames[k].float()
                y = chunks.counts[c, k]
                for lag in range(h):
                    sta[lag] += torch.einsum("t,thw->hw", y[h - 1 :], x[h - 1 - lag : x.shape[0] - lag])
            sta /= sta.norm().clamp_min(1e-9)
            for j in range(copies):
                ln.weight[c * copies + j] = sta


def binned_output(g: np.ndarray, y: np.ndarray, n_bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A non-parametric output nonlinearity: mean ``y`` in ``n_bins`` quantile bins of the generator ``g``, as
    ``n_bins`` bin centres and values (empty bins interpolated)."""
    edges = np.quantile(g, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, g, side="right") - 1, 0, n_bins - 1)
    sums, n = np.bincount(which, y, n_bins), np.bincount(which, minlength=n_bins)
    keep = n > 0
    cen = np.bincount(which, g, n_bins)[keep] / n[keep]
    order = np.argsort(cen)
    centres = np.interp(np.linspace(0, 1, n_bins), np.linspace(0, 1, keep.sum()), cen[order])
    return centres, np.interp(centres, cen[order], (sums[keep] / n[keep])[order])


def fit_strong_ln(chunks: CellChunks, history: int, *, penalties: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
                  n_bins: int = 40, lr: float = 2e-2, device: str | torch.device = "auto", seed: int = 0,
                  **fit_kw) -> tuple[NonparametricLN, dict]:
    """The strong LN: filters fitted per cell at each smoothness penalty, the penalty chosen on validation, then the
    output nonlinearity replaced by binned means of the train trials' counts. Returns the model and a summary."""
    copies = len(penalties)
    ln = ChunkLN(chunks.n_cells * copies, chunks.window, history, penalties)
    _sta_init(ln, chunks, copies, chunks.train[: max(1, min(len(chunks.train), 40))])
    fit = fit_chunks(ln, chunks, copies=copies, lr=lr, device=device, seed=seed, **fit_kw)
    dev = next(fit.model.parameters()).device
    val = validation_nll(fit.model, chunks, copies, device=dev).reshape(chunks.n_cells, copies)
    choice = val.argmin(1)
    rows = np.arange(chunks.n_cells) * copies + choice
    centres, values = [], []
    with torch.no_grad():
        for c, row in enumerate(rows):
            gens, ys = [], []
            for k in chunks.train:
                x = chunks.cell_frames(c)[k][None].to(dev)
                gens.append(fit.model.generator(x, torch.tensor([row], device=dev))[0].cpu().numpy())
                ys.append(chunks.counts[c, k, history - 1 :].numpy())
            cen, val = binned_output(np.concatenate(gens), np.concatenate(ys), n_bins)
            centres.append(cen)
            values.append(val)
    model = NonparametricLN(fit.model, rows, np.stack(centres), np.stack(values)).eval()
    summary = {"penalty": np.asarray(penalties)[choice], "epochs": fit.best_epoch, "stopped": fit.stopped,
               "seconds": fit.seconds, "history": fit.history}
    return model, summary
