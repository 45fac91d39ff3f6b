"""In-silico electrophysiology: each measure on curves with an analytic answer, then on simulated neurons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import i0, i1

from neurobook import insilico
from neurobook.data.simulate_tuning import simulate_tuned_population

ORI = np.arange(0, 180, 1.0)


def _von_mises(kappa: float, pref: float = 40.0, oris: np.ndarray = ORI) -> np.ndarray:
    return np.exp(kappa * (np.cos(2 * np.deg2rad(oris - pref)) - 1))


@pytest.mark.parametrize("kappa", [0.5, 2.0, 6.0])
def test_orientation_measures_match_the_von_mises_answer(kappa):
    curve = _von_mises(kappa)[None]
    assert insilico.circular_variance(curve, ORI)[0] == pytest.approx(1 - i1(kappa) / i0(kappa), abs=1e-3)
    assert insilico.orthogonal_preferred_ratio(curve, ORI)[0] == pytest.approx(np.exp(-2 * kappa), rel=1e-6)
    assert insilico.preferred_orientation(curve, ORI)[0] == pytest.approx(40.0, abs=1.0)
    expected_bw = np.rad2deg(0.5 * np.arccos(1 - np.log(np.sqrt(2)) / kappa)) if kappa > 0.18 else np.nan
    assert insilico.orientation_bandwidth(curve, ORI, smooth=False)[0] == pytest.approx(expected_bw, abs=1.0)


def test_untuned_curve_is_not_orientation_selective_and_has_cv_one():
    flat = np.ones((1, 12))
    oris = np.arange(0, 180, 15.0)
    assert insilico.circular_variance(flat, oris)[0] == pytest.approx(1.0)
    assert np.isnan(insilico.orientation_bandwidth(flat, oris)[0])
    # a narrow and a broad von Mises, coarsely sampled: order is kept
    narrow, broad = _von_mises(8.0, 30, oris), _von_mises(1.0, 30, oris)
    bw = insilico.orientation_bandwidth(np.stack([narrow, broad]), oris)
    assert bw[0] < bw[1]


def test_f0_f1_of_a_rectified_sinusoid():
    phases = np.arange(16) * 2 * np.pi / 16
    f0, f1 = insilico.f0_f1(np.maximum(np.cos(phases), 0), phases)
    assert f1 / f0 == pytest.approx(np.pi / 2, rel=0.02)
    f0, f1 = insilico.f0_f1(np.full(16, 3.0), phases)
    assert f0 == pytest.approx(3.0) and f1 == pytest.approx(0.0, abs=1e-12)


def test_spatial_frequency_peak_and_bandwidth_on_a_log_gaussian():
    sfs = np.geomspace(0.5, 16, 11)
    peak, octaves = 3.0, 1.0  # Gaussian in log2(sf) with std 1 octave
    curve = np.exp(-((np.log2(sfs) - np.log2(peak)) ** 2) / 2)[None]
    assert insilico.peak_spatial_frequency(curve, sfs)[0] == pytest.approx(peak, rel=0.05)
    half = octaves * np.sqrt(2 * np.log(1 / 0.707))  # octaves from the peak to 0.707
    assert insilico.spatial_frequency_bandwidth(curve, sfs)[0] == pytest.approx(100 * 2 ** (-2 * half), rel=0.05)
    assert np.isnan(insilico.spatial_frequency_bandwidth(np.linspace(0, 1, 11)[None], sfs)[0])  # low-pass: none


def test_size_and_contrast_measures():
    d = np.geomspace(1, 32, 11)
    saturating = 1 - np.exp(-d / 4)
    suppressed = np.exp(-((np.log2(d) - 2) ** 2) / 2) + 0.2
    ssi = insilico.surround_suppression_index(np.stack([saturating, suppressed]))
    assert ssi[0] == pytest.approx(0.0, abs=1e-3) and ssi[1] > 0.5
    gsf = insilico.grating_summation_field(np.stack([saturating, suppressed]), d)
    assert np.isnan(gsf[0]) and 2 <= gsf[1] <= 5
    c = np.geomspace(0.01, 1, 41)
    naka = c**2 / (c**2 + 0.1**2)
    assert insilico.semi_saturation_contrast(naka[None], c)[0] == pytest.approx(0.1, rel=0.05)


def test_calibration_maps_medians_and_refuses_unresponsive_models():
    a, b = insilico.calibrate(np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    assert a * 3 + b == pytest.approx(33.8) and a * 1 + b == pytest.approx(0.82)
    with pytest.raises(ValueError, match="do not respond"):
        insilico.calibrate(np.ones(3), np.ones(3))


@pytest.fixture(scope="module")
def sim_result():
    pop = simulate_tuned_population((40, 40), n=12, seed=3, suppressed_fraction=0.5)
    res = insilico.tuning_experiment(pop, (40, 40), orientations=np.arange(0, 180, 7.5),
                                     sfs=np.geomspace(0.04, 0.4, 13), diameters=np.geomspace(2, 80, 11))
    return pop, res


def test_simulated_neurons_recover_orientation_sf_and_simple_complex(sim_result):
    pop, res = sim_result
    t, truth = res.table, pop.truth
    err = np.abs((t["preferred_orientation"] - truth["orientation"] + 90) % 180 - 90)
    assert err.max() < 6.0
    assert np.allclose(t["peak_spatial_frequency"], truth["sf"], rtol=0.2)
    simple = truth["kind"].to_numpy() == "simple"
    assert t["modulation_ratio"][simple].min() > 1.2
    assert t["modulation_ratio"][~simple].max() < 0.2
    assert t["responsive"].mean() >= 0.5  # the calibration puts the median preferred response at 33.8 spikes/s


def test_simulated_surround_suppression_is_found_only_where_it_exists(sim_result):
    pop, res = sim_result
    supp = pop.truth["suppression"].to_numpy() > 0
    assert supp.any() and (~supp).any()
    ssi = res.table["surround_suppression_index"].to_numpy()
    assert ssi[supp].min() > 0.15
    assert ssi[~supp].max() < 0.05


def test_a_shuffled_response_function_fails_the_recovery():
    pop = simulate_tuned_population((32, 32), n=8, seed=4)
    rng = np.random.default_rng(0)
    perm = rng.permutation(8)
    res = insilico.tuning_experiment(lambda im: pop(im)[:, perm], (32, 32), orientations=np.arange(0, 180, 15.0),
                                     sfs=np.geomspace(0.04, 0.4, 9))
    err = np.abs((res.table["preferred_orientation"] - pop.truth["orientation"] + 90) % 180 - 90)
    assert err.max() > 6.0


def test_bad_response_function_gets_a_clear_error():
    with pytest.raises(ValueError, match="n_images, n_neurons"):
        insilico.tuning_experiment(lambda im: np.zeros(len(im)), (8, 8))


def test_rf_centers_find_the_peak_of_each_map():
    maps = np.zeros((2, 9, 12))
    maps[0, 2, 3] = -5.0  # sign does not matter
    maps[1, 7, 10] = 1.0
    assert insilico.rf_centers(maps).tolist() == [[2.0, 3.0], [7.0, 10.0]]
    with pytest.raises(ValueError, match="n_neurons, H, W"):
        insilico.rf_centers(np.zeros((9, 12)))


# ------------------------------------------------------------------ receptive-field centres without gradients
def _gradient_maps_at_blank(pop, shape) -> np.ndarray:
    """Autograd receptive fields of the simulated units at the blank image (what rf_centers is usually fed)."""
    import torch

    even = torch.tensor(pop.even.reshape(len(pop.even), -1))
    odd = torch.tensor(pop.odd.reshape(len(pop.odd), -1))
    x = torch.zeros(len(pop.even), even.shape[1], dtype=torch.float64, requires_grad=True)
    ge, go = (x * even).sum(1), (x * odd).sum(1)
    simple = torch.tensor(pop.truth["kind"].to_numpy() == "simple")
    r = torch.where(simple, torch.relu(ge), torch.sqrt(ge**2 + go**2 + 1e-30))
    r.sum().backward()
    return x.grad.numpy().reshape(len(pop.even), *shape)


def test_probe_centres_find_energy_and_rectified_units_where_the_gradient_at_blank_cannot():
    shape = (36, 64)
    pop = simulate_tuned_population(shape, n=12, seed=7, centered=False, sf_range=(0.15, 0.3))
    true = pop.truth[["center_row", "center_col"]].to_numpy()
    probe = insilico.rf_centers_from_probes(pop, shape)
    assert np.hypot(*(probe - true).T).max() < 1.5
    with pytest.warns(UserWarning, match="0 everywhere"):
        grad = insilico.rf_centers(_gradient_maps_at_blank(pop, shape))
    found = np.isfinite(grad).all(1)
    assert not found.any() or np.hypot(*(grad[found] - true[found]).T).min() > 1.5


def test_a_unit_below_its_blank_response_gets_nan_with_a_reason():
    pop = simulate_tuned_population((24, 24), n=6, seed=2)

    def fn(images):
        r = pop(images).astype(np.float64)
        r[:, 0] = 5.0 - r[:, 0]  # every grating suppresses unit 0 below its blank response
        return r

    table = insilico.tuning_experiment(fn, (24, 24), sfs=np.geomspace(0.08, 0.4, 7)).table
    assert table.loc[0, insilico.PROPERTY_COLUMNS].isna().all()
    assert "not above the blank" in table.loc[0, "invalid_reason"]
    assert table.loc[1:, "invalid_reason"].eq("").all()
    assert np.isfinite(table.loc[1:, "orthogonal_preferred_ratio"]).all()


def test_orientation_bandwidth_is_within_two_degrees_unsmoothed_and_brainscore_smoothing_widens_it():
    oris = np.arange(0, 180, 15.0)
    kappas = np.array([1.0, 2.0, 4.0])
    curves = np.stack([_von_mises(k, 37.0, oris) for k in kappas])
    truth = np.rad2deg(0.5 * np.arccos(1 - np.log(np.sqrt(2)) / kappas))
    assert np.abs(insilico.orientation_bandwidth(curves, oris) - truth).max() < 1.0
    assert (insilico.orientation_bandwidth(curves, oris, smooth=True) - truth).min() > 2.0


# ------------------------------------------------------------- the whole protocol against the known truth
def test_every_property_is_recovered_on_known_units_at_36x64():
    from neurobook.insilico_validation import MAX_BANDWIDTH_ERROR, MIN_R, validate_measures

    v = validate_measures((36, 64), n=16, seed=3, sfs=np.geomspace(1 / 8, 0.45, 11))
    assert v.scores["passes"].all(), v.scores
    assert v.min_r >= MIN_R
    assert v.scores.loc["orientation_bandwidth", "median_abs_error"] <= MAX_BANDWIDTH_ERROR
    assert np.median(v.center_error) < 0.5


@pytest.mark.parametrize("size", [16])  # the task arm of the cpu profile
def test_the_task_arm_resolution_recovers_the_orientation_and_response_properties(size):
    from neurobook.insilico_validation import MIN_R, validate_measures

    v = validate_measures((size, size), n=16, seed=5, sfs=np.geomspace(1 / 32, 0.45, 11))
    for prop in ("preferred_orientation", "circular_variance", "orientation_bandwidth", "modulation_ratio",
                 "surround_suppression_index", "peak_spatial_frequency"):
        assert v.scores.loc[prop, "r"] >= MIN_R, (prop, v.scores)


def test_the_validation_fails_where_the_resolution_cannot_resolve_the_units_and_on_shuffled_values():
    from neurobook.insilico_validation import score_properties, validate_measures

    coarse = validate_measures((9, 16), n=16, seed=3)  # default SFs stop at 1/3 cycle/px, the units reach 0.4
    assert not coarse.scores.loc["peak_spatial_frequency", "passes"]
    fine = validate_measures((36, 64), n=16, seed=3, sfs=np.geomspace(1 / 8, 0.45, 11))
    shuffled = fine.recovered.iloc[np.random.default_rng(0).permutation(16)].reset_index(drop=True)
    assert score_properties(shuffled, fine.truth)["r"].max() < 0.9
