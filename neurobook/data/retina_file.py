"""Bring your own retina recording: one npz of white-noise frames, spike counts and frozen repeats (Chapter 2's
``-p data_file``), checked field by field and cropped around each cell's receptive field.

The layout (``numpy.savez(path, frames=..., counts=..., frozen=..., frozen_counts=...)``):

==============  ====================================  ==============================================================
key             shape, dtype                          meaning
==============  ====================================  ==============================================================
frames          (n_trials, T, H, W), numeric          the running (non-repeated) stimulus, one frame per time bin:
                                                      e.g. -1/+1 checkerboards (kept as int8), or any contrast
counts          (n_trials, T, n_cells), numeric >= 0  spike counts of every cell in every bin of ``frames``
frozen          (T_f, H, W), numeric                  the frozen sequence, shown identically on every repeat
frozen_counts   (n_repeats, T_f, n_cells), >= 0       counts on each repeat of ``frozen`` (at least 2 repeats: the
                                                      test tier and its noise ceiling)
frame_rate      scalar > 0, optional                  bins (frames) per second; default 30
cell_ids        (n_cells,) int, optional              identifiers of the cells (default 0..n_cells-1)
==============  ====================================  ==============================================================

Running trials may be of any number (at least 3: the models need train and validation trials) and equal length;
pad shorter ones or cut them to the shortest. Each cell's receptive field is found from its spike-triggered average
(STA) on the first ``sta_trials`` running trials at lags of 50-250 ms, and a ``window x window`` crop around it is
taken from every frame (frames no larger than the window are used whole). The result is one
:class:`~neurobook.data.retina.RetinaRecording` per cell, with the same ``meta`` as
:func:`neurobook.data.liu2017.load_liu2017` (``sta_map``, ``peak_lag``, ``rf_centre``, ``window``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurobook.data.npz import UserDataError, read_arrays
from neurobook.data.retina import RetinaRecording, crop_corners, sta_peak

__all__ = ["LAYOUT_HELP", "load_retina_file", "save_retina_file"]

REQUIRED = ("frames", "counts", "frozen", "frozen_counts")
OPTIONAL = ("frame_rate", "cell_ids")
LAYOUT_HELP = ("an npz with frames (n_trials, T, H, W), counts (n_trials, T, n_cells) >= 0, frozen (T_f, H, W), "
               "frozen_counts (n_repeats >= 2, T_f, n_cells) >= 0, optional frame_rate (bins per second) and "
               "cell_ids (n_cells,); see neurobook/data/retina_file.py or the README (Bring your own data)")


def save_retina_file(path: str | os.PathLike, recording: RetinaRecording) -> Path:
    """Write a recording whose cells share full frames (e.g. a simulation) in this module's layout."""
    if recording.frozen is None:
        raise ValueError("the layout needs frozen repeats; this recording has none")
    path = Path(path)
    np.savez(path, frames=np.stack(recording.frames), counts=np.stack(recording.counts), frozen=recording.frozen,
             frozen_counts=recording.frozen_counts, frame_rate=np.float64(recording.frame_rate),
             cell_ids=np.asarray(recording.cell_ids))
    return path


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UserDataError(f"data_file '{path}' does not exist. Expected {LAYOUT_HELP}")
    return read_arrays(path, REQUIRED, OPTIONAL, LAYOUT_HELP)


def _numeric(path: Path, name: str, arr: np.ndarray, shape_text: str, ndim: int, counts: bool = False) -> None:
    if arr.ndim != ndim:
        raise UserDataError(f"{path}: {name} must be {shape_text}; got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserDataError(f"{path}: {name} must be numeric; got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise UserDataError(f"{path}: {name} holds {int(arr.size - np.isfinite(arr).sum())} NaN or infinite "
                            "value(s); every bin needs a finite value")
    if counts and arr.size and arr.min() < 0:
        raise UserDataError(f"{path}: {name} holds negative values (min {arr.min()}); spike counts are >= 0")


def _optional(path: Path, z: dict[str, np.ndarray], n_cells: int) -> tuple[float, np.ndarray]:
    """``frame_rate`` (default 30) and ``cell_ids`` (default 0..n_cells-1), checked."""
    frame_rate = 30.0
    if "frame_rate" in z:
        rate = z["frame_rate"]
        if rate.size != 1 or not np.issubdtype(rate.dtype, np.number) or not float(rate) > 0:
            raise UserDataError(f"{path}: frame_rate must be one number > 0 (bins per second); got {rate!r}")
        frame_rate = float(rate)
    cell_ids = np.arange(n_cells)
    if "cell_ids" in z:
        cell_ids = z["cell_ids"]
        if cell_ids.shape != (n_cells,) or cell_ids.dtype.kind not in "iu":
            raise UserDataError(f"{path}: cell_ids must be ({n_cells},) integers; got {cell_ids.shape} "
                                f"{cell_ids.dtype}")
        if len(np.unique(cell_ids)) != n_cells:
            raise UserDataError(f"{path}: cell_ids must not repeat")
    return frame_rate, cell_ids


def _check(path: Path, z: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float,
                                                          np.ndarray]:
    frames, counts, frozen, frozen_counts = (z[k] for k in REQUIRED)
    _numeric(path, "frames", frames, "(n_trials, T, H, W)", 4)
    _numeric(path, "counts", counts, "(n_trials, T, n_cells)", 3, counts=True)
    _numeric(path, "frozen", frozen, "(T_f, H, W)", 3)
    _numeric(path, "frozen_counts", frozen_counts, "(n_repeats, T_f, n_cells)", 3, counts=True)
    n_trials, n_frames, h, w = frames.shape
    if counts.shape[:2] != (n_trials, n_frames):
        raise UserDataError(f"{path}: counts must be (n_trials, T, n_cells) = ({n_trials}, {n_frames}, n_cells) "
                            f"to match frames {frames.shape}; got {counts.shape}")
    n_cells = counts.shape[2]
    if n_cells < 1:
        raise UserDataError(f"{path}: counts has no cells (shape {counts.shape})")
    if n_trials < 3:
        raise UserDataError(f"{path}: need at least 3 running trials (train and validation); got {n_trials}")
    if frozen.shape[1:] != (h, w):
        raise UserDataError(f"{path}: frozen frames must be {h}x{w} like frames; got {frozen.shape[1:]}")
    if frozen_counts.shape[1:] != (len(frozen), n_cells):
        raise UserDataError(f"{path}: frozen_counts must be (n_repeats, {len(frozen)}, {n_cells}) to match frozen "
                            f"and counts; got {frozen_counts.shape}")
    if len(frozen_counts) < 2:
        raise UserDataError(f"{path}: frozen_counts has {len(frozen_counts)} repeat(s); the test tier and its noise "
                            "ceiling need at least 2 repeats of the frozen sequence")
    frame_rate, cell_ids = _optional(path, z, n_cells)
    silent = np.flatnonzero(counts.sum((0, 1)) == 0)
    if len(silent):
        raise UserDataError(f"{path}: cell(s) {cell_ids[silent].tolist()} fire no spike in the running trials; "
                            "drop them (no receptive field can be found)")
    return frames, counts, frozen, frozen_counts, frame_rate, cell_ids


def _stimulus(a: np.ndarray) -> np.ndarray:
    """int8 for a -1/+1 (or 0/1-free integer) checkerboard, float32 otherwise."""
    if a.dtype.kind in "iub" and a.size and a.min() >= -128 and a.max() <= 127:
        return a.astype(np.int8)
    return a.astype(np.float32)


def _sta(frames: np.ndarray, counts: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(n_cells, len(lags), H, W) spike-triggered averages of the mean-subtracted frames."""
    n_trials, n_frames, h, w = frames.shape
    mean = frames.mean(dtype=np.float64)
    sta = np.zeros((counts.shape[2], len(lags), h * w))
    for k in range(n_trials):
        flat = frames[k].reshape(n_frames, -1).astype(np.float32) - np.float32(mean)
        y = counts[k].astype(np.float32).T  # (cells, frames)
        for j, lag in enumerate(lags):
            sta[:, j] += y[:, lag:] @ flat[: n_frames - lag]
    return (sta / np.maximum(counts[:, :, :].sum((0, 1)), 1)[:, None, None]).reshape(-1, len(lags), h, w)


def load_retina_file(path: str | os.PathLike, window: int = 16, sta_trials: int = 20,
                     max_trials: int | None = None) -> list[RetinaRecording]:
    """One :class:`RetinaRecording` per cell of a user's npz (this module's layout), cropped around its RF.

    ``max_trials`` keeps the first running trials only (a quick run). Raises :class:`UserDataError` (a
    ``ValueError``) naming the field and what it should be for any misfit.
    """
    path = Path(path)
    if isinstance(window, bool) or not isinstance(window, int) or window < 8:
        raise ValueError(f"window must be an int >= 8 stixels; got {window!r}")
    frames, counts, frozen, frozen_counts, frame_rate, cell_ids = _check(path, _read(path))
    if max_trials is not None:
        if max_trials < 3:
            raise ValueError(f"max_trials must be >= 3 (train and validation trials); got {max_trials}")
        frames, counts = frames[:max_trials], counts[:max_trials]
    n_trials, n_frames, h, w = frames.shape
    lags = np.arange(max(1, round(0.05 * frame_rate)), max(2, round(0.25 * frame_rate)) + 1)
    lags = lags[lags < n_frames]
    size = min(window, h, w)
    frames, frozen = _stimulus(frames), _stimulus(frozen)
    sta = _sta(frames[: min(sta_trials, n_trials)], counts[: min(sta_trials, n_trials)], lags)
    maps, peak_lags, centres = sta_peak(sta, lags)
    corners = crop_corners(centres, size, (h, w))
    recordings = []
    for i, c in enumerate(cell_ids):
        top, left = corners[i]
        sl = np.s_[:, top : top + size, left : left + size]
        recordings.append(RetinaRecording(
            [np.ascontiguousarray(f[sl]) for f in frames], [counts[k][:, [i]].astype(np.float32)
                                                            for k in range(n_trials)],
            np.ascontiguousarray(frozen[sl]), frozen_counts[:, :, [i]].astype(np.float32), frame_rate,
            np.array([c]), path.name,
            {"sta_map": maps[i], "peak_lag": int(peak_lags[i]), "rf_centre": centres[i],
             "window": (int(top), int(left), size), "sta_trials": min(sta_trials, n_trials), "source": str(path)},
        ))
    return recordings
