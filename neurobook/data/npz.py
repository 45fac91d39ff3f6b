"""Bring your own data: a documented npz layout loaded into :class:`StimulusResponseData` with every field checked.

The layout (``numpy.savez(path, images=..., responses=..., tiers=..., image_ids=...)``):

=============  =====================================  ===============================================================
key            shape, dtype                           meaning
=============  =====================================  ===============================================================
images         (n_trials, height, width), numeric     the grayscale stimulus shown on each trial (any range);
                                                      with ``colour=True`` also (n_trials, 3, height, width)
responses      (n_trials, n_neurons), numeric         each neuron's response on each trial (rates, counts, dF/F ...)
tiers          (n_trials,), str                       ``train``, ``validation`` or ``test`` per trial
image_ids      (n_trials,), int                       equal ids are repeats of the same image; the test tier needs
                                                      repeats (at least 2 per image) for the noise ceiling
neuron_ids     (n_neurons,), int, optional            identifiers of the neurons (default 0..n_neurons-1)
behavior       (n_trials, k), numeric, optional       per-trial behaviour (e.g. pupil dilation, its derivative,
                                                      running speed) for the behavioural modulator
pupil_center   (n_trials, 2), numeric, optional       per-trial pupil position (x, y) for the eye-position shifter
neuron_xyz     (n_neurons, 2 or 3), numeric, optional each neuron's position on cortex (any unit); the Gaussian
                                                      readout's grid predictor places receptive fields from it
image_type     (n_trials,), str, optional             ``natural`` for photographs, anything else for synthetic
                                                      images (Chapter 5's yardstick uses only ``natural`` ones)
=============  =====================================  ===============================================================

``behavior`` and ``pupil_center`` are stored in ``data.meta`` under those names (sliced with the trials), where
:func:`neurobook.train.fit` finds them for a :class:`~neurobook.models.BehaviorModel`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from neurobook.data.fetch import DataNotFoundError
from neurobook.data.types import TIERS, StimulusResponseData

REQUIRED = ("images", "responses", "tiers", "image_ids")
TRIAL_ARRAYS = {"behavior": None, "pupil_center": 2}  # optional per-trial (n_trials, k) arrays: name -> k
OPTIONAL = ("neuron_ids", "neuron_xyz", "image_type", *TRIAL_ARRAYS)
LAYOUT_HELP = ("an npz with images (n_trials, height, width), responses (n_trials, n_neurons), tiers (n_trials,) "
               "of 'train'/'validation'/'test', image_ids (n_trials,) int, optional neuron_ids (n_neurons,), "
               "behavior (n_trials, k), pupil_center (n_trials, 2) and neuron_xyz (n_neurons, 2 or 3); "
               "see neurobook/data/npz.py")


class UserDataError(ValueError):
    """A user's npz does not fit the layout; the message says which field and what it should be."""


def read_arrays(path: Path, required: tuple[str, ...], optional: tuple[str, ...],
                layout_help: str) -> dict[str, np.ndarray]:
    """The ``required`` and present ``optional`` arrays of a user's npz; :class:`UserDataError` naming what is wrong
    (a missing array, a truncated or pickled file) and the expected layout ``layout_help``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in required if k not in z.files]
            if missing:
                raise UserDataError(f"{path}: missing array(s) {missing}; found {z.files}. Expected {layout_help}")
            return {k: z[k] for k in (*required, *optional) if k in z.files}
    except UserDataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise UserDataError(f"{path} could not be read as an npz ({type(err).__name__}: {err}); the file is "
                            f"truncated or not an npz. Save it again with numpy.savez. "
                            f"Expected {layout_help}") from None


def _read(path: Path) -> dict[str, np.ndarray]:
    return read_arrays(path, REQUIRED, OPTIONAL, LAYOUT_HELP)


def _check_numeric(path: Path, name: str, arr: np.ndarray, ndim: int, shape_text: str) -> None:
    if arr.ndim != ndim:
        raise UserDataError(f"{path}: {name} must be {shape_text}; got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserDataError(f"{path}: {name} must be numeric; got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.isfinite(arr).sum())
        raise UserDataError(f"{path}: {name} holds {bad} NaN or infinite value(s); remove or impute those trials "
                            f"before loading (the models and the ceiling need finite values)")


def load_npz(path: str | os.PathLike, *, require_repeats: bool = True, colour: bool = False) -> StimulusResponseData:
    """Load and check a user's recordings laid out as described in this module's docstring.

    ``colour`` also accepts colour images (n_trials, 3, height, width), returned as they are.

    Raises :class:`UserDataError` (a ``ValueError``) with the offending field for any misfit, and
    :class:`~neurobook.data.fetch.DataNotFoundError` when the file does not exist.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"no data file at {path}; expected {LAYOUT_HELP}")
    arrays = _read(path)
    images, responses = arrays["images"], arrays["responses"]
    _check_images(path, images, colour)
    _check_numeric(path, "responses", responses, 2, "(n_trials, n_neurons)")
    n = images.shape[0]
    if responses.shape[0] != n:
        raise UserDataError(f"{path}: responses has {responses.shape[0]} trials but images has {n}; both need one "
                            f"row per trial")
    tiers, image_ids = arrays["tiers"], arrays["image_ids"]
    if tiers.shape != (n,) or image_ids.shape != (n,):
        raise UserDataError(f"{path}: tiers and image_ids must have shape ({n},); got {tiers.shape} and "
                            f"{image_ids.shape}")
    if tiers.dtype.kind not in "US":
        raise UserDataError(f"{path}: tiers must be strings ('train', 'validation', 'test'); got dtype {tiers.dtype}")
    tiers = tiers.astype(str)
    absent = [t for t in TIERS if t not in set(tiers)]
    unknown = sorted(set(tiers) - set(TIERS))
    if unknown or absent:
        raise UserDataError(f"{path}: tiers must use each of {TIERS}; unknown {unknown}, absent {absent}")
    if not np.issubdtype(image_ids.dtype, np.integer):
        raise UserDataError(f"{path}: image_ids must be integers; got dtype {image_ids.dtype}")
    neuron_ids = arrays.get("neuron_ids", np.arange(responses.shape[1]))
    if neuron_ids.shape != (responses.shape[1],) or not np.issubdtype(neuron_ids.dtype, np.integer):
        raise UserDataError(f"{path}: neuron_ids must be ({responses.shape[1]},) integers; got "
                            f"{neuron_ids.shape} {neuron_ids.dtype}")
    extra = _trial_arrays(path, arrays, n)
    if "neuron_xyz" in arrays:
        xyz = arrays["neuron_xyz"]
        _check_numeric(path, "neuron_xyz", xyz, 2, f"(n_neurons={responses.shape[1]}, 2 or 3)")
        if xyz.shape[0] != responses.shape[1] or xyz.shape[1] not in (2, 3):
            raise UserDataError(f"{path}: neuron_xyz must be (n_neurons={responses.shape[1]}, 2 or 3), one row of "
                                f"cortical coordinates per neuron; got shape {xyz.shape}")
        extra["neuron_xyz"] = xyz.astype(np.float32)
    if "image_type" in arrays:
        extra["image_type"] = _image_types(path, arrays["image_type"], n)
    if require_repeats:
        _check_test_repeats(path, image_ids, tiers)
    return StimulusResponseData(images, responses, tiers, image_ids, neuron_ids, name=path.name,
                                meta={"source": str(path.resolve()), "license": "the user's own data",
                                      "species": "unknown", "area": "unknown", "layer": "",
                                      "recording": "user-supplied npz", **extra})


def _check_images(path: Path, images: np.ndarray, colour: bool) -> None:
    if colour and images.ndim == 4:
        _check_numeric(path, "images", images, 4, "(n_trials, 3, height, width) or (n_trials, height, width)")
        if images.shape[1] != 3:
            raise UserDataError(f"{path}: colour images must be (n_trials, 3, height, width), channels first; got "
                                f"shape {images.shape}")
    else:
        _check_numeric(path, "images", images, 3, "(n_trials, height, width)"
                       + (" or (n_trials, 3, height, width)" if colour else ""))


def _image_types(path: Path, kinds: np.ndarray, n: int) -> np.ndarray:
    if kinds.shape != (n,) or kinds.dtype.kind not in "US":
        raise UserDataError(f"{path}: image_type must be ({n},) strings ('natural' for photographs); got "
                            f"{kinds.shape} {kinds.dtype}")
    return kinds.astype(str)


def _trial_arrays(path: Path, arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The optional per-trial arrays (behaviour, pupil position) present in the file, checked, as float32."""
    found = {}
    for name, k in TRIAL_ARRAYS.items():
        if name not in arrays:
            continue
        needed = f"(n_trials={n}, {k or 'k'})"
        _check_numeric(path, name, arrays[name], 2, needed)
        if arrays[name].shape[0] != n or (k is not None and arrays[name].shape[1] != k):
            raise UserDataError(f"{path}: {name} must be {needed}, one row per trial; got shape {arrays[name].shape}")
        found[name] = arrays[name].astype(np.float32)
    return found


def _check_test_repeats(path: Path, image_ids: np.ndarray, tiers: np.ndarray) -> None:
    _, counts = np.unique(image_ids[tiers == "test"], return_counts=True)
    if counts.size == 0 or counts.max() < 2:
        raise UserDataError(
            f"{path}: the test tier has no repeated images (each test image_id occurs once). The noise ceiling "
            f"needs repeats: show each test image at least twice (about 10 times is usual) with the same image_id")



def load_colour_npz(path: str | os.PathLike, *, min_size: int = 16) -> StimulusResponseData:
    """A user's recordings of a higher visual area for Chapter 5: the npz layout above, with colour or grayscale
    images (grayscale ones copied to three channels), square and at least ``min_size`` pixels a side.

    ``meta`` gains ``session`` (``"user"`` per trial), ``neuron_session`` (per neuron) and ``image_type``
    (``"natural"`` for every trial unless the file says otherwise). Test repeats are optional.
    """
    data = load_npz(path, require_repeats=False, colour=True)
    h, w = data.image_shape
    if h != w or h < min_size:
        raise UserDataError(f"{path}: images must be square and at least {min_size} px a side for the image priors; "
                            f"got {h}x{w}. Crop or pad them to a square (e.g. a centre crop) and save again")
    images = data.images if data.images.ndim == 4 else np.repeat(data.images[:, None], 3, axis=1)
    n = len(images)
    meta = {**data.meta, "session": np.full(n, "user"), "neuron_session": np.full(data.n_neurons, "user"),
            "image_type": data.meta.get("image_type", np.full(n, "natural"))}
    return StimulusResponseData(images.astype(np.float32), data.responses, data.tiers, data.image_ids,
                                data.neuron_ids, name=data.name, meta=meta)
