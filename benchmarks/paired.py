"""What the training-speed benchmarks share: the data, the hand-written reference loop, a vaekit run
of the same model, and the paired runner that alternates implementations and compares them pair
by pair (the machine is shared, so only ratios taken side by side mean much).

The model throughout: MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32, on the 60,000
MNIST training images (the pytorch/examples VAE).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from vaekit.data import DataSplits, Split, load_data  # noqa: E402
from vaekit.training.loop import Run, fit  # noqa: E402

MNIST = ROOT.parent / "shared" / "data" / "mnist"
MLP = ModelConfig(arch="mlp", hidden=(400,), latent_dim=20, likelihood="bernoulli")
# GEMM FLOPs of one example's step: forward, input gradient (none for the first layer: x needs no
# gradient) and weight gradient of 784-400, 400-40, 20-400, 400-784
LAYERS = ((784, 400), (400, 40), (20, 400), (400, 784))
FLOPS_PER_EXAMPLE = sum(3 * 2 * i * o for i, o in LAYERS) - 2 * 784 * 400


def mnist_60k(data_dir: str | Path = MNIST) -> DataSplits:
    """All 60,000 MNIST training images as the training split; the 10,000 test images as validation
    and test (validation runs outside the timed loop)."""
    full = load_data(DataConfig(source="mnist", data_dir=str(data_dir), validation_fraction=0.0))
    x = torch.cat([full.train.x, full.validation.x])  # (60000, 1, 28, 28)
    assert len(x) == 60_000, len(x)
    return DataSplits(full.name, full.kind, full.shape, Split(x), full.test, full.test)


class MinimalVAE(nn.Module):
    """The canonical 784-400-20 VAE, written out by hand."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar

    def encode_decode(self, x):
        """(mu, logvar, logits) of one posterior draw, for the shared test-ELBO computation."""
        logits, mu, logvar = self(x)
        return mu, logvar, logits


def minimal_loop(x: torch.Tensor, epochs: int, seed: int, loader: bool = False) -> tuple[list[float], MinimalVAE]:
    """The loop a user writes by hand (default Adam), over index slices of one in-memory tensor or
    through ``torch.utils.data.DataLoader``. Returns seconds per epoch and the model."""
    torch.manual_seed(seed)
    model = MinimalVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    flat = x.reshape(x.shape[0], -1)  # (N, 784)
    if loader:
        batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(flat), batch_size=128, shuffle=True)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        it = (b for (b,) in batches) if loader else (flat[idx] for idx in torch.randperm(flat.shape[0]).split(128))
        for xb in it:
            logits, mu, logvar = model(xb)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") + kl) / xb.shape[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times, model


def vaekit_fit(data: DataSplits, epochs: int, seed: int, model: ModelConfig = MLP, **train) -> Run:
    """vaekit's trainer on ``data`` (batch 128, Adam 1e-3 unless ``train`` says otherwise), in a
    throwaway run directory; ``run.history[i]["train_seconds"]`` is epoch i's optimisation loop alone."""
    t = dict(epochs=epochs, batch_size=128, lr=1e-3, progress=False, tensorboard=False)
    t.update(train)
    cfg = RunConfig(data=DataConfig(source="mnist"), model=model, train=TrainConfig(**t), seed=seed)
    with tempfile.TemporaryDirectory() as d:
        return fit(cfg, Path(d) / "run", data=data, figures=False)


def vaekit_epochs(data: DataSplits, epochs: int, seed: int, model: ModelConfig = MLP, **train) -> list[float]:
    return [r["train_seconds"] for r in vaekit_fit(data, epochs, seed, model, **train).history]


def run_paired(impls: dict[str, Callable[[int], list[float]]], rounds: int) -> dict[str, list[float]]:
    """Each round runs every implementation once, in order on even rounds and reversed on odd ones;
    ``impl(round)`` returns seconds per epoch (the round number is its seed). Each run's value is the
    median of its epochs after the first (warm-up), or its only epoch."""
    per_run: dict[str, list[float]] = {name: [] for name in impls}
    for r in range(rounds):
        names = list(impls) if r % 2 == 0 else list(reversed(impls))
        for name in names:
            times = impls[name](r)
            per_run[name].append(statistics.median(times[1:] if len(times) > 1 else times))
            print(f"round {r + 1}: {name:44s} {per_run[name][-1]:.2f} s/epoch", flush=True)
    return per_run


def paired_ratio(values: list[float], base: list[float]) -> float:
    """Median over rounds of value / base, each pair measured side by side."""
    return statistics.median(v / b for v, b in zip(values, base))


def conditions(threads: int) -> str:
    """One line saying under what the numbers were taken (the machine is shared)."""
    from vaekit.hardware import describe

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{describe()}; torch {torch.__version__}, {threads} thread(s), load average {load} (1, 5, 15 min) at the end"


def gemm_floor(threads: int, batch: int = 128, n: int = 60_000, repeats: int = 200) -> tuple[float, float]:
    """(seconds per epoch, FLOP/s) of the model's GEMMs alone at this batch size: every matmul of a
    training step (forward, input and weight gradients) timed back to back, best of 5 bursts."""
    torch.set_num_threads(threads)
    mats = []
    for i, o in LAYERS:
        x, w, g = torch.randn(batch, i), torch.randn(o, i), torch.randn(batch, o)
        mats.append((x, w, g, i != 784))

    def step():
        for x, w, g, input_grad in mats:
            x @ w.t()  # forward (B, o)
            if input_grad:
                g @ w  # input gradient (B, i)
            g.t() @ x  # weight gradient (o, i)

    for _ in range(20):
        step()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            step()
        best = min(best, (time.perf_counter() - t0) / repeats)
    rate = batch * FLOPS_PER_EXAMPLE / best
    return n * FLOPS_PER_EXAMPLE / rate, rate
