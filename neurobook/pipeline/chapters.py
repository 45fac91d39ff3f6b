"""The chapters of the book: which notebook, which data, and what the paper claims (for the scorecard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from neurobook.aims import chapter_aims
from neurobook.data.paths import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
GENERATED_DIR = REPO_ROOT / "book" / "_generated"


def _aim(chapter: str, key: str) -> str:
    """A claim's words for an aim, e.g. ``aim: at least 0.80``, with the threshold of :mod:`neurobook.aims`."""
    return f"aim: {chapter_aims(chapter)[key].target}"


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
    # syllabus (neurobook/pipeline/syllabus.py); the exercises are parsed from the chapter's source
    goals: tuple[str, ...] = ()  # learning goals: what a student can do after the chapter
    prerequisites: tuple[str, ...] = ()  # what a student should know before
    cpu_minutes: float | None = None  # estimated time of the default (full) profile on a laptop CPU
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
                Claim("CNN, correlation to the repeat average (100 test images of this scan)",
                      "0.549 (Sensorium 2022 baseline, the same scan and images)", "cnn_corr_to_avg", "{:.3f}"),
                Claim("neurons within 10% of their predictability limit", "15% (macaque V1)",
                      "share_within_10pct_of_limit", "{:.1%}"),
                Claim("CNN minus LN, mean correlation to average", "CNN better than classical models (qualitative)",
                      "cnn_minus_ln_corr_to_avg", "{:+.3f}"),
                Claim("model variant chosen on validation (seed ensemble, behaviour), share within 10% of the limit",
                      "15% (macaque V1)", "best_variant_share_within_10pct_of_limit", "{:.1%}"),
                Claim("preferred-image types (findings only when the labeller passes its ground truth)",
                      "Gabor-like, center-surround, textural", "type_proportions", "{}"),
                Claim("preferred-image labels from two independently trained CNNs, Cohen's kappa",
                      f"labels that belong to the neuron ({_aim('ch01_v1_encoding', 'label_kappa_across_models')})",
                      "label_kappa_across_models", "{:.2f}"),
                Claim("the frozen labeller on a held-out simulated population, lowest per-type accuracy",
                      _aim("ch01_v1_encoding", "labeller_holdout_accuracy_min"), "labeller_holdout_accuracy_min",
                      "{:.0%}"),
                Claim("ground truth: lowest per-type accuracy of the labeller on simulated cells' MEIs",
                      "types by visual inspection", "sim_label_accuracy_min", "{:.0%}"),
                Claim("ground truth: MEIs shown to the true simulated cells, response / best natural image (median)",
                      "MEIs drive neurons beyond natural images (Walker et al. 2019, in vivo)",
                      "sim_mei_over_best_natural", "{:.2f}x"),
                Claim("closed loop in silico: MEIs scored by an independently trained CNN, / best test image",
                      "preferred images carry over to the neuron", "mei_over_best_test_image_independent",
                      "{:.2f}x"),
            ),
            goals=(
                "measure each neuron's noise ceiling from repeated images (oracle correlation, CCnorm)",
                "fit a linear-nonlinear model and a CNN with a shared core to V1 responses and compare them "
                "against the ceiling",
                "invert a trained network into preferred images (MEIs) and classify them by stated rules",
                "test an interpretation method on simulated neurons whose receptive fields are known, and validate "
                "preferred images in closed loop (the true cell, an independently trained model)",
                "add a behavioural modulator, an eye-position shifter and a seed ensemble and measure what each adds",
            ),
            prerequisites=(
                "Python and numpy (array indexing, means, correlations)",
                "a first contact with PyTorch: a model, a loss, gradient descent",
                "receptive fields of V1 neurons (simple and complex cells)",
            ),
            cpu_minutes=21,  # 1260 s on the 2-core machine, partly shared with another job (second edition)
        ),
        Chapter(
            slug="ch02_retina",
            title="Retina: CNNs of ganglion cells",
            paper="Yan et al. 2018/2020",
            citation="yan2020revealing",
            datasets=("liu2017_salamander_rgc", "chichilnisky_primate_rgc"),
            claims=(
                Claim("shared-core CNN over the strong LN (fitted filter, binned output), median cell (salamander)",
                      f"CNN better than LN ({_aim('ch02_retina', 'cnn_over_strong_ln_median')})",
                      "cnn_over_strong_ln_median", "{:.2f}x"),
                Claim("median cell's fraction of its ceiling (salamander, shared-core CNN)",
                      _aim("ch02_retina", "median_fraction_of_ceiling"), "median_fraction_of_ceiling", "{:.2f}"),
                Claim("best cell's fraction of its ceiling (salamander)",
                      _aim("ch02_retina", "best_fraction_of_ceiling"),
                      "best_fraction_of_ceiling", "{:.2f}"),
                Claim("first-layer filters vs true subunits of model cells (Hungarian-matched correlation)",
                      "CNN filters resemble the subunits (qualitative)", "sim_subunit_match", "{:.2f}"),
                Claim("STNMF modules vs true subunits of model cells (Hungarian-matched absolute correlation)",
                      "STNMF recovers the subunits (Liu et al. 2017)", "sim_stnmf_match", "{:.2f}"),
                Claim("shared core's kernels vs true subunits, minus the envelope's match (median model cell)",
                      _aim("ch02_retina", "sim_subunit_match_minus_envelope_median"),
                      "sim_subunit_match_minus_envelope_median", "{:+.2f}"),
                Claim("white-noise strong LN on natural flashes screened on the ground truth (fraction of ceiling)",
                      _aim("ch02_retina", "natural_ln_fraction_of_ceiling"), "natural_ln_fraction_of_ceiling",
                      "{:.2f}"),
                Claim("white-noise shared core on the natural flashes (fraction of the exact ceiling)",
                      _aim("ch02_retina", "natural_cnn_fraction_of_ceiling"), "natural_cnn_fraction_of_ceiling",
                      "{:.2f}"),
                Claim("white-noise shared core minus strong LN on the natural flashes (paired, median cell)",
                      _aim("ch02_retina", "natural_cnn_minus_ln"), "natural_cnn_minus_ln", "{:+.2f}"),
                Claim("white-noise CNN tested on natural movies (model cells, PSTH correlation)",
                      "transfer from white noise to natural stimuli works well", "movie_white_noise_to_movie",
                      "{:.2f}"),
            ),
            goals=(
                "build the input of a retina model: a stimulus history as channels, spike counts per time bin",
                "fit LN, LN-LN and CNN models of single ganglion cells with a Poisson loss and compare them on "
                "frozen repeats against the split-half ceiling",
                "check on simulated cells with known bipolar subunits whether a CNN's first-layer filters are "
                "the subunits",
                "transfer a trained CNN to another cell (readout only, all layers, from scratch) and read the matrix",
            ),
            prerequisites=(
                "Chapter 1 (encoding models, noise ceiling, the training loop)",
                "spike-triggered average and linear-nonlinear models",
                "the retina's circuit: photoreceptors, bipolar cells, ganglion cells, ON and OFF pathways",
            ),
            cpu_minutes=13,  # 787 s measured alone (second edition, crops cached; +722 s the first time)
        ),
        Chapter(
            slug="ch03_decoding",
            title="Decoding mouse visual cortex",
            paper="Iqbal et al. 2019",
            citation="iqbal2019decoding",
            datasets=("allen_neuropixels_gabor_58mice", "lurz2020_mouse_v1"),
            claims=(
                Claim("within-animal accuracy (ours: 81-way Gabor position, decoder chosen on validation, median "
                      "over mice)", "up to 100% (natural and artificial stimulus classes); "
                      + _aim("ch03_decoding", "best_position_median"), "best_position_median", "{:.1%}"),
                Claim("converged logistic baseline, position (median over mice)",
                      _aim("ch03_decoding", "logistic_position_median"), "logistic_position_median", "{:.1%}"),
                Claim("across animals: adapted minus the best within-mouse alternative on the same 5 trials per "
                      "position", _aim("ch03_decoding", "transfer_5shot_minus_best_alternative"),
                      "transfer_5shot_minus_best_alternative", "{:+.3f}"),
                Claim("across-animal accuracy by the paper's protocol (ours: trained on one mouse's RF-aligned "
                      "channels, no labelled trial of the other, 81-way position, median over target mice)",
                      "91% (train on one animal, test on others)", "cross_mouse_position_median", "{:.1%}"),
                Claim("across-animal accuracy (ours: held-out mouse, 5 trials per position)",
                      "91% (train on one animal, test on others)", "transfer_adapted_5shot_median", "{:.1%}"),
                Claim("best decoder minus logistic regression (position accuracy, paired)",
                      "deep decoders better (qualitative)", "best_minus_logistic", "{:+.3f}"),
            ),
            goals=(
                "build trial-by-neuron response matrices from Neuropixels spike times and stimulus tables",
                "decode the stimulus within one animal with a converged logistic baseline, a small neural network "
                "and decoders built on the task's structure, chosen on validation, and read accuracy against chance",
                "transfer a decoder to a held-out animal through a per-animal input layer and a few trials, against "
                "that animal's own decoders on the same trials",
                "align units across animals by their receptive fields and decode one animal with another's decoder",
                "decode your own population recording (or the Allen natural scenes) from one npz",
            ),
            prerequisites=(
                "Chapter 1 (training a PyTorch model, held-out evaluation)",
                "classification: softmax, cross-entropy, accuracy and chance level",
                "the Allen Brain Observatory's visual areas and stimuli (read the chapter's data section)",
            ),
            cpu_minutes=14,  # 799 s measured on the idle 2-core machine (second edition, 8 transfer folds)
        ),
        Chapter(
            slug="ch04_bio_v1",
            title="Biologically constrained V1",
            paper="Pogoncheff et al. 2023",
            citation="pogoncheff2023explaining",
            datasets=("lurz2020_mouse_v1", "v1_tuning_literature"),
            claims=(
                Claim("all four components minus Chapter 1 core, test correlation (mouse V1)",
                      "combination best for V1 alignment (qualitative)", "full_minus_core_corr_to_avg", "{:+.4f}"),
                Claim("task-trained arm: components raising tuning similarity to macaque V1 against both the core "
                      "and a parameter-matched control (paired 95% interval over 5 seeds)",
                      "each component raises Brain-Score V1 alignment (4 of 4)", "task_arm_components_helping", "{}"),
                Claim("fit arm (mouse V1): all four minus core, mean tuning similarity over the fixed property set",
                      "each component raises Brain-Score V1 alignment", "full_minus_core_similarity", "{:+.3f}"),
                Claim("aim: all four components predict at least as well as the Chapter 1 core (same budget)",
                      "combination best for V1 alignment (qualitative)", "full_at_least_core", "{}"),
            ),
            goals=(
                "build center-surround, local receptive fields, tuned divisive normalization and cortical "
                "magnification into a CNN core",
                "ablate each component against the core and a parameter-matched control, paired by seed, and "
                "measure what it does to neural predictivity on mouse V1",
                "train a small network on a self-supervised image task with each component in its first stage and "
                "test the paper's claim on its first-stage units",
                "run in-silico tuning experiments (orientation, spatial frequency, surround suppression) and "
                "compare the distributions with published macaque V1 data",
            ),
            prerequisites=(
                "Chapter 1 (the CNN encoding model and its evaluation)",
                "V1 tuning properties: orientation and spatial-frequency tuning, surround suppression",
                "divisive normalization (Heeger 1992) at the level of its equation",
            ),
            cpu_minutes=11,  # second edition: about 640 s on the idle 2-core machine (two arms x 10 variants x 5 seeds)
        ),
        Chapter(
            slug="ch05_generative",
            title="Generative visualization",
            paper="Malakhova 2019; Ponce et al. 2019",
            citation="ponce2019evolving",
            datasets=("cowley2023_macaque_v4", "kodak24", "lurz2020_mouse_v1"),
            claims=(
                Claim("median model neuron's held-out correlation (the page gives the best too)",
                      "up to r = 0.8 (IT columns, Malakhova)", "median_test_corr", "{:.3f}"),
                Claim("latent-space preferred image / best natural image of one photograph pool, matched contrast",
                      "natural-looking images that drive the neuron (qualitative)",
                      "latent_over_best_natural_matched_median", "{:.2f}x"),
                Claim("GA (XDream) under single-trial noise: its pick / the noise-free gradient result",
                      "evolution finds strongly driving images for real neurons (Ponce et al.)",
                      "noisy_ga_fraction_of_gradient", "{:.0%}"),
                Claim("CMA-ES under single-trial noise: its pick / the noise-free gradient result",
                      "evolution finds strongly driving images (Ponce et al.)", "noisy_cma_fraction_of_gradient",
                      "{:.0%}"),
                Claim("share of neurons whose noisy-evolved image beats their best natural image (matched contrast)",
                      "evolved images exceed natural ones for most neurons (Ponce et al.)",
                      "share_beating_best_natural", "{:.0%}"),
                Claim("latent ascent on held-out-photograph template neurons: template correlation (median)",
                      "(our ground truth: the prior's reach)", "heldout_template_r_median", "{:.2f}"),
            ),
            goals=(
                "train a generative image prior (a DCGAN) and its linear-Gaussian control, and search their latent "
                "spaces for preferred images",
                "find preferred images without gradients, in a closed loop with single-trial noise: a genetic "
                "algorithm (XDream) and CMA-ES",
                "judge preferred images against one pool of natural photographs at matched contrast, and measure "
                "how far each prior can reach on neurons whose optimum is known",
            ),
            prerequisites=(
                "Chapter 1 (encoding models and pixel-space network inversion)",
                "generative adversarial networks at the level of generator and discriminator",
                "the idea of black-box optimisation (no gradients)",
            ),
            cpu_minutes=10,  # idle 2-core machine: 568 s with both GANs cached, + 615 s to train them the first time
        ),
    ]
}


def get_chapter(slug: str) -> Chapter:
    """Look a chapter up by slug (or by its number, e.g. ``1`` or ``ch01``)."""
    if slug in CHAPTERS:
        return CHAPTERS[slug]
    for c in CHAPTERS.values():
        if (slug.isdigit() and c.slug.startswith(f"ch{int(slug):02d}_")) or c.slug.startswith(f"{slug}_"):
            return c
    raise KeyError(f"unknown chapter {slug!r}; chapters: {', '.join(CHAPTERS)}")


def written_chapters() -> list[Chapter]:
    return [c for c in CHAPTERS.values() if c.written]
