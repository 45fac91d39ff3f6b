"""Network inversion: preferred images (MEIs), gradient receptive fields and image transforms."""

from neurobook.inversion.gradient_rf import gradient_receptive_fields
from neurobook.inversion.mei import most_exciting_inputs, project_norm
from neurobook.inversion.transforms import compose, gaussian_blur, jitter

__all__ = [
    "compose", "gaussian_blur", "gradient_receptive_fields", "jitter", "most_exciting_inputs", "project_norm",
]
