"""Typed containers that every loader returns, with shapes and dtypes checked on construction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurobook.checks import check_positive_int

TIERS = ("train", "validation", "test")


@dataclass
class StimulusResponseData:
    """Images shown on trials and the neural responses they evoked.

    Attributes:
        images: (n_trials, height, width) float32 stimulus frames, or (n_trials, channels, height, width) with
            channels first: colour channels, or a stimulus history as channels (retina: channel k = the frame k bins
            before the response bin). float32 unless given as int8/uint8/float16, which are kept to save memory
            (binary noise is exact in int8); :func:`neurobook.train.fit` casts each batch to float32.
        responses: (n_trials, n_neurons) float32 responses (rates, counts or deconvolved activity).
        tiers: (n_trials,) str, one of ``train``/``validation``/``test`` per trial.
        image_ids: (n_trials,) int; equal ids are repeats of the same image.
        neuron_ids: (n_neurons,) int identifiers of the neurons.
        name: the data set's registry name; ``simulated`` for model populations.
        meta: anything else a loader knows (units, area, ground truth, ...). Arrays in ``meta`` whose first axis
            has one entry per trial (or per neuron) are sliced along with the trials (or neurons).
    """

    images: np.ndarray
    responses: np.ndarray
    tiers: np.ndarray
    image_ids: np.ndarray
    neuron_ids: np.ndarray
    name: str = "unnamed"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.dtype not in (np.int8, np.uint8, np.float16):
            images = images.astype(np.float32, copy=False)
        self.images = images
        self.responses = np.asarray(self.responses, dtype=np.float32)
        self.tiers = np.asarray(self.tiers).astype(str)
        self.image_ids = np.asarray(self.image_ids).astype(np.int64)
        self.neuron_ids = np.asarray(self.neuron_ids).astype(np.int64)
        if self.images.ndim not in (3, 4):
            raise ValueError(
                f"images must be (n_trials, height, width) or (n_trials, channels, height, width); "
                f"got shape {self.images.shape}"
            )
        n = self.images.shape[0]
        if self.responses.ndim != 2 or self.responses.shape[0] != n:
            raise ValueError(
                f"responses must be (n_trials={n}, n_neurons); got shape {self.responses.shape}"
            )
        for name in ("tiers", "image_ids"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},); got {arr.shape}")
        if self.neuron_ids.shape != (self.responses.shape[1],):
            raise ValueError(
                f"neuron_ids must have shape ({self.responses.shape[1]},); got {self.neuron_ids.shape}"
            )
        unknown = set(np.unique(self.tiers)) - set(TIERS)
        if unknown:
            raise ValueError(f"tiers must be in {TIERS}; found {sorted(unknown)}")

    @property
    def n_neurons(self) -> int:
        return self.responses.shape[1]

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.images.shape[-2], self.images.shape[-1]

    @property
    def n_channels(self) -> int:
        """1 for (n, H, W) images, else the channel axis of (n, C, H, W): colour channels or history frames."""
        return 1 if self.images.ndim == 3 else self.images.shape[1]

    def tier(self, name: str) -> StimulusResponseData:
        """The trials of one tier (``train``, ``validation`` or ``test``)."""
        if name not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}, got {name!r}")
        return self.select_trials(self.tiers == name)

    def select_trials(self, mask: np.ndarray) -> StimulusResponseData:
        """A copy holding only the trials where ``mask`` is true (or the given indices)."""
        return StimulusResponseData(
            self.images[mask], self.responses[mask], self.tiers[mask], self.image_ids[mask],
            self.neuron_ids, self.name, self._sliced_meta(len(self.tiers), mask),
        )

    def select_neurons(self, index: np.ndarray) -> StimulusResponseData:
        """A copy holding only the neurons at ``index`` (indices or boolean mask)."""
        return StimulusResponseData(
            self.images, self.responses[:, index], self.tiers, self.image_ids,
            self.neuron_ids[index], self.name, self._sliced_meta(self.n_neurons, index),
        )

    def subsample(self, neurons: int | None = None, train_trials: int | None = None,
                  seed: int = 0) -> StimulusResponseData:
        """A random subset: ``neurons`` neurons (kept in their order) and at most ``train_trials`` train trials.

        Validation and test trials are all kept. ``None`` keeps everything; asking for more than there are keeps
        them all. One generator, ``np.random.default_rng(seed)``, draws the neurons first, then the train trials.
        """
        for name, value in (("neurons", neurons), ("train_trials", train_trials)):
            if value is not None:
                check_positive_int(name, value)
        rng = np.random.default_rng(seed)
        out = self
        if neurons is not None:
            out = out.select_neurons(np.sort(rng.choice(self.n_neurons, size=min(neurons, self.n_neurons),
                                                        replace=False)))
        train = np.flatnonzero(out.tiers == "train")
        if train_trials is not None and train_trials < len(train):
            drop = rng.choice(train, size=len(train) - train_trials, replace=False)
            out = out.select_trials(~np.isin(np.arange(len(out.tiers)), drop))
        return out

    def _sliced_meta(self, length: int, index: np.ndarray) -> dict:
        if len(self.tiers) == self.n_neurons:
            raise ValueError("cannot tell per-trial from per-neuron meta arrays when n_trials == n_neurons")
        return {k: v[index] if isinstance(v, np.ndarray) and v.ndim and len(v) == length else v
                for k, v in self.meta.items()}

    def repeats(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unique image ids and, for each, the array of its trials' responses (n_repeats, n_neurons)."""
        ids = np.unique(self.image_ids)
        return ids, [self.responses[self.image_ids == i] for i in ids]
