"""Most exciting inputs (MEIs): pixel-space gradient ascent under a fixed-contrast constraint."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurobook.inversion.ascent import PixelImages, gradient_ascent, project_norm
from neurobook.inversion.result import PreferredImages
from neurobook.inversion.transforms import jitter as jitter_transform

__all__ = ["most_exciting_inputs", "project_norm"]


def most_exciting_inputs(
    model: nn.Module,
    neurons: Sequence[int],
    *,
    steps: int = 200,
    lr: float = 0.1,
    norm: float | None = None,
    jitter: int = 2,
    blur_sigma: float = 1.0,
    device: str | torch.device = "auto",
    seed: int = 0,
    batch_size: int = 512,
    anneal: float = 0.5,
    restarts: int = 1,
) -> PreferredImages:
    """One preferred image per neuron, all neurons optimized together in batches of ``batch_size`` neurons.

    Images live in standardized contrast units (0 = mean luminance). Each step: random jitter of the
    batch, forward, take image i's own neuron ``neurons[i]``, gradient of the sum w.r.t. the images,
    blur the gradient (``blur_sigma``), take a step of RMS size ``lr`` per image, and rescale every image
    to L2 norm ``norm`` (default ``sqrt(H * W)``, i.e. RMS contrast 1 like a standardized image).
    Jitter and blur act only during the first ``anneal`` share of the steps (they keep the early
    image robust and smooth); the remaining steps are plain ascent, so fine structure is not smeared.

    Colour models (``model.in_channels`` = C > 1) get colour images, default norm ``sqrt(C * H * W)``.

    Returns:
        a :class:`PreferredImages`: ``standardized`` (len(neurons), H, W) float32 in contrast units, or
        (len(neurons), C, H, W) for colour models; ``images`` the same in data units; ``responses``; ``curve``.
    """
    param = PixelImages.for_model(model, norm, blur_sigma)
    gen = torch.Generator().manual_seed(seed)
    return gradient_ascent(model, neurons, param, steps=steps, lr=lr, restarts=restarts,
                           transform=jitter_transform(jitter, gen), anneal=anneal, batch_size=batch_size,
                           device=device, seed=gen)
