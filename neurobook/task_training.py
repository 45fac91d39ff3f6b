"""Self-supervised contrastive training (SimCLR, Chen et al. 2020) of a :class:`~neurobook.models.task.TaskNet` on
natural images: no labels and no download, the image task of the task-trained arm.

Two random views of each image (a crop at a random scale and position, a random flip, a contrast and brightness
change, pixel noise) go through the network; the loss (NT-Xent) asks each view's embedding to be closer to its
partner's than to the other ``2B - 2`` embeddings of the batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int


def standardize_images(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) images of any scale -> (N, 1, H, W) float32 with zero mean and unit s.d. over the whole set."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3 or min(x.shape) < 1:
        raise ValueError(f"images must be (n_images, height, width), got shape {x.shape}")
    sd = float(x.std())
    if not sd > 0:
        raise ValueError("images are constant: there is nothing to learn from them")
    return torch.from_numpy((x - x.mean()) / sd).unsqueeze(1)


def random_views(images: torch.Tensor, size: int, generator: torch.Generator,
                 min_scale: float = 0.5) -> torch.Tensor:
    """One augmented ``size`` x ``size`` view of each image (B, 1, H, W): crop, flip, contrast, brightness, noise.

    The crop side is drawn between ``min_scale`` and 1 of the image's shorter side, anywhere inside the image.
    """
    b, _, h, w = images.shape
    dev = images.device
    u = lambda *shape: torch.rand(*shape, generator=generator).to(dev)  # noqa: E731
    side = min(h, w) * (min_scale + (1 - min_scale) * u(b))
    sx, sy = side / w, side / h
    tx, ty = (2 * u(b) - 1) * (1 - sx), (2 * u(b) - 1) * (1 - sy)
    flip = torch.where(u(b) < 0.5, -1.0, 1.0).to(dev)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = F.affine_grid(theta, [b, 1, size, size], align_corners=False)
    views = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    gain = (0.6 + 0.9 * u(b)).view(-1, 1, 1, 1)
    offset = (0.6 * u(b) - 0.3).view(-1, 1, 1, 1)
    noise = 0.1 * torch.randn(views.shape, generator=generator).to(dev)
    return gain * views + offset + noise


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's loss for positive pairs ``(z1[i], z2[i])`` against every other embedding of the batch."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


@dataclass
class ContrastiveRun:
    """A trained network, its loss per step and the training time."""

    model: nn.Module
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_contrastive(model: nn.Module, images: torch.Tensor, *, size: int, steps: int = 300, batch_size: int = 128,
                      lr: float = 3e-3, temperature: float = 0.2, seed: int = 0,
                      device: str | torch.device = "cpu") -> ContrastiveRun:
    """Train ``model`` (images -> embeddings) with NT-Xent on views of ``images`` (N, 1, H, W); Adam, cosine decay."""
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    if images.dim() != 4 or images.shape[1] != 1 or min(images.shape[2:]) < size:
        raise ValueError(f"images must be (N, 1, H, W) with H, W >= {size}; got {tuple(images.shape)}")
    gen = torch.Generator().manual_seed(int(seed))
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    source = images.to(device)
    run = ContrastiveRun(model)
    t0 = time.time()
    for _ in range(steps):
        idx = torch.randint(0, len(source), (min(batch_size, len(source)),), generator=gen).to(device)
        batch = source[idx]
        loss = nt_xent(model(random_views(batch, size, gen)), model(random_views(batch, size, gen)), temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run.losses.append(float(loss.detach()))
    run.seconds = time.time() - t0
    model.eval()
    return run


@torch.no_grad()
def pair_retrieval_accuracy(model: nn.Module, images: torch.Tensor, *, size: int, batch_size: int = 128,
                            seed: int = 0, device: str | torch.device = "cpu") -> float:
    """Share of views whose nearest other embedding (cosine) is their own partner's, over batches of held-out images.

    Chance is ``1 / (2 * batch_size - 1)``; the same views (``seed``) for every model compared.
    """
    gen = torch.Generator().manual_seed(int(seed))
    model = model.to(device).eval()
    hits, total = 0, 0
    for s in range(0, len(images) - batch_size + 1, batch_size):
        batch = images[s : s + batch_size].to(device)
        views = [model(random_views(batch, size, gen)) for _ in range(2)]
        z = F.normalize(torch.cat(views), dim=1)
        sim = (z @ z.T).fill_diagonal_(float("-inf"))
        n = len(batch)
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
        hits += int((sim.argmax(1) == partner).sum())
        total += 2 * n
    if total == 0:
        raise ValueError(f"need at least batch_size={batch_size} images to measure retrieval, got {len(images)}")
    return hits / total
