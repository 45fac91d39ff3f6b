"""Find, verify and download data files.

A data set lives in ``<root>/<name>/`` where ``<root>`` is the local data directory (``data_dir`` argument or
``$NEUROBOOK_DATA_DIR``, laid out like ``../shared/data``) or, for users online, the download cache
(``$NEUROBOOK_CACHE_DIR``, default ``~/.cache/neurobook``). Downloads go to a temporary file and are moved into
place only after their checksum verified, so an interrupted download never leaves a file that reads as valid.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from neurobook.data.paths import DATA_DIR_ENV, cache_dir, data_dir
from neurobook.data.registry import Dataset, get_dataset

# lays a data set out from its downloaded source archive in ``root``: prepare(root, progress=...) -> root
Preparer = Callable[..., Path]


class DataNotFoundError(FileNotFoundError):
    """A data file is missing; the message says where we looked and how to get it."""


class ChecksumError(ValueError):
    """A data file's sha256 does not match the registry."""


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def _digest_cached(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256sum(path)
    return _VERIFIED[key]


def dataset_root(name: str, data_dir_override: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) data set ``name``."""
    get_dataset(name)
    local = data_dir(data_dir_override)
    return (local if local is not None else cache_dir()) / name


def how_to_get(dataset: Dataset) -> str:
    """Instructions for obtaining a data set, used in error messages."""
    lines = [f"Get it from {dataset.source.homepage} (license: {dataset.license})."]
    if dataset.source.files or dataset.source.archive:
        lines.append(f"Online, `neurobook data fetch {dataset.name}` downloads it into the cache.")
    lines.append(
        f"Or point {DATA_DIR_ENV} (or the data_dir parameter) at a folder that holds {dataset.name}/ "
        "laid out like ../shared/data."
    )
    return " ".join(lines)


def data_file(name: str, relpath: str, data_dir_override: str | os.PathLike | None = None,
              verify: bool = True, prepare: Preparer | None = None) -> Path:
    """Path to one file of a data set, checked to exist and (by default) to match its checksum.

    Downloads the data set first when no local data directory is configured and the file is not cached
    (``prepare``: the converter of a data set that comes as an archive, see :func:`fetch`).
    """
    dataset = get_dataset(name)
    path = dataset_root(name, data_dir_override) / relpath
    if not path.exists() and data_dir(data_dir_override) is None:
        fetch(name, prepare=prepare)
    if not path.exists():
        raise DataNotFoundError(f"{name}: missing file {relpath!r}; looked at {path}. {how_to_get(dataset)}")
    expected = dataset.checksums.get(relpath)
    if verify and expected is not None and _digest_cached(path) != expected:
        raise ChecksumError(
            f"{name}: {path} is corrupt or a different version (sha256 mismatch: expected {expected[:12]}..., "
            f"got {_digest_cached(path)[:12]}...). Delete it and download it again. {how_to_get(dataset)}"
        )
    return path


def verify(name: str, data_dir_override: str | os.PathLike | None = None) -> dict[str, str]:
    """Check every file of a data set: returns {relpath: "ok" | "missing" | "checksum mismatch"}."""
    dataset = get_dataset(name)
    root = dataset_root(name, data_dir_override)
    status = {}
    for rel, digest in dataset.checksums.items():
        path = root / rel
        if not path.exists():
            status[rel] = "missing"
        else:
            status[rel] = "ok" if _digest_cached(path) == digest else "checksum mismatch"
    return status


def download(url: str, dest: Path, sha256: str | None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically with pooch (temporary file, checksum, then rename)."""
    import pooch

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    known_hash = f"sha256:{sha256}" if sha256 else None
    try:
        pooch.retrieve(url, known_hash=known_hash, fname=dest.name, path=dest.parent, progressbar=progress)
    except ValueError as err:  # pooch raises ValueError on a hash mismatch
        raise ChecksumError(f"download of {url} failed its checksum ({err}); nothing was saved to {dest}") from err
    except Exception as err:
        raise ConnectionError(
            f"download of {url} failed ({type(err).__name__}: {err}); nothing was saved to {dest}. "
            "Check the connection and run again, or point NEUROBOOK_DATA_DIR at a local copy."
        ) from err
    return dest


def fetch(name: str, progress: bool = True, prepare: Preparer | None = None) -> Path:
    """Download data set ``name`` from its canonical source into the cache and return its folder.

    A data set that comes as a source archive needs ``prepare``, the converter of its loader module that lays the
    files out (``neurobook.data.loaders.fetch_dataset`` knows each one's).
    """
    dataset = get_dataset(name)
    root = cache_dir() / name
    source = dataset.source
    if not source.files and not source.archive:
        raise DataNotFoundError(
            f"{name} has no automatic download yet. {how_to_get(dataset)}"
        )
    for rel, url in source.files:
        if not (root / rel).exists():
            download(url, root / rel, dataset.checksums.get(rel), progress)
    if source.archive:
        if prepare is None:
            raise DataNotFoundError(f"{name} comes as a source archive and needs its converter: use "
                                    f"neurobook.data.loaders.fetch_dataset({name!r}) or `neurobook data fetch {name}`")
        prepare(root, progress=progress)
    return root
