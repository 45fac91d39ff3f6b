"""Natural colour image patches to train an image prior: Kodak photographs, scikit-image's bundled photographs and
any images the caller adds (e.g. the train-tier stimuli of neural data sets, colour or grayscale)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from neurobook.checks import check_positive_int
from neurobook.data.fetch import data_file

KODAK = tuple(f"kodim{i:02d}.png" for i in range(1, 25))


def kodak_images(data_dir: str | os.PathLike | None = None) -> list[np.ndarray]:
    """The 24 Kodak photographs as (3, H, W) float32 arrays in 0..255."""
    return [np.asarray(Image.open(data_file("kodak24", f, data_dir)).convert("RGB"), np.float32).transpose(2, 0, 1)
            for f in KODAK]


def skimage_photographs() -> list[np.ndarray]:
    """Colour photographs bundled with scikit-image (empty list if it is not installed)."""
    try:
        from skimage import data as skdata
    except ImportError:
        return []
    out = []
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        fn = getattr(skdata, name, None)
        if fn is None:
            continue
        try:
            img = np.asarray(fn(), np.float32)
        except Exception:  # noqa: BLE001  (a photograph missing from the wheel is skipped, not fatal)
            continue
        if img.ndim == 3 and img.shape[2] == 3:
            out.append(img.transpose(2, 0, 1))
    return out


def natural_patches(
    n: int,
    size: int,
    *,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    extra: np.ndarray | Sequence[np.ndarray] | None = None,
    crop_range: tuple[int, int] = (64, 192),
    use_skimage: bool = True,
    extra_fraction: float = 1 / 3,
) -> np.ndarray:
    """``n`` random colour patches (n, 3, size, size) float32 in [-1, 1].

    Photographs (Kodak 24, scikit-image's) give random square crops of side in ``crop_range`` pixels, resized to
    ``size``; ``extra`` images in 0..255, one array or a list of arrays, each colour (m, 3, h, w) or grayscale
    (m, h, w) (copied to the three channels), are centre-cropped to a square, resized whole and mixed in:
    ``extra_fraction`` of the patches when given (a third by default), drawn uniformly over all extra images.
    Horizontal flips double the variety.
    """
    check_positive_int("n", n)
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    rng = np.random.default_rng(seed)
    photos = kodak_images(data_dir) + (skimage_photographs() if use_skimage else [])
    extras = _check_extra(extra)
    if not 0 <= extra_fraction <= 1:
        raise ValueError(f"extra_fraction must be in [0, 1], got {extra_fraction}")
    n_extra = round(n * extra_fraction) if extras else 0
    out = np.empty((n, 3, size, size), np.float32)
    lo, hi = crop_range
    for i in range(n - n_extra):
        img = photos[rng.integers(len(photos))]
        c = int(rng.integers(lo, min(hi, *img.shape[1:]) + 1))
        y, x = rng.integers(img.shape[1] - c + 1), rng.integers(img.shape[2] - c + 1)
        out[i] = _resize(img[:, y:y + c, x:x + c], size)
    if n_extra:
        offsets = np.cumsum([0] + [len(a) for a in extras])
        pick = rng.integers(offsets[-1], size=n_extra)
        which = np.searchsorted(offsets, pick, side="right") - 1
        for j, a in enumerate(extras):
            rows = np.flatnonzero(which == j)
            if len(rows):
                out[n - n_extra + rows] = _square_resize(a[pick[rows] - offsets[j]], size)
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][..., ::-1]
    return np.clip(out / 127.5 - 1.0, -1.0, 1.0)


def _check_extra(extra) -> list[np.ndarray]:
    """The extra image arrays as a list, each checked to be colour (m, 3, h, w) or grayscale (m, h, w)."""
    if extra is None:
        return []
    arrays = [extra] if isinstance(extra, np.ndarray) else list(extra)
    for a in arrays:
        if not isinstance(a, np.ndarray) or not (a.ndim == 3 or (a.ndim == 4 and a.shape[1] == 3)) or len(a) == 0:
            raise ValueError("extra images must be colour (m, 3, h, w) or grayscale (m, h, w) arrays in 0..255; "
                             f"got {getattr(a, 'shape', type(a).__name__)}")
    return arrays


def _square_resize(images: np.ndarray, size: int) -> np.ndarray:
    """(m, 3, h, w) or (m, h, w) images -> (m, 3, size, size) float32: centre square crop, then resize."""
    a = np.asarray(images, np.float32)
    if a.ndim == 3:
        a = np.repeat(a[:, None], 3, axis=1)
    side = min(a.shape[2:])
    top, left = (a.shape[2] - side) // 2, (a.shape[3] - side) // 2
    return _resize_batch(a[:, :, top : top + side, left : left + side], size)


def _resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(images, np.float32))
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False).numpy()


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    return _resize_batch(image[None], size)[0]
