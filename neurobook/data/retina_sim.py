"""Model retinal ganglion cells with known bipolar-cell subunits, driven by binary checkerboard white noise.

Each model cell (in the spirit of the biophysical model cells of Yan et al. 2020) pools ``n`` bipolar subunits:

$$ s_j(t) = p \\sum_{\\tau} f(\\tau) \\langle k_j, x(t-\\tau) \\rangle, \\qquad
   r(t) = g\\, \\mathrm{softplus}\\Big(a \\big(\\textstyle\\sum_j w_j [s_j(t) - \\theta]_+ - b\\big)\\Big), \\qquad
   n(t) \\sim \\mathrm{Poisson}(r(t)) $$

with Gaussian spatial profiles ``k_j``, a biphasic temporal filter ``f``, polarity ``p`` (+1 ON, -1 OFF),
rectification at threshold ``theta``, positive weights ``w_j`` and an output nonlinearity scaled so that the mean
rate is ``mean_rate`` spikes per bin. The true rate on the frozen repeats is returned, so the ceiling is exact.
"""

from __future__ import annotations

import numpy as np

from neurobook.checks import check_positive_int
from neurobook.data.retina import RetinaRecording
from neurobook.data.stimulus_generators import binary_trials

__all__ = ["LAYOUTS", "biphasic_filter", "cell_rates", "simulate_retina", "stimulus_seeds", "subunit_layout"]

LAYOUTS = ("hex7", "ring6", "pair2", "random5")


def biphasic_filter(n_lags: int, tau1: float = 1.4, tau2: float = 2.6, ratio: float = 0.7) -> np.ndarray:
    """Difference of two gamma-shaped kernels (bins 0..n_lags-1), unit L2 norm, positive first lobe."""
    t = np.arange(n_lags, dtype=np.float64)
    f = (t / tau1) ** 3 * np.exp(-t / tau1) - ratio * (t / tau2) ** 3 * np.exp(-t / tau2)
    return f / np.linalg.norm(f)


def subunit_layout(layout: str, center: tuple[float, float], spacing: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Subunit centres (n, 2) in (row, col) grid units for a named layout."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    angles = np.deg2rad(np.arange(6) * 60 + rng.uniform(0, 60))
    ring = np.stack([np.sin(angles), np.cos(angles)], 1) * spacing
    if layout == "hex7":
        offsets = np.concatenate([[[0.0, 0.0]], ring])
    elif layout == "ring6":
        offsets = ring
    elif layout == "pair2":
        offsets = ring[[0, 3]] * 0.75
    else:  # random5: rejection sampling with a minimum distance
        offsets = []
        while len(offsets) < 5:
            p = rng.uniform(-1.4 * spacing, 1.4 * spacing, 2)
            if np.hypot(*p) <= 1.4 * spacing and all(np.hypot(*(p - q)) >= 0.9 * spacing for q in offsets):
                offsets.append(p)
        offsets = np.asarray(offsets)
    return np.asarray(center) + offsets


def _gaussian(shape: tuple[int, int], center: np.ndarray, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    g = np.exp(-((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / (2 * sigma**2))
    return g / np.linalg.norm(g)


def _causal_filter(drive: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Causal temporal convolution along axis 0 of (T, n): out[t] = sum_tau f[tau] drive[t - tau]."""
    out = np.zeros_like(drive)
    for tau, weight in enumerate(f):
        out[tau:] += weight * drive[: len(drive) - tau]
    return out


def cell_rates(frames: np.ndarray, profiles: np.ndarray, f: np.ndarray, cells: list[dict]) -> np.ndarray:
    """True rates (T, n_cells) before the output gain, from any frames (T, H, W), starting from grey: subunit
    profiles ``profiles``, temporal filter ``f``, ``cells`` one dict each (see :func:`simulate_retina`)."""
    proj = frames.reshape(len(frames), -1).astype(np.float32) @ profiles.reshape(len(profiles), -1).T
    sub = _causal_filter(proj.astype(np.float64), f)  # (T, n_subunits_total), unit variance (unit-norm k and f)
    out = np.zeros((len(frames), len(cells)))
    for c, cell in enumerate(cells):
        s = cell["polarity"] * sub[:, cell["subunits"]]
        drive = np.maximum(s - cell["threshold"], 0) @ cell["weights"]
        out[:, c] = np.logaddexp(0, cell["slope"] * (drive - cell["offset"]))
    return out


def stimulus_seeds(seed: int) -> dict[str, list[int]]:
    """The ``numpy_binary`` seeds of a simulation's running and frozen checkerboards
    (:mod:`neurobook.data.stimulus_generators`)."""
    return {"stimulus_seed": [seed, 1], "frozen_seed": [seed, 3]}


def simulate_retina(
    n_cells: int = 4,
    grid: int = 12,
    n_trials: int = 6,
    trial_frames: int = 1500,
    frozen_frames: int = 300,
    n_repeats: int = 40,
    n_lags: int = 12,
    mean_rate: float = 0.3,
    sigma: float = 0.9,
    spacing: float = 2.2,
    layouts: tuple[str, ...] = LAYOUTS,
    off_fraction: float = 0.5,
    threshold: float = 0.3,
    output_slope: float = 6.0,
    output_offset: float = 0.35,
    frame_rate: float = 30.0,
    seed: int = 0,
    stimulus: str = "checkerboard",
    movie_kwargs: dict | None = None,
) -> RetinaRecording:
    """Simulate ``n_cells`` model ganglion cells on a ``grid x grid`` checkerboard, each centred in the grid.

    All cells see the same running noise (``n_trials`` x ``trial_frames``) and the same frozen sequence
    (``frozen_frames``, repeated ``n_repeats`` times with fresh Poisson noise). Cell ``c`` uses layout
    ``layouts[c % len(layouts)]``; its polarity is OFF with probability ``off_fraction``. Subunits are rectified
    at ``threshold`` (in units of their standard deviation); the output softplus has slope ``output_slope`` and
    offset ``output_offset``. ``meta`` holds the truth: ``subunits`` (list of (n_j, grid, grid) spatial profiles
    per cell), ``temporal_filter``,
    ``polarity``, ``layout``, ``true_rate_frozen`` (n_cells, T_f) in spikes per bin.

    ``stimulus="movie"`` shows the same cells natural movies instead (running trials and the frozen sequence are
    clips of :func:`neurobook.data.natural_movie.natural_movie`, float32 frames, ``movie_kwargs`` passed on): the
    cells, and their output gain calibrated on the checkerboard, are the same as with ``stimulus="checkerboard"``
    and the same seed, so a model can be trained on one stimulus and tested on the other. ``meta["movie"]`` then
    holds each clip's eye path.
    """
    if stimulus not in ("checkerboard", "movie"):
        raise ValueError(f"stimulus must be 'checkerboard' or 'movie', got {stimulus!r}")
    for name, value in (("n_cells", n_cells), ("grid", grid), ("n_trials", n_trials), ("trial_frames", trial_frames),
                        ("n_repeats", n_repeats), ("n_lags", n_lags)):
        check_positive_int(name, value)
    if grid < 8:
        raise ValueError(f"grid must be at least 8 checkers so that the subunits fit; got {grid}")
    if not mean_rate > 0:
        raise ValueError(f"mean_rate must be > 0 spikes per bin, got {mean_rate}")
    unknown = set(layouts) - set(LAYOUTS)
    if unknown or not layouts:
        raise ValueError(f"layouts must be a non-empty subset of {LAYOUTS}; got {layouts}")
    rng = np.random.default_rng(seed)
    f = biphasic_filter(n_lags)
    center = ((grid - 1) / 2, (grid - 1) / 2)
    profiles, cells, subunits = [], [], []
    for c in range(n_cells):
        layout = layouts[c % len(layouts)]
        centres = subunit_layout(layout, center + rng.uniform(-0.5, 0.5, 2), spacing, rng)
        k = np.stack([_gaussian((grid, grid), p, sigma * rng.uniform(0.9, 1.1)) for p in centres])
        idx = np.arange(len(profiles), len(profiles) + len(k))
        profiles.extend(k)
        subunits.append(k)
        weights = rng.uniform(0.6, 1.0, len(k))
        cells.append({"subunits": idx, "weights": weights / weights.sum(), "layout": layout,
                      "polarity": -1.0 if rng.random() < off_fraction else 1.0,
                      "threshold": threshold, "slope": output_slope, "offset": output_offset})
    profiles = np.stack(profiles)

    spike_rng = np.random.default_rng([seed, 2])
    seeds = stimulus_seeds(seed)
    running = list(binary_trials("numpy_binary", seeds["stimulus_seed"], trial_frames, n_trials, (grid, grid)))
    frozen = next(binary_trials("numpy_binary", seeds["frozen_seed"], frozen_frames, 1, (grid, grid)))
    raw = [cell_rates(fr, profiles, f, cells) for fr in running]
    raw_frozen = cell_rates(frozen, profiles, f, cells)
    gain = mean_rate / np.concatenate(raw).mean(0)  # scale so the mean running (checkerboard) rate is mean_rate
    movie_meta = None
    if stimulus == "movie":
        from neurobook.data.natural_movie import movie_images, natural_movie

        kw = dict(movie_kwargs or {})
        source = "given"
        if "images" not in kw:
            kw["images"], source = movie_images(kw.pop("data_dir", None))
        clips = [natural_movie(trial_frames, grid, seed=seed * 1000 + k, frame_rate=frame_rate, **kw)
                 for k in range(n_trials)]
        frozen_clip = natural_movie(frozen_frames, grid, seed=seed * 1000 + 999, frame_rate=frame_rate, **kw)
        running, frozen = [c.frames for c in clips], frozen_clip.frames
        raw = [cell_rates(fr, profiles, f, cells) for fr in running]
        raw_frozen = cell_rates(frozen, profiles, f, cells)
        movie_meta = {"positions": [c.positions for c in clips], "saccades": [c.saccade for c in clips],
                      "frozen_positions": frozen_clip.positions, "source": source}
    rates = [r * gain for r in raw]
    rate_frozen = raw_frozen * gain
    counts = [spike_rng.poisson(r).astype(np.float32) for r in rates]
    frozen_counts = spike_rng.poisson(np.broadcast_to(rate_frozen, (n_repeats, *rate_frozen.shape)))
    return RetinaRecording(
        running, counts, frozen, frozen_counts.astype(np.float32), frame_rate, np.arange(n_cells), "simulated",
        {"subunits": subunits, "temporal_filter": f, "polarity": np.array([c["polarity"] for c in cells]),
         "layout": np.array([c["layout"] for c in cells]),
         "true_rate_frozen": np.ascontiguousarray(rate_frozen.T, dtype=np.float32),
         "subunit_weights": [c["weights"] for c in cells], "stimulus": stimulus,
         **({"stimulus_generator": {"generator": "numpy_binary", **seeds}} if stimulus == "checkerboard" else {}),
         **({"movie": movie_meta} if movie_meta else {})},
    )
