"""The Sensorium baseline's parts: depth-separable hidden convs, a full-covariance Gaussian readout, and a grid
predictor that learns readout positions from the neurons' cortical coordinates (retinotopy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook.data.types import StimulusResponseData
from neurobook.models import ConvCore, GaussianReadout, build_model
from neurobook.models.cores import DepthSeparableConv2d
from neurobook.train import fit


def test_depth_separable_core_keeps_shape_has_fewer_weights_and_a_differentiable_penalty():
    plain = ConvCore(hidden_channels=16, layers=3, hidden_kernel=7)
    separable = ConvCore(hidden_channels=16, layers=3, hidden_kernel=7, depth_separable=True)
    assert isinstance(separable.features[1][0], DepthSeparableConv2d)
    assert separable(torch.randn(2, 1, 9, 13)).shape == (2, 16, 9, 13)
    n_plain, n_sep = (sum(p.numel() for p in c.parameters()) for c in (plain, separable))
    assert n_sep < n_plain / 5
    separable.regularizer().backward()
    assert separable.features[1][0][0].weight.grad is not None  # group sparsity on the first pointwise conv


def test_full_covariance_readout_samples_with_the_learned_covariance():
    readout = GaussianReadout((1, 41, 41), 1, full_covariance=True)
    s = torch.tensor([[0.2, 0.0], [0.1, 0.05]])
    with torch.no_grad():
        readout.mu.zero_()
        readout.sigma.copy_(s.unsqueeze(0))
    grid = readout.grid(20_000, sample=True).squeeze(2).squeeze(1)  # (B, 2)
    cov = torch.cov(grid.t())
    torch.testing.assert_close(cov, s @ s.t(), atol=2e-3, rtol=0.05)
    readout.eval()
    assert torch.equal(readout.grid(3), torch.zeros(3, 1, 1, 2))


def test_grid_predictor_needs_one_row_per_neuron():
    with pytest.raises(ValueError, match="one row of coordinates per neuron"):
        GaussianReadout((2, 5, 5), 4, source_grid=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        GaussianReadout((2, 5, 5), 2, source_grid=np.array([[0.0, np.nan], [1.0, 2.0]]))


def _retinotopic_population(seed: int, n_neurons: int = 60, shape=(16, 16), n_images: int = 1500):
    """Neurons whose receptive-field centre is an affine map of their cortical position, plus cortical jitter."""
    rng = np.random.default_rng(seed)
    cortex = rng.uniform(-300, 300, (n_neurons, 2))  # micrometres
    angle = 0.6
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centres = (cortex @ rot.T) / 300 * 0.55  # grid units (x, y), within +-0.8
    h, w = shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    blobs = np.exp(-((xx[None] - centres[:, 0, None, None]) ** 2 + (yy[None] - centres[:, 1, None, None]) ** 2)
                   / (2 * 0.12**2))
    images = rng.standard_normal((n_images, h, w)).astype(np.float32)
    drive = np.einsum("ihw,nhw->in", images, blobs) / blobs.sum((1, 2)) * 3
    responses = rng.poisson(np.log1p(np.exp(drive + 0.5))).astype(np.float32)
    tiers = np.array(["train"] * 1200 + ["validation"] * 300)
    data = StimulusResponseData(images, responses, tiers, np.arange(n_images), np.arange(n_neurons), "retinotopy")
    return data, cortex, centres


def _learned_position_error(data, coordinates, centres) -> float:
    torch.manual_seed(0)
    model = build_model("cnn_gaussian", data.image_shape, data.n_neurons, hidden_channels=4, layers=1,
                        input_kernel=3, gamma_input=0.0, source_grid=coordinates, init_sigma=0.1)
    fit(model, data, epochs=15, batch_size=64, lr=1e-2, device="cpu", progress=False)
    with torch.no_grad():
        learned = model.readout.positions().numpy()
    return float(np.median(np.linalg.norm(learned - centres, axis=1)))


def test_grid_predictor_learns_positions_from_cortical_coordinates_and_fails_on_shuffled_ones():
    data, cortex, centres = _retinotopic_population(seed=3)
    error = _learned_position_error(data, cortex, centres)
    shuffled = cortex[np.random.default_rng(0).permutation(len(cortex))]
    error_shuffled = _learned_position_error(data, shuffled, centres)
    pixel = 2 / (data.image_shape[1] - 1)
    assert error < 0.5 * pixel, (error, pixel)  # within half a pixel of the true centre (median)
    assert error_shuffled > 3 * error  # coordinates that do not carry retinotopy cannot place the neurons
