"""Chapter 5 on a user's own higher-visual-area recordings (`-p data_file mine.npz`): the colour npz is checked with
clear messages, and the chapter runs on it and names it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurobook.data import UserDataError, load_colour_npz


def _arrays(n: int = 240, h: int = 16, colour: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (n, 3, h, h) if colour else (n, h, h)).astype(np.float32)
    drive = images.reshape(n, -1)[:, :8] / 255
    return dict(images=images, responses=rng.poisson(2 * np.exp(drive)).astype(np.float32),
                tiers=np.array(["train", "train", "train", "validation", "test"] * (n // 5)),
                image_ids=np.arange(n))


def test_colour_and_grayscale_files_load_and_misfits_are_explained(tmp_path):
    np.savez(tmp_path / "colour.npz", **_arrays(), image_type=np.array(["natural", "mosaic"] * 120))
    data = load_colour_npz(tmp_path / "colour.npz")
    assert data.images.shape == (240, 3, 16, 16) and (data.meta["session"] == "user").all()
    assert (data.meta["image_type"][:2] == ["natural", "mosaic"]).all() and len(data.meta["neuron_session"]) == 8
    np.savez(tmp_path / "gray.npz", **_arrays(colour=False))
    gray = load_colour_npz(tmp_path / "gray.npz")
    assert gray.images.shape == (240, 3, 16, 16) and (gray.images[:, 0] == gray.images[:, 2]).all()
    assert (gray.meta["image_type"] == "natural").all()  # no types given: every image a photograph

    bad = {"rect": dict(_arrays(), images=_arrays()["images"][..., :12]),
           "small": _arrays(h=8),
           "channels": dict(_arrays(), images=_arrays()["images"][:, :2]),
           "types": dict(_arrays(), image_type=np.arange(240))}
    messages = {"rect": "square and at least 16 px", "small": "square and at least 16 px",
                "channels": "channels first", "types": "image_type must be"}
    for name, arrays in bad.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(UserDataError, match=messages[name]):
            load_colour_npz(tmp_path / f"{name}.npz")


@pytest.mark.slow
def test_chapter_5_runs_on_a_user_file_and_a_rerun_with_the_same_seed_reproduces_its_numbers(tmp_path, data_root):
    """The chapter on a small file; run again with the same seed (on the CPU, the priors now from their cache),
    every number but the timings is the same: the GAN training, evolution, CMA-ES and the response noise are all
    seeded."""
    from neurobook.data import load_cowley2023
    from neurobook.pipeline.run import run_chapter

    d = load_cowley2023(sessions=["190923"], downsample=7).subsample(neurons=12, train_trials=400, seed=0)
    path = tmp_path / "mine.npz"
    np.savez(path, images=d.images, responses=d.responses, tiers=d.tiers, image_ids=d.image_ids)
    params = {"profile": "quick", "device": "cpu", "data_file": str(path), "n_invert": 2, "prior_steps": 20,
              "noisy_images": 80, "generations": 3}
    run_chapter("ch05", params, output_dir=tmp_path / "out")
    record = json.loads((tmp_path / "out" / "ch05_generative.results.json").read_text())
    assert str(path) in record["data"]["description"]
    headline = record["headline"]
    assert headline["n_neurons"] == 12 and headline["n_invert"] == 2 and headline["noisy_budget_images"] == 80
    assert headline["natural_pool_size"] == len(np.unique(d.image_ids))
    assert np.isnan(headline["v4_ccnorm_median"])  # no repeats in the file: no ceiling, and the page says so
    run_chapter("ch05", params, output_dir=tmp_path / "again")
    again = json.loads((tmp_path / "again" / "ch05_generative.results.json").read_text())["headline"]
    timing = [k for k in headline if "second" in k]
    assert timing, "the results should carry their timings (excluded from the comparison)"
    strip = lambda h: {k: v for k, v in h.items() if k not in timing}  # noqa: E731
    assert json.dumps(strip(again), sort_keys=True) == json.dumps(strip(headline), sort_keys=True)
