"""Model neurons with a known preferred pattern, for ground-truth tests of inversion methods."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class TemplateNeurons(nn.Module):
    """Neuron k responds ``softplus(gain * cos(x, t_k))``, x the image in contrast units (pixels / 127.5 - 1).

    Among images of a given contrast (L2 norm) the response peaks at x proportional to the template ``t_k``, so the
    preferred pattern is known exactly. Takes images (B, C, H, W) in 0..255 like the encoding models.
    """

    def __init__(self, templates: np.ndarray, gain: float = 8.0) -> None:
        super().__init__()
        t = torch.as_tensor(np.asarray(templates, np.float32))
        if t.dim() != 4:
            raise ValueError(f"templates must be (n_neurons, C, H, W); got shape {tuple(t.shape)}")
        self.register_buffer("templates", t / t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1))
        self.gain = float(gain)
        self.n_neurons, self.in_channels = int(t.shape[0]), int(t.shape[1])
        self.image_shape = (int(t.shape[2]), int(t.shape[3]))
        # contrast units are pixels / 127.5 - 1: the standardization an ImageModel declares in these two buffers
        self.register_buffer("input_mean", torch.tensor(127.5))
        self.register_buffer("input_std", torch.tensor(127.5))

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        """Contrast images (B, C, H, W) -> responses (B, n_neurons)."""
        flat = x.flatten(1)
        cos = flat @ self.templates.flatten(1).T / flat.norm(dim=1, keepdim=True).clamp_min(1e-6)
        return F.softplus(self.gain * cos)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_standardized((images - self.input_mean) / self.input_std)
