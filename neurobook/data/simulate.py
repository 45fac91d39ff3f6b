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
from dataclasses import dataclass

import numpy as np

from neurobook.checks import check_positive_int
from neurobook.data.shapes import dog, gabor
from neurobook.data.types import StimulusResponseData

CELL_TYPES = ("gabor", "complex", "dog", "texture")
EXPECTED_LABEL = {"gabor": "gabor", "complex": "gabor", "dog": "center_surround", "texture": "textural"}
"""The preferred-image label (:mod:`neurobook.rf_fit`) each simulated type should get: Kindel et al.'s three groups
(a complex cell's preferred image is a Gabor of some phase, so it is Gabor-like)."""

__all__ = ["CELL_TYPES", "EXPECTED_LABEL", "V1CellBank", "pink_noise_images", "simulate_v1_population"]


def pink_noise_images(
    n: int, shape: Sequence[int] = (18, 32), seed: int = 0, exponent: float = 1.0
) -> np.ndarray:
    """``n`` images with a 1/f^exponent amplitude spectrum, each zero-mean, unit-std, float32 (n, H, W)."""
    check_positive_int("n", n)
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


def _gabor_pair(shape, rng, cycles: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    sigma = rng.uniform(0.08, 0.14) * h
    # cycles of the carrier across the envelope's +-2 sigma; the default draws 0.8 to 1.4
    freq = rng.uniform(0.2, 0.35) / sigma if cycles is None else rng.uniform(*cycles) / (4 * sigma)
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


@dataclass
class V1CellBank:
    """The noise-free model cells of a simulated population: their filters and the constants that scale them.

    ``rates(images)`` gives every cell's expected count for any images in data units, so a preferred image found
    by a model can be shown to the true cell (closed loop). Images are standardized with the scalar ``pixel_mean``
    and ``pixel_std`` of the images the population was built on; drives are scaled by constants fixed then.
    """

    cell_types: np.ndarray
    filters: np.ndarray
    quadrature: np.ndarray
    drive_scale: np.ndarray
    drive_offset: np.ndarray
    rate_scale: np.ndarray
    pixel_mean: float
    pixel_std: float

    @property
    def n_cells(self) -> int:
        return len(self.cell_types)

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.filters.shape[1], self.filters.shape[2]

    def standardize(self, images: np.ndarray) -> np.ndarray:
        """Data units -> the contrast units the filters see."""
        return (np.asarray(images, dtype=np.float64) - self.pixel_mean) / self.pixel_std

    def drives(self, x: np.ndarray) -> np.ndarray:
        """Unscaled drive (n_images, n_cells) for standardized images (n, H, W) (see the module doc)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != self.image_shape:
            raise ValueError(f"images must be (n, {self.image_shape[0]}, {self.image_shape[1]}); got {x.shape}")
        flat = x.reshape(len(x), -1)
        out = np.zeros((len(x), self.n_cells))
        for kind in CELL_TYPES:
            cells = np.flatnonzero(self.cell_types == kind)
            if not len(cells):
                continue
            f1 = self.filters[cells].reshape(len(cells), -1).T
            if kind in ("gabor", "dog"):
                out[:, cells] = np.maximum(flat @ f1 / self.drive_scale[cells], 0)
            elif kind == "complex":
                f2 = self.quadrature[cells].reshape(len(cells), -1).T
                out[:, cells] = ((flat @ f1) ** 2 + (flat @ f2) ** 2) / self.drive_scale[cells] ** 2
            else:
                for c in cells:
                    energy = _circular_energy(x, self.filters[c], self.quadrature[c])
                    out[:, c] = np.maximum(energy / self.drive_scale[c] - 0.5, 0)
        return out

    def rates(self, images: np.ndarray) -> np.ndarray:
        """Expected counts (n_images, n_cells) for images (n, H, W) in data units."""
        return self.rates_standardized(self.standardize(images))

    def rates_standardized(self, x: np.ndarray) -> np.ndarray:
        """Expected counts for images already in standardized contrast units."""
        return (self.drives(x) + self.drive_offset) * self.rate_scale

    def optimal_stimuli(self, norm: float) -> np.ndarray:
        """Each cell's best image of L2 norm ``norm`` in standardized units (n_cells, H, W), derived exactly.

        Linear-rectified cells (gabor, dog): the filter itself. Energy cells (complex): one filter of the pair.
        Texture cells: the full-field grating at the frequency where the pair's summed power peaks (the energy
        pooled over all positions is a sum over frequencies, so one frequency takes all of it).
        """
        if not norm > 0:
            raise ValueError(f"norm must be > 0, got {norm}")
        h, w = self.image_shape
        out = np.zeros((self.n_cells, h, w))
        for c, kind in enumerate(self.cell_types):
            if kind != "texture":
                out[c] = self.filters[c]
                continue
            power = sum(np.abs(np.fft.fft2(np.fft.ifftshift(k))) ** 2 for k in (self.filters[c], self.quadrature[c]))
            power[0, 0] = 0
            iy, ix = np.unravel_index(np.argmax(power), power.shape)
            y, x = np.mgrid[0:h, 0:w]
            out[c] = np.cos(2 * np.pi * (iy * y / h + ix * x / w))
        flat = out.reshape(self.n_cells, -1)
        out = flat * (norm / np.linalg.norm(flat, axis=1, keepdims=True))
        return out.reshape(self.n_cells, h, w).astype(np.float32)


def _build_bank(images: np.ndarray, types: Sequence[str], counts: dict, mean_rate: float, baseline: float,
                rng: np.random.Generator, gabor_cycles: tuple[float, float] | None = None) -> V1CellBank:
    """Draw every cell's filters and fix the constants that give it unit-std drive and mean rate ``mean_rate``."""
    shape = images.shape[1:]
    pixel_mean, pixel_std = float(images.mean()), float(images.std())
    x = (images - pixel_mean) / pixel_std
    flat = x.reshape(len(x), -1)
    rows = []  # (type, f1, f2, drive_scale)
    for t in types:
        for _ in range(counts.get(t, 0)):
            if t in ("gabor", "complex"):
                f, f2 = _gabor_pair(shape, rng, gabor_cycles)
            elif t == "dog":
                f, f2 = _dog_filter(shape, rng), np.zeros(shape)
            else:
                f, f2 = _texture_pair(shape, rng)
            if t in ("gabor", "dog"):
                scale = float((flat @ f.ravel()).std())
                f2 = np.zeros(shape) if t == "gabor" else f2
            elif t == "complex":
                scale = float(np.sqrt(0.5 * ((flat @ f.ravel()).var() + (flat @ f2.ravel()).var())))
            else:
                scale = float(_circular_energy(x, f, f2).mean())
            rows.append((t, f, f2, scale))
    if not rows:
        raise ValueError("the population is empty: n_per_type must be > 0 for at least one type")
    n = len(rows)
    bank = V1CellBank(
        cell_types=np.array([r[0] for r in rows]), filters=np.stack([r[1] for r in rows]),
        quadrature=np.stack([r[2] for r in rows]), drive_scale=np.array([r[3] for r in rows]),
        drive_offset=np.zeros(n), rate_scale=np.ones(n), pixel_mean=pixel_mean, pixel_std=pixel_std,
    )
    drive = bank.drives(x)
    bank.drive_offset = baseline * drive.mean(0)
    bank.rate_scale = mean_rate / (drive + bank.drive_offset).mean(0)
    return bank


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
    gabor_cycles: tuple[float, float] | None = None,
) -> StimulusResponseData:
    """Poisson responses of a population of model V1 cells to ``images`` (n_trials, H, W).

    Args:
        images, tiers, image_ids: per trial, as in :class:`StimulusResponseData` (repeats share ids).
        n_per_type: neurons per type (int) or a dict ``{type: count}``.
        types: which of ``CELL_TYPES`` to include.
        mean_rate: mean expected count per trial of every neuron.
        baseline: spontaneous rate as a fraction of the mean driven rate.
        seed: random seed for the filters and the Poisson noise.
        gabor_cycles: (low, high) cycles of the Gabor and complex cells' carrier across their envelope's
            +-2 sigma, drawn uniformly; None draws 0.8 to 1.4.

    Returns:
        ``StimulusResponseData`` named ``simulated`` with ``meta["true_filters"]`` (n_neurons, H, W)
        (complex: first filter of the pair; texture: the band-pass kernel), ``meta["quadrature_filters"]`` (the
        pair's second filter, zeros for gabor and dog), ``meta["cell_types"]``, ``meta["true_rates"]`` (n_trials,
        n_neurons) noise-free expected counts, and ``meta["cells"]``, the :class:`V1CellBank` that computes the
        true rates of any image.
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
    if gabor_cycles is not None and not 0 < gabor_cycles[0] <= gabor_cycles[1]:
        raise ValueError(f"gabor_cycles must be (low, high) with 0 < low <= high, got {gabor_cycles!r}")
    bank = _build_bank(images, types, counts, mean_rate, baseline, rng, gabor_cycles)
    true_rates = bank.rates(images)
    responses = rng.poisson(true_rates).astype(np.float32)
    return StimulusResponseData(
        images=images.astype(np.float32), responses=responses, tiers=tiers, image_ids=image_ids,
        neuron_ids=np.arange(bank.n_cells), name="simulated",
        meta={"true_filters": bank.filters.astype(np.float32),
              "quadrature_filters": bank.quadrature.astype(np.float32), "cell_types": bank.cell_types,
              "true_rates": true_rates.astype(np.float32), "cells": bank},
    )
