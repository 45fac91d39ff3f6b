"""Encoding models: convolutional cores, readouts and full image -> rate models."""

from neurobook.models.behavior import BehaviorModel, Modulator, Shifter, with_behavior
from neurobook.models.bio import COMPONENTS, CONTROLS, BioCore, count_parameters, parse_components
from neurobook.models.cores import ConvCore
from neurobook.models.encoder import MODEL_KINDS, EncodingModel, ImageModel, LNModel, build_model
from neurobook.models.ensemble import EnsembleModel
from neurobook.models.presets import SENSORIUM_2022, SENSORIUM_2022_PUBLISHED, sensorium_options
from neurobook.models.readouts import FactorizedReadout, GaussianReadout
from neurobook.models.template import TemplateNeurons

__all__ = [
    "COMPONENTS",
    "CONTROLS",
    "MODEL_KINDS",
    "SENSORIUM_2022",
    "SENSORIUM_2022_PUBLISHED",
    "BehaviorModel",
    "BioCore",
    "ConvCore",
    "EncodingModel",
    "EnsembleModel",
    "FactorizedReadout",
    "GaussianReadout",
    "ImageModel",
    "LNModel",
    "Modulator",
    "Shifter",
    "TemplateNeurons",
    "build_model",
    "count_parameters",
    "parse_components",
    "sensorium_options",
    "with_behavior",
]
