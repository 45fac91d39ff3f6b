"""Cache a trained prior on disk with its settings and a checksum; a corrupt or mismatched file is retrained.

File: ``<cache_dir>/priors/dcgan-<key>.pt`` where ``key`` hashes the :class:`PriorConfig`, whose ``data`` field
names the training images and should carry their :func:`data_fingerprint`. Contents: the config,
both state dicts, the training record and the sha256 of the weights. Writes are atomic
(:func:`neurobook.files.atomic_path`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from neurobook.data.paths import cache_dir
from neurobook.files import atomic_path
from neurobook.generative.dcgan import Discriminator, Generator, ImagePrior, PriorConfig, train_prior

FORMAT = 1


class PriorCheckpointError(RuntimeError):
    """A cached prior is unreadable, corrupt, or was trained with other settings."""


def _key(config: PriorConfig) -> str:
    return hashlib.sha256(json.dumps(config.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def data_fingerprint(*arrays: np.ndarray) -> str:
    """A short sha256 of the arrays' shapes, dtypes and bytes: put it in ``PriorConfig.data`` so that a prior
    trained on other images (another session, another split) gets another cache key."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def prior_path(config: PriorConfig, directory: str | os.PathLike | None = None) -> Path:
    """Where the prior for ``config`` is cached."""
    root = Path(directory) if directory is not None else cache_dir() / "priors"
    return root / f"dcgan-{_key(config)}.pt"


def _digest(states: dict[str, dict[str, torch.Tensor]]) -> str:
    h = hashlib.sha256()
    for part in sorted(states):
        for name in sorted(states[part]):
            h.update(f"{part}.{name}".encode())
            h.update(states[part][name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_prior(prior: ImagePrior, path: str | os.PathLike) -> Path:
    """Write ``prior`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    states = {"generator": prior.generator.state_dict(), "discriminator": prior.discriminator.state_dict()}
    record = {"format": FORMAT, "config": prior.config.as_dict(), "states": states, "sha256": _digest(states),
              "seconds": prior.seconds, "images_per_second": prior.images_per_second,
              "history": json.dumps(prior.history)}
    with atomic_path(path) as tmp:
        torch.save(record, tmp)
    return path


def load_prior(path: str | os.PathLike, config: PriorConfig) -> ImagePrior:
    """Read a cached prior, checking its format, settings and checksum; raises :class:`PriorCheckpointError`."""
    path = Path(path)
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file is a corrupt checkpoint
        raise PriorCheckpointError(f"{path} is not a readable prior checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise PriorCheckpointError(f"{path} is not a neurobook prior checkpoint (format {FORMAT})")
    if record.get("config") != config.as_dict():
        raise PriorCheckpointError(f"{path} was trained with {record.get('config')}, not {config.as_dict()}")
    states = record.get("states", {})
    if _digest(states) != record.get("sha256"):
        raise PriorCheckpointError(f"{path}: the weights do not match their checksum (corrupt file)")
    gen = Generator(config.z_dim, config.size, config.width, config.arch)
    disc = Discriminator(config.size, config.width, config.arch)
    try:
        gen.load_state_dict(states["generator"])
        disc.load_state_dict(states["discriminator"])
    except (KeyError, RuntimeError) as err:
        raise PriorCheckpointError(f"{path}: weights do not fit the architecture ({err})") from err
    return ImagePrior(gen.eval(), disc.eval(), config, float(record["seconds"]), float(record["images_per_second"]),
                      json.loads(record["history"]), from_cache=True)


def load_or_train_prior(
    config: PriorConfig,
    patches: Callable[[], np.ndarray],
    *,
    device: str | torch.device = "auto",
    directory: str | os.PathLike | None = None,
    retrain: bool = False,
) -> ImagePrior:
    """The cached prior for ``config`` if a valid one exists, else train it on ``patches()`` and cache it.

    A corrupt, unreadable or mismatched checkpoint is reported with a warning and replaced, never used.
    """
    if not isinstance(config, PriorConfig):
        raise TypeError(f"config must be a PriorConfig, got {type(config).__name__}")
    path = prior_path(config, directory)
    if path.exists() and not retrain:
        try:
            return load_prior(path, config)
        except PriorCheckpointError as err:
            warnings.warn(f"retraining the image prior: {err}", stacklevel=2)
    prior = train_prior(patches(), config, device=device)
    save_prior(prior, path)
    return prior
