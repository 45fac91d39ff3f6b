"""The course format: exercise parsing, student notebooks (nbgrader's ClearSolutions), the syllabus, the CLI.

Slow tests: the teacher notebook's checks pass in the quick book, and the student notebook, run as it is under
papermill, stops at the first exercise's check with its helpful message.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from neurobook.course import ExerciseCheckFailed, ExerciseNotDone, check_answer, check_that
from neurobook.pipeline.chapters import CHAPTERS, written_chapters
from neurobook.pipeline.student import (
    BEGIN,
    END,
    CourseFormatError,
    clear_solutions,
    exercises,
    mark_for_nbgrader,
    read_notebook,
    solution_leaks,
    student_notebook,
    write_student_notebooks,
)
from neurobook.pipeline.syllabus import syllabus_markdown

SOLUTION_LINE = "my_total = values.sum()  # the reference solution"


def _exercise_nb(*, end_gate: bool = True, extra_code: bool = False,
                 label: str = "chxx-ex-sum") -> nbformat.NotebookNode:
    """A small notebook in the course convention: setup, exercise, gated solution, check, a later cell."""
    cells = [
        new_code_cell("import numpy as np\nvalues = np.arange(5.0)"),
        new_markdown_cell("```{exercise} Sum the values\n:label: chxx-ex-sum\n\nSet `my_total` to the sum.\n```"),
        new_markdown_cell(f"```{{solution-start}} {label}\n:class: dropdown\n```"),
        new_code_cell(f"my_total = None  # your answer: the sum of `values`\n{BEGIN}\n{SOLUTION_LINE}\n{END}"),
    ]
    if extra_code:
        cells.append(new_code_cell("print('second code cell inside the gate')"))
    if end_gate:
        cells.append(new_markdown_cell("```{solution-end}\n```"))
    cells += [
        new_code_cell("from neurobook.course import check_answer\n\n"
                      "check_answer('my_total', my_total, 10.0, hint='add all elements')"),
        new_code_cell("print('after the exercise')"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_exercises_are_parsed_from_the_chapter_source():
    found = exercises("ch01")
    assert len(found) >= 2
    assert all(ex.label.startswith("ch01-ex-") and ex.title for ex in found)
    assert len({ex.label for ex in found}) == len(found)
    for chapter in CHAPTERS.values():  # unwritten chapters have no source yet: no exercises, no error
        if not chapter.source.exists():
            assert exercises(chapter) == []


def test_marking_adds_nbgrader_metadata_to_solution_and_check_cells():
    nb = mark_for_nbgrader(_exercise_nb())
    solution, check = nb.cells[3], nb.cells[5]
    assert solution.metadata["nbgrader"] == {"grade": False, "solution": True, "locked": False,
                                             "grade_id": "chxx-ex-sum-solution", "schema_version": 3}
    assert check.metadata["nbgrader"]["grade"] is True and check.metadata["nbgrader"]["locked"] is True
    assert "nbgrader" not in nb.cells[0].metadata


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(end_gate=False), "no matching"),
    (dict(extra_code=True), "ONE code cell"),
    (dict(label="chxx-ex-typo"), "names no exercise"),
])
def test_broken_convention_gets_a_clear_error(kwargs, message):
    with pytest.raises(CourseFormatError, match=message):
        mark_for_nbgrader(_exercise_nb(**kwargs), "chxx")


def test_solution_marker_outside_a_gate_is_an_error():
    nb = _exercise_nb()
    nb.cells.append(new_code_cell(f"x = 1\n{BEGIN}\nx = 2\n{END}"))
    with pytest.raises(CourseFormatError, match="outside a solution-start"):
        mark_for_nbgrader(nb, "chxx")


def test_clear_solutions_leaves_a_stub_that_says_what_to_write():
    student = clear_solutions(_exercise_nb(), "chxx")
    text = "\n".join(c.source for c in student.cells)
    assert SOLUTION_LINE not in text and BEGIN not in text and END not in text
    assert "solution-start" not in text and "solution-end" not in text
    code = student.cells[2].source
    assert code.startswith("my_total = None")
    assert "# YOUR CODE HERE: set `my_total` to the sum of `values`" in code
    assert "NotImplementedError" not in code  # the check, not the stub, tells the student what is missing
    assert student.cells[1].source.startswith("**Exercise: Sum the values**")
    assert ":label:" not in student.cells[1].source
    assert "check_answer" in student.cells[3].source and student.cells[-1].source == "print('after the exercise')"


def test_exercise_and_gate_in_one_markdown_cell_keeps_the_task():
    nb = _exercise_nb()
    nb.cells[1].source += "\n\n" + nb.cells[2].source
    del nb.cells[2]
    student = clear_solutions(nb, "chxx")
    assert student.cells[1].source.startswith("**Exercise: Sum the values**")
    assert "solution-start" not in student.cells[1].source and "Set `my_total` to the sum." in student.cells[1].source


def test_student_code_runs_up_to_the_check_which_fails_helpfully():
    """Executing the cleared cells in order: the stub runs, the check raises ExerciseNotDone with the hint."""
    student = clear_solutions(_exercise_nb(), "chxx")
    namespace: dict = {}
    with pytest.raises(ExerciseNotDone, match=r"`my_total` is still None.*Hint: add all elements"):
        for cell in student.cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)
    teacher = _exercise_nb()
    namespace = {}
    for cell in teacher.cells:
        if cell.cell_type == "code":
            exec(cell.source, namespace)
    assert namespace["my_total"] == 10.0


def test_chapter_one_student_notebook_has_no_solutions():
    teacher = [c for c in mark_for_nbgrader(_read_ch01()).cells]
    solutions = [c for c in teacher if c.metadata.get("nbgrader", {}).get("solution")]
    student = student_notebook("ch01")
    text = json.dumps([c.source for c in student.cells])
    assert len(solutions) == len(exercises("ch01"))
    for cell in solutions:
        inside = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
        for line in (ln.strip() for ln in inside.splitlines()):
            if len(line) > 20:
                assert line not in text, f"solution line left in the student notebook: {line}"
    assert text.count("# YOUR CODE HERE: set `") >= len(solutions)
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert student.metadata["neurobook"] == {"chapter": "ch01_v1_encoding", "version": "student"}
    nbformat.validate(student)


def _read_ch01():
    return read_notebook(CHAPTERS["ch01_v1_encoding"])


@pytest.mark.parametrize("chapter", written_chapters(), ids=lambda c: c.slug)
def test_solutions_define_nothing_later_cells_need(chapter):
    """The student notebook runs like the teacher's once the answers are written: no name leaks out of a solution."""
    leaks = solution_leaks(read_notebook(chapter))
    assert not leaks, (f"{chapter.slug}: later cells read names that only a solution defines {leaks}; define them "
                       "above ### BEGIN SOLUTION or outside the exercise")


def test_solution_leak_is_found():
    nb = _exercise_nb()
    nb.cells.append(new_code_cell("print(helper)"))
    nb.cells[3].source = nb.cells[3].source.replace(SOLUTION_LINE, SOLUTION_LINE + "\nhelper = 1")
    assert solution_leaks(nb) == {"chxx-ex-sum-solution": ["helper"]}
    assert solution_leaks(_exercise_nb()) == {}
    clobber = _exercise_nb()  # the solution rebinds a chapter variable that a later cell reads
    clobber.cells[3].source = clobber.cells[3].source.replace(SOLUTION_LINE, "values = values * 2")
    clobber.cells.append(new_code_cell("print(values.mean())"))
    assert solution_leaks(clobber) == {"chxx-ex-sum-solution": ["values"]}
    rebound = _exercise_nb()  # ... unless that cell binds it again first
    rebound.cells[3].source = rebound.cells[3].source.replace(SOLUTION_LINE, "values = values * 2")
    rebound.cells.append(new_code_cell("values = np.ones(3)\nprint(values.mean())"))
    assert solution_leaks(rebound) == {}


def test_write_student_notebooks(tmp_path):
    paths = write_student_notebooks(["1"], tmp_path, teacher=True, log=False)
    assert sorted(p.name for p in paths) == ["ch01_v1_encoding.ipynb", "ch01_v1_encoding.teacher.ipynb"]
    teacher = nbformat.read(tmp_path / "ch01_v1_encoding.teacher.ipynb", as_version=4)
    assert any(BEGIN in c.source for c in teacher.cells)
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_student_unknown_chapter_lists_the_chapters(capsys):
    from neurobook.pipeline.cli import main

    assert main(["student", "ch99"]) == 2
    err = capsys.readouterr().err
    assert "unknown chapter 'ch99'" in err
    for slug in CHAPTERS:
        assert slug in err


def test_cli_student_unwritten_chapter_says_so(capsys):
    from neurobook.pipeline.cli import main

    unwritten = [c for c in CHAPTERS.values() if not c.written]
    if not unwritten:
        pytest.skip("every chapter is written")
    assert main(["student", unwritten[0].slug]) == 2
    err = capsys.readouterr().err
    assert "not written yet" in err and all(c.slug in err for c in written_chapters())


def test_cli_student_writes_the_notebook(tmp_path, capsys):
    from neurobook.pipeline.cli import main

    assert main(["student", "ch01", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "ch01_v1_encoding.ipynb").is_file()
    assert f"{len(exercises('ch01'))} exercise(s)" in capsys.readouterr().out


def test_syllabus_lists_every_chapter_with_goals_data_and_exercises(tmp_path):
    text = syllabus_markdown(results_dir=tmp_path, student_dir=tmp_path)
    for chapter in CHAPTERS.values():
        assert chapter.title in text and chapter.paper in text
        for name in chapter.datasets:
            assert f"`{name}`" in text
    ch01 = CHAPTERS["ch01_v1_encoding"]
    for goal in ch01.goals + ch01.prerequisites:
        assert goal in text
    for ex in exercises(ch01):
        assert f"{{ref}}`{ex.title} <{ex.label}>`" in text
    for chapter in written_chapters():
        assert f"about {chapter.cpu_minutes:g} min" in text
    assert "{download}" not in text  # no student notebook in tmp_path: no dangling download link


def test_every_written_chapter_states_its_cpu_time():
    for chapter in written_chapters():
        assert chapter.cpu_minutes is not None and chapter.cpu_minutes > 0, (
            f"{chapter.slug}: set cpu_minutes in neurobook/pipeline/chapters.py from a measured full-profile CPU run")
    assert "not estimated yet" not in syllabus_markdown()


def test_checks_fail_with_messages():
    with pytest.raises(ExerciseCheckFailed, match="does not match: 2 vs the reference 3"):
        check_answer("x", 2.0, 3.0)
    with pytest.raises(ExerciseCheckFailed, match="shape"):
        check_answer("x", [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ExerciseCheckFailed, match="could not be evaluated"):
        check_that(lambda: len(None) > 1, "x should be long")
    check_answer("x", [1.0, float("nan")], [1.0, float("nan")])



@pytest.mark.slow
@pytest.mark.parametrize("chapter", written_chapters(), ids=lambda c: c.slug)
def test_teacher_notebook_checks_pass(quick_book, chapter):
    """In the quick book, every check cell of an exercise ran and printed its pass mark; nothing failed."""
    nb = json.loads((quick_book / "book" / "_generated" / f"{chapter.slug}.ipynb").read_text())
    found = exercises(chapter)
    if not found:
        pytest.skip(f"{chapter.slug} has no exercises")
    checks = [c for c in nb["cells"] if c["cell_type"] == "code"
              and ("check_answer(" in "".join(c["source"]) or "check_that(" in "".join(c["source"]))]
    assert len(checks) >= len(found)
    for cell in checks:
        outputs = cell.get("outputs", [])
        assert not [o for o in outputs if o.get("output_type") == "error"], "".join(cell["source"])
        printed = "".join("".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
        assert "✓" in printed and "ExerciseCheckFailed" not in printed, "".join(cell["source"])


@pytest.mark.slow
def test_student_notebook_stops_at_the_first_check_with_its_message(data_root, tmp_path):
    """The student notebook, run as it is (quick profile), fails at the first exercise's check cell."""
    import papermill as pm

    slug = written_chapters()[0].slug
    first = exercises(slug)[0]
    path = write_student_notebooks([slug], tmp_path, log=False)[0]
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(path), str(tmp_path / "out.ipynb"), parameters={"profile": "quick"},
                            kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    err = info.value
    assert err.ename == "ExerciseNotDone", (err.ename, err.evalue)
    assert "is still None" in err.evalue and "Hint:" in err.evalue
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    failing = [i for i, c in enumerate(out.cells) if c.cell_type == "code"
               and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failing) == 1
    failed = out.cells[failing[0]]
    assert "check_" in failed.source, failed.source
    # the failing check is the first exercise's: the student's stub for that exercise ran just before it
    stubs = [i for i, c in enumerate(out.cells) if "# YOUR CODE HERE" in c.source]
    assert stubs and stubs[0] < failing[0] and not any(s < failing[0] for s in stubs[1:]), first
    shown_in_notebook = "\n".join(o.get("evalue", "") + "".join(o.get("traceback", []))
                                   for o in failed.outputs if o.get("output_type") == "error")
    assert "is still None" in shown_in_notebook
    # the student sees the message, not a traceback from inside the package
    shown = "\n".join(err.traceback)
    assert "neurobook/course.py" not in shown and "Traceback" not in shown, shown
