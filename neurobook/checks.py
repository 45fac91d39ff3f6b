"""Argument checks shared by the whole package, so that bad input fails with a message that says what to pass."""

from __future__ import annotations

from collections.abc import Sequence


def check_shape(name: str, value: Sequence[int], labels: str) -> tuple[int, ...]:
    """A tuple of positive ints with one entry per comma-separated label in ``labels`` (e.g. ``"C, H, W"``)."""
    n_dims = len(labels.split(","))
    try:
        shape = tuple(int(s) for s in value)
    except TypeError as err:
        raise TypeError(f"{name} must be a ({labels}) tuple of ints, got {value!r}") from err
    if len(shape) != n_dims or min(shape) < 1:
        raise ValueError(f"{name} must be ({labels}) with positive sizes, got {value!r}")
    return shape


def check_positive_int(name: str, value: object) -> int:
    """A positive int (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
