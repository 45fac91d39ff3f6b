"""Exercise checks for the course format: a student's answer against the reference, with a message that helps.

An exercise in a chapter is three parts: a markdown task (a ``{exercise}`` directive), a solution code cell whose
answer lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers; the answer's variable is
set to ``None`` above the markers, so a student notebook with the solution removed still runs up to the check), and a
check cell that calls :func:`check_answer` or :func:`check_that`.

A failed check raises :class:`ExerciseCheckFailed`, which IPython shows as its message alone (no traceback from
inside the package), so the student reads what to do, not where the check lives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class ExerciseCheckFailed(AssertionError):
    """A student's answer does not match the reference; the message says what to look at."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class ExerciseNotDone(ExerciseCheckFailed):
    """The answer's variable is still ``None``: the solution cell has not been written yet."""


def check_answer(name: str, value: Any, reference: Any, *, rtol: float = 1e-3, atol: float = 1e-6,
                 hint: str = "") -> None:
    """Check a numeric answer (a number or an array) against the reference value.

    ``name`` is the variable the student fills in; ``hint`` is added to every failure message.
    """
    suffix = f" Hint: {hint}" if hint else ""
    if value is None:
        raise ExerciseNotDone(f"`{name}` is still None: write the code in the cell above that sets it.{suffix}")
    try:
        got = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ExerciseCheckFailed(
            f"`{name}` should be a number or an array of numbers, got {type(value).__name__}.{suffix}") from None
    want = np.asarray(reference, dtype=float)
    if got.shape != want.shape:
        raise ExerciseCheckFailed(f"`{name}` has shape {got.shape}, the reference has shape {want.shape}.{suffix}")
    if not np.all(np.isfinite(got) == np.isfinite(want)):
        raise ExerciseCheckFailed(f"`{name}` has NaN or infinite values where the reference has none "
                                  f"(or the other way round).{suffix}")
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        worst = float(np.nanmax(np.abs(got - want)))
        shown = f"{float(got):.4g} vs the reference {float(want):.4g}" if got.ndim == 0 else \
            f"largest difference {worst:.3g} (tolerance rtol={rtol:g}, atol={atol:g})"
        raise ExerciseCheckFailed(f"`{name}` does not match: {shown}.{suffix}")
    print(f"✓ `{name}` matches the reference.")


def check_that(condition: bool | Callable[[], bool], message: str, *, name: str | None = None,
               value: Any = ...) -> None:
    """Check a condition about the student's result; ``message`` explains what should hold and why.

    Pass ``name`` and ``value`` to report a still-``None`` answer as not done yet; pass ``condition`` as a
    function (``lambda: ...``) when it cannot be evaluated on a ``None`` answer.
    """
    if name is not None and value is None:
        raise ExerciseNotDone(f"`{name}` is still None: write the code in the cell above that sets it.")
    if callable(condition):
        try:
            condition = condition()
        except Exception as err:  # noqa: BLE001  (a wrong type or shape from the student: a message, not a traceback)
            raise ExerciseCheckFailed(f"{message} (the check could not be evaluated: "
                                      f"{type(err).__name__}: {err})") from None
    if not bool(condition):
        raise ExerciseCheckFailed(message)
    print("✓ check passed.")
