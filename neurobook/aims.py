"""The aims the chapters test: each threshold defined once, and one sentence that says whether a run met it.

A chapter's aims cell and the scorecard's claims (``neurobook/pipeline/chapters.py``) both read :data:`AIMS`, so a
threshold cannot differ between the page and the scorecard. :func:`verdict` writes the "met"/"not met" sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["AIMS", "Aim", "chapter_aims", "verdict"]

Direction = Literal["at least", "above", "at most"]


@dataclass(frozen=True)
class Aim:
    """One aim: a measured value (the results JSON's headline ``key``) must reach ``threshold``.

    ``direction`` ``"at least"`` means value >= threshold, ``"above"`` value > threshold, ``"at most"`` value <=
    threshold (a distance or an error that must stay small). ``fmt`` writes both the value and the threshold.
    """

    key: str
    label: str
    threshold: float
    direction: Direction = "at least"
    fmt: str = "{:.2f}"

    def __post_init__(self) -> None:
        if self.direction not in ("at least", "above", "at most"):
            raise ValueError(f"direction must be 'at least', 'above' or 'at most', got {self.direction!r}")

    @property
    def target(self) -> str:
        """The aim in words, e.g. ``"at least 0.80"``."""
        return f"{self.direction} {self.fmt.format(self.threshold)}"

    def met(self, value: float | None) -> bool:
        """Whether ``value`` reaches the threshold; a missing or NaN value never does."""
        if value is None or math.isnan(float(value)):
            return False
        if self.direction == "at most":
            return bool(value <= self.threshold)
        return bool(value >= self.threshold if self.direction == "at least" else value > self.threshold)


def _aims(*aims: Aim) -> dict[str, Aim]:
    return {a.key: a for a in aims}


#: The aims of each chapter (by slug), keyed by the headline key of the value they judge.
AIMS: dict[str, dict[str, Aim]] = {
    "ch01_v1_encoding": _aims(
        Aim("labeller_holdout_accuracy_min", "the frozen labeller's lowest per-type accuracy on the held-out "
            "simulated population", 0.80, fmt="{:.0%}"),
        Aim("labeller_holdout_wilson_low_min", "the lowest Wilson 95% lower bound of those accuracies", 0.65,
            fmt="{:.0%}"),
        Aim("label_kappa_across_models", "the agreement of the MEI labels of two independently trained CNNs "
            "(Cohen's kappa)", 0.60),
    ),
    "ch02_retina": _aims(
        Aim("median_fraction_of_ceiling", "the median salamander cell's fraction of its ceiling (shared-core CNN)",
            0.65),
        Aim("best_fraction_of_ceiling", "the best cell's fraction of its ceiling", 0.80),
        Aim("cnn_over_strong_ln_median", "the shared-core CNN's PSTH correlation over the strong LN's, median over "
            "salamander cells", 1.30, fmt="{:.2f}x"),
        Aim("sim_subunit_match_minus_envelope_median", "model cells: the shared core's subunit match minus the "
            "receptive-field envelope's, median cell", 0.20, fmt="{:+.2f}"),
        Aim("natural_ln_fraction_of_ceiling", "the natural-stimulus screen: the white-noise strong LN's fraction of "
            "the exact ceiling on the natural flashes, median model cell", 0.85, direction="at most"),
        Aim("natural_cnn_fraction_of_ceiling", "the white-noise shared core's fraction of the exact ceiling on the "
            "natural flashes, median model cell", 0.90),
        Aim("natural_cnn_minus_ln", "the white-noise shared core minus the white-noise strong LN on the natural "
            "flashes (fraction of ceiling, median paired difference)", 0.10, fmt="{:+.2f}"),
    ),
    "ch03_decoding": _aims(
        Aim("logistic_position_median", "the converged logistic baseline's median position accuracy", 0.32,
            fmt="{:.1%}"),
        Aim("logistic_orientation_median", "the converged logistic baseline's median orientation accuracy", 0.50,
            fmt="{:.1%}"),
        Aim("best_position_median", "the median position accuracy of the decoder chosen on validation", 0.40,
            fmt="{:.1%}"),
        Aim("transfer_5shot_minus_best_alternative", "adapted minus the best within-mouse alternative at 5 trials "
            "per position (median over held-out mice, paired)", 0.05, fmt="{:+.3f}"),
        Aim("trial_savings", "the trial savings of transfer at 5 trials per position", 2.0, fmt="{:.2f}x"),
    ),
    "ch04_bio_v1": _aims(
        Aim("full_minus_core_corr_to_avg", "the test correlation of the variant with all its components minus "
            "the Chapter 1 core's", 0.0, fmt="{:+.4f}"),
    ),
    "ch05_generative": _aims(
        Aim("latent_over_best_natural_matched_median", "the latent-gradient images' response relative to the best "
            "natural image of the pool, both at the pool's median RMS contrast (median over neurons)", 1.5,
            fmt="{:.2f}×"),
        Aim("prior_slope_gap", "the distance of the prior samples' median spectral slope from the natural pool's",
            0.25, direction="at most", fmt="{:.2f}"),
        Aim("latent_restart_diversity", "the diversity of latent-gradient restarts (median over neurons)", 0.2),
        Aim("heldout_template_r_median", "the template correlation of latent ascent on neurons whose preferred "
            "image is a held-out V4 photograph (median)", 0.8),
        Aim("noisy_ga_fraction_of_gradient", "the GA's pick under single-trial noise, scored without noise, as a "
            "share of the noise-free gradient result (median over neurons)", 0.80, fmt="{:.0%}"),
        Aim("noisy_cma_fraction_of_gradient", "CMA-ES's pick under single-trial noise, scored without noise, as a "
            "share of the noise-free gradient result (median over neurons)", 0.80, fmt="{:.0%}"),
        Aim("share_beating_best_natural", "the share of neurons whose image evolved under noise (GA) beats their "
            "best natural image at matched contrast", 0.50, fmt="{:.0%}"),
    ),
}


def chapter_aims(chapter: str) -> dict[str, Aim]:
    """The aims of one chapter (its slug, e.g. ``ch03_decoding``), keyed by headline key."""
    if chapter not in AIMS:
        raise KeyError(f"no aims for {chapter!r}; chapters with aims: {', '.join(AIMS)}")
    return AIMS[chapter]


def verdict(aim: Aim, value: float | None, interval: tuple[float, float] | None = None,
            interval_name: str = "95% CI") -> str:
    """The markdown sentence on one aim: met or not met, with the value (and its interval) and the threshold.

    A missing or NaN value is reported as not measured, never as met. ``interval`` (low, high) is written after the
    value under ``interval_name``; it does not change the verdict, which judges the value.
    """
    if value is None or math.isnan(float(value)):
        return f"**Not measured**: {aim.label} has no value in this run (aim: {aim.target})."
    ours = aim.fmt.format(value)
    if interval is not None:
        ours += f" ({interval_name} {aim.fmt.format(interval[0])} to {aim.fmt.format(interval[1])})"
    if aim.met(value):
        return f"**Met**: {aim.label} is {ours} (aim: {aim.target})."
    short = aim.fmt.format(abs(aim.threshold - float(value))).lstrip("+")
    gap = "above" if aim.direction == "at most" else "short of"
    return f"**Not met**: {aim.label} is {ours}, {gap} the aim ({aim.target}) by {short}."
