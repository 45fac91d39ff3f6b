"""Single-trial spike counts from the Allen Visual Coding Neuropixels survey through allensdk (for users online).

The offline Gabor data (:mod:`neurobook.data.allen_gabor`) was made from the public NWB files; this module does the
same conversion from source with allensdk's ``EcephysProjectCache`` (its manifest and downloads live inside the data
directory, under ``allen_ecephys_cache/``), for the Gabor stimulus and for ``natural_scenes`` (118 images),
``static_gratings`` and ``drifting_gratings``:

1. choose sessions (:func:`project_cache`, then :func:`choose_sessions` on the cache's session table);
2. filter units by area and quality (:data:`neurobook.data.allen_gabor.QUALITY_FILTERS`);
3. count spikes of every unit in a window after each presentation with allensdk's
   ``EcephysSession.presentationwise_spike_counts``: a (presentations, units) table, :class:`SpikeCountTable`;
4. write it as a compact per-session file (:func:`write_compact`), in the layout of the offline Gabor data when the
   stimulus is ``gabors`` (:func:`write_gabor_layout`), so that :func:`~neurobook.data.allen_gabor.load_gabor_session`
   reads regenerated data unchanged; :func:`read_compact` reads the compact files back, and
   :func:`session_counts` does steps 2-4 for one session, reusing the compact files when they exist.

allensdk (``pip install allensdk==2.16.2``, the ``allen`` extra) is imported only when a function needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurobook.data.allen_gabor import AREAS, ORIENTATIONS_DEG, quality_mask
from neurobook.files import atomic_path

__all__ = ["SESSION_TYPES", "STIMULI", "SpikeCountTable", "choose_sessions", "project_cache", "read_compact",
           "session_counts", "session_spike_counts", "write_compact", "write_gabor_layout"]

#: Stimulus name -> (the parameters that define a condition, counting window after onset in seconds).
STIMULI: dict[str, tuple[tuple[str, ...], float]] = {
    "gabors": (("x_position", "y_position", "orientation"), 0.249),
    "natural_scenes": (("frame",), 0.249),
    "static_gratings": (("orientation", "spatial_frequency", "phase"), 0.249),
    "drifting_gratings": (("orientation", "temporal_frequency"), 1.999),
}
CACHE_FOLDER = "allen_ecephys_cache"
#: Stimulus name -> the survey's session types that show it (Allen Visual Coding Neuropixels technical white paper).
SESSION_TYPES: dict[str, tuple[str, ...]] = {
    "gabors": ("brain_observatory_1.1", "functional_connectivity"),
    "natural_scenes": ("brain_observatory_1.1",),
    "static_gratings": ("brain_observatory_1.1",),
    "drifting_gratings": ("brain_observatory_1.1",),
}


def _require_allensdk():
    try:
        from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("this needs allensdk: pip install allensdk==2.16.2 (neurobook's 'allen' extra)") from err
    return EcephysProjectCache


def project_cache(data_dir: str | os.PathLike):
    """allensdk's ``EcephysProjectCache`` with its manifest (and every download) inside ``data_dir``."""
    if data_dir is None:
        raise ValueError("project_cache needs a data directory to hold the allensdk manifest and downloads")
    cache_cls = _require_allensdk()
    root = Path(data_dir).expanduser() / CACHE_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    return cache_cls.from_warehouse(manifest=str(root / "manifest.json"))


def choose_sessions(sessions: pd.DataFrame, stimulus: str, *, areas: tuple[str, ...] = AREAS,
                    require_all_areas: bool = False, genotype: str | None = None, n: int | None = None) -> pd.DataFrame:
    """Sessions of allensdk's session table (``cache.get_session_table()``) that show ``stimulus`` and record
    ``areas`` (any of them, or all with ``require_all_areas``), optionally of one ``full_genotype`` (e.g.
    ``"wt/wt"``); one session per mouse (the one with most units), sorted by session id, the first ``n``."""
    if stimulus not in STIMULI:
        raise ValueError(f"stimulus must be one of {sorted(STIMULI)}, got {stimulus!r}")
    if isinstance(areas, str) or not areas:
        raise ValueError(f"areas must be a non-empty tuple of structure acronyms, e.g. {AREAS}; got {areas!r}")
    needed = {"session_type", "ecephys_structure_acronyms", "unit_count", "specimen_id"}
    missing = needed - set(sessions.columns)
    if missing:
        raise ValueError(f"the session table lacks columns {sorted(missing)}; pass cache.get_session_table()")
    steps = [("all sessions", sessions)]
    kept = sessions[sessions["session_type"].isin(SESSION_TYPES[stimulus])]
    steps.append((f"showing '{stimulus}'", kept))
    has = kept["ecephys_structure_acronyms"].map(lambda acr: [a in set(acr) for a in areas])
    kept = kept[has.map(all if require_all_areas else any)] if len(kept) else kept
    steps.append((f"recording {'all' if require_all_areas else 'any'} of {list(areas)}", kept))
    if genotype is not None:
        kept = kept[kept.get("full_genotype", pd.Series(index=kept.index, dtype=str)) == genotype]
        steps.append((f"genotype {genotype!r}", kept))
    if kept.empty:
        trail = " -> ".join(f"{name}: {len(df)}" for name, df in steps)
        raise ValueError(f"no session matches ({trail}); relax the filters")
    kept = kept.sort_values("unit_count", ascending=False, kind="stable").drop_duplicates("specimen_id")
    kept = kept.sort_index()
    return kept if n is None else kept.iloc[: int(n)]


@dataclass
class SpikeCountTable:
    """Spike counts of one stimulus in one session.

    Attributes:
        session_id: Allen ecephys session id.
        stimulus: a key of :data:`STIMULI`.
        counts: (n_units, n_presentations) int16 spike counts in ``[onset, onset + window)``.
        unit_ids: (n_units,) Allen unit ids, in the order of ``units``.
        presentations: one row per presentation (its id, start/stop time and the condition parameters), with
            ``stimulus_condition`` (0.. over the distinct parameter combinations, in sorted order), ``repeat``
            (0.. within its condition, in presentation order) and ``trial_split`` (``test`` for every third repeat).
        units: the allensdk unit table rows of the kept units.
        window_s: the counting window.
    """

    session_id: int
    stimulus: str
    counts: np.ndarray
    unit_ids: np.ndarray
    presentations: pd.DataFrame
    units: pd.DataFrame
    window_s: float

    def __post_init__(self) -> None:
        if self.counts.shape != (len(self.unit_ids), len(self.presentations)):
            raise ValueError(f"counts {self.counts.shape} do not match {len(self.unit_ids)} units x "
                             f"{len(self.presentations)} presentations")


def _condition_table(presentations: pd.DataFrame, params: tuple[str, ...]) -> pd.DataFrame:
    missing = [p for p in params if p not in presentations]
    if missing:
        raise ValueError(f"the stimulus table lacks the condition parameters {missing}")
    out = presentations.copy()
    values = out[list(params)].apply(pd.to_numeric, errors="coerce")  # allensdk's "null" (a blank) becomes NaN
    keys = [tuple(r) for r in values.fillna(np.inf).to_numpy()]  # blanks are one condition, sorted last
    distinct = sorted(set(keys))
    index = {k: i for i, k in enumerate(distinct)}
    out[list(params)] = values
    out["stimulus_condition"] = [index[k] for k in keys]
    out = out.sort_values("start_time")
    out["repeat"] = out.groupby("stimulus_condition").cumcount()
    out["trial_split"] = np.where(out["repeat"] % 3 == 2, "test", "train")
    return out


def session_spike_counts(session, stimulus: str, *, areas: tuple[str, ...] = AREAS, quality: str = "allen_default",
                         window_s: float | None = None) -> SpikeCountTable:
    """Count the spikes of ``session``'s units (an allensdk ``EcephysSession``) in a window after each presentation
    of ``stimulus``, keeping units of ``areas`` that pass ``quality``."""
    if stimulus not in STIMULI:
        raise ValueError(f"stimulus must be one of {sorted(STIMULI)}, got {stimulus!r}")
    params, default_window = STIMULI[stimulus]
    window = float(window_s if window_s is not None else default_window)
    units = session.units
    units = units[units["ecephys_structure_acronym"].isin(areas)]
    units = units[quality_mask(units, quality)]
    if units.empty:
        raise ValueError(f"session {session.ecephys_session_id}: no units in {list(areas)} pass the '{quality}' "
                         "filter")
    presentations = session.get_stimulus_table([stimulus])  # only this stimulus's presentations
    if presentations.empty:
        raise ValueError(f"session {session.ecephys_session_id} has no '{stimulus}' presentations")
    table = _condition_table(presentations, params)
    counts = session.presentationwise_spike_counts(
        bin_edges=np.array([0.0, window]), stimulus_presentation_ids=table.index.values, unit_ids=units.index.values)
    arr = np.asarray(counts).sum(axis=1)  # (presentations, units)
    if arr.max(initial=0) > np.iinfo(np.int16).max:
        raise ValueError("spike counts overflow int16; use a shorter window")
    return SpikeCountTable(
        session_id=int(session.ecephys_session_id), stimulus=stimulus, counts=arr.T.astype(np.int16),
        unit_ids=np.asarray(units.index.values, dtype=np.int64),
        presentations=table.reset_index(names="stimulus_presentation_id"),
        units=units.reset_index(names="ecephys_unit_id"), window_s=window)


def _atomic(path: Path, write) -> None:
    """``write(tmp)`` to a private temporary name (it keeps ``path``'s last suffix), then rename it onto ``path``."""
    with atomic_path(path) as tmp:
        write(str(tmp))


def _save_npz(path: str, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def write_compact(table: SpikeCountTable, folder: str | os.PathLike) -> Path:
    """Write one session's table as ``<stimulus>_counts.npz`` + ``<stimulus>_presentations.csv.gz`` +
    ``<stimulus>_units.csv.gz`` in ``folder`` (written to temporary files first, then renamed)."""
    folder = Path(folder)
    _atomic(folder / f"{table.stimulus}_counts.npz",
            lambda p: _save_npz(p, counts=table.counts, unit_ids=table.unit_ids, window_s=table.window_s,
                                session_id=table.session_id))
    _atomic(folder / f"{table.stimulus}_presentations.csv.gz",
            lambda p: table.presentations.to_csv(p, index=False, compression="gzip"))
    _atomic(folder / f"{table.stimulus}_units.csv.gz", lambda p: table.units.to_csv(p, index=False,
                                                                                     compression="gzip"))
    return folder


def write_gabor_layout(table: SpikeCountTable, root: str | os.PathLike) -> Path:
    """Write a ``gabors`` table in the offline data's layout, ``root/v1_hva/session_<id>/``, readable by
    :func:`neurobook.data.allen_gabor.load_gabor_session` with ``data_dir`` pointing at root's parent."""
    if table.stimulus != "gabors":
        raise ValueError(f"the Gabor layout holds the 'gabors' stimulus, not {table.stimulus!r}")
    folder = Path(root) / "v1_hva" / f"session_{table.session_id}"
    trials = table.presentations.copy()
    trials["repeat_index_within_condition"] = trials["repeat"]
    trials["orientation_index"] = np.abs(trials["orientation"].to_numpy()[:, None] - ORIENTATIONS_DEG).argmin(1)
    units = table.units.copy()
    if "published_like_qc" not in units:
        units["published_like_qc"] = quality_mask(units.drop(columns=["published_like_qc"], errors="ignore"),
                                                  "published_like_qc")
    _atomic(folder / "gabor_spike_counts.npz",
            lambda p: _save_npz(p, counts=table.counts, unit_ids=table.unit_ids))
    _atomic(folder / "gabor_trial_table.csv.gz", lambda p: trials.to_csv(p, index=False, compression="gzip"))
    _atomic(folder / "visual_unit_population.csv.gz", lambda p: units.to_csv(p, index=False, compression="gzip"))
    return folder


def read_compact(folder: str | os.PathLike, stimulus: str) -> SpikeCountTable:
    """Read back what :func:`write_compact` wrote for ``stimulus`` in ``folder``; raises ``FileNotFoundError`` when
    a file is missing and ``ValueError`` when one is unreadable."""
    folder = Path(folder)
    paths = [folder / f"{stimulus}_{part}" for part in ("counts.npz", "presentations.csv.gz", "units.csv.gz")]
    absent = [p.name for p in paths if not p.exists()]
    if absent:
        raise FileNotFoundError(f"{folder}: no compact '{stimulus}' table ({', '.join(absent)} missing); write it "
                                "with neurobook.data.allen_ecephys.session_counts")
    try:
        with np.load(paths[0]) as z:
            counts, unit_ids, window, sid = z["counts"], z["unit_ids"], float(z["window_s"]), int(z["session_id"])
        presentations = pd.read_csv(paths[1], compression="gzip")
        units = pd.read_csv(paths[2], compression="gzip")
    except Exception as err:  # any unreadable file is a corrupt cache (re-raised as one)
        raise ValueError(f"{folder}: the compact '{stimulus}' files are unreadable ({type(err).__name__}: {err}); "
                         "delete them to rebuild") from err
    return SpikeCountTable(sid, stimulus, counts, unit_ids, presentations, units, window)


def session_counts(cache, session_id: int, stimulus: str, folder: str | os.PathLike, *,
                   areas: tuple[str, ...] = AREAS, quality: str = "allen_default",
                   window_s: float | None = None) -> SpikeCountTable:
    """One session's table for ``stimulus``: read from ``folder`` if written before, else fetched through
    ``cache`` (an allensdk ``EcephysProjectCache``: downloads the session's NWB file), counted and written there.
    Compact files that are incomplete, unreadable or of another session are rebuilt.
    """
    folder = Path(folder)
    try:
        table = read_compact(folder, stimulus)
        if table.session_id == int(session_id):
            return table
    except (FileNotFoundError, ValueError):
        pass
    known = cache.get_session_table().index
    if int(session_id) not in set(int(i) for i in known):
        raise ValueError(f"unknown session {session_id}; the cache lists {len(known)} sessions, e.g. "
                         f"{[int(i) for i in known[:5]]} (see choose_sessions)")
    table = session_spike_counts(cache.get_session_data(int(session_id)), stimulus, areas=areas, quality=quality,
                                 window_s=window_s)
    write_compact(table, folder)
    return table
