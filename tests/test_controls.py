"""The parameter-matched controls: the same parameter count as their component, without its structure."""

import pytest
import torch

from neurobook.models import COMPONENTS, CONTROLS, BioCore, build_model, count_parameters, parse_components
from neurobook.models.center_surround import DoGConv
from neurobook.models.controls import AffineResampling, PointwiseMix, RandomBasisConv, ScatteredConnected2d
from neurobook.models.local import LocallyConnected2d
from neurobook.models.task import TaskNet


@pytest.mark.parametrize("shape", [(9, 16), (20, 20)])
@pytest.mark.parametrize("component", COMPONENTS)
def test_each_control_has_its_component_parameter_count_and_output_shape(shape, component):
    core = count_parameters(BioCore(shape, (), hidden_channels=8, layers=2))
    with_component = BioCore(shape, (component,), hidden_channels=8, layers=2)
    with_control = BioCore(shape, (CONTROLS[component],), hidden_channels=8, layers=2)
    assert count_parameters(with_component) > core
    assert count_parameters(with_control) == count_parameters(with_component)
    x = torch.randn(3, 1, *shape)
    assert with_control(x).shape == with_component(x).shape == (3, 8, *shape)


def test_a_component_and_its_own_control_exclude_each_other_and_unknown_names_are_refused():
    assert parse_components("local_rf_control,center_surround") == ("center_surround", "local_rf_control")
    with pytest.raises(ValueError, match="own controls"):
        parse_components("normalization,normalization_control")
    with pytest.raises(ValueError, match="unknown"):
        parse_components("normalisation_control")


def test_the_dog_is_radially_symmetric_and_its_control_is_not():
    dog = DoGConv(4, kernel_size=9).kernels().detach()[:, 0]
    ctrl = RandomBasisConv(4, kernel_size=9).kernels().detach()[:, 0]
    assert torch.allclose(dog, dog.transpose(1, 2), atol=1e-6) and torch.allclose(dog, dog.flip(1), atol=1e-6)
    assert not torch.allclose(ctrl, ctrl.transpose(1, 2), atol=1e-3)
    assert sum(p.numel() for p in DoGConv(4).parameters()) == sum(p.numel() for p in RandomBasisConv(4).parameters())


def test_the_scattered_layer_reads_far_pixels_where_the_local_layer_reads_only_neighbours():
    shape = (12, 12)
    local = LocallyConnected2d(1, 1, shape, 3, depthwise=True)
    scattered = ScatteredConnected2d(1, shape, 3, seed=0)
    with torch.no_grad():
        scattered.weight.copy_(local.weight)
        scattered.bias.zero_()
        local.bias.zero_()
    x = torch.zeros(1, 1, *shape)
    x[0, 0, 6, 6] = 1.0
    reach = {}
    for name, layer in (("local", local), ("scattered", scattered)):
        out = layer(x)[0, 0].detach()
        rows, cols = torch.nonzero(out.abs() > 1e-9, as_tuple=True)
        reach[name] = int(torch.maximum((rows - 6).abs(), (cols - 6).abs()).max()) if len(rows) else 0
    assert reach["local"] <= 1
    assert reach["scattered"] > 2
    assert count_parameters(local) == count_parameters(scattered)


def test_pointwise_mix_and_affine_resampling_start_as_the_identity():
    z = torch.randn(2, 5, 6, 7)
    assert torch.allclose(PointwiseMix(5)(z), z)
    assert torch.allclose(AffineResampling((6, 7))(z), z, atol=1e-5)
    assert count_parameters(PointwiseMix(5)) == 5 * 5 + 5 + 1


def test_build_model_takes_a_control_seed_with_or_without_components():
    a = build_model("cnn_gaussian", (9, 16), 5, components=("local_rf_control",), hidden_channels=4, layers=1,
                    control_seed=1)
    b = build_model("cnn_gaussian", (9, 16), 5, components=("local_rf_control",), hidden_channels=4, layers=1,
                    control_seed=2)
    assert not torch.equal(a.core.local.sources, b.core.local.sources)
    build_model("cnn_gaussian", (9, 16), 5, hidden_channels=4, layers=1, control_seed=1)  # the core ignores it


def test_task_net_units_are_the_first_stage_channels_at_the_centre():
    net = TaskNet(12, ("normalization",), channels=6).eval()
    x = torch.randn(4, 1, 12, 12)
    assert net(x).shape == (4, 32)
    assert torch.allclose(net.v1_units(x), net.v1(x)[:, :, 6, 6])
