"""neurobook.checks: the shared argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from neurobook.checks import check_positive_int


def test_check_positive_int_returns_the_value():
    assert check_positive_int("epochs", 3) == 3


@pytest.mark.parametrize("value", [True, False, 0, -2, 1.0, "3", None])
def test_check_positive_int_refuses_non_positive_ints_and_bools(value):
    with pytest.raises(ValueError, match=r"^n_frames must be a positive int, got "):
        check_positive_int("n_frames", value)


def test_check_positive_int_message_names_the_argument_and_value():
    with pytest.raises(ValueError, match=r"batch_size must be a positive int, got 0$"):
        check_positive_int("batch_size", 0)
    with pytest.raises(ValueError, match=r"hidden must be a positive int, got True$"):
        check_positive_int("hidden", True)


def test_callers_use_it():
    from neurobook.data.retina import history_stack
    from neurobook.data.simulate import pink_noise_images

    with pytest.raises(ValueError, match="n must be a positive int, got True"):
        pink_noise_images(True)
    with pytest.raises(ValueError, match="history must be a positive int, got 0"):
        history_stack(np.zeros((4, 2, 2)), 0)
