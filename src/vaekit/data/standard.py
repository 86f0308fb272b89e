"""The standard image sources: digits (bundled with scikit-learn), mnist, fashion-mnist (IDX) and
Larochelle's statically binarised MNIST (.amat text)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.config import DataConfig
from vaekit.data.idx import find_files, find_idx_files, read_bytes, read_idx
from vaekit.data.registry import Part, Raw, cached_raw, file_key, register
from vaekit.errors import DataFormatError

DIGIT_NAMES = tuple(str(i) for i in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
AMAT_LIMIT = 128 << 20  # bytes: the largest official .amat (train) is 78.4 MB; a bigger one is not one
AMAT_STEMS = (
    "binarized_mnist_train.amat",
    "binarized_mnist_valid.amat",
    "binarized_mnist_test.amat",
)


@register("digits")
def load_digits(cfg: DataConfig, arg: str) -> Raw:
    """scikit-learn's 1797 8x8 digits (offline): (N, 1, 8, 8) in [0, 1], labels 0-9."""

    def build() -> Raw:
        from sklearn.datasets import load_digits as sklearn_digits

        digits = sklearn_digits()
        x = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
        y = digits.target.astype(np.int64)
        return Raw("image", Part(x, y), num_classes=10, class_names=DIGIT_NAMES)

    return cached_raw(("digits",), build)


@register("mnist")
def load_mnist(cfg: DataConfig, arg: str) -> Raw:
    return _load_idx_source("mnist", cfg, DIGIT_NAMES)


@register("fashion-mnist")
def load_fashion_mnist(cfg: DataConfig, arg: str) -> Raw:
    return _load_idx_source("fashion-mnist", cfg, FASHION_NAMES)


def _load_idx_source(name: str, cfg: DataConfig, class_names: tuple[str, ...]) -> Raw:
    """Official 60k train / 10k test, (N, 1, 28, 28) uint8 and labels, from the IDX files."""
    paths = find_idx_files(name, cfg.data_dir, download=cfg.download)

    def build() -> Raw:
        train_x, train_y = _images_and_labels(
            paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"], len(class_names)
        )
        test_x, test_y = _images_and_labels(paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"], len(class_names))
        return Raw(
            "image",
            Part(train_x[:, None], train_y),  # (N, 1, 28, 28)
            test=Part(test_x[:, None], test_y),
            num_classes=len(class_names),
            class_names=class_names,
        )

    return cached_raw(("idx", name, file_key(paths.values())), build)


def _images_and_labels(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFormatError(f"{images_path}: expected uint8 images (N, H, W), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFormatError(f"{labels_path}: expected uint8 labels (N,), found {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataFormatError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if len(labels) and labels.max() >= num_classes:
        raise DataFormatError(f"{labels_path}: label {labels.max()} is not in 0..{num_classes - 1}")
    return images, labels


@register("binarized-mnist")
def load_binarized_mnist(cfg: DataConfig, arg: str) -> Raw:
    """Larochelle & Murray's static binarisation: 50k/10k/10k (N, 1, 28, 28) in {0, 1}, no
    labels, official train/valid/test (validation_fraction and test_fraction do not apply)."""
    paths = find_files("binarized-mnist", AMAT_STEMS, cfg.data_dir, download=cfg.download)

    def build() -> Raw:
        train, valid, test = (read_amat(paths[s]).reshape(-1, 1, 28, 28) for s in AMAT_STEMS)
        return Raw("image", Part(train), test=Part(test), validation=Part(valid), pixel_max=1.0)

    return cached_raw(("amat", file_key(paths.values())), build)


def read_amat(path: Path, width: int = 784) -> np.ndarray:
    """An .amat(.gz) file of 0/1 values, one image per line -> (N, width) uint8 in {0, 1}."""
    data = read_bytes(path, limit=AMAT_LIMIT)
    buf = np.frombuffer(data, np.uint8)
    row = 2 * width  # "d d d ... d\n": one digit and one separator per value
    if buf.size and buf.size % row == 0:
        rows = buf.reshape(-1, row)
        separators = rows[:, 1::2]
        if (separators[:, :-1] == ord(" ")).all() and (separators[:, -1] == ord("\n")).all():
            values = rows[:, ::2] - np.uint8(ord("0"))  # wraps to > 1 for non-digits
            if (values <= 1).all():
                return values
    # any other spacing or number format: slower, still strict
    try:
        values = np.array(data.split(), dtype=np.float32)
    except ValueError as e:
        raise DataFormatError(f"{path}: not a file of numbers ({e})") from e
    if values.size == 0 or values.size % width:
        raise DataFormatError(f"{path}: {values.size} values is not a whole number of {width}-pixel images")
    if not np.isin(values, (0.0, 1.0)).all():
        raise DataFormatError(f"{path}: binarized MNIST values must all be 0 or 1")
    return values.astype(np.uint8).reshape(-1, width)
