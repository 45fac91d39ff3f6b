"""Downloads that need a data set's own converter: the name -> converter table over the loader modules."""

from __future__ import annotations

from pathlib import Path

from neurobook.data import lurz2020
from neurobook.data.fetch import Preparer, fetch

PREPARERS: dict[str, Preparer] = {lurz2020.NAME: lurz2020.prepare_from_source}


def fetch_dataset(name: str, progress: bool = True) -> Path:
    """Download data set ``name`` into the cache, laid out by its converter when it comes as an archive."""
    return fetch(name, progress=progress, prepare=PREPARERS.get(name))
