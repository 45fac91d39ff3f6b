"""Retina recordings as time-binned spike counts under white noise, and their conversion to model inputs.

A :class:`RetinaRecording` keeps the stimulus frames and spike counts trial by trial (running noise) plus, when
the recording has them, the frozen repeats (one stimulus sequence shown many times). :meth:`RetinaRecording.to_data`
turns it into a :class:`~neurobook.data.types.StimulusResponseData` whose ``images`` hold a *stimulus history as
input channels* (``(n_bins, history, H, W)`` int8: channel ``k`` is the frame ``k`` bins before the response bin),
so the shared trainer :func:`neurobook.train.fit` fits retina models unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neurobook.checks import check_positive_int
from neurobook.data.types import StimulusResponseData

__all__ = ["RetinaRecording", "crop_corners", "history_stack", "sta_peak"]


def history_stack(frames: np.ndarray, history: int) -> np.ndarray:
    """(T, H, W) frames -> (T - history + 1, history, H, W); row ``i`` ends at frame ``i + history - 1``.

    Channel ``k`` of a row is the frame ``k`` bins before that row's response bin (channel 0 = same bin).
    """
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, H, W); got shape {frames.shape}")
    check_positive_int("history", history)
    if frames.shape[0] < history:
        raise ValueError(f"need at least history={history} frames, got {frames.shape[0]}")
    win = np.lib.stride_tricks.sliding_window_view(frames, history, axis=0)  # (T-h+1, H, W, h), oldest first
    return np.ascontiguousarray(np.moveaxis(win[..., ::-1], -1, 1))


def sta_peak(sta: np.ndarray, lags: Sequence[int], smooth: float = 1.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the STA map at its peak lag, the peak lag and the receptive-field centre (row, col).

    ``sta`` is (n_cells, len(lags), H, W); the peak is the largest |value| of the Gaussian-smoothed (``smooth``
    stixels) maps over lags and positions.
    """
    from scipy.ndimage import gaussian_filter

    sta = np.asarray(sta)
    if sta.ndim != 4 or sta.shape[1] != len(lags):
        raise ValueError(f"sta must be (n_cells, {len(lags)} lags, H, W); got shape {sta.shape}")
    shape = sta.shape[2:]
    blurred = np.stack([[gaussian_filter(s.astype(np.float64), smooth) for s in cell] for cell in sta])
    flat = np.abs(blurred).reshape(len(sta), len(lags), -1)
    best = flat.max(2).argmax(1)
    maps = sta[np.arange(len(sta)), best]
    centres = np.array([np.unravel_index(flat[i, best[i]].argmax(), shape) for i in range(len(sta))], float)
    return maps, np.asarray(lags)[best], centres.reshape(len(sta), 2)


def crop_corners(centres: np.ndarray, window: int, frame_shape: tuple[int, int]) -> np.ndarray:
    """(n, 2) top-left corners of ``window``-sized crops centred on ``centres`` (row, col), kept inside the frame."""
    h, w = frame_shape
    if window > min(h, w):
        raise ValueError(f"window {window} is larger than the frames {frame_shape}")
    centres = np.asarray(centres, float).reshape(-1, 2)
    top = np.clip(np.round(centres[:, 0] - (window - 1) / 2).astype(int), 0, h - window)
    left = np.clip(np.round(centres[:, 1] - (window - 1) / 2).astype(int), 0, w - window)
    return np.stack([top, left], 1)


@dataclass
class RetinaRecording:
    """Binary white-noise frames and spike counts of a set of cells, trial by trial.

    Attributes:
        frames: list of (T_k, H, W) frames, one per running trial: int8 -1/+1 checkerboards, or float32
            natural-movie frames (contrast units, see :mod:`neurobook.data.natural_movie`).
        counts: list of (T_k, n_cells) spike counts per frame bin, aligned with ``frames``.
        frozen: (T_f, H, W) int8 frozen (repeated) frames, or None.
        frozen_counts: (n_repeats, T_f, n_cells) counts on the repeats, or None.
        frame_rate: stimulus frames (= bins) per second.
        cell_ids: (n_cells,) identifiers.
        name: registry name or ``simulated``.
        meta: anything else (ground truth: ``true_rate_frozen``, subunits, ...).
    """

    frames: list[np.ndarray]
    counts: list[np.ndarray]
    frozen: np.ndarray | None
    frozen_counts: np.ndarray | None
    frame_rate: float
    cell_ids: np.ndarray
    name: str = "unnamed"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.counts) or not self.frames:
            raise ValueError(f"need one counts array per frames array; got {len(self.frames)} and {len(self.counts)}")
        self.cell_ids = np.asarray(self.cell_ids)
        for f, c in zip(self.frames, self.counts, strict=True):
            if f.ndim != 3 or c.ndim != 2 or f.shape[0] != c.shape[0] or c.shape[1] != len(self.cell_ids):
                raise ValueError(f"frames (T, H, W) and counts (T, {len(self.cell_ids)}) must align; "
                                 f"got {f.shape} and {c.shape}")
        if (self.frozen is None) != (self.frozen_counts is None):
            raise ValueError("frozen and frozen_counts must both be given or both be None")
        if self.frozen is not None and self.frozen_counts.shape[1:] != (len(self.frozen), len(self.cell_ids)):
            raise ValueError(f"frozen_counts must be (n_repeats, {len(self.frozen)}, {len(self.cell_ids)}); "
                             f"got {self.frozen_counts.shape}")

    @property
    def n_cells(self) -> int:
        return len(self.cell_ids)

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.frames[0].shape[1], self.frames[0].shape[2]

    def select_cells(self, index) -> RetinaRecording:
        """A copy with only the cells at ``index``; per-cell ``meta`` arrays and lists (length n_cells) follow."""
        index = np.atleast_1d(np.asarray(index))
        n = self.n_cells
        if index.dtype != bool and index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"cell index out of range: this recording has {n} cells (0..{n - 1}); got {index}")
        meta = {}
        for k, v in self.meta.items():
            if isinstance(v, np.ndarray) and v.ndim and len(v) == n:
                v = v[index]
            elif isinstance(v, list) and len(v) == n:
                v = [v[i] for i in np.arange(n)[index]]
            meta[k] = v
        return RetinaRecording(
            self.frames, [c[:, index] for c in self.counts], self.frozen,
            None if self.frozen_counts is None else self.frozen_counts[:, :, index], self.frame_rate,
            self.cell_ids[index], self.name, meta,
        )

    def crop(self, top: int, left: int, size: int) -> RetinaRecording:
        """A copy whose frames are the ``size x size`` window at (top, left) (rows = first frame axis)."""
        h, w = self.frame_shape
        if top < 0 or left < 0 or top + size > h or left + size > w or size < 1:
            raise ValueError(f"window top={top}, left={left}, size={size} does not fit frames of shape {(h, w)}")
        sl = np.s_[:, top : top + size, left : left + size]
        return RetinaRecording(
            [f[sl] for f in self.frames], self.counts, None if self.frozen is None else self.frozen[sl],
            self.frozen_counts, self.frame_rate, self.cell_ids, self.name,
            {k: v for k, v in self.meta.items() if k != "stimulus_generator"},  # the seeds name the whole frames
        )

    def spike_triggered_average(self, history: int) -> np.ndarray:
        """Spike-weighted average of the stimulus history, (n_cells, history, H, W), from the running trials."""
        h, w = self.frame_shape
        sta = np.zeros((self.n_cells, history, h * w))
        total = np.zeros(self.n_cells)
        for f, c in zip(self.frames, self.counts, strict=True):
            x = history_stack(f, history).reshape(-1, history, h * w).astype(np.float32)
            y = c[history - 1 :].astype(np.float32)
            sta += np.einsum("nc,nkp->ckp", y, x, optimize=True)
            total += y.sum(0)
        return (sta / np.maximum(total, 1)[:, None, None]).reshape(self.n_cells, history, h, w)

    def test_counts(self, history: int) -> np.ndarray:
        """The frozen repeats' counts (n_repeats, T_f - history + 1, n_cells) aligned with ``to_data``'s test tier."""
        if self.frozen_counts is None:
            raise ValueError(f"{self.name}: this recording has no frozen repeats")
        return self.frozen_counts[:, history - 1 :]

    def to_data(self, history: int, n_validation_trials: int = 1, max_train_trials: int | None = None,
                test_from_frozen: bool = True) -> StimulusResponseData:
        """Model inputs: every running bin with a full stimulus history within its trial.

        The last ``n_validation_trials`` running trials are the validation tier, the earlier ones (at most
        ``max_train_trials``) the train tier. The test tier is the frozen sequence, one row per bin, with the
        repeat-averaged counts (the PSTH, in spikes per bin) as responses; the single repeats stay in
        ``self.frozen_counts`` for the reliability ceiling. Responses are spikes per bin.
        """
        use_frozen = test_from_frozen and self.frozen is not None
        n_trials = len(self.frames) - (0 if use_frozen else 1)  # without repeats the last trial is the test tier
        if not 1 <= n_validation_trials < n_trials:
            raise ValueError(f"n_validation_trials must be in 1..{n_trials - 1} for {n_trials} trials; "
                             f"got {n_validation_trials}")
        train_idx = list(range(n_trials - n_validation_trials))
        if max_train_trials is not None:
            train_idx = train_idx[:max_train_trials]
        parts = [(k, "train") for k in train_idx] + [(k, "validation")
                                                     for k in range(n_trials - n_validation_trials, n_trials)]
        if not use_frozen:
            parts.append((n_trials, "test"))
        images, responses, tiers, ids = [], [], [], []
        next_id = 0 if self.frozen is None else len(self.frozen)
        for k, tier in parts:
            x = history_stack(self.frames[k], history)
            images.append(x)
            responses.append(self.counts[k][history - 1 :].astype(np.float32))
            tiers += [tier] * len(x)
            ids.append(np.arange(next_id, next_id + len(x)))
            next_id += len(x)
        if use_frozen:
            x = history_stack(self.frozen, history)
            images.append(x)
            responses.append(self.frozen_counts[:, history - 1 :].mean(0).astype(np.float32))
            tiers += ["test"] * len(x)
            ids.append(np.arange(history - 1, len(self.frozen)))
        stacked = np.concatenate(images)
        integer = all(f.dtype.kind in "iu" for f in self.frames)  # checkerboards stay int8, movies float32
        return StimulusResponseData(
            stacked.astype(np.int8 if integer else np.float32), np.concatenate(responses), np.asarray(tiers),
            np.concatenate(ids), np.arange(self.n_cells), self.name,
            {"history": history, "frame_rate": self.frame_rate, "cell_ids": self.cell_ids},
        )
