"""Many sessions as one trial-aligned tensor on the device: animals x (condition, repeat) trials x units.

Trial ``t = condition * n_repeats + repeat`` is the same stimulus in every animal, whatever order each session
showed it in (the alignment comes from :meth:`GaborSession.aligned_index`). Units are padded to the largest session
and masked. Features are square-rooted counts z-scored per unit with statistics of the training repeats only,
optionally projected on each animal's first principal components (fitted on training repeats only).

Splits are by repeat: the data's own test repeats (one third) are ``test``; ``n_val_repeats`` of the remaining
repeats, spread over the session, are ``validation`` (used to choose hyperparameters and checkpoints); the rest
are ``train``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neurobook.data.allen_gabor import N_CONDITIONS, N_ORIENTATIONS, N_REPEATS, POSITIONS_DEG, TASKS, GaborSession
from neurobook.data.population_file import PopulationRecording, repeats_within_class, split_from_repeats

__all__ = ["Population", "build_population", "population_from_file", "population_from_trials", "split_by_repeat"]

SPLITS = ("train", "validation", "test")


@dataclass
class Population:
    """The aligned features of several animals and the labels of the aligned trials.

    Attributes:
        x: (n_animals, n_trials, n_units_max) float32 features on the device; padded units are 0.
        unit_mask: (n_animals, n_units_max) bool, True for real units.
        present: (n_animals, n_trials) bool, False where a session lacks that (condition, repeat).
        condition, repeat: (n_trials,) int labels of the aligned trials.
        split: (n_trials,) str ``train``/``validation``/``test``.
        session_ids: the animals' session ids.
        areas: per animal, the (n_units,) area of each real unit (before any projection).
        n_units: (n_animals,) real units per animal (before any projection).
        tasks: for a population of another stimulus (:func:`population_from_file`), task name -> (n_trials,) class
            of each trial; None means the Gabor tasks (position, orientation, condition).
    """

    x: torch.Tensor
    unit_mask: torch.Tensor
    present: torch.Tensor
    condition: np.ndarray
    repeat: np.ndarray
    split: np.ndarray
    session_ids: list[int | str]
    areas: list[np.ndarray]
    n_units: np.ndarray
    projected: bool = False
    tasks: dict[str, np.ndarray] | None = None

    @property
    def n_animals(self) -> int:
        return self.x.shape[0]

    @property
    def n_trials(self) -> int:
        return self.x.shape[1]

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def task_names(self) -> list[str]:
        """The tasks this population can be decoded on."""
        return list(TASKS) if self.tasks is None else list(self.tasks)

    def n_classes(self, task: str) -> int:
        """Number of classes of ``task``."""
        if self.tasks is None:
            self.labels(task)
            return TASKS[task]
        return int(self.labels(task).max()) + 1

    def labels(self, task: str) -> np.ndarray:
        """(n_trials,) class of each aligned trial for ``task``."""
        if task not in self.task_names:
            raise ValueError(f"task must be one of {sorted(self.task_names)}, got {task!r}")
        if self.tasks is not None:
            return self.tasks[task]
        if task == "condition":
            return self.condition
        return self.condition // N_ORIENTATIONS if task == "position" else self.condition % N_ORIENTATIONS

    def mask(self, split: str) -> torch.Tensor:
        """(n_animals, n_trials) bool: trials of ``split`` that the animal has."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.present & torch.as_tensor(self.split == split, device=self.device)[None, :]

    def position_deg(self) -> np.ndarray:
        """(81, 2) (x, y) in degrees of each position class."""
        k = len(POSITIONS_DEG)
        p = np.arange(k * k)
        return np.stack([POSITIONS_DEG[p % k], POSITIONS_DEG[p // k]], axis=1)


def _repeat_splits(sessions: list[GaborSession], n_repeats: int, n_val_repeats: int) -> np.ndarray:
    test = np.zeros(n_repeats, bool)
    for r in range(n_repeats):
        votes = [np.mean(s.split[s.repeat == r] == "test") for s in sessions if (s.repeat == r).any()]
        test[r] = bool(votes) and float(np.mean(votes)) > 0.5
    fit = np.flatnonzero(~test)
    if n_val_repeats < 0 or len(fit) - n_val_repeats < 1 or not test.any():
        raise ValueError(f"need at least one train and one test repeat: {len(fit)} non-test repeats, "
                         f"{n_val_repeats} asked for validation, {int(test.sum())} test repeats")
    out = np.where(test, "test", "train").astype(object)
    if n_val_repeats:
        pick = fit[np.linspace(0, len(fit) - 1, n_val_repeats + 2)[1:-1].round().astype(int)]
        out[pick] = "validation"
    return out.astype(str)


def _features(counts: np.ndarray, present: np.ndarray, fit_trials: np.ndarray, n_components: int | None,
              what: str) -> np.ndarray:
    """(n_trials, n_features) square-rooted counts z-scored on the present fit trials (0 on absent trials),
    optionally projected on their first ``n_components`` principal components (fitted on the same trials)."""
    use = present & fit_trials
    if use.sum() < 2:
        raise ValueError(f"{what}: fewer than 2 training trials after alignment")
    feats = np.sqrt(np.clip(counts, 0, None)).astype(np.float32)
    mu, sd = feats[use].mean(0), feats[use].std(0)
    feats = np.where(present[:, None], (feats - mu) / np.where(sd > 1e-6, sd, 1.0), 0.0).astype(np.float32)
    if not n_components:
        return feats
    _, _, vt = np.linalg.svd(feats[use], full_matrices=False)
    proj = feats @ vt[: min(n_components, vt.shape[0])].T
    proj /= proj[use].std(0).clip(1e-6).mean()  # one common scale, component variances kept
    return np.where(present[:, None], proj, 0.0).astype(np.float32)


def build_population(sessions: list[GaborSession], *, n_repeats: int = N_REPEATS, n_val_repeats: int = 2,
                     n_components: int | None = None, device: str | torch.device = "cpu") -> Population:
    """Align ``sessions`` by (condition, repeat) into one :class:`Population` on ``device``.

    ``n_components`` projects each animal's z-scored units on its first principal components (fitted on the train
    repeats), so that all animals have the same small input size; None keeps the units.
    """
    if not sessions:
        raise ValueError("build_population needs at least one session")
    if any(not isinstance(s, GaborSession) for s in sessions):
        raise TypeError("sessions must be GaborSession objects (neurobook.data.allen_gabor.load_gabor_session)")
    rep_split = _repeat_splits(sessions, n_repeats, n_val_repeats)
    n_trials = N_CONDITIONS * n_repeats
    split = np.tile(rep_split, N_CONDITIONS)
    fit_trials = split == "train"
    width = n_components if n_components else max(s.n_units for s in sessions)
    x = np.zeros((len(sessions), n_trials, width), np.float32)
    unit_mask = np.zeros((len(sessions), width), bool)
    present = np.zeros((len(sessions), n_trials), bool)
    for a, s in enumerate(sessions):
        idx = s.aligned_index(n_repeats).reshape(-1)
        ok = idx >= 0
        counts = np.zeros((n_trials, s.n_units), np.float32)
        counts[ok] = s.counts[idx[ok]]
        feats = _features(counts, ok, fit_trials, n_components, f"session {s.session_id}")
        x[a, :, : feats.shape[1]] = feats
        unit_mask[a, : feats.shape[1]] = True
        present[a] = ok
    dev = torch.device(device)
    return Population(
        x=torch.from_numpy(x).to(dev), unit_mask=torch.from_numpy(unit_mask).to(dev),
        present=torch.from_numpy(present).to(dev), condition=np.repeat(np.arange(N_CONDITIONS), n_repeats),
        repeat=np.tile(np.arange(n_repeats), N_CONDITIONS), split=split,
        session_ids=[int(s.session_id) for s in sessions], areas=[s.areas.copy() for s in sessions],
        n_units=np.array([s.n_units for s in sessions]), projected=bool(n_components),
    )


def population_from_trials(responses: np.ndarray, labels: np.ndarray, split: np.ndarray, *,
                           n_components: int | None = None, name: int = 0, device: str | torch.device = "cpu"
                           ) -> Population:
    """One animal's trials x neurons responses as a :class:`Population` with arbitrary class ``labels`` (e.g. image
    identity), for the decoders of :mod:`neurobook.decoding.fit` that take labels. ``split`` is train/validation/
    test per trial; responses are square-rooted (clipped at 0) and z-scored on the train trials, and optionally
    projected on their first principal components (fitted on the train trials)."""
    r = np.asarray(responses, np.float32)
    labels, split = np.asarray(labels), np.asarray(split).astype(str)
    if r.ndim != 2 or labels.shape != (len(r),) or split.shape != (len(r),):
        raise ValueError(f"responses must be (trials, neurons) with one label and split per trial; got {r.shape}, "
                         f"{labels.shape}, {split.shape}")
    if set(np.unique(split)) - set(SPLITS) or not (split == "train").any() or not (split == "test").any():
        raise ValueError(f"split must hold train and test trials (and optionally validation), got {np.unique(split)}")
    feats = _features(r, np.ones(len(r), bool), split == "train", n_components, f"animal {name}")
    dev = torch.device(device)
    return Population(
        x=torch.from_numpy(feats[None]).to(dev),
        unit_mask=torch.ones(1, feats.shape[1], dtype=torch.bool, device=dev),
        present=torch.ones(1, len(r), dtype=torch.bool, device=dev), condition=labels.astype(np.int64),
        repeat=np.zeros(len(r), np.int64), split=split, session_ids=[name],
        areas=[np.array(["V1"] * r.shape[1])], n_units=np.array([r.shape[1]]), projected=bool(n_components))


def population_from_file(rec: PopulationRecording, *, n_components: int | None = None,
                         device: str | torch.device = "cpu") -> Population:
    """A :class:`PopulationRecording` (:func:`neurobook.data.population_file.load_population_file`) as a
    :class:`Population` whose tasks are the file's (``stimulus`` and any ``task_<name>``): one animal per distinct
    ``animal``, its units' square-rooted counts z-scored on its train trials, optionally projected on its first
    ``n_components`` principal components."""
    animals = rec.animals
    fit_trials = rec.split == "train"
    blocks, present, areas, n_units = [], [], [], []
    for animal in animals:
        counts, ok = rec.animal_counts(animal)
        blocks.append(_features(counts, ok, fit_trials, n_components, f"{rec.name}: animal {animal}"))
        present.append(ok)
        areas.append(rec.area[rec.animal == animal].copy())
        n_units.append(int((rec.animal == animal).sum()))
    width = max(b.shape[1] for b in blocks)
    x = np.zeros((len(animals), rec.n_trials, width), np.float32)
    unit_mask = np.zeros((len(animals), width), bool)
    for a, b in enumerate(blocks):
        x[a, :, : b.shape[1]] = b
        unit_mask[a, : b.shape[1]] = True
    dev = torch.device(device)
    return Population(
        x=torch.from_numpy(x).to(dev), unit_mask=torch.from_numpy(unit_mask).to(dev),
        present=torch.from_numpy(np.stack(present)).to(dev), condition=rec.tasks["stimulus"].copy(),
        repeat=rec.repeat.copy(), split=rec.split.copy(), session_ids=list(animals), areas=areas,
        n_units=np.array(n_units), projected=bool(n_components), tasks={k: v.copy() for k, v in rec.tasks.items()})


def split_by_repeat(labels: np.ndarray, test_every: int = 3, validation_every: int = 5) -> np.ndarray:
    """Split trials by their repeat number within their class (in trial order): every ``test_every``-th repeat is
    ``test``, of the rest every ``validation_every``-th is ``validation``, the others ``train``."""
    return split_from_repeats(repeats_within_class(labels), test_every, validation_every)
