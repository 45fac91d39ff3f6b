"""The paper's own stimuli (Allen ``natural_scenes``, ``static_gratings``) as one population file, for users online.

``neurobook data allen natural_scenes --sessions 10`` (:func:`build_allen_population`) chooses sessions through
allensdk's ``EcephysProjectCache`` (:func:`neurobook.data.allen_ecephys.choose_sessions`), downloads each session's
NWB file into the cache (allensdk keeps what it has fetched), counts spikes per presentation and writes each
session's compact table as soon as it is done, so an interrupted build resumes where it stopped; then it aligns the
sessions' presentations by (condition, repeat) (:func:`population_from_tables`) and writes one population npz
(:mod:`neurobook.data.population_file`) that Chapter 3 decodes. Conditions are matched across sessions by their
stimulus parameters, not by their index within a session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from neurobook.data.allen_ecephys import STIMULI, SpikeCountTable, choose_sessions, project_cache, session_counts
from neurobook.data.allen_gabor import AREAS
from neurobook.data.paths import cache_dir, data_dir
from neurobook.data.population_file import (
    PopulationRecording,
    load_population_file,
    repeats_within_class,
    save_population_file,
    split_from_repeats,
)

__all__ = ["PAPER_STIMULI", "build_allen_population", "find_allen_population", "population_file_path",
           "population_from_tables"]

#: the stimuli of Iqbal et al. 2019 in the Allen survey
PAPER_STIMULI = ("natural_scenes", "static_gratings")
FOLDER = "allen_population"


def population_file_path(stimulus: str, root: str | os.PathLike | None = None) -> Path:
    """Where the population file of ``stimulus`` is written: ``<root or the download cache>/allen_population/``."""
    if stimulus not in STIMULI:
        raise ValueError(f"stimulus must be one of {sorted(STIMULI)}, got {stimulus!r}")
    return Path(root if root is not None else cache_dir()) / FOLDER / f"{stimulus}.npz"


def find_allen_population(stimulus: str, local_dir: str | os.PathLike | None = None) -> Path | None:
    """The built population file of ``stimulus`` in the local data directory or the download cache, or None."""
    roots = [data_dir(local_dir), cache_dir()]
    for root in roots:
        if root is not None and population_file_path(stimulus, root).is_file():
            return population_file_path(stimulus, root)
    return None


def _condition_keys(table: SpikeCountTable) -> list[tuple[float, ...]]:
    params = STIMULI[table.stimulus][0]
    values = table.presentations[list(params)].astype(float).fillna(np.inf).to_numpy()  # a blank sorts last
    return [tuple(row) for row in values]


def _task_index(keys: list[tuple[float, ...]], which: int) -> np.ndarray:
    values = np.array([k[which] for k in keys])
    return np.unique(values, return_inverse=True)[1].astype(np.int64)


def _label_name(params: tuple[str, ...], key: tuple[float, ...]) -> str:
    if all(np.isinf(v) for v in key):
        return "blank"
    return ", ".join(f"{p} {v:g}" for p, v in zip(params, key, strict=True))


def population_from_tables(tables: Sequence[SpikeCountTable]) -> PopulationRecording:
    """Align the sessions' tables of one stimulus by (condition, repeat) into one :class:`PopulationRecording`.

    Trial ``t = condition * n_repeats + repeat``; ``n_repeats`` is the most repeats any session has of a condition,
    and a session's missing (condition, repeat) is NaN. Tasks: ``stimulus`` (the condition, blank last) and, when the
    stimulus has several parameters, one ``task`` per parameter (e.g. ``orientation`` of the static gratings).
    Every third repeat is ``test``, as in the Allen tables."""
    if not tables:
        raise ValueError("population_from_tables needs at least one session's table")
    stimulus = tables[0].stimulus
    if any(t.stimulus != stimulus for t in tables):
        raise ValueError(f"all tables must be of one stimulus; got {sorted({t.stimulus for t in tables})}")
    params = STIMULI[stimulus][0]
    per_table = [_condition_keys(t) for t in tables]
    conditions = sorted(set().union(*per_table))
    index = {k: i for i, k in enumerate(conditions)}
    cond = [np.array([index[k] for k in keys]) for keys in per_table]
    repeat = [repeats_within_class(c) for c in cond]  # presentations are in the order they were shown
    n_repeats = max(int(r.max()) + 1 for r in repeat)
    n_trials = len(conditions) * n_repeats
    counts = np.full((sum(len(t.unit_ids) for t in tables), n_trials), np.nan, np.float32)
    row = 0
    for t, c, r in zip(tables, cond, repeat, strict=True):
        counts[row: row + len(t.unit_ids), c * n_repeats + r] = t.counts
        row += len(t.unit_ids)
    trial_cond = np.repeat(np.arange(len(conditions)), n_repeats)
    tasks = {"stimulus": trial_cond}
    if len(params) > 1:
        for which, p in enumerate(params):
            tasks[p] = _task_index(conditions, which)[trial_cond]
    trial_repeat = np.tile(np.arange(n_repeats), len(conditions))
    animal = np.concatenate([np.full(len(t.unit_ids), str(t.session_id)) for t in tables])
    area = np.concatenate([t.units["ecephys_structure_acronym"].astype(str).to_numpy() for t in tables])
    names = np.array([_label_name(params, k) for k in conditions])
    return PopulationRecording(counts, tasks, split_from_repeats(trial_repeat), trial_repeat, animal, area,
                               {"stimulus": names}, f"allen_{stimulus}")


def _print_progress(done: int, total: int, what: str) -> None:
    bar = "#" * int(20 * done / max(total, 1))
    print(f"\r[{bar:<20}] {done}/{total} sessions {what}", end="\n" if done == total else "", file=sys.stderr,
          flush=True)


def build_allen_population(stimulus: str, *, n_sessions: int = 10, areas: tuple[str, ...] = AREAS,
                           quality: str = "allen_default", root: str | os.PathLike | None = None, cache=None,
                           progress: Callable[[int, int, str], None] | None = _print_progress) -> Path:
    """Download (through allensdk, cached and resumable), count and align ``n_sessions`` sessions (one per mouse)
    of ``stimulus`` into :func:`population_file_path`; returns its path. ``cache`` is an allensdk
    ``EcephysProjectCache`` (default: one whose downloads live under ``root`` or the download cache)."""
    if stimulus not in PAPER_STIMULI:
        raise ValueError(f"stimulus must be one of {PAPER_STIMULI} (the paper's), got {stimulus!r}")
    if int(n_sessions) < 1:
        raise ValueError(f"n_sessions must be >= 1, got {n_sessions}")
    base = Path(root if root is not None else cache_dir())
    cache = cache if cache is not None else project_cache(base)
    chosen = choose_sessions(cache.get_session_table(), stimulus, areas=areas, n=int(n_sessions))
    tables = []
    for k, session_id in enumerate(chosen.index):
        if progress:
            progress(k, len(chosen), f"(session {int(session_id)})")
        tables.append(session_counts(cache, int(session_id), stimulus, base / FOLDER / f"session_{int(session_id)}",
                                     areas=areas, quality=quality))
    if progress:
        progress(len(chosen), len(chosen), "counted")
    out = save_population_file(population_from_tables(tables), population_file_path(stimulus, base))
    load_population_file(out)  # what was written reads back and passes the checks
    return out
