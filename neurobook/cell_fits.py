"""Per-cell fitting schemes built on :func:`neurobook.train.fit`: one model per cell, and transfer between cells."""

from __future__ import annotations

import copy

import numpy as np
import torch

from neurobook.config import seed_everything
from neurobook.data.types import StimulusResponseData
from neurobook.models.retina import RetinaCNN, RetinaSTALN, build_retina_model
from neurobook.train import TrainResult, fit, input_stats


def fit_each_cell(kind: str, data: StimulusResponseData, *, epochs: int, device: str | torch.device = "auto",
                  seed: int = 0, batch_size: int = 128, lr: float = 5e-3, patience: int = 3,
                  **model_kwargs) -> list[TrainResult]:
    """Fit one retina model (``retina_cnn`` or ``retina_ln``) per cell, as Yan et al. do: a list of TrainResult.

    ``data`` holds a stimulus history as channels (see :meth:`neurobook.data.retina.RetinaRecording.to_data`).
    """
    if data.n_channels < 2:
        raise ValueError("data must hold a stimulus history (n, history, H, W); use RetinaRecording.to_data")
    results = []
    for cell in range(data.n_neurons):
        seed_everything(seed)
        model = build_retina_model(kind, data.n_channels, data.image_shape, 1, **model_kwargs)
        results.append(fit(model, data.select_neurons([cell]), epochs=epochs, batch_size=batch_size, lr=lr,
                           device=device, seed=seed, patience=patience))
    return results


TRANSFER_MODES = ("readout", "all", "scratch")


def fit_sta_ln(data: StimulusResponseData, *, n_bins: int = 20, chunk: int = 4096) -> RetinaSTALN:
    """The classical LN model from the train tier alone: STA filter, binned nonlinearity (Chichilnisky 2001).

    The filter of each cell is its spike-triggered average of the standardized stimulus minus the stimulus mean,
    scaled to unit norm; the nonlinearity is the mean response in ``n_bins`` equally populated bins of that
    filter's output. Validation and test trials are not looked at. ``data`` holds a stimulus history as channels.
    """
    if data.n_channels < 2:
        raise ValueError("data must hold a stimulus history (n, history, H, W); use RetinaRecording.to_data")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 2:
        raise ValueError(f"n_bins must be an int >= 2, got {n_bins!r}")
    train = data.tier("train")
    if len(train.images) < 10 * n_bins:
        raise ValueError(f"the train tier has {len(train.images)} samples; fit_sta_ln needs at least {10 * n_bins}")
    mean, std = input_stats(train.images)
    y = torch.from_numpy(train.responses).double()  # (N, n)
    if not bool((y.sum(0) > 0).all()):
        raise ValueError("every cell needs at least one spike in the train tier to have an STA")
    weighted = torch.zeros(y.shape[1], int(np.prod(train.images.shape[1:])), dtype=torch.float64)
    stim_sum = torch.zeros(weighted.shape[1], dtype=torch.float64)
    for start in range(0, len(train.images), chunk):
        x = (torch.from_numpy(train.images[start : start + chunk]).double().flatten(1) - mean) / std
        weighted += y[start : start + chunk].T @ x
        stim_sum += x.sum(0)
    sta = weighted / y.sum(0)[:, None] - stim_sum / len(train.images)
    filters = (sta / sta.norm(dim=1, keepdim=True).clamp_min(1e-12)).float()
    g = torch.cat([((torch.from_numpy(train.images[s : s + chunk]).float().flatten(1) - mean) / std) @ filters.T
                   for s in range(0, len(train.images), chunk)])  # (N, n)
    order = g.argsort(0)
    bins = torch.tensor_split(torch.arange(len(g)), n_bins)
    centers = torch.stack([g.gather(0, order[b]).mean(0) for b in bins], 1)
    values = torch.stack([y.float().gather(0, order[b]).mean(0) for b in bins], 1)
    model = RetinaSTALN(filters.reshape(-1, *train.images.shape[1:]), centers, values)
    model.set_input_stats(mean, std)
    return model


def transfer_fit(source: torch.nn.Module | None, data: StimulusResponseData, mode: str, *, epochs: int,
                 device: str | torch.device = "auto", seed: int = 0, batch_size: int = 128,
                 **model_kwargs) -> TrainResult:
    """Fit a retina CNN to one cell's ``data`` starting from another cell's trained CNN ``source``.

    ``mode``: ``readout`` retrains only the dense readout (the convolutional layers stay frozen), ``all`` fine-tunes
    every layer from the source's weights, ``scratch`` ignores ``source`` and trains a new network. Returns the
    TrainResult.

    ``fit`` standardizes the inputs with the statistics of ``data``'s train tier; when they differ from the
    source's (e.g. white noise -> natural movies), the first layer is re-parametrized first so that the copied
    network computes exactly the source's function of the stimulus, and transfer starts from the source model.
    """
    if mode not in TRANSFER_MODES:
        raise ValueError(f"mode must be one of {TRANSFER_MODES}, got {mode!r}")
    if data.n_neurons != 1:
        raise ValueError(f"transfer fits one cell at a time; data has {data.n_neurons} cells")
    seed_everything(seed)
    if mode == "scratch":
        model = build_retina_model("retina_cnn", data.n_channels, data.image_shape, 1, **model_kwargs)
    else:
        if not isinstance(source, RetinaCNN):
            raise TypeError(f"source must be a trained RetinaCNN for mode {mode!r}, got {type(source).__name__}")
        model = copy.deepcopy(source)
        _keep_function_under_new_input_stats(model, *input_stats(data.tier("train").images))
        for layer in (model.conv1, model.conv2):
            for p in layer.parameters():
                p.requires_grad_(mode == "all")
    return fit(model, data, epochs=epochs, batch_size=batch_size, device=device, seed=seed, patience=3)


@torch.no_grad()
def _keep_function_under_new_input_stats(model: RetinaCNN, mean: float, std: float) -> None:
    """Rescale ``model.conv1`` so that with input statistics (mean, std) it computes what it did with its own."""
    m1, s1 = float(model.input_mean), float(model.input_std)
    w = model.conv1.weight
    model.conv1.bias += (mean - m1) / s1 * w.sum((1, 2, 3))
    w *= std / s1
    model.set_input_stats(mean, std)
