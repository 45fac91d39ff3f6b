"""In-silico electrophysiology: show gratings to (model) neurons and measure classical V1 tuning properties.

Everything works on a *response function* ``fn(images) -> rates``: images ``(n, H, W)`` in contrast units
(0 = mean gray) and rates ``(n, n_neurons)``. Use :func:`model_response_fn` for a trained
:class:`neurobook.models.ImageModel`, or any simulated population. Orientations are in degrees in [0, 180),
spatial frequencies in cycles per pixel (convert with the display's degrees per pixel), phases in radians.

Definitions follow Brain-Score's Marques et al. (2021) V1 property benchmarks (see
``shared/data/v1_tuning_literature/SOURCE.md``): F0 is the mean over grating phases, F1 twice the amplitude of
the first harmonic over phases; orientation and spatial-frequency tuning are measured at the preferred
stimulus; the modulation ratio is F1/F0 (simple cells > 1, complex cells < 1).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.interpolate import CubicSpline

ResponseFn = Callable[[np.ndarray], np.ndarray]
BRAINSCORE_PREF_RATE = 33.8  # median preferred response (spikes/s) of Ringach 2002, Brain-Score's calibration
BRAINSCORE_BLANK_RATE = 0.82  # median spontaneous rate (spikes/s), same source
RESPONSE_THRESHOLD = 5.0  # a neuron counts as responsive when max F0 > baseline + 5 spikes/s
PROPERTY_COLUMNS = ["preferred_orientation", "circular_variance", "orientation_bandwidth",
                    "orthogonal_preferred_ratio", "modulation_ratio", "peak_spatial_frequency",
                    "spatial_frequency_bandwidth", "surround_suppression_index", "grating_summation_field", "c50"]


# ----------------------------------------------------------------------------------------------- stimuli
def grating(shape: Sequence[int], orientation: float, sf: float, phase: float = 0.0, contrast: float = 1.0,
            center: Sequence[float] | None = None, diameter: float | None = None) -> np.ndarray:
    """A sinusoidal grating ``contrast * cos(2 pi sf (x cos t + y sin t) + phase)`` (H, W), optionally in a disc.

    ``orientation`` t (degrees) is the direction of the wave vector; ``center`` (row, col) in pixels defaults to
    the image center; outside a disc of ``diameter`` pixels the image is mean gray (0).
    """
    h, w = int(shape[0]), int(shape[1])
    if sf < 0 or contrast < 0:
        raise ValueError(f"sf and contrast must be >= 0, got {sf}, {contrast}")
    cy, cx = ((h - 1) / 2, (w - 1) / 2) if center is None else (float(center[0]), float(center[1]))
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    y, x = y - cy, x - cx
    t = np.deg2rad(orientation)
    img = contrast * np.cos(2 * np.pi * sf * (x * np.cos(t) + y * np.sin(t)) + phase)
    if diameter is not None:
        img = img * (np.hypot(x, y) <= diameter / 2)
    return img.astype(np.float32)


def model_response_fn(model: torch.nn.Module, device: str | torch.device = "cpu", batch_size: int = 512) -> ResponseFn:
    """Wrap a trained image model: contrast-unit images (n, H, W) -> rates (n, n_neurons), in normalized units."""
    if not hasattr(model, "forward_standardized"):
        raise TypeError(f"model must be a neurobook ImageModel with forward_standardized, got {type(model).__name__}")
    model = model.to(device).eval()
    return tensor_response_fn(model.forward_standardized, device, batch_size)


def tensor_response_fn(forward: Callable[[torch.Tensor], torch.Tensor], device: str | torch.device = "cpu",
                       batch_size: int = 512) -> ResponseFn:
    """Any ``(B, 1, H, W) -> (B, n_units)`` torch function (a layer's units, a model) as a numpy response function.

    Put the module in ``eval()`` mode and on ``device`` first.
    """

    def fn(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for s in range(0, len(images), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size], dtype=np.float32)).to(device)
                out.append(forward(x.unsqueeze(1)).float().cpu().numpy())
        if not out:
            raise ValueError("no images to respond to")
        return np.concatenate(out)

    return fn


def subset_response_fn(fn: ResponseFn, neurons: Sequence[int] | np.ndarray) -> ResponseFn:
    """The response function restricted to the columns ``neurons`` (in that order)."""
    idx = np.asarray(neurons, dtype=int)

    def subset(images: np.ndarray) -> np.ndarray:
        return np.asarray(fn(images))[:, idx]

    return subset


def _call(fn: ResponseFn, images: np.ndarray) -> np.ndarray:
    out = np.asarray(fn(images), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != len(images):
        raise ValueError(f"the response function must return (n_images, n_neurons); got {out.shape} "
                         f"for {len(images)} images")
    return out


def f0_f1(responses: np.ndarray, phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F0 (mean) and F1 (2 x first-harmonic amplitude) over the last axis, sampled at evenly spaced ``phases``."""
    responses = np.asarray(responses, dtype=np.float64)
    harmonic = (responses * np.exp(-1j * np.asarray(phases))).mean(-1)
    return responses.mean(-1), 2 * np.abs(harmonic)


# ------------------------------------------------------------------------------------- tuning measures
def larger_component(f0_above_blank: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """Brain-Score's tuning curve along the last axis: F1 where its peak exceeds that of F0 - blank, else F0 - blank."""
    f0_above_blank, f1 = np.asarray(f0_above_blank, float), np.asarray(f1, float)
    use_f1 = f1.max(axis=-1, keepdims=True) > f0_above_blank.max(axis=-1, keepdims=True)
    return np.where(use_f1, f1, f0_above_blank)


def circular_variance(curve: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """``1 - |sum r e^{2i theta}| / sum |r|`` along the last axis (0 = sharply tuned, 1 = untuned)."""
    curve = np.asarray(curve, dtype=np.float64)
    z = (curve * np.exp(2j * np.deg2rad(orientations))).sum(-1)
    return 1 - np.abs(z) / np.abs(curve).sum(-1).clip(1e-12)


def preferred_orientation(curve: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """Orientation (deg, [0, 180)) of the peak of the smoothed, 1-degree-interpolated curve."""
    fine, dense = _dense_orientation_curve(curve, orientations)
    return fine[np.argmax(dense, axis=-1)]


def _dense_orientation_curve(curve: np.ndarray, orientations: np.ndarray, smooth: bool = True):
    """Circularly smoothed ([.4, 1, .4], as Brain-Score) curve, periodic-spline interpolated at 1 degree."""
    curve = np.atleast_2d(np.asarray(curve, dtype=np.float64))
    orientations = np.asarray(orientations, dtype=np.float64)
    if smooth:
        k = np.array([0.4, 1.0, 0.4]) / 1.8
        curve = k[0] * np.roll(curve, 1, -1) + k[1] * curve + k[2] * np.roll(curve, -1, -1)
    x = np.append(orientations, orientations[0] + 180.0)
    y = np.concatenate([curve, curve[:, :1]], axis=1)
    fine = np.arange(orientations[0], orientations[0] + 180.0, 1.0)
    return fine % 180, CubicSpline(x, y, axis=1, bc_type="periodic")(fine)


def orientation_bandwidth(curve: np.ndarray, orientations: np.ndarray, smooth: bool = False) -> np.ndarray:
    """Half-width (deg) at 1/sqrt(2) of the peak; NaN where the curve never falls that low within 90 deg.

    Ringach et al. (2002) and Brain-Score call a neuron orientation selective when this is defined. The crossing
    is interpolated linearly between the 1-degree samples of the spline. ``smooth=True`` applies Brain-Score's
    [.4, 1, .4] filter first; it is off by default because at 12 orientations it widens a known von Mises
    bandwidth by 3-4 degrees (``tests/test_insilico.py``).
    """
    _, dense = _dense_orientation_curve(curve, orientations, smooth)
    out = np.full(dense.shape[0], np.nan)
    for i, d in enumerate(dense):
        p = int(np.argmax(d))
        if not d[p] > 0:
            continue
        level = d[p] / np.sqrt(2)
        ext = np.concatenate([d, d, d])  # circular
        c = p + len(d)
        right = _crossing(ext[c : c + 91], level)
        left = _crossing(ext[c - 90 : c + 1][::-1], level)
        if right is not None and left is not None:
            out[i] = (right + left) / 2
    return out


def _crossing(values: np.ndarray, level: float) -> float | None:
    """Distance (in samples, linearly interpolated) at which ``values`` first falls below ``level``."""
    below = np.flatnonzero(values < level)
    if not len(below) or below[0] == 0:
        return None
    k = int(below[0])
    hi, lo = values[k - 1], values[k]
    return k - 1 + (hi - level) / (hi - lo)


def orthogonal_preferred_ratio(curve: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """``r(pref + 90) / r(pref)`` on the raw curve (orientations evenly spaced over 180 deg, an even number)."""
    curve = np.atleast_2d(np.asarray(curve, dtype=np.float64))
    n = curve.shape[-1]
    if n % 2:
        raise ValueError(f"need an even number of orientations so that pref + 90 is sampled, got {n}")
    p = np.argmax(curve, axis=-1)
    rows = np.arange(len(curve))
    pref = curve[rows, p]
    return np.where(pref > 0, curve[rows, (p + n // 2) % n] / np.where(pref > 0, pref, 1.0), np.nan)


def _dense_log_curve(curve: np.ndarray, values: np.ndarray, step: float = 0.05):
    curve = np.atleast_2d(np.asarray(curve, dtype=np.float64))
    lx = np.log2(np.asarray(values, dtype=np.float64))
    fine = np.arange(lx[0], lx[-1] + 1e-9, step)
    return 2.0**fine, CubicSpline(lx, curve, axis=1)(fine)


def peak_spatial_frequency(curve: np.ndarray, sfs: np.ndarray) -> np.ndarray:
    """SF at the maximum of the curve, spline-interpolated on a log2 axis (same unit as ``sfs``)."""
    fine, dense = _dense_log_curve(curve, sfs)
    return fine[np.argmax(dense, axis=-1)]


def spatial_frequency_bandwidth(curve: np.ndarray, sfs: np.ndarray) -> np.ndarray:
    """Schiller et al. (1976): ``100 f_low / f_high`` at 0.707 of the peak; NaN if not selective on both sides."""
    fine, dense = _dense_log_curve(curve, sfs)
    out = np.full(dense.shape[0], np.nan)
    for i, d in enumerate(dense):
        p = int(np.argmax(d))
        level = 0.707 * d[p]
        if not d[p] > 0:
            continue
        lo = np.flatnonzero(d[:p] < level)
        hi = np.flatnonzero(d[p:] < level)
        if len(lo) and len(hi):
            out[i] = 100 * fine[lo[-1]] / fine[p + hi[0]]
    return out


def surround_suppression_index(curve: np.ndarray) -> np.ndarray:
    """``(peak - r(largest size)) / peak`` of a baseline-subtracted size-tuning curve (last axis = size)."""
    curve = np.atleast_2d(np.asarray(curve, dtype=np.float64))
    peak = curve.max(-1)
    return (peak - curve[:, -1]) / np.clip(peak, 1e-12, None)


def grating_summation_field(curve: np.ndarray, diameters: np.ndarray, min_ssi: float = 0.1) -> np.ndarray:
    """Diameter of the smallest grating giving >= 95% of the peak; NaN when the SSI is <= ``min_ssi``.

    The curve is spline-interpolated on a log2 diameter axis (as the SF curve is) before the crossing is read:
    on the sampled diameters alone the value can only take their few levels.
    """
    curve = np.atleast_2d(np.asarray(curve, dtype=np.float64))
    fine, dense = _dense_log_curve(curve, diameters, step=0.02)
    first = np.argmax(dense >= 0.95 * dense.max(-1, keepdims=True), axis=-1)
    return np.where(surround_suppression_index(curve) > min_ssi, fine[first], np.nan)


def semi_saturation_contrast(curve: np.ndarray, contrasts: np.ndarray) -> np.ndarray:
    """c50: the contrast (log-interpolated) where the baseline-subtracted response first reaches half its max."""
    curve = np.atleast_2d(np.asarray(curve, dtype=np.float64))
    lc = np.log(np.asarray(contrasts, dtype=np.float64))
    out = np.full(len(curve), np.nan)
    for i, c in enumerate(curve):
        half = 0.5 * c.max()
        k = int(np.argmax(c >= half))
        if c.max() <= 0:
            continue
        if k == 0:
            out[i] = contrasts[0]
        else:
            f = (half - c[k - 1]) / (c[k] - c[k - 1])
            out[i] = np.exp(lc[k - 1] + f * (lc[k] - lc[k - 1]))
    return out


def calibrate(pref: np.ndarray, blank: np.ndarray) -> tuple[float, float]:
    """Brain-Score's affine map ``a r + b`` to spikes/s: median preferred -> 33.8, median blank -> 0.82."""
    mp, mb = float(np.median(pref)), float(np.median(blank))
    if not mp > mb:
        raise ValueError("median preferred response must exceed the median blank response to calibrate; "
                         "the model neurons do not respond to gratings")
    a = (BRAINSCORE_PREF_RATE - BRAINSCORE_BLANK_RATE) / (mp - mb)
    return a, BRAINSCORE_BLANK_RATE - a * mb


# ----------------------------------------------------------------------------------------- experiments
@dataclass
class TuningResult:
    """Per-neuron properties (``table``) and the curves they came from (calibrated to spikes/s)."""

    table: pd.DataFrame
    orientations: np.ndarray
    sfs: np.ndarray
    diameters: np.ndarray
    contrasts: np.ndarray
    orientation_curves: np.ndarray  # (N, n_ori) F0 at the preferred SF
    sf_curves: np.ndarray  # (N, n_sf) at the preferred orientation
    size_curves: np.ndarray  # (N, n_diam) baseline-subtracted
    contrast_curves: np.ndarray  # (N, n_contrast) baseline-subtracted
    scale: tuple[float, float] = (1.0, 0.0)
    meta: dict = field(default_factory=dict)


def _grating_bank(shape, orientations, sfs, phases, contrast) -> np.ndarray:
    return np.stack([grating(shape, o, f, p, contrast) for o in orientations for f in sfs for p in phases])


def tuning_experiment(fn: ResponseFn, shape: Sequence[int], *, centers: np.ndarray | None = None,
                      orientations: np.ndarray | None = None, sfs: np.ndarray | None = None,
                      diameters: np.ndarray | None = None, contrasts: np.ndarray | None = None,
                      n_phases: int = 8, n_phases_series: int = 4, contrast: float = 1.0,
                      deg_per_pixel: float = 1.0) -> TuningResult:
    """Run orientation x SF x phase (full field), then size and contrast series at each neuron's preferred grating.

    ``centers`` (N, 2) (row, col) in pixels: where each neuron's size series is centred (its RF center, e.g.
    from :func:`rf_centers_from_probes`); default the image center, which also stands in for a NaN centre
    (``center_found`` is False there). The size and contrast series use ``n_phases_series`` phases.
    Responses are mapped to spikes/s by :func:`calibrate` before any measure, and the
    ``responsive`` column marks neurons whose max F0 exceeds the blank response by 5 spikes/s. A neuron whose
    best calibrated response does not exceed its blank response gets NaN in every property, with the reason in
    ``invalid_reason`` (ratios of such curves are meaningless).
    SF and diameter columns are converted to cycles/deg and deg with ``deg_per_pixel``.
    """
    h, w = int(shape[0]), int(shape[1])
    orientations = np.arange(0, 180, 7.5) if orientations is None else np.asarray(orientations, float)
    sfs = np.geomspace(1 / 32, 1 / 3, 9) if sfs is None else np.asarray(sfs, float)
    diameters = np.geomspace(1.5, 2 * max(h, w), 9) if diameters is None else np.asarray(diameters, float)
    contrasts = np.geomspace(0.05, 2 * contrast, 7) if contrasts is None else np.asarray(contrasts, float)
    phases = np.arange(n_phases) * 2 * np.pi / n_phases
    if n_phases < 4:
        raise ValueError(f"n_phases must be >= 4 to measure F1, got {n_phases}")

    blank = _call(fn, np.zeros((1, h, w), np.float32))[0]
    n = blank.shape[0]
    centers = np.tile([(h - 1) / 2, (w - 1) / 2], (n, 1)) if centers is None else np.asarray(centers, float)
    if centers.shape != (n, 2):
        raise ValueError(f"centers must be (n_neurons, 2) = ({n}, 2), got {centers.shape}")
    center_found = np.isfinite(centers).all(1)
    centers = np.where(center_found[:, None], centers, [(h - 1) / 2, (w - 1) / 2])
    raw = _call(fn, _grating_bank((h, w), orientations, sfs, phases, contrast))
    raw = raw.T.reshape(n, len(orientations), len(sfs), n_phases)
    f0, _ = f0_f1(raw, phases)
    a, b = calibrate(f0.reshape(n, -1).max(1), blank)
    cal = a * raw + b
    base = a * blank + b
    f0, f1 = f0_f1(cal, phases)
    flat = np.argmax(f0.reshape(n, -1), axis=1)
    po_i, psf_i = np.unravel_index(flat, f0.shape[1:])
    rows = np.arange(n)
    ori_curves = f0[rows, :, psf_i]  # (N, n_ori)
    sf_f0 = f0[rows, po_i, :] - base[:, None]
    sf_f1 = f1[rows, po_i, :]
    sf_curves = larger_component(sf_f0, sf_f1)
    max_dc, max_ac = f0[rows, po_i, psf_i], f1[rows, po_i, psf_i]

    if n_phases_series < 4:
        raise ValueError(f"n_phases_series must be >= 4 to measure F1, got {n_phases_series}")
    sphases = np.arange(n_phases_series) * 2 * np.pi / n_phases_series
    size_curves = _series(fn, (h, w), rows, centers, orientations[po_i], sfs[psf_i], sphases, base,
                          diameters=diameters, contrast=contrast, scale=(a, b))
    contrast_curves = _series(fn, (h, w), rows, centers, orientations[po_i], sfs[psf_i], sphases, base,
                              contrasts=contrasts, scale=(a, b))
    table = pd.DataFrame({
        "neuron": rows,
        "center_found": center_found,
        "responsive": max_dc > base + RESPONSE_THRESHOLD,
        "baseline": base,
        "max_dc": max_dc,
        "preferred_orientation": preferred_orientation(ori_curves, orientations),
        "circular_variance": circular_variance(ori_curves, orientations),
        "orientation_bandwidth": orientation_bandwidth(ori_curves, orientations),
        "orthogonal_preferred_ratio": orthogonal_preferred_ratio(ori_curves, orientations),
        "modulation_ratio": np.where(max_dc > 0, max_ac / np.clip(max_dc, 1e-12, None), np.nan),
        "peak_spatial_frequency": peak_spatial_frequency(np.clip(sf_curves, 0, None), sfs) / deg_per_pixel,
        "spatial_frequency_bandwidth": spatial_frequency_bandwidth(sf_curves, sfs),
        "surround_suppression_index": surround_suppression_index(size_curves),
        "grating_summation_field": grating_summation_field(size_curves, diameters) * deg_per_pixel,
        "c50": semi_saturation_contrast(contrast_curves, contrasts),
    })
    below_blank = ~(max_dc > base)
    table.loc[below_blank, PROPERTY_COLUMNS] = np.nan
    table["invalid_reason"] = np.where(below_blank, "best grating response not above the blank response", "")
    table["orientation_selective"] = np.where(below_blank, np.nan,
                                              np.isfinite(table["orientation_bandwidth"]).astype(float))
    return TuningResult(table, orientations, sfs / deg_per_pixel, diameters * deg_per_pixel, contrasts,
                        ori_curves, sf_curves, size_curves, contrast_curves, (a, b),
                        {"deg_per_pixel": deg_per_pixel, "n_phases": n_phases, "contrast": contrast})


def _series(fn, shape, rows, centers, oris, sfs, phases, base, *, diameters=None, contrasts=None,
            contrast=1.0, scale=(1.0, 0.0)) -> np.ndarray:
    """Per-neuron series (size or contrast) of its own preferred grating; the larger of F0 - baseline and F1."""
    a, b = scale
    levels = diameters if diameters is not None else contrasts
    per = len(levels) * len(phases)
    out = np.zeros((len(rows), len(levels)))
    chunk = max(1, 4096 // per)
    for start in range(0, len(rows), chunk):  # many neurons' own stimuli in one batch
        idx = rows[start : start + chunk]
        imgs = np.stack([
            grating(shape, oris[i], sfs[i], p, contrast if diameters is not None else lev, centers[i],
                    lev if diameters is not None else None)
            for i in idx for lev in levels for p in phases])
        resp = _call(fn, imgs)
        for k, i in enumerate(idx):
            r = a * resp[k * per : (k + 1) * per, i].reshape(len(levels), len(phases)) + b
            f0, f1 = f0_f1(r, phases)
            out[i] = larger_component(f0 - base[i], f1)
    return out


def rf_centers(maps: np.ndarray, smooth: float = 1.0) -> np.ndarray:
    """(row, col) of the peak of each Gaussian-smoothed ``|map|`` (N, H, W), e.g. gradient receptive fields.

    A map that is 0 everywhere (the gradient of an energy or rectified unit at the blank image) has no peak: its
    centre is NaN, with a warning. Prefer :func:`rf_centers_from_probes`, which needs no gradient.
    """
    from scipy.ndimage import gaussian_filter

    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (n_neurons, H, W), got shape {maps.shape}")
    energy = np.stack([gaussian_filter(np.abs(m), smooth) for m in maps])
    flat = energy.reshape(len(maps), -1).argmax(1)
    out = np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1).astype(float)
    empty = ~(energy.reshape(len(maps), -1).max(1) > 0)
    if empty.any():
        warnings.warn(f"{int(empty.sum())} of {len(maps)} maps are 0 everywhere (a zero gradient at the probe "
                      "image): their centres are NaN; use rf_centers_from_probes", stacklevel=2)
        out[empty] = np.nan
    return out


def rf_centers_from_probes(fn: ResponseFn, shape: Sequence[int], *, diameter: float | None = None,
                           step: float | None = None, sfs: Sequence[float] | None = None,
                           orientations: Sequence[float] = (0.0, 45.0, 90.0, 135.0),
                           n_phases: int = 4, contrast: float = 1.0) -> np.ndarray:
    """Receptive-field centres (N, 2) (row, col) in pixels, mapped with small grating patches.

    A disc of ``diameter`` pixels (default a quarter of the shorter side, at least 3) is shown on a grid of
    positions ``step`` apart, at each of ``orientations`` x ``sfs`` x ``n_phases`` phases. A position's drive is the
    largest, over gratings, of ``|F0 - blank|`` and F1: phase-invariant (energy) and rectified units are mapped
    as well as linear ones, without any gradient. The centre is the centroid of the drive above half the peak
    over the 5 x 5 positions around the peak; NaN where no patch changes the response.
    """
    h, w = int(shape[0]), int(shape[1])
    diameter = max(3.0, min(h, w) / 4) if diameter is None else float(diameter)
    step = max(1.0, diameter / 3) if step is None else float(step)
    sfs = [1.5 / diameter, 3.0 / diameter] if sfs is None else list(sfs)
    if n_phases < 4:
        raise ValueError(f"n_phases must be >= 4 to measure F1, got {n_phases}")
    rows, cols = np.arange(0, h - 1e-9, step), np.arange(0, w - 1e-9, step)
    phases = np.arange(n_phases) * 2 * np.pi / n_phases
    blank = _call(fn, np.zeros((1, h, w), np.float32))[0]
    drive = np.zeros((len(blank), len(rows), len(cols)))
    for a, r in enumerate(rows):
        imgs = np.stack([grating((h, w), o, f, p, contrast, (r, c), diameter)
                         for c in cols for o in orientations for f in sfs for p in phases])
        resp = _call(fn, imgs).reshape(len(cols), len(orientations) * len(sfs), n_phases, -1)
        f0, f1 = f0_f1(np.moveaxis(resp, 2, -1), phases)  # (cols, gratings, N)
        drive[:, a, :] = np.maximum(np.abs(f0 - blank), f1).max(1).T
    return _peak_centroids(drive, rows, cols)


def _peak_centroids(drive: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Centroid of the drive above half the peak over the 5 x 5 positions around it; NaN for a flat map."""
    out = np.full((len(drive), 2), np.nan)
    for i, d in enumerate(drive):
        if not d.max() - d.min() > 1e-9 * max(1.0, abs(d.max())):
            continue
        a, b = np.unravel_index(int(np.argmax(d)), d.shape)
        ra, ca = slice(max(a - 2, 0), a + 3), slice(max(b - 2, 0), b + 3)
        wgt = np.clip(d[ra, ca] - 0.5 * d[a, b], 0, None)
        rr, cc = np.meshgrid(rows[ra], cols[ca], indexing="ij")
        out[i] = (wgt * rr).sum() / wgt.sum(), (wgt * cc).sum() / wgt.sum()
    return out
