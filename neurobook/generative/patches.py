"""Natural colour image patches to train an image prior: Kodak photographs, scikit-image's bundled photographs and
any images the caller adds (e.g. the train-tier stimuli of a neural data set)."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

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
    extra: np.ndarray | None = None,
    crop_range: tuple[int, int] = (64, 192),
    use_skimage: bool = True,
) -> np.ndarray:
    """``n`` random colour patches (n, 3, size, size) float32 in [-1, 1].

    Photographs (Kodak 24, scikit-image's) give random square crops of side in ``crop_range`` pixels, resized to
    ``size``; ``extra`` (m, 3, h, w) images in 0..255 (e.g. the V4 stimuli) are resized whole and mixed in, one
    third of the patches when given. Horizontal flips double the variety.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    rng = np.random.default_rng(seed)
    photos = kodak_images(data_dir) + (skimage_photographs() if use_skimage else [])
    n_extra = 0
    if extra is not None:
        extra = np.asarray(extra, np.float32)
        if extra.ndim != 4 or extra.shape[1] != 3:
            raise ValueError(f"extra must be colour images (m, 3, h, w) in 0..255; got shape {extra.shape}")
        n_extra = n // 3
    out = np.empty((n, 3, size, size), np.float32)
    lo, hi = crop_range
    for i in range(n - n_extra):
        img = photos[rng.integers(len(photos))]
        c = int(rng.integers(lo, min(hi, *img.shape[1:]) + 1))
        y, x = rng.integers(img.shape[1] - c + 1), rng.integers(img.shape[2] - c + 1)
        out[i] = _resize(img[:, y:y + c, x:x + c], size)
    if n_extra:
        pick = rng.integers(len(extra), size=n_extra)
        out[n - n_extra:] = _resize_batch(extra[pick], size)
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][..., ::-1]
    return np.clip(out / 127.5 - 1.0, -1.0, 1.0)


def _resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(images, np.float32))
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False).numpy()


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    return _resize_batch(image[None], size)[0]
