"""Preferred images through a generative prior: gradient ascent in the generator's latent space.

The image is ``prior.images(z)`` (0..255, the stimulus units) and only ``z`` is optimized, so every step stays on
the generator's manifold of natural-looking images (Nguyen et al. 2016/2017; Malakhova 2019). Latents are kept inside
a ball of radius ``max_norm * sqrt(z_dim)`` where the prior was trained (z ~ N(0, I) has norm about sqrt(z_dim)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurobook.checks import check_positive_int
from neurobook.inversion.ascent import LatentCodes, clamp_latent_norm, gradient_ascent
from neurobook.inversion.result import PreferredImages

__all__ = ["clamp_latent_norm", "latent_ascent"]


def latent_ascent(
    model: nn.Module,
    neurons: Sequence[int],
    prior,
    *,
    steps: int = 200,
    lr: float = 0.05,
    restarts: int = 1,
    max_norm: float = 1.5,
    device: str | torch.device = "auto",
    seed: int = 0,
    batch_size: int | None = None,
) -> PreferredImages:
    """Gradient ascent (Adam) on latent codes, all neurons (x ``restarts``) in one batch (or ``batch_size`` neurons).

    ``model`` maps images (B, 3, H, W) in 0..255 to responses (B, n_neurons); ``prior`` is a
    :class:`neurobook.generative.ImagePrior` of the same image size.

    Returns:
        a :class:`PreferredImages` of the best restart per neuron: ``images`` (n, 3, H, W) in 0..255, ``z``
        (n, z_dim), ``responses``, ``curve`` (steps + 1, n); with restarts > 1 also ``restart_images``
        (n, restarts, 3, H, W), ``restart_responses`` and ``restart_z``.
    """
    check_positive_int("steps", steps)
    check_positive_int("restarts", restarts)
    return gradient_ascent(model, neurons, LatentCodes(prior, max_norm), steps=steps, lr=lr, restarts=restarts,
                           batch_size=batch_size, device=device, seed=seed)
