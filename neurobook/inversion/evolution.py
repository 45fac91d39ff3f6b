"""Gradient-free evolution of latent codes, treating each neuron as a black box (Ponce et al. 2019, "XDream").

A closed-loop experiment can only show images and count spikes, so these methods see nothing but the responses to
the images they ask for. Both run many neurons at once: ``objective`` takes latents (K, P, z_dim) for K neurons with P
candidates each and returns responses (K, P); one call is one generation, K * P evaluations.

* :func:`genetic_algorithm`: the XDream GA: keep the best ``elites``, draw parents with probability proportional to
  ``exp(score / temperature)`` (scores standardized per generation), uniform crossover, Gaussian mutation of a
  fraction of the genes.
* :func:`cma_es`: CMA-ES (Hansen 2016; the ``cma`` package), one strategy per neuron, asked and told together.

Both return a :class:`~neurobook.inversion.result.PreferredImages`; its images are rendered by the objective when it
can (:func:`neuron_objective`'s can), else they are the best latents themselves.

Both take ``max_norm`` (candidates are shrunk into the ball of radius ``max_norm * sqrt(z_dim)`` before they are
shown, the bound latent ascent keeps) and ``monitor``, a second objective that scores each generation's *pick*, the
search's current answer, without the experimenter seeing it: with a noisy ``objective`` (:mod:`neurobook.inversion.
noise`) the monitor is the noise-free model, and ``pick_curve`` is what the search would have delivered had it
stopped there. The GA's pick is the best-scored candidate of the generation (its elites are re-shown each generation,
so a lucky draw does not last); CMA-ES's pick is the mean of its search distribution.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from neurobook.inversion._common import check_neurons, device_of, frozen, positive_int
from neurobook.inversion.noise import NoisyObjective
from neurobook.inversion.result import PreferredImages

__all__ = ["NeuronObjective", "cma_es", "evolve", "genetic_algorithm", "neuron_objective"]

Objective = Callable[[np.ndarray], np.ndarray]


class NeuronObjective:
    """Black-box responses: latents (K, P, z_dim) -> response of neuron ``neurons[k]`` to image ``prior(z[k, p])``.

    ``images(z)`` renders latents (K, z_dim) in data units, so a search on this objective can return its images.
    """

    def __init__(self, model: nn.Module, neurons: Sequence[int], prior, device: str | torch.device = "auto",
                 batch_size: int = 1024) -> None:  # prior: an ImagePrior (duck-typed)
        self.neurons = check_neurons(model, neurons)
        self.batch_size = positive_int("batch_size", batch_size)
        self.model, self.prior, self.device = model, prior, device_of(device)
        model.to(self.device)
        prior.eval().to(self.device)
        self._cols = torch.as_tensor(self.neurons, device=self.device)

    @torch.no_grad()
    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float32)
        if z.ndim != 3 or z.shape[0] != len(self.neurons):
            raise ValueError(f"objective expects latents (K={len(self.neurons)}, P, z_dim); got shape {z.shape}")
        k, p, zd = z.shape
        flat = torch.from_numpy(z.reshape(k * p, zd)).to(self.device)
        cols = self._cols.repeat_interleave(p)
        out = []
        with frozen(self.model):
            for s in range(0, k * p, self.batch_size):
                resp = self.model(self.prior.images(flat[s:s + self.batch_size]))
                out.append(resp[torch.arange(len(resp), device=self.device), cols[s:s + self.batch_size]])
        return torch.cat(out).cpu().numpy().reshape(k, p)

    @torch.no_grad()
    def images(self, z: np.ndarray) -> np.ndarray:
        """Latents (K, z_dim) -> images (K, 3, H, W) in 0..255."""
        flat = torch.from_numpy(np.asarray(z, np.float32)).to(self.device)
        return np.concatenate([self.prior.images(flat[s:s + self.batch_size]).cpu().numpy()
                               for s in range(0, len(flat), self.batch_size)]).astype(np.float32)


def neuron_objective(model: nn.Module, neurons: Sequence[int], prior, device: str | torch.device = "auto",
                     batch_size: int = 1024) -> NeuronObjective:
    """The black-box objective of ``neurons`` of ``model`` seen through ``prior`` (see :class:`NeuronObjective`)."""
    return NeuronObjective(model, neurons, prior, device, batch_size)


def _check(n_neurons: int, z_dim: int, generations: int, population: int) -> None:
    for name, value in (("n_neurons", n_neurons), ("z_dim", z_dim), ("generations", generations),
                        ("population", population)):
        positive_int(name, value)
    if population < 4:
        raise ValueError(f"population must be >= 4, got {population}")


def _bound(z: np.ndarray, max_norm: float | None) -> np.ndarray:
    """Shrink latents (..., z_dim) into the ball of radius ``max_norm * sqrt(z_dim)`` (None: no bound)."""
    if max_norm is None:
        return z
    limit = max_norm * z.shape[-1] ** 0.5
    norm = np.linalg.norm(z, axis=-1, keepdims=True).clip(1e-12)
    return (z * np.minimum(1.0, limit / norm)).astype(np.float32)


def _check_bound(max_norm: float | None) -> None:
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm must be > 0 or None, got {max_norm}")


class _Picks:
    """Each generation's pick (K, z_dim) scored by the monitor, for :attr:`PreferredImages.pick_curve`."""

    def __init__(self, monitor: Objective | None) -> None:
        self.monitor, self.curve, self.z = monitor, [], None

    def record(self, z: np.ndarray) -> None:
        if self.monitor is not None:
            self.z = np.asarray(z, np.float32)
            self.curve.append(np.asarray(self.monitor(self.z[:, None]), np.float64)[:, 0])


def _result(method: str, objective: Objective, best_z: np.ndarray, best: np.ndarray, curve: list, mean_curve: list,
            evaluations: list, start: float, picks: _Picks) -> PreferredImages:
    """The common result; a plain callable objective's "images" are the latents it was shown."""
    neurons = getattr(objective, "neurons", np.arange(len(best_z)))
    images = objective.images(best_z) if hasattr(objective, "images") else best_z.copy()
    extra = {}
    if picks.monitor is not None:
        extra = {"pick_z": picks.z, "pick_curve": np.array(picks.curve),
                 "pick_images": objective.images(picks.z) if hasattr(objective, "images") else picks.z.copy()}
    return PreferredImages(method=method, neurons=np.asarray(neurons), images=images, responses=best,
                           curve=np.array(curve), evaluations=np.array(evaluations),
                           seconds=time.perf_counter() - start, z=best_z, mean_curve=np.array(mean_curve), **extra)


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
    max_norm: float | None = None,
    monitor: Objective | None = None,
    seed: int = 0,
) -> PreferredImages:
    """XDream-style GA on latent codes for ``n_neurons`` black boxes at once (maximizes ``objective``)."""
    start = time.perf_counter()
    _check(n_neurons, z_dim, generations, population)
    _check_bound(max_norm)
    picks = _Picks(monitor)
    if not 0 <= elites < population:
        raise ValueError(f"elites must be in [0, population), got {elites}")
    rng = np.random.default_rng(seed)
    k, p = n_neurons, population
    pop = _bound(rng.standard_normal((k, p, z_dim)).astype(np.float32), max_norm)
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
        picks.record(pop[np.arange(k), top])
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
        pop = np.concatenate([pop[rows, order[:, :elites]], _bound(children.astype(np.float32), max_norm)], axis=1)
    return _result("genetic algorithm", objective, best_z, best, curve, mean_curve, evals, start, picks)


def cma_es(
    objective: Objective,
    n_neurons: int,
    z_dim: int,
    *,
    generations: int = 50,
    population: int = 32,
    sigma0: float = 0.5,
    max_norm: float | None = None,
    monitor: Objective | None = None,
    seed: int = 0,
) -> PreferredImages:
    """CMA-ES (``cma.CMAEvolutionStrategy``) per neuron, from z = 0, all neurons evaluated in one batch.

    With ``max_norm`` each candidate is shown shrunk into the ball, and the strategy is told the candidate it asked
    for with that score (the usual repair of a box or ball constraint).
    """
    import cma

    start = time.perf_counter()
    _check(n_neurons, z_dim, generations, population)
    _check_bound(max_norm)
    picks = _Picks(monitor)
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
        pop = _bound(np.stack(asked).astype(np.float32), max_norm)
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
        picks.record(_bound(np.stack([np.asarray(s.mean) for s in strategies]).astype(np.float32), max_norm))
    return _result("CMA-ES", objective, best_z, best, curve, mean_curve, evals, start, picks)


def evolve(
    method: Callable[..., PreferredImages],
    model: nn.Module,
    neurons: Sequence[int],
    prior,
    *,
    restarts: int = 1,
    fano: float | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    **kwargs,
) -> PreferredImages:
    """``method`` (:func:`genetic_algorithm` or :func:`cma_es`) on ``neurons`` of ``model`` through ``prior``.

    All ``restarts`` run in one batch; the result keeps the best restart per neuron (by the noise-free response),
    with every restart's image in ``restart_images`` and ``evaluations`` counting every restart, as gradient ascent
    does. With ``fano`` the search sees single-trial counts (:class:`~neurobook.inversion.noise.NoisyObjective`)
    and the noise-free model is its monitor: ``pick_curve`` and ``pick_images`` are what it would deliver.
    ``kwargs`` go to ``method`` (generations, population, max_norm, ...).
    """
    idx = np.asarray(neurons)
    positive_int("restarts", restarts)
    k = len(idx)
    clean = neuron_objective(model, np.tile(idx, restarts), prior, device=device)
    shown = clean if fano is None else NoisyObjective(clean, fano=fano, seed=seed)
    res = method(shown, k * restarts, prior.z_dim, seed=seed, monitor=None if fano is None else clean, **kwargs)
    clean_response = clean(res.z[:, None])[:, 0] if fano is not None else res.responses
    by_restart = clean_response.reshape(restarts, k)
    pick = by_restart.argmax(0) * k + np.arange(k)

    def per_neuron(a: np.ndarray | None, axis: int = 0) -> np.ndarray | None:
        return None if a is None else np.take(a, pick, axis=axis)

    stack = res.images.reshape(restarts, k, *res.images.shape[1:]).swapaxes(0, 1)
    return PreferredImages(
        method=res.method, neurons=idx, images=res.images[pick], responses=clean_response[pick],
        curve=res.curve[:, pick], evaluations=res.evaluations * restarts, seconds=res.seconds, z=res.z[pick],
        mean_curve=per_neuron(res.mean_curve, 1),
        restart_images=stack if restarts > 1 else None, restart_responses=by_restart.T if restarts > 1 else None,
        pick_z=per_neuron(res.pick_z), pick_images=per_neuron(res.pick_images),
        pick_curve=per_neuron(res.pick_curve, 1))
