"""Build the whole book: every written chapter (cached), the generated pages, the web assets, jupyter-book."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from neurobook.data.paths import REPO_ROOT, describe_data_dir
from neurobook.pipeline.chapters import GENERATED_DIR, written_chapters
from neurobook.pipeline.params import ParameterError, notebook_parameters
from neurobook.pipeline.run import build_lock, check_run_values, run_chapter
from neurobook.pipeline.scorecard import write_scorecard
from neurobook.pipeline.student import write_student_notebooks
from neurobook.pipeline.sweep_page import write_sweep_page
from neurobook.pipeline.syllabus import write_syllabus
from neurobook.pipeline.webassets import install_math_assets, install_widget_assets


def build_book(parameters: dict[str, Any] | None = None, *, force: bool = False,
               builder_args: tuple[str, ...] = ()) -> Path:
    """Run every written chapter (cached), refresh the scorecard and the widget assets, render with jupyter-book."""
    values = dict(parameters or {})
    chapters = written_chapters()
    declared = {c.slug: notebook_parameters(c.source) for c in chapters}
    known = set().union(*declared.values())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; parameters of the chapters: {sorted(known)}")
    check_run_values(values, "build")
    print(f"[neurobook] {describe_data_dir(values.get('data_dir'))}", flush=True)
    with build_lock(GENERATED_DIR):
        for chapter in chapters:
            own = {k: v for k, v in values.items() if k in declared[chapter.slug]}
            run_chapter(chapter.slug, own, force=force)
        write_scorecard()
        write_student_notebooks(log=False)
        write_syllabus()
        write_sweep_page()
        install_widget_assets()
        install_math_assets()
        cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO_ROOT), *builder_args]
        done = subprocess.run(cmd, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}); see the output above")
    index = REPO_ROOT / "_build" / "html" / "index.html"
    print(f"[neurobook] book built: {index}")
    return index

