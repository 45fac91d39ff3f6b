"""Loader for Cowley et al. 2023 macaque V4 (``cowley2023_macaque_v4``).

Local layout (see the data set's SOURCE.txt): ``images/images_<session>.zip`` with 112x112x3 JPEGs named
``image0001.jpg``... (sometimes inside a folder); sorted by name, image k is column k of
``responses_repeat_averaged/responses_<session>.npy`` (n_neurons, n_images). ``responses_raw/responses_210325.npy``
(n_neurons, n_images, n_repeats, NaN for missing repeats) holds the single repeats of one session, the only source of
a noise ceiling here.

Images are returned channels first, (n, 3, H, W) float32 in 0..255, colour kept. Responses are repeat-averaged spike
counts in 100 ms bins. Sessions record different neurons and show different images: :func:`load_cowley2023` stacks
several sessions into one :class:`StimulusResponseData` whose responses are NaN where a neuron was not recorded
(``neurobook.train.fit`` masks them), so that one model (a shared core with per-neuron readouts) learns them all.

Image types (``meta["image_type"]``, :data:`IMAGE_TYPES`). The sessions mix natural photographs with synthetic
images, and the file names do not say which is which. The ranges below were read by eye from montages of every
session (4 images from each block of 100, and the 8 images on each side of every boundary); the authors' readme
lists the types per session (``readme_as_shipped.txt``), though its counts for the WE sessions (900 images) do not
match the 1200 images of this copy:

* ``natural``: photographs (people, scenes, objects, and some graphics and textures photographed or drawn);
* ``active learning``: WE sessions 190925-190929, images 600-899: synthesized mosaics and warped composites;
* ``validation experiment``: session 210305, all 400 images: psychedelic synthesized images (0-99) and natural
  photographs edited by blurring, occlusion or pasted colour swatches (100-399);
* ``Bashivan 2019``: session 210322 images 600-1199 and all of session 210325: grayscale objects pasted on
  backgrounds inside a circular aperture (the images of Bashivan, Kar & DiCarlo 2019).

Session 190925's images 900-1199 repeat its images 0-299 pixel for pixel; :func:`natural_pool` keeps one copy.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence

import numpy as np
from PIL import Image

from neurobook.checks import check_positive_int
from neurobook.data.fetch import ChecksumError, data_file
from neurobook.data.registry import get_dataset
from neurobook.data.types import StimulusResponseData

NAME = "cowley2023_macaque_v4"
SESSIONS = ("190923", "190925", "190927", "190928", "190929", "201025", "210224", "210225", "210305", "210322",
            "210325", "210621")
ANIMALS = {"190923": "WE", "190925": "WE", "190927": "WE", "190928": "WE", "190929": "WE", "201025": "PE",
           "210224": "PE", "210225": "PE", "210305": "PE", "210322": "PE", "210325": "PE", "210621": "RA"}
CEILING_SESSION = "210325"
SIZE = 112
NATURAL = "natural"
# per session: (first, stop, type) for every image range that is not a natural photograph (see the module docstring)
IMAGE_TYPES: dict[str, tuple[tuple[int, int, str], ...]] = {
    **{s: ((600, 900, "active learning"),) for s in ("190925", "190927", "190928", "190929")},
    "210305": ((0, 400, "validation experiment"),),
    "210322": ((600, 1200, "Bashivan 2019"),),
    "210325": ((0, 640, "Bashivan 2019"),),
}

__all__ = ["CEILING_SESSION", "IMAGE_TYPES", "NATURAL", "SESSIONS", "image_types", "load_cowley2023",
           "load_repeats", "natural_pool", "session_images", "session_repeats", "session_responses"]


def _check_downsample(downsample: object) -> int:
    if SIZE % check_positive_int("downsample", downsample):
        raise ValueError(f"downsample must be a positive int dividing 112 (1, 2, 4, 7, 8, ...); got {downsample!r}")
    return downsample


def _check_session(session: object) -> str:
    session = str(session)
    if session not in SESSIONS:
        raise ValueError(f"unknown session {session!r}; sessions in this copy: {', '.join(SESSIONS)}")
    return session


def session_images(session: str, data_dir: str | os.PathLike | None = None, downsample: int = 1) -> np.ndarray:
    """The session's images in response-column order, (n, 3, 112/k, 112/k) float32 in 0..255.

    ``downsample`` averages ``k x k`` pixel blocks (k=2 or 4 keeps CPU training fast).
    """
    session, k = _check_session(session), _check_downsample(downsample)
    path = data_file(NAME, f"images/images_{session}.zip", data_dir)
    try:
        with zipfile.ZipFile(path) as z:
            names = sorted((n for n in z.namelist() if n.lower().endswith(".jpg")), key=os.path.basename)
            images = np.stack([np.asarray(Image.open(io.BytesIO(z.read(n))).convert("RGB")) for n in names])
    except (zipfile.BadZipFile, OSError) as err:
        raise ChecksumError(f"{path} could not be read as a zip of JPEGs ({err}); download it again") from err
    if images.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError(f"{path}: expected {SIZE}x{SIZE}x3 images, got {images.shape[1:]}")
    images = images.astype(np.float32).transpose(0, 3, 1, 2)
    if k > 1:
        n = images.shape[0]
        images = images.reshape(n, 3, SIZE // k, k, SIZE // k, k).mean(axis=(3, 5))
    return np.ascontiguousarray(images)


def image_types(session: str, n_images: int) -> np.ndarray:
    """The type of each of the session's ``n_images`` images: ``"natural"`` or a synthetic kind (IMAGE_TYPES)."""
    session = _check_session(session)
    types = np.full(n_images, NATURAL, dtype=object)
    for first, stop, kind in IMAGE_TYPES.get(session, ()):
        if stop > n_images:
            raise ValueError(f"session {session}: {n_images} images, but the type table names images up to {stop}; "
                             "is this the copy described in SOURCE.txt?")
        types[first:stop] = kind
    return types.astype(str)


def natural_pool(data_dir: str | os.PathLike | None = None, downsample: int = 1,
                 sessions: Sequence[str] = SESSIONS) -> tuple[np.ndarray, np.ndarray]:
    """Every natural photograph of ``sessions`` (all twelve by default), each distinct image once.

    Returns ``images`` (n, 3, 112/k, 112/k) float32 0..255 and ``image_ids`` (session * 10000 + index, as in
    :func:`load_cowley2023`). The yardstick "best natural image" of Chapter 5 is taken over this one pool for every
    neuron: no synthetic image, no repeat, the same candidates whichever session recorded the neuron.
    """
    images, ids, seen = [], [], set()
    for s in sessions:
        x = session_images(s, data_dir, downsample)
        for k in np.flatnonzero(image_types(s, len(x)) == NATURAL):
            key = x[k].tobytes()  # a repeat is the same JPEG, hence the same pixels at any downsampling
            if key in seen:
                continue
            seen.add(key)
            images.append(x[k])
            ids.append(int(s) * 10_000 + k)
    return np.stack(images), np.array(ids, dtype=np.int64)


def session_responses(session: str, data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Repeat-averaged spike counts of the session, (n_images, n_neurons) float32."""
    session = _check_session(session)
    path = data_file(NAME, f"responses_repeat_averaged/responses_{session}.npy", data_dir)
    return np.load(path).astype(np.float32).T


def _split(n: int, session: str, fractions: tuple[float, float]) -> np.ndarray:
    """A fixed per-session split (seeded by the session id, not by the run): train / validation / test."""
    val_frac, test_frac = fractions
    if not (0 < val_frac < 1 and 0 < test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"validation and test fractions must be in (0, 1) with sum < 1; got {fractions}")
    order = np.random.default_rng(int(session)).permutation(n)
    tiers = np.full(n, "train", dtype=object)
    n_test, n_val = round(test_frac * n), round(val_frac * n)
    tiers[order[:n_test]] = "test"
    tiers[order[n_test:n_test + n_val]] = "validation"
    return tiers.astype(str)


def load_cowley2023(
    data_dir: str | os.PathLike | None = None,
    sessions: Sequence[str] | None = None,
    downsample: int = 1,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.15,
) -> StimulusResponseData:
    """Several sessions stacked: one trial per image (repeat-averaged), NaN for neurons of other sessions.

    Every session's images are split at random (fixed by the session id) into train / validation / test tiers.
    ``meta``: ``session`` and ``image_type`` (per trial), ``neuron_session`` (per neuron), ``image_index`` (the image's
    column within its session), plus species, area, units and license. Image ids are unique across sessions.
    """
    sessions = list(SESSIONS if sessions is None else sessions)
    if not sessions:
        raise ValueError("sessions must name at least one session")
    for s in sessions:
        _check_session(s)
    if len(set(sessions)) != len(sessions):
        raise ValueError(f"sessions must not repeat; got {sessions}")
    images, blocks, tiers, sess_of_trial, index, neuron_sess, neuron_ids, types = [], [], [], [], [], [], [], []
    for s in sessions:
        x, r = session_images(s, data_dir, downsample), session_responses(s, data_dir)
        if len(x) != len(r):
            raise ValueError(f"session {s}: {len(x)} images but {len(r)} response columns")
        images.append(x)
        blocks.append(r)
        tiers.append(_split(len(x), s, (validation_fraction, test_fraction)))
        sess_of_trial += [s] * len(x)
        index.append(np.arange(len(x)))
        types.append(image_types(s, len(x)))
        neuron_sess += [s] * r.shape[1]
        neuron_ids.append(int(s) * 1000 + np.arange(r.shape[1]))
    n_trials, n_neurons = sum(len(b) for b in blocks), sum(b.shape[1] for b in blocks)
    responses = np.full((n_trials, n_neurons), np.nan, np.float32)
    row = col = 0
    for b in blocks:
        responses[row:row + len(b), col:col + b.shape[1]] = b
        row, col = row + len(b), col + b.shape[1]
    sess_arr = np.array(sess_of_trial)
    image_index = np.concatenate(index)
    return StimulusResponseData(
        images=np.concatenate(images), responses=responses, tiers=np.concatenate(tiers),
        image_ids=sess_arr.astype(np.int64) * 10_000 + image_index, neuron_ids=np.concatenate(neuron_ids),
        name=NAME,
        meta={"session": sess_arr, "image_index": image_index, "image_type": np.concatenate(types),
              "neuron_session": np.array(neuron_sess),
              "species": "macaque", "area": "V4", "recording": "Utah arrays, spike counts in 100 ms bins, "
              "repeat-averaged", "license": get_dataset(NAME).license, "downsample": downsample,
              "animals": {s: ANIMALS[s] for s in sessions}},
    )


def session_repeats(data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Session 210325's single-repeat spike counts, (n_neurons, n_images, n_repeats), NaN where a repeat is missing."""
    path = data_file(NAME, f"responses_raw/responses_{CEILING_SESSION}.npy", data_dir)
    raw = np.load(path)
    if raw.ndim != 3:
        raise ValueError(f"{path}: expected (n_neurons, n_images, n_repeats), got {raw.shape}")
    return raw


def load_repeats(
    data_dir: str | os.PathLike | None = None,
    downsample: int = 1,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.15,
) -> StimulusResponseData:
    """Session 210325 with one trial per single repeat (missing repeats dropped), for its noise ceiling.

    Image ids and tiers match :func:`load_cowley2023` for this session, so a model trained on the repeat averages
    can be evaluated on the single repeats of its held-out images.
    """
    s = CEILING_SESSION
    raw = session_repeats(data_dir)
    present = ~np.isnan(raw).any(axis=0)  # (n_images, n_repeats); missing repeats are NaN for every neuron
    img, rep = np.nonzero(present)
    images = session_images(s, data_dir, downsample)
    if len(images) != raw.shape[1]:
        raise ValueError(f"session {s}: {len(images)} images but {raw.shape[1]} raw response columns")
    tiers = _split(len(images), s, (validation_fraction, test_fraction))
    return StimulusResponseData(
        images=images[img], responses=raw[:, img, rep].T.astype(np.float32), tiers=tiers[img],
        image_ids=int(s) * 10_000 + img, neuron_ids=int(s) * 1000 + np.arange(raw.shape[0]), name=NAME,
        meta={"session": np.full(len(img), s), "image_index": img, "repeat": rep, "species": "macaque",
              "area": "V4", "recording": "Utah arrays, spike counts in 100 ms bins, single repeats",
              "license": get_dataset(NAME).license, "downsample": downsample},
    )
