"""Measures of preferred images: the response they drive, against the best natural image, and their diversity."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import torch

from neurobook import metrics
from neurobook.inversion.result import PreferredImages
from neurobook.train import predict

__all__ = ["compare_preferred_images", "preferred_image_measures", "restart_diversity", "search_summary"]


def preferred_image_measures(model: torch.nn.Module, neurons: np.ndarray, images: np.ndarray,
                             best_natural: np.ndarray, discriminator: Callable[[np.ndarray], np.ndarray] | None = None,
                             device: str | torch.device = "auto") -> pd.DataFrame:
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


def compare_preferred_images(model: torch.nn.Module, results: Mapping[str, PreferredImages], best_natural: np.ndarray,
                             discriminator: Callable[[np.ndarray], np.ndarray] | None = None,
                             device: str | torch.device = "auto") -> pd.DataFrame:
    """:func:`preferred_image_measures` of every search's images, one row per search and neuron (column ``method``,
    the key in ``results``); every search must have run on the same neurons, in the same order."""
    tables = []
    for name, result in results.items():
        if not isinstance(result, PreferredImages):
            raise TypeError(f"results[{name!r}] must be a PreferredImages, got {type(result).__name__}")
        table = preferred_image_measures(model, result.neurons, result.images, best_natural, discriminator, device)
        tables.append(table.assign(method=name))
    if len({tuple(t["neuron"]) for t in tables}) > 1:
        raise ValueError("every search must have run on the same neurons in the same order")
    return pd.concat(tables, ignore_index=True)


def search_summary(results: Mapping[str, PreferredImages],
                   restarts: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Per search: seconds, images shown per neuron, restarts and the median :func:`restart_diversity`.

    Diversity comes from a search's own ``restart_images`` or, for searches named in ``restarts``, from the stack of
    images (n, restarts, ...) given there (e.g. independent reruns of an evolution).
    """
    stacks = {name: r.restart_images for name, r in results.items() if r.restart_images is not None}
    stacks |= dict(restarts or {})
    rows = {name: {"seconds": r.seconds, "evaluations_per_neuron": r.n_evaluations, "restarts": r.restarts,
                   "diversity": float(np.median(restart_diversity(stacks[name]))) if name in stacks else np.nan}
            for name, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index")
