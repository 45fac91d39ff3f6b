"""Network inversion: preferred images (MEIs), gradient receptive fields, image transforms, closed-loop scores.

Every preferred-image search returns a :class:`PreferredImages`; the gradient ones share :func:`gradient_ascent`
with a parametrization (:class:`PixelImages` or :class:`LatentCodes`).
"""

from neurobook.inversion.ascent import LatentCodes, PixelImages, gradient_ascent
from neurobook.inversion.closed_loop import closed_loop_scores, contrast, match_contrast, to_data_units, to_standardized
from neurobook.inversion.evolution import NeuronObjective, cma_es, evolve, genetic_algorithm, neuron_objective
from neurobook.inversion.gradient_rf import gradient_receptive_fields
from neurobook.inversion.latent import clamp_latent_norm, latent_ascent
from neurobook.inversion.measures import (
    compare_preferred_images,
    preferred_image_measures,
    restart_diversity,
    search_summary,
)
from neurobook.inversion.mei import most_exciting_inputs, project_norm
from neurobook.inversion.noise import NoisyObjective, fano_factor
from neurobook.inversion.result import PreferredImages
from neurobook.inversion.transforms import compose, gaussian_blur, jitter
from neurobook.inversion.yardstick import (
    NaturalYardstick,
    contrast_matched_measures,
    natural_yardstick,
    rms_contrast,
    set_rms_contrast,
)

__all__ = [
    "LatentCodes", "NaturalYardstick", "NeuronObjective", "NoisyObjective", "PixelImages", "PreferredImages",
    "clamp_latent_norm", "closed_loop_scores", "cma_es", "compare_preferred_images", "compose", "contrast",
    "contrast_matched_measures", "evolve", "fano_factor", "gaussian_blur", "genetic_algorithm",
    "gradient_ascent", "gradient_receptive_fields", "jitter", "latent_ascent", "match_contrast",
    "most_exciting_inputs", "natural_yardstick", "neuron_objective", "preferred_image_measures", "project_norm",
    "restart_diversity", "rms_contrast", "search_summary", "set_rms_contrast",
    "to_data_units", "to_standardized",
]
