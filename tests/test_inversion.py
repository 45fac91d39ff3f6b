"""Inversion: transforms, batched MEIs under the norm constraint, and gradient receptive fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook.inversion import (
    compose,
    gaussian_blur,
    gradient_receptive_fields,
    jitter,
    most_exciting_inputs,
    preferred_image_measures,
    restart_diversity,
)
from neurobook.models import LNModel, build_model
from neurobook.rf_fit import gabor

SHAPE = (12, 16)


def _ln_with_filters() -> tuple[LNModel, np.ndarray]:
    """An LN model whose filters are known Gabors (with a nonzero input mean/std)."""
    filters = np.stack([gabor(SHAPE, 4 + 2 * i, 6, 2.0, 2.5, 0.5 * i, 0.15, i) for i in range(3)])
    model = LNModel(SHAPE, 3, nonlinearity="softplus")
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(filters.reshape(3, -1)).float())
    model.set_input_stats(0.5, 0.2)
    return model, filters


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_transforms_keep_shape_and_compose():
    x = torch.arange(2 * 1 * 5 * 6, dtype=torch.float32).view(2, 1, 5, 6)
    gen = torch.Generator().manual_seed(0)
    shifted = jitter(2, gen)(x)
    assert shifted.shape == x.shape
    assert torch.equal(torch.sort(shifted.flatten())[0], torch.sort(x.flatten())[0])  # a roll permutes pixels
    assert torch.equal(jitter(0)(x), x) and torch.equal(gaussian_blur(0)(x), x)
    blurred = gaussian_blur(1.0)(torch.randn(2, 1, 8, 9))
    assert blurred.shape == (2, 1, 8, 9)
    const = torch.full((1, 1, 8, 9), 3.0)
    torch.testing.assert_close(gaussian_blur(1.5)(const), const)  # normalized kernel, reflect padding
    both = compose([lambda t: t + 1, lambda t: t * 2])
    torch.testing.assert_close(both(torch.ones(1)), torch.tensor([4.0]))
    with pytest.raises(ValueError, match="jitter"):
        jitter(-1)
    with pytest.raises(TypeError, match="callable"):
        compose([1])


def test_mei_shape_norm_and_recovers_linear_filters():
    model, filters = _ln_with_filters()
    mei = most_exciting_inputs(model, [0, 1, 2], steps=60, norm=5.0, device="cpu")
    assert mei.shape == (3, *SHAPE) and mei.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(mei.reshape(3, -1), axis=1), 5.0, rtol=1e-4)
    # for a monotone LN neuron the best image of fixed norm is the filter itself
    assert all(_r(mei[i], filters[i]) > 0.99 for i in range(3))


def test_mei_batches_and_default_norm():
    arch = {"hidden_channels": 4, "layers": 2, "input_kernel": 5, "hidden_kernel": 3}
    model = build_model("cnn_gaussian", SHAPE, 5, **arch)
    mei = most_exciting_inputs(model, [4, 0, 4], steps=5, batch_size=2, device="cpu")
    assert mei.shape == (3, *SHAPE)
    norms = np.linalg.norm(mei.reshape(3, -1), axis=1)
    np.testing.assert_allclose(norms, np.sqrt(np.prod(SHAPE)), rtol=1e-4)
    again = most_exciting_inputs(model, [4, 0, 4], steps=5, batch_size=2, device="cpu")
    np.testing.assert_array_equal(mei, again)  # seeded
    assert model.training  # the model's mode is restored


def test_gradient_rf_of_ln_model_is_its_filter():
    model, filters = _ln_with_filters()
    grf = gradient_receptive_fields(model, [2, 0], device="cpu")
    assert grf.shape == (2, *SHAPE)
    assert _r(grf[0], filters[2]) > 0.999 and _r(grf[1], filters[0]) > 0.999
    base = np.full(SHAPE, 0.7, dtype=np.float32)
    assert gradient_receptive_fields(model, [1], base_image=base, device="cpu").shape == (1, *SHAPE)


def test_inversion_bad_inputs():
    model, _ = _ln_with_filters()
    with pytest.raises(TypeError, match="sequence of ints"):
        most_exciting_inputs(model, 1)
    with pytest.raises(ValueError, match=r"in \[0, 2\]"):
        most_exciting_inputs(model, [3])
    with pytest.raises(ValueError, match="at least one"):
        gradient_receptive_fields(model, [])
    with pytest.raises(ValueError, match="base_image must have shape"):
        gradient_receptive_fields(model, [0], base_image=np.zeros((3, 3)))
    with pytest.raises(TypeError, match="image_shape"):
        gradient_receptive_fields(torch.nn.Linear(3, 3), [0])


def test_restart_diversity_is_zero_for_copies_and_near_one_for_independent_images():
    rng = np.random.default_rng(0)
    one = rng.normal(size=(3, 1, *SHAPE))
    assert np.allclose(restart_diversity(np.repeat(one, 4, axis=1)), 0, atol=1e-9)
    independent = restart_diversity(rng.normal(size=(3, 4, *SHAPE)))
    assert np.all(independent > 0.8)
    with pytest.raises(ValueError, match="at least 2 restarts"):
        restart_diversity(one)


def test_preferred_image_measures_scores_each_image_on_its_own_neuron():
    model, filters = _ln_with_filters()
    best_natural = np.ones(3)
    images = 128 + 60 * filters[:, None] / np.abs(filters).max()  # each neuron's own filter as its image
    table = preferred_image_measures(model, np.arange(3), images, best_natural, device="cpu")
    swapped = preferred_image_measures(model, np.arange(3), images[[1, 2, 0]], best_natural, device="cpu")
    assert list(table.columns) == ["neuron", "response", "relative_to_best_natural", "spectral_slope"]
    assert np.all(table["response"].to_numpy() > swapped["response"].to_numpy())
    with pytest.raises(ValueError, match="one image and one best natural response per neuron"):
        preferred_image_measures(model, np.arange(2), images, best_natural, device="cpu")
