"""A Chapter-1 convolutional core with switchable biologically motivated components (Pogoncheff et al. 2023).

Order of operations (each step only when its component is on)::

    image -> magnification -> [image, DoG maps] -> conv block 1 -> tuned normalization
          -> conv blocks 2..L -> + locally connected layer (residual) -> feature maps

Each component has a parameter-matched control (``"<component>_control"``, :mod:`neurobook.models.controls`) that
takes its place with the same parameter count and no biological structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurobook.models.center_surround import DoGConv
from neurobook.models.controls import AffineResampling, PointwiseMix, RandomBasisConv, ScatteredConnected2d
from neurobook.models.cores import ConvCore
from neurobook.models.local import LocallyConnected2d
from neurobook.models.magnification import CorticalMagnification
from neurobook.models.normalization import TunedDivisiveNormalization

COMPONENTS = ("center_surround", "local_rf", "normalization", "magnification")
CONTROLS = {c: f"{c}_control" for c in COMPONENTS}  # component -> its parameter-matched control
OPTIONS = COMPONENTS + tuple(CONTROLS.values())


def parse_components(components: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate components given as a sequence or a comma-separated string (``"all"`` means every one).

    Controls (``"<component>_control"``) are accepted too; a component and its own control exclude each other.
    """
    if components is None:
        return ()
    if isinstance(components, str):
        components = COMPONENTS if components.strip() == "all" else [c for c in components.split(",") if c.strip()]
    out = tuple(dict.fromkeys(str(c).strip() for c in components))
    unknown = [c for c in out if c not in OPTIONS]
    if unknown:
        raise ValueError(f"unknown component(s) {unknown}; choose from {COMPONENTS} (or 'all'), or a control "
                         f"'<component>_control'")
    both = [c for c in COMPONENTS if c in out and CONTROLS[c] in out]
    if both:
        raise ValueError(f"{both} given with their own controls: a control takes the component's place")
    return tuple(c for c in OPTIONS if c in out)  # canonical order


class BioCore(nn.Module):
    """:class:`ConvCore` plus any of the four components; with ``components=()`` it equals a ConvCore.

    Args:
        image_shape: (H, W) of the input (needed by the magnification and the locally connected layer).
        components: any of ``COMPONENTS`` or their ``CONTROLS``.
        dog_channels: DoG maps added to the image as extra input channels (center_surround).
        local_kernel: kernel size of the locally connected layer (local_rf).
        local_depthwise: the locally connected layer filters each channel by itself (C times fewer parameters).
        gamma_local: weight of the neighbour-smoothness penalty on the locally connected kernels.
        control_seed: seed of the fixed random structure of the controls (basis kernels, scattered inputs).
        **core_kwargs: arguments of :class:`ConvCore` (not ``in_channels``).
    """

    def __init__(self, image_shape: Sequence[int], components: Sequence[str] = (), dog_channels: int = 4,
                 local_kernel: int = 3, local_depthwise: bool = True, gamma_local: float = 1.0,
                 control_seed: int = 0, **core_kwargs) -> None:
        super().__init__()
        self.components = parse_components(components)
        self.image_shape = tuple(int(s) for s in image_shape)
        on = set(self.components)
        self.magnification: nn.Module | None = None
        if "magnification" in on:
            self.magnification = CorticalMagnification(self.image_shape)
        elif CONTROLS["magnification"] in on:
            self.magnification = AffineResampling(self.image_shape)
        self.dog: nn.Module | None = None
        if "center_surround" in on:
            self.dog = DoGConv(dog_channels)
        elif CONTROLS["center_surround"] in on:
            self.dog = RandomBasisConv(dog_channels, seed=control_seed)
        in_channels = 1 + (dog_channels if self.dog is not None else 0)
        self.core = ConvCore(in_channels=in_channels, **core_kwargs)
        c = self.core.out_channels
        self.normalization: nn.Module | None = None
        if "normalization" in on:
            self.normalization = TunedDivisiveNormalization(c)
        elif CONTROLS["normalization"] in on:
            self.normalization = PointwiseMix(c)
        self.local: LocallyConnected2d | None = None
        if "local_rf" in on:
            self.local = LocallyConnected2d(c, c, self.image_shape, local_kernel, depthwise=local_depthwise)
        elif CONTROLS["local_rf"] in on:
            if not local_depthwise:
                raise ValueError("the local_rf control is depthwise: use local_depthwise=True")
            self.local = ScatteredConnected2d(c, self.image_shape, local_kernel, seed=control_seed)
        if self.local is not None:
            with torch.no_grad():
                self.local.weight.mul_(0.1)
        self.gamma_local = float(gamma_local)
        self.in_channels = 1

    @property
    def out_channels(self) -> int:
        return self.core.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, C, H, W)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"BioCore expects (B, 1, H, W); got {tuple(getattr(x, 'shape', ()))}")
        if self.magnification is not None:
            x = self.magnification(x)
        if self.dog is not None:
            x = torch.cat([x, self.dog(x)], dim=1)
        for i, block in enumerate(self.core.features):
            x = block(x)
            if i == 0 and self.normalization is not None:
                x = self.normalization(x)
        if self.local is not None:
            x = x + self.local(x)
        return x

    def regularizer(self) -> torch.Tensor:
        reg = self.core.regularizer()
        if self.local is not None and self.gamma_local > 0:
            reg = reg + self.gamma_local * self.local.smoothness()
        return reg


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
