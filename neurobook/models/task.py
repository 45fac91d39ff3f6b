"""An image-task network whose first stage is the biologically switchable core: the paper's design at a small size.

Pogoncheff et al. (2023) put each component in the first layer of a ResNet trained on ImageNet and took that layer's
units as model V1. Here the first stage is a :class:`~neurobook.models.bio.BioCore` (two conv blocks with the chosen
components or controls, at stride 1), followed by a strided trunk, global pooling and a projection head for a
self-supervised task (:mod:`neurobook.task_training`). Model V1 units are the first stage's channels at the image
centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurobook.checks import check_positive_int
from neurobook.models.bio import BioCore


class TaskNet(nn.Module):
    """``image -> BioCore (model V1) -> 2 strided conv blocks -> global mean -> MLP projection``.

    Args:
        image_size: side of the square input in pixels.
        components: components or controls of the first stage (see :func:`~neurobook.models.parse_components`).
        channels: channels of the first stage (the number of model V1 units).
        embedding: size of the projection the task compares.
        control_seed: seed of the controls' fixed random structure.
    """

    def __init__(self, image_size: int, components: Sequence[str] = (), channels: int = 16, embedding: int = 32,
                 control_seed: int = 0) -> None:
        super().__init__()
        check_positive_int("image_size", image_size)
        check_positive_int("channels", channels)
        self.image_size = int(image_size)
        self.v1 = BioCore((image_size, image_size), components, hidden_channels=channels, layers=2, input_kernel=7,
                          hidden_kernel=3, gamma_input=0.0, gamma_hidden=0.0, control_seed=control_seed)
        wide = 2 * channels
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, wide, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(wide), nn.ELU(),
            nn.Conv2d(wide, 2 * wide, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * wide), nn.ELU(),
        )
        self.head = nn.Sequential(nn.Linear(2 * wide, 2 * wide), nn.ELU(), nn.Linear(2 * wide, embedding))

    @property
    def components(self) -> tuple[str, ...]:
        return self.v1.components

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, embedding)."""
        return self.head(self.trunk(self.v1(x)).mean(dim=(2, 3)))

    def v1_units(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, channels): the first stage's channels at the central pixel."""
        c = self.image_size // 2
        return self.v1(x)[:, :, c, c]
