"""Inversion: transforms, batched MEIs under the norm constraint, and gradient receptive fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook.inversion import (
    PixelImages,
    PreferredImages,
    compose,
    gaussian_blur,
    gradient_ascent,
    gradient_receptive_fields,
    jitter,
    most_exciting_inputs,
    preferred_image_measures,
    restart_diversity,
    to_standardized,
)
from neurobook.models import LNModel, build_model
from neurobook.rf_fit import gabor
from neurobook.train import predict

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
    mei = most_exciting_inputs(model, [0, 1, 2], steps=60, norm=5.0, device="cpu").standardized
    assert mei.shape == (3, *SHAPE) and mei.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(mei.reshape(3, -1), axis=1), 5.0, rtol=1e-4)
    # for a monotone LN neuron the best image of fixed norm is the filter itself
    assert all(_r(mei[i], filters[i]) > 0.99 for i in range(3))


def test_mei_batches_and_default_norm():
    arch = {"hidden_channels": 4, "layers": 2, "input_kernel": 5, "hidden_kernel": 3}
    model = build_model("cnn_gaussian", SHAPE, 5, **arch)
    mei = most_exciting_inputs(model, [4, 0, 4], steps=5, batch_size=2, device="cpu").standardized
    assert mei.shape == (3, *SHAPE)
    norms = np.linalg.norm(mei.reshape(3, -1), axis=1)
    np.testing.assert_allclose(norms, np.sqrt(np.prod(SHAPE)), rtol=1e-4)
    again = most_exciting_inputs(model, [4, 0, 4], steps=5, batch_size=2, device="cpu").standardized
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


class _LinearNeurons(torch.nn.Module):
    """Neuron k responds <x, t_k>: the best image of a fixed norm is its template; no standardization."""

    def __init__(self, templates: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("templates", torch.as_tensor(templates, dtype=torch.float32))
        self.n_neurons, self.image_shape = len(templates), tuple(templates.shape[1:])
        self.images_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images_seen += len(x)
        return x.flatten(1) @ self.templates.flatten(1).T


def test_pixel_ascent_on_linear_template_neurons_recovers_the_templates():
    templates = np.stack([gabor(SHAPE, 5 + 2 * i, 7, 2.0, 2.5, 0.6 * i, 0.2, i) for i in range(3)])
    model = _LinearNeurons(templates)
    res = most_exciting_inputs(model, [2, 0, 1], steps=40, jitter=0, blur_sigma=0.0, device="cpu")
    assert isinstance(res, PreferredImages) and res.method == "pixel ascent"
    assert all(_r(res.images[i], templates[k]) > 0.9 for i, k in enumerate([2, 0, 1]))
    np.testing.assert_array_equal(res.images, res.standardized)  # a model that does not standardize: data units
    with torch.no_grad():
        shown = model(torch.from_numpy(res.images).unsqueeze(1)).numpy()[np.arange(3), [2, 0, 1]]
    np.testing.assert_allclose(res.responses, shown, rtol=1e-5)


def test_gradient_ascent_counts_its_evaluations_and_keeps_the_best_restart():
    model = _LinearNeurons(np.random.default_rng(0).standard_normal((4, *SHAPE)))
    steps, restarts = 6, 3
    res = gradient_ascent(model, [3, 1, 0], PixelImages.for_model(model), steps=steps, lr=0.05, restarts=restarts,
                          batch_size=2, device=torch.device("cpu"), seed=1)
    assert model.images_seen == 3 * restarts * (steps + 1) == 3 * res.n_evaluations
    np.testing.assert_array_equal(res.evaluations, restarts * np.arange(1, steps + 2))
    assert res.curve.shape == (steps + 1, 3) and res.restarts == restarts
    np.testing.assert_allclose(res.curve[-1], res.responses)
    assert res.restart_images.shape == (3, restarts, *SHAPE) and res.restart_responses.shape == (3, restarts)
    np.testing.assert_allclose(res.responses, res.restart_responses.max(1))
    best = res.restart_responses.argmax(1)
    np.testing.assert_array_equal(res.images, res.restart_images[np.arange(3), best])
    assert res.z is None and res.mean_curve is None
    # the wrapper is a thin call of the loop: the same numbers for the same seed
    again = most_exciting_inputs(model, [3, 1, 0], steps=steps, lr=0.05, jitter=0, blur_sigma=0.0, restarts=restarts,
                                 batch_size=2, device="cpu", seed=1)
    np.testing.assert_array_equal(again.images, res.images)


def test_pixel_ascent_images_are_in_data_units():
    model, _ = _ln_with_filters()  # input mean 0.5, std 0.2
    res = most_exciting_inputs(model, [0, 1], steps=5, device="cpu")
    np.testing.assert_allclose(res.images, res.standardized * 0.2 + 0.5, rtol=1e-6)
    np.testing.assert_allclose(to_standardized(model, res.images), res.standardized, atol=1e-5)
    shown = predict(model, res.images, device="cpu")[np.arange(2), [0, 1]]
    np.testing.assert_allclose(res.responses, shown, rtol=1e-4)


def test_preferred_images_rejects_mismatched_fields():
    good = dict(method="x", neurons=np.arange(2), images=np.zeros((2, 3, 3)), responses=np.zeros(2),
                curve=np.zeros((4, 2)), evaluations=np.arange(1, 5))
    assert PreferredImages(**good).n_evaluations == 4
    with pytest.raises(ValueError, match="one image and one response"):
        PreferredImages(**{**good, "responses": np.zeros(3)})
    with pytest.raises(ValueError, match="curve must be"):
        PreferredImages(**{**good, "evaluations": np.arange(3)})
    model, _ = _ln_with_filters()
    with pytest.raises(ValueError, match="restarts must be a positive int"):
        most_exciting_inputs(model, [0], restarts=0)
