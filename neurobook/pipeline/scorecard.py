"""Build the scorecard: for each chapter, the paper's claims beside our numbers, with the data named."""

from __future__ import annotations

from pathlib import Path

from neurobook.data.registry import get_dataset
from neurobook.files import write_text
from neurobook.pipeline.chapters import CHAPTERS, GENERATED_DIR, Chapter
from neurobook.results import load_results


def _format(value, fmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):  # an aim's verdict
        return "met" if value else "not met"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:.0%}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def chapter_rows(chapter: Chapter, results_dir: Path = GENERATED_DIR) -> list[str]:
    """Markdown table rows for one chapter."""
    results = results_dir / f"{chapter.slug}.results.json"
    link = f"[{chapter.title}](_generated/{chapter.slug}.ipynb)" if chapter.written else chapter.title
    if not chapter.written:
        return [f"| {link} | {chapter.paper} | — | not yet written | — |"]
    if not results.exists():
        return [f"| {link} | {chapter.paper} | — | not run yet (`neurobook run {chapter.slug}`) | — |"]
    rec = load_results(results)
    data = rec["data"]
    data_txt = f"{data['name']} ({data['kind']}); profile {rec['profile']}, {rec['device']}"
    rows = []
    for claim in chapter.claims:
        ours = _format(rec["headline"].get(claim.key), claim.fmt)
        rows.append(f"| {link} | {claim.label} | {claim.paper} | {ours} | {data_txt} |")
    return rows


def scorecard_markdown(results_dir: Path = GENERATED_DIR) -> str:
    header = "| chapter | claim | paper | ours | data, profile, device |\n|---|---|---|---|---|"
    rows = [row for chapter in CHAPTERS.values() for row in chapter_rows(chapter, results_dir)]
    datasets = sorted({d for c in CHAPTERS.values() for d in c.datasets})
    sources = "\n".join(f"- `{d}`: {get_dataset(d).title} — {get_dataset(d).license}" for d in datasets)
    return f"{header}\n" + "\n".join(rows) + "\n\n**Data sets used by the chapters**\n\n" + sources + "\n"


def write_scorecard(directory: Path = GENERATED_DIR, results_dir: Path | None = None) -> Path:
    """Write ``scorecard_table.md`` (included by ``book/scorecard.md``) from the results JSONs."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "scorecard_table.md"
    return write_text(path, scorecard_markdown(results_dir or directory))
