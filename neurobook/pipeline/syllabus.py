"""Build the syllabus: per chapter its learning goals, prerequisites, CPU time, data and exercises.

Generated from the same registry as the scorecard (``neurobook/pipeline/chapters.py``); the exercises are parsed
from each chapter's source, so a chapter that adds exercises is listed without touching this module.
"""

from __future__ import annotations

from pathlib import Path

from neurobook.data.registry import get_dataset
from neurobook.files import write_text
from neurobook.pipeline.chapters import CHAPTERS, GENERATED_DIR, Chapter
from neurobook.pipeline.student import STUDENT_DIR, exercises
from neurobook.results import load_results


def _bullets(items: tuple[str, ...] | list[str], empty: str) -> str:
    return "\n".join(f"- {item}" for item in items) if items else f"- {empty}"


def _time(chapter: Chapter, results_dir: Path) -> str:
    estimate = (f"about {chapter.cpu_minutes:g} min for the default profile"
                if chapter.cpu_minutes is not None else "not estimated yet")
    results = results_dir / f"{chapter.slug}.results.json"
    if chapter.written and results.exists():
        rec = load_results(results)
        if rec.get("runtime_s") is not None:
            estimate += f" (last run: {rec['runtime_s'] / 60:.1f} min, profile {rec['profile']} on {rec['device']})"
    return estimate + "; `--profile quick` runs a small version in about a minute"


def chapter_section(number: int, chapter: Chapter, results_dir: Path = GENERATED_DIR,
                    student_dir: Path = STUDENT_DIR) -> str:
    """The syllabus section of one chapter (MyST markdown, included from ``book/syllabus.md``)."""
    status = "" if chapter.written else " (planned, not yet written)"
    title = f"[{chapter.title}](_generated/{chapter.slug}.ipynb)" if chapter.written else chapter.title
    data = [f"`{d}`: {get_dataset(d).title} ({get_dataset(d).license})" for d in chapter.datasets]
    found = exercises(chapter) if chapter.written else []
    ex_lines = [f"{{ref}}`{ex.title} <{ex.label}>`" if ex.label else ex.title for ex in found]
    lines = [f"## {number}. {title}{status}", "", f"**Study:** {chapter.paper}.", ""]
    if chapter.written or chapter.goals:
        lines += ["**Learning goals.** After the chapter you can", "",
                  _bullets(chapter.goals, "to be written with the chapter"), ""]
    if chapter.written or chapter.prerequisites:
        lines += ["**Prerequisites.**", "", _bullets(chapter.prerequisites, "to be written with the chapter"), ""]
    if chapter.written:
        lines += [f"**Time on a laptop CPU:** {_time(chapter, results_dir)}.", ""]
    lines += ["**Data.**", "", _bullets(data, "none")]
    if chapter.written:
        lines += ["", "**Exercises.**", "",
                  "\n".join(f"{i}. {line}" for i, line in enumerate(ex_lines, 1)) if ex_lines else "- none yet"]
    student = Path(student_dir) / f"{chapter.slug}.ipynb"
    if found and student.exists():
        # book/syllabus.md includes this text, so the path is relative to book/ (student_dir is its _generated/student)
        lines += ["", f"Student notebook (solutions removed): "
                  f"{{download}}`{chapter.slug}.ipynb <_generated/student/{chapter.slug}.ipynb>`, "
                  f"or `neurobook student {chapter.slug}`."]
    return "\n".join(lines) + "\n"


def syllabus_markdown(results_dir: Path = GENERATED_DIR, student_dir: Path = STUDENT_DIR) -> str:
    """The syllabus of every chapter in the registry's order."""
    return "\n".join(chapter_section(i, c, results_dir, student_dir) for i, c in enumerate(CHAPTERS.values(), 1))


def write_syllabus(directory: Path = GENERATED_DIR, results_dir: Path | None = None,
                   student_dir: Path | None = None) -> Path:
    """Write ``syllabus_table.md`` (included by ``book/syllabus.md``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "syllabus_table.md"
    return write_text(path, syllabus_markdown(results_dir or directory, student_dir or directory / "student"))
