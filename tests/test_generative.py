"""Chapter 5 modules: V4 loader, image prior and its cache, latent-space and evolutionary inversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurobook import metrics
from neurobook.generative import (
    Discriminator,
    Generator,
    ImagePrior,
    PriorConfig,
    discriminator_score,
    load_or_train_prior,
    prior_path,
)
from neurobook.generative.cache import save_prior
from neurobook.inversion import (
    LatentCodes,
    PixelImages,
    PreferredImages,
    cma_es,
    compare_preferred_images,
    genetic_algorithm,
    gradient_ascent,
    latent_ascent,
    most_exciting_inputs,
    neuron_objective,
    search_summary,
)
from neurobook.models import TemplateNeurons

SIZE, ZD = 16, 16


class _LinearGenerator(torch.nn.Module):
    """tanh(W z): a fixed random decoder whose images differ a lot between latents (fast stand-in for a GAN)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(torch.randn(3 * SIZE * SIZE, ZD, generator=g) / ZD**0.5)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.weight.T).view(-1, 3, SIZE, SIZE)


def _prior(seed: int = 0) -> ImagePrior:
    cfg = PriorConfig(size=SIZE, z_dim=ZD, width=8, steps=1, batch_size=4, n_patches=8, seed=seed)
    return ImagePrior(_LinearGenerator(seed), Discriminator(SIZE, 8).eval(), cfg)


def _neurons(prior: ImagePrior, n: int = 3) -> TemplateNeurons:
    """Template neurons whose preferred patterns are images the generator can make (reachable ground truth)."""
    imgs = prior.sample(n, seed=123) / 127.5 - 1.0
    return TemplateNeurons(imgs - imgs.mean(axis=(1, 2, 3), keepdims=True), gain=8.0)


def _best_random(model, prior, n_random: int = 256) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(prior.sample(n_random, seed=7))).numpy().max(0)


def test_latent_ascent_beats_best_random_image_and_shuffled_fails():
    prior = _prior()
    model = _neurons(prior)
    base = _best_random(model, prior)
    out = latent_ascent(model, [0, 1, 2], prior, steps=60, lr=0.1, device="cpu")
    assert out.images.shape == (3, 3, SIZE, SIZE)
    assert (out.responses > base + 0.5 * (8.0 - base)).all()  # well above the best random image
    assert (out.curve[-1] >= out.curve[0]).all()
    # a shuffled assignment (neuron k's image shown to neuron k+1) does not drive the neuron
    with torch.no_grad():
        shuffled = model(torch.from_numpy(out.images[[1, 2, 0]])).numpy()[np.arange(3), np.arange(3)]
    assert (shuffled < out.responses - 1.0).all()


def test_pixel_mei_recovers_template():
    prior = _prior()
    model = _neurons(prior)
    mei = most_exciting_inputs(model, [0, 1, 2], steps=80, lr=0.2, jitter=0, blur_sigma=0.0, device="cpu").standardized
    assert mei.shape == (3, 3, SIZE, SIZE)
    t = model.templates.numpy()
    r = [np.corrcoef(mei[i].ravel(), t[i].ravel())[0, 1] for i in range(3)]
    assert min(r) > 0.95
    assert np.corrcoef(mei[0].ravel(), t[1].ravel())[0, 1] < 0.6  # the wrong template does not match


@pytest.mark.parametrize("method", [genetic_algorithm, cma_es])
def test_evolution_drives_neuron_above_best_random(method):
    prior = _prior()
    model = _neurons(prior)
    f = neuron_objective(model, [0, 1, 2], prior, device="cpu")
    res = method(f, 3, ZD, generations=25, population=16, seed=0)
    base = _best_random(model, prior, n_random=25 * 16)  # the same number of evaluations, at random
    assert res.curve.shape == (25, 3) and res.evaluations[-1] == 400
    assert (res.responses > base).all()
    assert (res.responses > res.curve[0] + 0.5).all()


@pytest.mark.parametrize("method", [genetic_algorithm, cma_es])
def test_evolution_improves_on_toy_objective(method):
    target = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)

    def f(z):
        return -((z - target[:, None, :]) ** 2).sum(-1)

    res = method(f, 4, 6, generations=40, population=12, seed=1)
    assert (np.diff(res.curve, axis=0) >= 0).all()  # best-so-far never falls
    assert (res.curve[-1] > 0.2 * res.curve[0]).all()  # much closer than the first generation (scores < 0)
    assert (res.responses > -1.0).all()
    assert np.abs(res.z - target).max() < 1.0


def test_evolution_rejects_bad_arguments():
    with pytest.raises(ValueError, match="population"):
        genetic_algorithm(lambda z: z.sum(-1), 2, 3, population=2)
    with pytest.raises(ValueError, match="objective must return"):
        cma_es(lambda z: z.sum(-1)[:, :1], 2, 3, generations=2, population=6)


def test_prior_cache_detects_corrupt_and_mismatched(tmp_path):
    cfg = PriorConfig(size=SIZE, z_dim=ZD, width=8, steps=3, batch_size=4, n_patches=8)
    patches = np.random.default_rng(0).uniform(-1, 1, (8, 3, SIZE, SIZE)).astype(np.float32)
    calls = []

    def make():
        calls.append(1)
        return patches

    p1 = load_or_train_prior(cfg, make, device="cpu", directory=tmp_path)
    assert not p1.from_cache and len(calls) == 1
    path = prior_path(cfg, tmp_path)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    p2 = load_or_train_prior(cfg, make, device="cpu", directory=tmp_path)
    assert p2.from_cache and len(calls) == 1
    assert torch.equal(p2.generator.seed[0].weight, p1.generator.seed[0].weight)
    # corrupt: flip bytes in the middle of the file
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="retraining"):
        p3 = load_or_train_prior(cfg, make, device="cpu", directory=tmp_path)
    assert not p3.from_cache and len(calls) == 2
    # mismatched: a checkpoint of other settings stored under this config's name
    other = PriorConfig(size=SIZE, z_dim=ZD, width=8, steps=4, batch_size=4, n_patches=8)
    save_prior(load_or_train_prior(other, make, device="cpu", directory=tmp_path), path)
    with pytest.warns(UserWarning, match="trained with"):
        p4 = load_or_train_prior(cfg, make, device="cpu", directory=tmp_path)
    assert not p4.from_cache


def test_discriminator_score_and_shapes():
    prior = _prior()
    s = discriminator_score(prior, prior.sample(5))
    assert s.shape == (5,) and ((s >= 0) & (s <= 1)).all()
    with pytest.raises(ValueError, match="images must be"):
        discriminator_score(prior, np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="size"):
        PriorConfig(size=4)


def test_power_spectrum_slope_separates_noise_from_natural():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((4, 32, 32))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32), indexing="ij"))
    f[0, 0] = 1
    pink = np.real(np.fft.ifft2(np.fft.fft2(white) / f))  # amplitude 1/f -> power 1/f^2
    assert abs(metrics.power_spectrum_slope(white).mean()) < 0.5
    assert -2.6 < metrics.power_spectrum_slope(pink).mean() < -1.5


def test_other_training_images_get_another_cache_key(tmp_path):
    from neurobook.generative import data_fingerprint

    images = np.random.default_rng(0).integers(0, 255, (6, 3, 8, 8)).astype(np.float32)
    other = images.copy()
    other[0, 0, 0, 0] += 1  # one pixel differs
    assert data_fingerprint(images) == data_fingerprint(images.copy())
    assert data_fingerprint(images) != data_fingerprint(other)
    assert data_fingerprint(images) != data_fingerprint(images[:5])
    cfg = PriorConfig(size=SIZE, z_dim=ZD, width=8, steps=3, batch_size=4, n_patches=8,
                      data=f"v4:{data_fingerprint(images)}")
    cfg_other = PriorConfig(size=SIZE, z_dim=ZD, width=8, steps=3, batch_size=4, n_patches=8,
                            data=f"v4:{data_fingerprint(other)}")
    assert prior_path(cfg, tmp_path) != prior_path(cfg_other, tmp_path)


def test_natural_patches_mix_in_colour_and_grayscale_images(data_root):
    from neurobook.data.lurz2020 import load_lurz2020_images
    from neurobook.generative import natural_patches

    colour = np.zeros((5, 3, 40, 40), np.uint8)
    colour[:, 0] = 255  # pure red images
    gray = load_lurz2020_images(data_root)
    assert gray.shape[1:] == (36, 64) and gray.dtype == np.uint8 and len(gray) == 4472  # train images, no repeats
    patches = natural_patches(60, 12, seed=0, data_dir=data_root, extra=[colour, gray[:50]])
    assert patches.shape == (60, 3, 12, 12) and patches.min() >= -1 and patches.max() <= 1
    extra = patches[40:]  # the last third comes from the extra images
    red = np.isclose(extra[:, 0], 1).all((1, 2)) & np.isclose(extra[:, 1], -1).all((1, 2))
    grey = np.isclose(extra[:, 0], extra[:, 1]).all((1, 2)) & np.isclose(extra[:, 1], extra[:, 2]).all((1, 2))
    assert red.any() and grey.any() and (red | grey).all()
    assert not np.isclose(patches[:40, 0], patches[:40, 1]).all()  # the photographs are in colour
    with pytest.raises(ValueError, match="grayscale"):
        natural_patches(6, 12, data_dir=data_root, extra=[np.zeros((3, 2, 8, 8))])


class _CountingTemplates(TemplateNeurons):
    """Template neurons that count the images they are shown (``forward`` goes through ``forward_standardized``)."""

    seen = 0

    def forward_standardized(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return super().forward_standardized(x)


def _every_search(model, prior, neurons) -> dict:
    f = neuron_objective(model, neurons, prior, device=torch.device("cpu"))
    return {
        "pixel": lambda: most_exciting_inputs(model, neurons, steps=8, device="cpu"),
        "latent": lambda: latent_ascent(model, neurons, prior, steps=8, restarts=2, device=torch.device("cpu")),
        "ga": lambda: genetic_algorithm(f, len(neurons), ZD, generations=3, population=6),
        "cma": lambda: cma_es(f, len(neurons), ZD, generations=3, population=6),
    }


def test_every_search_returns_preferred_images_with_the_same_fields_and_counts_its_evaluations():
    prior = _prior()
    model = _CountingTemplates(_neurons(prior).templates.numpy())
    neurons = [2, 0]
    for name, search in _every_search(model, prior, neurons).items():
        model.seen = 0
        res = search()
        assert isinstance(res, PreferredImages), name
        assert res.images.shape == (2, 3, SIZE, SIZE) and res.images.dtype == np.float32, name
        np.testing.assert_array_equal(res.neurons, neurons)
        assert res.curve.shape == (len(res.evaluations), 2) and res.seconds > 0, name
        assert model.seen == len(neurons) * res.n_evaluations, name  # every image the model saw is counted
        with torch.no_grad():  # the images are in data units: shown as they are, they give the responses
            shown = model(torch.from_numpy(res.images)).numpy()[np.arange(2), neurons]
        np.testing.assert_allclose(res.responses, shown, rtol=1e-4, atol=1e-5)
        assert (res.z is None) == (name == "pixel"), name
        if res.z is not None:
            np.testing.assert_allclose(res.images, prior.images(torch.from_numpy(res.z)).detach().numpy(), atol=1e-3)
    pixel = most_exciting_inputs(model, neurons, steps=8, device="cpu")
    np.testing.assert_allclose(pixel.images, pixel.standardized * 127.5 + 127.5, rtol=1e-6)  # template units


def test_pixel_and_latent_parametrizations_share_one_loop():
    prior = _prior()
    model = _neurons(prior)
    latent = gradient_ascent(model, [0, 1], LatentCodes(prior), steps=12, lr=0.05, restarts=3, device="cpu", seed=4)
    again = latent_ascent(model, [0, 1], prior, steps=12, lr=0.05, restarts=3, device="cpu", seed=4)
    np.testing.assert_array_equal(latent.images, again.images)
    assert latent.method == "latent ascent" and latent.restart_z.shape == (2, 3, ZD)
    limit = 1.5 * ZD**0.5
    assert (np.linalg.norm(latent.restart_z, axis=-1) <= limit * (1 + 1e-5)).all()  # clamp_latent_norm held
    pixel = gradient_ascent(model, [0, 1], PixelImages.for_model(model, norm=20.0), steps=12, restarts=3, seed=4)
    assert pixel.method == "pixel ascent" and pixel.standardized.shape == (2, 3, SIZE, SIZE)
    np.testing.assert_allclose(np.linalg.norm(pixel.restart_images.reshape(6, -1) / 127.5 - 1, axis=1), 20.0,
                               rtol=1e-4)  # the norm projection held, in contrast units
    table = compare_preferred_images(model, {"pixel": pixel, "latent": latent}, np.ones(2), device="cpu")
    assert list(table["method"]) == ["pixel"] * 2 + ["latent"] * 2
    summary = search_summary({"pixel": pixel, "latent": latent})
    assert summary.loc["latent", "evaluations_per_neuron"] == 3 * 13 and summary["diversity"].notna().all()


def test_upsampling_generator_with_a_spectrally_normalized_hinge_discriminator_trains_and_caches(tmp_path):
    from neurobook.generative.dcgan import diff_augment

    cfg = PriorConfig(size=SIZE, z_dim=ZD, width=8, steps=3, batch_size=4, n_patches=8, arch="upsample")
    gen, disc = Generator(ZD, SIZE, 8, "upsample"), Discriminator(SIZE, 8, "upsample")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in gen.modules())  # no checkerboard source
    assert all(hasattr(m, "parametrizations") for m in disc.modules() if isinstance(m, torch.nn.Conv2d))
    patches = np.random.default_rng(0).uniform(-1, 1, (8, 3, SIZE, SIZE)).astype(np.float32)
    first = load_or_train_prior(cfg, lambda: patches, device="cpu", directory=tmp_path)
    again = load_or_train_prior(cfg, lambda: patches, device="cpu", directory=tmp_path)
    assert again.from_cache and np.allclose(first.sample(3), again.sample(3), atol=1e-5)
    with pytest.raises(ValueError, match="arch"):
        PriorConfig(arch="vae")
    x = torch.zeros(4, 3, SIZE, SIZE, requires_grad=True)
    out = diff_augment(x + 0.5, torch.Generator().manual_seed(0))
    out.sum().backward()
    assert out.shape == x.shape and x.grad.abs().sum() > 0
    assert ((out == 0).flatten(1).float().mean(1) >= 0.2).all()  # a quarter of each image is cut out (or shifted)
