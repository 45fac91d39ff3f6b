"""Published model configurations as :func:`~neurobook.models.build_model` arguments.

``SENSORIUM_2022`` is our reading of the Sensorium 2022 starter kit's baseline for this scan (Willeke et al. 2022;
neuralpredictors ``Stacked2dCore`` + ``FullGaussian2d``): 4 layers x 64 channels, a 9x9 input kernel, depth-separable
7x7 hidden layers, batch-norm momentum 0.9, input Laplacian weight 6.3831, a full-covariance Gaussian readout
(``init_sigma`` 0.1, ``init_mu_range`` 0.3, feature L1 0.0076) whose positions a one-hidden-layer MLP (30 units, tanh)
predicts from the neurons' cortical coordinates, ``elu + 1`` output, on 36x64 images. Ours keeps the input size
through the layers ('same' padding; the kit pads nothing) and regularizes as :class:`~neurobook.models.ConvCore` does.
Its LN model is the same network with a linear core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SENSORIUM_2022", "SENSORIUM_2022_PUBLISHED", "sensorium_options"]

SENSORIUM_2022: dict[str, Any] = {
    "hidden_channels": 64, "layers": 4, "input_kernel": 9, "hidden_kernel": 7, "depth_separable": True,
    "momentum": 0.9, "gamma_input": 6.3831, "gamma_features": 0.0076, "full_covariance": True, "init_sigma": 0.1,
    "init_mu_range": 0.3,
}

# What the starter kit's evaluation notebook reports for this scan (static20457-5-9) on its 100 repeated test
# images: mean over neurons of the correlation to the repeat average, the single-trial correlation and FEVE.
SENSORIUM_2022_PUBLISHED: dict[str, dict[str, float]] = {
    "CNN": {"corr_to_avg": 0.549, "single_trial_corr": 0.302, "feve": 0.297},
    "LN": {"corr_to_avg": 0.365, "single_trial_corr": 0.203, "feve": 0.131},
}


def sensorium_options(neuron_xyz: np.ndarray | None = None, linear: bool = False, **overrides: Any) -> dict[str, Any]:
    """``build_model("cnn_gaussian", ...)`` arguments of the Sensorium 2022 baseline (``linear``: its LN model).

    ``neuron_xyz`` (n_neurons, >= 2): cortical coordinates; their first two columns feed the grid predictor. Without
    them each neuron's position is a free parameter. ``overrides`` replace any entry (e.g. a smaller core on a CPU).
    """
    options = {**SENSORIUM_2022, "linear": bool(linear), **overrides}
    if neuron_xyz is not None:
        xyz = np.asarray(neuron_xyz, dtype=np.float64)
        if xyz.ndim != 2 or xyz.shape[1] < 2:
            raise ValueError(f"neuron_xyz must be (n_neurons, 2 or 3) cortical coordinates, got shape {xyz.shape}")
        options["source_grid"] = xyz[:, :2]
    return options
