# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Seeing what a neuron wants through a generative image prior
#
# **Studies.** {cite:t}`malakhova2019visualization` (also VSS 2019, J. Vision 19(10):210) fitted a CNN to recordings
# from macaque inferotemporal cortex (correlation with the measured responses **up to r = 0.8** for some cortical
# columns) and synthesized each model neuron's preferred image through a generative image prior
# {cite:p}`nguyen2017plug`, which keeps the images natural-looking where plain pixel optimization gives
# high-frequency, adversarial patterns.
# {cite:t}`ponce2019evolving` ("XDream") evolved images for *real* neurons in closed loop with a genetic algorithm over
# a generator's latent codes: gradient-free, it needs only the neuron's responses.
#
# **The question of this chapter.** With an encoding model of macaque **V4** fitted here and an image prior trained
# here (no pretrained weights can be downloaded), do latent-space preferred images drive model neurons harder than
# their best natural image while keeping natural image statistics? And how close does a gradient-free search, limited
# to the number of images an experiment can show, get to the gradient answer?
#
# **Outline.** Data and noise ceiling → a V4 encoding model (shared core, colour) beside Malakhova's r = 0.8 →
# an image prior → three routes to a preferred image → their response, naturalness and diversity → evolution curves →
# ground truth on neurons with known preferences → a neuron browser → what differs and why.

# %% tags=["remove-cell"]
from typing import Optional  # used by the parameters cell's annotations

# %% tags=["parameters"]
profile: str = "full"  # quick for tests, full for the book: full scales itself to the device
device: str = "auto"  # auto picks CUDA when present, else cpu or cuda
seed: int = 0  # seeds every random choice so that reruns reproduce
data_dir: Optional[str] = None  # local data directory laid out like shared/data, None means NEUROBOOK_DATA_DIR
n_sessions: int = 0  # recording sessions to model (210325 always included), 0 means the profile choice
epochs: int = 0  # maximum training epochs of the encoding model, 0 means the profile choice
prior_steps: int = 0  # generator updates of the image prior, 0 means the profile choice
n_invert: int = 0  # preferred images for this many best-predicted neurons, 0 means the profile choice (gpu: all)
generations: int = 0  # generations of the noise-free evolutionary searches, 0 means the profile choice
noisy_images: int = 0  # images per neuron in the noisy closed loop (40 per generation), 0 means the profile choice
data_file: Optional[str] = None  # your own higher-visual-area recordings as an npz (README) instead of Cowley 2023

# %%
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import neurobook as nb
from neurobook import course, evaluation, inversion, metrics, plotting, widgets
from neurobook.aims import chapter_aims, verdict
from neurobook.data import load_colour_npz, load_cowley2023, load_repeats
from neurobook.data.cowley2023 import CEILING_SESSION, NATURAL, SESSIONS, natural_pool, session_repeats
from neurobook.data.lurz2020 import load_lurz2020_images
from neurobook.generative import PriorConfig, data_fingerprint, load_or_train_prior, natural_patches
from neurobook.generative.linear import fit_linear_prior
from neurobook.inversion import cma_es, genetic_algorithm, latent_ascent, most_exciting_inputs
from neurobook.models import TemplateNeurons, build_model
from neurobook.train import fit, predict

this_run = nb.start_chapter(
    profile, device, seed,
    quick=dict(downsample=4, n_sessions=2, epochs=3, channels=12, layers=2, prior_steps=60, prior_width=16,
               n_patches=1024, n_invert=4, mei_steps=60, latent_steps=60, restarts=2, population=16, generations=6,
               noisy_images=240, n_gt=3, pool="loaded"),
    cpu=dict(downsample=4, n_sessions=12, epochs=15, channels=16, layers=3, prior_steps=2500, prior_width=32,
             n_patches=6000, n_invert=16, mei_steps=150, latent_steps=150, restarts=3, population=40, generations=15,
             noisy_images=3000, n_gt=8, pool="all"),
    gpu=dict(downsample=2, n_sessions=12, epochs=40, channels=48, layers=4, prior_steps=6000, prior_width=64,
             n_patches=30000, n_invert=128, mei_steps=400, latent_steps=400, restarts=4, population=40,
             generations=75, noisy_images=3000, n_gt=16, pool="all"),
    overrides=dict(n_sessions=n_sessions, epochs=epochs, prior_steps=prior_steps, n_invert=n_invert,
                   generations=generations, noisy_images=noisy_images),
)
run_profile, dev, settings = this_run.profile, this_run.device, this_run.settings
plotting.set_style()
if settings["n_sessions"] > len(SESSIONS):
    raise ValueError(f"n_sessions must be at most {len(SESSIONS)}, got {settings['n_sessions']}")
NOISY_POPULATION = 40  # images per generation in the noisy closed loop, as XDream showed real neurons
if settings["noisy_images"] < NOISY_POPULATION:
    raise ValueError(f"noisy_images must be at least {NOISY_POPULATION} (one generation of the noisy loop), got "
                     f"{settings['noisy_images']}")
display(Markdown(this_run.describe()))

# %% [markdown]
# ## The data: macaque V4, colour natural images
#
# Malakhova's IT recordings are not open, so this chapter uses the closest open data set of a higher visual area:
# **{cite:t}`cowley2023compact`**, spike counts (100 ms bins, repeat-averaged) of macaque **V4** neurons recorded with
# Utah arrays in three monkeys, shown 112×112 colour natural images (and, in session 210325, the synthetic images of
# {cite:t}`bashivan2019neural`). Twelve sessions are here; each records different neurons on different images.
# Every session's images are split once (fixed by the session id) into train / validation / test tiers; the test tier
# is used only for the final evaluation. Only session 210325 comes with its single repeats, so only there can we
# measure a noise ceiling.
#
# With `-p data_file mine.npz` (the README's layout; colour images (n, 3, H, W) or grayscale, square, at least
# 16 px, an optional `image_type` per trial) the chapter runs on your recordings: one session, its own images as the
# natural pool, and a noise ceiling where the test images are repeated.

# %%
if data_file is None:
    sessions = [CEILING_SESSION, *[s for s in SESSIONS if s != CEILING_SESSION][: settings["n_sessions"] - 1]]
    data = load_cowley2023(data_dir, sessions=sessions, downsample=settings["downsample"])
    repeats = load_repeats(data_dir, downsample=settings["downsample"])
    ceiling_session = CEILING_SESSION
    data_line = (f"`{data.name}` (real recordings, {data.meta['species']} {data.meta['area']}, "
                 f"{data.meta['recording']}); sessions {', '.join(sessions)}; colour images 112 px downsampled "
                 f"{settings['downsample']}×. License: {data.meta['license']}")
else:
    data = load_colour_npz(data_file)
    sessions, ceiling_session = ["user"], "user"
    test_ids = data.image_ids[data.tiers == "test"]
    repeats = data if len(test_ids) > len(np.unique(test_ids)) else None  # the ceiling needs repeated test images
    data_line = f"your file `{data_file}` ({data.meta['source']}), {data.meta['license']}"
train, val, test = data.tier("train"), data.tier("validation"), data.tier("test")
display(Markdown(
    f"**Data:** {data_line}; {data.n_neurons} neurons; images {data.image_shape[0]}×{data.image_shape[1]} px; "
    f"{len(train.images)} train / {len(val.images)} validation / {len(test.images)} test trials."
))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 8, figsize=(12, 1.8))
for ax, k in zip(axes, np.linspace(0, len(data.images) - 1, 8).astype(int), strict=True):
    ax.imshow(data.images[k].transpose(1, 2, 0) / 255)
    ax.set_title(f"session {data.meta['session'][k]}", fontsize=7)
    ax.axis("off")
fig.suptitle("Example stimuli", y=1.05)
plt.show()

# %% [markdown]
# ### The noise ceiling of session 210325
#
# The oracle correlation (each repeat against the mean of the other repeats of its image) tells how reliable each
# neuron is; the predictability limit of a model's correlation with the repeat average,
#
# $$CC_{max} = \sqrt{SP / \mathrm{Var}(\bar y)},$$
#
# comes from the signal power $SP$ of the repeats {cite:p}`schoppe2016measuring`.

# %%
rep_test = repeats.tier("test") if repeats is not None else None
if rep_test is not None:
    oracle = metrics.oracle_correlation(rep_test.responses, rep_test.image_ids)
    print(f"session {ceiling_session}: {rep_test.n_neurons} neurons, {len(np.unique(rep_test.image_ids))} test "
          f"images, median oracle correlation {np.nanmedian(oracle):.3f}")
else:
    print("no repeated test images in this file: no noise ceiling (the chapter's other measures do not need one)")

# %% [markdown]
# ## A V4 encoding model: one shared core, one readout per neuron of every session
#
# Chapter 1's CNN (a convolutional core, then a Gaussian readout per neuron), now with **colour** input. The sessions
# are stacked: each image has responses only for its own session's neurons, the others are missing, and the Poisson
# loss and the validation correlation use only the recorded entries. So all sessions train one shared core while each
# neuron (hence each session) has its own readout. Early stopping looks at the validation tier only.

# %%
nb.seed_everything(seed)
model = build_model("cnn_gaussian", data.image_shape, data.n_neurons, in_channels=3,
                    hidden_channels=settings["channels"], layers=settings["layers"], input_kernel=7, hidden_kernel=5)
run = fit(model, data, epochs=settings["epochs"], batch_size=64, device=dev, seed=seed)
model = run.model
print(f"best validation correlation {run.best_val_corr:.3f} at epoch {run.best_epoch}; {run.seconds:.0f} s on "
      f"{run.device} ({run.images_per_second:.0f} images/s)")

# %%
pred_test = predict(model, test.images, device=dev)
rows = []
for s in sessions:
    trials, cols = test.meta["session"] == s, np.flatnonzero(data.meta["neuron_session"] == s)
    r = metrics.correlation(pred_test[trials][:, cols], test.responses[trials][:, cols])
    rows.append(pd.DataFrame({"session": s, "neuron": cols, "test_corr": r}))
per_neuron = pd.concat(rows, ignore_index=True)
by_session = per_neuron.groupby("session")["test_corr"].agg(["count", "mean", "median", "max"])
display(by_session.round(3))
ceil_cols = np.flatnonzero(data.meta["neuron_session"] == ceiling_session)
ceil_table = evaluation.evaluate(model, rep_test, device=dev, neurons=ceil_cols) if rep_test is not None else None
mean_corr = float(per_neuron["test_corr"].mean())
median_corr = float(per_neuron["test_corr"].median())
max_corr = float(per_neuron["test_corr"].max())
share_08 = float((per_neuron["test_corr"] >= 0.8).mean())
ceiling_frac = float(np.nanmedian(ceil_table["fraction_of_limit"])) if ceil_table is not None else float("nan")
ceiling_text = ("" if ceil_table is None else
                f" For session {ceiling_session}: median correlation to the average of the single repeats "
                f"{np.nanmedian(ceil_table['corr_to_avg']):.3f}, median fraction of the predictability limit "
                f"(CCnorm) {ceiling_frac:.3f}.")
display(Markdown(
    f"**Malakhova (macaque IT, CNN):** correlation up to **r = 0.8** for some cortical columns. "
    f"**Ours ({data.meta['species']} {data.meta['area']}, {data.n_neurons} units, profile `{run_profile.name}`):** "
    f"held-out correlation median {median_corr:.3f} (mean {mean_corr:.3f}), best neuron {max_corr:.3f}, "
    f"{share_08:.1%} of neurons at r ≥ 0.8." + ceiling_text + " Malakhova's r is a column (multi-unit) correlation "
    "in IT; ours are per unit on held-out images, so the two are comparable only in kind."
))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2 if ceil_table is not None else 1, figsize=(10, 3.4), squeeze=False)
axes = axes[0]
axes[0].hist(per_neuron["test_corr"], bins=30, color="0.4")
axes[0].axvline(0.8, color="C3", ls="--", label="Malakhova r = 0.8")
axes[0].set_xlabel("held-out correlation (repeat average)")
axes[0].set_ylabel("neurons")
axes[0].legend(fontsize=8)
if ceil_table is not None:
    plotting.scatter_against(ceil_table, "oracle", "corr_to_avg", ax=axes[1])
    axes[1].set_title(f"session {ceiling_session}: model vs oracle")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Three image priors: two generators trained here, and a linear control
#
# A generator maps a latent code $z \sim \mathcal N(0, I)$ (64 dimensions) to a colour image. Two are trained here,
# each cached on disk with its settings and a checksum, so the book trains it only once per setting:
#
# * **SN-GAN**, the chapter's prior: nearest-neighbour upsampling and 3×3 convolutions (no checkerboard), a
#   spectrally normalized discriminator {cite:p}`miyato2018spectral` with the hinge loss, and differentiable
#   augmentation of real and generated images {cite:p}`zhao2020differentiable`, trained mostly (three quarters of
#   its images) on the V4 train-tier photographs, the rest on random crops of the Kodak and scikit-image photographs;
# * **DCGAN** {cite:p}`radford2016unsupervised`, the first edition's prior: transposed convolutions, an
#   unnormalized discriminator and the non-saturating loss
#   $\max_D \mathbb E_x \log D(x) + \mathbb E_z \log(1 - D(G(z)))$, $\max_G \mathbb E_z \log D(G(z))$, on crops of
#   the photographs, the V4 train images and the Lurz et al. mouse V1 train images (one third).
#
# Their control is a **linear-Gaussian prior**: the top 64 principal components of the V4 train-tier photographs,
# each scaled by its standard deviation, $x = \mu + \sum_k z_k s_k v_k$. It has the photographs' mean and covariance
# within those components, cannot mode-collapse and fits in a second; whatever a generator reaches beyond it, it owes
# to more than second-order statistics.

# %%
lurz_images = load_lurz2020_images(data_dir)  # (n, 36, 64) grayscale, train tier, for the DCGAN only
train_photos = train.images[train.meta["image_type"] == NATURAL]
if len(train_photos) <= 64:
    raise ValueError(f"the training tier holds {len(train_photos)} natural images; the priors need more than 64")
common = dict(size=data.image_shape[0], z_dim=64, width=settings["prior_width"], steps=settings["prior_steps"],
              batch_size=64, seed=seed, n_patches=settings["n_patches"])
prior_cfg = PriorConfig(**common, arch="upsample", data=f"kodak24+skimage+{data.name}:{','.join(sessions)}:"
                        f"train-photographs:3/4:{data_fingerprint(train_photos)}")
prior = load_or_train_prior(  # the chapter's prior
    prior_cfg,
    lambda: natural_patches(settings["n_patches"], prior_cfg.size, seed=seed, data_dir=data_dir, extra=[train_photos],
                            extra_fraction=0.75),
    device=dev,
)
dcgan_cfg = PriorConfig(**common, arch="dcgan", data=f"kodak24+skimage+{data.name}:{','.join(sessions)}:train+"
                        f"lurz2020:train:{data_fingerprint(train.images, lurz_images)}")
dcgan = load_or_train_prior(
    dcgan_cfg,
    lambda: natural_patches(settings["n_patches"], dcgan_cfg.size, seed=seed, data_dir=data_dir,
                            extra=[train.images, lurz_images]),
    device=dev,
)
pca_prior = fit_linear_prior(train_photos, z_dim=prior_cfg.z_dim)
priors = {"SN-GAN": prior, "DCGAN": dcgan, "PCA": pca_prior}
display(Markdown(
    f"**Data of the priors:** `kodak24` (24 photographs) and scikit-image's photographs; the {len(train_photos)} "
    f"train-tier photographs of the recording (the SN-GAN, three quarters of its {settings['n_patches']} images; "
    f"the PCA prior, all of its data); the DCGAN also saw the {len(train.images) - len(train_photos)} synthetic "
    f"train images and {len(lurz_images)} train images of `lurz2020_mouse_v1` (real stimuli; no responses are used). "
    + " ".join(f"The {name} was {'loaded from the cache' if g.from_cache else 'trained'} ({g.seconds:.0f} s of "
               f"training, {settings['prior_steps']} steps)." for name, g in (("SN-GAN", prior), ("DCGAN", dcgan)))
    + f" The PCA prior's {pca_prior.z_dim} components hold {pca_prior.explained:.0%} of the photographs' variance."
))

# %% tags=["hide-input"]
fig, axes = plt.subplots(len(priors), 1, figsize=(9.2, 1.45 * len(priors)))
for ax, (name, p) in zip(axes, priors.items(), strict=True):
    grid = np.clip(p.sample(12, seed=seed), 0, 255).transpose(0, 2, 3, 1) / 255
    ax.imshow(np.concatenate(list(grid), axis=1))
    ax.set_title(f"samples of the {name} prior", fontsize=8)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# Look at the samples before trusting the numbers: generators this small, trained for minutes on a CPU, make
# blurry colour blobs and coarse shading (the DCGAN's often with a faint grid, the transposed convolutions'
# checkerboard), and the PCA prior makes smooth colour clouds. None draws objects. Everything a
# latent-space search finds is confined to what its prior can draw; the reach measured below says how much that is.

# %% [markdown]
# ## The yardstick: one pool of natural photographs, at one contrast
#
# "X times the best natural image" is only as clean as its natural images. These sessions mix photographs with
# synthetic images, and the files do not say which is which; the loader's `image_type` (read by eye from montages
# of every session, documented in `neurobook.data.cowley2023`) marks Cowley et al.'s active-learning mosaics, the
# edited images of their validation experiments and the Bashivan et al. images. The best natural image of every
# neuron comes from **one pool**: every distinct photograph of the sessions, the same candidates whichever session
# recorded the neuron.
#
# Contrast changes a model neuron's response, so every method gets two ratios: its images as they are against the
# pool as it is (`own`), and its images and the pool all set to one RMS contrast, the pool's median (`matched`), the
# like-with-like number the aims judge. RMS contrast is the standard deviation of the pixel values (0..255).

# %%
if data_file is None:
    pool_sessions = list(SESSIONS) if settings["pool"] == "all" else sessions
    pool, pool_ids = natural_pool(data_dir, downsample=settings["downsample"], sessions=pool_sessions)
else:  # the file's own natural images, each distinct image once
    pool_sessions = sessions
    photo = data.meta["image_type"] == NATURAL
    pool_ids, first = np.unique(data.image_ids[photo], return_index=True)
    pool = data.images[photo][first]
    if len(pool) == 0:
        raise ValueError(f"{data_file}: no image has image_type 'natural'; the yardstick needs natural images")
type_counts = pd.Series(data.meta["image_type"]).value_counts()
pool_slopes = metrics.power_spectrum_slope(pool)
display(Markdown(
    f"**The natural pool:** {len(pool)} distinct photographs from sessions {', '.join(pool_sessions)} (repeats "
    f"dropped); median RMS contrast {np.median(inversion.rms_contrast(pool)):.1f}, median spectral slope "
    f"{np.median(pool_slopes):.2f}. The model's training images by type: "
    + ", ".join(f"{k} {v}" for k, v in type_counts.items()) + "; the synthetic ones train the model but are never "
    "a yardstick."
))

# %% [markdown]
# ### Do the priors have natural image statistics?
#
# The spectral slope of an image (its power falling as $f^{\alpha}$; natural images about −2 to −3, white noise 0)
# is measured on the pool and on 256 samples of each prior. The aim is a median within ±0.25 of the pool's; the
# interval is a bootstrap over images. A generator's own discriminator is not used to judge it: it would grade the
# generator by its training partner.

# %%
slope_rows = {}
for name, p in priors.items():
    s = metrics.power_spectrum_slope(np.clip(p.sample(256, seed=seed + 1), 0, 255))
    med, lo, hi = metrics.bootstrap_median_ci(s, seed=seed)
    slope_rows[name] = {"median slope": med, "95% CI low": lo, "95% CI high": hi,
                        "minus the pool": med - float(np.median(pool_slopes))}
slope_rows["natural pool"] = dict(zip(["median slope", "95% CI low", "95% CI high"],
                                      metrics.bootstrap_median_ci(pool_slopes, seed=seed), strict=True))
slope_table = pd.DataFrame.from_dict(slope_rows, orient="index")
display(slope_table.round(2))
prior_slope_minus_stimuli = float(slope_table.loc["SN-GAN", "minus the pool"])

# %% [markdown]
# ## Routes to a preferred image
#
# For the best-predicted neurons (chosen by **validation** correlation):
#
# 1. **Pixel space** (Chapter 1's MEI): gradient ascent on the pixels at fixed contrast, *plain* (no regularizer) and
#    *regularized* (jitter and a blurred gradient).
# 2. **Latent space, gradient**: gradient ascent on $z$ of each prior, $z \leftarrow z + \eta \nabla_z r(G(z))$.
# 3. **Latent space, gradient-free**: the neuron is a black box that only answers with responses. A genetic
#    algorithm as in XDream, and CMA-ES {cite:p}`hansen2016cma`, through the SN-GAN.
#
# Every latent method gets the same bound, $\|z\| \le 1.5\sqrt{64}$ (where the prior's latents live), and the same
# number of restarts, keeping the best; an evolution's budget is its generations × population, per restart. Images
# are clipped to the displayable 0..255 before scoring. Diversity is 1 − the mean pixel correlation between a
# neuron's restarts.

# %%
MAX_NORM = 1.5  # latent bound of every latent method, in units of sqrt(z_dim)
val_pred = predict(model, val.images, device=dev)
val_corr = np.array([
    metrics.correlation(val_pred[val.meta["session"] == s][:, [k]], val.responses[val.meta["session"] == s][:, [k]])[0]
    for k, s in enumerate(data.meta["neuron_session"])
])
chosen = np.argsort(-np.nan_to_num(val_corr, nan=-1))[: settings["n_invert"]]
yardstick = inversion.natural_yardstick(model, chosen, pool, device=dev)
restarts = settings["restarts"]
latent_kw = dict(steps=settings["latent_steps"], lr=0.1, restarts=restarts, max_norm=MAX_NORM, device=dev, seed=seed)
evo_kw = dict(generations=settings["generations"], population=settings["population"], max_norm=MAX_NORM)
evolvers = {"latent, GA (XDream)": genetic_algorithm, "latent, CMA-ES": partial(cma_es, sigma0=1.0)}
searches = {
    "pixel, plain": lambda: most_exciting_inputs(model, chosen, steps=settings["mei_steps"], jitter=0, blur_sigma=0.0,
                                                 device=dev, seed=seed),
    "pixel, regularized": lambda: most_exciting_inputs(model, chosen, steps=settings["mei_steps"], jitter=1,
                                                       blur_sigma=1.0, restarts=restarts, device=dev, seed=seed),
    "latent, gradient": lambda: latent_ascent(model, chosen, prior, **latent_kw),
    "latent (DCGAN), gradient": lambda: latent_ascent(model, chosen, dcgan, **latent_kw),
    "latent (PCA), gradient": lambda: latent_ascent(model, chosen, pca_prior, **latent_kw),
} | {name: partial(inversion.evolve, method, model, chosen, prior, restarts=restarts, device=dev, seed=seed, **evo_kw)
     for name, method in evolvers.items()}
results = {name: search() for name, search in searches.items()}
images = {name: res.images for name, res in results.items()}  # every search's images in pixels (0..255)
measures = inversion.contrast_matched_measures(model, results, yardstick, device=dev)
budget = results["latent, GA (XDream)"].n_evaluations  # images shown per neuron by each evolution, all restarts


def median_ci(values: np.ndarray) -> list[float]:
    """[median, low, high]: the median over neurons and its 95% bootstrap interval."""
    return list(metrics.bootstrap_median_ci(np.asarray(values), seed=seed))


summary = pd.DataFrame({name: dict(zip(
    ["ratio at own contrast", "ratio at matched contrast", "CI low", "CI high", "RMS contrast", "spectral slope"],
    [float(g["ratio_own"].median()), *median_ci(g["ratio_matched"]), float(g["rms_contrast"].median()),
     float(g["spectral_slope"].median())], strict=True)) for name, g in measures.groupby("method", sort=False)}).T
natural_best = pool[yardstick.best_index]
summary.loc["best natural image"] = [1.0, 1.0, np.nan, np.nan, float(np.median(inversion.rms_contrast(natural_best))),
                                     float(np.median(metrics.power_spectrum_slope(natural_best)))]
summary = summary.join(inversion.search_summary(results)[["seconds", "evaluations_per_neuron", "diversity"]])
display(summary.rename_axis(f"median over {len(chosen)} neurons").round(3))

# %%
matched = {name: median_ci(g["ratio_matched"]) for name, g in measures.groupby("method", sort=False)}
latent_ratio = matched["latent, gradient"][0]
latent_ratio_own = float(summary.loc["latent, gradient", "ratio at own contrast"])
pixel_ratio = matched["pixel, plain"][0]
latent_diversity = float(summary.loc["latent, gradient", "diversity"])
grad_resp = results["latent, gradient"].responses  # the noise-free gradient result, best of the restarts
evo_of_gradient = {name: float(np.median(results[name].responses / grad_resp)) for name in evolvers}
AIMS = chapter_aims("ch05_generative")  # each threshold defined once, in neurobook/aims.py
slope_gap = abs(prior_slope_minus_stimuli)
display(Markdown("\n".join(f"* {line}" for line in (
    verdict(AIMS["latent_over_best_natural_matched_median"], latent_ratio, matched["latent, gradient"][1:])
    + f" Plain pixel ascent, not confined to a prior: {pixel_ratio:.2f}× "
    f"[{matched['pixel, plain'][1]:.2f}, {matched['pixel, plain'][2]:.2f}]; latent ascent through the DCGAN: "
    f"{matched['latent (DCGAN), gradient'][0]:.2f}×, through the PCA prior: "
    f"{matched['latent (PCA), gradient'][0]:.2f}×. At their own contrast the latent images reach "
    f"{latent_ratio_own:.2f}× the pool as shown."
    + (f" Even pixel ascent, bound by no prior, stays below {AIMS['latent_over_best_natural_matched_median'].threshold}"
       "×: at matched contrast these model neurons have no image that much better than their best photograph, so "
       "no prior can meet the aim here." if pixel_ratio < AIMS["latent_over_best_natural_matched_median"].threshold
       else ""),
    verdict(AIMS["prior_slope_gap"], slope_gap) + f" (SN-GAN samples minus the pool: {prior_slope_minus_stimuli:+.2f};"
    f" DCGAN: {slope_table.loc['DCGAN', 'minus the pool']:+.2f}; PCA: "
    f"{slope_table.loc['PCA', 'minus the pool']:+.2f}).",
    verdict(AIMS["latent_restart_diversity"], latent_diversity) + f" ({restarts} restarts per neuron).",
    f"Without noise, with {budget} images per neuron ({restarts} restarts × {settings['generations']} generations × "
    f"{settings['population']}), the GA reaches {evo_of_gradient['latent, GA (XDream)']:.0%} and CMA-ES "
    f"{evo_of_gradient['latent, CMA-ES']:.0%} of the gradient result (median over neurons).",
))))

# %% tags=["hide-input"]
methods = list(images)
n_rows = min(len(chosen), 6)
fig, axes = plt.subplots(n_rows, len(methods) + 1, figsize=(1.55 * (len(methods) + 1), 1.75 * n_rows), squeeze=False)
for i in range(n_rows):
    axes[i, 0].imshow(natural_best[i].transpose(1, 2, 0) / 255)
    axes[i, 0].set_title("best natural" if i == 0 else "", fontsize=7)
    axes[i, 0].set_ylabel(f"#{chosen[i]}", fontsize=7)
    for j, name in enumerate(methods):
        row = measures[(measures["method"] == name)].iloc[i]
        axes[i, j + 1].imshow(np.clip(images[name][i], 0, 255).transpose(1, 2, 0) / 255)
        axes[i, j + 1].set_title((f"{name}\n" if i == 0 else "") + f"{row['ratio_matched']:.2f}×, "
                                 f"slope {row['spectral_slope']:.1f}", fontsize=5.5)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Preferred images per neuron (response / best natural image at matched contrast; spectral slope)",
             y=1.01, fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## A closed loop with noise
#
# A real experiment shows an image and counts spikes once. The repeats of session 210325 say how variable one count
# is: the pooled Fano factor (variance / mean) printed below. The searches now see one **Poisson** count per image
# (Fano factor 1, a little noisier than these neurons), 40 images per generation, as XDream showed; the image each
# search would deliver (the GA's best-scored image of the generation, CMA-ES's distribution mean) is scored
# **without** noise, against the noise-free gradient result above. The best noisy count a search has seen is not a
# score: it is inflated by the luckiest draw.

# %%
fano = inversion.fano_factor(session_repeats(data_dir)) if data_file is None else float("nan")
noisy_generations = settings["noisy_images"] // NOISY_POPULATION
noisy = {name: inversion.evolve(method, model, chosen, prior, fano=1.0, device=dev, seed=seed,
                                generations=noisy_generations, population=NOISY_POPULATION, max_norm=MAX_NORM)
         for name, method in evolvers.items()}
noisy_images = noisy["latent, GA (XDream)"].n_evaluations
noisy_frac = {name: res.pick_curve[-1] / grad_resp for name, res in noisy.items()}
ga_noisy = noisy["latent, GA (XDream)"]
ga_pick = inversion.contrast_matched_measures(  # the GA's delivered images (its picks), scored against the pool
    model, {"GA under noise": inversion.PreferredImages("GA pick", chosen, ga_noisy.pick_images,
                                                        ga_noisy.pick_curve[-1], ga_noisy.pick_curve,
                                                        ga_noisy.evaluations)}, yardstick, device=dev)
share_beating = float((ga_pick["ratio_matched"] > 1).mean())
noisy_table = pd.DataFrame({name: {"median": np.median(f), "lower quartile": np.quantile(f, 0.25),
                                   "upper quartile": np.quantile(f, 0.75),
                                   "best noisy count / noise-free pick": float(np.median(
                                       res.curve[-1] / np.maximum(res.pick_curve[-1], 1e-9)))}
                            for (name, f), res in zip(noisy_frac.items(), noisy.values(), strict=True)}).T
print(f"session {CEILING_SESSION}: pooled Fano factor of single counts {fano:.2f}; the searches see Poisson counts"
      if data_file is None else "your file: the searches see Poisson counts around the model's prediction")
display(noisy_table.rename_axis(f"pick / gradient result ({noisy_images} images)").round(3))
display(Markdown("\n".join(f"* {line}" for line in (
    verdict(AIMS["noisy_ga_fraction_of_gradient"], float(np.median(noisy_frac["latent, GA (XDream)"]))),
    verdict(AIMS["noisy_cma_fraction_of_gradient"], float(np.median(noisy_frac["latent, CMA-ES"]))),
    verdict(AIMS["share_beating_best_natural"], share_beating)
    + f" ({int((ga_pick['ratio_matched'] > 1).sum())} of {len(chosen)} neurons)."
    + (f" The noise-free gradient result through this prior is itself {latent_ratio:.2f}× the best natural image, "
       "so an evolved image can beat it only where the prior reaches further than its gradient does."
       if latent_ratio < 1 else ""),
    f"Without noise ({restarts} restarts, {budget} images per neuron in all) the GA reached "
    f"{evo_of_gradient['latent, GA (XDream)']:.0%} of the gradient result; under noise (one run, {noisy_images} "
    f"images) {float(np.median(noisy_frac['latent, GA (XDream)'])):.0%}. The best noisy count a search saw is "
    f"{noisy_table.loc['latent, GA (XDream)', 'best noisy count / noise-free pick']:.1f}× (GA) the noise-free "
    "response of what it delivers: the winner's curse a closed loop must not mistake for success.",
))))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3.4))
for name, res in noisy.items():
    rel_curve = res.pick_curve / grad_resp[None, :]
    ax.plot(res.evaluations, np.median(rel_curve, 1), label=f"{name}, under noise")
    ax.fill_between(res.evaluations, np.quantile(rel_curve, 0.25, 1), np.quantile(rel_curve, 0.75, 1), alpha=0.2)
ax.axhline(1.0, color="k", ls="--", lw=1, label="latent gradient ascent, no noise")
ax.axhline(0.8, color="0.5", ls=":", lw=1, label="80% of it")
ax.axhline(float(np.median(yardstick.best / grad_resp)), color="C3", ls="-.", lw=1, label="best natural image")
ax.set_xlabel("images shown per neuron")
ax.set_ylabel("noise-free response of the pick / gradient result")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Ground truth: how far can each prior reach?
#
# A model neuron computing $r = \mathrm{softplus}(g \cos(x, t))$ prefers exactly its template $t$ (at any contrast).
# Two kinds of templates test the priors:
#
# * **held-out photographs**: V4 test-tier photographs, which neither prior was trained on. A prior of natural
#   images should reach them (aim: template correlation ≥ 0.8);
# * **off the manifold**: white-noise patterns, which no prior of natural images can draw. Pixel ascent must find
#   them; the latent routes must not, and the page must say so instead of passing.
#
# Each route gets the same restarts and bound as above. "Best of N samples" is each prior's best random sample among
# as many as the GA's budget: what the prior offers before any search.

# %%
n_gt = settings["n_gt"]
rng = np.random.default_rng(seed + 99)
test_photo = test.meta["image_type"] == NATURAL
_, first = np.unique(test.image_ids[test_photo], return_index=True)  # each distinct test photograph once
test_photos = test.images[test_photo][first]
n_gt = min(n_gt, len(test_photos))
if n_gt == 0:
    raise ValueError("the test tier has no natural image to serve as a held-out template")
gt_images = {"held-out photograph": test_photos[rng.choice(len(test_photos), n_gt, replace=False)],
             "white noise (off the manifold)": rng.uniform(0, 255, (n_gt, 3, *data.image_shape)).astype(np.float32)}
gt_rows = []
for kind, target in gt_images.items():
    templates = target / 127.5 - 1.0
    templates -= templates.mean(axis=(1, 2, 3), keepdims=True)
    gt = TemplateNeurons(templates)
    neurons = np.arange(n_gt)
    optimum = float(np.log1p(np.exp(gt.gain)))  # softplus(gain): the response to the template itself
    found = {"pixel, plain": most_exciting_inputs(gt, neurons, steps=settings["mei_steps"], jitter=0, blur_sigma=0.0,
                                                  device=dev, seed=seed)}
    found |= {f"latent ({name}), gradient": latent_ascent(gt, neurons, p, **latent_kw) for name, p in priors.items()}
    found["latent (SN-GAN), GA"] = inversion.evolve(genetic_algorithm, gt, neurons, prior, restarts=restarts,
                                                   device=dev, seed=seed, **evo_kw)
    for name, p in priors.items():  # what each prior offers before any search: its best of `budget` samples
        samples = np.clip(p.sample(budget, seed=seed + 7), 0, 255)
        scores = predict(gt, samples, device=dev)
        top = scores.argmax(0)
        found[f"best of {budget} {name} samples"] = inversion.PreferredImages(
            "samples", neurons, samples[top], scores[top, neurons], scores.max(0, keepdims=True), np.array([budget]))
    for name, res in found.items():
        shown = np.clip(res.images, 0, 255)
        response = predict(gt, shown, device=dev)[neurons, neurons]
        for i in neurons:
            gt_rows.append({"templates": kind, "method": name, "neuron": i,
                            "fraction_of_optimum": response[i] / optimum,
                            "template_r": np.corrcoef(shown[i].ravel(), templates[i].ravel())[0, 1]})
gt_table = pd.DataFrame(gt_rows)
reach = gt_table.pivot_table(index="method", columns="templates", values="template_r", aggfunc="median", sort=False)
display(Markdown("**Data:** simulated template neurons (ground truth known): V4 test-tier photographs of Cowley "
                 "2023 and white noise as their preferred images; median template correlation over "
                 f"{n_gt} neurons of each kind:"))
display(reach.round(3))
heldout_r = float(reach.loc["latent (SN-GAN), gradient", "held-out photograph"])
off = reach["white noise (off the manifold)"]
pixel_finds_noise = bool(off["pixel, plain"] > 0.9)
assert pixel_finds_noise, f"pixel ascent must recover white-noise templates (r > 0.9): {off.round(3).to_dict()}"
latent_off = {name: float(r) for name, r in off.items() if name.startswith("latent")}
display(Markdown("\n".join(f"* {line}" for line in (
    verdict(AIMS["heldout_template_r_median"], heldout_r)
    + f" Through the DCGAN: {reach.loc['latent (DCGAN), gradient', 'held-out photograph']:.2f}; through the PCA "
    f"prior: {reach.loc['latent (PCA), gradient', 'held-out photograph']:.2f}; plain pixel "
    f"ascent: {reach.loc['pixel, plain', 'held-out photograph']:.2f}.",
    f"**Off the manifold the priors cannot reach:** pixel ascent recovers the white-noise templates (r = "
    f"{off['pixel, plain']:.2f}); latent routes reach " + ", ".join(f"{k} r = {v:.2f}" for k, v in latent_off.items())
    + ". Where a neuron's optimum is not something the prior can draw, a latent-space search reports the prior's "
    "best, not the neuron's preference.",
    "**Which latent route reaches furthest** on held-out photographs: "
    f"{reach['held-out photograph'].drop('pixel, plain').idxmax()} "
    f"(r = {reach['held-out photograph'].drop('pixel, plain').max():.2f}).",
))))

# %% [markdown]
# ## Neuron browser
#
# Choose one of the best-predicted neurons: its top natural images in the pool (by the model), its preferred images
# by every route, and its noisy evolution curves. The browser is precomputed and works in the static book without a
# Python kernel.

# %% tags=["hide-input"]
browser_labels = [f"neuron {data.neuron_ids[neuron]} (session {data.meta['neuron_session'][neuron]}, "
                  f"val r={val_corr[neuron]:.2f})"
                  for neuron in chosen[:24]]  # the best-predicted 24: a browser of PNGs stays light
pool_pred = predict(model, pool, device=dev)[:, chosen[:24]]


def draw_neuron(i: int) -> plt.Figure:
    """The browser's page of the i-th chosen neuron: top natural images, preferred images, noisy evolution curves."""
    top = np.argsort(-pool_pred[:, i])[:3]
    fig, axes = plt.subplots(1, 3 + len(methods) + 1, figsize=(1.9 * (4 + len(methods)), 2.4))
    for ax, k in zip(axes[:3], top, strict=True):
        ax.imshow(pool[k].transpose(1, 2, 0) / 255)
        ax.set_title(f"natural: {pool_pred[k, i]:.2f}", fontsize=7)
    for ax, name in zip(axes[3:], methods, strict=False):
        row = measures[measures["method"] == name].iloc[i]
        ax.imshow(np.clip(images[name][i], 0, 255).transpose(1, 2, 0) / 255)
        ax.set_title(f"{name}: {row['response']:.2f}", fontsize=6)
    for ax in axes[:-1]:
        ax.axis("off")
    for name, res in noisy.items():
        axes[-1].plot(res.evaluations, res.pick_curve[:, i], label=name.split(", ")[1])
    axes[-1].axhline(grad_resp[i], color="k", ls="--", lw=1)
    axes[-1].set_xlabel("images shown (noisy)", fontsize=7)
    axes[-1].legend(fontsize=6)
    fig.suptitle(browser_labels[i], fontsize=9)
    fig.tight_layout()
    return fig


widgets.figure_browser((draw_neuron(i) for i in range(len(browser_labels))), browser_labels, description="neuron")

# %% [markdown]
# ## Exercises

# %% [markdown]
# ```{exercise} How much better than nature?
# :label: ch05-ex-ratio
#
# For each chosen neuron, divide the response to its latent-gradient image at matched contrast (`measures`, method
# `"latent, gradient"`, column `response_matched`) by its best natural response at that contrast
# (`yardstick.best_matched`) and take the median. Set `median_ratio` to it.
# ```

# %% [markdown]
# ```{solution-start} ch05-ex-ratio
# :class: dropdown
# ```

# %%
median_ratio = None  # your answer: the median over neurons of the matched latent-gradient ratio
### BEGIN SOLUTION
median_ratio = float(np.median(measures.query("method == 'latent, gradient'")["response_matched"].to_numpy()
                               / yardstick.best_matched))
### END SOLUTION

# %% [markdown]
# ```{solution-end}
# ```

# %%
course.check_answer("median_ratio", median_ratio, latent_ratio, rtol=1e-4,
                    hint="use the 'response_matched' column of the latent-gradient rows, in the order of `chosen`")

# %% [markdown]
# ```{exercise} Is noise natural?
# :label: ch05-ex-slope
#
# Compute the median power-spectrum slope (`metrics.power_spectrum_slope`) of 64 images of white noise
# (`np.random.default_rng(0).uniform(0, 255, (64, 3, H, W))` with the stimuli's H and W) and set `noise_slope`.
# Is it closer to 0 or to the natural images' slope?
# ```

# %% [markdown]
# ```{solution-start} ch05-ex-slope
# :class: dropdown
# ```

# %%
noise_slope = None  # your answer: median spectral slope of 64 white-noise images
### BEGIN SOLUTION
noise_slope = float(np.median(metrics.power_spectrum_slope(
    np.random.default_rng(0).uniform(0, 255, (64, 3, *data.image_shape)))))
### END SOLUTION

# %% [markdown]
# ```{solution-end}
# ```

# %%
reference_noise = float(np.median(metrics.power_spectrum_slope(
    np.random.default_rng(0).uniform(0, 255, (64, 3, *data.image_shape)))))
course.check_answer("noise_slope", noise_slope, reference_noise, rtol=1e-3, atol=1e-3,
                    hint="average the colour channels is done for you by power_spectrum_slope")
course.check_that(lambda: abs(noise_slope) < abs(noise_slope - np.median(pool_slopes)),
                  "white noise should have a flatter spectrum (slope nearer 0) than natural images",
                  name="noise_slope", value=noise_slope)

# %% [markdown]
# ## What differs from the papers, and why
#
# * **Area and recording.** V4 (Cowley et al.), not IT; per-unit spike counts on held-out images, not cortical
#   columns. Malakhova's r = 0.8 was the best of her columns; compare it with our best neurons, not our median.
#   Cowley et al. judge their models by noise-corrected accuracy on whole held-out sessions; here only session
#   210325 has single repeats, so our noise-corrected number (CCnorm) is on its held-out images, a different split,
#   and their published figure could not be read offline to set beside it.
# * **The prior.** Nguyen et al.'s generator was trained on ImageNet with a deep feature loss; ours are small GANs
#   trained here in minutes on a few thousand images (in the quick profile: tiny ones trained for seconds), with a
#   linear-Gaussian control. "Natural" here means natural *statistics* (the spectral slope), not recognizable
#   objects.
# * **The closed loop.** XDream showed real neurons about 40 images per generation for 100 to 250 generations. Our
#   noisy loop shows 40 per generation; the budget is stated above. The noise is Poisson around the model's rate;
#   real neurons also drift and adapt over a session, which no model here has.
# * **Model neurons, not real ones.** Every response here is the encoding model's prediction. Images that drive the
#   model beyond its training distribution need not drive the neuron; the closed-loop experiment is the test.
#
# **Try next:** `neurobook run ch05 -p generations 100 -p n_invert 24` on a GPU, or more prior steps
# (`-p prior_steps 3000`).

# %%
this_run.save_results(
    "ch05_generative",
    data={"name": data.name, "kind": "real",
          "description": ("Cowley et al. 2023 macaque V4 (sessions " f"{', '.join(sessions)}; natural pool from "
                          f"{', '.join(pool_sessions)})" if data_file is None else f"user data {data_file}")
          + "; Kodak 24, scikit-image and Lurz 2020 images for the prior; simulated template neurons for the ground "
          "truth"},
    headline={
        "n_neurons": data.n_neurons,
        "n_sessions": len(sessions),
        "n_invert": len(chosen),
        "natural_pool_size": len(pool),
        "mean_test_corr": mean_corr,
        "median_test_corr": median_corr,
        "max_test_corr": max_corr,
        "share_corr_ge_0p8": share_08,
        "v4_ccnorm_median": ceiling_frac,
        "latent_over_best_natural_matched_median": latent_ratio,
        "latent_over_best_natural_matched_ci": matched["latent, gradient"][1:],
        "latent_over_best_natural_own_contrast": latent_ratio_own,
        "pixel_over_best_natural_matched_median": pixel_ratio,
        "pca_latent_over_best_natural_matched_median": matched["latent (PCA), gradient"][0],
        "prior_slope_minus_stimuli": prior_slope_minus_stimuli,
        "prior_slope_gap": slope_gap,
        "pca_prior_slope_minus_stimuli": float(slope_table.loc["PCA", "minus the pool"]),
        "latent_restart_diversity": latent_diversity,
        "heldout_template_r_median": heldout_r,
        "offmanifold_template_r": latent_off | {"pixel, plain": float(off["pixel, plain"])},
        "ga_fraction_of_gradient": evo_of_gradient["latent, GA (XDream)"],
        "cma_fraction_of_gradient": evo_of_gradient["latent, CMA-ES"],
        "evolution_budget_images": budget,
        "noisy_ga_fraction_of_gradient": float(np.median(noisy_frac["latent, GA (XDream)"])),
        "noisy_cma_fraction_of_gradient": float(np.median(noisy_frac["latent, CMA-ES"])),
        "noisy_budget_images": noisy_images,
        "share_beating_best_natural": share_beating,
        "repeats_fano_factor": fano,
        "prior_training_seconds": prior.seconds,
        "prior_images_per_second": prior.images_per_second,
        "dcgan_training_seconds": dcgan.seconds,
        "dcgan_latent_over_best_natural_matched_median": matched["latent (DCGAN), gradient"][0],
        "dcgan_heldout_template_r_median": float(reach.loc["latent (DCGAN), gradient", "held-out photograph"]),
        "pca_heldout_template_r_median": float(reach.loc["latent (PCA), gradient", "held-out photograph"]),
        "training_seconds": run.seconds,
        "device": str(dev),
    },
)
print(f"chapter finished in {this_run.elapsed():.0f} s on {dev}")
