"""Network inversion: preferred images (MEIs), gradient receptive fields, image transforms, closed-loop scores."""

from neurobook.inversion.closed_loop import closed_loop_scores, contrast, match_contrast, to_data_units
from neurobook.inversion.evolution import EvolutionResult, cma_es, genetic_algorithm, neuron_objective
from neurobook.inversion.gradient_rf import gradient_receptive_fields
from neurobook.inversion.latent import clamp_latent_norm, latent_ascent
from neurobook.inversion.measures import preferred_image_measures, restart_diversity
from neurobook.inversion.mei import most_exciting_inputs, project_norm
from neurobook.inversion.transforms import compose, gaussian_blur, jitter

__all__ = [
    "EvolutionResult", "clamp_latent_norm", "closed_loop_scores", "contrast", "match_contrast",
    "to_data_units", "cma_es", "compose", "genetic_algorithm", "latent_ascent",
    "neuron_objective", "gaussian_blur", "gradient_receptive_fields", "jitter", "most_exciting_inputs",
    "preferred_image_measures", "project_norm", "restart_diversity",
]
