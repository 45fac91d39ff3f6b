"""Loader for Lurz et al. 2021 mouse V1 (``lurz2020_mouse_v1``).

Local layout: one npz, ``static20457-5-9-preproc0.npz``, merged from the authors' per-trial file tree on GIN
(``prepare_from_source`` builds it from a download). License CC BY-NC-ND 4.0: never redistributed by neurobook.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from neurobook.checks import check_positive_int
from neurobook.data.fetch import ChecksumError, data_file, download
from neurobook.data.registry import get_dataset
from neurobook.data.types import StimulusResponseData
from neurobook.files import atomic_path

NAME = "lurz2020_mouse_v1"
FILE = "static20457-5-9-preproc0.npz"
N_TRIALS, N_NEURONS, HEIGHT, WIDTH = 5993, 5335, 36, 64


def load_lurz2020(data_dir: str | os.PathLike | None = None, downsample: int = 1) -> StimulusResponseData:
    """Load images, responses, tiers and repeat ids; ``downsample`` averages ``k x k`` pixel blocks.

    Images are returned in their stored 0..255 range as float32; responses are deconvolved calcium activity.
    """
    check_positive_int("downsample", downsample)
    if HEIGHT % downsample or WIDTH % downsample:
        raise ValueError(f"downsample must be a positive int dividing 36 and 64 (1, 2 or 4); got {downsample!r}")
    path = data_file(NAME, FILE, data_dir, prepare=prepare_from_source)
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in ("images", "responses", "trials_tiers", "trials_frame_image_id",
                                        "neurons_unit_ids", "behavior", "pupil_center",
                                        "neurons_cell_motor_coordinates")}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise ChecksumError(f"{path} could not be read as the Lurz 2020 npz ({err}); download it again") from err
    images = arrays["images"]
    if images.shape != (N_TRIALS, HEIGHT, WIDTH) or arrays["responses"].shape != (N_TRIALS, N_NEURONS):
        raise ValueError(f"{path}: unexpected shapes {images.shape}, {arrays['responses'].shape}")
    images = images.astype(np.float32)
    if downsample > 1:
        k = downsample
        images = images.reshape(N_TRIALS, HEIGHT // k, k, WIDTH // k, k).mean(axis=(2, 4))
    return StimulusResponseData(
        images=images,
        responses=arrays["responses"].astype(np.float32),
        tiers=arrays["trials_tiers"],
        image_ids=arrays["trials_frame_image_id"],
        neuron_ids=arrays["neurons_unit_ids"],
        name=NAME,
        meta={
            "species": "mouse", "area": "V1", "layer": "L2/3", "recording": "two-photon, deconvolved",
            "behavior": arrays["behavior"], "pupil_center": arrays["pupil_center"],
            "neuron_xyz": arrays["neurons_cell_motor_coordinates"],
            "license": get_dataset(NAME).license, "downsample": downsample,
        },
    )


def load_lurz2020_images(data_dir: str | os.PathLike | None = None, tiers: tuple[str, ...] = ("train",)) -> np.ndarray:
    """The distinct stimulus images of ``tiers`` (n, 36, 64) uint8, in order of first presentation; no responses
    are read (for image priors and other uses that need only the pictures)."""
    unknown = set(tiers) - {"train", "validation", "test"}
    if unknown or not tiers:
        raise ValueError(f"tiers must be a non-empty subset of ('train', 'validation', 'test'); got {tiers!r}")
    path = data_file(NAME, FILE, data_dir, prepare=prepare_from_source)
    try:
        with np.load(path) as z:
            images, tier, ids = z["images"], z["trials_tiers"].astype(str), z["trials_frame_image_id"]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise ChecksumError(f"{path} could not be read as the Lurz 2020 npz ({err}); download it again") from err
    if images.shape != (N_TRIALS, HEIGHT, WIDTH):
        raise ValueError(f"{path}: unexpected image shape {images.shape}")
    keep = np.flatnonzero(np.isin(tier, tiers))
    _, first = np.unique(ids[keep], return_index=True)
    return images[keep[np.sort(first)]].astype(np.uint8)


def merge_file_tree(tree: Path, out: Path) -> Path:
    """Merge the authors' per-trial file tree (``data/images/0.npy``, ``meta/trials/*.npy`` ...) into one npz.

    Writes to a temporary file first and renames it, so an interrupted merge leaves nothing behind.
    """
    tree = Path(tree)
    n = len(list((tree / "data" / "images").glob("*.npy")))
    if n == 0:
        raise FileNotFoundError(f"{tree} is not the Lurz 2020 file tree (no data/images/*.npy)")
    arrays: dict[str, np.ndarray] = {}
    for group, key in (("images", "images"), ("responses", "responses"), ("behavior", "behavior"),
                       ("pupil_center", "pupil_center")):
        stack = np.stack([np.load(tree / "data" / group / f"{i}.npy") for i in range(n)])
        arrays[key] = stack.squeeze()
    arrays["images"] = arrays["images"].round().clip(0, 255).astype(np.uint8)
    arrays["responses"] = arrays["responses"].astype(np.float16)
    for sub, prefix in (("trials", "trials_"), ("neurons", "neurons_")):
        for f in sorted((tree / "meta" / sub).glob("*.npy")):
            arrays[prefix + f.stem] = np.load(f, allow_pickle=False)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no ".npz" to the name
        np.savez_compressed(f, **arrays)
    return out


def prepare_from_source(root: Path, progress: bool = True) -> Path:
    """Download the GIN archive into ``root`` and merge it into the local npz layout."""
    root = Path(root)
    out = root / FILE
    if out.exists():
        return out
    source = get_dataset(NAME).source
    archive = download(source.archive, root / "source.zip", source.archive_sha256, progress)
    extract = root / "source"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(extract)
    trees = [p.parent.parent for p in extract.rglob("data/images") if p.is_dir()]
    if not trees:
        raise FileNotFoundError(f"{archive} does not hold the expected data/images folder")
    return merge_file_tree(trees[0], out)
