"""Which entries of an input are observed: masks for restoration (``True``/1 = observed).

A mask is given as

- a name: ``bottom-half``, ``top-half``, ``left-half``, ``right-half`` (the named half is
  *missing*), ``center`` (the central square of half the side is missing) — images only;
- ``random:F``: a fraction F of the entries of every example missing, chosen with a seed
  (for images whole pixels go missing, in every channel at once);
- a file: ``.npy`` of 0/1 values, or an image (``.png``, ``.jpg``, ...) where white (>= 128) is
  observed and black is missing; shaped like one example, (H, W) for images (shared by every
  channel), or with a leading N for one mask per example;
- nothing: NaN entries are missing (tables with gaps).

NaN entries of the data are always missing, whatever the mask says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.errors import DataError

HALVES = ("bottom-half", "top-half", "left-half", "right-half")
NAMED = (*HALVES, "center")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MASK_HELP = "bottom-half, top-half, left-half, right-half, center, random:F (0 < F < 1), or a .npy / image file"


def named_mask(name: str, data_shape: tuple[int, ...]) -> torch.Tensor:
    """One (C, H, W) bool mask for a named region; True = observed."""
    if len(data_shape) != 3:
        raise DataError(
            f"mask {name!r} names a region of an image, but the data has shape {tuple(data_shape)}; "
            "for tables use random:F, NaN cells, or a .npy mask"
        )
    _, h, w = data_shape
    observed = torch.ones(data_shape, dtype=torch.bool)  # (C, H, W)
    if name == "bottom-half":
        observed[:, h // 2 :, :] = False
    elif name == "top-half":
        observed[:, : h // 2, :] = False
    elif name == "left-half":
        observed[:, :, : w // 2] = False
    elif name == "right-half":
        observed[:, :, w // 2 :] = False
    elif name == "center":
        sh, sw = max(1, h // 2), max(1, w // 2)
        top, left = (h - sh) // 2, (w - sw) // 2
        observed[:, top : top + sh, left : left + sw] = False
    else:
        raise DataError(f"unknown mask {name!r}: use {MASK_HELP}")
    return observed


def random_mask(fraction: float, n: int, data_shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """(n, *data_shape) bool; exactly round(fraction * P) of the P entries (pixels for images) of each
    example are missing."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"random:{fraction}: the missing fraction must be between 0 and 1 (exclusive)")
    cells = tuple(data_shape[1:]) if len(data_shape) == 3 else tuple(data_shape)  # (H, W) or (D,)
    p = int(np.prod(cells))
    k = round(fraction * p)
    order = torch.rand(n, p, generator=generator).argsort(dim=1)  # (n, P) a random order per example
    observed = torch.ones(n, p, dtype=torch.bool)
    observed.scatter_(1, order[:, :k], False)
    observed = observed.reshape(n, *cells)
    if len(data_shape) == 3:
        observed = observed[:, None].expand(n, *data_shape)  # (n, C, H, W): a pixel in every channel
    return observed.contiguous()


def mask_from_file(path: Path, n: int, data_shape: tuple[int, ...]) -> torch.Tensor:
    """(n, *data_shape) bool from a .npy of 0/1 values or an image (white = observed)."""
    if not path.is_file():
        raise DataError(f"mask file {path} does not exist; pass a .npy or image file, or one of {', '.join(NAMED)}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise DataError(f"mask file {path} is not a readable .npy array ({e})") from e
        if a.dtype.kind not in "biuf" or not np.isin(a, (0, 1)).all():
            raise DataError(f"mask file {path}: values must be 0 (missing) or 1 (observed)")
        a = a.astype(bool)
    elif suffix in IMAGE_SUFFIXES:
        from PIL import Image

        try:
            with Image.open(path) as im:
                a = np.asarray(im.convert("L")) >= 128  # (H, W): white = observed
        except OSError as e:
            raise DataError(f"mask file {path} could not be read as an image ({e})") from e
    else:
        raise DataError(f"mask file {path}: use a .npy array or an image ({', '.join(IMAGE_SUFFIXES)})")
    return fit_mask(torch.from_numpy(a), n, data_shape, str(path))


def fit_mask(m: torch.Tensor, n: int, data_shape: tuple[int, ...], where: str = "mask") -> torch.Tensor:
    """Broadcast a mask of shape data_shape, (H, W), (n, *data_shape) or (n, H, W) to (n, *data_shape)."""
    shape = tuple(m.shape)
    data_shape = tuple(data_shape)
    image = len(data_shape) == 3
    if shape == data_shape or (image and shape == data_shape[1:]):
        m = m.expand(*data_shape) if shape == data_shape else m[None].expand(*data_shape)
        return m[None].expand(n, *data_shape).contiguous()
    if shape == (n, *data_shape):
        return m.contiguous()
    if image and shape == (n, *data_shape[1:]):
        return m[:, None].expand(n, *data_shape).contiguous()
    accepted = [data_shape, (n, *data_shape)] + ([data_shape[1:], (n, *data_shape[1:])] if image else [])
    raise DataError(
        f"{where} has shape {shape}, but the data has {n} examples of shape {data_shape}; "
        f"a mask must have one of the shapes {', '.join(str(s) for s in accepted)}"
    )


def resolve_mask(spec: str | None, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The (N, *data_shape) bool mask (True = observed) for data ``x`` (N, *data_shape).

    NaN entries of ``x`` are missing whatever ``spec`` says. Without a spec the NaNs are the
    only missing entries, and data without any is an error (there is nothing to fill).
    """
    n, data_shape = int(x.shape[0]), tuple(x.shape[1:])
    nan = torch.isnan(x)  # (N, *S)
    if spec is None:
        if not bool(nan.any()):
            raise DataError(f"the data has no missing (NaN) entries, so there is nothing to fill; pass a mask: {MASK_HELP}")
        return ~nan
    spec = spec.strip()
    if spec in NAMED:
        m = named_mask(spec, data_shape)[None].expand(n, *data_shape)
    elif spec.startswith("random:"):
        try:
            fraction = float(spec.partition(":")[2])
        except ValueError:
            raise DataError(f"mask {spec!r}: write random:F with a fraction F, e.g. random:0.5") from None
        m = random_mask(fraction, n, data_shape, generator)
    elif Path(spec).suffix:
        m = mask_from_file(Path(spec), n, data_shape)
    else:
        raise DataError(f"unknown mask {spec!r}: use {MASK_HELP}")
    return m & ~nan
