"""Decoding the stimulus from populations of many animals at once.

* :mod:`~neurobook.decoding.population`: sessions -> one trial-aligned tensor (animals x trials x units) on the
  device, trials lined up by (condition, repeat), splits by repeat (train / validation / test).
* :mod:`~neurobook.decoding.model`: :class:`SlotDecoder`, a batch of decoders (animals x variants) evaluated in one
  step: multinomial logistic regression, or a per-animal input layer into a shared latent space + shared classifier.
* :mod:`~neurobook.decoding.fit`: training (test trials never choose a model) and the analyses: within-animal
  decoding, accuracy vs number of units, leave-mice-out transfer with few-shot adaptation.
* :mod:`~neurobook.decoding.scores`: accuracy, confidence intervals, position error in degrees, confusion matrices,
  one area against others within the same animals.
* :mod:`~neurobook.decoding.baselines`: the fair logistic baseline: all units, L-BFGS to convergence, L2 chosen on
  validation and refitted on all non-test repeats; a convergence check for any logistic fit.
* :mod:`~neurobook.decoding.aligned`: units aligned across mice by their receptive-field centres (train repeats),
  and the paper's protocol: a decoder fitted to one mouse, scored on the others.
* :mod:`~neurobook.decoding.units`: unit quality from the training repeats only (RF ANOVA, rate floor).
* :mod:`~neurobook.decoding.poisson`: the Poisson decoder built on the task's structure (receptive field x
  orientation tuning, shrinkage, per-trial gain, the next window), and the previous-stimulus control.
* :mod:`~neurobook.decoding.gaussian`: its correlated-noise alternative (square-root counts, shared covariance).
* :mod:`~neurobook.decoding.ensemble`: a product of experts over the decoders' class posteriors, weights fixed.
* :mod:`~neurobook.decoding.few_shot`: a new animal with few labelled trials: the within-animal alternatives to
  transfer on the same trials, the best of them chosen on validation, and trial savings.
* :mod:`~neurobook.decoding.recording`: the same protocol on a population file of any stimulus (the user's, or
  the Allen natural scenes and static gratings).
* :mod:`~neurobook.decoding.windows`: their shared machinery (raw counts aligned with the next window, candidates
  chosen on validation, posterior readouts).
"""

from neurobook.decoding.aligned import CrossAnimal, aligned_population, cross_animal_accuracy, rf_centres
from neurobook.decoding.baselines import (
    ConvergenceReport,
    LbfgsFit,
    convergence_report,
    decode_logistic_baseline,
    fit_logistic_baseline,
    fit_logistic_lbfgs,
)
from neurobook.decoding.ensemble import ensemble
from neurobook.decoding.few_shot import (
    ALTERNATIVES,
    FewShotComparison,
    compare_few_shot,
    few_shot_alternatives,
    trial_savings,
)
from neurobook.decoding.fit import (
    DecodeResult,
    TransferResult,
    decode_by_area,
    decode_labels,
    decode_logistic,
    decode_neural,
    few_shot_mask,
    fit_logistic,
    predict_slots,
    train_slots,
    transfer_across_animals,
    units_curve,
)
from neurobook.decoding.gaussian import decode_gaussian
from neurobook.decoding.model import SlotDecoder
from neurobook.decoding.poisson import decode_poisson, decode_previous
from neurobook.decoding.population import (
    Population,
    build_population,
    population_from_file,
    population_from_trials,
    split_by_repeat,
)
from neurobook.decoding.recording import RecordingDecoding, decode_recording
from neurobook.decoding.scores import (
    accuracy,
    bootstrap_median_ci,
    confusion_matrix,
    paired_area_accuracy,
    paired_bootstrap_ci,
    position_error_deg,
    wilson_ci,
)
from neurobook.decoding.units import rf_anova_pvalues, select_train_qc, train_qc_mask

__all__ = [
    "ALTERNATIVES",
    "ConvergenceReport",
    "CrossAnimal",
    "DecodeResult",
    "FewShotComparison",
    "LbfgsFit",
    "Population",
    "RecordingDecoding",
    "SlotDecoder",
    "TransferResult",
    "accuracy",
    "aligned_population",
    "bootstrap_median_ci",
    "build_population",
    "compare_few_shot",
    "confusion_matrix",
    "convergence_report",
    "cross_animal_accuracy",
    "decode_by_area",
    "decode_gaussian",
    "decode_labels",
    "decode_logistic",
    "decode_logistic_baseline",
    "decode_neural",
    "decode_poisson",
    "decode_previous",
    "decode_recording",
    "ensemble",
    "few_shot_alternatives",
    "few_shot_mask",
    "fit_logistic",
    "fit_logistic_baseline",
    "fit_logistic_lbfgs",
    "paired_area_accuracy",
    "paired_bootstrap_ci",
    "population_from_file",
    "population_from_trials",
    "position_error_deg",
    "predict_slots",
    "rf_anova_pvalues",
    "rf_centres",
    "select_train_qc",
    "split_by_repeat",
    "train_qc_mask",
    "train_slots",
    "transfer_across_animals",
    "trial_savings",
    "units_curve",
    "wilson_ci",
]
