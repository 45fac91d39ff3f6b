"""Receptive-field shapes as images: a Gabor and a difference of Gaussians (used by the simulators and the fits)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["dog", "gabor", "pixel_grid"]


def pixel_grid(shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The x (column) and y (row) coordinate of every pixel of an (H, W) image, as float arrays."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return x, y


def gabor(shape: Sequence[int], x0: float, y0: float, sigma_x: float, sigma_y: float, theta: float,
          freq: float, phase: float, amp: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """A 2-D Gabor image of ``shape`` (H, W): an oriented cosine of ``freq`` cycles/pixel under a Gaussian envelope.

    ``theta`` rotates the carrier's axis; ``sigma_x`` is the envelope along it, ``sigma_y`` across it.
    """
    x, y = pixel_grid(shape)
    dx, dy = x - x0, y - y0
    xr = dx * np.cos(theta) + dy * np.sin(theta)
    yr = -dx * np.sin(theta) + dy * np.cos(theta)
    env = np.exp(-0.5 * (xr**2 / sigma_x**2 + yr**2 / sigma_y**2))
    return amp * env * np.cos(2 * np.pi * freq * xr + phase) + offset


def dog(shape: Sequence[int], x0: float, y0: float, sigma_c: float, sigma_s: float,
        amp_c: float, amp_s: float, offset: float = 0.0) -> np.ndarray:
    """A difference-of-Gaussians image of ``shape`` (H, W)."""
    x, y = pixel_grid(shape)
    r2 = (x - x0) ** 2 + (y - y0) ** 2
    return amp_c * np.exp(-0.5 * r2 / sigma_c**2) - amp_s * np.exp(-0.5 * r2 / sigma_s**2) + offset
