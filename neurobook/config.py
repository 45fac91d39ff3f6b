"""The chapter runtime: profiles, device selection, seeding and the settings of one run.

Where data live is :mod:`neurobook.data.paths`; this module does not know.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurobook import results

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


#: A device as the functions of the book take it: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a torch.device.
Device = str | torch.device


def resolve_device(device: Device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; ``"cpu"``/``"cuda"`` (or a ``torch.device``) are taken as asked."""
    if isinstance(device, torch.device):
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be a cpu or cuda device, got {device!r}")
        name = str(device)
    elif isinstance(device, str):
        name = device
    else:
        raise TypeError(f"device must be a string ('auto', 'cpu', 'cuda') or a torch.device, got {device!r}")
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    return torch.device(name)


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

    def save_results(self, chapter: str, *, data: dict, headline: dict, runtime_s: float | None = None,
                     directory: str | os.PathLike | None = None) -> Path:
        """Write the chapter's results JSON (:func:`neurobook.results.save_results`) with this run's profile and device.

        ``runtime_s`` defaults to the seconds since the run started (:meth:`elapsed`); ``directory`` to the results
        folder of :func:`neurobook.results.save_results`.
        """
        return results.save_results(chapter, profile=self.profile.name, device=str(self.device), data=data,
                                    headline=headline, runtime_s=self.elapsed() if runtime_s is None else runtime_s,
                                    directory=directory)


def start_chapter(profile: str, device: Device, seed: int, *, quick: Mapping[str, Any], cpu: Mapping[str, Any],
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
