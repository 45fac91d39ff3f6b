"""The Cowley 2023 V4 loader on the real files: order, colour, stacking, repeats."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook import metrics
from neurobook.data import load_cowley2023, load_repeats
from neurobook.data.cowley2023 import session_images


def test_two_sessions_stack_with_nan_for_unrecorded(data_root):
    d = load_cowley2023(sessions=["210325", "210305"], downsample=8)
    assert d.images.shape == (640 + 400, 3, 14, 14) and d.n_channels == 3
    assert d.responses.shape == (1040, 50 + 70)
    own = d.meta["neuron_session"][None, :] == d.meta["session"][:, None]
    assert np.isfinite(d.responses[own]).all() and np.isnan(d.responses[~own]).all()
    avg = np.load(data_root / "cowley2023_macaque_v4/responses_repeat_averaged/responses_210325.npy")
    np.testing.assert_allclose(d.responses[:640, :50], avg.T, rtol=1e-6)
    assert set(np.unique(d.tiers)) == {"train", "validation", "test"}
    again = load_cowley2023(sessions=["210325"], downsample=8)
    np.testing.assert_array_equal(again.tiers, d.tiers[:640])  # the split is fixed by the session, not the call


def test_images_are_colour_and_in_file_order(data_root):
    full = session_images("210325", downsample=1)
    assert full.shape == (640, 3, 112, 112) and full.min() >= 0 and full.max() <= 255
    assert np.abs(full[:, 0] - full[:, 2]).mean() == 0  # the Bashivan et al. images of 210325 are grey
    natural = session_images("210305", downsample=8)
    assert np.abs(natural[:, 0] - natural[:, 2]).mean() > 1.0  # colour kept
    import io
    import zipfile

    from PIL import Image
    with zipfile.ZipFile(data_root / "cowley2023_macaque_v4/images/images_210325.zip") as z:
        name = next(n for n in z.namelist() if n.endswith("image0002.jpg"))
        second = np.asarray(Image.open(io.BytesIO(z.read(name))).convert("RGB"), np.float32).transpose(2, 0, 1)
    np.testing.assert_array_equal(full[1], second)


def test_repeats_give_a_noise_ceiling(data_root):
    rep = load_repeats(downsample=8)
    assert rep.responses.shape[1] == 50 and np.isfinite(rep.responses).all()
    avg = np.load(data_root / "cowley2023_macaque_v4/responses_repeat_averaged/responses_210325.npy")
    ids, reps = rep.repeats()
    means = np.stack([r.mean(0) for r in reps])
    np.testing.assert_allclose(means, avg.T[ids - 210325 * 10_000], rtol=1e-5, atol=1e-5)
    oracle = metrics.oracle_correlation(rep.responses, rep.image_ids)
    assert 0.2 < np.nanmean(oracle) < 0.9


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="unknown session"):
        load_cowley2023(sessions=["999999"])
    with pytest.raises(ValueError, match="downsample"):
        load_cowley2023(sessions=["210325"], downsample=3)


def test_fit_masks_unrecorded_neurons_and_learns_colour():
    """Two 'sessions' with disjoint neurons and images (NaN elsewhere): the colour CNN learns both."""
    import torch

    from neurobook.data import StimulusResponseData
    from neurobook.models import build_model
    from neurobook.train import fit, poisson_loss

    rng = np.random.default_rng(0)
    n, h = 600, 12
    images = rng.uniform(0, 255, (n, 3, h, h)).astype(np.float32)
    drive = np.stack([images[:, 0, 4:8, 4:8].mean((1, 2)), images[:, 2, 2:6, 6:10].mean((1, 2))], 1) / 255
    drive = (drive - drive.mean(0)) / drive.std(0)
    responses = rng.poisson(3 * np.exp(0.7 * drive)).astype(np.float32)
    responses[: n // 2, 1] = np.nan  # neuron 1 not recorded in "session" A
    responses[n // 2:, 0] = np.nan  # neuron 0 not recorded in "session" B
    tiers = np.where(np.arange(n) % 5 == 0, "validation", "train")
    data = StimulusResponseData(images, responses, tiers, np.arange(n), np.arange(2))
    model = build_model("cnn_gaussian", (h, h), 2, in_channels=3, hidden_channels=4, layers=1, input_kernel=5)
    run = fit(model, data, epochs=10, device="cpu", batch_size=32, lr=1e-2)
    assert np.isfinite(run.best_val_corr) and run.best_val_corr > 0.2
    assert all(np.isfinite(hh["train_loss"]) for hh in run.history)
    with pytest.raises(ValueError, match="built for images"):
        model(torch.zeros(2, 1, h, h))
    mask = torch.tensor([[True, False]])
    assert float(poisson_loss(torch.ones(1, 2), torch.tensor([[1.0, 5.0]]), mask=mask)) == pytest.approx(1.0, abs=1e-4)


def _bashivan_like(images: np.ndarray) -> np.ndarray:
    """Grey images whose four corner pixels are one flat grey: the circular aperture of Bashivan et al.'s images."""
    grey = np.abs(images[:, 0] - images[:, 2]).mean((1, 2)) < 1.0
    corners = images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    return grey & (corners.std(axis=(1, 2)) < 3.0)


def test_image_types_follow_the_table_and_the_natural_pool_holds_no_synthetic_image(data_root):
    from neurobook.data.cowley2023 import IMAGE_TYPES, NATURAL, image_types, natural_pool

    sessions = ("190925", "210305", "210322", "210325")
    d = load_cowley2023(sessions=list(sessions), downsample=8)
    types = d.meta["image_type"]
    assert (types[d.meta["session"] == "210305"] == "validation experiment").all()
    assert (types[d.meta["session"] == "190925"] == NATURAL).sum() == 900
    bashivan = types == "Bashivan 2019"
    assert bashivan.sum() == 600 + 640
    # the detector can fail: it finds the labelled Bashivan images, and it finds no natural photograph
    assert _bashivan_like(d.images[bashivan]).mean() > 0.95
    assert _bashivan_like(d.images[types == NATURAL]).mean() < 0.01

    pool, ids = natural_pool(sessions=sessions, downsample=8)
    assert len(pool) == len(ids) == 600 + 600  # 190925 keeps one copy of its repeated 300; 210305 and 210325 none
    assert len(np.unique(ids)) == len(ids) and len({p.tobytes() for p in pool}) == len(pool)
    assert _bashivan_like(pool).mean() < 0.01  # a few grey photographs with flat corners, as among all natural ones
    synthetic = {x.tobytes() for x in d.images[types != NATURAL]}
    assert not any(p.tobytes() in synthetic for p in pool)
    for s in sessions:  # every pooled id is a natural image of its session by the table
        own = ids[ids // 10_000 == int(s)] % 10_000
        assert (image_types(s, 1200)[own] == NATURAL).all() if s in IMAGE_TYPES else True
    with pytest.raises(ValueError, match="type table"):
        image_types("210325", 100)
