"""Liu et al. 2017 salamander ganglion cells under a 200x150 binary checkerboard at 30 Hz (recording 1, 78 cells).

Only spike counts are stored; the running stimulus is regenerated from its seed with the Gollisch lab's PyPI
package ``retinawhitenoise`` (one stream seeded -10000, trial ``k`` = frames ``k*1500 .. k*1500+1499``; the
frozen sequence is re-seeded -20000 and is checked against ``stim_frz.h5``). Regeneration costs seconds per trial,
so the loader:

1. finds each chosen cell's receptive field from a spike-triggered average (STA) on the first ``sta_trials``
   running trials (full frames, computed while regenerating);
2. crops a ``window x window`` patch around each receptive field from every trial;
3. caches the crops of **all 78 cells** on disk as packed bits, one file per trial, written atomically (temp file +
   ``os.replace``) with a checksum, keyed by seed, STA trials and window size, so the regeneration is paid once
   for any choice of cells (about 2.7 s per trial on 2 cores, 10 minutes for all 219; 3.7 MB per trial at a
   16-stixel window); the STA maps are cached the same way. A corrupt file is detected and rebuilt.

Frames are returned as (frame, y, x) with y (150) as rows and x (200) as columns, values -1/+1.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import scipy.io
from tqdm.auto import tqdm

from neurobook.data.fetch import ChecksumError, data_file
from neurobook.data.paths import cache_dir
from neurobook.data.retina import RetinaRecording, crop_corners, sta_peak
from neurobook.data.stimulus_generators import binary_trials
from neurobook.files import atomic_path

__all__ = ["FRAME_SHAPE", "NAME", "N_CELLS", "firing_rates", "frozen_frames", "load_liu2017", "running_frames"]

NAME = "liu2017_salamander_rgc"
N_CELLS, N_TRIALS, TRIAL_FRAMES, FROZEN_FRAMES = 78, 219, 1500, 300
FRAME_SHAPE = (150, 200)  # (y rows, x columns)
RUNNING_SEED, FROZEN_SEED = -10000, -20000
STA_LAGS = (3, 4, 5, 6)  # frames before the spike where the salamander STAs peak (mostly 4-5)


def _recreate(seed: int, n_frames: int, n_trials: int):
    yield from binary_trials("retinawhitenoise_binary", seed, n_frames, n_trials, FRAME_SHAPE)


def running_frames(n_trials: int):
    """Generator of the first ``n_trials`` running-noise trials, each (1500, 150, 200) int8."""
    yield from _recreate(RUNNING_SEED, TRIAL_FRAMES, n_trials)


def frozen_frames(n_frames: int = FROZEN_FRAMES) -> np.ndarray:
    """The first ``n_frames`` of the frozen sequence (n_frames, 150, 200) int8."""
    return next(_recreate(FROZEN_SEED, n_frames, 1))


def check_frozen(data_dir: str | os.PathLike | None = None, n_frames: int = FROZEN_FRAMES) -> np.ndarray:
    """Regenerate the first ``n_frames`` frozen frames and check them against ``stim_frz.h5``; returns them."""
    import h5py

    path = data_file(NAME, "stim_frz.h5", data_dir)
    with h5py.File(path, "r") as f:
        stored = np.transpose(f["stim_frz"][:, :, :n_frames], (2, 1, 0))
    regenerated = frozen_frames(n_frames)
    if not np.array_equal(stored, regenerated):
        raise ChecksumError(f"the regenerated frozen frames differ from {path} on "
                            f"{(stored != regenerated).mean():.2%} of values: wrong retinawhitenoise version?")
    return regenerated


def _counts(data_dir) -> tuple[np.ndarray, np.ndarray]:
    path = data_file(NAME, "cell_data_01_NC.mat", data_dir)
    try:
        mat = scipy.io.loadmat(path)
        spk1, spk2 = mat["spk1"], mat["spk2"]
    except (KeyError, ValueError, OSError) as err:
        raise ChecksumError(f"{path} could not be read as the Liu 2017 cell data ({err}); download it again") from err
    if spk1.shape != (N_CELLS, TRIAL_FRAMES, N_TRIALS) or spk2.shape != (N_CELLS, FROZEN_FRAMES, N_TRIALS):
        raise ValueError(f"{path}: unexpected shapes {spk1.shape}, {spk2.shape}")
    return spk1, spk2


def _check_cells(cells) -> np.ndarray:
    cells = np.atleast_1d(np.asarray(cells))
    if cells.dtype.kind not in "iu" or cells.size == 0 or cells.min() < 0 or cells.max() >= N_CELLS:
        raise ValueError(f"cells must be indices in 0..{N_CELLS - 1}; got {cells.tolist()}")
    if len(np.unique(cells)) != len(cells):
        raise ValueError(f"cells must not repeat; got {cells.tolist()}")
    return cells.astype(int)


def _windows(centres: np.ndarray, window: int) -> np.ndarray:
    """(n, 2) top-left corners of ``window``-sized crops centred on ``centres``, kept inside the frame."""
    return crop_corners(centres, window, FRAME_SHAPE)


def _atomic_save(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez adds no suffix
        np.savez(f, **arrays)


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _load_crop(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached crops of one trial, or None when missing or corrupt (then it is rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            bits, digest = z["bits"], str(z["sha256"])
        if _digest(bits) != digest:
            return None
        frames = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return (frames.astype(np.int8) * 2 - 1).astype(np.int8)


def _sta_digest(maps: np.ndarray, lags: np.ndarray, centres: np.ndarray) -> str:
    return _digest(np.concatenate([maps.astype(np.float32).ravel(), lags.astype(np.float32).ravel(),
                                   centres.astype(np.float32).ravel()]))


def _save_sta(path: Path, sta_info: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    maps, lags, centres = sta_info[0].astype(np.float32), np.asarray(sta_info[1]), np.asarray(sta_info[2], float)
    _atomic_save(path, maps=maps, lags=lags, centres=centres, sha256=np.array(_sta_digest(maps, lags, centres)))


def _load_sta(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The cached STA maps, peak lags and RF centres of all cells, or None when missing or corrupt (rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            maps, lags, centres, digest = z["maps"], z["lags"], z["centres"], str(z["sha256"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (maps.shape != (N_CELLS, *FRAME_SHAPE) or lags.shape != (N_CELLS,) or centres.shape != (N_CELLS, 2)
            or _sta_digest(maps, lags, centres) != digest):
        return None
    return maps, lags, centres


def _save_crop(path: Path, crops: np.ndarray) -> None:
    bits = np.packbits(crops > 0)
    _atomic_save(path, bits=bits, sha256=np.array(_digest(bits)))


def _sta_peak(sta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the STA at its peak lag (smoothed), the peak lag and the RF centre (row, col)."""
    return sta_peak(sta, STA_LAGS)


def load_liu2017(data_dir: str | os.PathLike | None = None, cells=(0,), n_trials: int = 4, window: int = 16,
                 sta_trials: int | None = None, progress: bool = True) -> list[RetinaRecording]:
    """One :class:`RetinaRecording` per cell in ``cells``, cropped ``window x window`` around its receptive field.

    ``n_trials`` running trials (the first ones of the recording) and all 219 frozen repeats. The receptive field is
    found from the STA over the first ``sta_trials`` (default ``min(n_trials, 20)``) running trials. ``meta`` of
    each recording holds ``sta_map`` (150, 200) at the peak lag, ``peak_lag``, ``rf_centre`` and ``window`` (top,
    left, size).
    """
    cells = _check_cells(cells)
    sta_trials = _check_trials(n_trials, window, sta_trials)
    spk1, spk2 = _counts(data_dir)
    frozen = check_frozen(data_dir)
    root = cache_dir() / NAME / "crops"
    sta_path = root / f"sta_seed{RUNNING_SEED}_trials{sta_trials}.npz"
    sta_info = _load_sta(sta_path)
    crops: dict[int, np.ndarray] = {}
    key = None
    if sta_info is not None:
        key, paths, shape = _crop_key(root, sta_info[2], window, n_trials)
        for k in range(n_trials):
            got = _load_crop(paths[k], shape)
            if got is None:
                break  # the regeneration is sequential: from the first missing trial on, rebuild
            crops[k] = got[cells]
    if len(crops) < n_trials:  # regenerate: one pass over the trials, STA first when needed
        buffer, sta = [], np.zeros((N_CELLS, len(STA_LAGS), *FRAME_SHAPE), np.float32)
        bar = tqdm(running_frames(n_trials), total=n_trials, disable=not progress, desc="regenerating trials")
        for k, frames in enumerate(bar):
            if sta_info is None:
                y = spk1[:, :, k].astype(np.float32)  # (cells, frames)
                flat = frames.reshape(TRIAL_FRAMES, -1).astype(np.float32)
                for j, lag in enumerate(STA_LAGS):
                    sta[:, j] += (y[:, lag:] @ flat[:-lag]).reshape(N_CELLS, *FRAME_SHAPE)
                buffer.append(np.packbits(frames > 0))
                if k + 1 == sta_trials:
                    sta /= np.maximum(spk1[:, :, :sta_trials].sum((1, 2)), 1)[:, None, None, None]
                    sta_info = _sta_peak(sta)
                    _save_sta(sta_path, sta_info)
                    key, paths, shape = _crop_key(root, sta_info[2], window, n_trials)
                    for kk, bits in enumerate(buffer):
                        full = np.unpackbits(bits).reshape(TRIAL_FRAMES, *FRAME_SHAPE).astype(np.int8) * 2 - 1
                        _store(crops, kk, full, paths[kk], shape, sta_info[2], window, cells)
                    buffer = []
                continue
            if k not in crops:
                _store(crops, k, frames, paths[k], shape, sta_info[2], window, cells)
    return _recordings(cells, crops, spk1, spk2, frozen, sta_info, window, sta_trials, key)


def _check_trials(n_trials: int, window: int, sta_trials: int | None) -> int:
    """Check the trial and window arguments of :func:`load_liu2017`; the number of STA trials to use."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or not 2 <= n_trials <= N_TRIALS:
        raise ValueError(f"n_trials must be an int in 2..{N_TRIALS}; got {n_trials!r}")
    if isinstance(window, bool) or not isinstance(window, int) or not 8 <= window <= min(FRAME_SHAPE):
        raise ValueError(f"window must be an int in 8..{min(FRAME_SHAPE)} stixels; got {window!r}")
    sta_trials = min(n_trials, 20) if sta_trials is None else sta_trials
    if not 1 <= sta_trials <= n_trials:
        raise ValueError(f"sta_trials must be in 1..n_trials={n_trials}; got {sta_trials}")
    return sta_trials


def _recordings(cells: np.ndarray, crops: dict[int, np.ndarray], spk1: np.ndarray, spk2: np.ndarray,
                frozen: np.ndarray, sta_info: tuple, window: int, sta_trials: int,
                key: str | None) -> list[RetinaRecording]:
    """One :class:`RetinaRecording` per cell from the cropped running trials and the cropped frozen repeats."""
    n_trials = len(crops)
    maps, lags, centres = sta_info
    corners = _windows(centres[cells], window)
    recordings = []
    for i, c in enumerate(cells):
        recordings.append(RetinaRecording(
            [crops[k][i] for k in range(n_trials)],
            [spk1[c, :, k][:, None].astype(np.float32) for k in range(n_trials)],
            frozen[:, corners[i, 0] : corners[i, 0] + window, corners[i, 1] : corners[i, 1] + window].copy(),
            np.transpose(spk2[c : c + 1], (2, 1, 0)).astype(np.float32), 30.0, np.array([c]), NAME,
            {"sta_map": maps[c], "peak_lag": int(lags[c]), "rf_centre": centres[c],
             "window": (int(corners[i, 0]), int(corners[i, 1]), window), "sta_trials": sta_trials,
             "cache_key": key},
        ))
    return recordings


def _crop_key(root: Path, centres: np.ndarray, window: int, n_trials: int):
    """Cache key, per-trial paths and crop shape for the windows of all cells (``centres`` of all 78)."""
    corners = _windows(centres, window)
    spec = json.dumps({"seed": RUNNING_SEED, "cells": "all", "corners": corners.tolist(), "window": window})
    key = hashlib.sha256(spec.encode()).hexdigest()[:16]
    paths = [root / key / f"trial_{k:03d}.npz" for k in range(n_trials)]
    return key, paths, (N_CELLS, TRIAL_FRAMES, window, window)


def _store(crops: dict, k: int, frames: np.ndarray, path: Path, shape, centres: np.ndarray, window: int,
           cells: np.ndarray) -> None:
    """Crop trial ``k``'s full frames around every cell, cache all of them, keep the chosen ``cells``."""
    corners = _windows(centres, window)
    crop = np.stack([frames[:, t : t + window, left : left + window] for t, left in corners])
    assert crop.shape == shape
    _save_crop(path, crop)
    crops[k] = crop[cells]


def firing_rates(data_dir: str | os.PathLike | None = None, n_trials: int = N_TRIALS) -> np.ndarray:
    """Mean spikes per second of every cell over the first ``n_trials`` running trials (no frozen repeats)."""
    spk1, _ = _counts(data_dir)
    return spk1[:, :, :n_trials].mean((1, 2)) * 30.0
