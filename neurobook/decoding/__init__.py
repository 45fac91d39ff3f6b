"""Decoding the stimulus from populations of many animals at once.

* :mod:`~neurobook.decoding.population`: sessions -> one trial-aligned tensor (animals x trials x units) on the
  device, trials lined up by (condition, repeat), splits by repeat (train / validation / test).
* :mod:`~neurobook.decoding.model`: :class:`SlotDecoder`, a batch of decoders (animals x variants) evaluated in one
  step: multinomial logistic regression, or a per-animal input layer into a shared latent space + shared classifier.
* :mod:`~neurobook.decoding.fit`: training (test trials never choose a model) and the analyses: within-animal
  decoding, accuracy vs number of units, leave-mice-out transfer with few-shot adaptation.
* :mod:`~neurobook.decoding.scores`: accuracy, confidence intervals, position error in degrees, confusion matrices,
  one area against others within the same animals.
"""

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
from neurobook.decoding.model import SlotDecoder
from neurobook.decoding.population import Population, build_population, population_from_trials, split_by_repeat
from neurobook.decoding.scores import (
    accuracy,
    bootstrap_median_ci,
    confusion_matrix,
    paired_area_accuracy,
    position_error_deg,
    wilson_ci,
)

__all__ = [
    "DecodeResult", "Population", "SlotDecoder", "TransferResult", "accuracy", "bootstrap_median_ci",
    "build_population", "confusion_matrix", "decode_by_area", "decode_labels", "decode_logistic", "decode_neural",
    "few_shot_mask", "fit_logistic", "paired_area_accuracy", "population_from_trials", "position_error_deg",
    "predict_slots", "split_by_repeat", "train_slots", "transfer_across_animals", "units_curve", "wilson_ci",
]
