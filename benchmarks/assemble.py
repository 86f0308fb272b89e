"""Write BENCHMARKS.md from the result files the benchmark scripts leave in benchmarks/results/.

Each script writes its own markdown table; this puts them in one document, in a fixed order,
with the script that makes each one. Run it after any benchmark.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

SECTIONS = [  # (result file stem, title, script)
    ("train_throughput", "Training throughput against a hand-written loop", "benchmarks/train_throughput.py"),
    ("peers", "Against the libraries users would pick", "benchmarks/peers.py"),
    ("iwae_table", "IWAE paper, Table 1: test NLL on dynamically binarised MNIST", "benchmarks/iwae_table.py"),
    ("eval_throughput", "Importance-weighted NLL throughput (k = 5000)", "benchmarks/eval_throughput.py"),
    ("mnist_best", "The MNIST recipe within 60 minutes", "benchmarks/mnist_best.py"),
    ("mnist_best_epyc", "The MNIST recipe on the AMD EPYC (AVX2 only), trained to completion", "benchmarks/mnist_best.py"),
    ("mnist_60min", "The 60-minute recipe for 83 nats (ELBO, then IWAE fine-tuning)", "benchmarks/mnist_60min.py"),
    ("time_to_quality", "Time to quality against pythae", "benchmarks/time_to_quality.py"),
    (
        "time_to_quality_2cores",
        "Time to quality on both cores, compiled (AMD EPYC Zen 4)",
        "benchmarks/time_to_quality.py --threads 2 --compile",
    ),
    (
        "higher_bars",
        "Higher bars: 83 nats in 60 minutes, one-class 98.5 / 94.0",
        "benchmarks/mnist_60min.py, benchmarks/one_class.py",
    ),
    ("config_epochs", "One epoch of every shipped config", "benchmarks/mnist_best.py"),
    ("one_class_higher", "One-class anomaly detection at the higher bars", "benchmarks/one_class.py --phase both"),
    ("one_class", "One-class anomaly detection (Ruff et al. protocol)", "benchmarks/one_class.py"),
    ("imputation", "Imputation against mean and KNN imputation", "benchmarks/imputation.py"),
    ("web_latency", "vaekit serve: request latency and time to the Explore map", "benchmarks/web_latency.py"),
    ("likelihood_accuracy", "Continuous Bernoulli in float32", "benchmarks/likelihood_accuracy.py"),
    ("recsys", "Recommendation on MovieLens-100k: Mult-VAE against popularity, EASE and cornac", "benchmarks/recsys.py"),
    ("recsys_scale", "Recommendation at ML-20M size: memory of a sparse ratings run", "benchmarks/recsys_scale.py"),
    (
        "compression",
        "Compression to files: bits-back ANS and lossy latent coding against PNG, WebP, JPEG and gzip/bz2/lzma",
        "benchmarks/compression.py",
    ),
    ("design_measurements", "Design measurements (moved out of code comments)", ""),
]

HEADER = """# Benchmarks

Measured on the project's machines: 2 cores, 24 GiB, no GPU, Python 3.11, torch 2.13.0 CPU; the
CPU differs between them (a Xeon with AVX-512/AMX, an AMD EPYC with AVX2 only, about 2x slower per
core on the MLP recipe), so every section names the CPU it ran on. Timings on this machine move by ±30% from minute to minute, so comparisons are
made inside one script run, alternating the variants, and quoted as ratios. Each section names
the script that produced it; rerun the script and then `python benchmarks/assemble.py` to
refresh this file.
"""


def main() -> None:
    parts = [HEADER]
    for stem, title, script in SECTIONS:
        path = RESULTS / f"{stem}.md"
        body = path.read_text().strip() if path.is_file() else "_Not yet measured._"
        parts.append(f"## {title}\n\n" + (f"`{script}`\n\n" if script else "") + f"{body}\n")
    extra = sorted(p for p in RESULTS.glob("*.md") if p.stem not in {s for s, _, _ in SECTIONS})
    for path in extra:
        parts.append(f"## {path.stem}\n\n{path.read_text().strip()}\n")
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
