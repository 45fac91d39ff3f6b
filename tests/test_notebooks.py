"""Every written chapter runs end to end under papermill in the quick profile and writes valid results."""

from __future__ import annotations

import json

import pytest

from neurobook.pipeline.chapters import CHAPTERS, written_chapters
from neurobook.pipeline.run import run_chapter
from neurobook.results import load_results

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("chapter", written_chapters(), ids=lambda c: c.slug)
def test_chapter_runs_in_quick_profile(quick_book, chapter):
    generated = quick_book / "book" / "_generated"
    executed = generated / f"{chapter.slug}.ipynb"
    nb = json.loads(executed.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    record = load_results(generated / f"{chapter.slug}.results.json")
    assert record["profile"] == "quick" and record["data"]["kind"] in ("real", "simulated")
    for claim in chapter.claims:
        assert claim.key in record["headline"], f"{chapter.slug} results lack {claim.key}"
    # the rendered page names its data: the notebook prints the data set it ran on
    text = json.dumps(nb)
    assert "**Data:**" in text and record["data"]["name"] in text


def test_scorecard_shows_our_numbers(quick_book):
    table = (quick_book / "book" / "_generated" / "scorecard_table.md").read_text()
    assert "15% (macaque V1)" in table and "profile quick" in table
    assert table.count("not yet written") == len(CHAPTERS) - len(written_chapters())


def test_rerun_with_the_same_seed_reproduces_the_numbers(quick_book, tmp_path):
    """Chapter 1 run twice in the quick profile on the CPU with one seed: identical results (timings aside)."""
    slug = "ch01_v1_encoding"
    first_path = quick_book / "book" / "_generated" / f"{slug}.results.json"
    if load_results(first_path)["device"] != "cpu":  # the suite's book ran on a GPU: make a CPU run of our own
        run_chapter(slug, {"profile": "quick", "device": "cpu"}, force=True, output_dir=tmp_path / "a", log=False)
        first_path = tmp_path / "a" / f"{slug}.results.json"
    run_chapter(slug, {"profile": "quick", "device": "cpu"}, force=True, output_dir=tmp_path, log=False)
    first = load_results(first_path)
    second = load_results(tmp_path / f"{slug}.results.json")
    assert first["device"] == second["device"] == "cpu"
    timing = [k for k in first["headline"] if "second" in k]
    assert timing, "the results should carry their timings (excluded from the comparison)"
    strip = lambda h: {k: v for k, v in h.items() if k not in timing}  # noqa: E731
    assert strip(second["headline"]) == strip(first["headline"])
