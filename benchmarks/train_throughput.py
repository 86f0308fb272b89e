"""Seconds per training epoch: vaekit's trainer against a minimal hand-written PyTorch loop.

The pytorch/examples-sized model (MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32) on
the 60,000 MNIST training images, 2 threads. The two are run alternately, several epochs each,
and the ratio is taken per pair, so machine noise hits both alike.

    python benchmarks/train_throughput.py [--epochs 3] [--rounds 3] [--out benchmarks/results/train_throughput.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from vaekit.data import DataSplits, Split, load_data  # noqa: E402
from vaekit.training.loop import fit  # noqa: E402


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


def minimal_epochs(x: torch.Tensor, epochs: int, batch_size: int, seed: int) -> list[float]:
    torch.manual_seed(seed)
    model = MinimalVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = x.reshape(x.shape[0], -1)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], batch_size):
            xb = x[perm[i : i + batch_size]]
            logits, mu, logvar = model(xb)
            bce = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (bce + kld) / xb.shape[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def vaekit_epochs(data: DataSplits, epochs: int, batch_size: int, seed: int, fused: bool = True) -> list[float]:
    cfg = RunConfig(
        data=DataConfig(source="mnist"),
        model=ModelConfig(arch="mlp", hidden=(400,), latent_dim=20, likelihood="bernoulli"),
        train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-3, progress=False, tensorboard=False, fused_optimizer=fused),
        seed=seed,
    )
    with tempfile.TemporaryDirectory() as d:
        run = fit(cfg, Path(d) / "run", data=data)
        return [r["train_seconds"] for r in run.history]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_throughput.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    full = load_data(DataConfig(source="mnist", data_dir=args.data_dir, validation_fraction=0.0))
    # all 60,000 training images; validation on the 10,000 test images (outside the timed loop)
    data = DataSplits(full.name, full.kind, full.shape, Split(torch.cat([full.train.x, full.validation.x])), full.test, full.test)
    assert len(data.train) == 60_000, len(data.train)

    rows: dict[str, list[float]] = {"vaekit": [], "vaekit (unfused Adam)": [], "minimal loop": []}
    for r in range(args.rounds):
        order = [("vaekit", lambda r=r: vaekit_epochs(data, args.epochs, 128, r)),
                 ("minimal loop", lambda r=r: minimal_epochs(data.train.x, args.epochs, 128, r)),
                 ("vaekit (unfused Adam)", lambda r=r: vaekit_epochs(data, args.epochs, 128, r, fused=False))]  # fmt: skip
        if r % 2:
            order.reverse()
        for name, run in order:
            times = run()[1:] if args.epochs > 1 else run()  # the first epoch carries warm-up
            rows[name].append(statistics.median(times))
            print(f"round {r + 1}: {name:24s} {rows[name][-1]:.2f} s/epoch", flush=True)

    base = rows["minimal loop"]
    lines = [
        f"Training throughput: MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32, {args.threads} threads, "
        f"60,000 MNIST images; torch {torch.__version__}; {args.rounds} alternating rounds x {args.epochs} epochs "
        "(first epoch of each run dropped).",
        "",
        "| implementation | seconds/epoch (median of rounds) | ratio to minimal loop (median of paired ratios) |",
        "| --- | --- | --- |",
    ]
    for name, vals in rows.items():
        ratio = statistics.median(v / b for v, b in zip(vals, base))
        lines.append(f"| {name} | {statistics.median(vals):.2f} | {ratio:.2f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
