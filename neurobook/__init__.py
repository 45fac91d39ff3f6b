"""neurobook: helpers for a literate book on deep-learning models of visual neurons.

The chapters (``notebooks/``) tell the story; this package holds everything they reuse:
data loaders, models, training, metrics, inversion, widgets and the book pipeline.
"""

from neurobook.config import ChapterRun, Profile, get_profile, resolve_device, seed_everything, start_chapter

__all__ = ["ChapterRun", "Profile", "get_profile", "resolve_device", "seed_everything", "start_chapter"]
__version__ = "0.1.0"
