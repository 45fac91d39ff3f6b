"""Gradient-free evolution of latent codes, treating each neuron as a black box (Ponce et al. 2019, "XDream").

A closed-loop experiment can only show images and count spikes, so these methods see nothing but the responses to
the images they ask for. Both run many neurons at once: ``objective`` takes latents (K, P, z_dim) for K neurons with P
candidates each and returns responses (K, P); one call is one generation, K * P evaluations.

* :func:`genetic_algorithm`: the XDream GA: keep the best ``elites``, draw parents with probability proportional to
  ``exp(score / temperature)`` (scores standardized per generation), uniform crossover, Gaussian mutation of a
  fraction of the genes.
* :func:`cma_es`: CMA-ES (Hansen 2016; the ``cma`` package), one strategy per neuron, asked and told together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurobook.config import resolve_device
from neurobook.inversion._common import check_neurons, frozen

__all__ = ["EvolutionResult", "cma_es", "genetic_algorithm", "neuron_objective"]

Objective = Callable[[np.ndarray], np.ndarray]


@dataclass
class EvolutionResult:
    """Best latent per neuron, its score, and the best-so-far score after each generation."""

    z: np.ndarray  # (K, z_dim)
    best: np.ndarray  # (K,)
    curve: np.ndarray  # (generations, K): best score so far
    evaluations: np.ndarray  # (generations,): evaluations per neuron after each generation
    mean_curve: np.ndarray  # (generations, K): the generation's mean score


def neuron_objective(model: nn.Module, neurons: Sequence[int], prior, device: str = "auto",
                     batch_size: int = 1024) -> Objective:
    """Black-box responses: latents (K, P, z_dim) -> response of neuron ``neurons[k]`` to image ``prior(z[k, p])``."""
    idx = check_neurons(model, neurons)
    dev = resolve_device(device)
    model.to(dev)
    prior.eval().to(dev)
    cols_all = torch.as_tensor(idx, device=dev)

    @torch.no_grad()
    def objective(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float32)
        if z.ndim != 3 or z.shape[0] != len(idx):
            raise ValueError(f"objective expects latents (K={len(idx)}, P, z_dim); got shape {z.shape}")
        k, p, zd = z.shape
        flat = torch.from_numpy(z.reshape(k * p, zd)).to(dev)
        cols = cols_all.repeat_interleave(p)
        out = []
        with frozen(model):
            for s in range(0, k * p, batch_size):
                resp = model(prior.images(flat[s:s + batch_size]))
                out.append(resp[torch.arange(len(resp), device=dev), cols[s:s + batch_size]])
        return torch.cat(out).cpu().numpy().reshape(k, p)

    return objective


def _check(n_neurons: int, z_dim: int, generations: int, population: int) -> None:
    for name, value in (("n_neurons", n_neurons), ("z_dim", z_dim), ("generations", generations),
                        ("population", population)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if population < 4:
        raise ValueError(f"population must be >= 4, got {population}")


def genetic_algorithm(
    objective: Objective,
    n_neurons: int,
    z_dim: int,
    *,
    generations: int = 50,
    population: int = 32,
    elites: int = 2,
    mutation_rate: float = 0.25,
    mutation_scale: float = 0.5,
    temperature: float = 0.5,
    seed: int = 0,
) -> EvolutionResult:
    """XDream-style GA on latent codes for ``n_neurons`` black boxes at once (maximizes ``objective``)."""
    _check(n_neurons, z_dim, generations, population)
    if not 0 <= elites < population:
        raise ValueError(f"elites must be in [0, population), got {elites}")
    rng = np.random.default_rng(seed)
    k, p = n_neurons, population
    pop = rng.standard_normal((k, p, z_dim)).astype(np.float32)
    best_z = np.zeros((k, z_dim), np.float32)
    best = np.full(k, -np.inf)
    curve, mean_curve, evals = [], [], []
    rows = np.arange(k)[:, None]
    for g in range(generations):
        scores = np.asarray(objective(pop), np.float64)
        if scores.shape != (k, p):
            raise ValueError(f"objective must return scores (K={k}, P={p}); got {scores.shape}")
        top = scores.argmax(1)
        better = scores[np.arange(k), top] > best
        best[better] = scores[np.arange(k), top][better]
        best_z[better] = pop[np.arange(k), top][better]
        curve.append(best.copy())
        mean_curve.append(scores.mean(1))
        evals.append((g + 1) * p)
        if g == generations - 1:
            break
        order = np.argsort(-scores, axis=1)
        std = scores.std(1, keepdims=True)
        zs = (scores - scores.mean(1, keepdims=True)) / np.where(std > 0, std, 1.0)
        prob = np.exp((zs - zs.max(1, keepdims=True)) / temperature)
        prob /= prob.sum(1, keepdims=True)
        n_child = p - elites
        cum = prob.cumsum(1)
        pa = (rng.random((k, n_child, 1)) > cum[:, None, :]).sum(2).clip(max=p - 1)
        pb = (rng.random((k, n_child, 1)) > cum[:, None, :]).sum(2).clip(max=p - 1)
        take_a = rng.random((k, n_child, z_dim)) < 0.5
        children = np.where(take_a, pop[rows, pa], pop[rows, pb])
        mutate = rng.random(children.shape) < mutation_rate
        children = children + mutate * rng.standard_normal(children.shape).astype(np.float32) * mutation_scale
        pop = np.concatenate([pop[rows, order[:, :elites]], children.astype(np.float32)], axis=1)
    return EvolutionResult(best_z, best, np.array(curve), np.array(evals), np.array(mean_curve))


def cma_es(
    objective: Objective,
    n_neurons: int,
    z_dim: int,
    *,
    generations: int = 50,
    population: int = 32,
    sigma0: float = 0.5,
    seed: int = 0,
) -> EvolutionResult:
    """CMA-ES (``cma.CMAEvolutionStrategy``) per neuron, from z = 0, all neurons evaluated in one batch."""
    import cma

    _check(n_neurons, z_dim, generations, population)
    k, p = n_neurons, population
    rng = np.random.default_rng(seed)
    strategies = [
        cma.CMAEvolutionStrategy(np.zeros(z_dim), sigma0, {"popsize": p, "seed": int(rng.integers(1, 2**31 - 1)),
                                                          "verbose": -9, "verb_log": 0, "verb_disp": 0})
        for _ in range(k)
    ]
    best_z = np.zeros((k, z_dim), np.float32)
    best = np.full(k, -np.inf)
    curve, mean_curve, evals = [], [], []
    for g in range(generations):
        asked = [np.asarray(s.ask()) for s in strategies]
        pop = np.stack(asked).astype(np.float32)
        scores = np.asarray(objective(pop), np.float64)
        if scores.shape != (k, p):
            raise ValueError(f"objective must return scores (K={k}, P={p}); got {scores.shape}")
        for i, s in enumerate(strategies):
            s.tell(list(asked[i]), list(-scores[i]))  # cma minimizes
        top = scores.argmax(1)
        better = scores[np.arange(k), top] > best
        best[better] = scores[np.arange(k), top][better]
        best_z[better] = pop[np.arange(k), top][better]
        curve.append(best.copy())
        mean_curve.append(scores.mean(1))
        evals.append((g + 1) * p)
    return EvolutionResult(best_z, best, np.array(curve), np.array(evals), np.array(mean_curve))
