"""Seconds per training epoch of vaekit's trainer, its speed settings, and a hand-written loop.

The pytorch/examples-sized model (MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32) on
the 60,000 MNIST training images. Variants run alternately, several epochs each, and the ratio is
taken per pair, so machine noise hits all alike (runner and reference loop: ``paired.py``).

    python benchmarks/train_throughput.py [--epochs 3] [--rounds 3] [--threads 2] [--no-compile]

``train.compile`` is timed after its compile: the first epoch of each run (which holds the compile)
is dropped, and the compile's own cost is reported from the first round (a cold cache).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from paired import ROOT, conditions, minimal_loop, mnist_60k, paired_ratio, run_paired, vaekit_epochs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true", help="leave out the train.compile variant")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_throughput.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist_60k()

    compile_cost: list[float] = []

    def compiled(r: int) -> list[float]:
        times = vaekit_epochs(data, args.epochs, r, compile=True)
        compile_cost.append(times[0] - statistics.median(times[1:]))  # first epoch minus a plain one
        return times

    impls = {
        "vaekit (defaults: fused Adam)": lambda r: vaekit_epochs(data, args.epochs, r),
        "minimal loop": lambda r: minimal_loop(data.train.x, args.epochs, r)[0],
        "vaekit, unfused Adam": lambda r: vaekit_epochs(data, args.epochs, r, fused_optimizer=False),
    }
    if not args.no_compile:
        impls["vaekit, train.compile = true"] = compiled
    rows = run_paired(impls, args.rounds)

    base = rows["minimal loop"]
    lines = [
        f"MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128, float32, 60,000 MNIST images; {conditions(args.threads)}; "
        f"{args.rounds} alternating rounds x {args.epochs} epochs (first epoch of each run dropped).",
        "",
        "| implementation | seconds/epoch (median of rounds) | ratio to minimal loop (median of paired ratios) |",
        "| --- | --- | --- |",
    ]
    for name, vals in rows.items():
        lines.append(f"| {name} | {statistics.median(vals):.2f} | {paired_ratio(vals, base):.2f} |")
    if compile_cost:
        lines += [
            "",
            f"`train.compile` costs {compile_cost[0]:.0f} s of compilation in a fresh process (cold cache), "
            f"{max(0.0, statistics.median(compile_cost[1:])):.0f} s in later runs (inductor's cache warm)."
            if len(compile_cost) > 1
            else f"`train.compile` costs {compile_cost[0]:.0f} s of compilation (cold cache).",
        ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
