"""The results JSON every chapter writes next to its executed notebook; the scorecard reads it.

Schema (version 1)::

    {"schema": 1, "chapter": str, "profile": "quick"|"full", "device": str,
     "data": {"name": str, "kind": "real"|"simulated", "description": str},
     "headline": {key: number | str | dict}, "runtime_s": float, "created": ISO time}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from neurobook.files import write_json

SCHEMA_VERSION = 1
RESULTS_DIR_ENV = "NEUROBOOK_RESULTS_DIR"
_REQUIRED = {"schema", "chapter", "profile", "device", "data", "headline"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def save_results(chapter: str, *, profile: str, device: str, data: dict, headline: dict,
                 runtime_s: float, directory: str | os.PathLike | None = None) -> Path:
    """Write ``<chapter>.results.json`` in ``directory`` (default ``$NEUROBOOK_RESULTS_DIR`` or the cwd)."""
    if data.get("kind") not in ("real", "simulated"):
        raise ValueError("data['kind'] must be 'real' or 'simulated'")
    record = {
        "schema": SCHEMA_VERSION, "chapter": chapter, "profile": profile, "device": str(device),
        "data": data, "headline": _jsonable(headline), "runtime_s": round(float(runtime_s), 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out_dir = Path(directory or os.environ.get(RESULTS_DIR_ENV) or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{chapter}.results.json"
    return write_json(path, record, sort_keys=True)


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results JSON."""
    record = json.loads(Path(path).read_text())
    missing = _REQUIRED - set(record)
    if missing or record.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{path}: not a neurobook results file (schema {SCHEMA_VERSION}); missing {sorted(missing)}")
    return record
