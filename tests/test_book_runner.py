"""The chapter runner: a raising chapter fails loudly (chapter and cell named); unchanged chapters are not rerun."""

from __future__ import annotations

import pytest

import neurobook.pipeline.chapters as chapters
from neurobook.pipeline.run import ChapterFailed, run_chapter

SOURCE = '''# %% tags=["parameters"]
profile: str = "quick"  # run size
value: int = 1  # what the last cell divides by

# %%
from neurobook.results import save_results

# %%
save_results("zz_demo", profile=profile, device="cpu", data={"name": "none", "kind": "simulated"},
             headline={"x": 1 / value}, runtime_s=0.0)
'''


@pytest.fixture
def demo_chapter(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "zz_demo.py").write_text(SOURCE)
    monkeypatch.setattr(chapters, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setitem(chapters.CHAPTERS, "zz_demo", chapters.Chapter("zz_demo", "demo", "-", "-", ()))
    return tmp_path / "out"


def test_raising_chapter_names_chapter_and_cell(demo_chapter):
    with pytest.raises(ChapterFailed, match=r"chapter zz_demo failed in cell \d+ .*ZeroDivisionError"):
        run_chapter("zz_demo", {"value": 0}, output_dir=demo_chapter, log=False)
    assert not (demo_chapter / "zz_demo.ipynb").exists()  # no executed notebook that looks complete


def test_unchanged_chapter_is_not_executed_again(demo_chapter):
    first = run_chapter("zz_demo", {"value": 2}, output_dir=demo_chapter, log=False)
    assert (demo_chapter / "zz_demo.results.json").exists()
    mtime = first.stat().st_mtime_ns
    assert run_chapter("zz_demo", {"value": 2}, output_dir=demo_chapter, log=False).stat().st_mtime_ns == mtime
    run_chapter("zz_demo", {"value": 4}, output_dir=demo_chapter, log=False)  # new parameters: executed again
    assert first.stat().st_mtime_ns != mtime


def test_default_and_explicit_default_are_the_same_run(demo_chapter):
    first = run_chapter("zz_demo", {}, output_dir=demo_chapter, log=False)
    mtime = first.stat().st_mtime_ns
    assert run_chapter("zz_demo", {"value": 1, "profile": "quick"}, output_dir=demo_chapter,
                       log=False).stat().st_mtime_ns == mtime


def test_an_edit_under_pipeline_runs_nothing_and_an_edit_under_models_reruns(demo_chapter, tmp_path, monkeypatch):
    import neurobook.pipeline.run as runner

    package = tmp_path / "fake_neurobook"  # the fingerprint reads this tree instead of the installed package
    for rel in ("models/cores.py", "pipeline/cli.py", "train.py"):
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(f"# {rel}\n")
    monkeypatch.setattr(runner, "PACKAGE_DIR", package)
    monkeypatch.setattr(runner, "PIPELINE_DIR", package / "pipeline")
    first = run_chapter("zz_demo", {}, output_dir=demo_chapter, log=False)
    mtime = first.stat().st_mtime_ns
    (package / "pipeline" / "cli.py").write_text("# the CLI's help text changed\n")
    assert run_chapter("zz_demo", {}, output_dir=demo_chapter, log=False).stat().st_mtime_ns == mtime
    assert runner.is_current("zz_demo", {}, demo_chapter)
    (package / "models" / "cores.py").write_text("# a model changed\n")
    assert not runner.is_current("zz_demo", {}, demo_chapter)
    assert run_chapter("zz_demo", {}, output_dir=demo_chapter, log=False).stat().st_mtime_ns != mtime
