"""Continuous Bernoulli in float32: vaekit's normaliser and mean against torch's, and their cost.

The reference is the same closed forms evaluated with mpmath at 50 digits, on a grid of logits eta
over |eta| in [1e-6, 200] (both signs, and 0). Errors are the largest absolute error per |eta| range
in float32 (what training uses). Speed: log_prob forward and backward on a (256, 784) batch of
logits (one MNIST-sized batch), torch's class and vaekit's alternated in one process; the ratio is
vaekit / torch time (median of the rounds).

    python benchmarks/likelihood_accuracy.py            # prints the tables
    python benchmarks/likelihood_accuracy.py --rounds 5

Writes benchmarks/results/likelihood_accuracy.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import mpmath
import torch
from torch.distributions import ContinuousBernoulli

from vaekit.core.likelihoods.continuous_bernoulli import StableContinuousBernoulli

RESULTS = Path(__file__).resolve().parent / "results" / "likelihood_accuracy.md"
RANGES = ((0.0, 1e-3), (1e-3, 0.5), (0.5, 5.0), (5.0, 20.0), (20.0, 200.0))


def reference(eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log C(eta) and E[x] at 50 digits."""
    mpmath.mp.dps = 50
    logc, mean = [], []
    for v in eta.tolist():
        e = mpmath.mpf(v)
        if e == 0:
            logc.append(float(mpmath.log(2)))
            mean.append(0.5)
            continue
        logc.append(float(mpmath.log(e / mpmath.tanh(e / 2))))
        mean.append(float(1 / (1 - mpmath.exp(-e)) - 1 / e))
    return torch.tensor(logc, dtype=torch.float64), torch.tensor(mean, dtype=torch.float64)


def accuracy_table() -> list[str]:
    mag = torch.logspace(-6, 2.3, 600, dtype=torch.float64)
    eta = torch.cat([-mag.flip(0), torch.zeros(1, dtype=torch.float64), mag])
    ref_logc, ref_mean = reference(eta)
    e32 = eta.float()
    ours = StableContinuousBernoulli(logits=e32)
    theirs = ContinuousBernoulli(logits=e32)
    rows = [
        "| abs(eta) | torch log C error | vaekit log C error | torch mean error | vaekit mean error |",
        "| --- | --- | --- | --- | --- |",
    ]
    errs = {
        "torch_logc": (theirs._cont_bern_log_norm().double() - ref_logc).abs(),
        "ours_logc": (ours._cont_bern_log_norm().double() - ref_logc).abs(),
        "torch_mean": (theirs.mean.double() - ref_mean).abs(),
        "ours_mean": (ours.mean.double() - ref_mean).abs(),
    }
    for lo, hi in RANGES:
        sel = (eta.abs() >= lo) & (eta.abs() < hi) if lo > 0 else eta.abs() < hi
        cells = [f"{float(errs[k][sel].max()):.1e}" for k in ("torch_logc", "ours_logc", "torch_mean", "ours_mean")]
        rows.append(f"| [{lo:g}, {hi:g}) | " + " | ".join(cells) + " |")
    return rows


def speed_table(rounds: int) -> list[str]:
    gen = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(256, 784, generator=gen)).requires_grad_()
    x = torch.rand(256, 784, generator=gen)

    def step(cls: type) -> float:
        start = time.perf_counter()
        for _ in range(20):
            logits.grad = None
            cls(logits=logits, validate_args=False).log_prob(x).sum().backward()
        return (time.perf_counter() - start) / 20

    step(ContinuousBernoulli), step(StableContinuousBernoulli)  # warm-up
    torch_t, ours_t = [], []
    for _ in range(rounds):  # alternated, so both see the same machine load
        torch_t.append(step(ContinuousBernoulli))
        ours_t.append(step(StableContinuousBernoulli))
    t, o = statistics.median(torch_t), statistics.median(ours_t)
    return [
        "| log_prob forward + backward, (256, 784) | torch | vaekit | vaekit / torch |",
        "| --- | --- | --- | --- |",
        f"| median of {rounds} rounds x 20 | {t * 1e3:.2f} ms | {o * 1e3:.2f} ms | {o / t:.2f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    text = "\n".join(
        [
            f"CPU: {cpu}; torch {torch.__version__}; {args.threads} thread(s); commit {commit}. Errors: largest absolute",
            "error in float32 against mpmath at 50 digits, over 1201 logits per table (|eta| in [1e-6, 200] and 0).",
            "",
            *accuracy_table(),
            "",
            *speed_table(args.rounds),
        ]
    )
    print(text)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
