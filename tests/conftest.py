"""Shared fixtures: the real data directory, and the quick-profile book built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path | None:
    from neurobook.data.paths import DataDirError, data_dir

    try:
        return data_dir()
    except DataDirError:
        return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The local data directory laid out like ../shared/data (NEUROBOOK_DATA_DIR)."""
    root = _data_root()
    if root is None:
        pytest.skip("no local data directory: ../shared/data or data/ beside the checkout, or NEUROBOOK_DATA_DIR")
    os.environ.setdefault("NEUROBOOK_DATA_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory, data_root) -> Path:
    """Every written chapter executed by papermill in the quick profile, in a copy of the book's sources."""
    from neurobook.pipeline.chapters import written_chapters
    from neurobook.pipeline.run import run_chapter
    from neurobook.pipeline.scorecard import write_scorecard
    from neurobook.pipeline.student import write_student_notebooks
    from neurobook.pipeline.syllabus import write_syllabus

    root = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("_generated", "_widgets"))
    generated = root / "book" / "_generated"
    for chapter in written_chapters():
        run_chapter(chapter.slug, {"profile": "quick"}, force=True, output_dir=generated)
    write_scorecard(generated, results_dir=generated)
    write_student_notebooks(output_dir=generated / "student", log=False)
    write_syllabus(generated, results_dir=generated, student_dir=generated / "student")
    from neurobook.pipeline.sweep_page import write_sweep_page

    write_sweep_page(generated)
    return root


@pytest.fixture(scope="session")
def built_book(quick_book) -> Path:
    """The quick book rendered by jupyter-book with the kernel-free widget assets; returns the html folder."""
    from neurobook.pipeline.webassets import install_math_assets, install_widget_assets

    install_widget_assets(quick_book / "book" / "_widgets" / "nbwidgets")
    install_math_assets(quick_book / "book" / "_widgets" / "mathjax")
    jb = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run([str(jb), "build", str(quick_book), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, f"jupyter-book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    html = quick_book / "_build" / "html"
    assert (html / "index.html").exists()
    return html


@pytest.fixture(scope="module")
def sim():
    """Three simulated mice on the Allen Gabor layout (6 repeats, one for validation) and their aligned population:
    the decoding tests' shared ground truth (a test module may define its own ``sim`` instead)."""
    import torch

    from neurobook.data.simulate_gabor import simulate_gabor_sessions
    from neurobook.decoding import build_population

    torch.set_num_threads(1)
    sessions = simulate_gabor_sessions(3, (30, 40), n_repeats=6, seed=0, gain=6.0, rf_sigma_deg=12.0)
    return sessions, build_population(sessions, n_repeats=6, n_val_repeats=1)
