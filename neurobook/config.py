"""The chapter runtime: profiles, device selection, seeding and the settings of one run.

Where data live is :mod:`neurobook.data.paths`; this module does not know.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Profile:
    """How much work a chapter does: ``quick`` for tests, ``full`` for the book."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.name!r}")

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def pick(self, quick, full):
        """Return ``quick`` in the quick profile, else ``full``."""
        return quick if self.quick else full


def choose(profile: Profile, device: torch.device, *, quick, cpu, gpu):
    """Settings by run size: ``quick`` in the quick profile, else ``gpu`` on CUDA and ``cpu`` elsewhere.

    The full profile scales itself to the machine so that a first build on a laptop CPU does not take hours.
    """
    if profile.quick:
        return quick
    return gpu if device.type == "cuda" else cpu


def get_profile(name: str) -> Profile:
    """Validate a profile name and return the :class:`Profile`."""
    if not isinstance(name, str):
        raise TypeError(f"profile must be a string, one of {PROFILES}; got {type(name).__name__}")
    return Profile(name)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; ``"cpu"``/``"cuda"`` are taken as asked."""
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) so that reruns reproduce."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class ChapterRun:
    """What one chapter run uses: its profile, device, seed and settings, and when it started."""

    profile: Profile
    device: torch.device
    seed: int
    settings: dict[str, Any]
    started: float = field(default_factory=time.time)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.time() - self.started

    def describe(self, extra: str = "") -> str:
        """The chapter's "This run" line (markdown): profile, device and every setting."""
        listed = ", ".join(f"{key}={value}" for key, value in self.settings.items())
        return f"**This run:** profile `{self.profile.name}` on `{self.device}`; settings: {listed}{extra}"


def start_chapter(profile: str, device: str, seed: int, *, quick: Mapping[str, Any], cpu: Mapping[str, Any],
                  gpu: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> ChapterRun:
    """Validate a chapter's run parameters, seed everything and pick its settings (see :func:`choose`).

    ``overrides`` are the chapter's own parameters: a value of 0 or None means "the profile's choice", any other
    value replaces the setting of the same name.
    """
    run_profile = get_profile(profile)
    run_device = resolve_device(device)
    seed_everything(seed)
    settings = dict(choose(run_profile, run_device, quick=quick, cpu=cpu, gpu=gpu))
    for name, value in (overrides or {}).items():
        if name not in settings:
            raise KeyError(f"override {name!r} is not one of this chapter's settings: {sorted(settings)}")
        if isinstance(value, (int, float)) and value < 0:
            raise ValueError(f"{name} must be >= 0 (0 means the profile's choice), got {value}")
        if value:
            settings[name] = value
    return ChapterRun(run_profile, run_device, seed, settings)
