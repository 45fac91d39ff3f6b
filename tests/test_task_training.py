"""The contrastive task of Chapter 4's task-trained arm: the loss, the views, and a check that it can fail."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from neurobook.models.task import TaskNet
from neurobook.task_training import (
    nt_xent,
    pair_retrieval_accuracy,
    random_views,
    standardize_images,
    train_contrastive,
)


def pink_noise_images(n: int, size: int, seed: int) -> np.ndarray:
    """Images with a 1/f amplitude spectrum, like natural photographs."""
    rng = np.random.default_rng(seed)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    spectrum = (rng.normal(size=(n, size, size)) + 1j * rng.normal(size=(n, size, size))) / np.maximum(f, 1 / size)
    return np.fft.ifft2(spectrum).real.astype(np.float32)


def test_nt_xent_of_equal_embeddings_is_log_of_the_batch_and_low_for_matched_pairs():
    n = 8
    same = torch.ones(n, 4)
    assert nt_xent(same, same).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)
    z = torch.randn(n, 16)
    assert nt_xent(z, z, temperature=0.1) < nt_xent(z, torch.randn(n, 16), temperature=0.1)


def test_views_have_the_requested_size_and_differ():
    images = standardize_images(pink_noise_images(4, 32, 0))
    gen = torch.Generator().manual_seed(0)
    a, b = random_views(images, 12, gen), random_views(images, 12, gen)
    assert a.shape == b.shape == (4, 1, 12, 12)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="constant"):
        standardize_images(np.ones((3, 8, 8)))


def test_training_raises_held_out_retrieval_and_a_constant_model_stays_at_chance():
    torch.manual_seed(0)
    train = standardize_images(pink_noise_images(400, 32, 1))
    held = standardize_images(pink_noise_images(128, 32, 2))
    net = TaskNet(12, (), channels=6)
    before = pair_retrieval_accuracy(net, held, size=12, batch_size=64)
    run = train_contrastive(net, train, size=12, steps=60, batch_size=64, seed=0)
    after = pair_retrieval_accuracy(run.model, held, size=12, batch_size=64)
    assert np.mean(run.losses[-10:]) < np.mean(run.losses[:10])
    assert after > before + 0.05, (before, after)

    class Constant(nn.Module):
        def forward(self, x):
            return torch.ones(x.shape[0], 4)

    assert pair_retrieval_accuracy(Constant(), held, size=12, batch_size=64) <= 2 / 127
    with pytest.raises(ValueError, match="at least"):
        pair_retrieval_accuracy(net, held[:10], size=12, batch_size=64)
