"""Preferred images through a generative prior: gradient ascent in the generator's latent space.

The image is ``prior.images(z)`` (0..255, the stimulus units) and only ``z`` is optimized, so every step stays on
the generator's manifold of natural-looking images (Nguyen et al. 2016/2017; Malakhova 2019). Latents are kept inside
a ball of radius ``max_norm * sqrt(z_dim)`` where the prior was trained (z ~ N(0, I) has norm about sqrt(z_dim)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from neurobook.config import resolve_device
from neurobook.inversion._common import check_neurons, frozen

__all__ = ["clamp_latent_norm", "latent_ascent"]


def clamp_latent_norm(z: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Shrink rows of ``z`` whose norm exceeds ``max_norm * sqrt(z_dim)``."""
    limit = max_norm * z.shape[-1] ** 0.5
    norm = z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return z * torch.clamp(limit / norm, max=1.0)


def latent_ascent(
    model: nn.Module,
    neurons: Sequence[int],
    prior,
    *,
    steps: int = 200,
    lr: float = 0.05,
    restarts: int = 1,
    max_norm: float = 1.5,
    device: str = "auto",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Gradient ascent on latent codes, all neurons (x ``restarts``) in one batch.

    ``model`` maps images (B, 3, H, W) in 0..255 to responses (B, n_neurons); ``prior`` is a
    :class:`neurobook.generative.ImagePrior` of the same image size. Adam on z.

    Returns:
        ``z`` (n, restarts, z_dim), ``images`` (n, restarts, 3, H, W) in 0..255, ``responses`` (n, restarts) and
        ``trace`` (steps, n, restarts): each image's response to its own neuron along the way.
    """
    idx = check_neurons(model, neurons)
    for name, value in (("steps", steps), ("restarts", restarts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    dev = resolve_device(device)
    model.to(dev)
    prior.eval().to(dev)
    n, zd = len(idx), prior.z_dim
    cols = torch.as_tensor(np.repeat(idx, restarts), device=dev)
    rows = torch.arange(len(cols), device=dev)
    z = torch.randn(len(cols), zd, generator=torch.Generator().manual_seed(seed)).to(dev)
    z = clamp_latent_norm(z, max_norm).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    trace = []
    with frozen(model), frozen(prior.generator):
        for _ in range(steps):
            response = model(prior.images(z))[rows, cols]
            opt.zero_grad(set_to_none=True)
            (-response.sum()).backward()
            opt.step()
            with torch.no_grad():
                z.copy_(clamp_latent_norm(z, max_norm))
            trace.append(response.detach().cpu().numpy())
        with torch.no_grad():
            images = prior.images(z)
            final = model(images)[rows, cols]
    shape = (n, restarts)
    return {
        "z": z.detach().cpu().numpy().reshape(*shape, zd),
        "images": images.cpu().numpy().reshape(*shape, *images.shape[1:]),
        "responses": final.cpu().numpy().reshape(shape),
        "trace": np.stack(trace).reshape(steps, *shape),
    }
