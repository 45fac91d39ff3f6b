"""A batch of stimulus decoders, one per (animal, variant) slot, evaluated together in one tensor step.

Slots are laid out as ``(n_animals, n_variants)``: a variant is whatever differs between decoders of the same
animal (a regularization strength, a subset of units, a cross-validation fold, a number of training trials).

* ``latent=None``: multinomial logistic regression per slot, ``logits = x W + b`` with ``W`` (units x classes).
* ``latent=D``: the neural decoder. A per-slot **input layer** maps the animal's units into a D-dimensional
  latent space, ``z = x W_in + b_in``; a **classifier** (GELU -> Linear(D, H) -> GELU -> dropout -> Linear(H, C))
  maps latents to classes. The classifier's parameters are shared by all slots (``head="shared"``), by the slots of
  one variant (``head="variant"``, e.g. one per cross-validation fold) or are separate per slot (``head="slot"``).

$$ p(c \\mid x_a) = \\mathrm{softmax}_c\\big(f_\\theta(W_a^\\top x_a + b_a)\\big) $$
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurobook.checks import check_positive_int

__all__ = ["HEADS", "SlotDecoder"]

HEADS = ("shared", "variant", "slot")


class SlotDecoder(nn.Module):
    """Decoders for ``n_animals x n_variants`` slots on inputs of ``n_units`` (padded) features."""

    def __init__(self, n_animals: int, n_variants: int, n_units: int, n_classes: int, *, latent: int | None = None,
                 hidden: int = 128, head: str = "shared", dropout: float = 0.2, input_dropout: float = 0.1,
                 seed: int = 0) -> None:
        super().__init__()
        for name, v in (("n_animals", n_animals), ("n_variants", n_variants), ("n_units", n_units),
                        ("n_classes", n_classes), ("hidden", hidden)):
            check_positive_int(name, v)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if latent is not None:
            check_positive_int("latent (None: logistic regression)", latent)
        self.n_animals, self.n_variants, self.n_units, self.n_classes = n_animals, n_variants, n_units, n_classes
        self.latent, self.head = latent, head
        self.input_dropout = nn.Dropout(input_dropout) if latent is not None else nn.Identity()
        g = torch.Generator().manual_seed(seed)
        out = latent if latent is not None else n_classes
        scale = 1.0 / math.sqrt(n_units) if latent is not None else 0.0
        self.w_in = nn.Parameter(torch.randn(n_animals, n_variants, n_units, out, generator=g) * scale)
        self.b_in = nn.Parameter(torch.zeros(n_animals, n_variants, 1, out))
        if latent is not None:
            ha, hk = {"shared": (1, 1), "variant": (1, n_variants), "slot": (n_animals, n_variants)}[head]
            self.w1 = nn.Parameter(torch.randn(ha, hk, latent, hidden, generator=g) / math.sqrt(latent))
            self.b1 = nn.Parameter(torch.zeros(ha, hk, 1, hidden))
            self.w2 = nn.Parameter(torch.randn(ha, hk, hidden, n_classes, generator=g) / math.sqrt(hidden))
            self.b2 = nn.Parameter(torch.zeros(ha, hk, 1, n_classes))
            self.drop = nn.Dropout(dropout)

    def head_parameters(self) -> list[nn.Parameter]:
        """The classifier's parameters (empty for logistic regression)."""
        return [] if self.latent is None else [self.w1, self.b1, self.w2, self.b2]

    def input_parameters(self) -> list[nn.Parameter]:
        return [self.w_in, self.b_in]

    def forward(self, x: torch.Tensor, unit_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (n_animals, n_variants, batch, n_classes) for inputs ``x`` (n_animals, batch, n_units).

        ``unit_mask`` (n_animals, n_variants, n_units), if given, restricts each slot to a subset of units.
        """
        if x.ndim != 3 or x.shape[0] != self.n_animals or x.shape[2] != self.n_units:
            raise ValueError(f"x must be (n_animals={self.n_animals}, batch, n_units={self.n_units}); "
                             f"got {tuple(x.shape)}")
        w = self.w_in if unit_mask is None else self.w_in * unit_mask[..., None].to(self.w_in.dtype)
        z = torch.einsum("abu,akuo->akbo", self.input_dropout(x), w) + self.b_in
        if self.latent is None:
            return z
        h = torch.nn.functional.gelu(z)
        h = torch.nn.functional.gelu(torch.einsum("akbd,akdh->akbh", h, self._expand(self.w1)) + self.b1)
        return torch.einsum("akbh,akhc->akbc", self.drop(h), self._expand(self.w2)) + self.b2

    def _expand(self, w: torch.Tensor) -> torch.Tensor:
        return w.expand(self.n_animals, self.n_variants, *w.shape[2:])

    def penalty(self, l2: torch.Tensor | float) -> torch.Tensor:
        """Per-slot L2 penalty on the input weights, (n_animals, n_variants); ``l2`` is a scalar or (n_variants,)."""
        return self.w_in.pow(2).sum((2, 3)) * torch.as_tensor(l2, dtype=self.w_in.dtype, device=self.w_in.device)
