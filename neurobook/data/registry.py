"""The registry of data sets: what each is, where it comes from, its license, and the checksum of every file.

Checksums live in ``manifests/<name>.sha256`` (``sha256sum`` format, paths relative to the data set's folder),
recorded from the local layout that ``NEUROBOOK_DATA_DIR`` points at (the layout of ``../shared/data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Source:
    """Where users download a data set from, and how it maps onto the local layout.

    ``files`` maps a local relative path to the canonical URL of that exact file (same bytes, so the manifest's
    checksum verifies the download). ``archive`` is a URL whose content must be converted into the local layout
    by the data set's loader module (its ``prepare_from_source`` function); ``archive_sha256`` is None when the
    archive's checksum could not be recorded, and the converted files are then verified against the manifest.
    """

    homepage: str
    files: tuple[tuple[str, str], ...] = ()
    archive: str | None = None
    archive_sha256: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class Dataset:
    """One entry of the registry."""

    name: str
    title: str
    description: str
    license: str
    redistributable: bool
    citation: str  # key in book/references.bib
    source: Source

    @property
    def checksums(self) -> dict[str, str]:
        """Local relative path -> sha256 of every data file."""
        return _manifest(self.name)


@cache
def _manifest(name: str) -> dict[str, str]:
    text = resources.files("neurobook.data").joinpath("manifests", f"{name}.sha256").read_text()
    out = {}
    for line in text.splitlines():
        if line.strip():
            digest, path = line.split(maxsplit=1)
            out[path.strip()] = digest
    return out


_GITHUB_RAW = "https://raw.githubusercontent.com"

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            name="lurz2020_mouse_v1",
            title="Lurz et al. 2021 mouse V1 (two-photon, natural images)",
            description="5335 mouse V1 L2/3 neurons x 5993 trials of 36x64 grayscale ImageNet images; "
            "train/validation/test tiers; 100 test images repeated ~10 times.",
            license="CC BY-NC-ND 4.0 (no redistribution; the authors ask to be contacted before new research use)",
            redistributable=False,
            citation="lurz2021generalization",
            source=Source(
                homepage="https://gin.g-node.org/cajal/Lurz2020",
                archive="https://gin.g-node.org/cajal/Lurz2020/raw/master/static20457-5-9-preproc0.zip",
                notes="The source is a file tree of one .npy per trial; neurobook merges it into one npz.",
            ),
        ),
        Dataset(
            name="cowley2023_macaque_v4",
            title="Cowley et al. 2023 macaque V4",
            description="Macaque V4 spike counts to 112x112 natural and synthetic images, 3 monkeys, 12 sessions.",
            license="GPL-3.0 (repository license)",
            redistributable=True,
            citation="cowley2023compact",
            source=Source(homepage="https://github.com/cowleygroup/V4_compact_models"),
        ),
        Dataset(
            name="liu2017_salamander_rgc",
            title="Liu et al. 2017 salamander retinal ganglion cells",
            description="78 salamander RGCs under spatiotemporal binary checkerboard white noise.",
            license="research use with attribution (G-Node dataset 10.12751/g-node.62b65b; license unverified)",
            redistributable=False,
            citation="liu2017inference",
            source=Source(homepage="https://doi.org/10.12751/g-node.62b65b"),
        ),
        Dataset(
            name="chichilnisky_primate_rgc",
            title="Uzzell & Chichilnisky 2004 primate parasol RGCs",
            description="4 macaque parasol RGCs, full-field binary white noise, 20 min.",
            license="tutorial use only; not to be redistributed",
            redistributable=False,
            citation="uzzell2004precision",
            source=Source(
                homepage="https://github.com/pillowlab/GLMspiketraintutorial_python",
                files=tuple(
                    (f, f"{_GITHUB_RAW}/pillowlab/GLMspiketraintutorial_python/master/data_RGCs/{f}")
                    for f in ("Stim.mat", "stimtimes.mat", "SpTimes.mat")
                ),
            ),
        ),
        Dataset(
            name="allen_neuropixels_gabor_58mice",
            title="Allen Brain Observatory Visual Coding Neuropixels, Gabor stimulus (58 mice)",
            description="Single-trial spike counts of 36,430 V1/HVA units (+2,582 LGd) to 243 Gabor conditions "
            "x 15 repeats, one session per mouse.",
            license="Allen Institute Terms of Use (non-commercial research use with citation)",
            redistributable=True,
            citation="siegle2021survey",
            source=Source(
                homepage="https://portal.brain-map.org/explore/circuits/visual-coding-neuropixels",
                notes="Derived from the public NWB files (allensdk EcephysProjectCache).",
            ),
        ),
        Dataset(
            name="allen_bo_2p_natural_scenes",
            title="Allen Brain Observatory two-photon, natural scenes (212 VISp cells)",
            description="Trial-averaged responses of 212 VISp cells to the 118 natural scenes at 31x31.",
            license="Allen Institute Terms of Use (attribution)",
            redistributable=True,
            citation="devries2020large",
            source=Source(homepage="https://observatory.brain-map.org/visualcoding"),
        ),
        Dataset(
            name="v1_tuning_literature",
            title="Published macaque V1 tuning-property distributions",
            description="Ringach 2002 per-cell database and published histograms (De Valois 1982, Schiller 1976, "
            "Cavanaugh 2002) on Brain-Score's bins.",
            license="values from published papers; Ringach 2002 database made public by the Ringach lab",
            redistributable=True,
            citation="ringach2002orientation",
            source=Source(homepage="https://github.com/brain-score/vision"),
        ),
        Dataset(
            name="kodak24",
            title="Kodak Lossless True Color Image Suite (24 images)",
            description="24 natural photographs as 500x500 RGB center crops.",
            license="released for unrestricted use",
            redistributable=True,
            citation="kodak1999",
            source=Source(
                homepage="https://r0k.us/graphics/kodak/",
                notes="The originals are 768x512; the local layout holds 500x500 center crops.",
            ),
        ),
    ]
}


def get_dataset(name: str) -> Dataset:
    """Look a data set up by name, with the list of valid names on a miss."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; known data sets: {', '.join(sorted(DATASETS))}") from None
