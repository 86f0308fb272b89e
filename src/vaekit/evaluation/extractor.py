"""The default feature extractor for sample quality: a small CNN classifier trained on the dataset's
labels, cached per dataset.

Cached as ``<cache>/<dataset checksum>.safetensors`` (weights) + ``.json`` (architecture, data,
training settings, test accuracy, id), where ``<cache>`` is ``cache_dir`` if given, else
``$XDG_CACHE_HOME/vaekit/extractors``, else ``~/.cache/vaekit/extractors``. No pickle. The id
(architecture + hash of the weights) goes into every score computed with it, so Fréchet distances
are only compared under the same extractor. Training is seeded; a damaged cache entry is retrained.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.checkpoint import atomic_write_json, load_tensors, save_tensors
from vaekit.data import DataSplits
from vaekit.errors import CheckpointError, DataError

ARCH = "vaekit-cnn-v1"
FEATURES = 128


class SmallCNN(nn.Module):
    """Three 3x3 convs (two of stride 2), then a 128-wide feature layer sized for the image shape."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        convs = nn.Sequential(
            nn.Conv2d(shape[0], 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            n_flat = convs(torch.zeros(1, *shape)).shape[1]
        self.body = nn.Sequential(*convs, nn.Linear(n_flat, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (N, C, H, W) -> (N, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (N, num_classes) logits


@dataclass(frozen=True)
class Extractor:
    """A trained extractor: call it on images (N, C, H, W) for features (N, 128)."""

    network: SmallCNN
    id: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.network.features(x)


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "vaekit" / "extractors"


def weights_id(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return f"{ARCH}-{h.hexdigest()[:12]}"


def _image_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) of an image shape; ValueError for any other number of dimensions."""
    c, h, w = (int(v) for v in shape)
    return c, h, w


def _labels(data: DataSplits) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(number of classes, train labels (N,), test labels (M,)); a clear error for data the CNN cannot learn."""
    if data.kind != "image" or len(data.shape) != 3:
        raise DataError(
            f"{data.name} is not image data; the default fd extractor is a CNN for images: "
            "pass feature_extractor= (any callable (N, ...) -> (N, F)) in Python"
        )
    if data.train.y is None or data.test.y is None:
        raise DataError(
            f"{data.name} has no labels, and the default fd extractor is a classifier trained on them: evaluate "
            "fd on a labelled copy of the images (e.g. --data mnist instead of binarized-mnist) or pass "
            "feature_extractor= in Python"
        )
    y_train, y_test = data.train.y, data.test.y
    return int(data.num_classes or int(torch.cat([y_train, y_test]).max()) + 1), y_train, y_test


def default_steps(n: int, batch_size: int = 128) -> int:
    """Two epochs, and at least 500 steps for small datasets."""
    return max(500, math.ceil(2 * n / batch_size))


def train_extractor(data: DataSplits, *, seed: int = 0, steps: int | None = None, batch_size: int = 128) -> Extractor:
    """Train the CNN on the train split's labels (Adam, lr 1e-3) for ``steps`` (default: default_steps)."""
    num_classes, y, y_test = _labels(data)
    x = data.train.x
    steps = steps if steps is not None else default_steps(x.shape[0], batch_size)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SmallCNN(_image_shape(data.shape), num_classes)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(x.shape[0], generator=g)
        pos = 0
        net.train()
        for _ in range(steps):
            if pos + batch_size > x.shape[0]:
                order, pos = torch.randperm(x.shape[0], generator=g), 0
            idx = order[pos : pos + batch_size]  # (B,)
            pos += batch_size
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.inference_mode():
        pred = torch.cat([net(data.test.x[i : i + 1000]).argmax(1) for i in range(0, len(data.test), 1000)])
    state = net.state_dict()
    ident = weights_id(state)
    meta: dict[str, Any] = {
        "arch": ARCH,
        "id": ident,
        "data_source": data.name,
        "data_checksum": data.checksum,
        "shape": list(data.shape),
        "num_classes": num_classes,
        "features": FEATURES,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "test_accuracy": float((pred == y_test).double().mean()),
        "train_seconds": time.perf_counter() - started,
    }
    return Extractor(net, ident, meta)


def _load(weights: Path, info: Path, data: DataSplits) -> Extractor | None:
    """The cached extractor, or None when absent, stale or damaged."""
    if not weights.is_file() or not info.is_file():
        return None
    try:
        meta = json.loads(info.read_text())
        if meta.get("arch") != ARCH or meta.get("data_checksum") != data.checksum or tuple(meta["shape"]) != tuple(data.shape):
            return None
        state, _ = load_tensors(weights)
        net = SmallCNN(_image_shape(meta["shape"]), int(meta["num_classes"]))
        net.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError, CheckpointError):
        return None
    if weights_id(state) != meta.get("id"):
        return None  # the weights are not the ones the id was computed from
    return Extractor(net.eval(), meta["id"], meta)


def load_or_train_extractor(
    data: DataSplits, cache_dir: str | Path | None = None, *, progress: bool = False, steps: int | None = None
) -> Extractor:
    """The dataset's cached extractor, trained (and cached) on first use (``steps``: see train_extractor)."""
    _labels(data)
    if not data.checksum:
        raise DataError(f"{data.name} has no checksum, so its feature extractor cannot be cached; load it with load_data")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    weights, info = folder / f"{data.checksum}.safetensors", folder / f"{data.checksum}.json"
    cached = _load(weights, info, data)
    if cached is not None:
        return cached
    if progress:
        print(f"training the fd feature extractor on {data.name} (once; cached in {folder})", file=sys.stderr)
    ex = train_extractor(data, steps=steps)
    save_tensors(weights, ex.network.state_dict(), {"id": ex.id})
    atomic_write_json(info, ex.meta)
    if progress:
        print(f"  {ex.id}: test accuracy {ex.meta['test_accuracy']:.4f} in {ex.meta['train_seconds']:.0f} s", file=sys.stderr)
    return ex
