"""Behavioural modulator, eye-position shifter and seed ensembles: shapes, initialization, the data plumbing of
fit / predict / evaluate / load_npz, and a simulated population whose gain follows running speed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook.data import load_npz
from neurobook.data.simulate import pink_noise_images, simulate_v1_population
from neurobook.data.types import StimulusResponseData
from neurobook.evaluation import evaluate
from neurobook.inversion import most_exciting_inputs
from neurobook.models import (
    BehaviorModel,
    EnsembleModel,
    GaussianReadout,
    Modulator,
    Shifter,
    build_model,
    with_behavior,
)
from neurobook.train import fit, predict

SHAPE = (10, 14)
SMALL = {"hidden_channels": 4, "layers": 1, "input_kernel": 5}


def _cnn(n: int = 5, seed: int = 0, kind: str = "cnn_gaussian"):
    torch.manual_seed(seed)
    return build_model(kind, SHAPE, n, **SMALL)


def _data(n_trials: int = 120, n_neurons: int = 5, meta: dict | None = None, seed: int = 0) -> StimulusResponseData:
    rng = np.random.default_rng(seed)
    tiers = np.array(["train"] * (n_trials - 40) + ["validation"] * 20 + ["test"] * 20)
    ids = np.r_[np.arange(n_trials - 20), np.repeat(np.arange(n_trials - 20, n_trials - 10), 2)]
    images = rng.normal(100, 20, (n_trials, *SHAPE)).astype(np.float32)
    responses = rng.poisson(2.0, (n_trials, n_neurons)).astype(np.float32)
    return StimulusResponseData(images, responses, tiers, ids, np.arange(n_neurons), meta=meta or {})


def _behavior_meta(n_trials: int = 120, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {"behavior": rng.normal([3, 0, 10], [1, 0.1, 5], (n_trials, 3)).astype(np.float32),
            "pupil_center": rng.normal([200, 150], [5, 5], (n_trials, 2)).astype(np.float32)}


# --- parts -----------------------------------------------------------------------------------------------------

def test_modulator_and_shifter_shapes_and_identity_at_initialization():
    b = torch.randn(6, 3) * 5
    gain = Modulator(3, 7, hidden=(8, 4))(b)
    assert gain.shape == (6, 7) and torch.equal(gain, torch.ones(6, 7))
    shift = Shifter(hidden=5)(torch.randn(6, 2) * 5)
    assert shift.shape == (6, 2) and torch.equal(shift, torch.zeros(6, 2))
    with pytest.raises(ValueError, match="hidden layer size must be a positive int"):
        Modulator(3, 7, hidden=0)


def test_gaussian_readout_shift_moves_every_read_position():
    readout = GaussianReadout((3, 6, 8), 4).eval()
    x = torch.randn(2, 3, 6, 8)
    shift = torch.tensor([[0.3, -0.2], [-0.1, 0.25]])
    moved = readout(x, shift=shift)
    for i in range(2):
        with torch.no_grad():
            ref = GaussianReadout((3, 6, 8), 4).eval()
            ref.load_state_dict(readout.state_dict())
            ref.mu.add_(shift[i])
        torch.testing.assert_close(moved[i], ref(x[i : i + 1])[0])
    torch.testing.assert_close(readout(x, shift=torch.zeros(2, 2)), readout(x))
    with pytest.raises(ValueError, match=r"shift must be a tensor \(B=2, 2\)"):
        readout(x, shift=torch.zeros(3, 2))


def test_behavior_model_starts_as_the_wrapped_model_and_keeps_its_attributes():
    base = _cnn().eval()
    base.set_input_stats(100.0, 20.0)
    model = with_behavior(base).eval()
    assert isinstance(model, BehaviorModel) and model.trial_inputs == ("behavior", "pupil_center")
    assert model.trial_input_sizes == {"behavior": 3, "pupil_center": 2}
    assert (model.image_shape, model.n_neurons, model.in_channels) == (SHAPE, 5, 1)
    assert float(model.input_mean) == 100.0 and float(model.input_std) == 20.0
    x = 100 + 20 * torch.randn(4, *SHAPE)
    b, p = torch.randn(4, 3) * 9, torch.randn(4, 2) * 9
    out = model(x, behavior=b, pupil_center=p)
    assert out.shape == (4, 5)
    torch.testing.assert_close(out, base(x), rtol=0, atol=0)  # gain exactly 1, shift exactly 0
    torch.testing.assert_close(model(x), base(x), rtol=0, atol=0)
    torch.testing.assert_close(model.forward_standardized((x - 100) / 20), base.forward_standardized((x - 100) / 20))
    torch.testing.assert_close(model.regularizer(), base.regularizer())
    model.set_output_scale(torch.full((5,), 2.0))
    assert torch.equal(base.output_scale, torch.full((5,), 2.0))
    model.initialize_bias(torch.full((5,), 3.0))
    torch.testing.assert_close(base.readout.bias, torch.full((5,), 2.0))  # elu1 inverse of 3
    with pytest.raises(ValueError, match=r"behavior must be \(B=4, 3\)"):
        model(x, behavior=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="got unknown \\['running'\\]"):
        model(x, running=torch.zeros(4, 1))


def test_behavior_model_argument_errors():
    with pytest.raises(ValueError, match=r"needs the gaussian readout .*shifter=False"):
        with_behavior(_cnn(kind="cnn_factorized"), shifter=True)
    factorized = with_behavior(_cnn(kind="cnn_factorized"), shifter=False)
    assert factorized.trial_inputs == ("behavior",)
    with pytest.raises(ValueError, match="modulator=True, shifter=True or both"):
        with_behavior(_cnn(), modulator=False, shifter=False)
    with pytest.raises(ValueError, match="already reads trial inputs"):
        with_behavior(with_behavior(_cnn()))
    model = with_behavior(_cnn(), shifter=False)
    with pytest.raises(ValueError, match="std > 0"):
        model.set_trial_input_stats("behavior", [0, 0, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="not a trial input of this model"):
        model.set_trial_input_stats("pupil_center", [0, 0], [1, 1])


def test_shifter_gradient_reaches_the_mlp_through_the_readout():
    model = with_behavior(_cnn(), modulator=False).train()
    out = model(torch.randn(8, *SHAPE), pupil_center=torch.randn(8, 2))
    out.sum().backward()
    assert float(model.shifter.mlp[-1].weight.grad.abs().sum()) > 0


# --- fit / predict / evaluate ---------------------------------------------------------------------------------

def test_fit_sets_trial_input_stats_and_predict_takes_trial_inputs():
    meta = _behavior_meta()
    data = _data(meta=meta)
    model = fit(with_behavior(_cnn()), data, epochs=2, device="cpu", progress=False).model
    train = data.tiers == "train"
    np.testing.assert_allclose(model.behavior_mean.numpy(), meta["behavior"][train].mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.pupil_center_std.numpy(), meta["pupil_center"][train].std(0), rtol=1e-5)
    test = data.tier("test")
    inputs = {"behavior": test.meta["behavior"], "pupil_center": test.meta["pupil_center"]}
    pred = predict(model, test.images, device="cpu", batch_size=7, trial_inputs=inputs)
    with torch.no_grad():
        ref = model(torch.from_numpy(test.images), **{k: torch.from_numpy(v) for k, v in inputs.items()})
    np.testing.assert_allclose(pred, ref.numpy(), rtol=1e-5)
    assert evaluate(model, test, device="cpu").shape[0] == 5
    with pytest.raises(ValueError, match=r"trial_inputs\['behavior'\] must be \(20, 3\)"):
        predict(model, test.images, device="cpu", trial_inputs={"behavior": inputs["behavior"][:5]})
    with pytest.raises(ValueError, match="reads no trial inputs"):
        predict(_cnn(), test.images, device="cpu", trial_inputs=inputs)


def test_fit_without_the_needed_meta_says_which_array_and_where_to_get_it():
    data = _data()
    with pytest.raises(ValueError, match=r"'behavior' .*\(n_trials=120, 3\).*Lurz 2020.*npz"):
        fit(with_behavior(_cnn(), shifter=False), data, epochs=1, device="cpu", progress=False)
    bad = _data(meta={"pupil_center": np.zeros((120, 3), np.float32)})
    with pytest.raises(ValueError, match=r"data.meta\[.pupil_center.\] must be \(n_trials=120, 2\)"):
        fit(with_behavior(_cnn(), modulator=False), bad, epochs=1, device="cpu", progress=False)


def test_load_npz_reads_behavior_and_pupil_center(tmp_path):
    data = _data(meta=_behavior_meta())
    arrays = {"images": data.images, "responses": data.responses, "tiers": data.tiers, "image_ids": data.image_ids}
    np.savez(tmp_path / "ok.npz", **arrays, behavior=data.meta["behavior"], pupil_center=data.meta["pupil_center"])
    loaded = load_npz(tmp_path / "ok.npz")
    np.testing.assert_array_equal(loaded.meta["behavior"], data.meta["behavior"])
    assert loaded.tier("test").meta["pupil_center"].shape == (20, 2)
    np.savez(tmp_path / "bad.npz", **arrays, pupil_center=data.meta["pupil_center"][:, :1])
    with pytest.raises(ValueError, match=r"pupil_center must be \(n_trials=120, 2\)"):
        load_npz(tmp_path / "bad.npz")
    nan = data.meta["behavior"].copy()
    nan[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays, behavior=nan)
    with pytest.raises(ValueError, match="behavior holds 1 NaN"):
        load_npz(tmp_path / "nan.npz")


# --- ensembles and inversion ----------------------------------------------------------------------------------

def test_ensemble_predicts_the_mean_of_its_members():
    plain = _cnn(seed=0).eval()
    behave = with_behavior(_cnn(seed=1)).eval()
    with torch.no_grad():
        behave.modulator.mlp[-1].bias.fill_(0.5)  # a gain that is not 1
    plain.set_output_scale(torch.full((5,), 3.0))
    ensemble = EnsembleModel([plain, behave])
    assert ensemble.trial_inputs == ("behavior", "pupil_center") and float(ensemble.output_scale) == 1.0
    images = np.random.default_rng(0).normal(0, 1, (9, *SHAPE)).astype(np.float32)
    b = np.random.default_rng(1).normal(0, 1, (9, 3)).astype(np.float32)
    mean = (predict(plain, images, device="cpu") + predict(behave, images, device="cpu", trial_inputs={"behavior": b}))
    np.testing.assert_allclose(predict(ensemble, images, device="cpu", trial_inputs={"behavior": b}), mean / 2,
                               rtol=1e-5)
    x = torch.from_numpy(images)
    with torch.no_grad():
        expected = (plain.forward_standardized(x) * 3.0 + behave.forward_standardized(x) * behave.output_scale) / 2
        torch.testing.assert_close(ensemble.forward_standardized(x), expected)
    with pytest.raises(ValueError, match="must agree on n_neurons"):
        EnsembleModel([plain, _cnn(n=4)])
    other = _cnn(seed=2)
    other.set_input_stats(7.0, 2.0)
    with pytest.raises(ValueError, match="standardizes images differently"):
        EnsembleModel([plain, other])
    with pytest.raises(TypeError, match="fit each member"):
        fit(ensemble, _data(meta=_behavior_meta()), epochs=1, device="cpu", progress=False)


def test_most_exciting_inputs_run_on_a_behavior_model_at_the_mean_state():
    model = with_behavior(_cnn()).eval()
    with torch.no_grad():
        model.modulator.mlp[-1].bias.fill_(0.3)
        model.shifter.mlp[-1].bias.fill_(0.2)
    meis = most_exciting_inputs(model, [0, 3], steps=4, device="cpu").standardized
    assert meis.shape == (2, *SHAPE) and np.isfinite(meis).all()
    ensemble = EnsembleModel([model, _cnn(seed=3).eval()])
    assert most_exciting_inputs(ensemble, [1], steps=2, device="cpu").standardized.shape == (1, *SHAPE)


# --- science: a population whose gain follows running speed ----------------------------------------------------

MARGIN = 0.1  # the plain model (= a modulator whose gain is fixed at 1) reaches about 0.27, the modulated about 0.54


def test_modulator_recovers_a_running_dependent_gain():
    shape, n_train, n_val, n_test, repeats = (12, 16), 800, 300, 50, 5
    unique = pink_noise_images(n_train + n_val + n_test, shape, seed=1)
    ids = np.r_[np.arange(n_train + n_val), np.repeat(np.arange(n_train + n_val, len(unique)), repeats)]
    tiers = np.array(["train"] * n_train + ["validation"] * n_val + ["test"] * (n_test * repeats))
    sim = simulate_v1_population(unique[ids], tiers, ids, n_per_type=4, types=("gabor", "complex"), mean_rate=3.0,
                                 seed=0)
    rng = np.random.default_rng(2)
    n = len(ids)
    speed = (rng.random(n) < 0.5) * rng.uniform(5, 30, n) + np.abs(rng.normal(0, 0.5, n))  # still or running, cm/s
    true_gain = 0.4 + 1.6 * speed / 30  # 0.4 at rest, up to 2 when running fast
    pupil = rng.normal(0, 1, n)
    behavior = np.stack([pupil, np.gradient(pupil), speed], 1).astype(np.float32)
    responses = rng.poisson(sim.meta["true_rates"] * true_gain[:, None]).astype(np.float32)
    data = StimulusResponseData(sim.images, responses, tiers, ids, sim.neuron_ids, name="simulated",
                                meta={"behavior": behavior})
    test = data.tier("test")
    corr, models = {}, {}
    for name in ("plain", "modulated"):
        torch.manual_seed(0)
        model = build_model("cnn_gaussian", shape, data.n_neurons, hidden_channels=4, layers=1, input_kernel=7)
        if name == "modulated":
            model = with_behavior(model, shifter=False)
        models[name] = fit(model, data, epochs=5, lr=1e-2, patience=3, device="cpu", progress=False).model
        corr[name] = float(evaluate(models[name], test, device="cpu")["single_trial_corr"].mean())
    assert corr["modulated"] > corr["plain"] + MARGIN, corr
    model = models["modulated"]
    with torch.no_grad():
        z = model.standardized_trial_inputs({"behavior": torch.from_numpy(test.meta["behavior"])}, len(test.tiers))
        learned = model.modulator(z["behavior"]).mean(1).numpy()
    assert np.corrcoef(learned, true_gain[tiers == "test"])[0, 1] > 0.9
