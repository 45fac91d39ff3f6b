"""Where data live: the local data directory (found without configuration) and the download cache.

    data_dir()         the chapter's ``data_dir`` parameter, ``$NEUROBOOK_DATA_DIR``, ``data/`` in the checkout,
                       ``../shared/data`` beside it; None means "download into the cache"
    cache_dir()        ``$NEUROBOOK_CACHE_DIR`` or ``~/.cache/neurobook``
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "NEUROBOOK_DATA_DIR"
CACHE_DIR_ENV = "NEUROBOOK_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: neurobook/data/paths.py -> ../..
NO_LOCAL_DATA = "download"  # NEUROBOOK_DATA_DIR=download: ignore local copies, use the download cache


def default_data_dirs() -> tuple[Path, ...]:
    """Where a local data directory is looked for when none is named: ``data/`` in the checkout, ``../shared/data``."""
    return REPO_ROOT / "data", REPO_ROOT.parent / "shared" / "data"


class DataDirError(FileNotFoundError):
    """A named local data directory does not exist."""


def data_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The local data directory, or None to download into the cache.

    In order: ``override`` (a chapter's ``data_dir`` parameter), ``$NEUROBOOK_DATA_DIR``, then the first existing
    folder of :func:`default_data_dirs`. ``NEUROBOOK_DATA_DIR=download`` turns local copies off. A directory that
    is named but does not exist is an error, never a silent download.
    """
    value = override if override is not None else os.environ.get(DATA_DIR_ENV)
    if value == NO_LOCAL_DATA:
        return None
    if value:
        path = Path(value).expanduser().resolve()
        if not path.is_dir():
            source = "the data_dir parameter" if override is not None else f"${DATA_DIR_ENV}"
            raise DataDirError(f"the data directory {path} (from {source}) does not exist; name a folder laid out "
                               f"like ../shared/data (one folder per data set), or unset it to use "
                               f"{' or '.join(map(str, default_data_dirs()))}")
        return path
    for candidate in default_data_dirs():
        if candidate.is_dir():
            return candidate.resolve()
    return None


def describe_data_dir(override: str | os.PathLike | None = None) -> str:
    """One line for the start of a build: which data directory is used, and why."""
    root = data_dir(override)
    if root is None:
        return f"data: no local data directory; downloads go to {cache_dir()}"
    if override is not None:
        why = "the data_dir parameter"
    elif os.environ.get(DATA_DIR_ENV):
        why = f"${DATA_DIR_ENV}"
    else:
        why = "found automatically"
    return f"data: local directory {root} ({why})"


def cache_dir() -> Path:
    """Where downloads are cached: ``$NEUROBOOK_CACHE_DIR`` or ``~/.cache/neurobook``."""
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "neurobook"
