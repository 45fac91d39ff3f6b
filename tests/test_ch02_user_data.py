"""Chapter 2 on a user's own retina recording (`-p data_file mine.npz`): the salamander section models the file's
cells and the page names it; a malformed file stops the chapter before anything runs, with the loader's message."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_chapter_2_runs_on_a_user_retina_file_and_refuses_a_malformed_one(tmp_path):
    from neurobook.data.retina_file import save_retina_file
    from neurobook.data.retina_sim import simulate_retina
    from neurobook.pipeline.run import ChapterFailed, run_chapter

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

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(tmp_path / "one_repeat.npz", **dict(arrays, frozen_counts=arrays["frozen_counts"][:1]))
    with pytest.raises(ChapterFailed, match="at least 2 repeats"):
        run_chapter("ch02", {"profile": "quick", "data_file": str(tmp_path / "one_repeat.npz")},
                    output_dir=tmp_path / "b")
    assert not (tmp_path / "b" / "ch02_retina.results.json").exists()
