"""Fit an encoding model to a :class:`StimulusResponseData` and predict with it.

Normalization choice: the training images' scalar pixel mean and std are stored in the model
(``model.set_input_stats``), so ``predict`` and the inversion tools reuse them automatically.

Models that read per-trial arrays besides the image (``model.trial_inputs``, e.g. a
:class:`~neurobook.models.BehaviorModel` reading ``behavior`` and ``pupil_center``) get them from ``data.meta``;
their per-column training mean and std are stored in the model the same way (``model.set_trial_input_stats``).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neurobook.checks import check_positive_int
from neurobook.config import resolve_device, seed_everything
from neurobook.data.types import StimulusResponseData
from neurobook.models.behavior import TRIAL_INPUT_HELP
from neurobook.progress import StepProgress

__all__ = ["TrainResult", "fit", "poisson_loss", "predict", "trial_input_arrays"]


@dataclass
class TrainResult:
    """What :func:`fit` returns; ``model`` holds the best (highest validation correlation) weights."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_corr: float = float("nan")
    seconds: float = 0.0
    device: str = "cpu"
    images_per_second: float = 0.0


def poisson_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """Poisson negative log-likelihood (up to a constant), summed over neurons, mean over the batch.

    ``mask`` (same shape, bool) keeps only the recorded entries (e.g. neurons of the image's own session).
    """
    nll = pred - target * torch.log(pred + eps)
    if mask is not None:
        nll = torch.where(mask, nll, torch.zeros_like(nll))
    return nll.sum(1).mean()


def _mean_correlation(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean over neurons of the per-neuron Pearson correlation (constant columns count as 0).

    With ``mask``, each neuron's correlation uses only its recorded rows.
    """
    if mask is not None:
        w = mask.float()
        n = w.sum(0).clamp_min(1)
        p = (pred - (w * pred).sum(0) / n) * w
        t = (torch.where(mask, target, torch.zeros_like(target)) - (w * torch.nan_to_num(target)).sum(0) / n) * w
        den = (p.pow(2).sum(0) * t.pow(2).sum(0)).sqrt()
        corr = torch.where(den > 1e-12, (p * t).sum(0) / den.clamp_min(1e-12), torch.zeros_like(den))
        return float(corr.mean())
    p = pred - pred.mean(0)
    t = target - target.mean(0)
    den = (p.pow(2).sum(0) * t.pow(2).sum(0)).sqrt()
    corr = torch.where(den > 1e-12, (p * t).sum(0) / den.clamp_min(1e-12), torch.zeros_like(den))
    return float(corr.mean())


def _check_model(model: nn.Module, image_shape: tuple[int, int] | None, n_neurons: int | None) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = getattr(model, "image_shape", None)
    if image_shape is not None and shape is not None and tuple(shape) != tuple(image_shape):
        raise ValueError(f"model was built for images {tuple(shape)} but the data has {tuple(image_shape)}")
    n = getattr(model, "n_neurons", None)
    if n_neurons is not None and n is not None and n != n_neurons:
        raise ValueError(f"model predicts {n} neurons but the data has {n_neurons}")


def _autocast(device: torch.device, amp: bool):
    """(context, dtype) for mixed precision: bf16 (or fp16) autocast on CUDA only."""
    if not (amp and device.type == "cuda"):
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


@torch.no_grad()
def _predict_tensor(model: nn.Module, x: torch.Tensor, batch_size: int, amp: bool,
                    inputs: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    model.eval()
    device = x.device
    inputs = inputs or {}
    outs = []
    for start in range(0, x.shape[0], batch_size):
        ctx, _ = _autocast(device, amp)
        batch = {k: v[start : start + batch_size] for k, v in inputs.items()}
        with ctx:
            outs.append(model(x[start : start + batch_size].float(), **batch).float())
    return torch.cat(outs)


def _needed_shape(model: nn.Module, name: str, rows: int | str = "n_trials") -> str:
    return f"({rows}, {getattr(model, 'trial_input_sizes', {}).get(name, 'k')})"


def _check_trial_array(model: nn.Module, name: str, value: object, n: int, where: str,
                       rows: str | None = None) -> np.ndarray:
    """One trial input as float32 (n, k), or a ValueError that names it and the shape it needs."""
    arr = np.asarray(value)
    k = getattr(model, "trial_input_sizes", {}).get(name)
    if arr.ndim != 2 or arr.shape[0] != n or (k is not None and arr.shape[1] != k):
        raise ValueError(f"{where}[{name!r}] must be {_needed_shape(model, name, rows or n)}, one row per trial "
                         f"({TRIAL_INPUT_HELP.get(name, 'a per-trial array')}); got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{where}[{name!r}] must be numeric; got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}[{name!r}] holds {int((~np.isfinite(arr)).sum())} NaN or infinite value(s); "
                         "impute them (e.g. with the column mean) or drop those trials")
    return arr


def trial_input_arrays(model: nn.Module, data: StimulusResponseData) -> dict[str, np.ndarray]:
    """The per-trial arrays ``model.trial_inputs`` names, read from ``data.meta`` and checked: {name: (n, k)}.

    Empty for models that read only images. A missing or misshapen array raises a ValueError that names it.
    """
    out = {}
    n = len(data.tiers)
    for name in getattr(model, "trial_inputs", ()):
        if name not in data.meta:
            raise ValueError(
                f"{type(model).__name__} reads the per-trial array {name!r} of shape "
                f"{_needed_shape(model, name, f'n_trials={n}')} ({TRIAL_INPUT_HELP.get(name, 'one row per trial')}), "
                f"but data.meta has no {name!r} (it has {sorted(data.meta)}). The Lurz 2020 data "
                f"(neurobook.data.load_lurz2020) carry 'behavior' and 'pupil_center'; for your own recordings add "
                f"{name}=array of shape {_needed_shape(model, name)} to the npz read by neurobook.data.load_npz, "
                f"or build the model without it.")
        out[name] = _check_trial_array(model, name, data.meta[name], n, "data.meta", f"n_trials={n}")
    return out


def input_stats(images: np.ndarray, max_values: int = 10_000_000) -> tuple[float, float]:
    """Scalar mean and std of the training stimuli (on an even subsample of trials when the array is huge)."""
    step = max(1, images.size // max_values)
    sample = images[::step].astype(np.float64)
    return float(sample.mean()), float(sample.std())


def fit(
    model: nn.Module,
    data: StimulusResponseData,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 5e-3,
    device: str | torch.device = "auto",
    patience: int = 5,
    lr_decay: float = 0.3,
    max_lr_decays: int = 3,
    seed: int = 0,
    amp: bool = True,
    progress: bool = True,
    desc: str = "training",
    init_bias: bool = True,
    normalize_responses: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> TrainResult:
    """Train ``model`` on the train tier with early stopping on the validation tier.

    Poisson loss + ``model.regularizer()``, Adam, shuffled mini-batches drawn by index permutation from
    tensors that live on the device. After each epoch the mean per-neuron correlation on the
    validation tier decides: a new best is kept; after ``patience`` epochs without improvement the
    best weights are restored and the learning rate multiplied by ``lr_decay``; after
    ``max_lr_decays`` decays training stops. The test tier is never used. Mixed precision only on CUDA.
    ``progress`` shows a bar over epochs (``desc`` names it) and reports each epoch to a running build.
    ``init_bias`` sets output biases to the training mean responses before training.
    ``normalize_responses`` trains on responses divided by each neuron's training std (stored in the model as
    its output scale, so predictions stay in data units). NaN responses (neurons not recorded on a trial, e.g. when
    sessions are stacked so that one shared core learns them all) are left out of the loss and the validation
    correlation.
    ``checkpoint``: a file written after every epoch (weights, optimizer, schedule, history, random state); a later
    call with the same file, model and data resumes where that one stopped, so a long run (the gpu profile's model
    on a CPU) survives being stopped. Delete the file to start afresh.
    """
    _check_fit_arguments(model, data, epochs, batch_size, patience, lr_decay)
    train, val = data.tier("train"), data.tier("validation")
    seed_everything(seed)
    dev = resolve_device(device)
    model.to(dev)
    in_train, in_val = _prepare_inputs(model, data, dev)
    masked = bool(np.isnan(train.responses).any() or np.isnan(val.responses).any())
    if masked and (np.isnan(train.responses).all(0).any() or np.isnan(val.responses).all(0).any()):
        raise ValueError("every neuron needs recorded (non-NaN) responses in both the train and validation tiers")
    scale = _prepare_outputs(model, train.responses, dev, normalize_responses, init_bias)

    x_train, y_train, m_train = _tensors(train, dev, masked)
    x_val, y_val, m_val = _tensors(val, dev, masked)
    generator = torch.Generator(device=dev).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    _, amp_dtype = _autocast(dev, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    batches = _Batches(x_train, y_train, m_train, in_train, batch_size, generator)
    schedule = _EarlyStopping(patience, lr_decay, max_lr_decays, copy.deepcopy(model.state_dict()))

    history: list[dict] = []
    train_seconds, seen, first = 0.0, 0, 1
    if checkpoint is not None and Path(checkpoint).exists():
        history, first, stopped = _resume(Path(checkpoint), model, optimizer, schedule, generator, scaler)
        first = epochs + 1 if stopped else first
    start = time.perf_counter()
    bar = StepProgress(epochs, desc, unit="epoch", enabled=progress)
    for epoch in range(first, epochs + 1):
        t0 = time.perf_counter()
        mean_loss = _train_epoch(model, batches, optimizer, scaler, scale, dev, amp)
        train_seconds += time.perf_counter() - t0
        if not np.isfinite(mean_loss):  # checked once per epoch: no per-batch GPU sync
            raise FloatingPointError(f"training loss became {mean_loss} in epoch {epoch}; lower lr")
        seen += len(x_train)
        val_corr = _mean_correlation(_predict_tensor(model, x_val, 512, amp, in_val), y_val, m_val)
        current_lr = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train_loss": mean_loss, "val_corr": val_corr, "lr": current_lr,
                        "seconds": time.perf_counter() - t0})
        bar.step(val_corr=val_corr, lr=f"{current_lr:.1e}")
        stop = schedule.stop_after(epoch, val_corr, model, optimizer)
        if checkpoint is not None:
            _save_checkpoint(Path(checkpoint), model, optimizer, schedule, generator, scaler, history, stop)
        if stop:
            break
    bar.close()
    model.load_state_dict(schedule.best_state)
    model.eval()
    return TrainResult(
        model=model, history=history, best_epoch=schedule.best_epoch, best_val_corr=float(schedule.best_corr),
        seconds=time.perf_counter() - start, device=str(dev),
        images_per_second=seen / train_seconds if train_seconds > 0 else 0.0,
    )


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: _EarlyStopping,
                     generator: torch.Generator, scaler: torch.amp.GradScaler, history: list[dict],
                     stopped: bool) -> None:
    """Everything :func:`fit` needs to go on after an epoch, written to a temporary file and then moved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "schedule": {k: getattr(schedule, k) for k in ("best_state", "best_corr", "best_epoch", "bad_epochs",
                                                             "decays")},
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
             "history": history, "stopped": stopped,
             "n_parameters": sum(p.numel() for p in model.parameters())}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: _EarlyStopping,
            generator: torch.Generator, scaler: torch.amp.GradScaler) -> tuple[list[dict], int, bool]:
    """Load a checkpoint of :func:`_save_checkpoint` into the run: (history, next epoch, whether it had stopped)."""
    try:
        state = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
        if state["n_parameters"] != sum(p.numel() for p in model.parameters()):
            raise ValueError("the checkpoint was written by a model of another size")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (OSError, KeyError, RuntimeError, ValueError, EOFError) as err:
        raise ValueError(f"cannot resume from checkpoint {path}: {err}. It belongs to another model or data, or is "
                         "damaged; delete it to start afresh.") from err
    scaler.load_state_dict(state["scaler"])
    for key, value in state["schedule"].items():
        setattr(schedule, key, value)
    generator.set_state(state["generator"].cpu())
    torch.set_rng_state(state["torch_rng"].cpu())  # the readout's position sampling draws from the global generator
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    history = list(state["history"])
    return history, len(history) + 1, bool(state["stopped"])


def _check_fit_arguments(model: nn.Module, data: StimulusResponseData, epochs: int, batch_size: int,
                         patience: int, lr_decay: float) -> None:
    if not isinstance(data, StimulusResponseData):
        raise TypeError(f"data must be a StimulusResponseData, got {type(data).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        check_positive_int(name, value)
    if not 0 < lr_decay < 1:
        raise ValueError(f"lr_decay must be in (0, 1), got {lr_decay}")
    _check_model(model, data.image_shape, data.n_neurons)
    n_train, n_val = (int((data.tiers == tier).sum()) for tier in ("train", "validation"))
    if n_train == 0 or n_val == 0:
        raise ValueError(f"fit needs train and validation trials; got {n_train} train, {n_val} validation")


def _prepare_inputs(model: nn.Module, data: StimulusResponseData,
                    dev: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Set the model's input statistics from the train tier; the per-trial inputs (train, validation) on ``dev``."""
    train = data.tier("train")
    inputs = trial_input_arrays(model, data)
    if hasattr(model, "set_input_stats"):
        model.set_input_stats(*input_stats(train.images))
    in_train = {k: v[data.tiers == "train"] for k, v in inputs.items()}
    in_val = {k: torch.from_numpy(v[data.tiers == "validation"]).to(dev) for k, v in inputs.items()}
    for name, value in in_train.items():
        if not hasattr(model, "set_trial_input_stats"):
            raise TypeError(f"{type(model).__name__} reads {name!r} but has no set_trial_input_stats(name, mean, std)")
        col_std = value.std(0, dtype=np.float64)
        model.set_trial_input_stats(name, value.mean(0, dtype=np.float64), np.where(col_std > 0, col_std, 1.0))
    return {k: torch.from_numpy(v).to(dev) for k, v in in_train.items()}, in_val


def _prepare_outputs(model: nn.Module, responses: np.ndarray, dev: torch.device, normalize: bool,
                     init_bias: bool) -> torch.Tensor:
    """Each neuron's output scale (its train std, or 1) set in the model, and the biases at the train means."""
    std = torch.from_numpy(np.nanstd(responses, 0).astype(np.float32)).to(dev)
    scale = torch.where(std > 0, std, torch.ones_like(std)) if normalize else torch.ones_like(std)
    if hasattr(model, "set_output_scale"):
        model.set_output_scale(scale)
    if init_bias and hasattr(model, "initialize_bias"):
        model.initialize_bias(torch.from_numpy(np.nanmean(responses, 0).astype(np.float32)).to(dev) / scale)
    return scale


def _tensors(tier: StimulusResponseData, dev: torch.device,
             masked: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Images, responses (NaN as 0) and the mask of recorded responses (None when all are) on ``dev``."""
    x = torch.from_numpy(tier.images).to(dev)
    y = torch.from_numpy(tier.responses).to(dev)
    if not masked:
        return x, y, None
    return x, torch.nan_to_num(y), torch.isfinite(y)


@dataclass
class _Batches:
    """Shuffled mini-batches drawn by index permutation from tensors that live on the device."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None
    inputs: dict[str, torch.Tensor]
    batch_size: int
    generator: torch.Generator

    def __iter__(self):
        n = self.x.shape[0]
        perm = torch.randperm(n, device=self.x.device, generator=self.generator)
        for b in range(0, n, self.batch_size):
            idx = perm[b : b + self.batch_size]
            mask = self.mask[idx] if self.mask is not None else None
            yield self.x[idx].float(), self.y[idx], mask, {k: v[idx] for k, v in self.inputs.items()}


def _train_epoch(model: nn.Module, batches: _Batches, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler, scale: torch.Tensor, dev: torch.device, amp: bool) -> float:
    """One pass over the train tier: Poisson loss on scaled responses + the model's regularizer; the mean loss."""
    model.train()
    total, n_batches = torch.zeros((), device=dev), 0
    for x, y, mask, extra in batches:
        ctx, _ = _autocast(dev, amp)
        with ctx:
            pred = model(x, **extra)
        loss = poisson_loss(pred.float() / scale, y / scale, mask=mask) + model.regularizer()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.detach()
        n_batches += 1
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return float(total) / max(n_batches, 1)


@dataclass
class _EarlyStopping:
    """Keep the best weights by validation correlation; after ``patience`` epochs without a gain restore them and
    decay the learning rate; stop after ``max_decays`` decays."""

    patience: int
    lr_decay: float
    max_decays: int
    best_state: dict
    best_corr: float = -np.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    decays: int = 0

    def stop_after(self, epoch: int, val_corr: float, model: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
        if val_corr > self.best_corr + 1e-4:
            self.best_corr, self.best_epoch, self.bad_epochs = val_corr, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.bad_epochs += 1
        if self.bad_epochs < self.patience:
            return False
        if self.decays >= self.max_decays:
            return True
        model.load_state_dict(self.best_state)
        for group in optimizer.param_groups:
            group["lr"] *= self.lr_decay
        self.decays, self.bad_epochs = self.decays + 1, 0
        return False


def predict(model: nn.Module, images: np.ndarray, device: str | torch.device = "auto", batch_size: int = 256,
            trial_inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Predicted rates (n_images, n_neurons) float32 for images (n, H, W) in data units.

    Stimuli with a history as channels, (n, history, H, W), go to models built for them (retina).
    ``trial_inputs``: per-trial arrays {name: (n, k)} in data units for a model that reads them
    (``model.trial_inputs``, e.g. ``{"behavior": test.meta["behavior"]}``); one left out means the mean state.

    The model is moved to ``device`` and left in eval mode.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array (n, H, W), got {type(images).__name__}")
    if images.ndim == 2:
        raise ValueError(f"images must be (n, H, W); got one image of shape {images.shape}, add a batch axis")
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be (n, H, W) or (n, channels, H, W); got shape {images.shape}")
    _check_model(model, images.shape[-2:], None)
    check_positive_int("batch_size", batch_size)
    inputs = _predict_inputs(model, trial_inputs, len(images))
    dev = resolve_device(device)
    model.to(dev)
    if images.dtype not in (np.int8, np.uint8, np.float16, np.float32):
        images = images.astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(images))
    outs = []
    model.eval()
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            batch = {k: v[start : start + batch_size].to(dev) for k, v in inputs.items()}
            outs.append(model(x[start : start + batch_size].to(dev).float(), **batch).float().cpu())
    return torch.cat(outs).numpy() if outs else np.zeros((0, getattr(model, "n_neurons", 0)), np.float32)


def _predict_inputs(model: nn.Module, trial_inputs: Mapping[str, np.ndarray] | None, n: int) -> dict:
    """Checked trial inputs for :func:`predict` as CPU tensors {name: (n, k)}."""
    if trial_inputs is None:
        return {}
    if not isinstance(trial_inputs, Mapping):
        raise TypeError(f"trial_inputs must be a dict {{name: (n, k) array}}, got {type(trial_inputs).__name__}")
    names = tuple(getattr(model, "trial_inputs", ()))
    unknown = sorted(set(trial_inputs) - set(names))
    if unknown:
        reads = f"reads only {names}" if names else "reads no trial inputs (only images)"
        raise ValueError(f"trial_inputs {unknown} are not read by this {type(model).__name__}: it {reads}")
    return {k: torch.from_numpy(_check_trial_array(model, k, v, n, "trial_inputs")) for k, v in trial_inputs.items()}
