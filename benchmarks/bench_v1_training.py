"""Speed benchmark on real mouse V1 data (Lurz et al. 2021): neurobook's CNN vs the neuralpredictors baseline.

What runs, per device (CPU and, when asked and present, CUDA):

1. ``ours``: ``neurobook.models.build_model("cnn_gaussian", ...)`` trained by ``neurobook.train.fit`` (tensors
   live on the device, mini-batches by index permutation, bf16/fp16 autocast on CUDA unless ``--no-amp``), then
   batched MEI inversion with ``neurobook.inversion.most_exciting_inputs``.
2. ``baseline``: the field's standard model, sinzlab's neuralpredictors 0.3.0 ``Stacked2dCore`` +
   ``FullGaussian2d`` readout (the Sensorium 2022 baseline architecture), trained the way its users train it:
   a torch ``DataLoader`` over a ``TensorDataset`` of CPU tensors, each batch moved to the device, fp32, Poisson
   loss + the modules' regularizers, Adam, validation correlation after every epoch (best weights kept).

Both see the same data (same neurons, same train/validation/test split, same image standardization), the same
number of epochs, batch size, learning rate and core size (channels, layers, 9x9 input and 7x7 hidden kernels,
'same' padding, batchnorm + ELU, the readout at the last layer). Both are scored on the test tier: correlation
to the repeat average (100 images shown ~10 times each) and single-trial correlation.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/bench_v1_training.py                  # CPU defaults, ~5 min on 2 cores
    PYTHONPATH=. python benchmarks/bench_v1_training.py --device both    # CPU and CUDA, GPU/CPU ratios

Only numpy, torch and neurobook's data/models/train/metrics/inversion modules are needed; neuralpredictors is
optional (``pip install --no-deps neuralpredictors==0.3.0``; it also needs scipy). If it cannot be imported the
script says why and benchmarks neurobook alone (``--require-baseline`` makes that an error).

neuralpredictors 0.3.0 on Python >= 3.10: as released it does ``from collections import Iterable`` (removed from
``collections`` in Python 3.10) and ``import torchvision`` at module level (undeclared; used only by
``TransferLearningCore``, not here). :func:`import_baseline` therefore aliases the ``collections.abc`` names into
``collections`` and, when torchvision is not installed, puts an empty stand-in ``torchvision`` module into
``sys.modules`` for the duration of the import only. No neuralpredictors code is copied here; the baseline is
built from its own classes.
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import copy
import importlib.machinery
import importlib.util
import json
import math
import os
import platform
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

INPUT_KERNEL = 9
HIDDEN_KERNEL = 7
#: Regularization weights of the Sensorium 2022 baseline configuration (input Laplacian, readout feature L1).
BASELINE_GAMMA_INPUT = 6.3831
BASELINE_GAMMA_READOUT = 0.0076


# --------------------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults finish in about 5 minutes on a 2-core CPU."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--device", choices=("cpu", "cuda", "auto", "both"), default="auto",
                   help="'auto': CUDA if present else CPU; 'both': CPU, then CUDA if present")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (same for both models)")
    p.add_argument("--downsample", type=int, default=2, choices=(1, 2, 4),
                   help="average k x k pixel blocks of the 36x64 images")
    p.add_argument("--channels", type=int, default=16, help="core feature maps per layer")
    p.add_argument("--layers", type=int, default=3, help="core conv layers")
    p.add_argument("--n-neurons", type=int, default=1000,
                   help="random subset of the 5335 neurons (seeded); 0 = all")
    p.add_argument("--mei-neurons", type=int, default=64, help="neurons inverted together (0 skips MEIs)")
    p.add_argument("--mei-steps", type=int, default=50, help="gradient steps per MEI")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size (both models)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (both models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default, one per core); on shared VMs 1 can be faster")
    p.add_argument("--repeats", type=int, default=1,
                   help="train (and invert) each model this many times per device, alternating which goes first; "
                        "the table reports the fastest run and the spread (use >= 3 on shared or noisy machines)")
    p.add_argument("--no-amp", action="store_true",
                   help="train ours in fp32 on CUDA too (default: neurobook's bf16/fp16 autocast on CUDA)")
    p.add_argument("--skip-baseline", action="store_true", help="benchmark neurobook only")
    p.add_argument("--require-baseline", action="store_true", help="fail if neuralpredictors cannot be imported")
    p.add_argument("--data-dir", default=os.environ.get("NEUROBOOK_DATA_DIR"),
                   help="local data directory holding lurz2020_mouse_v1/ (default: $NEUROBOOK_DATA_DIR)")
    p.add_argument("--json-out", default=None, help="also write all results to this JSON file")
    args = p.parse_args(argv)
    for name in ("epochs", "channels", "layers", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("n_neurons", "mei_neurons", "mei_steps", "threads"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    if args.skip_baseline and args.require_baseline:
        p.error("--skip-baseline and --require-baseline contradict each other")
    return args


def resolve_devices(choice: str) -> list[torch.device]:
    """The devices to benchmark, in order; ``both`` drops CUDA (with a note) when there is none."""
    has_cuda = torch.cuda.is_available()
    if choice == "cuda" and not has_cuda:
        raise SystemExit("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    if choice == "both":
        if not has_cuda:
            print("note: --device both, but no CUDA GPU is visible: benchmarking the CPU only")
        return [torch.device("cpu")] + ([torch.device("cuda")] if has_cuda else [])
    if choice == "auto":
        return [torch.device("cuda" if has_cuda else "cpu")]
    return [torch.device(choice)]


# --------------------------------------------------------------------------------------------------- imports


def _ensure_tqdm() -> None:
    """``neurobook.train`` imports ``tqdm.auto`` for its progress bar (disabled here); stand in when tqdm is absent."""
    try:
        import tqdm.auto  # noqa: F401
        return
    except ImportError:
        pass

    class _NoBar:
        """Iterates like ``tqdm(iterable, disable=True)``."""

        def __init__(self, iterable: Any = None, *args: Any, **kwargs: Any) -> None:
            self._iterable = iterable

        def __iter__(self):
            return iter(self._iterable)

        def set_postfix(self, *args: Any, **kwargs: Any) -> None:
            """No-op."""

        def close(self) -> None:
            """No-op."""

    for name in ("tqdm", "tqdm.auto"):
        module = types.ModuleType(name, "stand-in for tqdm (not installed): no progress bars")
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        module.tqdm = _NoBar  # type: ignore[attr-defined]
        sys.modules[name] = module
    sys.modules["tqdm"].auto = sys.modules["tqdm.auto"]  # type: ignore[attr-defined]


def import_neurobook() -> types.SimpleNamespace:
    """The neurobook functions this benchmark uses (imported lazily so ``--help`` stays fast)."""
    _ensure_tqdm()
    from neurobook.data import load_lurz2020
    from neurobook.inversion import most_exciting_inputs
    from neurobook.metrics import correlation, correlation_to_average, single_trial_correlation
    from neurobook.models import build_model
    from neurobook.train import fit, predict

    return types.SimpleNamespace(
        load_lurz2020=load_lurz2020, most_exciting_inputs=most_exciting_inputs, correlation=correlation,
        correlation_to_average=correlation_to_average, single_trial_correlation=single_trial_correlation,
        build_model=build_model, fit=fit, predict=predict,
    )


def import_baseline() -> tuple[tuple[type, type] | None, str]:
    """``((Stacked2dCore, FullGaussian2d), version)`` from neuralpredictors, or ``(None, why it failed)``.

    Two compatibility shims, both needed for neuralpredictors 0.3.0 on Python >= 3.10:

    * ``collections.Iterable`` and friends moved to ``collections.abc`` (gone from ``collections`` since 3.10);
      every public ``collections.abc`` name missing from ``collections`` is aliased there.
    * ``neuralpredictors.layers.cores.conv2d`` does ``import torchvision`` (not a declared dependency; only its
      ``TransferLearningCore`` uses it). If torchvision is not installed, an empty stand-in module is put in
      ``sys.modules`` for the import and removed again afterwards.
    """
    if importlib.util.find_spec("neuralpredictors") is None:
        return None, "neuralpredictors is not installed (pip install --no-deps neuralpredictors==0.3.0)"
    for name in collections.abc.__all__:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    stub = None
    if importlib.util.find_spec("torchvision") is None:
        stub = types.ModuleType("torchvision", "empty stand-in so that neuralpredictors 0.3.0 imports")
        stub.__spec__ = importlib.machinery.ModuleSpec("torchvision", loader=None)
        sys.modules["torchvision"] = stub
    try:
        from neuralpredictors.layers.cores import Stacked2dCore
        from neuralpredictors.layers.readouts import FullGaussian2d
    except Exception as err:  # noqa: BLE001  (any import-time failure means: no baseline, say why)
        return None, f"importing neuralpredictors failed: {type(err).__name__}: {err}"
    finally:
        if stub is not None and sys.modules.get("torchvision") is stub:
            del sys.modules["torchvision"]
    try:
        from importlib.metadata import version

        found = version("neuralpredictors")
    except Exception:  # noqa: BLE001  (metadata is informative only)
        found = "unknown"
    if found != "0.3.0":
        print(f"note: neuralpredictors {found} found; this benchmark was written against 0.3.0")
    return (Stacked2dCore, FullGaussian2d), found


# --------------------------------------------------------------------------------------------------- FLOPs


@dataclass
class FlopEstimate:
    """Analytic multiply-accumulate (MAC) counts; FLOPs = 2 x MACs. Batchnorm/ELU/loss are not counted."""

    conv_macs_forward: int  # per image
    conv_macs_first_layer: int  # per image, layer 0 only (its input gradient is never needed in training)
    readout_macs_forward: int  # per image: 4 bilinear taps + 1 feature dot product per channel and neuron
    train_flops_per_image: float
    mei_flops_per_image_step: float
    train_flops_per_epoch: float  # training pass over the train tier (excludes validation)
    val_flops_per_epoch: float  # forward pass over the validation tier


def estimate_flops(
    image_shape: tuple[int, int], channels: int, layers: int, n_neurons: int, n_train: int, n_val: int
) -> FlopEstimate:
    """Count conv MACs analytically for the shared core shape ('same' padding, stride 1).

    Forward conv MACs per image: ``H W C k0^2`` (layer 0, one input channel) ``+ (L-1) H W C^2 k^2``.
    Training a conv layer costs its forward MACs again for the weight gradient and again for the input gradient,
    except layer 0, whose input (the image) needs no gradient: ``3 fwd - layer0``. An MEI step needs the forward
    and the input gradients of every layer but no weight gradients: ``2 fwd``. Readout: ``5 C N`` per image
    forward, x3 for training, x2 per MEI step.
    """
    h, w = image_shape
    first = h * w * channels * INPUT_KERNEL**2
    hidden = (layers - 1) * h * w * channels * channels * HIDDEN_KERNEL**2
    fwd = first + hidden
    readout = 5 * channels * n_neurons
    train_macs = 3 * fwd - first + 3 * readout
    mei_macs = 2 * fwd + 2 * readout
    return FlopEstimate(
        conv_macs_forward=fwd, conv_macs_first_layer=first, readout_macs_forward=readout,
        train_flops_per_image=2.0 * train_macs, mei_flops_per_image_step=2.0 * mei_macs,
        train_flops_per_epoch=2.0 * train_macs * n_train, val_flops_per_epoch=2.0 * (fwd + readout) * n_val,
    )


# --------------------------------------------------------------------------------------------------- helpers


@dataclass
class RunResult:
    """One model trained (and for ours inverted) on one device."""

    model: str
    device: str
    epochs: int
    train_seconds: float  # wall clock around the whole training call (setup, epochs, validation)
    train_loop_seconds: float  # training passes only (no validation), summed over epochs
    images_per_second: float  # training images per second of train_loop_seconds
    train_gflops_per_second: float  # estimated conv+readout training FLOPs / train_loop_seconds
    best_val_corr: float
    test_corr_to_average: float
    test_single_trial_corr: float
    mei_neurons: int = 0
    mei_steps: int = 0
    mei_seconds: float = float("nan")
    mei_neurons_per_second: float = float("nan")
    notes: list[str] = field(default_factory=list)
    repeats: int = 1
    train_seconds_all: list[float] = field(default_factory=list)  # one per repeat
    mei_seconds_all: list[float] = field(default_factory=list)
    reference_gflops: list[float] = field(default_factory=list)  # GEMM yardstick before and after each repeat


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock timings are complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_gflops(device: torch.device, repeats: int = 5) -> float:
    """Median fp32 GEMM throughput right now: a yardstick that tells a slow model from a busy machine.

    Shared CPUs (VMs with noisy neighbours, laptops that throttle) can change speed several-fold within seconds;
    the benchmark records this before and after every run and warns when it varied.
    """
    size = 2048 if device.type == "cuda" else 512
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(4):
            a = (a @ b) * size**-0.5  # keeps entries ~N(0, 1): no overflow, no denormals
        sync(device)
        times.append(time.perf_counter() - t0)
    return 4 * 2 * size**3 / float(np.median(times)) / 1e9


def combine(runs: list[RunResult]) -> RunResult:
    """Best of repeated runs of one model on one device: fastest wall time, highest images/s, fastest MEIs."""
    best = copy.deepcopy(min(runs, key=lambda r: r.train_seconds))
    best.repeats = len(runs)
    best.train_seconds_all = [r.train_seconds for r in runs]
    best.train_loop_seconds = min(r.train_loop_seconds for r in runs)
    fastest = max(runs, key=lambda r: r.images_per_second)
    best.images_per_second, best.train_gflops_per_second = fastest.images_per_second, fastest.train_gflops_per_second
    best.reference_gflops = [g for r in runs for g in r.reference_gflops]
    meis = [r.mei_seconds for r in runs if math.isfinite(r.mei_seconds)]
    best.mei_seconds_all = meis
    if meis:
        best.mei_seconds = min(meis)
        best.mei_neurons_per_second = best.mei_neurons / best.mei_seconds
    return best


def warm_up(device: torch.device) -> None:
    """Create the CUDA context and cuDNN/cuBLAS handles before anything is timed (no-op on CPU)."""
    if device.type != "cuda":
        return
    conv = nn.Conv2d(1, 4, 3, padding=1).to(device)
    x = torch.randn(8, 1, 16, 16, device=device)
    conv(x).sum().backward()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        conv(x).float().sum().backward()
    sync(device)


def load_data(nb: types.SimpleNamespace, args: argparse.Namespace):
    """The Lurz 2021 data at the chosen resolution, restricted to a seeded random subset of neurons."""
    if not args.data_dir:
        print("note: no --data-dir and no $NEUROBOOK_DATA_DIR: neurobook will look in its download cache")
    data = nb.load_lurz2020(args.data_dir, downsample=args.downsample)
    total = data.n_neurons
    if 0 < args.n_neurons < total:
        rng = np.random.default_rng(args.seed)
        data = data.select_neurons(np.sort(rng.choice(total, size=args.n_neurons, replace=False)))
    return data, total


def mean_test_scores(nb: types.SimpleNamespace, pred: np.ndarray, test) -> tuple[float, float]:
    """Mean over neurons of the test-tier correlation to the repeat average and the single-trial correlation."""
    to_avg = nb.correlation_to_average(pred, test.responses, test.image_ids)
    single = nb.single_trial_correlation(pred, test.responses)
    return float(np.nanmean(to_avg)), float(np.nanmean(single))


# --------------------------------------------------------------------------------------------------- ours


def bench_ours(nb: types.SimpleNamespace, data, device: torch.device, args: argparse.Namespace,
               flops: FlopEstimate) -> RunResult:
    """Train neurobook's ``cnn_gaussian`` with ``fit``, score it on the test tier, time batched MEIs."""
    torch.manual_seed(args.seed)
    model = nb.build_model("cnn_gaussian", data.image_shape, data.n_neurons,
                           hidden_channels=args.channels, layers=args.layers,
                           input_kernel=INPUT_KERNEL, hidden_kernel=HIDDEN_KERNEL)
    sync(device)
    t0 = time.perf_counter()
    result = nb.fit(model, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    device=str(device), seed=args.seed, amp=not args.no_amp)
    sync(device)
    wall = time.perf_counter() - t0
    epochs_run = len(result.history)
    n_train = int((data.tiers == "train").sum())
    loop_seconds = epochs_run * n_train / result.images_per_second if result.images_per_second > 0 else float("nan")
    test = data.tier("test")
    pred = nb.predict(result.model, test.images, device=str(device))
    to_avg, single = mean_test_scores(nb, pred, test)
    notes = []
    if device.type == "cuda" and not args.no_amp:
        notes.append("ours: autocast bf16/fp16 on CUDA (neurobook default); --no-amp for fp32")
    run = RunResult(
        model="ours", device=device.type, epochs=epochs_run, train_seconds=wall, train_loop_seconds=loop_seconds,
        images_per_second=result.images_per_second,
        train_gflops_per_second=flops.train_flops_per_image * result.images_per_second / 1e9,
        best_val_corr=result.best_val_corr, test_corr_to_average=to_avg, test_single_trial_corr=single,
        notes=notes,
    )
    k = min(args.mei_neurons, data.n_neurons)
    if k > 0 and args.mei_steps > 0:
        sync(device)
        t0 = time.perf_counter()
        meis = nb.most_exciting_inputs(result.model, list(range(k)), steps=args.mei_steps,
                                       device=str(device), seed=args.seed).images
        sync(device)
        run.mei_seconds = time.perf_counter() - t0
        run.mei_neurons, run.mei_steps = k, args.mei_steps
        run.mei_neurons_per_second = k / run.mei_seconds
        if not np.isfinite(meis).all():
            run.notes.append("ours: MEIs contain non-finite values")
    return run


# --------------------------------------------------------------------------------------------------- baseline


class BaselineModel(nn.Module):
    """neuralpredictors core -> Gaussian readout -> ``elu + 1``, as the Sensorium baseline encoder composes them."""

    def __init__(self, core: nn.Module, readout: nn.Module) -> None:
        super().__init__()
        self.core = core
        self.readout = readout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardized images (B, 1, H, W) -> positive rates (B, n_neurons)."""
        return F.elu(self.readout(self.core(x))) + 1.0

    def regularizer(self) -> torch.Tensor:
        """The core's (input Laplacian, hidden group sparsity) plus the readout's (feature L1) penalties."""
        return self.core.regularizer() + self.readout.regularizer()


def build_baseline(classes: tuple[type, type], image_shape: tuple[int, int], n_neurons: int, channels: int,
                   layers: int, mean_activity: torch.Tensor) -> BaselineModel:
    """Stacked2dCore + FullGaussian2d with the Sensorium 2022 baseline settings, sized like ours.

    Differences from the published Sensorium configuration, so that both models do the same convolutions:
    'same' padding (``pad_input=True``) instead of valid, plain instead of depth-separable hidden convs, and no
    cortex-coordinate grid predictor (the neuron positions are learned directly, as in ours).
    """
    core_cls, readout_cls = classes
    core = core_cls(
        input_channels=1, hidden_channels=channels, input_kern=INPUT_KERNEL, hidden_kern=HIDDEN_KERNEL,
        layers=layers, gamma_input=BASELINE_GAMMA_INPUT, gamma_hidden=0.0, skip=0, final_nonlinearity=True,
        momentum=0.9, pad_input=True, batch_norm=True, laplace_padding=None, input_regularizer="LaplaceL2norm",
        stack=-1, use_avg_reg=False, depth_separable=False,
    )
    readout = readout_cls(
        in_shape=(channels, *image_shape), outdims=n_neurons, bias=True, init_mu_range=0.3, init_sigma=0.1,
        gauss_type="full", feature_reg_weight=BASELINE_GAMMA_READOUT, mean_activity=mean_activity,
    )
    return BaselineModel(core, readout)


def _predict_loader(model: nn.Module, loader: DataLoader, device: torch.device) -> np.ndarray:
    """Eval-mode predictions over a loader of (images, responses) batches, gathered on the CPU."""
    model.eval()
    outs = []
    with torch.no_grad():
        for x, _ in loader:
            outs.append(model(x.to(device)).cpu())
    return torch.cat(outs).numpy()


def bench_baseline(nb: types.SimpleNamespace, classes: tuple[type, type], data, device: torch.device,
                   args: argparse.Namespace, flops: FlopEstimate) -> RunResult:
    """Train the neuralpredictors baseline through a DataLoader, as its users do, and score it on the test tier."""
    train, val, test = data.tier("train"), data.tier("validation"), data.tier("test")
    mean, std = float(train.images.mean()), float(train.images.std())  # same scalar standardization as ours

    def tensors(tier) -> TensorDataset:
        x = torch.from_numpy((tier.images - mean) / std).float().unsqueeze(1)
        return TensorDataset(x, torch.from_numpy(tier.responses))

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    sync(device)
    t0 = time.perf_counter()
    train_loader = DataLoader(tensors(train), batch_size=args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(args.seed))
    val_loader = DataLoader(tensors(val), batch_size=512)
    model = build_baseline(classes, data.image_shape, data.n_neurons, args.channels, args.layers,
                           torch.from_numpy(train.responses.mean(0))).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    best_corr, best_state, loop_seconds = -math.inf, copy.deepcopy(model.state_dict()), 0.0
    for epoch in range(1, args.epochs + 1):
        t_epoch = time.perf_counter()
        model.train()
        total = torch.zeros((), device=device)
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            pred = model(x)
            loss = (pred - y * torch.log(pred + 1e-6)).sum(1).mean() + model.regularizer()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        sync(device)
        loop_seconds += time.perf_counter() - t_epoch
        if not torch.isfinite(total):
            raise FloatingPointError(f"baseline training loss became {float(total)} in epoch {epoch}")
        val_corr = float(np.mean(nb.correlation(_predict_loader(model, val_loader, device), val.responses)))
        if val_corr > best_corr:
            best_corr, best_state = val_corr, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    sync(device)
    wall = time.perf_counter() - t0
    pred = _predict_loader(model, DataLoader(tensors(test), batch_size=512), device)
    to_avg, single = mean_test_scores(nb, pred, test)
    ips = args.epochs * len(train.images) / loop_seconds
    return RunResult(
        model="baseline", device=device.type, epochs=args.epochs, train_seconds=wall, train_loop_seconds=loop_seconds,
        images_per_second=ips, train_gflops_per_second=flops.train_flops_per_image * ips / 1e9,
        best_val_corr=best_corr, test_corr_to_average=to_avg, test_single_trial_corr=single,
        notes=["baseline: fp32, DataLoader (num_workers=0) of CPU tensors, batches moved to the device"],
    )


# --------------------------------------------------------------------------------------------------- report


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def ratios(runs: list[RunResult]) -> dict[str, float]:
    """Wall-time ratios baseline/ours per device and GPU-over-CPU speedups per model."""
    by = {(r.model, r.device): r for r in runs}
    out: dict[str, float] = {}
    for dev in ("cpu", "cuda"):
        if ("ours", dev) in by and ("baseline", dev) in by:
            ours, base = by["ours", dev], by["baseline", dev]
            out[f"{dev}: baseline/ours training wall time"] = base.train_seconds / ours.train_seconds
            out[f"{dev}: ours/baseline training images/s"] = ours.images_per_second / base.images_per_second
    for model in ("ours", "baseline"):
        if (model, "cpu") in by and (model, "cuda") in by:
            cpu, gpu = by[model, "cpu"], by[model, "cuda"]
            out[f"{model}: GPU/CPU training images/s"] = gpu.images_per_second / cpu.images_per_second
            out[f"{model}: CPU/GPU training wall time"] = cpu.train_seconds / gpu.train_seconds
            if model == "ours" and math.isfinite(cpu.mei_neurons_per_second):
                out["ours: GPU/CPU MEI neurons/s"] = gpu.mei_neurons_per_second / cpu.mei_neurons_per_second
    return out


def print_table(runs: list[RunResult], flops: FlopEstimate, extra: dict[str, float]) -> None:
    """The final results table, the ratios and the FLOP estimate."""
    headers = ["model", "device", "epochs", "train s", "(all)", "s/epoch", "img/s", "~GFLOP/s", "GEMM GF/s",
               "val r", "test r avg", "test r single", "MEI s", "MEI neurons/s"]
    rows = [
        [r.model, r.device, str(r.epochs), _fmt(r.train_seconds), "/".join(_fmt(t, 0) for t in r.train_seconds_all),
         _fmt(r.train_seconds / r.epochs, 2), _fmt(r.images_per_second, 0), _fmt(r.train_gflops_per_second),
         f"{min(r.reference_gflops):.0f}-{max(r.reference_gflops):.0f}", _fmt(r.best_val_corr, 3),
         _fmt(r.test_corr_to_average, 3), _fmt(r.test_single_trial_corr, 3), _fmt(r.mei_seconds),
         _fmt(r.mei_neurons_per_second)]
        for r in runs
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    print("\n" + "=" * len(line))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print("=" * len(line))
    print("train s: wall clock of the whole training call (epochs + per-epoch validation + setup);")
    print("img/s and ~GFLOP/s: training passes only; GFLOP/s from the analytic conv+readout count below.")
    print("test r avg: correlation to the repeat-averaged test responses; test r single: single-trial correlation.")
    print("with --repeats: best of the repeats ((all) lists every wall time); GEMM GF/s: the machine's fp32 matmul")
    print("throughput measured before/after each run (a yardstick for how busy the machine was).")
    for dev in sorted({r.device for r in runs}):
        probes = [g for r in runs if r.device == dev for g in r.reference_gflops]
        if probes and max(probes) > 1.5 * min(probes):
            print(f"WARNING: {dev} GEMM throughput varied {max(probes) / min(probes):.1f}x during the benchmark: "
                  "the machine was busy or throttling; timings are noisy (use --repeats >= 3, compare best-of numbers; "
                  "on a VM also try --threads 1)")
    for key, value in extra.items():
        print(f"{key}: {value:.2f}x")
    for note in sorted({n for r in runs for n in r.notes}):
        print(f"note: {note}")
    print(f"FLOP estimate (FLOPs = 2 x MACs): forward conv {flops.conv_macs_forward / 1e6:.2f} M MACs/image, "
          f"readout {flops.readout_macs_forward / 1e6:.3f} M MACs/image; training "
          f"{flops.train_flops_per_image / 1e9:.3f} GFLOP/image, "
          f"{flops.train_flops_per_epoch / 1e12:.3f} TFLOP/epoch (+ {flops.val_flops_per_epoch / 1e12:.4f} TFLOP "
          f"validation); MEI {flops.mei_flops_per_image_step / 1e9:.3f} GFLOP per image and step")


def environment() -> dict[str, Any]:
    """Versions and hardware, for the JSON record."""
    env = {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
        "platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


# --------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status."""
    args = parse_args(argv)
    devices = resolve_devices(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    nb = import_neurobook()
    classes, baseline_info = (None, "skipped (--skip-baseline)")
    if not args.skip_baseline:
        classes, baseline_info = import_baseline()
        if classes is None:
            if args.require_baseline:
                print(f"error: baseline unavailable: {baseline_info}", file=sys.stderr)
                return 2
            print(f"note: baseline unavailable, benchmarking neurobook only: {baseline_info}")
        else:
            baseline_info = f"neuralpredictors {baseline_info}"

    t0 = time.perf_counter()
    data, total_neurons = load_data(nb, args)
    n_train, n_val = int((data.tiers == "train").sum()), int((data.tiers == "validation").sum())
    n_test = int((data.tiers == "test").sum())
    n_test_images = len(np.unique(data.image_ids[data.tiers == "test"]))
    flops = estimate_flops(data.image_shape, args.channels, args.layers, data.n_neurons, n_train, n_val)
    print(f"data: Lurz 2021 mouse V1, images {data.image_shape[0]}x{data.image_shape[1]} (downsample "
          f"{args.downsample}), {data.n_neurons} of {total_neurons} neurons, {n_train} train / {n_val} validation / "
          f"{n_test} test trials ({n_test_images} test images), loaded in {time.perf_counter() - t0:.1f} s")
    print(f"chosen: devices {[d.type for d in devices]}, epochs {args.epochs}, core {args.layers} layers x "
          f"{args.channels} channels (kernels {INPUT_KERNEL}/{HIDDEN_KERNEL}), batch {args.batch_size}, "
          f"lr {args.lr}, seed {args.seed}, MEIs {args.mei_neurons} neurons x {args.mei_steps} steps, "
          f"amp {'off' if args.no_amp else 'on (CUDA only)'}; baseline: {baseline_info}")
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))

    runs: list[RunResult] = []
    for device in devices:
        warm_up(device)
        done: dict[str, list[RunResult]] = {"ours": [], "baseline": []}
        for rep in range(args.repeats):
            order = ["ours", "baseline"] if classes is not None else ["ours"]
            for name in order if rep % 2 == 0 else order[::-1]:
                print(f"[{device.type}] {name} (repeat {rep + 1}/{args.repeats}): training ...", flush=True)
                before = reference_gflops(device)
                if name == "ours":
                    run = bench_ours(nb, data, device, args, flops)
                else:
                    run = bench_baseline(nb, classes, data, device, args, flops)
                run.reference_gflops = [before, reference_gflops(device)]
                print(f"[{device.type}] {name}: {run.train_seconds:.1f} s, {run.images_per_second:.0f} img/s, "
                      f"test r avg {run.test_corr_to_average:.3f}, MEIs {_fmt(run.mei_seconds)} s; GEMM yardstick "
                      f"{run.reference_gflops[0]:.0f} -> {run.reference_gflops[1]:.0f} GFLOP/s", flush=True)
                done[name].append(run)
        runs.extend(combine(r) for r in done.values() if r)

    extra = ratios(runs)
    print_table(runs, flops, extra)
    if args.json_out:
        record = {
            "benchmark": "bench_v1_training", "config": vars(args), "environment": environment(),
            "data": {"image_shape": list(data.image_shape), "n_neurons": data.n_neurons, "n_train": n_train,
                     "n_validation": n_val, "n_test": n_test, "n_test_images": n_test_images},
            "baseline": baseline_info, "flops": asdict(flops), "runs": [asdict(r) for r in runs], "ratios": extra,
        }
        with open(args.json_out, "w") as f:
            json.dump(record, f, indent=2)
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
