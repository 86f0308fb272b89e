"""vaekit against what a user would otherwise write or install, side by side in one run; plus the
timings that should not regress (the conv model's epoch, the k=5000 evaluation, start-up).

Same data (60,000 MNIST training images), same model (MLP 784-400-20, Bernoulli, Adam 1e-3,
batch 128, float32), same threads. Installs nothing: pythae is measured only when importable (keep
it in its own venv). Runs alternate round by round and ratios are taken pair by pair.

    python benchmarks/peers.py [--epochs 3] [--rounds 3] [--quality-epochs 10] [--threads 2]

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
from paired import (
    FLOPS_PER_EXAMPLE,
    MLP,
    ROOT,
    conditions,
    gemm_floor,
    minimal_loop,
    mnist_60k,
    paired_ratio,
    run_paired,
    vaekit_epochs,
    vaekit_fit,
)
from torch import nn

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.data import DataSplits, Split
from vaekit.evaluation import iwae_nll

# encode_decode(x (B, 784)) -> (mu, logvar, logits) of one posterior draw, for the shared test ELBO
EncDec = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
CONV = ModelConfig(arch="conv", channels=(32, 64), latent_dim=16, likelihood="bernoulli")  # configs/mnist_conv.toml


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


def vaekit_trained(data: DataSplits, epochs: int, seed: int, **train) -> EncDec:
    model = vaekit_fit(data, epochs, seed, **train).model

    def encdec(xb):
        qz = model.encode(xb.reshape(-1, 1, 28, 28))
        mu, sd = qz.base_dist.loc, qz.base_dist.scale
        return mu, 2 * torch.log(sd), model.decoder(mu + sd * torch.randn_like(mu)).reshape(-1, 784)

    return encdec


def pythae_run(x: torch.Tensor, epochs: int, seed: int) -> tuple[list[float], EncDec]:
    """pythae's VAE with the same networks, trained by its BaseTrainer for ``epochs`` epochs (one
    trainer, its defaults: progress bar, best-model copy per epoch); seconds per epoch by callback."""
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

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

    class EpochTimer(TrainingCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_epoch_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            self.times.append(time.perf_counter() - self.t0)

    torch.manual_seed(seed)
    enc, dec = Enc(), Dec()
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce"), encoder=enc, decoder=dec)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as d:
        cfg = BaseTrainerConfig(output_dir=d, num_epochs=epochs, per_device_train_batch_size=128, learning_rate=1e-3,
                                optimizer_cls="Adam", steps_saving=None, no_cuda=True, seed=seed)  # fmt: skip
        BaseTrainer(
            model=model, train_dataset=BaseDataset(x, torch.zeros(x.shape[0])), training_config=cfg, callbacks=[timer]
        ).train()

    def encdec(xb):
        out = enc(xb)
        mu, lv = out.embedding, out.log_covariance
        return mu, lv, dec.logits(mu + torch.randn_like(mu) * torch.exp(0.5 * lv))

    return timer.times, encdec


def startup_seconds(code: list[str], reps: int = 5) -> float:
    """Median wall time of a fresh interpreter running ``code`` (``python -c ...`` or ``-m ...``)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


BF16 = "vaekit, train.precision = bf16 (autocast; results differ slightly)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quality-epochs", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conv-images", type=int, default=10_000, help="training images per conv-model epoch")
    ap.add_argument("--eval-images", type=int, default=100, help="test images for the k=5000 NLL timing")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "peers.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist_60k()
    x_train = data.train.x

    impls: dict[str, Callable[[int], list[float]]] = {
        "vaekit": lambda r: vaekit_epochs(data, args.epochs, r),
        BF16: lambda r: vaekit_epochs(data, args.epochs, r, precision="bf16"),
        "minimal loop, one in-memory tensor": lambda r: minimal_loop(x_train, args.epochs, r)[0],
        "minimal loop through DataLoader": lambda r: minimal_loop(x_train, args.epochs, r, loader=True)[0],
    }
    has_pythae = importlib.util.find_spec("pythae") is not None
    if has_pythae:
        impls["pythae VAE + BaseTrainer"] = lambda r: pythae_run(x_train, args.epochs, r)[0]
    per_epoch = run_paired(impls, args.rounds)

    quality: dict[str, float] = {}
    if args.quality_epochs:
        n = args.quality_epochs
        trained: dict[str, Callable[[], EncDec]] = {
            "vaekit": lambda: vaekit_trained(data, n, 0),
            BF16: lambda: vaekit_trained(data, n, 0, precision="bf16"),
            "minimal loop, one in-memory tensor": lambda: minimal_loop(x_train, n, 0)[1].encode_decode,
            "minimal loop through DataLoader": lambda: minimal_loop(x_train, n, 0, loader=True)[1].encode_decode,
        }
        if has_pythae:
            trained["pythae VAE + BaseTrainer"] = lambda: pythae_run(x_train, n, 0)[1]
        for name, train in trained.items():
            quality[name] = test_elbo(train(), data.test.x)
            print(f"{name}: test ELBO after {n} epochs {quality[name]:.2f}", flush=True)

    # the conv model (configs/mnist_conv.toml's network), float32 and bf16 autocast, on a subset
    sub = DataSplits(data.name, data.kind, data.shape, Split(x_train[: args.conv_images]), data.test, data.test)
    scale = 60_000 / args.conv_images
    conv = run_paired(
        {
            "conv float32": lambda r: [s * scale for s in vaekit_epochs(sub, 2, r, model=CONV)],
            "conv, train.precision = bf16": lambda r: [s * scale for s in vaekit_epochs(sub, 2, r, model=CONV, precision="bf16")],
        },
        args.rounds,
    )

    # the k=5000 importance-weighted NLL of the MLP (timing does not depend on the weights)
    torch.manual_seed(0)
    x_eval = torch.bernoulli(data.test.x[: args.eval_images], generator=torch.Generator().manual_seed(0))
    mlp = build_model(MLP, (1, 28, 28)).eval()
    t0 = time.perf_counter()
    iwae_nll(mlp, x_eval, 5000, generator=torch.Generator().manual_seed(0))
    eval_seconds = time.perf_counter() - t0

    floor, rate = gemm_floor(args.threads)
    vk = per_epoch["vaekit"]
    q_head = f" test ELBO after {args.quality_epochs} epochs |" if quality else ""
    lines = [
        f"MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32, 60,000 MNIST images; {conditions(args.threads)}; "
        f"{args.rounds} alternating rounds of {args.epochs} epochs (first epoch of each run dropped).",
        "",
        "| implementation | seconds/epoch (median of rounds) | ratio to vaekit (median of paired ratios) |" + q_head,
        "| --- | --- | --- |" + (" --- |" if quality else ""),
    ]
    for name, vals in per_epoch.items():
        q = f" {quality[name]:.2f} |" if quality else ""
        lines.append(f"| {name} | {statistics.median(vals):.2f} | {paired_ratio(vals, vk):.2f} |{q}")
    if not has_pythae:
        lines.append("| pythae VAE + BaseTrainer | not installed | — |" + (" — |" if quality else ""))
    lines += [
        "",
        f"GEMM floor: {FLOPS_PER_EXAMPLE * 60_000 / 1e9:.1f} GFLOP per epoch (forward, input and weight gradients) at "
        f"{rate / 1e9:.0f} GFLOP/s, the rate of exactly those matmuls timed alone at batch 128 = {floor:.2f} s/epoch; "
        f"vaekit runs at {floor / statistics.median(vk):.0%} of it.",
        "",
        "| also timed | seconds | ratio |",
        "| --- | --- | --- |",
    ]
    c32 = conv["conv float32"]
    for name, vals in conv.items():
        lines.append(
            f"| {name} (channels 32, 64; latent 16), per 60,000 images, timed on {args.conv_images:,} | "
            f"{statistics.median(vals):.1f} | {paired_ratio(vals, c32):.2f} |"
        )
    lines.append(
        f"| k=5000 IWAE NLL of the MLP, {args.eval_images} test images ({args.eval_images / eval_seconds:.1f} images/s; "
        f"the 10,000-image test set would take ~{10_000 / args.eval_images * eval_seconds / 60:.0f} min) | {eval_seconds:.1f} | — |"
    )
    help_s = startup_seconds(["-m", "vaekit", "--help"])
    lines += ["", "| start-up | seconds (median of 5) |", "| --- | --- |", f"| `vaekit --help` | {help_s:.2f} |"]
    lines.append(f"| `import vaekit` | {startup_seconds(['-c', 'import vaekit']):.2f} |")
    lines.append(f"| `import torch` | {startup_seconds(['-c', 'import torch']):.2f} |")
    if has_pythae:
        # pythae's package __init__ is nearly empty: time what a user imports to train
        code = "import pythae.models, pythae.trainers"
        lines.append(f"| `{code}` | {startup_seconds(['-c', code]):.2f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
