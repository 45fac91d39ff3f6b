"""Behavioural state in the encoding models: a gain modulator and an eye-position shifter.

After Sinz et al. 2018 (NeurIPS, "Stimulus domain transfer in recurrent models for large scale cortical population
prediction on video") and neuralpredictors' ``MLPModulator`` / ``MLPShifter``. A :class:`BehaviorModel` wraps an
encoding model and reads per-trial arrays besides the image (its ``trial_inputs``, named like the arrays in
``data.meta``): ``behavior`` (n_trials, 3: pupil dilation, its derivative, running speed) for the modulator and
``pupil_center`` (n_trials, 2) for the shifter. They are given in data units and standardized inside the model
with the training tier's per-column mean and std (set by :func:`neurobook.train.fit`). A trial input left out
means the mean state (zeros after standardization), so ``forward(images)`` and ``forward_standardized(x)`` (the
inversion tools) give the responses at the animal's mean behaviour and mean eye position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int
from neurobook.models.encoder import EncodingModel, ImageModel, output_nonlinearity
from neurobook.models.readouts import GaussianReadout

__all__ = ["TRIAL_INPUT_HELP", "BehaviorModel", "Modulator", "Shifter", "with_behavior"]

TRIAL_INPUT_HELP = {
    "behavior": "the behaviour on each trial: pupil dilation, its derivative, running speed in Lurz 2020",
    "pupil_center": "the pupil position (x, y) in the eye-tracking camera on each trial",
}
"""What each trial input holds (used in error messages)."""


def _hidden(hidden: int | Sequence[int]) -> tuple[int, ...]:
    sizes = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    for h in sizes:
        check_positive_int("hidden layer size", h)
    return sizes


def _mlp(n_inputs: int, hidden: tuple[int, ...], n_outputs: int, activation: type[nn.Module]) -> nn.Sequential:
    """Linear + activation per hidden layer, then a zero-initialized linear layer (output 0 at initialization)."""
    layers: list[nn.Module] = []
    prev = n_inputs
    for h in hidden:
        layers += [nn.Linear(prev, h), activation()]
        prev = h
    last = nn.Linear(prev, n_outputs)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class Modulator(nn.Module):
    """Per-neuron multiplicative gain from the standardized behaviour vector (Sinz et al. 2018).

    ``gain_n(b) = elu(W_2 relu(W_1 b + c_1) + c_2)_n + 1 > 0``, with ``b`` the standardized behaviour; the rate is
    ``r_n = gain_n(b) f_n(image)``. The last layer starts at zero, so the gain is exactly 1 at initialization and
    the wrapped model's predictions are unchanged until training moves it. (neuralpredictors' ``MLPModulator``,
    with the gain applied to the rate.)

    Args:
        n_inputs: behaviour variables per trial (3 in Lurz 2020).
        n_neurons: number of neurons.
        hidden: hidden layer size(s); ``()`` for a linear map.
    """

    def __init__(self, n_inputs: int, n_neurons: int, hidden: int | Sequence[int] = 10) -> None:
        super().__init__()
        self.n_inputs = check_positive_int("n_inputs", n_inputs)
        self.n_neurons = check_positive_int("n_neurons", n_neurons)
        self.mlp = _mlp(n_inputs, _hidden(hidden), n_neurons, nn.ReLU)

    def forward(self, behavior: torch.Tensor) -> torch.Tensor:
        """Standardized behaviour (B, n_inputs) -> gain (B, n_neurons)."""
        return F.elu(self.mlp(behavior)) + 1.0


class Shifter(nn.Module):
    """Shift (dx, dy) of every neuron's readout position from the standardized pupil position (Sinz et al. 2018).

    ``shift(p) = tanh(W_2 tanh(W_1 p + c_1) + c_2)``, in grid units of the Gaussian readout ([-1, 1] spans the
    image). Zero shift at initialization (last layer zero). (neuralpredictors' ``MLPShifter``.)

    Args:
        n_inputs: eye-position variables per trial (2: x, y).
        hidden: hidden layer size(s); ``()`` for a linear map.
    """

    def __init__(self, n_inputs: int = 2, hidden: int | Sequence[int] = 5) -> None:
        super().__init__()
        self.n_inputs = check_positive_int("n_inputs", n_inputs)
        self.mlp = _mlp(n_inputs, _hidden(hidden), 2, nn.Tanh)

    def forward(self, pupil_center: torch.Tensor) -> torch.Tensor:
        """Standardized pupil position (B, n_inputs) -> shift (B, 2) in grid units."""
        return torch.tanh(self.mlp(pupil_center))


class BehaviorModel(ImageModel):
    """An encoding model whose rates are gain-modulated by behaviour and whose readout follows the eye.

    ``r_n(image, b, p) = gain_n(b) * f(readout_n(core(image), shift(p)))``: :class:`Modulator` on ``behavior``,
    :class:`Shifter` on ``pupil_center`` (the shifter needs a :class:`GaussianReadout`). Input standardization,
    output scale, bias initialization and the regularizer are the wrapped model's (its buffers are used, not
    copies). ``forward(images, behavior=..., pupil_center=...)`` takes the trial inputs as tensors (B, k) in data
    units; a missing one is the mean state.

    Args:
        model: the image model to wrap (an :class:`EncodingModel`; with ``modulator`` alone any ImageModel).
        modulator: add the behavioural gain (reads ``behavior``).
        shifter: add the eye-position shifter (reads ``pupil_center``).
        n_behavior: columns of ``behavior``.
        modulator_hidden, shifter_hidden: hidden layer sizes of the two MLPs.
    """

    def __init__(self, model: ImageModel, *, modulator: bool = True, shifter: bool = True, n_behavior: int = 3,
                 modulator_hidden: int | Sequence[int] = 10, shifter_hidden: int | Sequence[int] = 5) -> None:
        if not isinstance(model, ImageModel):
            raise TypeError(f"model must be a neurobook ImageModel (e.g. from build_model), got {type(model).__name__}")
        if getattr(model, "trial_inputs", ()):
            raise ValueError(f"the model already reads trial inputs {model.trial_inputs}; wrap the plain model once")
        if not (modulator or shifter):
            raise ValueError("BehaviorModel needs modulator=True, shifter=True or both; otherwise use the model alone")
        readout = getattr(model, "readout", None)
        if shifter and not (isinstance(model, EncodingModel) and isinstance(readout, GaussianReadout)):
            raise ValueError(
                "the shifter moves each neuron's readout position with the eye, so it needs the gaussian readout "
                f"(build_model('cnn_gaussian', ...)); this model has a {type(readout or model).__name__}. "
                "Use shifter=False for the behavioural modulator alone.")
        super().__init__()
        for name in ("input_mean", "input_std", "output_scale"):  # the wrapped model's buffers are used instead
            del self._buffers[name]
        self.model = model
        self.image_shape = tuple(model.image_shape)
        self.n_neurons = int(model.n_neurons)
        self.in_channels = int(getattr(model, "in_channels", 1))
        self.nonlinearity = model.nonlinearity
        sizes: dict[str, int] = {}
        self.modulator = Modulator(n_behavior, self.n_neurons, modulator_hidden) if modulator else None
        if modulator:
            sizes["behavior"] = check_positive_int("n_behavior", n_behavior)
        self.shifter = Shifter(2, shifter_hidden) if shifter else None
        if shifter:
            sizes["pupil_center"] = 2
        self._sizes = sizes
        for name, k in sizes.items():
            self.register_buffer(f"{name}_mean", torch.zeros(k))
            self.register_buffer(f"{name}_std", torch.ones(k))

    # --- the wrapped model's normalization -------------------------------------------------------------------
    @property
    def input_mean(self) -> torch.Tensor:
        return self.model.input_mean

    @property
    def input_std(self) -> torch.Tensor:
        return self.model.input_std

    @property
    def output_scale(self) -> torch.Tensor:
        return self.model.output_scale

    def set_input_stats(self, mean: float, std: float) -> None:
        self.model.set_input_stats(mean, std)

    def set_output_scale(self, scale: torch.Tensor) -> None:
        self.model.set_output_scale(scale)

    def initialize_bias(self, mean_response: torch.Tensor) -> None:
        """The wrapped model's biases (the gain is 1 at initialization, so this predicts the mean response)."""
        self.model.initialize_bias(mean_response)

    def output_bias(self) -> nn.Parameter:
        return self.model.output_bias()

    def regularizer(self) -> torch.Tensor:
        return self.model.regularizer()

    # --- trial inputs ----------------------------------------------------------------------------------------
    @property
    def trial_inputs(self) -> tuple[str, ...]:
        """Names of the per-trial meta arrays this model reads."""
        return tuple(self._sizes)

    @property
    def trial_input_sizes(self) -> dict[str, int]:
        """Columns ``k`` of each trial input (n_trials, k)."""
        return dict(self._sizes)

    def set_trial_input_stats(self, name: str, mean, std) -> None:
        """Store the training tier's per-column mean and std (k,) of trial input ``name``."""
        if name not in self._sizes:
            raise ValueError(f"{name!r} is not a trial input of this model; it reads {self.trial_inputs}")
        buf_mean, buf_std = getattr(self, f"{name}_mean"), getattr(self, f"{name}_std")
        mean = torch.as_tensor(mean, dtype=buf_mean.dtype).flatten()
        std = torch.as_tensor(std, dtype=buf_std.dtype).flatten()
        k = self._sizes[name]
        if mean.shape != (k,) or std.shape != (k,):
            raise ValueError(f"{name} mean and std must have shape ({k},); got {tuple(mean.shape)}, {tuple(std.shape)}")
        if not (bool(torch.isfinite(mean).all()) and bool((std > 0).all()) and bool(torch.isfinite(std).all())):
            raise ValueError(f"{name}: mean must be finite and std > 0 per column; got mean {mean.tolist()}, "
                             f"std {std.tolist()} (use std 1 for a constant column)")
        buf_mean.copy_(mean)
        buf_std.copy_(std)

    def standardized_trial_inputs(self, trial_inputs: Mapping[str, torch.Tensor],
                                  batch_size: int) -> dict[str, torch.Tensor]:
        """Trial inputs in data units (B, k) -> standardized (B, k); a missing one is zeros (the mean state)."""
        unknown = sorted(set(trial_inputs) - set(self._sizes))
        if unknown:
            raise ValueError(f"{type(self).__name__} reads the trial inputs {self.trial_inputs}; got unknown "
                             f"{unknown}")
        out = {}
        for name, k in self._sizes.items():
            mean, std = getattr(self, f"{name}_mean"), getattr(self, f"{name}_std")
            value = trial_inputs.get(name)
            if value is None:
                out[name] = torch.zeros(batch_size, k, device=mean.device, dtype=mean.dtype)
                continue
            value = torch.as_tensor(value, device=mean.device, dtype=mean.dtype)
            if tuple(value.shape) != (batch_size, k):
                raise ValueError(f"{name} must be (B={batch_size}, {k}) in data units, one row per image; got "
                                 f"shape {tuple(value.shape)}")
            out[name] = (value - mean) / std
        return out

    # --- forward ---------------------------------------------------------------------------------------------
    def forward(self, images: torch.Tensor, **trial_inputs: torch.Tensor) -> torch.Tensor:
        """Images (B, H, W) in data units and trial inputs (B, k) in data units -> rates (B, n_neurons)."""
        x = self.standardize(self.check_images(images))
        return self.forward_standardized(x, **trial_inputs) * self.output_scale

    def forward_standardized(self, x: torch.Tensor, **trial_inputs: torch.Tensor) -> torch.Tensor:
        """Standardized images (B, C, H, W) or (B, H, W) and trial inputs in data units -> normalized rates."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        z = self.standardized_trial_inputs(trial_inputs, x.shape[0])
        if self.shifter is None:
            rate = self.model.forward_standardized(x)
        else:
            shift = self.shifter(z["pupil_center"])
            rate = output_nonlinearity(self.model.readout(self.model.core(x), shift=shift), self.nonlinearity)
        if self.modulator is not None:
            rate = rate * self.modulator(z["behavior"])
        return rate


def with_behavior(model: ImageModel, modulator: bool = True, shifter: bool = True, n_behavior: int = 3,
                  **kwargs) -> BehaviorModel:
    """``model`` with a behavioural gain modulator and/or an eye-position shifter (see :class:`BehaviorModel`).

    ``with_behavior(build_model("cnn_gaussian", shape, n), shifter=False)`` adds the gain alone; kwargs:
    ``modulator_hidden``, ``shifter_hidden``.
    """
    return BehaviorModel(model, modulator=modulator, shifter=shifter, n_behavior=n_behavior, **kwargs)
