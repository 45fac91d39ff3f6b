"""One gradient-ascent loop for preferred images; a parametrization decides what is optimized.

In the spirit of lucent's ``render_vis`` and ``param``: :func:`gradient_ascent` runs the loop (render the image,
transform it, forward, step, project) for many neurons at once, and the parametrization says what the variable is,
how it becomes an image, how a step moves it and where it must stay:

* :class:`PixelImages`: the pixels, in the model's standardized contrast units, kept at a fixed L2 norm; steps of a
  fixed RMS size along the (optionally blurred) gradient.
* :class:`LatentCodes`: the latent code of a generative image prior, moved by Adam and kept inside the ball where
  the prior was trained.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Protocol

import numpy as np
import torch
from torch import nn

from neurobook.inversion._common import (
    check_neurons,
    device_of,
    frozen,
    image_shape,
    positive_int,
    selected_responses,
)
from neurobook.inversion.closed_loop import to_data_units
from neurobook.inversion.result import PreferredImages
from neurobook.inversion.transforms import Transform, gaussian_blur

__all__ = ["LatentCodes", "NormalizedSteps", "Parametrization", "PixelImages", "clamp_latent_norm",
           "gradient_ascent", "project_norm"]


def project_norm(x: torch.Tensor, norm: float) -> torch.Tensor:
    """Rescale every image in (B, ...) to L2 norm ``norm``."""
    flat = x.flatten(1)
    scale = norm / flat.norm(dim=1).clamp_min(1e-12)
    return (flat * scale[:, None]).view_as(x)


def clamp_latent_norm(z: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Shrink rows of ``z`` whose norm exceeds ``max_norm * sqrt(z_dim)``."""
    limit = max_norm * z.shape[-1] ** 0.5
    norm = z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return z * torch.clamp(limit / norm, max=1.0)


class NormalizedSteps(torch.optim.Optimizer):
    """Gradient descent with a step of RMS size ``lr`` per sample (first axis), whatever the gradient's scale."""

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                rms = p.grad.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12)
                p.sub_(group["lr"] * p.grad / rms.view(-1, *([1] * (p.dim() - 1))))


class Parametrization(Protocol):
    """What :func:`gradient_ascent` optimizes."""

    standardized: bool  # render() gives images in the model's standardized contrast units (else data units)
    method: str  # the result's name for the search

    def prepare(self, device: torch.device) -> list[nn.Module]:
        """Move what renders images to ``device``; return the modules to freeze during the ascent."""

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` random starting points (CPU)."""

    def project(self, p: torch.Tensor) -> torch.Tensor:
        """``p`` moved back into its allowed set."""

    def render(self, p: torch.Tensor) -> torch.Tensor:
        """The images (B, C, H, W) the model is shown (differentiable)."""

    def optimizer(self, p: torch.Tensor, lr: float) -> torch.optim.Optimizer: ...

    def condition(self, p: torch.Tensor, regularize: bool) -> None:
        """Change ``p.grad`` in place before the step (e.g. blur it)."""

    def output(self, images: torch.Tensor) -> torch.Tensor:
        """Rendered images in the shape the result holds them."""


class PixelImages:
    """Pixels in standardized contrast units (0 = mean luminance), every image at L2 norm ``norm``.

    Steps have RMS size ``lr`` per image along the gradient, blurred by ``blur_sigma`` while regularizing.
    Grayscale images are returned as (n, H, W).
    """

    standardized = True
    method = "pixel ascent"

    def __init__(self, shape: Sequence[int], norm: float | None = None, blur_sigma: float = 0.0) -> None:
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 3:
            raise ValueError(f"shape must be (C, H, W), got {shape!r}")
        self.norm = math.sqrt(math.prod(self.shape)) if norm is None else float(norm)
        if not self.norm > 0:
            raise ValueError(f"norm must be > 0, got {norm}")
        self.blur = gaussian_blur(blur_sigma)

    @classmethod
    def for_model(cls, model: nn.Module, norm: float | None = None, blur_sigma: float = 0.0) -> PixelImages:
        """Images of ``model``'s size and channels (``model.in_channels``, default 1); default norm sqrt(C H W)."""
        return cls((int(getattr(model, "in_channels", 1)), *image_shape(model)), norm, blur_sigma)

    def prepare(self, device: torch.device) -> list[nn.Module]:
        return []

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, *self.shape, generator=generator)

    def project(self, p: torch.Tensor) -> torch.Tensor:
        return project_norm(p, self.norm)

    def render(self, p: torch.Tensor) -> torch.Tensor:
        return p

    def optimizer(self, p: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        return NormalizedSteps([p], lr)

    def condition(self, p: torch.Tensor, regularize: bool) -> None:
        if regularize and p.grad is not None:
            p.grad = self.blur(p.grad)

    def output(self, images: torch.Tensor) -> torch.Tensor:
        return images.squeeze(1) if self.shape[0] == 1 else images


class LatentCodes:
    """Latent codes z of ``prior`` (a :class:`neurobook.generative.ImagePrior`): images ``prior.images(z)`` in
    0..255; Adam on z; z kept within norm ``max_norm * sqrt(z_dim)`` (z ~ N(0, I) has norm about sqrt(z_dim))."""

    standardized = False
    method = "latent ascent"

    def __init__(self, prior, max_norm: float = 1.5) -> None:  # prior: an ImagePrior (duck-typed)
        self.prior, self.max_norm = prior, float(max_norm)

    def prepare(self, device: torch.device) -> list[nn.Module]:
        self.prior.eval().to(device)
        return [self.prior.generator]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.prior.z_dim, generator=generator)

    def project(self, p: torch.Tensor) -> torch.Tensor:
        return clamp_latent_norm(p, self.max_norm)

    def render(self, p: torch.Tensor) -> torch.Tensor:
        return self.prior.images(p)

    def optimizer(self, p: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam([p], lr=lr)

    def condition(self, p: torch.Tensor, regularize: bool) -> None:
        pass

    def output(self, images: torch.Tensor) -> torch.Tensor:
        return images


def _check(steps: int, lr: float, anneal: float, batch_size: int | None) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if batch_size is not None:
        positive_int("batch_size", batch_size)
    if not 0 <= anneal <= 1:
        raise ValueError(f"anneal must be in [0, 1], got {anneal}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")


def gradient_ascent(
    model: nn.Module,
    neurons: Sequence[int],
    param: Parametrization,
    *,
    steps: int = 200,
    lr: float = 0.1,
    restarts: int = 1,
    transform: Transform | None = None,
    anneal: float = 1.0,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    seed: int | torch.Generator = 0,
) -> PreferredImages:
    """Maximize each neuron's response over ``param``, all neurons (x ``restarts``) batched together.

    Each step: render the images, apply ``transform`` (during the first ``anneal`` share of the steps, when
    ``param.condition`` also regularizes the gradient), forward, take image i's own neuron, step the optimizer on
    minus the summed response, project. A last forward pass scores the final images. ``batch_size`` neurons (each
    with its restarts) per batch; None: all at once. ``seed`` may be a generator shared with ``transform``.

    Returns a :class:`PreferredImages` with the best restart per neuron; ``restart_*`` fields when ``restarts`` > 1.
    """
    idx = check_neurons(model, neurons)
    _check(steps, lr, anneal, batch_size)
    restarts = positive_int("restarts", restarts)
    dev = device_of(device)
    model.to(dev)
    extra_frozen = param.prepare(dev)
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    per = len(idx) if batch_size is None else batch_size
    start = time.perf_counter()
    images, codes, traces = [], [], []
    with ExitStack() as stack:
        for module in (model, *extra_frozen):
            stack.enter_context(frozen(module))
        for first in range(0, len(idx), per):
            cols = torch.as_tensor(np.repeat(idx[first : first + per], restarts), device=dev)
            p = param.project(param.sample(len(cols), gen).to(dev)).requires_grad_(True)
            opt = param.optimizer(p, lr)
            trace = []
            for step in range(steps):
                regularize = step < anneal * steps
                image = param.render(p)
                shown = transform(image) if regularize and transform is not None else image
                response = selected_responses(model, shown, cols, param.standardized)
                opt.zero_grad(set_to_none=True)
                (-response.sum()).backward()
                param.condition(p, regularize)
                opt.step()
                with torch.no_grad():
                    p.copy_(param.project(p))
                trace.append(response.detach())
            with torch.no_grad():
                image = param.render(p)
                trace.append(selected_responses(model, image, cols, param.standardized))
            images.append(param.output(image.detach()).cpu())
            codes.append(p.detach().cpu())
            traces.append(torch.stack(trace).cpu())
    return _result(model, idx, param, restarts, torch.cat(images).numpy().astype(np.float32),
                   torch.cat(codes).numpy(), torch.cat(traces, dim=1).numpy().astype(np.float64),
                   time.perf_counter() - start)


def _result(model: nn.Module, idx: np.ndarray, param: Parametrization, restarts: int, images: np.ndarray,
            codes: np.ndarray, trace: np.ndarray, seconds: float) -> PreferredImages:
    """Per-neuron best restart of the batched ascent's outputs (rows neuron-major: neuron, then restart)."""
    n = len(idx)
    shape = (n, restarts)
    standardized = images.reshape(*shape, *images.shape[1:]) if param.standardized else None
    data = to_data_units(model, images) if param.standardized else images
    data = data.reshape(*shape, *data.shape[1:])
    trace = trace.reshape(len(trace), *shape)
    responses = trace[-1]
    best = responses.argmax(1)
    rows = np.arange(n)
    latent = not param.standardized
    codes = codes.reshape(*shape, *codes.shape[1:])
    several = restarts > 1
    return PreferredImages(
        method=param.method, neurons=idx, images=data[rows, best], responses=responses[rows, best],
        curve=trace[:, rows, best], evaluations=restarts * np.arange(1, len(trace) + 1), seconds=seconds,
        standardized=standardized[rows, best] if standardized is not None else None,
        z=codes[rows, best] if latent else None,
        restart_images=data if several else None, restart_responses=responses if several else None,
        restart_z=codes if latent and several else None,
    )
