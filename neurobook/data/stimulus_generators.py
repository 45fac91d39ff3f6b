"""Binary white-noise checkerboards regenerated from a seed, so that a recording can name its stimulus instead of
storing every frame (a salamander recording's 219 trials of 150x200 stixels are 9.9 GB of frames).

Two generators, each a stream of -1/+1 int8 frames cut into consecutive trials:

``numpy_binary``
    ``numpy.random.default_rng(seed)``; each trial is ``np.where(rng.random((T, H, W)) > 0.5, 1, -1)``, the trials
    drawn one after another from the same generator. ``seed`` is an int or a sequence of ints (numpy's
    ``SeedSequence`` entropy). This is the stream of :func:`neurobook.data.retina_sim.simulate_retina`.
``retinawhitenoise_binary``
    The Gollisch lab's ``retinawhitenoise.binarystimulus.recreate`` (PyPI ``retinawhitenoise``; Numerical Recipes'
    ``ran1`` with a negative int seed), the generator of the Liu et al. 2017 recordings
    (:mod:`neurobook.data.liu2017`). Its frames are (x, y) ordered; they are returned as (frame, y, x) like all
    frames here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["GENERATORS", "binary_trials"]

GENERATORS = ("numpy_binary", "retinawhitenoise_binary")


def _numpy_binary(seed: int | Sequence[int], n_frames: int, n_trials: int,
                  shape: tuple[int, int]) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for _ in range(n_trials):
        yield np.where(rng.random((n_frames, *shape)) > 0.5, 1, -1).astype(np.int8)


def _retinawhitenoise_binary(seed: int, n_frames: int, n_trials: int,
                             shape: tuple[int, int]) -> Iterator[np.ndarray]:
    try:
        from retinawhitenoise import binarystimulus
    except ImportError as err:  # pragma: no cover - the package is pinned in requirements.txt
        raise ImportError("regenerating a retinawhitenoise stimulus needs the PyPI package retinawhitenoise "
                          "(pip install retinawhitenoise==1.0.1)") from err
    for x in binarystimulus.recreate(int(seed), (shape[1], shape[0]), n_frames, n_trials):
        yield np.ascontiguousarray(np.transpose(x, (2, 1, 0))).astype(np.int8, copy=False)  # (x, y, t) -> (t, y, x)


_STREAMS = {"numpy_binary": _numpy_binary, "retinawhitenoise_binary": _retinawhitenoise_binary}


def binary_trials(generator: str, seed: int | Sequence[int], n_frames: int, n_trials: int,
                  shape: tuple[int, int]) -> Iterator[np.ndarray]:
    """The first ``n_trials`` trials of ``generator``'s stream seeded ``seed``, each (n_frames, H, W) int8 -1/+1."""
    if generator not in _STREAMS:
        raise ValueError(f"unknown stimulus generator {generator!r}; known: {', '.join(GENERATORS)}")
    if generator == "retinawhitenoise_binary" and np.ndim(seed) != 0:
        raise ValueError(f"retinawhitenoise_binary takes one int seed; got {seed!r}")
    yield from _STREAMS[generator](seed, n_frames, n_trials, tuple(shape))
