"""`make demo`: train a small conv VAE on Fashion-MNIST if its files are on this machine, else on
scikit-learn's digits, and leave a run directory with samples, reconstructions and curves."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from vaekit.cli import main
from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "demo"


def pick_config() -> tuple[Path, list[str]]:
    try:
        load_data(DataConfig(source="fashion-mnist", download=False))
    except DataError as e:
        print(f"demo: Fashion-MNIST not found locally ({e}).")
        print("demo: training on scikit-learn's digits instead (apt-get install dataset-fashion-mnist for the full demo)")
        return ROOT / "configs" / "digits_mlp.toml", ['model.arch="conv"', "model.channels=[32, 64]"]
    print("demo: training a conv VAE on Fashion-MNIST (found locally)")
    return ROOT / "configs" / "fashion_mnist_conv.toml", ["train.max_time=120", "data.limit=30000"]


if __name__ == "__main__":
    config, overrides = pick_config()
    if OUT.exists():
        shutil.rmtree(OUT)  # the demo's own previous output
    started = time.perf_counter()
    args = ["train", "--config", str(config), "--out", str(OUT)]
    for o in overrides:
        args += ["--set", o]
    code = main(args)
    if code == 0:
        print(f"demo: done in {time.perf_counter() - started:.0f} s; see {OUT}/samples.png, reconstructions.png, curves.png")
        main(["info", str(OUT)])
    sys.exit(code)
