"""The frozen preferred-image labeller on simulated cells it was never tuned on (and a population it must fail)."""

from __future__ import annotations

from neurobook.evaluation import labeller_holdout


def test_frozen_labeller_on_a_held_out_population():
    table = labeller_holdout(per_type=15)  # the chapter's own run uses 25 per type; 15 keeps the suite in budget
    assert set(table.index) == {"gabor", "complex", "dog", "texture"} and (table["cells"] == 15).all()
    assert (table["share labelled as its type"] >= 0.8).all()
    assert (table["Wilson 95% low"] >= 0.65).all()


def test_labeller_holdout_can_fail():
    low_frequency = labeller_holdout(per_type=10, gabor_cycles=(0.4, 0.8))  # under one cycle: blobs, not Gabors
    assert low_frequency.loc["gabor", "share labelled as its type"] < 0.8
