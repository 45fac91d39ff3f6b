"""Uzzell & Chichilnisky 2004 macaque parasol cells: full-field binary white noise at ~120 Hz, spike counts per frame.

The stimulus has no spatial structure, so a :class:`~neurobook.data.retina.RetinaRecording` with 1x1 frames is
returned; the recording (about 20 min, no repeats) is cut into ``n_trials`` consecutive segments, the last of which
serves as the held-out test segment.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.io

from neurobook.data.fetch import ChecksumError, data_file
from neurobook.data.retina import RetinaRecording

__all__ = ["NAME", "load_chichilnisky"]

NAME = "chichilnisky_primate_rgc"
CELL_TYPES = ("OFF", "OFF", "ON", "ON")  # the tutorial's order: cells 1-2 OFF parasol, 3-4 ON parasol


def _load(path, key: str):
    try:
        return scipy.io.loadmat(path)[key]
    except (KeyError, ValueError, OSError) as err:
        raise ChecksumError(f"{path} could not be read as the Chichilnisky .mat file with {key!r} ({err}); "
                            "download it again") from err


def load_chichilnisky(data_dir: str | os.PathLike | None = None, n_trials: int = 10) -> RetinaRecording:
    """Frames (sign of the stimulus, int8 -1/+1, shape (T, 1, 1)) and spike counts per frame of the 4 cells."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 3:
        raise ValueError(f"n_trials must be an int >= 3 (train, validation and test segments); got {n_trials!r}")
    stim = _load(data_file(NAME, "Stim.mat", data_dir), "Stim").ravel()
    times = _load(data_file(NAME, "stimtimes.mat", data_dir), "stimtimes").ravel()
    spikes = _load(data_file(NAME, "SpTimes.mat", data_dir), "SpTimes")
    if stim.shape != times.shape:
        raise ValueError(f"Stim {stim.shape} and stimtimes {times.shape} must have one entry per frame")
    dt = float(np.median(np.diff(times)))
    edges = np.append(times, times[-1] + dt)
    counts = np.stack([np.histogram(np.ravel(s), edges)[0] for s in spikes.ravel()], 1).astype(np.float32)
    frames = np.where(stim > 0, 1, -1).astype(np.int8)[:, None, None]
    per = len(frames) // n_trials
    return RetinaRecording(
        [frames[k * per : (k + 1) * per] for k in range(n_trials)],
        [counts[k * per : (k + 1) * per] for k in range(n_trials)],
        None, None, 1.0 / dt, np.arange(counts.shape[1]), NAME,
        {"cell_type": np.array(CELL_TYPES[: counts.shape[1]]), "species": "macaque", "cells": "parasol RGCs",
         "license": "tutorial use only; not to be redistributed"},
    )
