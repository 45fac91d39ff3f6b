"""Parametric fits of receptive fields / preferred images and a three-way classification.

Coordinates: x is the column index, y the row index (pixels). A 2-D Gabor is
``amp * exp(-xr^2 / (2 sigma_x^2) - yr^2 / (2 sigma_y^2)) * cos(2 pi freq xr + phase) + offset`` with
``xr = (x - x0) cos(theta) + (y - y0) sin(theta)``, ``yr = -(x - x0) sin(theta) + (y - y0) cos(theta)``
(``freq`` in cycles/pixel along ``theta``). A difference of Gaussians (DoG) is
``amp_c exp(-r^2 / (2 sigma_c^2)) - amp_s exp(-r^2 / (2 sigma_s^2)) + offset`` with ``sigma_s > sigma_c``.

Classification (:func:`classify_rf`), following Kindel et al. 2017's three groups:

1. ``"textural"`` if the image's energy is spread over the image, its smoothed energy map filling more than
   ``TEXTURE_EXTENT`` of it (:func:`spatial_extent`), *and* its power is concentrated in few spatial frequencies,
   at least ``TEXTURE_CONCENTRATION`` of it in the strongest 10% of them (:func:`spectral_concentration`): a
   texture repeats a pattern, noise does not;
2. else ``"unclassified"`` if neither fit reaches R^2 >= ``MIN_R2``;
3. else, if the image is oriented (:func:`orientedness` >= ``MIN_ORIENTEDNESS``), ``"gabor"`` when the Gabor fit
   reaches ``MIN_R2``; if it is not oriented, ``"center_surround"`` when the DoG fit reaches ``MIN_R2``;
   ``"unclassified"`` otherwise.

Orientation, not the better fit, decides between Gabor-like and center-surround: a Gabor with a low carrier
frequency fits a blob as well as a DoG does, but a center-surround field has no preferred orientation.

The thresholds were set on MEIs of CNNs fitted to simulated Gabor, complex, DoG and texture cells (Lurz images,
18x32; Gaussian readout with seeds 0 and 1, factorized readout, and the true cells themselves; 8 cells per type
each) and are checked on simulated cells in ``tests/test_rf_fit.py`` and in Chapter 1's confusion matrix. There
the localized types' extent was at most 0.25 and the texture cells' at least 0.30; the texture cells' spectral
concentration at least 0.83 (white noise 0.3, 1/f noise 0.7-0.8); the orientedness of DoG MEIs at most 0.39 and
of Gabor and complex MEIs at least 0.44 (one ambiguous blob-like Gabor-cell MEI: 0.26).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage, optimize

from neurobook.data.shapes import dog, gabor
from neurobook.data.shapes import pixel_grid as _grid

__all__ = [
    "LABELS",
    "MIN_ORIENTEDNESS",
    "MIN_R2",
    "SPREAD_ENERGY",
    "TEXTURE_CONCENTRATION",
    "TEXTURE_EXTENT",
    "FitResult",
    "characterize",
    "classify_rf",
    "dog",
    "fit_dog",
    "fit_gabor",
    "gabor",
    "orientedness",
    "spatial_extent",
    "spatial_spread",
    "spectral_concentration",
]

SPREAD_ENERGY = 0.8
"""Share of the image energy that :func:`spatial_spread` asks for."""
TEXTURE_EXTENT = 0.28
"""Above this share of the image filled by its smoothed energy (:func:`spatial_extent`) an image is spread out."""
TEXTURE_CONCENTRATION = 0.8
"""A textural image holds at least this share of its power in the strongest 10% of its spatial frequencies."""
MIN_R2 = 0.5
"""A fit must explain at least this share of pixel variance to count."""
MIN_ORIENTEDNESS = 0.4
"""An image at least this oriented (:func:`orientedness`) is Gabor-like; below it, center-surround."""
LABELS = ("gabor", "center_surround", "textural", "unclassified")

GABOR_PARAMS = ("x0", "y0", "sigma_x", "sigma_y", "theta", "freq", "phase", "amp", "offset")
DOG_PARAMS = ("x0", "y0", "sigma_c", "sigma_s", "amp_c", "amp_s", "offset")


@dataclass
class FitResult:
    """Best-fit parameters, the fraction of pixel variance explained and the fitted image."""

    params: dict
    r2: float
    model: np.ndarray = field(repr=False)


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a 2-D numpy array (H, W), got {type(image).__name__}")
    if image.ndim != 2 or min(image.shape) < 3:
        raise ValueError(f"image must be 2-D (H, W) with H, W >= 3; got shape {image.shape}")
    arr = image.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or inf")
    return arr


def _r2(image: np.ndarray, model: np.ndarray) -> float:
    ss_tot = np.sum((image - image.mean()) ** 2)
    if ss_tot <= 0:
        return 0.0
    return float(1 - np.sum((image - model) ** 2) / ss_tot)


def _peak(a: np.ndarray, sigma: float = 1.5) -> tuple[float, float]:
    """(x, y) of the maximum of the smoothed energy."""
    energy = ndimage.gaussian_filter(a**2, sigma)
    y, x = np.unravel_index(np.argmax(energy), energy.shape)
    return float(x), float(y)


def _fft_peak(a: np.ndarray) -> tuple[float, float]:
    """(freq, theta) of the strongest non-DC Fourier component."""
    h, w = a.shape
    power = np.abs(np.fft.fft2(a)) ** 2
    power[0, 0] = 0
    fy = np.fft.fftfreq(h)[:, None] * np.ones((1, w))
    fx = np.fft.fftfreq(w)[None, :] * np.ones((h, 1))
    i = np.argmax(power)
    return float(np.hypot(fx.flat[i], fy.flat[i])), float(np.arctan2(fy.flat[i], fx.flat[i]))


def _best_fit(fun, jac, inits, lower, upper, image):
    """Best least-squares solution over several starting points (analytic Jacobian)."""
    target = image.ravel()
    best, best_cost = None, np.inf
    for p0 in inits:
        p0 = np.clip(np.asarray(p0, dtype=np.float64), lower + 1e-6, upper - 1e-6)
        try:
            sol = optimize.least_squares(
                lambda p: fun(p).ravel() - target, p0, jac=jac, bounds=(lower, upper), x_scale="jac",
                max_nfev=200,
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        if sol.cost < best_cost:
            best, best_cost = sol.x, sol.cost
    if best is None:
        raise RuntimeError("every fit start failed")
    return best


def _gabor_jac(shape: Sequence[int]):
    """Jacobian (n_pixels, 9) of :func:`gabor` w.r.t. its parameters, for least_squares."""
    x, y = _grid(shape)
    x, y = x.ravel(), y.ravel()

    def jac(p: np.ndarray) -> np.ndarray:
        x0, y0, sx, sy, theta, freq, phase, amp, _ = p
        c, s = np.cos(theta), np.sin(theta)
        dx, dy = x - x0, y - y0
        xr, yr = dx * c + dy * s, -dx * s + dy * c
        env = np.exp(-0.5 * (xr**2 / sx**2 + yr**2 / sy**2))
        arg = 2 * np.pi * freq * xr + phase
        cos, sin = np.cos(arg), np.sin(arg)
        d_xr = amp * env * (-xr / sx**2 * cos - 2 * np.pi * freq * sin)
        d_yr = amp * env * cos * (-yr / sy**2)
        return np.stack([
            -c * d_xr + s * d_yr,
            -s * d_xr - c * d_yr,
            amp * env * cos * xr**2 / sx**3,
            amp * env * cos * yr**2 / sy**3,
            yr * d_xr - xr * d_yr,
            -amp * env * sin * 2 * np.pi * xr,
            -amp * env * sin,
            env * cos,
            np.ones_like(x),
        ], axis=1)

    return jac


def _dog_internal(shape: Sequence[int]):
    """DoG in internal parameters (x0, y0, sigma_c, k, amp, w, offset) and its Jacobian."""
    x, y = _grid(shape)
    x, y = x.ravel(), y.ravel()

    def parts(q):
        x0, y0, sc, k, _amp, _wgt, _off = q
        r2 = (x - x0) ** 2 + (y - y0) ** 2
        ec = np.exp(-0.5 * r2 / sc**2)
        es = np.exp(-0.5 * r2 / (k * sc) ** 2)
        return r2, ec, es

    def fun(q):
        _, ec, es = parts(q)
        return q[4] * ec - q[4] * q[5] * es + q[6]

    def jac(q):
        x0, y0, sc, k, amp, wgt, _ = q
        r2, ec, es = parts(q)
        ss = (k * sc) ** 2
        d_r2 = amp * ec / (2 * sc**2) - amp * wgt * es / (2 * ss)  # = -d(fun)/d(r2)
        return np.stack([
            d_r2 * 2 * (x - x0),
            d_r2 * 2 * (y - y0),
            amp * ec * r2 / sc**3 - amp * wgt * es * r2 / (k**2 * sc**3),
            -amp * wgt * es * r2 / (k**3 * sc**2),
            ec - wgt * es,
            -amp * es,
            np.ones_like(x),
        ], axis=1)

    return fun, jac


def fit_gabor(image: np.ndarray) -> FitResult:
    """Least-squares 2-D Gabor fit from several starts (FFT peak for freq/theta, energy peak for centre).

    Returned parameters are canonical: ``amp >= 0``, ``theta`` in [0, pi), ``phase`` in [0, 2 pi).
    """
    img = _check_image(image)
    h, w = img.shape
    offset0 = float(np.median(img))
    a = img - offset0
    x0, y0 = _peak(a)
    freq0, theta0 = _fft_peak(a)
    spread = spatial_spread(img)
    sigma0 = max(1.0, np.sqrt(spread * h * w / (2 * np.pi)))
    amp0 = float(np.abs(a).max()) or 1.0
    inits = [
        [x0, y0, sigma0, sigma0, theta0, f, phase, amp0, offset0]
        for f in (freq0, 0.5 * freq0)
        for phase in (0.0, np.pi / 2, np.pi, 1.5 * np.pi)
    ]
    big = float(max(h, w))
    lower = np.array([-0.5, -0.5, 0.5, 0.5, -2 * np.pi, 0.0, -4 * np.pi, 0.0, -np.inf])
    upper = np.array([w - 0.5, h - 0.5, big, big, 2 * np.pi, 0.5, 4 * np.pi, np.inf, np.inf])
    p = _best_fit(lambda q: gabor(img.shape, *q), _gabor_jac(img.shape), inits, lower, upper, img)
    x0, y0, sx, sy, theta, freq, phase, amp, offset = p
    if theta < 0 or theta >= np.pi:  # theta -> theta - k pi flips xr when k is odd
        k = np.floor(theta / np.pi)
        theta -= k * np.pi
        if int(k) % 2:
            phase = -phase
    values = (x0, y0, sx, sy, theta, freq, phase % (2 * np.pi), amp, offset)
    params = {k: float(v) for k, v in zip(GABOR_PARAMS, values, strict=True)}
    model = gabor(img.shape, **params)
    return FitResult(params=params, r2=_r2(img, model), model=model)


def fit_dog(image: np.ndarray) -> FitResult:
    """Least-squares difference-of-Gaussians fit (``sigma_s = k sigma_c`` with k in [1.2, 10],
    ``amp_s = w amp_c`` with w in [0, 1]; ``amp_c`` < 0 is an OFF centre)."""
    img = _check_image(image)
    h, w = img.shape
    offset0 = float(np.median(img))
    a = img - offset0
    x0, y0 = _peak(a, 1.0)
    centre = ndimage.gaussian_filter(a, 1.0)[int(y0), int(x0)]
    amp0 = float(np.sign(centre) or 1.0) * float(np.abs(a).max())
    big = float(max(h, w))

    def unpack(q):
        x, y, sc, k, amp, wgt, off = q
        return x, y, sc, k * sc, amp, wgt * amp, off

    inits = [[x0, y0, sc, k, amp0, 0.5, offset0] for sc in (1.0, 2.0, 4.0) for k in (2.0, 3.5)]
    lower = np.array([-0.5, -0.5, 0.5, 1.2, -np.inf, 0.0, -np.inf])
    upper = np.array([w - 0.5, h - 0.5, big, 10.0, np.inf, 1.0, np.inf])
    fun, jac = _dog_internal(img.shape)
    p = _best_fit(fun, jac, inits, lower, upper, img)
    params = {k: float(v) for k, v in zip(DOG_PARAMS, unpack(p), strict=True)}
    model = dog(img.shape, **params)
    return FitResult(params=params, r2=_r2(img, model), model=model)


def spatial_spread(image: np.ndarray, energy: float = SPREAD_ENERGY) -> float:
    """Fraction of pixels needed to hold ``energy`` of ``sum (image - median)^2`` (largest first).

    About 0.05 for a compact Gabor, above 0.5 for a full-field grating or noise.
    """
    img = _check_image(image)
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    e = np.sort(((img - np.median(img)) ** 2).ravel())[::-1]
    total = e.sum()
    if total <= 0:
        return 0.0
    n = int(np.searchsorted(np.cumsum(e), energy * total - 1e-12 * total)) + 1
    return min(n, e.size) / e.size


def spatial_extent(image: np.ndarray, smooth: float = 1.5) -> float:
    """Share of the image that its energy fills: the participation ratio of the smoothed energy map.

    ``e = gaussian_filter((image - median)^2, smooth)``; ``(sum e)^2 / (n_pixels * sum e^2)``: 1 when the energy
    is even over the image, about 0.05-0.25 for a localized Gabor or DoG, 0.3-1 for a texture or grating.
    """
    img = _check_image(image)
    energy = ndimage.gaussian_filter((img - np.median(img)) ** 2, smooth)
    total = float((energy**2).sum())
    return 0.0 if total <= 0 else float(energy.sum() ** 2 / (energy.size * total))


def spectral_concentration(image: np.ndarray, top: float = 0.1) -> float:
    """Share of the image's (mean-removed) power held by its strongest ``top`` share of spatial frequencies.

    About 0.3 for white noise, 0.7-0.8 for 1/f noise, above 0.9 for a grating or a periodic texture.
    """
    img = _check_image(image)
    if not 0 < top <= 1:
        raise ValueError(f"top must be in (0, 1], got {top}")
    power = np.sort((np.abs(np.fft.rfft2(img - img.mean())) ** 2).ravel())[::-1]
    total = power.sum()
    if total <= 0:
        return 0.0
    return float(power[: max(1, round(top * power.size))].sum() / total)


def orientedness(image: np.ndarray) -> float:
    """How much of the image's power lies along one orientation: ``|sum P(k) exp(2i theta_k)| / sum P(k)``.

    0 for an isotropic image (a DoG), near 1 for a long grating; MEIs of Gabor cells 0.45-0.85.
    """
    img = _check_image(image)
    h, w = img.shape
    power = np.abs(np.fft.fft2(img - img.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    total = power.sum()
    if total <= 0:
        return 0.0
    return float(np.abs((power * np.exp(2j * np.arctan2(fy, fx))).sum()) / total)


def _classify(extent: float, concentration: float, oriented: float, r2_gabor: float, r2_dog: float) -> str:
    if extent > TEXTURE_EXTENT and concentration >= TEXTURE_CONCENTRATION:
        return "textural"
    if oriented >= MIN_ORIENTEDNESS:
        return "gabor" if r2_gabor >= MIN_R2 else "unclassified"
    return "center_surround" if r2_dog >= MIN_R2 else "unclassified"


def classify_rf(image: np.ndarray) -> str:
    """``"gabor"``, ``"center_surround"``, ``"textural"`` or ``"unclassified"`` (rules in the module doc)."""
    extent, concentration = spatial_extent(image), spectral_concentration(image)
    if extent > TEXTURE_EXTENT and concentration >= TEXTURE_CONCENTRATION:
        return "textural"
    oriented = orientedness(image)
    if oriented >= MIN_ORIENTEDNESS:
        return _classify(extent, concentration, oriented, fit_gabor(image).r2, 0.0)
    return _classify(extent, concentration, oriented, 0.0, fit_dog(image).r2)


def characterize(images: np.ndarray) -> pd.DataFrame:
    """One row per image: label, the measures it rests on, both fits' R^2 and parameters (``gabor_*``, ``dog_*``)."""
    if not isinstance(images, np.ndarray) or images.ndim != 3:
        shape = getattr(images, "shape", None)
        raise ValueError(f"images must be a numpy array (n, H, W); got {type(images).__name__} {shape}")
    rows = []
    for image in images:
        g, d = fit_gabor(image), fit_dog(image)
        extent, concentration, oriented = spatial_extent(image), spectral_concentration(image), orientedness(image)
        row = {"label": _classify(extent, concentration, oriented, g.r2, d.r2), "extent": extent,
               "concentration": concentration, "orientedness": oriented, "spread": spatial_spread(image),
               "gabor_r2": g.r2, "dog_r2": d.r2}
        row.update({f"gabor_{k}": v for k, v in g.params.items()})
        row.update({f"dog_{k}": v for k, v in d.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)
