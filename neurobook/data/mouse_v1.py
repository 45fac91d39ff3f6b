"""Chapters 1 and 4's recordings: the Lurz et al. 2020 mouse V1 scan, or the reader's own npz in its place."""

from __future__ import annotations

import os

from neurobook.data.lurz2020 import load_lurz2020
from neurobook.data.npz import load_npz
from neurobook.data.types import StimulusResponseData

__all__ = ["load_v1_recordings"]


def load_v1_recordings(data_file: str | os.PathLike | None, data_dir: str | os.PathLike | None = None,
                       downsample: int = 1) -> tuple[StimulusResponseData, str]:
    """``(data, data_line)``: Lurz 2020 downsampled by ``downsample`` when ``data_file`` is None, else the user's
    npz (:func:`~neurobook.data.npz.load_npz`) at its own resolution; ``data_line`` names them for the page."""
    if data_file is None:
        data = load_lurz2020(data_dir, downsample=downsample)
        m = data.meta
        return data, f"`{data.name}` (real recordings, {m['species']} {m['area']} {m['layer']}, {m['recording']})"
    data = load_npz(data_file)
    return data, f"`{data.name}`, the user's own recordings from `{data.meta['source']}`"
