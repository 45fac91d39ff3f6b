"""Chapter 4 components: shapes, gradients, the on/off switch in build_model, and one behaviour check each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from neurobook.models import COMPONENTS, BioCore, ConvCore, build_model, count_parameters, parse_components
from neurobook.models.center_surround import DoGConv, gaussian_kernel
from neurobook.models.local import LocallyConnected2d
from neurobook.models.magnification import CorticalMagnification
from neurobook.models.normalization import TunedDivisiveNormalization

SHAPE = (12, 16)
SMALL = {"hidden_channels": 4, "layers": 2, "input_kernel": 5, "hidden_kernel": 3}


@pytest.mark.parametrize("components", [(), *[(c,) for c in COMPONENTS], COMPONENTS])
def test_build_model_with_components_shapes_and_gradients(components):
    torch.manual_seed(0)
    model = build_model("cnn_gaussian", SHAPE, 5, components=components, **SMALL)
    out = model(torch.randn(3, *SHAPE))
    assert out.shape == (3, 5) and torch.all(out > 0)
    (out.sum() + model.regularizer()).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # components that carry parameters are reachable by the gradient
    if "center_surround" in components:
        assert model.core.dog.raw_center.grad.abs().sum() > 0
    if "magnification" in components:
        assert model.core.magnification.raw_alpha.grad.abs() > 0


def test_switch_off_gives_chapter1_core_and_on_adds_modules():
    plain = build_model("cnn_gaussian", SHAPE, 5, **SMALL)
    assert isinstance(plain.core, ConvCore)
    full = build_model("cnn_gaussian", SHAPE, 5, components="all", **SMALL)
    assert isinstance(full.core, BioCore) and full.core.components == COMPONENTS
    assert count_parameters(full) > count_parameters(plain)
    one = build_model("cnn_factorized", SHAPE, 5, components="normalization,magnification", **SMALL)
    assert one.core.dog is None and one.core.local is None
    assert one.core.normalization is not None and one.core.magnification is not None
    # BioCore with no components computes exactly what its ConvCore computes
    core = BioCore(SHAPE, (), **SMALL).eval()
    x = torch.randn(2, 1, *SHAPE)
    assert torch.allclose(core(x), core.core(x))


def test_bad_components_get_clear_errors():
    with pytest.raises(ValueError, match="unknown component"):
        build_model("cnn_gaussian", SHAPE, 5, components=("dog",), **SMALL)
    with pytest.raises(ValueError, match="need a CNN"):
        build_model("ln", SHAPE, 5, components=("local_rf",))
    with pytest.raises(ValueError, match="unknown argument"):
        build_model("cnn_gaussian", SHAPE, 5, dog_channels=3, **SMALL)  # only valid with components
    assert parse_components(" magnification , center_surround") == ("center_surround", "magnification")
    assert parse_components("") == ()


def test_dog_with_zero_surround_is_a_gaussian_blur():
    layer = DoGConv(out_channels=2, kernel_size=9, sigma_center=1.2, sigma_surround=3.0)
    with torch.no_grad():
        layer.w_surround.zero_()
        layer.w_center.fill_(1.0)
    x = torch.randn(2, 1, *SHAPE)
    sigma = layer.sigma_center.detach()
    expected = F.conv2d(x, gaussian_kernel(sigma, 9).unsqueeze(1), padding=4)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    # a blur keeps the mean of a constant image and has no negative kernel values
    assert torch.all(layer.kernels() >= 0)
    assert torch.allclose(layer.kernels().sum(dim=(1, 2, 3)), torch.ones(2))


def test_dog_center_surround_responds_to_a_spot_more_than_to_a_uniform_field():
    layer = DoGConv(out_channels=1, kernel_size=11, sigma_center=1.0, sigma_surround=3.0)
    with torch.no_grad():
        layer.w_center.fill_(1.0)
        layer.w_surround.fill_(1.0)  # balanced: zero response to uniform light
    uniform = torch.ones(1, 1, 21, 21)
    spot = torch.zeros(1, 1, 21, 21)
    spot[..., 9:12, 9:12] = 1.0
    assert abs(float(layer(uniform).detach()[0, 0, 10, 10])) < 1e-5
    assert float(layer(spot).detach()[0, 0, 10, 10]) > 0.1


def test_locally_connected_matches_a_loop_and_with_tied_weights_equals_a_conv():
    torch.manual_seed(1)
    layer = LocallyConnected2d(3, 2, (5, 6), kernel_size=3)
    x = torch.randn(2, 3, 5, 6)
    out = layer(x)
    assert out.shape == (2, 2, 5, 6)
    padded = F.pad(x, (1, 1, 1, 1))
    w = layer.weight.view(5, 6, 2, 3, 3, 3)
    for i, j in [(0, 0), (2, 3), (4, 5)]:
        ref = torch.einsum("boihw,bihw->bo", w[i, j].unsqueeze(0).expand(2, -1, -1, -1, -1),
                           padded[:, :, i : i + 3, j : j + 3]) + layer.bias[:, i * 6 + j]
        assert torch.allclose(out[:, :, i, j], ref, atol=1e-5)
    conv = torch.nn.Conv2d(3, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(conv.weight.reshape(2, -1).expand(30, -1, -1))
        layer.bias.zero_()
    assert torch.allclose(layer(x), conv(x), atol=1e-5)
    assert layer.smoothness() < 1e-10  # identical kernels everywhere: no roughness
    with pytest.raises(ValueError, match="expects"):
        layer(torch.randn(2, 3, 6, 6))


def test_depthwise_locally_connected_matches_a_depthwise_conv_when_tied():
    layer = LocallyConnected2d(3, 3, (5, 6), kernel_size=3, depthwise=True)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(conv.weight.reshape(3, 9).expand(30, -1, -1))
        layer.bias.zero_()
    x = torch.randn(2, 3, 5, 6)
    assert torch.allclose(layer(x), conv(x), atol=1e-5)
    assert layer.weight.numel() == 30 * 3 * 9
    with pytest.raises(ValueError, match="depthwise"):
        LocallyConnected2d(3, 4, (5, 6), depthwise=True)


def _grating(contrast: float, shape=(16, 16)) -> torch.Tensor:
    xs = torch.arange(shape[1], dtype=torch.float32)
    return contrast * torch.sin(2 * np.pi * xs / 4).expand(1, 1, *shape)


def test_divisive_normalization_compresses_high_contrast_relative_to_a_linear_model():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 4, 5, padding=2, bias=False)
    norm = TunedDivisiveNormalization(4, sigma=0.5)
    with torch.no_grad():
        norm.raw_weight.fill_(1.0)
    low, high = _grating(0.05), _grating(1.0)
    lin_low, lin_high = conv(low).abs().mean(), conv(high).abs().mean()
    out_low, out_high = norm(conv(low)).abs().mean(), norm(conv(high)).abs().mean()
    # a linear model scales by 20; normalization compresses the high-contrast response
    assert torch.isclose(lin_high / lin_low, torch.tensor(20.0), rtol=1e-4)
    assert out_high / out_low < 0.5 * (lin_high / lin_low)
    assert out_high > out_low  # still monotonic
    # the normalization weights are non-negative and the signal is differentiable
    assert torch.all(norm.weight >= 0)
    norm(conv(high)).sum().backward()
    assert norm.raw_weight.grad is not None and norm.raw_sigma.grad.abs().sum() > 0


def test_magnification_gives_the_center_more_output_pixels_than_the_periphery():
    mag = CorticalMagnification((40, 40), alpha=2.0, learn_center=False)
    grid = mag.sampling_grid().detach()
    r_in = grid.norm(dim=-1)
    central = int((r_in < 0.25).sum())
    peripheral = int(((r_in >= 0.75) & (r_in < 0.79)).sum())  # a ring of about the same input area
    # input area of the central disc: pi*0.25^2 = 0.196; of the ring 0.75..0.79: pi*(0.79^2-0.75^2) = 0.194
    assert central > 3 * peripheral
    # identity when alpha -> 1: the same count as the input area fraction
    ident = CorticalMagnification((40, 40), alpha=1.0001, learn_center=False)
    r_id = ident.sampling_grid().detach().norm(dim=-1)
    assert abs(int((r_id < 0.25).sum()) - int(((r_id >= 0.75) & (r_id < 0.79)).sum())) < 0.3 * central
    x = torch.randn(2, 1, 40, 40)
    assert torch.allclose(ident(x), x, atol=0.05)
    assert mag(x).shape == x.shape
    with pytest.raises(ValueError, match="alpha"):
        CorticalMagnification((8, 8), alpha=0.5)
