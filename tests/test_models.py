"""Model shapes, regularizers, input checks, standardization, and a tiny fit/predict round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook.data.types import StimulusResponseData
from neurobook.models import (
    ConvCore,
    EncodingModel,
    FactorizedReadout,
    GaussianReadout,
    LNModel,
    build_model,
)
from neurobook.train import TrainResult, fit, predict

SHAPE = (10, 14)
SMALL = {"hidden_channels": 4, "layers": 2, "input_kernel": 5, "hidden_kernel": 3}


@pytest.mark.parametrize("kind", ["cnn_gaussian", "cnn_factorized", "ln"])
def test_build_model_shapes_and_regularizer(kind):
    kwargs = SMALL if kind != "ln" else {}
    model = build_model(kind, SHAPE, 7, **kwargs)
    x = torch.randn(3, *SHAPE)
    out = model(x)
    assert out.shape == (3, 7)
    assert torch.all(out > 0)
    assert model(x.unsqueeze(1)).shape == (3, 7)
    reg = model.regularizer()
    assert reg.dim() == 0 and torch.isfinite(reg)
    (out.sum() + reg).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.all(torch.isfinite(g)) for g in grads)


def test_core_keeps_height_and_width_and_regularizer_is_differentiable():
    core = ConvCore(hidden_channels=6, layers=3, input_kernel=9, hidden_kernel=7)
    assert core.out_channels == 6
    assert core(torch.randn(2, 1, 9, 13)).shape == (2, 6, 9, 13)
    reg = core.regularizer()
    reg.backward()
    assert core.features[0][0].weight.grad is not None
    assert core.features[1][0].weight.grad is not None


def test_factorized_readout_matches_explicit_sum():
    readout = FactorizedReadout((3, 4, 5), 6)
    x = torch.randn(2, 3, 4, 5)
    mask = readout.mask.view(6, 4, 5)
    expected = torch.einsum("bchw,nhw,nc->bn", x, mask, readout.features) + readout.bias
    torch.testing.assert_close(readout(x), expected)
    assert torch.isfinite(readout.regularizer())


def test_gaussian_readout_reads_the_pixel_at_mu_in_eval():
    readout = GaussianReadout((2, 5, 7), 2)
    with torch.no_grad():
        readout.mu.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))  # (x, y): top-left and bottom-right
        readout.features.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    readout.eval()
    x = torch.randn(3, 2, 5, 7)
    out = readout(x)
    torch.testing.assert_close(out[:, 0], x[:, 0, 0, 0])
    torch.testing.assert_close(out[:, 1], x[:, 1, 4, 6])
    readout.train()
    assert not torch.allclose(readout(x), readout(x))  # positions are sampled while training


def test_standardization_is_stored_in_the_model():
    model = build_model("cnn_gaussian", SHAPE, 3, **SMALL).eval()
    model.set_input_stats(5.0, 2.0)
    raw = 5.0 + 2.0 * torch.randn(2, *SHAPE)
    torch.testing.assert_close(model(raw), model.forward_standardized((raw - 5.0) / 2.0))
    assert float(model.state_dict()["input_mean"]) == 5.0


@pytest.mark.parametrize("nonlinearity", ["elu1", "softplus"])
def test_initialize_bias_reproduces_the_mean_response(nonlinearity):
    model = LNModel(SHAPE, 3, nonlinearity=nonlinearity)
    with torch.no_grad():
        model.weight.zero_()
    mean = torch.tensor([0.2, 1.0, 3.5])
    model.initialize_bias(mean)
    torch.testing.assert_close(model(torch.randn(2, *SHAPE)), mean.expand(2, 3), rtol=1e-4, atol=1e-4)


def test_bad_inputs_raise_clear_errors():
    model = build_model("cnn_gaussian", SHAPE, 3, **SMALL)
    with pytest.raises(ValueError, match=r"built for images \(B, 10, 14\)"):
        model(torch.randn(2, 11, 14))
    with pytest.raises(ValueError, match="built for images"):
        model(torch.randn(2, 3, *SHAPE))
    with pytest.raises(TypeError, match=r"torch.Tensor"):
        model(np.zeros((2, *SHAPE)))
    with pytest.raises(ValueError, match=r"kind must be one of .*cnn_gaussian.*ln"):
        build_model("resnet", SHAPE, 3)
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['hidden'\].*hidden_channels"):
        build_model("cnn_gaussian", SHAPE, 3, hidden=4)
    with pytest.raises(ValueError, match="init_sigma"):
        build_model("cnn_factorized", SHAPE, 3, init_sigma=0.3)
    with pytest.raises(ValueError, match="odd"):
        ConvCore(input_kernel=4)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        LNModel(SHAPE, 3, nonlinearity="relu")
    with pytest.raises(ValueError, match="image_shape"):
        build_model("ln", (10,), 3)
    with pytest.raises(ValueError, match="expects features"):
        GaussianReadout((4, 5, 5), 2)(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        EncodingModel(ConvCore(hidden_channels=4), GaussianReadout((5, *SHAPE), 2))


def _tiny_data(n_neurons: int = 4) -> StimulusResponseData:
    rng = np.random.default_rng(0)
    n_train, n_val, n_test = 48, 16, 8
    n = n_train + n_val + n_test
    images = rng.standard_normal((n, *SHAPE)).astype(np.float32)
    responses = rng.poisson(1.0, (n, n_neurons)).astype(np.float32)
    tiers = np.array(["train"] * n_train + ["validation"] * n_val + ["test"] * n_test)
    images[tiers == "test"] = np.nan  # fit must never look at the test tier
    responses[tiers == "test"] = np.nan
    return StimulusResponseData(images, responses, tiers, np.arange(n), np.arange(n_neurons))


@pytest.mark.parametrize("kind", ["cnn_gaussian", "ln"])
def test_fit_runs_never_touches_test_and_predict_returns_numpy(kind):
    data = _tiny_data()
    model = build_model(kind, SHAPE, 4, **(SMALL if kind != "ln" else {}))
    result = fit(model, data, epochs=2, batch_size=16, device="cpu")
    assert isinstance(result, TrainResult)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert set(result.history[0]) == {"epoch", "train_loss", "val_corr", "lr", "seconds"}
    assert np.isfinite(result.best_val_corr) and result.best_epoch in (1, 2)
    assert result.device == "cpu" and result.images_per_second > 0
    out = predict(model, data.tier("validation").images, device="cpu")
    assert out.shape == (16, 4) and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_fit_and_predict_reject_mismatched_inputs():
    data = _tiny_data()
    with pytest.raises(ValueError, match="predicts 5 neurons but the data has 4"):
        fit(LNModel(SHAPE, 5), data, epochs=1)
    with pytest.raises(ValueError, match="built for images"):
        fit(LNModel((9, 9), 4), data, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        fit(LNModel(SHAPE, 4), data, epochs=0)
    with pytest.raises(TypeError, match="StimulusResponseData"):
        fit(LNModel(SHAPE, 4), data.images, epochs=1)
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        predict(LNModel(SHAPE, 4), np.zeros(SHAPE, np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        predict(LNModel(SHAPE, 4), torch.zeros(2, *SHAPE))


def test_output_scale_keeps_predictions_in_data_units():
    import numpy as np

    from neurobook.data.simulate import pink_noise_images
    from neurobook.data.types import StimulusResponseData
    from neurobook.models import build_model
    from neurobook.train import fit

    rng = np.random.default_rng(0)
    images = pink_noise_images(120, (8, 8), seed=0)
    scales = np.array([0.01, 1.0, 100.0], dtype=np.float32)
    responses = rng.poisson(1.0, size=(120, 3)).astype(np.float32) * scales
    tiers = np.array(["train"] * 100 + ["validation"] * 20)
    data = StimulusResponseData(images, responses, tiers, np.arange(120), np.arange(3))
    model = fit(build_model("ln", (8, 8), 3), data, epochs=2, device="cpu").model
    np.testing.assert_allclose(model.output_scale.numpy(), responses[:100].std(0), rtol=1e-4)
    mean_pred = model(torch.from_numpy(images[:100])).detach().numpy().mean(0)
    assert np.all(np.abs(np.log10(mean_pred / responses[:100].mean(0))) < 0.5)  # right order of magnitude


def test_laplacian_by_slices_equals_the_convolution():
    from torch.nn import functional as F

    from neurobook.models.cores import LAPLACE_KERNEL, laplacian

    x = torch.randn(7, 5, 9)
    expected = F.conv2d(x.unsqueeze(1), LAPLACE_KERNEL.view(1, 1, 3, 3), padding=1).squeeze(1)
    torch.testing.assert_close(laplacian(x), expected)


def test_fit_resumes_from_its_checkpoint_as_if_never_stopped(tmp_path):
    data = _tiny_data()

    def model():
        torch.manual_seed(0)
        return build_model("cnn_gaussian", SHAPE, 4, **SMALL)

    straight = fit(model(), data, epochs=5, batch_size=16, device="cpu",
                   progress=False, patience=50)
    ckpt = tmp_path / "run.pt"
    fit(model(), data, epochs=2, batch_size=16, device="cpu",
        progress=False, patience=50, checkpoint=ckpt)
    resumed = fit(model(), data, epochs=5, batch_size=16, device="cpu",
                  progress=False, patience=50, checkpoint=ckpt)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([h["val_corr"] for h in resumed.history],
                               [h["val_corr"] for h in straight.history], rtol=1e-5)
    with pytest.raises(ValueError, match="cannot resume from checkpoint"):
        fit(build_model("cnn_gaussian", SHAPE, 4, hidden_channels=6, layers=2), data, epochs=6, checkpoint=ckpt,
            device="cpu", progress=False)
