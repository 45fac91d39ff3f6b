"""The in-silico measures checked on units with known tuning, at the resolution where they are used.

:func:`known_units` draws simulated V1 units (rectified simple and energy complex cells, varied envelope widths,
contrast saturation, surround suppression, jittered positions) for an image size. :func:`dense_truth` measures
each unit's properties with the same definitions but with dense stimulus sampling at its *true* orientation and
centre, so it holds what the coarse protocol of :func:`neurobook.insilico.tuning_experiment` should recover;
the preferred orientation is the true one. :func:`validate_measures` runs the protocol (with centres from
:func:`neurobook.insilico.rf_centers_from_probes`, never the truth) and scores each property against the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurobook import insilico
from neurobook.data.simulate_tuning import SimulatedTunedPopulation, simulate_tuned_population

MIN_R = 0.95  # the aim: recovered against true, per property
MAX_BANDWIDTH_ERROR = 2.0  # degrees, median absolute error of the orientation bandwidth
N_PHASES = 8


def known_units(shape: Sequence[int], n: int = 24, seed: int = 0) -> SimulatedTunedPopulation:
    """Units with known tuning that fit the image: 2.5-6 pixels per cycle (>= 2.5 cycles across the short side),
    envelopes of 0.35-1 cycle, c50 0.1-0.6, half surround-suppressed, positions jittered."""
    h, w = int(shape[0]), int(shape[1])
    lowest = max(1 / 6, 2.5 / min(h, w))  # at least 2.5 cycles across the short side
    return simulate_tuned_population((h, w), n=n, seed=seed, sf_range=(lowest, max(lowest, 0.4)),
                                     sigma_cycles=(0.35, 1.0), suppressed_fraction=0.5, suppression=(0.3, 1.5),
                                     centered=False, c50_range=(0.1, 0.6))


def _responses(pop: SimulatedTunedPopulation, images: np.ndarray, unit: int, scale: tuple[float, float]):
    a, b = scale
    return a * pop(images)[:, unit].astype(np.float64) + b


def dense_truth(pop: SimulatedTunedPopulation, shape: Sequence[int], *, sfs: np.ndarray, diameters: np.ndarray,
                contrasts: np.ndarray, scale: tuple[float, float] = (1.0, 0.0), contrast: float = 1.0) -> pd.DataFrame:
    """Each unit's properties from densely sampled curves at its true orientation and centre (same definitions).

    ``sfs``, ``diameters``, ``contrasts`` give the ranges (the protocol's); ``scale`` is its calibration (a, b).
    """
    h, w = int(shape[0]), int(shape[1])
    phases = np.arange(N_PHASES) * 2 * np.pi / N_PHASES
    sf_d = np.geomspace(sfs[0], sfs[-1], 60)
    ori_d = np.arange(0, 180, 0.5)
    dia_d = np.geomspace(diameters[0], diameters[-1], 60)
    con_d = np.geomspace(contrasts[0], contrasts[-1], 60)
    rows = []
    for i, unit in pop.truth.iterrows():
        theta, center = float(unit["orientation"]), (float(unit["center_row"]), float(unit["center_col"]))
        base = _responses(pop, np.zeros((1, h, w), np.float32), i, scale)[0]

        def curve(images, n_levels, i=i, base=base):
            f0, f1 = insilico.f0_f1(_responses(pop, images, i, scale).reshape(n_levels, N_PHASES), phases)
            return f0, f1, insilico.larger_component(f0 - base, f1)

        _, _, sf_curve = curve(np.stack([insilico.grating((h, w), theta, f, p, contrast) for f in sf_d
                                         for p in phases]), len(sf_d))
        peak_sf = float(insilico.peak_spatial_frequency(np.clip(sf_curve, 0, None)[None], sf_d)[0])
        ori_f0, _, _ = curve(np.stack([insilico.grating((h, w), o, peak_sf, p, contrast) for o in ori_d
                                       for p in phases]), len(ori_d))
        f0, f1, _ = curve(np.stack([insilico.grating((h, w), theta, peak_sf, p, contrast) for p in phases]), 1)
        _, _, size = curve(np.stack([insilico.grating((h, w), theta, peak_sf, p, contrast, center, d) for d in dia_d
                                     for p in phases]), len(dia_d))
        _, _, con = curve(np.stack([insilico.grating((h, w), theta, peak_sf, p, c) for c in con_d
                                    for p in phases]), len(con_d))
        rows.append({
            "preferred_orientation": theta,
            "circular_variance": float(insilico.circular_variance(ori_f0[None], ori_d)[0]),
            "orientation_bandwidth": float(insilico.orientation_bandwidth(ori_f0[None], ori_d)[0]),
            "orthogonal_preferred_ratio": float(insilico.orthogonal_preferred_ratio(ori_f0[None], ori_d)[0]),
            "modulation_ratio": float(f1[0] / f0[0]) if f0[0] > 0 else np.nan,
            "peak_spatial_frequency": peak_sf,
            "spatial_frequency_bandwidth": float(insilico.spatial_frequency_bandwidth(sf_curve[None], sf_d)[0]),
            "surround_suppression_index": float(insilico.surround_suppression_index(size[None])[0]),
            "grating_summation_field": float(insilico.grating_summation_field(size[None], dia_d)[0]),
            "c50": float(insilico.semi_saturation_contrast(con[None], con_d)[0]),
        })
    return pd.DataFrame(rows)


def _circular_r(a_deg: np.ndarray, b_deg: np.ndarray) -> float:
    """Circular correlation (Jammalamadaka) of two orientations (period 180 degrees)."""
    a, b = np.deg2rad(2 * a_deg), np.deg2rad(2 * b_deg)
    da = np.sin(a - np.angle(np.exp(1j * a).mean()))
    db = np.sin(b - np.angle(np.exp(1j * b).mean()))
    return float((da * db).sum() / np.sqrt((da**2).sum() * (db**2).sum()))


@dataclass
class MeasureValidation:
    """Per-property agreement of the protocol with the dense truth, and the tables it came from."""

    scores: pd.DataFrame  # one row per property
    recovered: pd.DataFrame
    truth: pd.DataFrame
    center_error: np.ndarray  # pixels, probe-mapped centre against the true one

    @property
    def min_r(self) -> float:
        return float(self.scores["r"].min())


def score_properties(recovered: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """r (circular for orientation) over units where both are defined, errors, and agreement on definedness."""
    out = []
    for prop in insilico.PROPERTY_COLUMNS:
        rec, tru = recovered[prop].to_numpy(float), truth[prop].to_numpy(float)
        both = np.isfinite(rec) & np.isfinite(tru)
        if prop == "preferred_orientation":
            err = np.abs((rec - tru + 90) % 180 - 90)
            r = _circular_r(rec[both], tru[both]) if both.sum() > 2 else np.nan
        else:
            err = np.abs(rec - tru)
            r = float(np.corrcoef(rec[both], tru[both])[0, 1]) if both.sum() > 2 and tru[both].std() > 0 else np.nan
        out.append({"property": prop, "n": int(both.sum()), "r": r,
                    "median_abs_error": float(np.median(err[both])) if both.any() else np.nan,
                    "defined_agreement": float((np.isfinite(rec) == np.isfinite(tru)).mean())})
    scores = pd.DataFrame(out).set_index("property")
    bw = scores.loc["orientation_bandwidth", "median_abs_error"]
    scores["passes"] = scores["r"] >= MIN_R
    scores.loc["orientation_bandwidth", "passes"] = bool(scores.loc["orientation_bandwidth", "passes"]
                                                         and bw <= MAX_BANDWIDTH_ERROR)
    return scores


def validate_measures(shape: Sequence[int], *, n: int = 24, seed: int = 0, deg_per_pixel: float = 1.0,
                      **experiment) -> MeasureValidation:
    """Known units at ``shape`` through the protocol (probe-mapped centres) and against their dense truth.

    ``experiment`` goes to :func:`neurobook.insilico.tuning_experiment` (orientations, sfs, ...), as the chapter
    calls it. Values are compared in pixel units (``deg_per_pixel`` only converts the protocol's output back).
    """
    h, w = int(shape[0]), int(shape[1])
    pop = known_units((h, w), n=n, seed=seed)
    centers = insilico.rf_centers_from_probes(pop, (h, w))
    res = insilico.tuning_experiment(pop, (h, w), centers=centers, deg_per_pixel=deg_per_pixel, **experiment)
    recovered = res.table.copy()
    recovered["peak_spatial_frequency"] *= deg_per_pixel
    recovered["grating_summation_field"] /= deg_per_pixel
    truth = dense_truth(pop, (h, w), sfs=res.sfs * deg_per_pixel, diameters=res.diameters / deg_per_pixel,
                        contrasts=res.contrasts, scale=res.scale, contrast=res.meta["contrast"])
    err = np.hypot(centers[:, 0] - pop.truth["center_row"], centers[:, 1] - pop.truth["center_col"]).to_numpy()
    return MeasureValidation(score_properties(recovered, truth), recovered, truth, err)
