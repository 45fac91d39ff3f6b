"""Evaluate a trained encoding model on held-out repeated trials: one row of measures per neuron."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from neurobook import metrics
from neurobook.data.types import StimulusResponseData
from neurobook.train import predict, trial_input_arrays

MEASURES = ("single_trial_corr", "corr_to_avg", "oracle", "feve", "fraction_of_limit")


def evaluate(model: torch.nn.Module, test: StimulusResponseData, device: str = "auto",
             neurons: np.ndarray | None = None) -> pd.DataFrame:
    """Per-neuron measures on ``test`` (a tier with repeated images); the model never saw these trials.

    Columns: single-trial correlation, correlation to the repeat average, the oracle (leave-one-out repeat
    correlation), FEVE, and the fraction of the predictability limit (CCnorm, Schoppe et al. 2016).
    ``neurons``: the model's output columns that ``test``'s neurons are (when the model predicts more neurons).
    A model that reads per-trial arrays (``model.trial_inputs``, e.g. behaviour) gets them from ``test.meta``.
    """
    if len(np.unique(test.image_ids)) == len(test.image_ids):
        raise ValueError("evaluate needs repeated images (the test tier) to estimate the noise ceiling")
    inputs = trial_input_arrays(model, test)  # per-trial behaviour etc. for models that read it, else {}
    pred = predict(model, test.images, device=device, trial_inputs=inputs or None)
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
