"""Evaluate a trained encoding model on held-out repeated trials: one row of measures per neuron."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from neurobook import metrics
from neurobook.data.types import StimulusResponseData
from neurobook.train import predict

MEASURES = ("single_trial_corr", "corr_to_avg", "oracle", "feve", "fraction_of_limit")


def evaluate(model: torch.nn.Module, test: StimulusResponseData, device: str = "auto",
             neurons: np.ndarray | None = None) -> pd.DataFrame:
    """Per-neuron measures on ``test`` (a tier with repeated images); the model never saw these trials.

    Columns: single-trial correlation, correlation to the repeat average, the oracle (leave-one-out repeat
    correlation), FEVE, and the fraction of the predictability limit (CCnorm, Schoppe et al. 2016).
    ``neurons``: the model's output columns that ``test``'s neurons are (when the model predicts more neurons).
    """
    if len(np.unique(test.image_ids)) == len(test.image_ids):
        raise ValueError("evaluate needs repeated images (the test tier) to estimate the noise ceiling")
    pred = predict(model, test.images, device=device)
    if neurons is not None:
        pred = pred[:, np.asarray(neurons)]
    if pred.shape[1] != test.n_neurons:
        raise ValueError(f"the model gives {pred.shape[1]} neurons but the test data has {test.n_neurons}; "
                         "pass neurons= to pick the model's columns")
    resp, ids = test.responses, test.image_ids
    return pd.DataFrame({
        "neuron": np.arange(test.n_neurons),
        "single_trial_corr": metrics.single_trial_correlation(pred, resp),
        "corr_to_avg": metrics.correlation_to_average(pred, resp, ids),
        "oracle": metrics.oracle_correlation(resp, ids),
        "feve": metrics.feve(pred, resp, ids),
        "fraction_of_limit": metrics.normalized_correlation(pred, resp, ids),
    })


def summarize(table: pd.DataFrame, tolerance: float = 0.1) -> dict[str, float]:
    """Population means of each measure and the share of neurons within ``tolerance`` of their limit."""
    out = {f"mean_{m}": float(np.nanmean(table[m])) for m in MEASURES}
    out["share_within_limit"] = metrics.share_within_limit(table["fraction_of_limit"].to_numpy(), tolerance)
    out["n_neurons"] = int(len(table))
    return out


def filter_similarity(recovered: np.ndarray, true: np.ndarray) -> pd.DataFrame:
    """How well recovered images (n, H, W) match true filters: pixel |r| and amplitude-spectrum r.

    The pixel correlation's sign is dropped (a preferred image and a filter agree up to sign for a rectified
    cell); the amplitude spectrum ignores position and phase, which suits complex and texture cells.
    """
    recovered, true = np.asarray(recovered, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if recovered.shape != true.shape or recovered.ndim != 3:
        raise ValueError(f"recovered and true must both be (n, H, W); got {recovered.shape} and {true.shape}")
    pixel = np.abs(metrics.correlation(recovered.reshape(len(true), -1).T, true.reshape(len(true), -1).T))
    spec_rec = np.abs(np.fft.rfft2(recovered)).reshape(len(true), -1)
    spec_true = np.abs(np.fft.rfft2(true)).reshape(len(true), -1)
    spectrum = metrics.correlation(spec_rec.T, spec_true.T)
    return pd.DataFrame({"pixel_abs_r": pixel, "spectrum_r": spectrum})


def fit_each_cell(kind: str, data: StimulusResponseData, *, epochs: int, device: str = "auto", seed: int = 0,
                  batch_size: int = 128, lr: float = 5e-3, patience: int = 3, **model_kwargs) -> list:
    """Fit one retina model (``retina_cnn`` or ``retina_ln``) per cell, as Yan et al. do: a list of TrainResult.

    ``data`` holds a stimulus history as channels (see :meth:`neurobook.data.retina.RetinaRecording.to_data`).
    """
    from neurobook.config import seed_everything
    from neurobook.models.retina import build_retina_model
    from neurobook.train import fit

    if data.n_channels < 2:
        raise ValueError("data must hold a stimulus history (n, history, H, W); use RetinaRecording.to_data")
    results = []
    for cell in range(data.n_neurons):
        seed_everything(seed)
        model = build_retina_model(kind, data.n_channels, data.image_shape, 1, **model_kwargs)
        results.append(fit(model, data.select_neurons([cell]), epochs=epochs, batch_size=batch_size, lr=lr,
                           device=device, seed=seed, patience=patience))
    return results


def psth_table(predictions: dict[str, np.ndarray], psth: np.ndarray, reliability: np.ndarray) -> pd.DataFrame:
    """Per cell and model: correlation with the repeat-averaged PSTH, the ceiling and the fraction of it reached.

    ``predictions``: {model name: (T, n_cells)}; ``psth``: (T, n_cells); ``reliability``: (n_cells,) Spearman-Brown
    corrected split-half reliability, whose square root is the ceiling on the correlation with the PSTH.
    """
    ceiling = np.sqrt(np.clip(np.asarray(reliability, float), 0, None))
    rows = []
    for name, pred in predictions.items():
        corr = metrics.correlation(pred, psth)
        for c in range(psth.shape[1]):
            rows.append({"model": name, "cell": c, "corr": float(corr[c]), "ceiling": float(ceiling[c]),
                         "fraction_of_ceiling": float(corr[c] / ceiling[c]) if ceiling[c] > 0 else np.nan})
    return pd.DataFrame(rows)


TRANSFER_MODES = ("readout", "all", "scratch")


def transfer_fit(source: torch.nn.Module | None, data: StimulusResponseData, mode: str, *, epochs: int,
                 device: str = "auto", seed: int = 0, batch_size: int = 128, **model_kwargs):
    """Fit a retina CNN to one cell's ``data`` starting from another cell's trained CNN ``source``.

    ``mode``: ``readout`` retrains only the dense readout (the convolutional layers stay frozen), ``all`` fine-tunes
    every layer from the source's weights, ``scratch`` ignores ``source`` and trains a new network. Returns the
    TrainResult.
    """
    import copy

    from neurobook.config import seed_everything
    from neurobook.models.retina import RetinaCNN, build_retina_model
    from neurobook.train import fit

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
        for layer in (model.conv1, model.conv2):
            for p in layer.parameters():
                p.requires_grad_(mode == "all")
    return fit(model, data, epochs=epochs, batch_size=batch_size, device=device, seed=seed, patience=3)


def preferred_image_measures(model: torch.nn.Module, neurons: np.ndarray, images: np.ndarray,
                             best_natural: np.ndarray, discriminator=None, device: str = "auto") -> pd.DataFrame:
    """Response, response relative to the best natural image, spectral slope and discriminator score per image.

    ``images`` (n, C, H, W) in the model's pixel units (0..255), image i meant for neuron ``neurons[i]``;
    ``best_natural`` (n,) each neuron's largest predicted response over the data set's natural images;
    ``discriminator`` a callable images -> probability of 'natural' (e.g. a bound
    :func:`neurobook.generative.discriminator_score`), or None.
    """
    images = np.clip(np.asarray(images, np.float32), 0, 255)
    neurons = np.asarray(neurons)
    if len(images) != len(neurons) or len(best_natural) != len(neurons):
        raise ValueError(f"need one image and one best natural response per neuron; got {len(images)} images, "
                         f"{len(neurons)} neurons, {len(best_natural)} best responses")
    response = predict(model, images, device=device)[np.arange(len(neurons)), neurons]
    table = pd.DataFrame({"neuron": neurons, "response": response,
                          "relative_to_best_natural": response / np.asarray(best_natural),
                          "spectral_slope": metrics.power_spectrum_slope(images)})
    if discriminator is not None:
        table["discriminator"] = discriminator(images)
    return table


def restart_diversity(images: np.ndarray) -> np.ndarray:
    """Per neuron, 1 - mean pairwise pixel correlation among its restarts; ``images`` (n, restarts, ...)."""
    images = np.asarray(images, np.float64)
    n, r = images.shape[:2]
    if r < 2:
        raise ValueError("restart_diversity needs at least 2 restarts per neuron")
    flat = images.reshape(n, r, -1)
    flat = flat - flat.mean(2, keepdims=True)
    flat /= np.linalg.norm(flat, axis=2, keepdims=True).clip(1e-12)
    corr = np.einsum("nip,njp->nij", flat, flat)
    off = ~np.eye(r, dtype=bool)
    return 1 - corr[:, off].mean(1)
