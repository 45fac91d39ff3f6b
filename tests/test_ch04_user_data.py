"""Chapter 4 on a user's own recordings (`-p data_file mine.npz`): both arms run on the file and the page names it."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_chapter_4_runs_on_a_user_file_and_refuses_images_too_small_for_the_task_arm(tmp_path, data_root):
    from neurobook.data import load_lurz2020
    from neurobook.pipeline.run import ChapterFailed, run_chapter

    data = load_lurz2020(data_root, downsample=2).subsample(neurons=40, train_trials=400, seed=0)
    arrays = dict(images=data.images, responses=data.responses, tiers=data.tiers, image_ids=data.image_ids)
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    out = tmp_path / "out"
    run_chapter("ch04", {"profile": "quick", "data_file": str(path), "components": "magnification"}, output_dir=out)
    record = json.loads((out / "ch04_bio_v1.results.json").read_text())
    assert str(path) in record["data"]["description"]
    headline = record["headline"]
    assert headline["n_neurons"] == 40
    assert headline["variants"] == ["core", "+ magnification", "magnification control"]
    assert set(headline["task_arm_delta_similarity"]) == {"+ magnification"}

    small = dict(arrays, images=data.images[:, ::3, ::3])  # 6 x 11 px: too small for 16-px task views
    np.savez(tmp_path / "small.npz", **small)
    with pytest.raises(ChapterFailed, match="at least 16 px"):
        run_chapter("ch04", {"profile": "quick", "data_file": str(tmp_path / "small.npz")}, output_dir=tmp_path / "b")
    assert not (tmp_path / "b" / "ch04_bio_v1.results.json").exists()
