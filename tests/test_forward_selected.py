"""forward_selected: the rate of neuron neurons[b] to image b, equal to the full forward, cheaper for big readouts."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from neurobook.inversion import gradient_ascent
from neurobook.inversion.ascent import PixelImages
from neurobook.models import EnsembleModel, build_model, with_behavior
from neurobook.models.encoder import ImageModel

SHAPE, N = (12, 16), 9


def _models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    xyz = np.random.default_rng(0).normal(size=(N, 3))
    models = {
        "gaussian": build_model("cnn_gaussian", SHAPE, N, hidden_channels=4, layers=2),
        "gaussian, full covariance, grid predictor": build_model(
            "cnn_gaussian", SHAPE, N, hidden_channels=4, layers=2, depth_separable=True, full_covariance=True,
            source_grid=xyz),
        "factorized": build_model("cnn_factorized", SHAPE, N, hidden_channels=4, layers=2),
        "ln": build_model("ln", SHAPE, N),
    }
    models["behaviour"] = with_behavior(build_model("cnn_gaussian", SHAPE, N, hidden_channels=4, layers=2))
    for m in models.values():
        m.set_input_stats(0.3, 2.0)
        m.set_output_scale(torch.linspace(0.5, 2.0, N))
        with torch.no_grad():  # positions and weights away from their symmetric initialization
            for p in m.parameters():
                p.add_(0.1 * torch.randn_like(p))
        m.eval()
    models["ensemble"] = EnsembleModel([models["gaussian"], models["factorized"]]).eval()
    return models


NAMES = ["gaussian", "gaussian, full covariance, grid predictor", "factorized", "ln", "behaviour", "ensemble"]


def test_every_kind_is_checked():
    assert sorted(_models()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_selected_rates_equal_the_full_forward_and_its_gradient(name):
    model = _models()[name]
    images = torch.randn(6, *SHAPE, requires_grad=True)
    neurons = torch.tensor([0, 3, 3, 8, 1, 5])
    full = model(images)[torch.arange(6), neurons]
    selected = model.forward_selected(images, neurons)
    torch.testing.assert_close(selected, full, rtol=1e-5, atol=1e-6)
    (g_full,) = torch.autograd.grad(full.sum(), images)
    (g_sel,) = torch.autograd.grad(model.forward_selected(images, neurons).sum(), images)
    torch.testing.assert_close(g_sel, g_full, rtol=1e-4, atol=1e-6)
    x = model.standardize(images.detach())
    torch.testing.assert_close(model.forward_standardized_selected(x, neurons),
                               model.forward_standardized(x)[torch.arange(6), neurons], rtol=1e-5, atol=1e-6)


def test_selected_readout_is_cheaper_and_gives_the_same_preferred_images():
    """5000 neurons: the ascent reads 8 of them, so the selected path must not pay for all 5000."""
    torch.manual_seed(1)
    model = build_model("cnn_gaussian", (18, 32), 5000, hidden_channels=8, layers=2).eval()
    param = PixelImages.for_model(model, norm=10.0)
    fast = gradient_ascent(model, range(8), param, steps=5, device="cpu")

    slow_model = build_model("cnn_gaussian", (18, 32), 5000, hidden_channels=8, layers=2).eval()
    slow_model.load_state_dict(model.state_dict())
    # the base class's path: the full forward, then the selected neurons
    slow_model.forward_standardized_selected = types.MethodType(ImageModel.forward_standardized_selected, slow_model)
    slow = gradient_ascent(slow_model, range(8), param, steps=5, device="cpu")
    fast = gradient_ascent(model, range(8), param, steps=5, device="cpu")  # timed after a warm-up, like slow
    np.testing.assert_allclose(fast.images, slow.images, rtol=1e-4, atol=1e-5)
    assert fast.seconds < slow.seconds
