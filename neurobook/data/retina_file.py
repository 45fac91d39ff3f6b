"""Bring your own retina recording: one npz of white-noise frames (or the seed that makes them), spike counts and
frozen repeats (Chapter 2's ``-p data_file``), checked field by field and cropped around each cell's receptive field.

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

A binary checkerboard can be named instead of stored: leave out ``frames`` and ``frozen`` and give

==================  ================================  ==========================================================
stimulus_generator  str                               ``numpy_binary`` or ``retinawhitenoise_binary``
                                                      (:mod:`neurobook.data.stimulus_generators`)
stimulus_seed       int, or (k,) ints for numpy       the running stream's seed; trial ``k`` is frames
                                                      ``k*T .. k*T+T-1`` of the stream
frozen_seed         int, or (k,) ints for numpy       the frozen sequence's seed (its first ``T_f`` frames)
frame_shape         (2,) int                          (H, W) checkers
==================  ================================  ==========================================================

The frames are then regenerated trial by trial (with a progress bar; never held whole) to find the receptive fields
and to crop around them.

Running trials may be of any number (at least 3: the models need train and validation trials) and equal length;
pad shorter ones or cut them to the shortest. Each cell's receptive field is found from its spike-triggered average
(STA) on the first ``sta_trials`` running trials at lags of 50-250 ms, and a ``window x window`` crop around it is
taken from every frame (frames no larger than the window are used whole). The result is one
:class:`~neurobook.data.retina.RetinaRecording` per cell, with the same ``meta`` as
:func:`neurobook.data.liu2017.load_liu2017` (``sta_map``, ``peak_lag``, ``rf_centre``, ``window``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neurobook.data.npz import UserDataError, read_arrays
from neurobook.data.retina import RetinaRecording, crop_corners, sta_peak
from neurobook.data.stimulus_generators import GENERATORS, binary_trials

__all__ = ["LAYOUT_HELP", "load_retina_file", "save_retina_file"]

REQUIRED = ("counts", "frozen_counts")
STORED = ("frames", "frozen")
GENERATED = ("stimulus_generator", "stimulus_seed", "frozen_seed", "frame_shape")
OPTIONAL = (*STORED, *GENERATED, "frame_rate", "cell_ids")
LAYOUT_HELP = ("an npz with frames (n_trials, T, H, W), counts (n_trials, T, n_cells) >= 0, frozen (T_f, H, W), "
               "frozen_counts (n_repeats >= 2, T_f, n_cells) >= 0, optional frame_rate (bins per second) and "
               "cell_ids (n_cells,); or, for a binary checkerboard, stimulus_generator, stimulus_seed, frozen_seed "
               "and frame_shape (H, W) instead of frames and frozen; see neurobook/data/retina_file.py or the "
               "README (Bring your own data)")


@dataclass(frozen=True)
class _Stimulus:
    """A file's stimulus: the running trials, streamed (``trials(n)``: the first ``n``, each (T, H, W)), and the
    frozen frames; ``generated`` when they are regenerated from a seed (seconds per trial for large frames)."""

    n_trials: int
    n_frames: int
    shape: tuple[int, int]
    frozen: np.ndarray
    trials: Callable[[int], Iterator[np.ndarray]]
    generated: bool


def save_retina_file(path: str | os.PathLike, recording: RetinaRecording, seeds_only: bool = False) -> Path:
    """Write a recording whose cells share full frames (e.g. a simulation) in this module's layout.

    ``seeds_only`` writes the stimulus as its generator and seeds (``recording.meta["stimulus_generator"]``, which
    :func:`~neurobook.data.retina_sim.simulate_retina` sets for its checkerboards) instead of the frames.
    """
    if recording.frozen is None:
        raise ValueError("the layout needs frozen repeats; this recording has none")
    path = Path(path)
    arrays = {"counts": np.stack(recording.counts), "frozen_counts": recording.frozen_counts,
              "frame_rate": np.float64(recording.frame_rate), "cell_ids": np.asarray(recording.cell_ids)}
    if seeds_only:
        spec = recording.meta.get("stimulus_generator")
        if spec is None:
            raise ValueError("this recording names no stimulus generator (meta['stimulus_generator']); save its "
                             "frames instead (seeds_only=False)")
        arrays.update(stimulus_generator=np.str_(spec["generator"]), stimulus_seed=np.asarray(spec["stimulus_seed"]),
                      frozen_seed=np.asarray(spec["frozen_seed"]), frame_shape=np.asarray(recording.frame_shape))
    else:
        arrays.update(frames=np.stack(recording.frames), frozen=recording.frozen)
    np.savez(path, **arrays)
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


def _as_stimulus(a: np.ndarray) -> np.ndarray:
    """int8 for a -1/+1 (or 0/1-free integer) checkerboard, float32 otherwise."""
    if a.dtype.kind in "iub" and a.size and a.min() >= -128 and a.max() <= 127:
        return a.astype(np.int8)
    return a.astype(np.float32)


def _stored_stimulus(path: Path, z: dict[str, np.ndarray], n_trials: int, n_frames: int, n_frozen: int) -> _Stimulus:
    missing = [k for k in STORED if k not in z]
    if missing:
        raise UserDataError(f"{path}: missing array(s) {missing}; give the stimulus as frames and frozen, or name "
                            f"a checkerboard with {', '.join(GENERATED)}. Expected {LAYOUT_HELP}")
    frames, frozen = z["frames"], z["frozen"]
    _numeric(path, "frames", frames, "(n_trials, T, H, W)", 4)
    _numeric(path, "frozen", frozen, "(T_f, H, W)", 3)
    if frames.shape[:2] != (n_trials, n_frames):
        raise UserDataError(f"{path}: counts must be (n_trials, T, n_cells) = ({frames.shape[0]}, {frames.shape[1]}, "
                            f"n_cells) to match frames {frames.shape}; got {n_trials} trials x {n_frames} bins")
    h, w = frames.shape[2:]
    if frozen.shape[1:] != (h, w):
        raise UserDataError(f"{path}: frozen frames must be {h}x{w} like frames; got {frozen.shape[1:]}")
    if len(frozen) != n_frozen:
        raise UserDataError(f"{path}: frozen_counts must be (n_repeats, {len(frozen)}, {z['counts'].shape[2]}) to "
                            f"match frozen and counts; got {z['frozen_counts'].shape}")
    frames = _as_stimulus(frames)
    return _Stimulus(n_trials, n_frames, (h, w), _as_stimulus(frozen), lambda n: iter(frames[:n]), generated=False)


def _seed(path: Path, name: str, value: np.ndarray, generator: str) -> int | list[int]:
    if value.dtype.kind not in "iu" or value.ndim > 1 or value.size == 0:
        raise UserDataError(f"{path}: {name} must be an int (or, for numpy_binary, a 1-d array of ints); got "
                            f"{value.dtype} of shape {value.shape}")
    if generator == "retinawhitenoise_binary" and value.ndim:
        raise UserDataError(f"{path}: {name} must be one int for retinawhitenoise_binary; got shape {value.shape}")
    return int(value) if value.ndim == 0 else [int(v) for v in value]


def _generated_stimulus(path: Path, z: dict[str, np.ndarray], n_trials: int, n_frames: int,
                        n_frozen: int) -> _Stimulus:
    missing = [k for k in GENERATED if k not in z]
    if missing:
        raise UserDataError(f"{path}: a named stimulus needs {', '.join(GENERATED)}; missing {missing}")
    name = z["stimulus_generator"]
    if name.dtype.kind not in "US" or name.size != 1 or str(name.reshape(())) not in GENERATORS:
        raise UserDataError(f"{path}: stimulus_generator must be one of {', '.join(GENERATORS)}; got {name!r}")
    generator = str(name.reshape(()))
    seed, frozen_seed = (_seed(path, k, z[k], generator) for k in ("stimulus_seed", "frozen_seed"))
    shape = z["frame_shape"]
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or shape.min() < 1:
        raise UserDataError(f"{path}: frame_shape must be two positive ints (H, W); got {shape!r}")
    hw = (int(shape[0]), int(shape[1]))
    frozen = next(binary_trials(generator, frozen_seed, n_frozen, 1, hw))
    return _Stimulus(n_trials, n_frames, hw, frozen, lambda n: binary_trials(generator, seed, n_frames, n, hw),
                     generated=True)


def _check(path: Path, z: dict[str, np.ndarray]) -> tuple[_Stimulus, np.ndarray, np.ndarray, float, np.ndarray]:
    counts, frozen_counts = (z[k] for k in REQUIRED)
    _numeric(path, "counts", counts, "(n_trials, T, n_cells)", 3, counts=True)
    _numeric(path, "frozen_counts", frozen_counts, "(n_repeats, T_f, n_cells)", 3, counts=True)
    n_trials, n_frames, n_cells = counts.shape
    if n_cells < 1:
        raise UserDataError(f"{path}: counts has no cells (shape {counts.shape})")
    if n_trials < 3:
        raise UserDataError(f"{path}: need at least 3 running trials (train and validation); got {n_trials}")
    if frozen_counts.shape[2] != n_cells:
        raise UserDataError(f"{path}: frozen_counts must be (n_repeats, T_f, {n_cells}) to match counts; got "
                            f"{frozen_counts.shape}")
    if len(frozen_counts) < 2:
        raise UserDataError(f"{path}: frozen_counts has {len(frozen_counts)} repeat(s); the test tier and its noise "
                            "ceiling need at least 2 repeats of the frozen sequence")
    stored, named = [k for k in STORED if k in z], [k for k in GENERATED if k in z]
    if stored and named:
        raise UserDataError(f"{path}: give the stimulus either as frames and frozen or as {', '.join(GENERATED)}, "
                            f"not both; found {stored + named}")
    make = _generated_stimulus if named else _stored_stimulus
    stimulus = make(path, z, n_trials, n_frames, frozen_counts.shape[1])
    frame_rate, cell_ids = _optional(path, z, n_cells)
    silent = np.flatnonzero(counts.sum((0, 1)) == 0)
    if len(silent):
        raise UserDataError(f"{path}: cell(s) {cell_ids[silent].tolist()} fire no spike in the running trials; "
                            "drop them (no receptive field can be found)")
    return stimulus, counts, frozen_counts, frame_rate, cell_ids


def _sta(trials: Iterable[np.ndarray], counts: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(n_cells, len(lags), H, W) spike-triggered averages of the frames less their mean over these trials, in one
    pass: sum_t y(t+lag) (x(t) - m) = sum_t y(t+lag) x(t) - m sum_t y(t+lag)."""
    n_cells = counts.shape[2]
    weighted, spikes = None, np.zeros((n_cells, len(lags)))
    frame_sum, n_seen = 0.0, 0
    for k, frames in enumerate(trials):
        n_frames = len(frames)
        flat = frames.reshape(n_frames, -1).astype(np.float32)
        frame_sum, n_seen = frame_sum + float(flat.sum(dtype=np.float64)), n_seen + flat.size
        y = counts[k].astype(np.float32).T  # (cells, frames)
        if weighted is None:
            weighted = np.zeros((n_cells, len(lags), flat.shape[1]))
        for j, lag in enumerate(lags):
            weighted[:, j] += y[:, lag:] @ flat[: n_frames - lag]
            spikes[:, j] += y[:, lag:].sum(1)
    h_w = frames.shape[1:]
    mean = frame_sum / n_seen
    sta = weighted - mean * spikes[:, :, None]
    return (sta / np.maximum(counts.sum((0, 1)), 1)[:, None, None]).reshape(n_cells, len(lags), *h_w)


def load_retina_file(path: str | os.PathLike, window: int = 16, sta_trials: int = 20,
                     max_trials: int | None = None, progress: bool = True) -> list[RetinaRecording]:
    """One :class:`RetinaRecording` per cell of a user's npz (this module's layout), cropped around its RF.

    ``max_trials`` keeps the first running trials only (a quick run); ``progress`` shows a bar while a named
    stimulus is regenerated. Raises :class:`UserDataError` (a ``ValueError``) naming the field and what it should be
    for any misfit.
    """
    path = Path(path)
    if isinstance(window, bool) or not isinstance(window, int) or window < 8:
        raise ValueError(f"window must be an int >= 8 stixels; got {window!r}")
    stimulus, counts, frozen_counts, frame_rate, cell_ids = _check(path, _read(path))
    n_trials = stimulus.n_trials
    if max_trials is not None:
        if max_trials < 3:
            raise ValueError(f"max_trials must be >= 3 (train and validation trials); got {max_trials}")
        n_trials = min(n_trials, max_trials)
    (h, w), n_frames = stimulus.shape, stimulus.n_frames
    lags = np.arange(max(1, round(0.05 * frame_rate)), max(2, round(0.25 * frame_rate)) + 1)
    lags = lags[lags < n_frames]
    size, n_sta = min(window, h, w), min(sta_trials, n_trials)

    def bar(n: int, desc: str) -> Iterator[np.ndarray]:
        return tqdm(stimulus.trials(n), total=n, desc=desc, disable=not (progress and stimulus.generated))

    sta = _sta(bar(n_sta, "regenerating trials for the receptive fields"), counts, lags)
    maps, peak_lags, centres = sta_peak(sta, lags)
    corners = crop_corners(centres, size, (h, w))
    crops = [[] for _ in cell_ids]
    for frames in bar(n_trials, "regenerating trials to crop"):
        for i, (top, left) in enumerate(corners):
            crops[i].append(np.ascontiguousarray(frames[:, top : top + size, left : left + size]))
    recordings = []
    for i, c in enumerate(cell_ids):
        top, left = corners[i]
        recordings.append(RetinaRecording(
            crops[i], [counts[k][:, [i]].astype(np.float32) for k in range(n_trials)],
            np.ascontiguousarray(stimulus.frozen[:, top : top + size, left : left + size]),
            frozen_counts[:, :, [i]].astype(np.float32), frame_rate, np.array([c]), path.name,
            {"sta_map": maps[i], "peak_lag": int(peak_lags[i]), "rf_centre": centres[i],
             "window": (int(top), int(left), size), "sta_trials": n_sta, "source": str(path)},
        ))
    return recordings
