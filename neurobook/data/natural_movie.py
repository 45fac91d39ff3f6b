"""Natural movies for model retinas: grayscale photographs seen through a small window that follows an eye path.

The photographs are the Kodak 24 set (``kodak24`` through :func:`neurobook.data.fetch.data_file`) or, when that data
set is not available, scikit-image's bundled photographs. Each photograph is made grayscale, block-averaged so that
``scale`` image pixels make one stimulus pixel (checker), and scaled to zero mean and RMS contrast ``contrast``
(in the units of the +-1 checkerboard, whose RMS contrast is 1; the default 0.35 is typical of natural images).
The window (``grid x grid``) moves with **fixational jitter** (a random walk of ``jitter`` checkers per frame, pulled
back towards the fixation point) and jumps with **saccades** (a new fixation point, on a new photograph with
probability ``switch_prob``) at ``saccade_rate`` per second. Positions are sub-checker; frames are sampled
bilinearly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from neurobook.checks import check_positive_int

__all__ = ["NaturalMovie", "movie_images", "natural_movie"]

KODAK = tuple(f"kodim{i:02d}.png" for i in range(1, 25))
SKIMAGE = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "page", "brick", "grass", "gravel")


def _gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, np.float64)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    return img


def movie_images(data_dir: str | os.PathLike | None = None, source: str = "auto") -> tuple[list[np.ndarray], str]:
    """Grayscale photographs (float64, 0..255) and the name of their source.

    ``source``: ``kodak24``, ``skimage`` or ``auto`` (Kodak when its files are found, else scikit-image's).
    """
    if source not in ("auto", "kodak24", "skimage"):
        raise ValueError(f"source must be 'auto', 'kodak24' or 'skimage'; got {source!r}")
    if source in ("auto", "kodak24"):
        from PIL import Image

        from neurobook.data.fetch import DataNotFoundError, data_file

        try:
            return [_gray(np.asarray(Image.open(data_file("kodak24", f, data_dir)).convert("L"))) for f in KODAK], \
                "kodak24"
        except DataNotFoundError:
            if source == "kodak24":
                raise
    from skimage import data as skdata

    images = []
    for name in SKIMAGE:
        try:
            images.append(_gray(getattr(skdata, name)()))
        except Exception:  # noqa: BLE001  (a photograph missing from the wheel is skipped)
            continue
    if not images:
        raise RuntimeError("no natural images: neither kodak24 nor scikit-image's photographs are available")
    return images, "skimage"


def _prepare(img: np.ndarray, scale: int, contrast: float) -> np.ndarray:
    h, w = (s // scale * scale for s in img.shape)
    small = img[:h, :w].reshape(h // scale, scale, w // scale, scale).mean((1, 3))
    small = small - small.mean()
    return small * (contrast / max(float(small.std()), 1e-12))


@dataclass
class NaturalMovie:
    """Frames (T, grid, grid) float32; the window's top-left corner (T, 2) in checkers; image index per frame;
    ``saccade`` (T,) True on frames that start a new fixation; ``source`` of the photographs."""

    frames: np.ndarray
    positions: np.ndarray
    image_index: np.ndarray
    saccade: np.ndarray
    source: str


def natural_movie(n_frames: int, grid: int = 12, *, seed: int = 0, images: list[np.ndarray] | None = None,
                  data_dir: str | os.PathLike | None = None, scale: int = 4, contrast: float = 0.35,
                  jitter: float = 0.25, saccade_rate: float = 1.5, switch_prob: float = 0.3,
                  frame_rate: float = 30.0) -> NaturalMovie:
    """A seeded natural movie of ``n_frames`` frames of ``grid x grid`` checkers (see the module docstring).

    ``images``: grayscale photographs to use (default :func:`movie_images`); each must be at least ``grid + 2``
    checkers wide after block-averaging by ``scale``.
    """
    for name, value in (("n_frames", n_frames), ("grid", grid), ("scale", scale)):
        check_positive_int(name, value)
    if not (jitter >= 0 and saccade_rate >= 0 and 0 <= switch_prob <= 1 and contrast > 0 and frame_rate > 0):
        raise ValueError("need jitter >= 0, saccade_rate >= 0, 0 <= switch_prob <= 1, contrast > 0, frame_rate > 0; "
                         f"got {jitter}, {saccade_rate}, {switch_prob}, {contrast}, {frame_rate}")
    source = "given"
    if images is None:
        images, source = movie_images(data_dir)
    prepared = [_prepare(_gray(im), scale, contrast) for im in images]
    if any(min(p.shape) < grid + 2 for p in prepared):
        raise ValueError(f"every image must be at least {(grid + 2) * scale} pixels on each side for grid={grid} "
                         f"and scale={scale}")
    rng = np.random.default_rng([seed, 7])
    p_saccade = min(1.0, saccade_rate / frame_rate)
    positions = np.zeros((n_frames, 2))
    image_index = np.zeros(n_frames, int)
    saccade = np.zeros(n_frames, bool)

    def new_fixation(img: int) -> np.ndarray:
        h, w = prepared[img].shape
        return np.array([rng.uniform(1, h - grid - 1), rng.uniform(1, w - grid - 1)])

    img = int(rng.integers(len(prepared)))
    fixation = new_fixation(img)
    pos = fixation.copy()
    for t in range(n_frames):
        if t == 0 or rng.random() < p_saccade:
            if t and rng.random() < switch_prob:
                img = int(rng.integers(len(prepared)))
            fixation = new_fixation(img)
            pos = fixation.copy()
            saccade[t] = True
        else:
            pos = pos + rng.normal(0, jitter, 2) - 0.05 * (pos - fixation)
            h, w = prepared[img].shape
            pos = np.clip(pos, 0, [h - grid - 1, w - grid - 1])
        positions[t], image_index[t] = pos, img
    frames = np.empty((n_frames, grid, grid), np.float32)
    yy, xx = np.mgrid[:grid, :grid].astype(np.float64)
    for k in np.unique(image_index):
        sel = np.flatnonzero(image_index == k)
        coords = np.stack([positions[sel, 0, None, None] + yy, positions[sel, 1, None, None] + xx])
        frames[sel] = map_coordinates(prepared[k], coords.reshape(2, -1), order=1).reshape(len(sel), grid, grid)
    return NaturalMovie(frames, positions, image_index, saccade, source)
