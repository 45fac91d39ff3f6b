"""Flashed natural patches for model ganglion cells, contrast-normalized inside the receptive field.

Photographs (:func:`neurobook.data.natural_movie.movie_images`: Kodak 24, or scikit-image's offline) are taken as
Weber contrast about their own mean and cut into ``grid x grid`` patches at **full resolution** (one photograph pixel
per checker, no block averaging). Each patch ``P`` is shown inside the support of a receptive-field weighting ``w``
(``w >= 0``, summing to 1; grey outside) and **normalized inside the RF**: with the RF-weighted mean
``m = sum w P`` and RMS ``r = sqrt(sum w (P - m)^2)``,

$$ F = c\\, \\frac{P - m}{r} + u, $$

so that every flash has RF-weighted spatial contrast exactly ``c`` (``contrast``) about an RF-weighted mean ``u``.
``u`` is the patch's own RF-weighted mean scaled by one factor for all flashes (from a fixed sample of patches), so
that its RMS over the flashes is about ``mean_contrast`` (0: the mean is removed and only spatial structure inside the
RF is left). Patches whose raw RF
contrast ``r`` is below ``min_rf_contrast`` (sky, walls) are skipped. Values beyond the display's range
(``|F| > max_value``) are clipped and the normalization redone until it is exact within the range (natural patches
are heavy-tailed: at the default contrast 0.4, 4% of the aperture's pixels get clipped, a few in 59% of the patches;
the fraction is kept per patch).

The **linear-equivalent uniform patch** (Turner & Rieke 2016, Neuron 90:1257) of a frame is a uniform patch inside
the same support whose ``w``-weighted mean equals the frame's: a linear cell with receptive field ``w`` responds to
both identically, and only a nonlinear (subunit) cell tells them apart. :func:`simulate_flashes` makes it for each
cell with the cell's own receptive field.

Each patch is flashed for ``flash_frames`` frames after ``grey_frames`` of grey (0). :func:`model_cells` rebuilds the
model ganglion cells of a white-noise :func:`~neurobook.data.retina_sim.simulate_retina` recording (the same
subunits, weights, polarity and output gain, checked against its true rates) and :func:`simulate_flashes` shows them
the flashes: running trials for training and a frozen flash sequence repeated ``n_repeats`` times, with the true
rate, so that the exact ceiling is ``corr(true rate, PSTH)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from neurobook.checks import check_positive_int
from neurobook.data.retina import RetinaRecording
from neurobook.data.retina_sim import cell_rates

__all__ = ["FlashPatches", "ModelCells", "flash_sequence", "gaussian_weighting", "model_cells", "natural_patches",
           "rf_contrast", "simulate_flashes", "uniform_equivalent"]


def gaussian_weighting(grid: int, sigma: float = 1.7, center: tuple[float, float] | None = None,
                       radius: float = 2.5) -> np.ndarray:
    """A Gaussian receptive-field weighting (grid, grid), zero beyond ``radius`` sigmas, summing to 1.

    ``grid``: checkers per side; ``sigma``: the Gaussian's width in checkers (the simulated cells' receptive fields
    have the second moment of a Gaussian of sigma 1.4-1.9); ``center``: (row, col), default the grid centre;
    ``radius``: where the weighting (and so the aperture of the flashes) ends, in sigmas.
    """
    check_positive_int("grid", grid)
    if not (sigma > 0 and radius > 0):
        raise ValueError(f"sigma and radius must be > 0; got {sigma} and {radius}")
    cy, cx = ((grid - 1) / 2, (grid - 1) / 2) if center is None else center
    yy, xx = np.mgrid[:grid, :grid]
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    w = np.exp(-d2 / (2 * sigma**2)) * (d2 <= (radius * sigma) ** 2)
    if w.sum() <= 0:
        raise ValueError(f"the weighting at {center} with sigma={sigma}, radius={radius} misses the grid")
    return w / w.sum()


def _check_weighting(weighting: np.ndarray) -> np.ndarray:
    w = np.asarray(weighting, np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"weighting must be a square (grid, grid) array; got shape {w.shape}")
    if not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
        raise ValueError("weighting must be finite, >= 0 and not all zero")
    return w / w.sum()


def rf_contrast(frames: np.ndarray, weighting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RF-weighted mean and RMS contrast about it, ``(m, r)`` each (T,), of frames (T, grid, grid)."""
    w = _check_weighting(weighting)
    x = np.asarray(frames, np.float64)
    if x.ndim != 3 or x.shape[1:] != w.shape:
        raise ValueError(f"frames must be (T, {w.shape[0]}, {w.shape[1]}); got shape {x.shape}")
    m = np.einsum("thw,hw->t", x, w)
    r = np.sqrt(np.einsum("thw,hw->t", (x - m[:, None, None]) ** 2, w))
    return m, r


def uniform_equivalent(frames: np.ndarray, weighting: np.ndarray, support: np.ndarray | None = None) -> np.ndarray:
    """The linear-equivalent uniform frames (Turner & Rieke 2016), float32 like ``frames`` (T, grid, grid).

    Each frame becomes a uniform patch on ``support`` (a boolean (grid, grid) mask, default where ``weighting`` > 0;
    grey elsewhere) whose value ``sum(w F) / sum_support(w)`` gives a linear cell with receptive field ``weighting``
    the same drive as the frame. Grey frames stay grey.
    """
    w = _check_weighting(weighting)
    support = w > 0 if support is None else np.asarray(support, bool)
    if support.shape != w.shape:
        raise ValueError(f"support must be a {w.shape} mask like the weighting; got shape {support.shape}")
    inside = float(w[support].sum())
    if inside <= 0:
        raise ValueError("the weighting is zero everywhere on the support")
    m, _ = rf_contrast(frames, w)
    return (m[:, None, None] / inside * support).astype(np.float32)


@dataclass
class FlashPatches:
    """Normalized natural patches and where they came from.

    ``patches`` (n, grid, grid) float32; ``image_index`` (n,) and ``positions`` (n, 2) (top-left corner, pixels) of
    each patch in its photograph; ``raw_mean`` and ``raw_rf_contrast`` (n,) the patch's RF-weighted Weber mean and RMS
    before normalization; ``clipped`` (n,) the fraction of its aperture's pixels that were clipped to the display's
    range; ``weighting`` the RF weighting used; ``source`` of the photographs.
    """

    patches: np.ndarray
    image_index: np.ndarray
    positions: np.ndarray
    raw_mean: np.ndarray
    raw_rf_contrast: np.ndarray
    clipped: np.ndarray
    weighting: np.ndarray
    source: str


def _weber(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, np.float64)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    return img / max(float(img.mean()), 1e-12) - 1.0


def natural_patches(n: int, weighting: np.ndarray, *, contrast: float = 0.4, mean_contrast: float = 0.08,
                    images: list[np.ndarray] | None = None, data_dir: str | os.PathLike | None = None,
                    min_rf_contrast: float = 0.05, max_value: float = 1.0, seed: int = 0,
                    max_tries: int = 200) -> FlashPatches:
    """``n`` full-resolution natural patches normalized inside the RF (see the module docstring).

    ``weighting``: the RF weighting (grid, grid), >= 0; the patch is shown where it is > 0. ``contrast``: the
    RF-weighted RMS contrast about the RF mean of every patch (the +-1 checkerboard has 1). ``mean_contrast``: the RMS
    over patches of their RF-weighted means (0: removed). ``images``: grayscale photographs (default
    :func:`~neurobook.data.natural_movie.movie_images` of ``data_dir``). ``min_rf_contrast``: the least raw Weber RF
    contrast of a patch that is used. ``max_value``: the largest ``|value|`` a flash may have (the display's range;
    beyond it values are clipped and the patch normalized again).
    ``seed``: which patches. ``max_tries``: candidate patches drawn per accepted one before giving up.
    """
    check_positive_int("n", n)
    check_positive_int("max_tries", max_tries)
    w = _check_weighting(weighting)
    if not (contrast > 0 and mean_contrast >= 0 and min_rf_contrast > 0 and max_value > 0):
        raise ValueError("need contrast > 0, mean_contrast >= 0, min_rf_contrast > 0 and max_value > 0; got "
                         f"{contrast}, {mean_contrast}, {min_rf_contrast}, {max_value}")
    if contrast > max_value:
        raise ValueError(f"contrast ({contrast}) cannot exceed max_value ({max_value})")
    source = "given"
    if images is None:
        from neurobook.data.natural_movie import movie_images

        images, source = movie_images(data_dir)
    grid = w.shape[0]
    photos = [_weber(im) for im in images]
    if not photos or any(min(p.shape) < grid for p in photos):
        raise ValueError(f"need at least one photograph, each at least {grid} pixels on each side")
    support = w > 0
    scale = mean_contrast / _reference_mean_rms(photos, w, min_rf_contrast) if mean_contrast > 0 else 0.0
    rng = np.random.default_rng([seed, 11])
    keep, idx, pos, means, rms, clipped = [], [], [], [], [], []
    tries = 0
    while len(keep) < n:
        tries += 1
        if tries > max_tries * n:
            raise ValueError(f"found only {len(keep)} of {n} patches with RF contrast >= {min_rf_contrast} that can be "
                             f"normalized within +-{max_value} at contrast {contrast} and mean_contrast "
                             f"{mean_contrast}: lower them, raise max_value or give other images")
        k, top, left, p, m, r = _candidate(photos, grid, w, rng)
        if r < min_rf_contrast:
            continue
        f, n_clipped = _normalize(p, w, support, contrast, scale * m, max_value)
        if f is None:
            continue
        keep.append(f)
        idx.append(k)
        pos.append((top, left))
        means.append(m)
        rms.append(r)
        clipped.append(n_clipped / support.sum())
    return FlashPatches(np.stack(keep).astype(np.float32), np.asarray(idx), np.asarray(pos), np.asarray(means),
                        np.asarray(rms), np.asarray(clipped), w, source)


def _normalize(p: np.ndarray, w: np.ndarray, support: np.ndarray, contrast: float, mean: float,
               max_value: float, n_iter: int = 100) -> tuple[np.ndarray | None, int]:
    """``contrast * (p - m) / r + mean`` on the support, with values beyond ``+-max_value`` clipped and the
    normalization redone until it is exact and in range (None when that does not settle: the patch is skipped);
    also the number of support pixels that were clipped."""
    f = p
    touched = np.zeros(p.shape, bool)
    for _ in range(n_iter):
        m = float((w * f).sum())
        r = float(np.sqrt((w * (f - m) ** 2).sum()))
        if r <= 0:
            return None, 0
        f = (contrast * (f - m) / r + mean) * support
        over = np.abs(f) > max_value * (1 + 1e-9)
        if not over.any():
            return f, int(touched.sum())
        touched |= over
        f = np.clip(f, -max_value, max_value)
    return None, 0


def _candidate(photos: list[np.ndarray], grid: int, w: np.ndarray,
               rng: np.random.Generator) -> tuple[int, int, int, np.ndarray, float, float]:
    """A random full-resolution patch: photograph, top, left, the patch, its RF-weighted mean and RMS contrast."""
    k = int(rng.integers(len(photos)))
    h, wd = photos[k].shape
    top, left = int(rng.integers(0, h - grid + 1)), int(rng.integers(0, wd - grid + 1))
    p = photos[k][top : top + grid, left : left + grid]
    m = float((w * p).sum())
    return k, top, left, p, m, float(np.sqrt((w * (p - m) ** 2).sum()))


def _reference_mean_rms(photos: list[np.ndarray], w: np.ndarray, min_rf_contrast: float, n: int = 2000) -> float:
    """The RMS of the RF-weighted means of a fixed sample of usable patches: one scale for every call's means."""
    rng = np.random.default_rng([0, 13])
    means = []
    for _ in range(10 * n):  # a few thousand candidates: photographs without structure give up soon
        _, _, _, _, m, r = _candidate(photos, w.shape[0], w, rng)
        if r >= min_rf_contrast:
            means.append(m)
            if len(means) == n:
                break
    return max(float(np.sqrt(np.mean(np.square(means)))) if means else 0.0, 1e-12)


def flash_sequence(patches: np.ndarray, flash_frames: int = 6, grey_frames: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n * (grey_frames + flash_frames), grid, grid) float32: for each patch, ``grey_frames`` of grey (0) then
    the patch for ``flash_frames``; and the index of each flash's first frame (n,)."""
    check_positive_int("flash_frames", flash_frames)
    if isinstance(grey_frames, bool) or not isinstance(grey_frames, int) or grey_frames < 0:
        raise ValueError(f"grey_frames must be an int >= 0, got {grey_frames!r}")
    patches = np.asarray(patches, np.float32)
    if patches.ndim != 3:
        raise ValueError(f"patches must be (n, grid, grid); got shape {patches.shape}")
    period = grey_frames + flash_frames
    frames = np.zeros((len(patches) * period, *patches.shape[1:]), np.float32)
    onsets = np.arange(len(patches)) * period + grey_frames
    for k in range(flash_frames):
        frames[onsets + k] = patches
    return frames, onsets


@dataclass
class ModelCells:
    """The model ganglion cells of a :func:`~neurobook.data.retina_sim.simulate_retina` recording.

    ``profiles`` (n_subunits, grid, grid) all cells' subunit profiles; ``temporal_filter`` (n_lags,); ``cells`` one
    dict per cell (``subunits`` indices into ``profiles``, ``weights``, ``polarity``, ``threshold``, ``slope``,
    ``offset``); ``gain`` (n_cells,) the output gain calibrated on the checkerboard; ``cell_ids``; ``meta`` the
    recording's per-cell truth (subunits, weights, polarity, layout).
    """

    profiles: np.ndarray
    temporal_filter: np.ndarray
    cells: list[dict]
    gain: np.ndarray
    cell_ids: np.ndarray
    meta: dict

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def grid(self) -> int:
        return int(self.profiles.shape[-1])

    def receptive_fields(self) -> np.ndarray:
        """Each cell's linear receptive field ``sum_j w_j k_j`` (n_cells, grid, grid), summing to 1."""
        rf = np.stack([np.tensordot(c["weights"], self.profiles[c["subunits"]], 1) for c in self.cells])
        return rf / rf.sum((1, 2), keepdims=True)

    def rates(self, frames: np.ndarray) -> np.ndarray:
        """True rates (T, n_cells) in spikes per bin on any float frames (T, grid, grid), starting from grey."""
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != self.profiles.shape[1:]:
            raise ValueError(f"frames must be (T, {self.grid}, {self.grid}); got shape {frames.shape}")
        return cell_rates(frames, self.profiles, self.temporal_filter, self.cells) * self.gain


def model_cells(recording: RetinaRecording, *, mean_rate: float = 0.3, threshold: float = 0.3,
                output_slope: float = 6.0, output_offset: float = 0.35) -> ModelCells:
    """The cells of a checkerboard :func:`~neurobook.data.retina_sim.simulate_retina` recording, to show other frames.

    ``recording``: a simulated checkerboard recording (``stimulus="checkerboard"``) with its frozen repeats;
    ``mean_rate``, ``threshold``, ``output_slope``, ``output_offset``: the values passed to ``simulate_retina``
    (its defaults here too). The gain is recomputed as ``simulate_retina`` does (``mean_rate`` over the mean rate on
    the running checkerboard trials), and the rebuilt cells must reproduce ``meta["true_rate_frozen"]``: a
    ``ValueError`` says when they do not (other arguments than those of the simulation).
    """
    meta = recording.meta
    if (recording.name != "simulated" or recording.frozen is None or "subunits" not in meta
            or "true_rate_frozen" not in meta):
        raise ValueError("recording must come from neurobook.data.retina_sim.simulate_retina (its meta holds the "
                         "subunits and true rates)")
    if meta.get("stimulus", "checkerboard") != "checkerboard":
        raise ValueError(f"recording must be a checkerboard simulation (its gain is calibrated there); got stimulus "
                         f"{meta.get('stimulus')!r}")
    if not mean_rate > 0:
        raise ValueError(f"mean_rate must be > 0 spikes per bin, got {mean_rate}")
    profiles = np.concatenate([np.asarray(k, np.float64) for k in meta["subunits"]])
    cells, start = [], 0
    for k, wts, pol in zip(meta["subunits"], meta["subunit_weights"], meta["polarity"], strict=True):
        cells.append({"subunits": np.arange(start, start + len(k)), "weights": np.asarray(wts, np.float64),
                      "polarity": float(pol), "threshold": threshold, "slope": output_slope,
                      "offset": output_offset})
        start += len(k)
    f = np.asarray(meta["temporal_filter"], np.float64)
    raw = np.concatenate([cell_rates(fr, profiles, f, cells) for fr in recording.frames])
    gain = mean_rate / raw.mean(0)
    out = ModelCells(profiles, f, cells, gain, np.asarray(recording.cell_ids),
                     {k: meta[k] for k in ("subunits", "subunit_weights", "polarity", "layout") if k in meta})
    check = out.rates(recording.frozen).T
    if not np.allclose(check, meta["true_rate_frozen"], rtol=1e-4, atol=1e-6):
        raise ValueError("the rebuilt cells do not reproduce the recording's true rates: pass the mean_rate, "
                         "threshold, output_slope and output_offset given to simulate_retina")
    return out


def simulate_flashes(cells: ModelCells, weighting: np.ndarray | None = None, *, n_trials: int = 4,
                     trial_flashes: int = 120, frozen_flashes: int = 60, n_repeats: int = 15, flash_frames: int = 6,
                     grey_frames: int = 6, contrast: float = 0.4, mean_contrast: float = 0.08,
                     images: list[np.ndarray] | None = None, data_dir: str | os.PathLike | None = None,
                     min_rf_contrast: float = 0.05, max_value: float = 1.0, frame_rate: float = 30.0,
                     seed: int = 0) -> RetinaRecording:
    """The model cells shown flashed natural patches: a :class:`~neurobook.data.retina.RetinaRecording`.

    ``cells``: from :func:`model_cells`. ``weighting``: the RF weighting of the normalization and the aperture
    (default :func:`gaussian_weighting` at the grid centre, sigma 1.7). ``n_trials`` running trials of
    ``trial_flashes`` flashes each (for training); a frozen sequence of ``frozen_flashes`` flashes repeated
    ``n_repeats`` times with fresh Poisson noise. ``flash_frames``, ``grey_frames``: see :func:`flash_sequence`;
    ``contrast``, ``mean_contrast``, ``images``, ``data_dir``, ``min_rf_contrast``, ``max_value``: see
    :func:`natural_patches`. ``seed``: patches and spikes (the cells are fixed by ``cells``).

    ``meta`` holds the cells' truth, ``true_rate_frozen`` (n_cells, T_f), the linear-equivalent control of the
    frozen sequence for each cell (``uniform_frozen`` (n_cells, T_f, grid, grid): :func:`uniform_equivalent` with the
    cell's own receptive field on the aperture, so that a linear cell would respond to it exactly as to the natural
    flashes; ``true_rate_uniform`` (n_cells, T_f) and ``uniform_counts`` (n_cells, n_repeats, T_f) of each cell on
    its own), ``frozen_patches`` (:class:`FlashPatches`) and ``flash``: the ``weighting``, the ``flash_onsets`` of
    the frozen sequence, the photographs' ``source`` and the parameters. (Per-cell entries lead with the cell axis,
    so that :meth:`~neurobook.data.retina.RetinaRecording.select_cells` keeps them.)
    """
    for name, value in (("n_trials", n_trials), ("trial_flashes", trial_flashes), ("frozen_flashes", frozen_flashes),
                        ("n_repeats", n_repeats)):
        check_positive_int(name, value)
    if not frame_rate > 0:
        raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
    w = gaussian_weighting(cells.grid) if weighting is None else _check_weighting(weighting)
    if w.shape != (cells.grid, cells.grid):
        raise ValueError(f"weighting must be ({cells.grid}, {cells.grid}) like the cells' grid; got {w.shape}")
    source = "given"
    if images is None:
        from neurobook.data.natural_movie import movie_images

        images, source = movie_images(data_dir)
    kw = dict(contrast=contrast, mean_contrast=mean_contrast, images=images, min_rf_contrast=min_rf_contrast,
              max_value=max_value)
    train = natural_patches(n_trials * trial_flashes, w, seed=seed * 1000 + 1, **kw)
    frozen_patches = natural_patches(frozen_flashes, w, seed=seed * 1000 + 2, **kw)
    running = [flash_sequence(train.patches[k * trial_flashes : (k + 1) * trial_flashes], flash_frames,
                              grey_frames)[0] for k in range(n_trials)]
    frozen, onsets = flash_sequence(frozen_patches.patches, flash_frames, grey_frames)
    rf = cells.receptive_fields()
    uniform = np.stack([uniform_equivalent(frozen, rf[c], support=w > 0) for c in range(cells.n_cells)])
    spike_rng = np.random.default_rng([seed, 12])
    counts = [spike_rng.poisson(cells.rates(fr)).astype(np.float32) for fr in running]
    rate_frozen = cells.rates(frozen)
    rate_uniform = np.stack([cells.rates(uniform[c])[:, c] for c in range(cells.n_cells)], 1)
    frozen_counts = spike_rng.poisson(np.broadcast_to(rate_frozen, (n_repeats, *rate_frozen.shape)))
    uniform_counts = spike_rng.poisson(np.broadcast_to(rate_uniform, (n_repeats, *rate_uniform.shape)))
    meta = {**cells.meta, "stimulus": "natural_flash",
            "true_rate_frozen": np.ascontiguousarray(rate_frozen.T, dtype=np.float32),
            "true_rate_uniform": np.ascontiguousarray(rate_uniform.T, dtype=np.float32),
            "uniform_frozen": uniform, "uniform_counts": np.ascontiguousarray(uniform_counts.transpose(2, 0, 1),
                                                                              dtype=np.float32),
            "frozen_patches": frozen_patches, "temporal_filter": cells.temporal_filter,
            "flash": {"weighting": w, "flash_onsets": onsets, "source": source, "flash_frames": flash_frames,
                      "grey_frames": grey_frames, "contrast": contrast, "mean_contrast": mean_contrast,
                      "min_rf_contrast": min_rf_contrast, "max_value": max_value}}
    return RetinaRecording(running, counts, frozen, frozen_counts.astype(np.float32), frame_rate, cells.cell_ids,
                           "simulated", meta)
