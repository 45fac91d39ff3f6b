"""neurobook: helpers for a literate book on deep-learning models of visual neurons.

The chapters (``notebooks/``) tell the story; this package holds everything they reuse, in layers whose imports
point one way (tests/test_layers.py checks):

    checks, files, progress, results, config     argument checks, atomic writes, the chapter runtime
    data          where data live, loaders, simulators (no torch needed to find or fetch a file)
    models        cores, readouts, biological components, retina models
    train         the training loop, prediction
    metrics, inversion, insilico, decoding, generative, ...    measures and analyses of trained models
    widgets, course                              what a reader clicks and a student answers
    pipeline      runs chapters and builds the book; imported by nothing above

The chapter runtime (``start_chapter`` ...) is imported on first use, so ``import neurobook.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ChapterRun", "Profile", "get_profile", "resolve_device", "seed_everything", "start_chapter"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("neurobook.config"), name)
    raise AttributeError(f"module 'neurobook' has no attribute {name!r}")
