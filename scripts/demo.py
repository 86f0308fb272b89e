"""`make demo`: train a small VAE on the best data this machine has and leave a run directory with
samples, reconstructions and curves.

- Fashion-MNIST when its files are here (``apt-get install dataset-fashion-mnist``): a conv VAE, 2 minutes;
- else MNIST (``../shared/data/mnist`` beside the repository, ``$VAEKIT_DATA``, the user cache): an MLP VAE
  with a 2-D latent for about a minute, and the classic picture of its learned manifold;
- else scikit-learn's 8x8 digits (always there): the same 2-D-latent picture in well under a minute.

``VAEKIT_DEMO_DATA=fashion-mnist|mnist|digits`` picks one (``auto``, the default, takes the first found).
"""

from __future__ import annotations

import os
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
CHOICES = ("auto", "fashion-mnist", "mnist", "digits")
COMMON = ["train.tensorboard=false"]
# a 2-D latent: every picture the model makes is on one sheet (vaekit manifold)
MNIST_2D = ['model.arch="mlp"', "model.latent_dim=2", "model.hidden=[256, 128]", "train.epochs=30", "train.max_time=60",
            "train.batch_size=128", "train.lr=2e-3", "train.kl_warmup_epochs=0", "train.early_stopping=none", "data.limit=20000",
            "train.threads=2"]  # fmt: skip
# small matrices: one thread is faster than two taking turns
DIGITS_2D = ["model.latent_dim=2", "model.hidden=[256, 128]", "train.epochs=150", "train.max_time=45", "train.batch_size=32",
             "train.lr=2e-3", "train.early_stopping=30", "train.threads=1"]  # fmt: skip


def _found(source: str, data_dir: str | None = None) -> bool:
    try:
        load_data(DataConfig(source=source, data_dir=data_dir, download=False))
    except DataError:
        return False
    return True


def _mnist_dir() -> str | None:
    """``../shared/data/mnist`` beside the repository when it has the files, else the usual search (None)."""
    shared = ROOT.parent / "shared" / "data" / "mnist"
    return str(shared) if shared.is_dir() else None


def pick(choice: str) -> tuple[str, Path, list[str], bool]:
    """(what, config, overrides, draw the manifold) for ``choice`` (auto: the first source found)."""
    if choice not in CHOICES:
        raise SystemExit(f"demo: VAEKIT_DEMO_DATA={choice!r}: use one of {', '.join(CHOICES)}")
    if choice in ("auto", "fashion-mnist") and _found("fashion-mnist"):
        return (
            "a conv VAE on Fashion-MNIST",
            ROOT / "configs" / "fashion_mnist_conv.toml",
            ["train.max_time=120", "data.limit=30000", "train.threads=2"],
            False,
        )
    if choice == "fashion-mnist":
        raise SystemExit("demo: Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)")
    mnist_dir = _mnist_dir()
    if choice in ("auto", "mnist") and _found("mnist", mnist_dir):
        extra = [f"data.data_dir={mnist_dir!r}".replace("'", '"')] if mnist_dir else []
        return "an MLP VAE with a 2-D latent on MNIST", ROOT / "configs" / "mnist_conv.toml", MNIST_2D + extra, True
    if choice == "mnist":
        raise SystemExit("demo: MNIST is not on this machine (put its IDX files in ../shared/data/mnist or $VAEKIT_DATA)")
    return "an MLP VAE with a 2-D latent on scikit-learn's 8x8 digits", ROOT / "configs" / "digits_mlp.toml", DIGITS_2D, True


if __name__ == "__main__":
    what, config, overrides, manifold = pick(os.environ.get("VAEKIT_DEMO_DATA", "auto").strip().lower())
    print(f"demo: training {what}")
    if OUT.exists():
        shutil.rmtree(OUT)  # the demo's own previous output
    started = time.perf_counter()
    args = ["train", "--config", str(config), "--out", str(OUT)]
    for o in overrides + COMMON:
        args += ["--set", o]
    code = main(args)
    if code == 0 and manifold:
        code = main(["manifold", str(OUT), "--grid", "15", "--out", str(OUT / "manifold.png")])
    if code == 0:
        pictures = "samples.png, reconstructions.png, curves.png" + (", manifold.png" if manifold else "")
        print(f"demo: done in {time.perf_counter() - started:.0f} s; see {OUT}/: {pictures}")
        main(["info", str(OUT)])
    sys.exit(code)
