"""Gradient receptive fields: d response / d image at a base image, for many neurons at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from neurobook.inversion._common import check_neurons, device_of, frozen, image_shape, positive_int, selected_responses

__all__ = ["gradient_receptive_fields"]


def gradient_receptive_fields(
    model: nn.Module,
    neurons: Sequence[int],
    base_image: np.ndarray | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 512,
) -> np.ndarray:
    """Gradient of each neuron's response w.r.t. the standardized image, evaluated at ``base_image``.

    ``base_image`` (H, W) is in data units (standardized with the model's stored mean/std); the default
    is the mean-luminance image (zero contrast). One batched backward pass per ``batch_size`` neurons.

    Returns:
        (len(neurons), H, W) float32 array.
    """
    idx = check_neurons(model, neurons)
    h, w = image_shape(model)
    positive_int("batch_size", batch_size)
    dev = device_of(device)
    model.to(dev)
    if base_image is None:
        base = torch.zeros(1, 1, h, w, device=dev)
    else:
        arr = np.asarray(base_image, dtype=np.float32)
        if arr.shape != (h, w):
            raise ValueError(f"base_image must have shape ({h}, {w}); got {arr.shape}")
        base = torch.from_numpy(arr).to(dev).view(1, 1, h, w)
        if hasattr(model, "standardize"):
            base = model.standardize(base)
    out = []
    with frozen(model):
        for start in range(0, len(idx), batch_size):
            chunk = torch.as_tensor(idx[start : start + batch_size], device=dev)
            x = base.expand(len(chunk), 1, h, w).clone().requires_grad_(True)
            response = selected_responses(model, x, chunk, standardized=True)
            (grad,) = torch.autograd.grad(response.sum(), x)
            out.append(grad.squeeze(1).cpu())
    return torch.cat(out).numpy().astype(np.float32)
