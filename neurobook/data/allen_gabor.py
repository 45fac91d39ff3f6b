"""Loader for the Allen Visual Coding Neuropixels Gabor data (``allen_neuropixels_gabor_58mice``).

Local layout (see the data set's SOURCE.txt): ``v1_hva/session_<id>/`` holds ``gabor_spike_counts.npz``
(``counts`` (n_units, n_trials) int16 spike counts in [onset, onset + 0.249 s), ``unit_ids``),
``gabor_trial_table.csv.gz`` (one row per trial) and ``visual_unit_population.csv.gz`` (the Allen unit table);
``lgd/session_<id>/`` holds the same for LGd units in 33 of the sessions.

The stimulus is 243 conditions = 9 x 9 positions (-40..40 deg in 10 deg steps) x 3 orientations (0/45/90 deg),
15 repeats each. Presentation order differs between sessions, so every trial gets its condition from its
*stimulus values* on one fixed grid (:data:`POSITIONS_DEG`, :data:`ORIENTATIONS_DEG`), never from its index, and
:meth:`GaborSession.aligned_index` lays trials out as (condition, repeat) so that sessions line up.

Presentations are shown back to back (250 ms each, no gap), so the count window of a presentation holds the late
response to the one before it and misses its own late response, which falls into the window of the one after it.
:meth:`GaborSession.next_window` (the counts of the presentation that follows in time) and
:meth:`GaborSession.previous_condition` (the condition that preceded it) expose both, from the trials' start/stop
times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from neurobook.data.fetch import DataNotFoundError, dataset_root
from neurobook.data.registry import get_dataset

__all__ = [
    "AREAS",
    "MAX_GAP_S",
    "NAME",
    "N_CONDITIONS",
    "N_ORIENTATIONS",
    "N_POSITIONS",
    "ORIENTATIONS_DEG",
    "POSITIONS_DEG",
    "QUALITY_FILTERS",
    "TASKS",
    "GaborSession",
    "condition_index",
    "list_sessions",
    "load_gabor_session",
    "load_gabor_sessions",
    "quality_mask",
]

NAME = "allen_neuropixels_gabor_58mice"
POSITIONS_DEG = np.arange(-40.0, 41.0, 10.0)  # 9 azimuths (x) and 9 elevations (y)
ORIENTATIONS_DEG = np.array([0.0, 45.0, 90.0])
N_POSITIONS = len(POSITIONS_DEG) ** 2  # 81
N_ORIENTATIONS = len(ORIENTATIONS_DEG)  # 3
N_CONDITIONS = N_POSITIONS * N_ORIENTATIONS  # 243
N_REPEATS = 15
AREAS = ("VISp", "VISl", "VISal", "VISrl", "VISpm", "VISam")
#: Two presentations are contiguous when one starts within this many seconds of the other's stop.
MAX_GAP_S = 0.01
TASKS = {"position": N_POSITIONS, "orientation": N_ORIENTATIONS, "condition": N_CONDITIONS}
#: Unit quality filters by name; each is stated on the page of any chapter that uses it.
QUALITY_FILTERS = {
    "published_like_qc": "p_value_rf < 0.01 & area_rf < 2500 & snr > 1 & firing_rate_dg > 0.1 "
                         "(receptive-field mapped, well isolated, driven by gratings)",
    "allen_default": "isi_violations < 0.5 & amplitude_cutoff < 0.1 & presence_ratio > 0.9 "
                     "(allensdk's default unit filter)",
    "none": "all units",
}
_UNIT_COLUMNS = ("ecephys_unit_id", "ecephys_structure_acronym", "published_like_qc", "p_value_rf", "area_rf",
                 "snr", "firing_rate_dg", "isi_violations", "amplitude_cutoff", "presence_ratio", "cortical_layer",
                 "firing_rate", "specimen_id", "genotype", "session_type", "azimuth_rf", "elevation_rf")


def _grid_index(values: np.ndarray, grid: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    idx = np.abs(values[:, None] - grid[None, :]).argmin(1)
    off = np.abs(grid[idx] - values) > 1e-3
    if off.any():
        raise ValueError(f"{what} values {sorted(set(values[off].tolist()))[:5]} are not on the Gabor grid "
                         f"{grid.tolist()}; this is not the Allen Gabor stimulus")
    return idx


def condition_index(x_deg: np.ndarray, y_deg: np.ndarray, orientation_deg: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, orientation, condition) class of each trial from its stimulus values on the fixed grid.

    position = 9 * y_index + x_index (0..80); condition = 3 * position + orientation_index (0..242).
    """
    xi = _grid_index(x_deg, POSITIONS_DEG, "x_position")
    yi = _grid_index(y_deg, POSITIONS_DEG, "y_position")
    oi = _grid_index(orientation_deg, ORIENTATIONS_DEG, "orientation")
    position = yi * len(POSITIONS_DEG) + xi
    return position, oi, position * N_ORIENTATIONS + oi


def quality_mask(units: pd.DataFrame, quality: str) -> np.ndarray:
    """Boolean mask of the units that pass the named filter (:data:`QUALITY_FILTERS`)."""
    if quality not in QUALITY_FILTERS:
        raise ValueError(f"quality must be one of {sorted(QUALITY_FILTERS)}, got {quality!r}")
    n = len(units)
    if quality == "none":
        return np.ones(n, bool)
    col = lambda c: pd.to_numeric(units[c], errors="coerce").to_numpy(float) if c in units else np.full(n, np.nan)  # noqa: E731
    with np.errstate(invalid="ignore"):
        if quality == "published_like_qc":
            if "published_like_qc" in units and units["published_like_qc"].notna().all():
                return units["published_like_qc"].astype(bool).to_numpy()
            return ((col("p_value_rf") < 0.01) & (col("area_rf") < 2500) & (col("snr") > 1)
                    & (col("firing_rate_dg") > 0.1))
        return (col("isi_violations") < 0.5) & (col("amplitude_cutoff") < 0.1) & (col("presence_ratio") > 0.9)


@dataclass
class GaborSession:
    """Single-trial spike counts of one session (one mouse): trials x units, with every trial's condition.

    Attributes:
        session_id: Allen ecephys session id.
        counts: (n_trials, n_units) float32 spike counts in the 0.249 s after onset.
        x_deg, y_deg, orientation_deg: (n_trials,) stimulus values of each trial.
        position, orientation, condition: (n_trials,) int class labels (81, 3 and 243 classes) from the values.
        repeat: (n_trials,) int, the repeat of its condition (0.., in presentation order).
        split: (n_trials,) str ``train``/``test`` (the data's own split: 1/3 of the repeats are test).
        unit_ids: (n_units,) Allen ecephys unit ids.
        areas: (n_units,) str brain area of each unit (VISp, VISl, ..., LGd).
        units: the Allen unit table rows of the kept units (selected columns).
        quality: the unit filter that was applied (key of :data:`QUALITY_FILTERS`).
        meta: specimen id, genotype, session type.
        start_time, stop_time: (n_trials,) presentation onset and offset in seconds (None when unknown); they
            give the presentations' order in time (:meth:`time_order`, :meth:`next_window`).
    """

    session_id: int
    counts: np.ndarray
    x_deg: np.ndarray
    y_deg: np.ndarray
    orientation_deg: np.ndarray
    repeat: np.ndarray
    split: np.ndarray
    unit_ids: np.ndarray
    areas: np.ndarray
    units: pd.DataFrame
    quality: str = "none"
    meta: dict = field(default_factory=dict)
    start_time: np.ndarray | None = None
    stop_time: np.ndarray | None = None
    position: np.ndarray = field(init=False)
    orientation: np.ndarray = field(init=False)
    condition: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.float32)
        n_trials, n_units = self.counts.shape if self.counts.ndim == 2 else (-1, -1)
        if n_trials < 0:
            raise ValueError(f"counts must be (n_trials, n_units); got shape {np.shape(self.counts)}")
        for name in ("x_deg", "y_deg", "orientation_deg", "repeat", "split"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n_trials,):
                raise ValueError(f"{name} must have shape ({n_trials},) like the trials of counts; got {arr.shape}")
            setattr(self, name, arr)
        self.repeat = self.repeat.astype(np.int64)
        self.split = self.split.astype(str)
        for name in ("unit_ids", "areas"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n_units,):
                raise ValueError(f"{name} must have shape ({n_units},) like the units of counts; got {arr.shape}")
            setattr(self, name, arr)
        if len(self.units) != n_units:
            raise ValueError(f"the unit table has {len(self.units)} rows for {n_units} units")
        self.areas = self.areas.astype(str)
        self.start_time, self.stop_time = _check_times(self.start_time, self.stop_time, n_trials)
        self.position, self.orientation, self.condition = condition_index(self.x_deg, self.y_deg,
                                                                          self.orientation_deg)

    @property
    def n_trials(self) -> int:
        return self.counts.shape[0]

    @property
    def n_units(self) -> int:
        return self.counts.shape[1]

    def labels(self, task: str) -> np.ndarray:
        """Class label of each trial for ``task`` (``position``, ``orientation`` or ``condition``)."""
        if task not in TASKS:
            raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
        return getattr(self, task)

    def units_per_area(self) -> dict[str, int]:
        names, counts = np.unique(self.areas, return_counts=True)
        return {str(a): int(c) for a, c in zip(names, counts, strict=True)}

    def select_units(self, index: np.ndarray) -> GaborSession:
        """A copy holding only the units at ``index`` (indices or boolean mask)."""
        index = np.asarray(index)
        return GaborSession(self.session_id, self.counts[:, index], self.x_deg, self.y_deg, self.orientation_deg,
                            self.repeat, self.split, self.unit_ids[index], self.areas[index],
                            self.units.iloc[np.arange(self.n_units)[index]].reset_index(drop=True), self.quality,
                            dict(self.meta), self.start_time, self.stop_time)

    def area(self, *names: str) -> GaborSession:
        """The units of the named area(s); a clear error when the session has none there."""
        mask = np.isin(self.areas, names)
        if not mask.any():
            raise ValueError(f"session {self.session_id} has no units in {', '.join(names)} after the "
                             f"'{self.quality}' filter; its areas: {self.units_per_area()}")
        return self.select_units(mask)

    def aligned_index(self, n_repeats: int = N_REPEATS) -> np.ndarray:
        """(243, n_repeats) trial index of each (condition, repeat), -1 where the session lacks that repeat.

        Built from the trials' condition labels and repeat numbers, so sessions shown in different orders
        line up: row c of every session holds condition c.
        """
        out = np.full((N_CONDITIONS, n_repeats), -1, dtype=np.int64)
        keep = self.repeat < n_repeats
        if np.any(self.repeat < 0):
            raise ValueError(f"session {self.session_id}: negative repeat numbers")
        pairs = self.condition[keep] * n_repeats + self.repeat[keep]
        if len(np.unique(pairs)) != len(pairs):
            raise ValueError(f"session {self.session_id}: two trials share a (condition, repeat)")
        out.reshape(-1)[pairs] = np.flatnonzero(keep)
        return out

    def time_order(self) -> np.ndarray:
        """(n_trials,) trial indices in the order the presentations were shown (by start_time)."""
        if self.start_time is None:
            raise ValueError(f"session {self.session_id} has no start_time: the presentations' order in time is "
                             f"unknown (pass start_time and stop_time to GaborSession)")
        return np.argsort(self.start_time, kind="stable")

    def next_trial(self, max_gap_s: float | None = MAX_GAP_S) -> np.ndarray:
        """(n_trials,) index of the presentation that follows each one in time, -1 for none.

        None for the last presentation, and none across a gap: when the following presentation starts more than
        ``max_gap_s`` seconds from this one's stop (e.g. presentations missing from the table), its window does not
        hold this one's late response. ``max_gap_s=None`` takes the following presentation whatever the gap.
        """
        return _neighbours(self, max_gap_s)[1]

    def previous_trial(self, max_gap_s: float | None = MAX_GAP_S) -> np.ndarray:
        """(n_trials,) index of the presentation that precedes each one in time, -1 for the first and across a gap
        (see :meth:`next_trial`)."""
        return _neighbours(self, max_gap_s)[0]

    def next_window(self, max_gap_s: float | None = MAX_GAP_S) -> np.ndarray:
        """(n_trials, n_units) float32 counts of the presentation that follows each one in time (the window holding
        its late response), like :attr:`counts`; rows are NaN where none follows contiguously (:meth:`next_trial`).

        The windows are the data's fixed [onset, onset + 0.249 s): a presentation lasting 0.234 s (some do) shares
        its last 15 ms of spikes with the next window, one lasting 0.267-0.30 s leaves 18-50 ms uncounted.
        """
        nxt = self.next_trial(max_gap_s)
        out = np.full(self.counts.shape, np.nan, np.float32)
        out[nxt >= 0] = self.counts[nxt[nxt >= 0]]
        return out

    def previous_condition(self, max_gap_s: float | None = MAX_GAP_S) -> np.ndarray:
        """(n_trials,) condition (0..242) of the presentation that precedes each one in time, -1 where none does
        contiguously (the first, and after a gap). Position = condition // 3, orientation = condition % 3."""
        prev = self.previous_trial(max_gap_s)
        return np.where(prev >= 0, self.condition[np.maximum(prev, 0)], -1)

    def check_trials(self, task: str, min_per_class: int, split: str = "train") -> None:
        """Raise a clear error when some class of ``task`` has fewer than ``min_per_class`` trials in ``split``."""
        labels = self.labels(task)[self.split == split]
        per_class = np.bincount(labels, minlength=TASKS[task])
        if per_class.min() < min_per_class:
            raise ValueError(f"session {self.session_id}: the {split} split has only {per_class.min()} trials of "
                             f"some {task} class, fewer than the {min_per_class} asked for; ask for fewer trials "
                             f"per class")


def _check_times(start: np.ndarray | None, stop: np.ndarray | None, n_trials: int
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    if start is None and stop is None:
        return None, None
    if start is None or stop is None:
        raise ValueError("give both start_time and stop_time, or neither")
    start, stop = np.asarray(start, float), np.asarray(stop, float)
    if start.shape != (n_trials,) or stop.shape != (n_trials,):
        raise ValueError(f"start_time and stop_time must have shape ({n_trials},); got {start.shape}, {stop.shape}")
    if not (np.isfinite(start).all() and np.isfinite(stop).all() and (stop > start).all()):
        raise ValueError("start_time and stop_time must be finite, with every stop after its start")
    return start, stop


def _neighbours(session: GaborSession, max_gap_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(previous, next) trial index of each trial in time, -1 where none is contiguous within ``max_gap_s``."""
    order = session.time_order()
    prev, nxt = np.full(session.n_trials, -1), np.full(session.n_trials, -1)
    ok = np.ones(len(order) - 1, bool)
    if max_gap_s is not None:
        ok = np.abs(session.start_time[order[1:]] - session.stop_time[order[:-1]]) <= max_gap_s
    nxt[order[:-1][ok]] = order[1:][ok]
    prev[order[1:][ok]] = order[:-1][ok]
    return prev, nxt


def _root(data_dir: str | os.PathLike | None) -> os.PathLike:
    root = dataset_root(NAME, data_dir)
    if not (root / "v1_hva").is_dir():
        ds = get_dataset(NAME)
        raise DataNotFoundError(f"{NAME}: no v1_hva/ folder under {root}. Point NEUROBOOK_DATA_DIR (or the "
                                f"data_dir parameter) at a folder holding {NAME}/ laid out like ../shared/data, or "
                                f"regenerate it online with neurobook.data.allen_ecephys ({ds.source.homepage}).")
    return root


@cache
def _list_sessions(root: str) -> tuple[int, ...]:
    from pathlib import Path

    return tuple(sorted(int(p.name.split("_", 1)[1]) for p in (Path(root) / "v1_hva").glob("session_*")))


def list_sessions(data_dir: str | os.PathLike | None = None) -> list[int]:
    """Session ids available locally (one session per mouse), sorted."""
    return list(_list_sessions(str(_root(data_dir))))


def _read_units(path) -> pd.DataFrame:
    return pd.read_csv(path, usecols=lambda c: c in _UNIT_COLUMNS, low_memory=False)


def _read_block(folder, counts_file: str, trials_file: str, units_file: str):
    with np.load(folder / counts_file) as z:
        counts, unit_ids = z["counts"], z["unit_ids"]
    trials = pd.read_csv(folder / trials_file)
    units = _read_units(folder / units_file)
    if counts.shape != (len(units), len(trials)) or not np.array_equal(unit_ids, units["ecephys_unit_id"]):
        raise ValueError(f"{folder}: counts {counts.shape} do not match {len(units)} units x {len(trials)} trials")
    return counts, trials, units


def load_gabor_session(session_id: int, data_dir: str | os.PathLike | None = None, *,
                       quality: str = "published_like_qc", areas: tuple[str, ...] | None = None,
                       include_lgd: bool = False) -> GaborSession:
    """Load one session as trials x units with the named unit filter applied.

    Args:
        session_id: an Allen ecephys session id (:func:`list_sessions`).
        quality: key of :data:`QUALITY_FILTERS`.
        areas: keep only units of these areas (default all visual cortical areas, plus LGd if included).
        include_lgd: add the session's LGd units (33 sessions have them), matched to the cortical trials by
            (condition, repeat).
    """
    root = _root(data_dir)
    sessions = _list_sessions(str(root))
    if not isinstance(session_id, int | np.integer) or int(session_id) not in sessions:
        raise KeyError(f"unknown session {session_id!r}; {len(sessions)} sessions are available, e.g. "
                       f"{list(sessions[:5])} (neurobook.data.allen_gabor.list_sessions())")
    session_id = int(session_id)
    folder = root / "v1_hva" / f"session_{session_id}"
    counts, trials, units = _read_block(folder, "gabor_spike_counts.npz", "gabor_trial_table.csv.gz",
                                        "visual_unit_population.csv.gz")
    areas_col = units["ecephys_structure_acronym"].astype(str).to_numpy()
    keep = quality_mask(units, quality)
    counts, units, areas_col = counts[keep], units[keep].reset_index(drop=True), areas_col[keep]
    meta = {k: units[k].iloc[0] if k in units and len(units) else None
            for k in ("specimen_id", "genotype", "session_type")}
    _position, _orient, cond = condition_index(trials["x_position"], trials["y_position"], trials["orientation"])
    repeat = trials["repeat_index_within_condition"].to_numpy()
    if include_lgd and (root / "lgd" / f"session_{session_id}").is_dir():
        lcounts, ltrials, lunits = _read_block(root / "lgd" / f"session_{session_id}", "gabor_counts.npz",
                                               "gabor_trials.csv.gz", "lgd_population.csv.gz")
        lkeep = quality_mask(lunits, quality)
        _, _, lcond = condition_index(ltrials["x_position"], ltrials["y_position"], ltrials["orientation"])
        key = {(c, r): i for i, (c, r) in enumerate(zip(lcond, ltrials["repeat"].to_numpy(), strict=True))}
        order = np.array([key.get((c, r), -1) for c, r in zip(cond, repeat, strict=True)])
        if (order < 0).any():
            raise ValueError(f"session {session_id}: {int((order < 0).sum())} cortical trials have no LGd trial")
        lunits = lunits[lkeep].reset_index(drop=True)
        counts = np.concatenate([counts, lcounts[lkeep][:, order]])
        units = pd.concat([units, lunits], ignore_index=True)
        areas_col = np.concatenate([areas_col, np.full(len(lunits), "LGd")])
    session = GaborSession(
        session_id=session_id, counts=counts.T, x_deg=trials["x_position"].to_numpy(),
        y_deg=trials["y_position"].to_numpy(), orientation_deg=trials["orientation"].to_numpy(), repeat=repeat,
        split=trials["trial_split"].to_numpy(), unit_ids=units["ecephys_unit_id"].to_numpy(), areas=areas_col,
        units=units, quality=quality, meta=meta, start_time=trials["start_time"].to_numpy(),
        stop_time=trials["stop_time"].to_numpy(),
    )
    if areas is not None:
        return session.area(*areas)
    if session.n_units == 0:
        raise ValueError(f"session {session_id} has no units left after the '{quality}' filter")
    return session


def load_gabor_sessions(session_ids: list[int] | None = None, data_dir: str | os.PathLike | None = None,
                        **kwargs) -> list[GaborSession]:
    """Load several sessions (default: all of them) with the same options as :func:`load_gabor_session`."""
    ids = list_sessions(data_dir) if session_ids is None else list(session_ids)
    return [load_gabor_session(i, data_dir, **kwargs) for i in ids]
