"""Closed-loop validation of preferred images: show them to a neuron that did not make them.

An MEI is a prediction of the model that computed it. Experimental studies test it by showing it to the neuron
and comparing the response with the neuron's response to its best natural image at the same contrast
(Walker et al. 2019; Bashivan et al. 2019). In silico the "neuron" is either the true cell of a simulated
population (:class:`neurobook.models.ground_truth.TrueCellsModel`) or an independently trained model (another
seed, or an ensemble of them).

Contrast is the L2 norm of an image in the standardized units of the models (``(image - input_mean) /
input_std``): a natural or random image is compared with a preferred image only after its deviation from the
mean luminance is rescaled to the same norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from neurobook.inversion._common import check_neurons
from neurobook.train import predict

__all__ = ["closed_loop_scores", "contrast", "match_contrast", "to_data_units", "to_standardized"]


def _stats(model: torch.nn.Module) -> tuple[float, float]:
    if not hasattr(model, "input_mean") or not hasattr(model, "input_std"):
        raise TypeError(f"model must be a neurobook ImageModel (input_mean, input_std), got {type(model).__name__}")
    return float(model.input_mean), float(model.input_std)


def to_data_units(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Images in ``model``'s standardized contrast units (what pixel ascent optimizes) -> data units.

    A model without ``forward_standardized`` sees its input as it is: the images come back unchanged.
    """
    if not hasattr(model, "forward_standardized"):
        return np.asarray(images, dtype=np.float32)
    mean, std = _stats(model)
    return (np.asarray(images, dtype=np.float32) * std + mean).astype(np.float32)


def to_standardized(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_data_units`: images in data units -> ``model``'s standardized contrast units."""
    if not hasattr(model, "forward_standardized"):
        return np.asarray(images, dtype=np.float32)
    mean, std = _stats(model)
    return ((np.asarray(images, dtype=np.float32) - mean) / std).astype(np.float32)


def contrast(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """L2 norm per image (n, H, W) of the deviation from the mean luminance, in ``model``'s standardized units."""
    mean, std = _stats(model)
    z = (np.asarray(images, dtype=np.float64) - mean) / std
    return np.linalg.norm(z.reshape(len(z), -1), axis=1)


def match_contrast(model: torch.nn.Module, images: np.ndarray, norm: float) -> np.ndarray:
    """``images`` (data units) with each one's mean removed and its contrast rescaled to ``norm``."""
    mean, std = _stats(model)
    z = (np.asarray(images, dtype=np.float64) - mean) / std
    z = z - z.mean(axis=tuple(range(1, z.ndim)), keepdims=True)
    size = np.linalg.norm(z.reshape(len(z), -1), axis=1).clip(1e-12)
    z = z * (norm / size).reshape(-1, *([1] * (z.ndim - 1)))
    return (z * std + mean).astype(np.float32)


def closed_loop_scores(
    scorer: torch.nn.Module,
    preferred: np.ndarray,
    neurons: Sequence[int],
    natural: np.ndarray,
    *,
    optimal: np.ndarray | None = None,
    n_random: int = 16,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """How strongly each neuron of ``scorer`` responds to its preferred image, relative to natural images.

    Args:
        scorer: the model (or true cells) that plays the neuron; it did not compute ``preferred``.
        preferred: one image per neuron in data units (n, H, W) (use :func:`to_data_units` on MEIs).
        neurons: the scorer's output column for each preferred image.
        natural: candidate natural images in data units (m, H, W), e.g. the test images; each is shown at the
            preferred image's contrast.
        optimal: optionally the neuron's true optimal image at that contrast (data units), for simulated cells.
        n_random: white-noise images at the same contrast (a control that should not drive the neuron).

    Returns one row per neuron: ``response``, ``best_natural`` (and which image, ``best_natural_index``),
    ``random`` (mean over the noise images), ``ratio_natural`` = response / best_natural, ``ratio_random`` and,
    with ``optimal``, ``response_optimal`` and ``ratio_optimal``.
    """
    idx = check_neurons(scorer, neurons)
    preferred = np.asarray(preferred, dtype=np.float32)
    natural = np.asarray(natural, dtype=np.float32)
    if preferred.shape[0] != len(idx):
        raise ValueError(f"preferred holds {preferred.shape[0]} images for {len(idx)} neurons; give one each")
    if natural.ndim != preferred.ndim or natural.shape[1:] != preferred.shape[1:] or len(natural) == 0:
        raise ValueError(f"natural images must be (m, {', '.join(map(str, preferred.shape[1:]))}) like the "
                         f"preferred images; got {natural.shape}")
    if optimal is not None and np.shape(optimal) != preferred.shape:
        raise ValueError(f"optimal must have the preferred images' shape {preferred.shape}; got {np.shape(optimal)}")
    rows = np.arange(len(idx))
    response = predict(scorer, preferred, device=device)[rows, idx]
    norms = contrast(scorer, preferred)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_random, *preferred.shape[1:])).astype(np.float32)
    mean, std = _stats(scorer)
    noise = noise * std + mean
    best, best_index, rand = np.empty(len(idx)), np.empty(len(idx), dtype=np.int64), np.empty(len(idx))
    groups: dict[float, list[int]] = {}
    for k, norm in enumerate(norms):  # preferred images mostly share one contrast: one pass per distinct norm
        groups.setdefault(round(float(norm), 3), []).append(k)
    for norm, members in groups.items():
        cols = idx[members]
        nat = predict(scorer, match_contrast(scorer, natural, norm), device=device)[:, cols]
        best[members], best_index[members] = nat.max(0), nat.argmax(0)
        rand[members] = predict(scorer, match_contrast(scorer, noise, norm), device=device)[:, cols].mean(0)
    table = pd.DataFrame({"neuron": idx, "response": response, "best_natural": best,
                          "best_natural_index": best_index, "random": rand})
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio_natural"] = response / best
        table["ratio_random"] = rand / best
        if optimal is not None:
            table["response_optimal"] = predict(scorer, np.asarray(optimal, np.float32), device=device)[rows, idx]
            table["ratio_optimal"] = response / table["response_optimal"].to_numpy()
    return table
