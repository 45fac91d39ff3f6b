"""Chapter 2 on a user's own retina recording (`-p data_file mine.npz`): the salamander section models the file's
cells and the page names it (each malformed array's message: tests/test_retina_file.py)."""

import json

import pytest


@pytest.mark.slow
def test_chapter_2_runs_on_a_user_retina_file(tmp_path):
    from neurobook.data.retina_file import save_retina_file
    from neurobook.data.retina_sim import simulate_retina
    from neurobook.pipeline.run import run_chapter

    sim = simulate_retina(n_cells=3, grid=20, n_trials=4, trial_frames=900, frozen_frames=120, n_repeats=10,
                          mean_rate=0.4, seed=7)
    path = save_retina_file(tmp_path / "mine.npz", sim)
    out = tmp_path / "out"
    run_chapter("ch02", {"profile": "quick", "data_file": str(path)}, output_dir=out)
    record = json.loads((out / "ch02_retina.results.json").read_text())
    assert str(path) in record["data"]["description"]
    headline = record["headline"]
    assert headline["n_salamander_cells"] == 2 and set(headline["salamander_cells"]) <= {0, 1, 2}
    page = (out / "ch02_retina.ipynb").read_text()
    assert f"your recording `{path}`" in page

