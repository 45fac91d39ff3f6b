"""Run chapters with papermill (cached on source, parameters, package code and data) and build the book."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from neurobook.chapters import GENERATED_DIR, REPO_ROOT, Chapter, get_chapter, written_chapters
from neurobook.config import data_dir
from neurobook.data.registry import get_dataset
from neurobook.params import ParameterError, notebook_parameters, parse_value, read_chapter, validate
from neurobook.results import RESULTS_DIR_ENV

PACKAGE_DIR = REPO_ROOT / "neurobook"


class ChapterFailed(RuntimeError):
    """A chapter raised while executing; the message names the chapter and the cell."""


def _fingerprint(chapter: Chapter, values: dict[str, Any]) -> str:
    """Hash of everything that decides a chapter's output: its source, parameters, neurobook's code, its data."""
    h = hashlib.sha256()
    h.update(chapter.source.read_bytes())
    h.update(json.dumps(values, sort_keys=True, default=str).encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(path.read_bytes())
    root = data_dir(values.get("data_dir"))
    for name in chapter.datasets:
        h.update(json.dumps(get_dataset(name).checksums, sort_keys=True).encode())
        if root is not None:  # the local copies' sizes and mtimes, so a replaced file counts as a change
            for rel in get_dataset(name).checksums:
                path = root / name / rel
                if path.exists():
                    st = path.stat()
                    h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def run_chapter(slug: str, parameters: dict[str, Any] | None = None, *, force: bool = False,
                output_dir: Path = GENERATED_DIR, log: bool = True) -> Path:
    """Execute one chapter with papermill into ``output_dir``; skip when nothing it depends on changed.

    Writes ``<slug>.ipynb`` (the executed notebook), ``<slug>.results.json`` (written by the chapter) and
    ``<slug>.stamp`` (the fingerprint that decides whether a rerun is needed).
    """
    import jupytext
    import papermill as pm

    chapter = get_chapter(slug)
    values = dict(parameters or {})
    declared = notebook_parameters(chapter.source)
    validate(declared, values, chapter.slug)
    # the fingerprint sees every parameter's effective value, so `-p profile full` and the default are one run
    effective = {name: parse_value(p["default"]) for name, p in declared.items()} | values
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / f"{chapter.slug}.ipynb"
    stamp_path = output_dir / f"{chapter.slug}.stamp"
    stamp = _fingerprint(chapter, effective)
    if not force and executed.exists() and stamp_path.exists() and stamp_path.read_text() == stamp:
        if log:
            print(f"[neurobook] {chapter.slug}: unchanged, not executed again")
        return executed
    source_nb = output_dir / f"{chapter.slug}.source.ipynb"
    jupytext.write(read_chapter(chapter.source), source_nb)
    env_before = os.environ.get(RESULTS_DIR_ENV)
    os.environ[RESULTS_DIR_ENV] = str(output_dir)
    start = time.time()
    if log:
        print(f"[neurobook] {chapter.slug}: executing with {values or 'default parameters'}")
    partial = executed.with_suffix(".partial.ipynb")
    try:
        pm.execute_notebook(str(source_nb), str(partial), parameters=values, kernel_name="python3",
                            cwd=str(output_dir), progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as err:
        raise ChapterFailed(
            f"chapter {chapter.slug} failed in cell {err.exec_count} (cell index {err.cell_index}): "
            f"{err.ename}: {str(err.evalue).rstrip('.')}. The partly executed notebook is {partial}"
        ) from None
    finally:
        if env_before is None:
            os.environ.pop(RESULTS_DIR_ENV, None)
        else:
            os.environ[RESULTS_DIR_ENV] = env_before
        source_nb.unlink(missing_ok=True)
    os.replace(partial, executed)
    stamp_path.write_text(stamp)
    if log:
        print(f"[neurobook] {chapter.slug}: done in {time.time() - start:.0f} s -> {executed}")
    return executed


def build_book(parameters: dict[str, Any] | None = None, *, force: bool = False,
               builder_args: tuple[str, ...] = ()) -> Path:
    """Run every written chapter (cached), refresh the scorecard and the widget assets, render with jupyter-book."""
    from neurobook.scorecard import write_scorecard
    from neurobook.student import write_student_notebooks
    from neurobook.syllabus import write_syllabus
    from neurobook.webassets import install_widget_assets

    values = dict(parameters or {})
    chapters = written_chapters()
    declared = {c.slug: notebook_parameters(c.source) for c in chapters}
    known = set().union(*declared.values())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; parameters of the chapters: {sorted(known)}")
    for chapter in chapters:
        own = {k: v for k, v in values.items() if k in declared[chapter.slug]}
        run_chapter(chapter.slug, own, force=force)
    write_scorecard()
    write_student_notebooks(log=False)
    write_syllabus()
    install_widget_assets()
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO_ROOT), *builder_args]
    done = subprocess.run(cmd, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}); see the output above")
    index = REPO_ROOT / "_build" / "html" / "index.html"
    print(f"[neurobook] book built: {index}")
    return index

