"""Evaluate a trained encoding model on held-out repeated trials: one row of measures per neuron."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from neurobook import metrics
from neurobook.data.simulate import EXPECTED_LABEL
from neurobook.data.types import StimulusResponseData
from neurobook.rf_fit import LABELS
from neurobook.train import predict, trial_input_arrays

MEASURES = ("single_trial_corr", "corr_to_avg", "oracle", "feve", "fraction_of_limit")


def test_predictions(model: torch.nn.Module, test: StimulusResponseData, device: str | torch.device = "auto",
                     neurons: np.ndarray | None = None) -> np.ndarray:
    """(trials, neurons) predictions of ``model`` on ``test`` (a model that reads per-trial arrays, e.g. behaviour,
    gets them from ``test.meta``); ``neurons``: the model's output columns that ``test``'s neurons are."""
    inputs = trial_input_arrays(model, test)  # per-trial behaviour etc. for models that read it, else {}
    pred = predict(model, test.images, device=device, trial_inputs=inputs or None)
    if neurons is not None:
        pred = pred[:, np.asarray(neurons)]
    if pred.shape[1] != test.n_neurons:
        raise ValueError(f"the model gives {pred.shape[1]} neurons but the test data has {test.n_neurons}; "
                         "pass neurons= to pick the model's columns")
    return pred


def evaluate(model: torch.nn.Module, test: StimulusResponseData, device: str | torch.device = "auto",
             neurons: np.ndarray | None = None) -> pd.DataFrame:
    """Per-neuron measures on ``test`` (a tier with repeated images); the model never saw these trials.

    Columns: single-trial correlation, correlation to the repeat average, the oracle (leave-one-out repeat
    correlation), FEVE, and the fraction of the predictability limit (CCnorm, Schoppe et al. 2016).
    ``neurons``: the model's output columns that ``test``'s neurons are (when the model predicts more neurons).
    A model that reads per-trial arrays (``model.trial_inputs``, e.g. behaviour) gets them from ``test.meta``.
    """
    if len(np.unique(test.image_ids)) == len(test.image_ids):
        raise ValueError("evaluate needs repeated images (the test tier) to estimate the noise ceiling")
    pred = test_predictions(model, test, device, neurons)
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
    out["n_neurons"] = len(table)
    return out


def filter_similarity(recovered: np.ndarray, true: np.ndarray, quadrature: np.ndarray | None = None) -> pd.DataFrame:
    """How well recovered images (n, H, W) match true filters: pixel |r| and amplitude-spectrum r.

    The pixel correlation's sign is dropped (a preferred image and a filter agree up to sign for a rectified
    cell): the measure for phase-fixed cells. The amplitude spectrum ignores position and phase, which suits
    complex and texture cells; with ``quadrature`` (each cell's second filter of its energy pair, zeros for
    single-filter cells) the reference is the pair's pooled amplitude spectrum ``sqrt(|F1|^2 + |F2|^2)``.
    """
    recovered, true = np.asarray(recovered, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if recovered.shape != true.shape or recovered.ndim != 3:
        raise ValueError(f"recovered and true must both be (n, H, W); got {recovered.shape} and {true.shape}")
    if quadrature is not None and np.shape(quadrature) != true.shape:
        raise ValueError(f"quadrature must have the true filters' shape {true.shape}; got {np.shape(quadrature)}")
    pixel = np.abs(metrics.correlation(recovered.reshape(len(true), -1).T, true.reshape(len(true), -1).T))
    spec_rec = np.abs(np.fft.rfft2(recovered)).reshape(len(true), -1)
    power_true = np.abs(np.fft.rfft2(true)) ** 2
    if quadrature is not None:
        power_true = power_true + np.abs(np.fft.rfft2(np.asarray(quadrature, dtype=np.float64))) ** 2
    spectrum = metrics.correlation(spec_rec.T, np.sqrt(power_true).reshape(len(true), -1).T)
    return pd.DataFrame({"pixel_abs_r": pixel, "spectrum_r": spectrum})


def label_confusion(cell_types: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Counts of preferred-image labels (columns: every label of :mod:`neurobook.rf_fit`) per true cell type."""
    table = pd.crosstab(pd.Series(np.asarray(cell_types), name="true type"),
                        pd.Series(np.asarray(labels), name="label of the preferred image"))
    return table.reindex(columns=list(LABELS), fill_value=0)


def label_accuracy(cell_types: np.ndarray, labels: np.ndarray,
                   expected: dict[str, str] | None = None) -> pd.Series:
    """Share of each true type's cells whose label is the one that type should get (``EXPECTED_LABEL``)."""
    expected = EXPECTED_LABEL if expected is None else expected
    cell_types, labels = np.asarray(cell_types), np.asarray(labels)
    if cell_types.shape != labels.shape:
        raise ValueError(f"cell_types and labels must match one to one; got {cell_types.shape} and {labels.shape}")
    missing = sorted(set(cell_types) - set(expected))
    if missing:
        raise ValueError(f"no expected label for type(s) {missing}; pass expected={{type: label}}")
    right = labels == np.array([expected[t] for t in cell_types])
    return pd.Series(right).groupby(cell_types).mean().rename("share labelled as its type")


def labeller_holdout(*, shape: tuple[int, int] = (36, 64), per_type: int = 25, seed: int = 1001,
                     gabor_cycles: tuple[float, float] = (1.0, 2.0), noise: float = 0.25) -> pd.DataFrame:
    """The preferred-image labeller (:func:`neurobook.rf_fit.characterize`, thresholds frozen) on simulated cells
    it was never tuned on: another seed and image size, Gabors of ``gabor_cycles`` cycles, ``per_type`` cells of
    each type. Each cell's exact optimal stimulus (:meth:`V1CellBank.optimal_stimuli`) plus white noise of
    ``noise`` times its pixel s.d. (an MEI is never exact) is labelled. One row per type: cells, the share labelled
    as its type, and its Wilson 95% interval."""
    from neurobook.data.simulate import pink_noise_images, simulate_v1_population
    from neurobook.decoding.scores import wilson_ci
    from neurobook.rf_fit import characterize

    images = pink_noise_images(64, shape, seed=seed)
    sim = simulate_v1_population(images, np.full(len(images), "train"), np.arange(len(images)),
                                 n_per_type=per_type, seed=seed, gabor_cycles=gabor_cycles)
    best = sim.meta["cells"].optimal_stimuli(1.0)
    rng = np.random.default_rng(seed)
    noisy = best + noise * best.std(axis=(1, 2), keepdims=True) * rng.standard_normal(best.shape)
    labels = characterize(noisy.astype(np.float32))["label"].to_numpy()
    types = sim.meta["cell_types"]
    right = labels == np.array([EXPECTED_LABEL[t] for t in types])
    table = pd.DataFrame({"type": types, "right": right}).groupby("type")["right"].agg(["size", "sum"])
    low, high = wilson_ci(table["sum"].to_numpy(), table["size"].to_numpy())
    return pd.DataFrame({"cells": table["size"], "share labelled as its type": table["sum"] / table["size"],
                         "Wilson 95% low": low, "Wilson 95% high": high}, index=table.index)


def psth_table(predictions: dict[str, np.ndarray], psth: np.ndarray, reliability: np.ndarray,
               repeats: np.ndarray | None = None) -> pd.DataFrame:
    """Per cell and model: correlation with the repeat-averaged PSTH, the ceiling and the fraction of it reached.

    ``predictions``: {model name: (T, n_cells)}; ``psth``: (T, n_cells); ``reliability``: (n_cells,) Spearman-Brown
    corrected split-half reliability, whose square root is the ceiling on the correlation with the PSTH. With
    ``repeats`` (n_repeats, T, n_cells), the single-repeat counts, a ``feve`` column holds the fraction of
    explainable variance explained (:func:`neurobook.metrics.feve`, each bin an "image" shown n_repeats times).
    """
    ceiling = np.sqrt(np.clip(np.asarray(reliability, float), 0, None))
    rows = []
    for name, pred in predictions.items():
        corr = metrics.correlation(pred, psth)
        if repeats is not None:
            n_rep, n_t = repeats.shape[:2]
            fev = metrics.feve(np.tile(pred, (n_rep, 1)), repeats.reshape(n_rep * n_t, -1),
                               np.tile(np.arange(n_t), n_rep))
        for c in range(psth.shape[1]):
            row = {"model": name, "cell": c, "corr": float(corr[c]), "ceiling": float(ceiling[c]),
                   "fraction_of_ceiling": float(corr[c] / ceiling[c]) if ceiling[c] > 0 else np.nan}
            if repeats is not None:
                row["feve"] = float(fev[c])
            rows.append(row)
    return pd.DataFrame(rows)
