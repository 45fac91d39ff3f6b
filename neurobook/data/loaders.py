"""One entry point over the per-data-set loader modules."""

from __future__ import annotations

from pathlib import Path

from neurobook.data import lurz2020
from neurobook.data.registry import get_dataset

_PREPARERS = {lurz2020.NAME: lurz2020.prepare_from_source}


def prepare_from_source(name: str, root: Path, progress: bool = True) -> Path:
    """Build the local layout of ``name`` in ``root`` from its canonical source archive."""
    get_dataset(name)
    if name not in _PREPARERS:
        raise NotImplementedError(f"{name}: no converter from the source archive yet")
    return _PREPARERS[name](root, progress=progress)
