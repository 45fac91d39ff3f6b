"""The package's import graph: no circles, arrows pointing one way, and the pipeline imported by nobody below it.

Read from the source with ``ast`` (function-local imports included), so the test needs no third-party tool.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neurobook"

# layer of each top-level module or subpackage; an import may only point to the same layer or a lower one
LAYERS: dict[str, int] = {
    "neurobook": 0, "checks": 0, "files": 0, "progress": 0, "results": 0, "config": 0, "aims": 0,
    "data": 1,
    "models": 2,
    "train": 3, "task_training": 3, "retina_training": 3,
    "metrics": 4, "rf_fit": 4, "evaluation": 4, "inversion": 4, "insilico": 4, "insilico_validation": 4,
    "decoding": 4, "generative": 4,
    "stnmf": 4, "cell_fits": 4, "tuning_similarity": 4, "plotting": 4, "limit_share": 4, "paired_images": 4,
    "label_agreement": 4, "ablation": 4, "natural_screen": 4, "subunit_recovery": 4,
    "widgets": 5, "course": 5,
    "pipeline": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The neurobook modules that ``path`` imports (a name imported from a package counts as that submodule)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known and name != here}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "neurobook"
    if key not in LAYERS:
        raise AssertionError(f"{module} is in no layer: add neurobook.{key} to LAYERS in tests/test_layers.py")
    return LAYERS[key]


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_arrows_point_one_way() -> None:
    upward = [f"{src} (layer {layer(src)}) -> {dst} (layer {layer(dst)})"
              for src, targets in graph().items() for dst in targets if layer(dst) > layer(src)]
    assert not upward, "imports that point up: data -> models -> train -> measures -> widgets -> pipeline\n" + \
        "\n".join(sorted(upward))


@pytest.mark.parametrize("folder", ["neurobook", "notebooks"])
def test_nothing_outside_the_pipeline_imports_it(folder: str) -> None:
    known = modules()
    offenders = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if PACKAGE / "pipeline" in path.parents:
            continue
        names = imports_of(path, known) if folder == "neurobook" else _imports_anywhere(path)
        offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n.startswith("neurobook.pipeline")]
    assert not offenders, "\n".join(offenders)


def _imports_anywhere(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_private_name_crosses_modules() -> None:
    """A module uses another's public names only (``from neurobook.x import _helper`` is a hidden coupling)."""
    crossing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neurobook") and not node.level:
                crossing += [f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}"
                             for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert not crossing, "\n".join(crossing)
