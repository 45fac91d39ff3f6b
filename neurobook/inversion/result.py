"""One result type for every preferred-image search: pixel ascent, latent ascent, the GA and CMA-ES."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PreferredImages"]


@dataclass
class PreferredImages:
    """Per neuron the image a search found, the model's response to it, and what the search cost.

    ``curve`` and ``evaluations`` share their first axis: after ``evaluations[t]`` images shown per neuron the
    objective was ``curve[t]`` (gradient ascent: the current image's response, the last row the final image's;
    evolution: the best response so far). One evaluation is one image through the model; a gradient step (its forward
    and backward pass) counts as one. With restarts, the image, response and curve are those of the best restart and
    ``evaluations`` counts every restart.
    """

    method: str  # "pixel ascent", "latent ascent", "genetic algorithm" or "CMA-ES"
    neurons: np.ndarray  # (n,) the model's output column of each image
    images: np.ndarray  # (n, [C,] H, W) in data units: what the model is shown (0..255 for camera images)
    responses: np.ndarray  # (n,) the model's response to each image
    curve: np.ndarray  # (T, n) the objective along the search
    evaluations: np.ndarray  # (T,) images shown per neuron so far, cumulative
    seconds: float = 0.0  # wall time of the search
    standardized: np.ndarray | None = None  # pixel ascent: the images in the model's standardized contrast units
    z: np.ndarray | None = None  # latent searches: (n, z_dim) the latent code of each image
    mean_curve: np.ndarray | None = None  # evolution: (T, n) each generation's mean objective
    restart_images: np.ndarray | None = None  # (n, restarts, [C,] H, W) every restart's image, data units
    restart_responses: np.ndarray | None = None  # (n, restarts)
    restart_z: np.ndarray | None = None  # latent ascent: (n, restarts, z_dim)
    pick_z: np.ndarray | None = None  # evolution with a monitor: (n, z_dim) the last generation's pick
    pick_images: np.ndarray | None = None  # its images, data units
    pick_curve: np.ndarray | None = None  # (T, n) the monitor's response to each generation's pick

    def __post_init__(self) -> None:
        n = len(self.neurons)
        if len(self.images) != n or np.shape(self.responses) != (n,):
            raise ValueError(f"need one image and one response per neuron ({n}); got {len(self.images)} images and "
                             f"responses of shape {np.shape(self.responses)}")
        if np.ndim(self.curve) != 2 or np.shape(self.curve)[1] != n or len(self.evaluations) != len(self.curve):
            raise ValueError(f"curve must be (T, {n}) with one evaluation count per row; got curve "
                             f"{np.shape(self.curve)} and evaluations {np.shape(self.evaluations)}")

    def __len__(self) -> int:
        return len(self.neurons)

    @property
    def n_evaluations(self) -> int:
        """Images shown per neuron over the whole search."""
        return int(self.evaluations[-1])

    @property
    def restarts(self) -> int:
        """Independent starts per neuron."""
        return 1 if self.restart_images is None else int(self.restart_images.shape[1])
