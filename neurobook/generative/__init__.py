"""Generative image priors: natural patches, a small DCGAN, and its checkpoint cache."""

from neurobook.generative.cache import PriorCheckpointError, data_fingerprint, load_or_train_prior, prior_path
from neurobook.generative.dcgan import (
    Discriminator,
    Generator,
    ImagePrior,
    PriorConfig,
    discriminator_score,
    train_prior,
)
from neurobook.generative.patches import natural_patches, skimage_photographs

__all__ = [
    "Discriminator", "Generator", "ImagePrior", "PriorCheckpointError", "PriorConfig", "data_fingerprint",
    "discriminator_score",
    "load_or_train_prior", "natural_patches", "prior_path", "skimage_photographs", "train_prior",
]
