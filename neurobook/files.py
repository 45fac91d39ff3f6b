"""Writing files so that a reader never sees half of one: a private temporary file beside it, then one rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a private temporary path beside ``path``; it replaces ``path`` when the block succeeds.

    The temporary name is unique to this call (two writers never share one) and ends with ``path``'s own suffix,
    so writers that infer the format from it (numpy, matplotlib, PIL) work unchanged. When the block raises, the
    temporary file is removed and ``path`` keeps its previous contents.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | os.PathLike, record: Any, **dumps: Any) -> Path:
    """Write ``record`` as JSON to ``path`` atomically (``dumps``: keyword arguments of :func:`json.dumps`)."""
    return write_text(path, json.dumps(record, **({"indent": 2} | dumps)))
