"""Image-computable simulated V1 neurons with known tuning, for validating in-silico electrophysiology.

Each neuron has a Gabor receptive field (orientation ``theta``, spatial frequency ``sf`` in cycles/pixel,
envelope width ``sigma`` pixels, position). Drive is the Gabor's dot product with the contrast image.

* ``simple``: ``relu(g_even)``: half-wave rectified, so its response to a drifting grating is modulated at the
  grating's frequency; modulation ratio F1/F0 = pi/2 for a pure rectified sinusoid.
* ``complex``: ``sqrt(g_even^2 + g_odd^2)``: phase-invariant energy, modulation ratio near 0.

Optional contrast saturation ``r^2 / (r^2 + (c50 D)^2)``, with ``D`` the unit's drive by its full-contrast
preferred grating, puts its semi-saturation contrast near ``c50`` (exactly, for a complex unit without surround).

Optional divisive surround suppression divides the response by ``sqrt(1 + k E_s)``, with ``E_s`` the image energy
pooled over an annulus (a Gaussian ``surround`` times wider than the RF, minus the RF's own 1.5-sigma disc):
large gratings then drive the neuron *less* than gratings that just fill the RF (surround suppression index
> 0); with ``k = 0`` the size tuning saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SimulatedTunedPopulation:
    """A response function ``pop(images (n, H, W)) -> rates (n, n_neurons)`` with its true parameters."""

    truth: pd.DataFrame
    even: np.ndarray  # (N, H, W)
    odd: np.ndarray
    surround: np.ndarray  # (N, H, W) Gaussian pooling weights (sum 1)
    baseline: float = 0.0
    semi_saturation: np.ndarray | None = None  # (N,) drive at half saturation; None: no saturation

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        ge = x @ self.even.reshape(len(self.even), -1).T
        go = x @ self.odd.reshape(len(self.odd), -1).T
        simple = self.truth["kind"].to_numpy() == "simple"
        r = np.where(simple, np.maximum(ge, 0), np.sqrt(ge**2 + go**2))
        e_s = (x**2) @ self.surround.reshape(len(self.surround), -1).T
        r = r / np.sqrt(1 + self.truth["suppression"].to_numpy() * e_s)
        if self.semi_saturation is not None:
            s2 = self.semi_saturation**2
            r = r**2 / (r**2 + s2) * np.sqrt(s2)
        return (r + self.baseline).astype(np.float32)

    @property
    def n_neurons(self) -> int:
        return len(self.truth)


def simulate_tuned_population(shape: tuple[int, int], n: int = 16, seed: int = 0,
                              sf_range: tuple[float, float] = (0.1, 0.25),
                              sigma_cycles: float | tuple[float, float] = 1.0,
                              suppressed_fraction: float = 0.5, suppression: float | tuple[float, float] = 0.3,
                              surround: float = 3.0, centered: bool = True,
                              c50_range: tuple[float, float] | None = None) -> SimulatedTunedPopulation:
    """Half simple, half complex Gabor neurons at random orientations and SFs; a fraction surround-suppressed.

    ``sigma_cycles`` sets the envelope width in cycles of the neuron's own SF (``sigma = sigma_cycles / sf``);
    a pair draws it per neuron, log-uniformly, so that orientation and SF bandwidths vary. ``suppression`` may
    also be a pair (uniform). ``centered`` puts every RF at the image center, else jittered by up to a sixth of
    the image. ``c50_range`` draws a semi-saturation contrast per neuron (log-uniform); None: no saturation.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 (half simple, half complex), got {n}")
    rng = np.random.default_rng(seed)
    h, w = shape
    theta = rng.uniform(0, 180, n)
    sf = np.exp(rng.uniform(np.log(sf_range[0]), np.log(sf_range[1]), n))
    if np.isscalar(sigma_cycles):
        cycles = np.full(n, float(sigma_cycles))
    else:
        cycles = np.exp(rng.uniform(np.log(sigma_cycles[0]), np.log(sigma_cycles[1]), n))
    sigma = cycles / sf
    cy = np.full(n, (h - 1) / 2) + (0 if centered else rng.uniform(-h / 6, h / 6, n))
    cx = np.full(n, (w - 1) / 2) + (0 if centered else rng.uniform(-w / 6, w / 6, n))
    kind = np.where(np.arange(n) % 2 == 0, "simple", "complex")
    strength = suppression if np.isscalar(suppression) else rng.uniform(*suppression, n)
    supp = np.where(rng.random(n) < suppressed_fraction, strength, 0.0)
    drive = np.zeros(n)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    even, odd, sur = (np.zeros((n, h, w)) for _ in range(3))
    for i in range(n):
        dy, dx = y - cy[i], x - cx[i]
        t = np.deg2rad(theta[i])
        env = np.exp(-(dx**2 + dy**2) / (2 * sigma[i] ** 2))
        arg = 2 * np.pi * sf[i] * (dx * np.cos(t) + dy * np.sin(t))
        even[i], odd[i] = env * np.cos(arg), env * np.sin(arg)
        norm = np.sqrt((even[i] ** 2).sum())
        even[i], odd[i] = even[i] / norm, odd[i] / norm
        drive[i] = (even[i] * np.cos(arg)).sum()  # the full-contrast preferred grating at phase 0
        d2 = dx**2 + dy**2
        s = np.exp(-d2 / (2 * (surround * sigma[i]) ** 2)) * (1 - np.exp(-d2 / (2 * (1.5 * sigma[i]) ** 2)))
        sur[i] = s / s.sum() * 50.0  # energy of a unit-contrast full field ~ 25 (mean of cos^2 = 1/2)
    c50 = None if c50_range is None else np.exp(rng.uniform(np.log(c50_range[0]), np.log(c50_range[1]), n))
    truth = pd.DataFrame({"kind": kind, "orientation": theta % 180, "sf": sf, "sigma": sigma,
                          "sigma_cycles": cycles, "center_row": cy, "center_col": cx, "suppression": supp,
                          "c50": np.full(n, np.nan) if c50 is None else c50})
    return SimulatedTunedPopulation(truth, even, odd, sur, semi_saturation=None if c50 is None else c50 * drive)
