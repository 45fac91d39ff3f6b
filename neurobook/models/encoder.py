"""Full encoding models (image -> firing rates) and a factory that builds them by name.

Input normalization is stored *inside* each model as two scalar buffers ``input_mean`` and
``input_std`` (set by :func:`neurobook.train.fit` from the training images). ``forward`` takes images
in data units and standardizes them; ``forward_standardized`` takes images already in standardized
"contrast" units (0 = mean luminance), which is what the inversion tools optimize.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurobook.checks import check_positive_int, check_shape
from neurobook.models.bio import BioCore, parse_components
from neurobook.models.cores import ConvCore, laplacian
from neurobook.models.readouts import FactorizedReadout, GaussianReadout

NONLINEARITIES = ("elu1", "softplus")
MODEL_KINDS = ("cnn_gaussian", "cnn_factorized", "ln")


def output_nonlinearity(x: torch.Tensor, name: str) -> torch.Tensor:
    """Positive output nonlinearity: ``elu(x) + 1`` or ``softplus(x)``."""
    if name == "elu1":
        return F.elu(x) + 1.0
    return F.softplus(x)


def inverse_nonlinearity(rate: torch.Tensor, name: str) -> torch.Tensor:
    """Pre-activation that gives ``rate`` (used to initialize biases at the mean response)."""
    rate = rate.clamp_min(1e-4)
    if name == "elu1":
        return torch.where(rate >= 1, rate - 1, torch.log(rate))
    return torch.log(torch.expm1(rate))


def check_nonlinearity(name: str) -> str:
    if name not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {name!r}")
    return name


def _check_image_shape(image_shape: Sequence[int]) -> tuple[int, int]:
    return check_shape("image_shape", image_shape, "height, width")  # type: ignore[return-value]


class ImageModel(nn.Module):
    """Base class: input standardization buffers, shape checks and bias initialization."""

    image_shape: tuple[int, int]
    n_neurons: int
    nonlinearity: str
    in_channels: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.tensor(0.0))
        self.register_buffer("input_std", torch.tensor(1.0))
        self.register_buffer("output_scale", torch.tensor(1.0))

    def set_input_stats(self, mean: float, std: float) -> None:
        """Store the (scalar) pixel mean and std of the training images."""
        if not std > 0:
            raise ValueError(f"input std must be > 0, got {std}")
        self.input_mean.fill_(float(mean))
        self.input_std.fill_(float(std))

    def set_output_scale(self, scale: torch.Tensor) -> None:
        """Per-neuron response scale (n_neurons,): the network works in normalized units, ``forward`` in data units.

        Deconvolved calcium responses differ in scale by orders of magnitude between neurons; training on
        responses divided by their standard deviation keeps every neuron's weight in the loss comparable.
        """
        scale = torch.as_tensor(scale, dtype=torch.float32).to(self.input_mean.device)
        if scale.shape != (self.n_neurons,) or not bool((scale > 0).all()):
            raise ValueError(f"output scale must be positive with shape ({self.n_neurons},), got {tuple(scale.shape)}")
        self.output_scale = scale

    def standardize(self, images: torch.Tensor) -> torch.Tensor:
        """Data units -> standardized contrast units."""
        return (images - self.input_mean) / self.input_std

    def check_images(self, images: torch.Tensor) -> torch.Tensor:
        """Validate (B, H, W) or (B, C, H, W) (C = ``in_channels``) and return (B, C, H, W) float."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__} expects a torch.Tensor of images (B, H, W) or (B, C, H, W); "
                f"got {type(images).__name__}"
            )
        h, w = self.image_shape
        c = self.in_channels
        if images.dim() == 3 and c == 1:
            images = images.unsqueeze(1)
        if images.dim() != 4 or images.shape[1] != c or tuple(images.shape[2:]) != (h, w):
            expected = f"(B, {h}, {w}) or (B, 1, {h}, {w})" if c == 1 else f"(B, {c}, {h}, {w}) (channels first)"
            raise ValueError(
                f"{type(self).__name__} was built for images {expected}; got shape {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            images = images.float()
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in data units (B, H, W) or (B, 1, H, W) -> rates (B, n_neurons) in data units."""
        return self.forward_standardized(self.standardize(self.check_images(images))) * self.output_scale

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_selected(self, images: torch.Tensor, neurons: torch.Tensor) -> torch.Tensor:
        """Images in data units (B, ...) and neuron indices (B,) -> (B,): the rate of neuron ``neurons[b]`` to image b
        (``forward(images)[arange(B), neurons]``, computed for those neurons only where the model can)."""
        return self(images)[torch.arange(len(neurons), device=images.device), neurons]

    def forward_standardized_selected(self, x: torch.Tensor, neurons: torch.Tensor) -> torch.Tensor:
        """Standardized images (B, ...) and neuron indices (B,) -> (B,) rates; subclasses may skip other neurons."""
        return self.forward_standardized(x)[torch.arange(len(neurons), device=x.device), neurons]

    def initialize_bias(self, mean_response: torch.Tensor) -> None:
        """Set output biases so that a zero drive predicts each neuron's mean response."""
        bias = self.output_bias()
        with torch.no_grad():
            target = torch.as_tensor(mean_response, dtype=bias.dtype, device=bias.device)
            if target.shape != bias.shape:
                raise ValueError(
                    f"mean_response must have shape {tuple(bias.shape)}, got {tuple(target.shape)}"
                )
            bias.copy_(inverse_nonlinearity(target, self.nonlinearity))

    def output_bias(self) -> nn.Parameter:
        raise NotImplementedError


class EncodingModel(ImageModel):
    """core -> readout -> positive output nonlinearity.

    Args:
        core: a module mapping (B, C_in, H, W) to (B, C, H, W) with ``out_channels`` and ``regularizer``.
        readout: a module mapping (B, C, H, W) to (B, n_neurons) with ``in_shape`` and ``regularizer``.
        nonlinearity: ``"elu1"`` (elu + 1) or ``"softplus"``.
    """

    def __init__(self, core: nn.Module, readout: nn.Module, nonlinearity: str = "elu1") -> None:
        super().__init__()
        for name, part in (("core", core), ("readout", readout)):
            if not isinstance(part, nn.Module) or not hasattr(part, "regularizer"):
                raise TypeError(
                    f"{name} must be an nn.Module with a regularizer() method, got {type(part).__name__}"
                )
        in_shape = tuple(readout.in_shape)
        if getattr(core, "out_channels", in_shape[0]) != in_shape[0]:
            raise ValueError(f"core gives {core.out_channels} channels but readout expects {in_shape[0]}")
        self.core = core
        self.readout = readout
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self.image_shape = (int(in_shape[1]), int(in_shape[2]))
        self.n_neurons = int(readout.n_neurons)
        self.in_channels = int(getattr(core, "in_channels", 1))

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        """Standardized images (B, 1, H, W) or (B, H, W) -> rates (B, n_neurons)."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return output_nonlinearity(self.readout(self.core(x)), self.nonlinearity)

    def forward_standardized_selected(self, x: torch.Tensor, neurons: torch.Tensor) -> torch.Tensor:
        """As :meth:`forward_standardized`, for neuron ``neurons[b]`` on image b only (eval mode: mean positions)."""
        if self.training or not hasattr(self.readout, "forward_selected"):
            return super().forward_standardized_selected(x, neurons)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return output_nonlinearity(self.readout.forward_selected(self.core(x), neurons), self.nonlinearity)

    def forward_selected(self, images: torch.Tensor, neurons: torch.Tensor) -> torch.Tensor:
        """As :meth:`ImageModel.forward_selected`, reading out only the selected neurons."""
        x = self.standardize(self.check_images(images))
        return self.forward_standardized_selected(x, neurons) * self.output_scale.expand(self.n_neurons)[neurons]

    def regularizer(self) -> torch.Tensor:
        return self.core.regularizer() + self.readout.regularizer()

    def output_bias(self) -> nn.Parameter:
        return self.readout.bias


class LNModel(ImageModel):
    """Linear-nonlinear baseline: one linear filter per neuron, a bias and an output nonlinearity.

    Args:
        image_shape: (H, W).
        n_neurons: number of neurons.
        nonlinearity: ``"elu1"`` or ``"softplus"``.
        gamma_smooth: weight of the Laplacian smoothness penalty ``sum (L * w)^2``.
        gamma_l2: weight of the L2 penalty ``sum w^2``.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_neurons: int,
        nonlinearity: str = "elu1",
        gamma_smooth: float = 1.0,
        gamma_l2: float = 0.01,
    ) -> None:
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.n_neurons = check_positive_int("n_neurons", n_neurons)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self.gamma_smooth = float(gamma_smooth)
        self.gamma_l2 = float(gamma_l2)
        h, w = self.image_shape
        self.weight = nn.Parameter(torch.randn(n_neurons, h * w) * 1e-3)
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    @property
    def filters(self) -> torch.Tensor:
        """The linear filters as images (n_neurons, H, W)."""
        return self.weight.view(self.n_neurons, *self.image_shape)

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        return output_nonlinearity(F.linear(x.flatten(1), self.weight, self.bias), self.nonlinearity)

    def regularizer(self) -> torch.Tensor:
        """``gamma_smooth * sum (Laplacian * w)^2 + gamma_l2 * sum w^2``."""
        lap = laplacian(self.filters)
        return self.gamma_smooth * lap.pow(2).sum() + self.gamma_l2 * self.weight.pow(2).sum()

    def output_bias(self) -> nn.Parameter:
        return self.bias


def _kwarg_names(*callables) -> set[str]:
    names: set[str] = set()
    for fn in callables:
        names |= {p for p in inspect.signature(fn).parameters if p not in ("self", "in_shape", "n_neurons")}
    return names


def build_model(kind: str, image_shape: Sequence[int], n_neurons: int, components: str | Sequence[str] = (),
                **kwargs) -> ImageModel:
    """Build ``"cnn_gaussian"``, ``"cnn_factorized"`` or ``"ln"``; kwargs go to the matching parts.

    ``components`` (CNNs only) switches on any of the biologically motivated parts of
    :class:`neurobook.models.bio.BioCore`: ``"center_surround"``, ``"local_rf"``, ``"normalization"``,
    ``"magnification"`` (a sequence or a comma-separated string; ``"all"`` for every one). With no components
    the model is exactly Chapter 1's CNN. Extra BioCore arguments: ``dog_channels``, ``local_kernel``,
    ``local_depthwise``, ``gamma_local``.

    For the CNNs, kwargs may name any argument of :class:`ConvCore` (``hidden_channels``, ``layers``,
    ``input_kernel``, ``hidden_kernel``, ``gamma_input``, ``gamma_hidden``, ``momentum``, and
    ``in_channels``: 3 for colour images, not with components), of the readout, and ``nonlinearity``. For
    ``"ln"``: those of :class:`LNModel`.

    Behaviour and eye position are added by wrapping the built model rather than by more arguments here:
    ``neurobook.models.with_behavior(build_model("cnn_gaussian", ...), modulator=True, shifter=True)`` gives a
    :class:`~neurobook.models.behavior.BehaviorModel` (a per-neuron gain from ``data.meta["behavior"]`` and a
    readout shift from ``data.meta["pupil_center"]``, Sinz et al. 2018); the shifter needs ``"cnn_gaussian"``.
    :func:`neurobook.train.fit` reads those arrays itself. A seed ensemble: ``EnsembleModel([model_0, model_1, ...])``.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
    image_shape = _check_image_shape(image_shape)
    components = parse_components(components)
    if components and kind == "ln":
        raise ValueError(f"components {components} need a CNN kind ('cnn_gaussian' or 'cnn_factorized'), not 'ln'")
    if kind == "ln":
        valid = _kwarg_names(LNModel.__init__) - {"image_shape"}
    else:
        readout_cls = GaussianReadout if kind == "cnn_gaussian" else FactorizedReadout
        core_names = _kwarg_names(ConvCore.__init__)
        readout_names = _kwarg_names(readout_cls.__init__)
        valid = core_names | readout_names | {"nonlinearity", "control_seed"}  # control_seed: used by controls only
        if components:
            bio_names = {"dog_channels", "local_kernel", "local_depthwise", "gamma_local", "control_seed"}
            valid = valid | bio_names
    unknown = set(kwargs) - valid
    if unknown:
        raise ValueError(
            f"unknown argument(s) {sorted(unknown)} for kind {kind!r}; valid arguments: {sorted(valid)}"
        )
    if kind == "ln":
        return LNModel(image_shape, n_neurons, **kwargs)
    core_kwargs = {k: v for k, v in kwargs.items() if k in core_names}
    if not components:
        kwargs.pop("control_seed", None)
    if components:
        if core_kwargs.get("in_channels", 1) != 1:
            raise ValueError("the biologically motivated components work on grayscale images (in_channels=1)")
        extra = {k: v for k, v in kwargs.items() if k in bio_names}
        core_kwargs.pop("in_channels", None)
        core = BioCore(image_shape, components, **extra, **core_kwargs)
    else:
        core = ConvCore(**core_kwargs)
    readout_kwargs = {k: v for k, v in kwargs.items() if k in readout_names}
    readout = readout_cls((core.out_channels, *image_shape), n_neurons, **readout_kwargs)
    return EncodingModel(core, readout, nonlinearity=kwargs.get("nonlinearity", "elu1"))
