"""Measures of preferred images: the response they drive, against the best natural image, and their diversity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from neurobook import metrics
from neurobook.train import predict


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
