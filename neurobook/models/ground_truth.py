"""The true cells of a simulated V1 population as a differentiable model, for ground-truth checks of inversion.

:class:`TrueCellsModel` computes exactly the expected counts of
:class:`neurobook.data.simulate.V1CellBank` in torch, so every tool that works on a fitted model (predictions,
most exciting inputs, closed-loop scores) also runs on the cells themselves: an MEI of the true cell is the
best a perfect model could give, and the reference against which preferred-image labels are validated.
"""

from __future__ import annotations

import numpy as np
import torch

from neurobook.data.simulate import CELL_TYPES, V1CellBank
from neurobook.models.encoder import ImageModel

__all__ = ["TrueCellsModel"]


class TrueCellsModel(ImageModel):
    """Expected counts of the simulated cells (``bank``) for images; no trainable parameters."""

    def __init__(self, bank: V1CellBank) -> None:
        super().__init__()
        if not isinstance(bank, V1CellBank):
            raise TypeError(f"bank must be a V1CellBank (simulated data's meta['cells']), got {type(bank).__name__}")
        self.image_shape = bank.image_shape
        self.n_neurons = bank.n_cells
        self.nonlinearity = "elu1"
        self.set_input_stats(bank.pixel_mean, bank.pixel_std)
        self.kinds = [str(t) for t in bank.cell_types]
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.register_buffer("filters", as_t(bank.filters))
        self.register_buffer("quadrature", as_t(bank.quadrature))
        self.register_buffer("drive_scale", as_t(bank.drive_scale))
        self.register_buffer("drive_offset", as_t(bank.drive_offset))
        self.register_buffer("rate_scale", as_t(bank.rate_scale))
        kernels = torch.stack([as_t(np.fft.ifftshift(bank.filters, axes=(1, 2))),
                               as_t(np.fft.ifftshift(bank.quadrature, axes=(1, 2)))])
        self.register_buffer("kernel_fft", torch.fft.fft2(kernels))  # (2, N, H, W) for circular convolution
        for kind in CELL_TYPES:
            self.register_buffer(f"cells_{kind}", torch.as_tensor(np.flatnonzero(bank.cell_types == kind)))

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        """Standardized images (B, H, W) or (B, 1, H, W) -> expected counts (B, n_cells)."""
        if x.dim() == 4:
            x = x[:, 0]
        flat = x.flatten(1)
        drive = torch.zeros(x.shape[0], self.n_neurons, dtype=x.dtype, device=x.device)
        for kind in CELL_TYPES:
            cells = getattr(self, f"cells_{kind}")
            if not len(cells):
                continue
            g1 = flat @ self.filters[cells].flatten(1).t()
            scale = self.drive_scale[cells]
            if kind in ("gabor", "dog"):
                value = torch.relu(g1 / scale)
            elif kind == "complex":
                g2 = flat @ self.quadrature[cells].flatten(1).t()
                value = (g1**2 + g2**2) / scale**2
            else:
                xf = torch.fft.fft2(x)[:, None]  # (B, 1, H, W)
                conv = torch.fft.ifft2(xf * self.kernel_fft[:, cells].conj().unsqueeze(1)).real  # (2, B, n, H, W)
                energy = conv.pow(2).sum(0).mean((-2, -1))
                value = torch.relu(energy / scale - 0.5)
            drive = drive.index_copy(1, cells, value)
        return (drive + self.drive_offset) * self.rate_scale

    def regularizer(self) -> torch.Tensor:
        return torch.zeros((), device=self.filters.device)

    def output_bias(self) -> torch.nn.Parameter:
        raise TypeError("the true cells have no bias to initialize")
