"""Every written chapter runs end to end under papermill in the quick profile and writes valid results."""

from __future__ import annotations

import json

import pytest

from neurobook.pipeline.chapters import CHAPTERS, written_chapters
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
