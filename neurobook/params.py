"""Chapter parameters: read the ``parameters`` cell with papermill, parse CLI values, validate names and types."""

from __future__ import annotations

import ast
import json
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


def notebook_parameters(source: Path) -> dict[str, dict]:
    """The parameters declared in a chapter's ``parameters`` cell: name -> {type, default, help}."""
    import jupytext
    import papermill as pm

    nb = read_chapter(source)
    tmp = Path(source).with_suffix(".params.ipynb")
    try:
        jupytext.write(nb, tmp)
        found = pm.inspect_notebook(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    if not found:
        raise ParameterError(f"{source} has no cell tagged 'parameters'")
    return {
        name: {"type": p["inferred_type_name"], "default": p["default"], "help": p["help"]}
        for name, p in found.items()
    }


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
