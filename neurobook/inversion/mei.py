"""Most exciting inputs (MEIs) by batched gradient ascent under a fixed-contrast constraint."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from neurobook.config import resolve_device
from neurobook.inversion._common import check_neurons, forward_contrast, frozen, image_shape
from neurobook.inversion.transforms import gaussian_blur
from neurobook.inversion.transforms import jitter as jitter_transform

__all__ = ["most_exciting_inputs", "project_norm"]


def project_norm(x: torch.Tensor, norm: float) -> torch.Tensor:
    """Rescale every image in (B, ...) to L2 norm ``norm``."""
    flat = x.flatten(1)
    scale = norm / flat.norm(dim=1).clamp_min(1e-12)
    return (flat * scale[:, None]).view_as(x)


def most_exciting_inputs(
    model: nn.Module,
    neurons: Sequence[int],
    *,
    steps: int = 200,
    lr: float = 0.1,
    norm: float | None = None,
    jitter: int = 2,
    blur_sigma: float = 1.0,
    device: str = "auto",
    seed: int = 0,
    batch_size: int = 512,
    anneal: float = 0.5,
) -> np.ndarray:
    """One preferred image per neuron, all neurons optimized together in batches.

    Images live in standardized contrast units (0 = mean luminance). Each step: random jitter of the
    batch, forward, take image i's own neuron ``neurons[i]``, gradient of the sum w.r.t. the images,
    blur the gradient (``blur_sigma``), take a step of RMS size ``lr`` per image, and rescale every image
    to L2 norm ``norm`` (default ``sqrt(H * W)``, i.e. RMS contrast 1 like a standardized image).
    Jitter and blur act only during the first ``anneal`` share of the steps (they keep the early
    image robust and smooth); the remaining steps are plain ascent, so fine structure is not smeared.

    Colour models (``model.in_channels`` = C > 1) get colour images, default norm ``sqrt(C * H * W)``.

    Returns:
        (len(neurons), H, W) float32 array, or (len(neurons), C, H, W) for colour models.
    """
    idx = check_neurons(model, neurons)
    h, w = image_shape(model)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    c = int(getattr(model, "in_channels", 1))
    norm = math.sqrt(c * h * w) if norm is None else float(norm)
    if not 0 <= anneal <= 1:
        raise ValueError(f"anneal must be in [0, 1], got {anneal}")
    if not norm > 0 or not lr > 0:
        raise ValueError(f"norm and lr must be > 0, got norm={norm}, lr={lr}")
    dev = resolve_device(device)
    model.to(dev)
    gen = torch.Generator().manual_seed(seed)
    shift = jitter_transform(jitter, gen)
    blur = gaussian_blur(blur_sigma)
    out = []
    with frozen(model):
        for start in range(0, len(idx), batch_size):
            chunk = torch.as_tensor(idx[start : start + batch_size], device=dev)
            x = torch.randn(len(chunk), c, h, w, generator=gen).to(dev)
            x = project_norm(x, norm)
            rows = torch.arange(len(chunk), device=dev)
            for step in range(steps):
                regularize = step < anneal * steps
                x.requires_grad_(True)
                response = forward_contrast(model, shift(x) if regularize else x)[rows, chunk]
                (grad,) = torch.autograd.grad(response.sum(), x)
                with torch.no_grad():
                    grad = blur(grad) if regularize else grad
                    rms = grad.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12)
                    x = project_norm(x + lr * grad / rms.view(-1, 1, 1, 1), norm)
            out.append((x.detach().squeeze(1) if c == 1 else x.detach()).cpu())
    return torch.cat(out).numpy().astype(np.float32)

