"""The aims table and the one sentence that judges an aim (neurobook.aims)."""

from __future__ import annotations

import math

import pytest

from neurobook.aims import AIMS, Aim, chapter_aims, verdict

POSITION = Aim("within_position_median_neural", "the median position accuracy", 0.40, fmt="{:.1%}")


def test_met_says_met_with_the_value_and_the_threshold():
    text = verdict(POSITION, 0.452)
    assert text == "**Met**: the median position accuracy is 45.2% (aim: at least 40.0%)."
    assert POSITION.met(0.40) and verdict(POSITION, 0.40).startswith("**Met**")  # "at least" includes the threshold


def test_not_met_says_by_how_much():
    text = verdict(POSITION, 0.351)
    assert text.startswith("**Not met**") and "35.1%" in text and "at least 40.0%" in text and "by 4.9%" in text
    gain = Aim("cnn_over_ln_gain", "the gain", 0.30, fmt="{:+.0%}")
    assert verdict(gain, 0.1).endswith("short of the aim (at least +30%) by 20%.")


def test_nan_or_missing_value_is_not_measured_and_never_met():
    for value in (math.nan, None):
        text = verdict(POSITION, value)
        assert text.startswith("**Not measured**") and "at least 40.0%" in text and "Met" not in text
        assert not POSITION.met(value)


def test_above_excludes_the_threshold_and_interval_is_written():
    above = Aim("neural_minus_logistic_position", "neural minus logistic", 0.0, "above", fmt="{:+.3f}")
    assert not above.met(0.0) and above.met(1e-9)
    assert verdict(above, 0.0).startswith("**Not met**")
    assert verdict(above, 0.02, (0.01, 0.03)) == ("**Met**: neural minus logistic is +0.020 (95% CI +0.010 to +0.030) "
                                                  "(aim: above +0.000).")
    with pytest.raises(ValueError, match="direction"):
        Aim("k", "label", 1.0, "at best")  # type: ignore[arg-type]


def test_at_most_is_met_at_or_below_the_threshold_and_says_by_how_much_it_is_above():
    gap = Aim("slope_gap", "the slope gap", 0.25, "at most")
    assert gap.met(0.25) and gap.met(0.0) and not gap.met(0.26) and not gap.met(float("nan"))
    assert verdict(gap, 0.40) == "**Not met**: the slope gap is 0.40, above the aim (at most 0.25) by 0.15."


def test_every_chapter_aim_is_keyed_by_its_headline_key():
    for chapter, aims in AIMS.items():
        assert chapter_aims(chapter) is aims
        assert all(key == aim.key and aim.target for key, aim in aims.items())
    with pytest.raises(KeyError, match="no aims"):
        chapter_aims("ch99_nothing")


@pytest.mark.parametrize("chapter", sorted(AIMS))
def test_every_aim_is_a_headline_number_its_chapter_writes(chapter):
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "notebooks" / f"{chapter}.py").read_text()
    for key in AIMS[chapter]:
        assert f'"{key}":' in source, f"{chapter} writes no headline {key!r} for its aim"
