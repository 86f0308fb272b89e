"""vaekit against what a user would otherwise write or install, side by side in one run.

Same data (60,000 MNIST training images), same model (MLP 784-400-20, Bernoulli, Adam 1e-3,
batch 128, float32), same threads. Installs nothing: pythae is measured only when importable.
Runs alternate round by round and ratios are taken pair by pair.

    python benchmarks/peers.py [--epochs 3] [--rounds 3] [--quality-epochs 10]

--quality-epochs N also trains each implementation N epochs and reports its test ELBO, computed
by one shared function from each model's encoder/decoder outputs (so the numbers compare).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_throughput import MinimalVAE  # noqa: E402

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from vaekit.data import DataSplits, Split, load_data  # noqa: E402
from vaekit.training.loop import fit  # noqa: E402

# Each implementation: train(x, epochs, seed) -> (seconds per epoch list, encode_decode)
# where encode_decode(x) -> (mu, logvar, logits) for the shared test-ELBO computation.
EncDec = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def test_elbo(encode_decode: EncDec, x: torch.Tensor, seed: int = 0) -> float:
    """Single-sample ELBO per example (nats) with closed-form KL, averaged over x."""
    torch.manual_seed(seed)
    total = 0.0
    with torch.inference_mode():
        for i in range(0, x.shape[0], 1000):
            xb = x[i : i + 1000].reshape(-1, 784)
            mu, logvar, logits = encode_decode(xb)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            total += float(rec + kl)
    return -total / x.shape[0]


def minimal_loop(x: torch.Tensor, epochs: int, seed: int, loader: bool = False):
    torch.manual_seed(seed)
    model = MinimalVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    flat = x.reshape(x.shape[0], -1)
    if loader:
        batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(flat), batch_size=128, shuffle=True)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        it = (b for (b,) in batches) if loader else (flat[idx] for idx in torch.randperm(flat.shape[0]).split(128))
        for xb in it:
            logits, mu, logvar = model(xb)
            loss = (F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / xb.shape[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)

    def encdec(xb):
        h = F.relu(model.fc1(xb))
        mu, logvar = model.fc21(h), model.fc22(h)
        return mu, logvar, model.fc4(F.relu(model.fc3(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))))

    return times, encdec


def vaekit_run(data: DataSplits, epochs: int, seed: int):
    cfg = RunConfig(
        data=DataConfig(source="mnist"),
        model=ModelConfig(arch="mlp", hidden=(400,), latent_dim=20, likelihood="bernoulli"),
        train=TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, progress=False, tensorboard=False),
        seed=seed,
    )
    with tempfile.TemporaryDirectory() as d:
        run = fit(cfg, Path(d) / "run", data=data)
    model = run.model

    def encdec(xb):
        qz = model.encode(xb.reshape(-1, 1, 28, 28))
        mu, sd = qz.base_dist.loc, qz.base_dist.scale
        z = mu + sd * torch.randn_like(mu)
        return mu, 2 * torch.log(sd), model.decoder(z).reshape(-1, 784)

    return [r["train_seconds"] for r in run.history], encdec


def pythae_run(x: torch.Tensor, epochs: int, seed: int):
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    class Enc(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.fc1, self.mu, self.lv = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)

        def forward(self, x):
            h = F.relu(self.fc1(x.reshape(x.shape[0], -1)))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.lv(h))

    class Dec(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def logits(self, z):
            return self.fc4(F.relu(self.fc3(z)))

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.logits(z)).reshape(-1, 1, 28, 28))

    torch.manual_seed(seed)
    enc, dec = Enc(), Dec()
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce"), encoder=enc, decoder=dec)
    times = []
    dataset = BaseDataset(x, torch.zeros(x.shape[0]))  # what pythae's pipeline wraps arrays in
    with tempfile.TemporaryDirectory() as d:
        cfg = BaseTrainerConfig(output_dir=d, num_epochs=1, per_device_train_batch_size=128, learning_rate=1e-3,
                                optimizer_cls="Adam", steps_saving=None, no_cuda=True, seed=seed)  # fmt: skip
        for _ in range(epochs):  # one trainer per epoch so each epoch is timed alone (same maths)
            trainer = BaseTrainer(model=model, train_dataset=dataset, training_config=cfg)
            t0 = time.perf_counter()
            trainer.train()
            times.append(time.perf_counter() - t0)
            model = trainer._best_model if getattr(trainer, "_best_model", None) is not None else model

    def encdec(xb):
        out = enc(xb)
        mu, lv = out.embedding, out.log_covariance
        return mu, lv, dec.logits(mu + torch.randn_like(mu) * torch.exp(0.5 * lv))

    return times, encdec


def startup_seconds(code: str, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quality-epochs", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "peers.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    full = load_data(DataConfig(source="mnist", data_dir=args.data_dir, validation_fraction=0.0))
    x_train = torch.cat([full.train.x, full.validation.x])  # all 60,000
    data = DataSplits(full.name, full.kind, full.shape, Split(x_train), full.test, full.test)
    impls: dict[str, Callable] = {
        "vaekit": lambda e, s: vaekit_run(data, e, s),
        "minimal loop, one in-memory tensor": lambda e, s: minimal_loop(x_train, e, s),
        "minimal loop through DataLoader": lambda e, s: minimal_loop(x_train, e, s, loader=True),
    }
    has_pythae = importlib.util.find_spec("pythae") is not None
    if has_pythae:
        impls["pythae VAE + BaseTrainer"] = lambda e, s: pythae_run(x_train, e, s)

    per_epoch: dict[str, list[float]] = {k: [] for k in impls}
    for r in range(args.rounds):
        names = list(impls) if r % 2 == 0 else list(reversed(impls))
        for name in names:
            times, _ = impls[name](args.epochs, r)
            per_epoch[name].append(statistics.median(times[1:] if len(times) > 1 else times))
            print(f"round {r + 1}: {name:38s} {per_epoch[name][-1]:.2f} s/epoch", flush=True)

    quality = {}
    if args.quality_epochs:
        for name, run in impls.items():
            _, encdec = run(args.quality_epochs, 0)
            quality[name] = test_elbo(encdec, full.test.x)
            print(f"{name}: test ELBO after {args.quality_epochs} epochs {quality[name]:.2f}", flush=True)

    # the floor: GEMM FLOPs of one epoch at the GEMM rate measured at these layer shapes
    flops_per_example = 3 * 2 * (784 * 400 + 400 * 40 + 20 * 400 + 400 * 784)  # fwd + 2x bwd
    a, b = torch.randn(128, 784), torch.randn(784, 400)
    for _ in range(50):
        a @ b
    t0 = time.perf_counter()
    for _ in range(2000):
        a @ b
    rate = 2000 * 2 * 128 * 784 * 400 / (time.perf_counter() - t0)
    floor = 60_000 * flops_per_example / rate

    vk = per_epoch["vaekit"]
    lines = [
        f"MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32, {args.threads} threads, 60,000 MNIST images, torch "
        f"{torch.__version__}; {args.rounds} alternating rounds of {args.epochs} epochs (first epoch of each run dropped).",
        "",
        "| implementation | seconds/epoch | ratio to vaekit (median of paired ratios) |"
        + (f" test ELBO after {args.quality_epochs} epochs |" if quality else ""),
        "| --- | --- | --- |" + (" --- |" if quality else ""),
    ]
    for name, vals in per_epoch.items():
        ratio = statistics.median(v / b for v, b in zip(vals, vk))
        q = f" {quality[name]:.2f} |" if quality else ""
        lines.append(f"| {name} | {statistics.median(vals):.2f} | {ratio:.2f} |{q}")
    if not has_pythae:
        lines.append("| pythae VAE + BaseTrainer | not installed | — |" + (" — |" if quality else ""))
    lines += [
        "",
        f"GEMM floor: {flops_per_example * 60_000 / 1e9:.1f} GFLOP per epoch at {rate / 1e9:.0f} GFLOP/s measured at "
        f"the 128x784x400 shape = {floor:.2f} s/epoch; vaekit reaches {floor / statistics.median(vk):.0%} of it.",
    ]
    src = str(ROOT / "src")
    path = f"import sys; sys.path.insert(0, {src!r}); "
    vaekit_help = startup_seconds(path + "sys.argv = ['vaekit', '--help']\nfrom vaekit.cli import main\ntry: main()\nexcept SystemExit: pass")
    lines += ["", "| start-up | seconds (median of 5) |", "| --- | --- |"]
    lines.append(f"| `vaekit --help` | {vaekit_help:.2f} |")
    lines.append(f"| `import vaekit` | {startup_seconds(path + 'import vaekit'):.2f} |")
    lines.append(f"| `import torch` | {startup_seconds('import torch'):.2f} |")
    if has_pythae:
        lines.append(f"| `import pythae` | {startup_seconds('import pythae'):.2f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
