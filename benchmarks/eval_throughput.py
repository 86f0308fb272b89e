"""How fast is the k=5000 importance-weighted NLL, and does its memory stay flat as k grows?

Model: the 784-400-20 MLP VAE (hidden (400,), latent 20, Bernoulli), untrained weights (timing does
not depend on them). Data: the 10,000 MNIST test images. Each k runs in a fresh subprocess so its
peak RSS (VmHWM from /proc/self/status) is its own; RSS after loading the data is printed beside it,
so the difference is what the IWAE loop itself needed.

The floor is the GEMM work (encoder once per image, decoder once per importance sample:
2 * (784*400 + 400*40) + k * 2 * (20*400 + 400*784) FLOPs per image) divided by this machine's
fp32 GEMM rate, measured here on a 2048^3 matmul with the same thread count. A ratio near 1 means
the loop is bound by the decoder GEMMs; the rest is the Bernoulli log-likelihood, the posterior
draws and the log-sum-exp.

    python benchmarks/eval_throughput.py                 # k = 50, 500, 5000 on 10,000 images, 1 thread
    python benchmarks/eval_throughput.py --n 1000 --ks 50,500

Writes benchmarks/results/eval_throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "eval_throughput.md"
HIDDEN, LATENT, D = 400, 20, 784


def gemm_flops(n: int, k: int) -> float:
    encoder = 2 * (D * HIDDEN + HIDDEN * 2 * LATENT)  # per image, once
    decoder = 2 * (LATENT * HIDDEN + HIDDEN * D)  # per importance sample
    return n * (encoder + k * decoder)


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def gemm_rate(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` fp32 matmul rate in FLOP/s."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def child(k: int, n: int, threads: int, k_chunk: int | None, batch_size: int | None) -> None:
    """One measurement in this process: prints a JSON line."""
    import torch

    from vaekit.config import DataConfig, ModelConfig
    from vaekit.core import build_model
    from vaekit.data import load_data
    from vaekit.evaluation import iwae_nll

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = load_data(DataConfig(source="mnist", data_dir=str(MNIST), download=False)).test.x[:n]
    x = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))  # binarised once, as evaluation does
    model = build_model(ModelConfig(arch="mlp", hidden=(HIDDEN,), latent_dim=LATENT, likelihood="bernoulli"), (1, 28, 28)).eval()
    rss_loaded = vm_kib("VmRSS")
    started = time.perf_counter()
    r = iwae_nll(model, x, k, batch_size=batch_size, k_chunk=k_chunk, generator=torch.Generator().manual_seed(0))
    seconds = time.perf_counter() - started
    print(json.dumps({"k": k, "n": n, "seconds": seconds, "nll": r.mean, "rss_loaded_kib": rss_loaded, "peak_kib": vm_kib("VmHWM"),
                      "k_chunk": k_chunk, "batch_size": batch_size}))  # fmt: skip


def run_child(k: int, n: int, threads: int, k_chunk: int | None = None, batch_size: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(k), "--n", str(n), "--threads", str(threads)]
    if k_chunk is not None:
        cmd += ["--k-chunk", str(k_chunk)]
    if batch_size is not None:
        cmd += ["--batch-size", str(batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", default="50,500,5000")
    p.add_argument("--n", type=int, default=10000, help="test images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sweep-n", type=int, default=500, help="images for the chunk-size sweep at k=500 (0: skip)")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--k-chunk", type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.n, args.threads, args.k_chunk, args.batch_size)
        return

    rate = gemm_rate(args.threads)
    print(f"fp32 GEMM rate, {args.threads} thread(s): {rate / 1e9:.1f} GFLOP/s")
    rows = []
    for k in (int(v) for v in args.ks.split(",")):
        r = run_child(k, args.n, args.threads)
        floor = gemm_flops(args.n, k) / rate
        rows.append((r, floor))
        print(f"k={k:5d}: {r['seconds']:8.1f} s  floor {floor:8.1f} s  ratio {r['seconds'] / floor:5.2f}  "
              f"peak RSS {r['peak_kib'] / 1024:6.0f} MiB (after loading {r['rss_loaded_kib'] / 1024:.0f} MiB)")  # fmt: skip
    sweep = []
    if args.sweep_n:
        for k_chunk, batch in ((500, 1), (500, 4), (500, 16), (500, 64), (100, 80)):
            r = run_child(500, args.sweep_n, args.threads, k_chunk, batch)
            sweep.append(r)
            print(f"sweep k=500 n={args.sweep_n} k_chunk={k_chunk} batch={batch}: {r['seconds']:.2f} s")

    lines = [
        "# Importance-weighted NLL throughput",
        "",
        f"784-400-20 MLP VAE (Bernoulli), {args.n:,} binarised MNIST test images, `iwae_nll` with default chunking",
        f"(about 4,096 decoder rows per pass), {args.threads} torch thread(s); each k in a fresh process.",
        f"Floor = GEMM FLOPs / measured fp32 GEMM rate ({rate / 1e9:.1f} GFLOP/s on a 2048^3 matmul).",
        "The machine is shared, so times are noisy.",
        "",
        "| k | time | GEMM floor | ratio | images/s | peak RSS | RSS after loading data |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r, floor in rows:
        lines.append(
            f"| {r['k']} | {r['seconds']:.1f} s | {floor:.1f} s | {r['seconds'] / floor:.2f} | {r['n'] / r['seconds']:.0f} | "
            f"{r['peak_kib'] / 1024:.0f} MiB | {r['rss_loaded_kib'] / 1024:.0f} MiB |"
        )
    if sweep:
        lines += ["", f"Chunk sweep at k=500 on {args.sweep_n} images (decoder rows per pass = k_chunk x batch):", "",
                  "| k_chunk | batch | rows per pass | time |", "| ---: | ---: | ---: | ---: |"]  # fmt: skip
        lines += [
            f"| {r['k_chunk']} | {r['batch_size']} | {r['k_chunk'] * r['batch_size']} | {r['seconds']:.2f} s |" for r in sweep
        ]
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
