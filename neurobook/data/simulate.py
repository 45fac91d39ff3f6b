"""Simulated V1 populations with known receptive fields, for ground-truth tests of the pipeline.

Cell types (drive ``g`` is the filter's dot product with the standardized image, scaled to unit std):

* ``gabor``: simple cell, rectified linear Gabor ``relu(g)``;
* ``complex``: energy model ``g1^2 + g2^2`` of a quadrature Gabor pair;
* ``dog``: centre-surround (ON or OFF) difference of Gaussians, ``relu(g)``;
* ``texture``: band-pass energy pooled over the whole image (quadrature pair convolved everywhere).

Rates are scaled so that each neuron's mean over trials is ``mean_rate``, then every trial draws
Poisson counts, so repeats of an image differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurobook.data.types import StimulusResponseData
from neurobook.rf_fit import dog, gabor

CELL_TYPES = ("gabor", "complex", "dog", "texture")

__all__ = ["CELL_TYPES", "pink_noise_images", "simulate_v1_population"]


def pink_noise_images(
    n: int, shape: Sequence[int] = (18, 32), seed: int = 0, exponent: float = 1.0
) -> np.ndarray:
    """``n`` images with a 1/f^exponent amplitude spectrum, each zero-mean, unit-std, float32 (n, H, W)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    h, w = (int(s) for s in shape)
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    f[0, 0] = 1.0
    amplitude = 1.0 / f**exponent
    amplitude[0, 0] = 0.0
    noise = np.fft.fft2(rng.standard_normal((n, h, w)))
    images = np.real(np.fft.ifft2(noise * amplitude))
    images -= images.mean(axis=(1, 2), keepdims=True)
    images /= images.std(axis=(1, 2), keepdims=True)
    return images.astype(np.float32)


def _unit(f: np.ndarray) -> np.ndarray:
    f = f - f.mean()
    return f / np.linalg.norm(f)


def _gabor_pair(shape, rng) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    sigma = rng.uniform(0.08, 0.14) * h
    freq = rng.uniform(0.2, 0.35) / sigma
    aspect = rng.uniform(1.0, 1.5)
    theta = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    x0, y0 = rng.uniform(0.3, 0.7) * (w - 1), rng.uniform(0.3, 0.7) * (h - 1)
    args = (x0, y0, sigma, aspect * sigma, theta, freq)
    return _unit(gabor(shape, *args, phase)), _unit(gabor(shape, *args, phase + np.pi / 2))


def _dog_filter(shape, rng) -> np.ndarray:
    h, w = shape
    sigma_c = max(1.0, rng.uniform(0.06, 0.09) * h)
    ratio = rng.uniform(2.0, 3.0)
    volume = rng.uniform(0.6, 0.9)  # surround volume / centre volume
    sign = rng.choice([-1.0, 1.0])
    x0, y0 = rng.uniform(0.3, 0.7) * (w - 1), rng.uniform(0.3, 0.7) * (h - 1)
    f = dog(shape, x0, y0, sigma_c, ratio * sigma_c, 1.0, volume / ratio**2)
    return sign * _unit(f)


def _texture_pair(shape, rng) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    freq = rng.uniform(0.15, 0.3)
    sigma = 0.5 / freq
    theta = rng.uniform(0, np.pi)
    args = ((w - 1) / 2, (h - 1) / 2, sigma, sigma, theta, freq)
    return _unit(gabor(shape, *args, 0.0)), _unit(gabor(shape, *args, np.pi / 2))


def _circular_energy(images: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Mean over the image of the squared responses of two kernels applied at every position."""
    fi = np.fft.fft2(images)
    out = np.zeros(len(images))
    for k in (k1, k2):
        kk = np.fft.fft2(np.fft.ifftshift(k))
        out += (np.real(np.fft.ifft2(fi * np.conj(kk))) ** 2).mean(axis=(1, 2))
    return out


def simulate_v1_population(
    images: np.ndarray,
    tiers: np.ndarray,
    image_ids: np.ndarray,
    *,
    n_per_type: int | dict[str, int] = 8,
    types: Sequence[str] = CELL_TYPES,
    mean_rate: float = 2.0,
    baseline: float = 0.1,
    seed: int = 0,
) -> StimulusResponseData:
    """Poisson responses of a population of model V1 cells to ``images`` (n_trials, H, W).

    Args:
        images, tiers, image_ids: per trial, as in :class:`StimulusResponseData` (repeats share ids).
        n_per_type: neurons per type (int) or a dict ``{type: count}``.
        types: which of ``CELL_TYPES`` to include.
        mean_rate: mean expected count per trial of every neuron.
        baseline: spontaneous rate as a fraction of the mean driven rate.
        seed: random seed for the filters and the Poisson noise.

    Returns:
        ``StimulusResponseData`` named ``simulated`` with ``meta["true_filters"]`` (n_neurons, H, W)
        (complex: first filter of the pair; texture: the band-pass kernel), ``meta["cell_types"]`` and
        ``meta["true_rates"]`` (n_trials, n_neurons) noise-free expected counts.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be (n_trials, H, W); got shape {images.shape}")
    if isinstance(types, str):
        raise TypeError(f"types must be a sequence of names from {CELL_TYPES}, e.g. ('gabor',), not a string")
    unknown = [t for t in types if t not in CELL_TYPES]
    if unknown or not types:
        raise ValueError(f"types must be a non-empty subset of {CELL_TYPES}; unknown: {unknown}")
    counts = n_per_type if isinstance(n_per_type, dict) else {t: n_per_type for t in types}
    for t in types:
        if not isinstance(counts.get(t, 0), int) or counts.get(t, 0) < 0:
            raise ValueError(
                f"n_per_type must be a non-negative int (or dict of ints); got {counts.get(t)!r} for {t}"
            )
    if not mean_rate > 0:
        raise ValueError(f"mean_rate must be > 0, got {mean_rate}")
    rng = np.random.default_rng(seed)
    shape = images.shape[1:]
    x = (images - images.mean()) / images.std()
    flat = x.reshape(len(x), -1)
    filters, cell_types, rates = [], [], []
    for t in types:
        for _ in range(counts.get(t, 0)):
            if t == "gabor":
                f, _ = _gabor_pair(shape, rng)
                g = flat @ f.ravel()
                drive = np.maximum(g / g.std(), 0)
            elif t == "complex":
                f, f2 = _gabor_pair(shape, rng)
                g1, g2 = flat @ f.ravel(), flat @ f2.ravel()
                s = np.sqrt(0.5 * (g1.var() + g2.var()))
                drive = (g1 / s) ** 2 + (g2 / s) ** 2
            elif t == "dog":
                f = _dog_filter(shape, rng)
                g = flat @ f.ravel()
                drive = np.maximum(g / g.std(), 0)
            else:
                f, f2 = _texture_pair(shape, rng)
                energy = _circular_energy(x, f, f2)
                drive = np.maximum(energy / energy.mean() - 0.5, 0)  # threshold at half the mean energy
            drive = drive + baseline * drive.mean()
            rates.append(mean_rate * drive / drive.mean())
            filters.append(f)
            cell_types.append(t)
    if not filters:
        raise ValueError("the population is empty: n_per_type must be > 0 for at least one type")
    true_rates = np.stack(rates, axis=1)
    responses = rng.poisson(true_rates).astype(np.float32)
    return StimulusResponseData(
        images=images.astype(np.float32), responses=responses, tiers=tiers, image_ids=image_ids,
        neuron_ids=np.arange(len(filters)), name="simulated",
        meta={"true_filters": np.stack(filters).astype(np.float32), "cell_types": np.array(cell_types),
              "true_rates": true_rates.astype(np.float32)},
    )
