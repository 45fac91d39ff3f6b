"""The chapters of the book: which notebook, which data, and what the paper claims (for the scorecard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
GENERATED_DIR = REPO_ROOT / "book" / "_generated"


@dataclass(frozen=True)
class Claim:
    """One headline number of a paper and the key of our matching number in the chapter's results JSON."""

    label: str
    paper: str
    key: str
    fmt: str = "{:.3f}"


@dataclass(frozen=True)
class Chapter:
    slug: str
    title: str
    paper: str
    citation: str
    datasets: tuple[str, ...]
    claims: tuple[Claim, ...] = field(default=())
    written: bool = True
    threads: int = 1  # torch threads per run when a sweep runs points side by side (neurobook sweep)

    @property
    def source(self) -> Path:
        """The jupytext percent-format source of the chapter."""
        return NOTEBOOKS_DIR / f"{self.slug}.py"


CHAPTERS: dict[str, Chapter] = {
    c.slug: c
    for c in [
        Chapter(
            slug="ch01_v1_encoding",
            title="V1 encoding models and network inversion",
            paper="Kindel, Christensen & Zylberberg 2017",
            citation="kindel2019using",
            datasets=("lurz2020_mouse_v1",),
            claims=(
                Claim("neurons within 10% of their predictability limit", "15% (macaque V1)",
                      "share_within_10pct_of_limit", "{:.1%}"),
                Claim("CNN minus LN, mean correlation to average", "CNN better than classical models (qualitative)",
                      "cnn_minus_ln_corr_to_avg", "{:+.3f}"),
                Claim("preferred-image types", "Gabor-like, center-surround, textural",
                      "type_proportions", "{}"),
            ),
        ),
        Chapter("ch02_retina", "Retina: CNNs of ganglion cells", "Yan et al. 2018/2020", "yan2020revealing",
                ("liu2017_salamander_rgc", "chichilnisky_primate_rgc"), written=False),
        Chapter("ch03_decoding", "Decoding mouse visual cortex", "Iqbal et al. 2019", "iqbal2019decoding",
                ("allen_neuropixels_gabor_58mice",), written=False),
        Chapter("ch04_bio_v1", "Biologically constrained V1", "Pogoncheff et al. 2023", "pogoncheff2023explaining",
                ("lurz2020_mouse_v1", "v1_tuning_literature"), written=False),
        Chapter("ch05_generative", "Generative visualization", "Malakhova 2019; Ponce et al. 2019",
                "ponce2019evolving", ("cowley2023_macaque_v4", "kodak24"), written=False),
    ]
}


def get_chapter(slug: str) -> Chapter:
    """Look a chapter up by slug (or by its number, e.g. ``1`` or ``ch01``)."""
    if slug in CHAPTERS:
        return CHAPTERS[slug]
    for c in CHAPTERS.values():
        if slug.isdigit() and c.slug.startswith(f"ch{int(slug):02d}_") or c.slug.startswith(f"{slug}_"):
            return c
    raise KeyError(f"unknown chapter {slug!r}; chapters: {', '.join(CHAPTERS)}")


def written_chapters() -> list[Chapter]:
    return [c for c in CHAPTERS.values() if c.written]
