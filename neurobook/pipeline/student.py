"""Course notebooks: find a chapter's exercises, and write its student version with the solutions removed.

The exercise convention (see ``neurobook/course.py`` and the README's course section): a markdown cell with a
```` ```{exercise} Title ```` directive and a ``:label:``, a markdown cell ```` ```{solution-start} LABEL ````, ONE code
cell whose answer lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, a markdown cell
```` ```{solution-end} ````, then a check cell. The solution cells get nbgrader metadata (solution cells, and the
check cells as locked autograder tests), and nbgrader's ``ClearSolutions`` preprocessor removes the solutions; the
stub it leaves says which variable to set, so a student notebook runs up to the first check, which fails with its
helpful message until the student writes the answer.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from neurobook.files import atomic_path
from neurobook.pipeline.chapters import CHAPTERS, GENERATED_DIR, Chapter, get_chapter, written_chapters

STUDENT_DIR = GENERATED_DIR / "student"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

_EXERCISE = re.compile(r"^\s*```+\s*\{exercise\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^\s*```+\s*$", re.M | re.S)
_LABEL = re.compile(r"^\s*:label:\s*(?P<label>\S+)\s*$", re.M)
_OPTION = re.compile(r"^\s*:[\w-]+:.*$")
_SOLUTION_START = re.compile(r"^\s*```+\s*\{solution-start\}\s*(?P<label>\S+)", re.M)
_SOLUTION_END = re.compile(r"^\s*```+\s*\{solution-end\}", re.M)
_GATE_BLOCK = re.compile(r"^\s*```+\s*\{solution-(?:start|end)\}[^\n]*\n(?:\s*:[\w-]+:[^\n]*\n)*\s*```+[ \t]*$\n?",
                         re.M)
_ANSWER = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=\s*None\s*#\s*your answer:\s*(?P<what>.*)$")


class CourseFormatError(ValueError):
    """A chapter's exercise cells do not follow the course convention; the message names the cell and the fix."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter: its label (``chXX-ex-...``) and title."""

    label: str
    title: str


def _markdown_exercises(text: str) -> list[Exercise]:
    found = []
    for m in _EXERCISE.finditer(text):
        label = _LABEL.search(m["body"])
        found.append(Exercise(label["label"] if label else "", m["title"].strip()))
    return found


def read_notebook(chapter: Chapter) -> nbformat.NotebookNode:
    """The chapter's source as a notebook (unexecuted), with a clear error when the chapter has no source yet."""
    from neurobook.pipeline.params import read_chapter

    if not chapter.source.exists():
        written = ", ".join(c.slug for c in written_chapters())
        raise CourseFormatError(f"chapter {chapter.slug} has no source at {chapter.source} (not written yet); "
                                f"written chapters: {written}")
    return read_chapter(chapter.source)


def exercises(chapter: Chapter | str) -> list[Exercise]:
    """The exercises of a chapter, in order, parsed from its source (empty for a chapter not written yet)."""
    chapter = get_chapter(chapter) if isinstance(chapter, str) else chapter
    if not chapter.source.exists():
        return []
    nb = read_notebook(chapter)
    return [ex for cell in nb.cells if cell.cell_type == "markdown" for ex in _markdown_exercises(cell.source)]


def _where(chapter: str, index: int) -> str:
    return f"{chapter}: cell {index}"


def mark_for_nbgrader(nb: nbformat.NotebookNode, chapter: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``nb`` with nbgrader metadata on each exercise's solution and check cell; checks the convention.

    Raises :class:`CourseFormatError` when a gate is unbalanced, a gate does not hold exactly one code cell with
    both markers, a solution's label names no exercise, or a solution marker sits outside a gate.
    """
    nb = copy.deepcopy(nb)
    labels = {ex.label for c in nb.cells if c.cell_type == "markdown" for ex in _markdown_exercises(c.source)}
    cells = nb.cells
    gated: set[int] = set()
    i = 0
    while i < len(cells):
        cell = cells[i]
        start = _SOLUTION_START.search(cell.source) if cell.cell_type == "markdown" else None
        if start is None:
            i += 1
            continue
        label = start["label"]
        if label not in labels:
            raise CourseFormatError(f"{_where(chapter, i)}: solution-start {label!r} names no exercise above; "
                                    f"exercise labels: {sorted(labels)}")
        j = i + 1
        while j < len(cells) and not (cells[j].cell_type == "markdown" and _SOLUTION_END.search(cells[j].source)):
            if cells[j].cell_type == "markdown" and _SOLUTION_START.search(cells[j].source):
                j = len(cells)
                break
            j += 1
        if j >= len(cells):
            raise CourseFormatError(f"{_where(chapter, i)}: solution-start {label!r} has no matching "
                                    "```{solution-end}``` markdown cell before the next solution-start")
        inside = [k for k in range(i + 1, j) if cells[k].cell_type == "code"]
        if len(inside) != 1 or BEGIN not in cells[inside[0]].source or END not in cells[inside[0]].source:
            raise CourseFormatError(
                f"{_where(chapter, i)}: the solution of {label!r} must be ONE code cell with {BEGIN!r} and {END!r} "
                f"(found {len(inside)} code cell(s) between solution-start and solution-end)")
        k = inside[0]
        gated.add(k)
        cells[k].metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                         "grade_id": f"{label}-solution", "schema_version": 3}
        check = next((n for n in range(j + 1, len(cells)) if cells[n].cell_type == "code"), None)
        if check is not None and "check_" in cells[check].source:
            cells[check].metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                                 "grade_id": f"{label}-check", "schema_version": 3}
        i = j + 1
    stray = [n for n, c in enumerate(cells) if c.cell_type == "code" and BEGIN in c.source and n not in gated]
    if stray:
        raise CourseFormatError(f"{_where(chapter, stray[0])}: {BEGIN!r} outside a solution-start/solution-end "
                                "pair; put the solution cell between the two markdown gate cells")
    return nb


def _names(source: str, ctx: type) -> set[str]:
    """Names stored (``ast.Store``) or read (``ast.Load``) by a cell; IPython magics are skipped."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    if ctx is ast.Store:
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        names |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    return names


def solution_leaks(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """Names a solution binds that a later cell outside the solutions reads before binding: {grade_id: names}.

    A student's answer need not bind (or may bind differently) anything but the answer's variables, so such a name
    would break the student notebook (a NameError) or make it differ from the teacher's (a clobbered value). The
    answer's variables belong above ``### BEGIN SOLUTION``; whatever later cells need, outside the exercise.
    """
    nb = mark_for_nbgrader(nb)
    leaks: dict[str, list[str]] = {}
    cells = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        head, rest = cell.source.split(BEGIN, 1)
        pending = _names(rest.split(END, 1)[0], ast.Store) - _names(head, ast.Store)
        found = set()
        for later in cells[index + 1:]:
            if later.metadata.get("nbgrader", {}).get("solution") or not pending:
                continue
            stored, loaded = _names(later.source, ast.Store), _names(later.source, ast.Load)
            found |= (loaded - stored) & pending
            pending -= stored | found  # a cell that binds the name itself no longer depends on the solution
        if found:
            leaks[meta["grade_id"]] = sorted(found)
    return leaks


def _stub(source: str) -> str:
    """The line(s) that replace a solution: which variable to set and what it should hold."""
    answers = [m for line in source.splitlines() if (m := _ANSWER.match(line.strip()))]
    if not answers:
        return "# YOUR CODE HERE: write the solution of the exercise above"
    return "\n".join(f"# YOUR CODE HERE: set `{m['name']}` to {m['what'].rstrip('.')}" for m in answers)


def _student_markdown(source: str) -> str:
    """An ``{exercise}`` directive as plain markdown, which Jupyter shows as text instead of a code block."""

    def plain(m: re.Match) -> str:
        body = "\n".join(line for line in m["body"].splitlines() if not _OPTION.match(line)).strip()
        return f"**Exercise: {m['title'].strip()}**\n\n{body}\n"

    return _EXERCISE.sub(plain, source)


def student_notebook(chapter: Chapter | str) -> nbformat.NotebookNode:
    """The chapter's student notebook: solutions replaced by stubs (nbgrader's ClearSolutions), no outputs."""
    chapter = get_chapter(chapter) if isinstance(chapter, str) else chapter
    return clear_solutions(read_notebook(chapter), chapter.slug)


def clear_solutions(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A student copy of a notebook that follows the exercise convention (``name`` is used in messages)."""
    from nbgrader.preprocessors import ClearSolutions

    nb = mark_for_nbgrader(nb, name)
    clear = ClearSolutions()
    resources = {"language": nb.metadata.get("kernelspec", {}).get("language", "python")}
    kept = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and (_SOLUTION_START.search(cell.source) or _SOLUTION_END.search(cell.source)):
            cell.source = _GATE_BLOCK.sub("", cell.source).strip()  # the gates only matter to the book
            if not cell.source:
                continue
        if cell.cell_type == "code" and BEGIN in cell.source:
            clear.code_stub = {**clear.code_stub, resources["language"]: _stub(cell.source)}
            cell, resources = clear.preprocess_cell(cell, resources, index)
            if BEGIN in cell.source or END in cell.source:
                raise CourseFormatError(f"{_where(name, index)}: a solution marker was left after clearing")
        if cell.cell_type == "markdown":
            cell.source = _student_markdown(cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        kept.append(cell)
    nb.cells = kept
    nb.metadata.pop("jupytext", None)
    nb.metadata["neurobook"] = {"chapter": name, "version": "student"}
    return nb


def teacher_notebook(chapter: Chapter | str) -> nbformat.NotebookNode:
    """The chapter with solutions and nbgrader metadata: a source notebook for ``nbgrader generate_assignment``."""
    chapter = get_chapter(chapter) if isinstance(chapter, str) else chapter
    nb = mark_for_nbgrader(read_notebook(chapter), chapter.slug)
    nb.metadata.pop("jupytext", None)
    nb.metadata["neurobook"] = {"chapter": chapter.slug, "version": "teacher"}
    return nb


def _write(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Write atomically; an unchanged notebook is not rewritten (its mtime tells Sphinx whether pages are stale)."""
    for index, cell in enumerate(nb.cells):  # stable ids (jupytext makes random ones), so reruns write nothing
        if "id" in cell:
            cell["id"] = f"cell-{index}"
    text = nbformat.writes(nb) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def resolve_chapters(names: list[str]) -> list[Chapter]:
    """Chapters named on the command line (slug, ``chXX`` or number; ``all`` = every written chapter)."""
    if not names or names == ["all"]:
        return written_chapters()
    chapters = [get_chapter(n) for n in names]
    unwritten = [c.slug for c in chapters if not c.written]
    if unwritten:
        raise KeyError(f"chapter(s) {', '.join(unwritten)} not written yet; written chapters: "
                       f"{', '.join(c.slug for c in written_chapters())} (all chapters: {', '.join(CHAPTERS)})")
    return chapters


def write_student_notebooks(names: list[str] | None = None, output_dir: Path = STUDENT_DIR, *,
                            teacher: bool = False, log: bool = True) -> list[Path]:
    """Write ``<output_dir>/<slug>.ipynb`` for each chapter with exercises (and ``<slug>.teacher.ipynb``)."""
    written = []
    for chapter in resolve_chapters(list(names or [])):
        found = exercises(chapter)
        if not found:
            if log:
                print(f"[neurobook] {chapter.slug}: no exercises, no student notebook")
            continue
        path = _write(student_notebook(chapter), Path(output_dir) / f"{chapter.slug}.ipynb")
        written.append(path)
        if teacher:
            written.append(_write(teacher_notebook(chapter), Path(output_dir) / f"{chapter.slug}.teacher.ipynb"))
        if log:
            print(f"[neurobook] {chapter.slug}: student notebook with {len(found)} exercise(s) -> {path}")
    return written
