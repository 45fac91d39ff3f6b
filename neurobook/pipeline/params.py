"""Chapter parameters: read the ``parameters`` cell with papermill, parse CLI values, validate names and types."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}


class ParameterError(ValueError):
    """An unknown parameter, or a value of the wrong type; the message lists the valid parameters."""


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def read_chapter(source: Path):
    """Read a jupytext chapter source as a notebook, with the kernelspec papermill needs."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata.setdefault("kernelspec", KERNELSPEC)
    return nb


_declared_cache: dict[str, dict[str, dict]] = {}
_declared_lock = threading.Lock()


def notebook_parameters(source: Path) -> dict[str, dict]:
    """The parameters declared in a chapter's ``parameters`` cell: name -> {type, default, help}.

    Safe to call from many threads and processes at once: papermill inspects a copy in a private temporary folder,
    never a file in the checkout. Read once per version of the source (papermill's inspection is slow).
    """
    import papermill as pm

    key = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    with _declared_lock:
        if key in _declared_cache:
            return copy.deepcopy(_declared_cache[key])
    nb = read_chapter(source)
    with tempfile.TemporaryDirectory(prefix="neurobook-params-") as tmp:
        path = Path(tmp) / f"{Path(source).stem}.ipynb"
        path.write_text(_as_ipynb(nb))
        found = pm.inspect_notebook(str(path))
    if not found:
        raise ParameterError(f"{source} has no cell tagged 'parameters'")
    declared = {
        name: {"type": p["inferred_type_name"], "default": p["default"], "help": p["help"]}
        for name, p in found.items()
    }
    with _declared_lock:
        _declared_cache[key] = declared
    return copy.deepcopy(declared)


def _as_ipynb(nb) -> str:
    import jupytext

    return jupytext.writes(nb, fmt="ipynb")


def parse_value(text: str) -> Any:
    """Turn a command-line string into a Python value: JSON/Python literals, else the string itself."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    return text


def _accepts(type_name: str, value: Any) -> bool:
    options = [t.strip() for t in type_name.replace("Optional[", "").rstrip("]").split("|")]
    if value is None:
        return "None" in options or type_name.startswith("Optional[")
    for opt in options:
        expected = _TYPES.get(opt)
        if expected is None:  # unknown annotation: accept
            return True
        if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if expected is int and isinstance(value, bool):
            continue
        if isinstance(value, expected):
            return True
    return False


def describe(params: dict[str, dict]) -> str:
    """One line per valid parameter: name, type, default, help."""
    return "\n".join(
        f"  {name}: {p['type']} = {p['default']}" + (f"  # {p['help']}" if p["help"] else "")
        for name, p in params.items()
    )


def validate(params: dict[str, dict], values: dict[str, Any], chapter: str) -> None:
    """Raise :class:`ParameterError` for an unknown name or a value of the wrong type."""
    unknown = [k for k in values if k not in params]
    if unknown:
        raise ParameterError(
            f"{chapter}: unknown parameter(s) {', '.join(map(repr, unknown))}. Valid parameters:\n{describe(params)}"
        )
    for name, value in values.items():
        type_name = params[name]["type"]
        if type_name != "None" and not _accepts(type_name, value):
            raise ParameterError(
                f"{chapter}: parameter {name!r} must be {type_name}, got {value!r} ({type(value).__name__}). "
                f"Valid parameters:\n{describe(params)}"
            )
