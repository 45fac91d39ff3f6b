"""A seed ensemble: the average prediction of several fitted encoding models of the same neurons."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurobook.models.encoder import ImageModel

__all__ = ["EnsembleModel"]


def _member_inputs(member: nn.Module, trial_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    names = getattr(member, "trial_inputs", ())
    return {k: v for k, v in trial_inputs.items() if k in names}


class EnsembleModel(ImageModel):
    """Averages the predictions of fitted members (e.g. one model per training seed).

    Build it from models fitted on the same data: ``EnsembleModel([fit(make(s), data, seed=s).model for s in
    seeds])``. ``forward`` averages the members' rates in data units; ``forward_standardized`` (what the inversion
    tools use) averages ``member.forward_standardized(x) * member.output_scale``, so the ensemble's own
    ``output_scale`` is 1. The members must share image_shape, n_neurons, in_channels and input standardization;
    ``trial_inputs`` is the union of theirs and each member gets only the ones it reads.
    """

    def __init__(self, members: Sequence[ImageModel]) -> None:
        members = list(_checked_members(members))
        first = members[0]
        sizes = _trial_input_sizes(members)
        super().__init__()
        for name in ("input_mean", "input_std"):  # the members' standardization is used instead
            del self._buffers[name]
        self.members = nn.ModuleList(members)
        self.image_shape = tuple(first.image_shape)
        self.n_neurons = int(first.n_neurons)
        self.in_channels = int(first.in_channels)
        self._sizes = sizes
        self._names = tuple(dict.fromkeys(n for m in members for n in getattr(m, "trial_inputs", ())))

    @property
    def input_mean(self) -> torch.Tensor:
        return self.members[0].input_mean

    @property
    def input_std(self) -> torch.Tensor:
        return self.members[0].input_std

    @property
    def trial_inputs(self) -> tuple[str, ...]:
        """The union of the members' trial inputs."""
        return self._names

    @property
    def trial_input_sizes(self) -> dict[str, int]:
        return dict(self._sizes)

    def _check_inputs(self, trial_inputs: dict[str, torch.Tensor]) -> None:
        unknown = sorted(set(trial_inputs) - set(self._names))
        if unknown:
            raise ValueError(f"the ensemble's members read the trial inputs {self._names}; got unknown {unknown}")

    def forward(self, images: torch.Tensor, **trial_inputs: torch.Tensor) -> torch.Tensor:
        """Mean of the members' rates (B, n_neurons) in data units."""
        self._check_inputs(trial_inputs)
        return torch.stack([m(images, **_member_inputs(m, trial_inputs)) for m in self.members]).mean(0)

    def forward_standardized(self, x: torch.Tensor, **trial_inputs: torch.Tensor) -> torch.Tensor:
        """Mean of ``member.forward_standardized(x) * member.output_scale`` (data units; own output_scale is 1)."""
        self._check_inputs(trial_inputs)
        outs = [m.forward_standardized(x, **_member_inputs(m, trial_inputs)) * m.output_scale for m in self.members]
        return torch.stack(outs).mean(0)

    def _not_trainable(self, *args, **kwargs) -> None:
        raise TypeError("an EnsembleModel averages models that are already fitted: fit each member (e.g. one per "
                        "seed) and build the ensemble from them; fit(ensemble) is not supported")

    set_input_stats = _not_trainable
    set_output_scale = _not_trainable
    initialize_bias = _not_trainable


def _checked_members(members: Sequence[ImageModel]) -> list[ImageModel]:
    """The member models, checked to be neurobook models built and standardized for the same data."""
    if isinstance(members, ImageModel):
        raise TypeError("members must be a sequence of models, e.g. EnsembleModel([model_a, model_b])")
    members = list(members)
    if not members:
        raise ValueError("EnsembleModel needs at least one member model")
    for i, m in enumerate(members):
        if not isinstance(m, ImageModel):
            raise TypeError(f"ensemble member {i} must be a neurobook ImageModel, got {type(m).__name__}")
    first = members[0]
    for attr in ("image_shape", "n_neurons", "in_channels"):
        for i, m in enumerate(members[1:], 1):
            if getattr(m, attr) != getattr(first, attr):
                raise ValueError(f"ensemble members must agree on {attr}: member 0 has {getattr(first, attr)}, "
                                 f"member {i} has {getattr(m, attr)}; build every member for the same data")
    for i, m in enumerate(members[1:], 1):
        stats = ("input_mean", "input_std")
        if not all(torch.allclose(getattr(m, a).cpu(), getattr(first, a).cpu()) for a in stats):
            raise ValueError(
                f"ensemble member {i} standardizes images differently from member 0 (input_mean/input_std "
                f"{float(m.input_mean):.4g}/{float(m.input_std):.4g} vs {float(first.input_mean):.4g}/"
                f"{float(first.input_std):.4g}); fit every member on the same training images")
    return members


def _trial_input_sizes(members: Sequence[ImageModel]) -> dict[str, int]:
    """The columns of each per-trial input any member reads; members that read one must agree on its size."""
    sizes: dict[str, int] = {}
    for i, m in enumerate(members):
        for name, k in getattr(m, "trial_input_sizes", {}).items():
            if sizes.setdefault(name, k) != k:
                raise ValueError(f"ensemble member {i} reads {name} with {k} columns, another with {sizes[name]}")
    return sizes
