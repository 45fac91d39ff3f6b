"""Helpers shared by the inversion methods: argument checks, the device, and a frozen-parameter context."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from neurobook.checks import check_positive_int
from neurobook.config import resolve_device


def check_neurons(model: nn.Module, neurons: Sequence[int]) -> np.ndarray:
    """Validate neuron indices against ``model.n_neurons``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(neurons, (int, np.integer)):
        raise TypeError("neurons must be a sequence of ints, e.g. [3] rather than 3")
    idx = np.asarray(list(neurons))
    if idx.size == 0:
        raise ValueError("neurons must name at least one neuron")
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"neurons must be a sequence of ints, got {list(neurons)[:5]!r}")
    n = getattr(model, "n_neurons", None)
    if n is not None and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"neuron indices must be in [0, {n - 1}]; got min {idx.min()}, max {idx.max()}")
    return idx.astype(np.int64)


def device_of(device: str | torch.device) -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device`` -> the torch device."""
    return resolve_device(device)


def positive_int(name: str, value: object) -> int:
    """A positive int; numpy integers are taken as ints."""
    return check_positive_int(name, int(value) if isinstance(value, np.integer) else value)


def image_shape(model: nn.Module) -> tuple[int, int]:
    shape = getattr(model, "image_shape", None)
    if shape is None:
        raise TypeError("model must have an image_shape attribute (H, W), e.g. a neurobook encoding model")
    return tuple(shape)  # type: ignore[return-value]


def selected_responses(model: nn.Module, x: torch.Tensor, neurons: torch.Tensor, standardized: bool) -> torch.Tensor:
    """(B,) response of neuron ``neurons[b]`` to image b; images in contrast units when ``standardized``. Models that
    can (``forward_selected``) compute only those neurons: a 5000-neuron readout then costs B reads, not 5000 B."""
    name = "forward_standardized_selected" if standardized else "forward_selected"
    if hasattr(model, name):
        return getattr(model, name)(x, neurons)
    out = forward_contrast(model, x) if standardized else model(x)
    return out[torch.arange(len(neurons), device=out.device), neurons]


def forward_contrast(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Model output for images in standardized contrast units (B, 1, H, W)."""
    if hasattr(model, "forward_standardized"):
        return model.forward_standardized(z)
    return model(z)


@contextmanager
def frozen(model: nn.Module):
    """Eval mode and no parameter gradients inside the block; restores both afterwards."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        model.train(was_training)
