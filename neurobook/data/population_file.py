"""A population recording of any stimulus in one npz: spike counts of units x trials, a class per trial, and which
animal each unit belongs to (the format of ``-p data_file`` in Chapter 3; README: Bring your own data).

::

    numpy.savez("mine.npz",
                counts=counts,   # (n_units, n_trials) spike counts >= 0; NaN where the unit's animal lacks the trial
                labels=labels,   # (n_trials,) int >= 0: the stimulus class of each trial (the task "stimulus")
                animal=animal,   # optional (n_units,) int or str: the animal (session) of each unit; default one
                repeat=repeat,   # optional (n_trials,) int: the repeat of the trial's class (0, 1, ...)
                split=split,     # optional (n_trials,) str: train / validation / test; default from the repeats
                area=area,       # optional (n_units,) str: the brain area of each unit
                label_names=names,   # optional (n_classes,) str: what each class is
                task_orientation=o)  # optional, any number of task_<name>: (n_trials,) int, another task

A trial (a column) is one presentation of its class, aligned across animals: the animals of a file may have been
recorded on different days, but column ``t`` holds, in every animal, a presentation of class ``labels[t]`` (its
repeat ``repeat[t]``). With one animal, columns are simply its trials. Without ``split`` every third repeat of a
class is ``test`` and every fifth of the others ``validation`` (:func:`split_from_repeats`); the repeat of a trial
is its rank among the trials of its class when ``repeat`` is absent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurobook.data.npz import UserDataError
from neurobook.files import atomic_path

__all__ = ["PopulationRecording", "load_population_file", "repeats_within_class", "save_population_file",
           "split_from_repeats"]

SPLITS = ("train", "validation", "test")
TASK_PREFIX = "task_"
KNOWN = {"counts", "labels", "animal", "repeat", "split", "area", "label_names"}


def repeats_within_class(labels: np.ndarray) -> np.ndarray:
    """(n_trials,) the rank of each trial among the trials of its class, in trial order."""
    labels = np.asarray(labels)
    repeat = np.zeros(len(labels), np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        repeat[where] = np.arange(len(where))
    return repeat


def split_from_repeats(repeat: np.ndarray, test_every: int = 3, validation_every: int = 5) -> np.ndarray:
    """Every ``test_every``-th repeat is ``test``; of the others every ``validation_every``-th ``validation``."""
    repeat = np.asarray(repeat)
    return np.where(repeat % test_every == test_every - 1, "test",
                    np.where(repeat % validation_every == validation_every - 1, "validation", "train"))


@dataclass
class PopulationRecording:
    """Spike counts of the units of one or more animals on aligned trials, with the classes of the trials.

    Attributes:
        counts: (n_units, n_trials) float32 counts, NaN where the unit's animal lacks the trial.
        tasks: task name -> (n_trials,) int class of each trial; ``stimulus`` is the file's ``labels``.
        split: (n_trials,) ``train`` / ``validation`` / ``test``.
        repeat: (n_trials,) repeat of the trial's class.
        animal: (n_units,) str animal id of each unit.
        area: (n_units,) str area of each unit (``"unknown"`` when the file has none).
        label_names: per task, the name of each class (the file's ``label_names`` for ``stimulus``), or absent.
        name: where it came from (the file name).
    """

    counts: np.ndarray
    tasks: dict[str, np.ndarray]
    split: np.ndarray
    repeat: np.ndarray
    animal: np.ndarray
    area: np.ndarray
    label_names: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "population"

    @property
    def animals(self) -> list[str]:
        """The animals, in order of first appearance among the units."""
        _, first = np.unique(self.animal, return_index=True)
        return [str(self.animal[i]) for i in np.sort(first)]

    @property
    def n_units(self) -> int:
        return self.counts.shape[0]

    @property
    def n_trials(self) -> int:
        return self.counts.shape[1]

    def animal_counts(self, animal: str) -> tuple[np.ndarray, np.ndarray]:
        """(n_trials, n_units_of_animal) counts of one animal (0 where absent) and (n_trials,) its present trials."""
        units = self.animal == animal
        sub = self.counts[units].T
        present = np.isfinite(sub).all(1)
        return np.where(present[:, None], sub, 0.0), present


def _fail(name: str, what: str) -> UserDataError:
    return UserDataError(f"{name}: {what} (see the README, 'Bring your own data', Chapter 3's population file)")


def _int_labels(name: str, key: str, values: np.ndarray, n_trials: int, min_distinct: int = 2) -> np.ndarray:
    if values.shape != (n_trials,):
        raise _fail(name, f"'{key}' must have one value per trial, shape ({n_trials},); got {values.shape}")
    integral = np.issubdtype(values.dtype, np.integer) or (
        np.issubdtype(values.dtype, np.floating) and np.all(np.isfinite(values))
        and np.array_equal(values, np.round(values)))
    if not integral:
        raise _fail(name, f"'{key}' must hold integer classes, got dtype {values.dtype}")
    values = values.astype(np.int64)
    if values.min() < 0:
        raise _fail(name, f"'{key}' must hold classes >= 0, found {values.min()}")
    if len(np.unique(values)) < min_distinct:
        raise _fail(name, f"'{key}' holds a single class: there is nothing to decode")
    return values


def _check_counts(name: str, counts: np.ndarray) -> np.ndarray:
    if counts.ndim != 2 or min(counts.shape) < 1:
        raise _fail(name, f"'counts' must be (n_units, n_trials), got shape {counts.shape}")
    if not np.issubdtype(counts.dtype, np.number) or np.issubdtype(counts.dtype, np.complexfloating):
        raise _fail(name, f"'counts' must be numeric, got dtype {counts.dtype}")
    counts = counts.astype(np.float32)
    if np.isinf(counts).any() or (counts[np.isfinite(counts)] < 0).any():
        raise _fail(name, "'counts' must be spike counts >= 0 (NaN marks a missing trial; no inf)")
    return counts


def _check_per_unit(name: str, key: str, values: np.ndarray | None, n_units: int, default: str) -> np.ndarray:
    if values is None:
        return np.full(n_units, default, dtype=object).astype(str)
    if values.shape != (n_units,):
        raise _fail(name, f"'{key}' must have one value per unit, shape ({n_units},); got {values.shape}")
    return values.astype(str)


def _check_split(name: str, split: np.ndarray | None, repeat: np.ndarray, n_trials: int) -> np.ndarray:
    if split is None:
        split = split_from_repeats(repeat)
    elif split.shape != (n_trials,):
        raise _fail(name, f"'split' must have one value per trial, shape ({n_trials},); got {split.shape}")
    split = split.astype(str)
    bad = sorted(set(np.unique(split)) - set(SPLITS))
    if bad:
        raise _fail(name, f"'split' must hold only {list(SPLITS)}, found {bad}")
    for needed in ("train", "test"):
        if not (split == needed).any():
            raise _fail(name, f"no '{needed}' trials: a class needs at least 3 repeats for a train/test split "
                              "by repeat, or give 'split'")
    return split


def _check_animals(name: str, counts: np.ndarray, animal: np.ndarray, split: np.ndarray) -> None:
    for a in np.unique(animal):
        present = np.isfinite(counts[animal == a]).all(0)
        partial = (np.isfinite(counts[animal == a]).any(0) & ~present).sum()
        if partial:
            raise _fail(name, f"animal {a!s}: {partial} trials are NaN for some of its units but not others; a "
                              "missing trial is NaN for all units of the animal")
        for needed in ("train", "test"):
            if not (present & (split == needed)).any():
                raise _fail(name, f"animal {a!s} has no '{needed}' trial")


def load_population_file(path: str | os.PathLike) -> PopulationRecording:
    """Read and check a population npz (the format in this module's docstring); every problem is a
    :class:`~neurobook.data.npz.UserDataError` naming the key and what it should be."""
    path = Path(path).expanduser()
    name = path.name
    if not path.is_file():
        raise UserDataError(f"data_file '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:  # any unreadable file is reported as one
        raise _fail(name, f"not a readable npz ({type(err).__name__}: {err})") from err
    missing = [k for k in ("counts", "labels") if k not in arrays]
    if missing:
        raise _fail(name, f"missing {missing}; the file holds {sorted(arrays)}")
    unknown = sorted(k for k in arrays if k not in KNOWN and not k.startswith(TASK_PREFIX))
    if unknown:
        raise _fail(name, f"unknown keys {unknown}; extra tasks are named task_<name>")
    counts = _check_counts(name, arrays["counts"])
    n_units, n_trials = counts.shape
    tasks = {"stimulus": _int_labels(name, "labels", arrays["labels"], n_trials)}
    for key in sorted(k for k in arrays if k.startswith(TASK_PREFIX)):
        tasks[key[len(TASK_PREFIX):]] = _int_labels(name, key, arrays[key], n_trials)
    repeat = arrays.get("repeat")
    repeat = repeats_within_class(tasks["stimulus"]) if repeat is None else \
        _int_labels(name, "repeat", repeat, n_trials, min_distinct=1)
    split = _check_split(name, arrays.get("split"), repeat, n_trials)
    animal = _check_per_unit(name, "animal", arrays.get("animal"), n_units, "animal 0")
    area = _check_per_unit(name, "area", arrays.get("area"), n_units, "unknown")
    _check_animals(name, counts, animal, split)
    names = {}
    if "label_names" in arrays:
        ln = arrays["label_names"].astype(str)
        if ln.ndim != 1 or len(ln) <= tasks["stimulus"].max():
            raise _fail(name, f"'label_names' must name every class 0..{tasks['stimulus'].max()}; got {ln.shape}")
        names["stimulus"] = ln
    return PopulationRecording(counts, tasks, split, repeat, animal, area, names, name)


def save_population_file(rec: PopulationRecording, path: str | os.PathLike) -> Path:
    """Write ``rec`` in the population npz format (to a temporary name first, then renamed onto ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"counts": rec.counts, "labels": rec.tasks["stimulus"], "animal": rec.animal.astype(str),
              "repeat": rec.repeat, "split": rec.split.astype(str), "area": rec.area.astype(str)}
    arrays.update({f"{TASK_PREFIX}{k}": v for k, v in rec.tasks.items() if k != "stimulus"})
    if "stimulus" in rec.label_names:
        arrays["label_names"] = rec.label_names["stimulus"].astype(str)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path
