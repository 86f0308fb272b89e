"""Tensors to what the page shows (image data URLs, table rows) and uploads to tensors, with caps.

Images go out at the model's own resolution; the page enlarges them with ``image-rendering:
pixelated``. Uploads are PNG or JPEG only, read by Pillow with its decompression-bomb guard made
an error and the pixel count checked from the header before any pixel is decoded. Table rows are
read in the run's original units and standardised with the run's saved scaler.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from pathlib import Path

import numpy as np
import torch

from vaekit.data.base import Standardizer
from vaekit.web.errors import PayloadTooLarge, RequestError

UPLOAD_FORMATS = ("PNG", "JPEG")
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})


# ---------------------------------------------------------------- out


def _u8_image(x: np.ndarray):
    """(C, H, W) float in [0, 1] (clipped), C = 1 or 3 -> a Pillow image."""
    from PIL import Image

    a = np.asarray(x, dtype=np.float32).transpose(1, 2, 0)  # (H, W, C)
    a = np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0)
    u8 = np.rint(a * 255).astype(np.uint8)
    return Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8, "L" if u8.shape[-1] == 1 else "RGB")


def png_bytes(x: np.ndarray) -> bytes:
    """(C, H, W) float in [0, 1] -> PNG bytes (thumbnails the browser may keep)."""
    buf = io.BytesIO()
    _u8_image(x).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_url(x: np.ndarray) -> str:
    """(C, H, W) float in [0, 1] -> an image data URL for the page.

    BMP, not PNG: Pillow writes it about ten times faster (no filtering, no deflate), which is
    most of a 64-image sample request's time; the bytes never leave this machine, so size does
    not matter, and every browser shows it."""
    buf = io.BytesIO()
    _u8_image(x).save(buf, format="BMP")
    return "data:image/bmp;base64," + base64.b64encode(buf.getvalue()).decode()


def image_url(x: torch.Tensor) -> str:
    """One image (C, H, W) -> a data URL."""
    return data_url(x.detach().cpu().numpy())


def grid_url(x: torch.Tensor, nrow: int | None = None) -> str:
    """(N, C, H, W) -> one grid image (white 1-pixel gaps) as a data URL."""
    from vaekit.viz.grids import make_grid

    grid = make_grid(x.detach().cpu().float().numpy(), nrow or math.ceil(math.sqrt(len(x))))  # (H', W', C)
    return data_url(grid.transpose(2, 0, 1))


def heat_url(values: np.ndarray, vmax: float | None = None) -> str:
    """(H, W) non-negative scores -> a heatmap (black -> red -> yellow -> white) as a data URL."""
    a = np.asarray(values, dtype=np.float64)
    top = float(vmax if vmax is not None else np.percentile(a, 99.5)) if a.size else 1.0
    t = np.clip((a - min(0.0, float(a.min(initial=0.0)))) / (top if top > 0 else 1.0), 0.0, 1.0)
    # a fixed black-body ramp: no colour map library needed for one picture
    rgb = np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)])  # (3, H, W)
    return data_url(rgb)


def table_rows(x: torch.Tensor, scaler: Standardizer | None, digits: int = 4) -> list[list[float | None]]:
    """(N, D) in model units -> rows in the data's original units (the run's scaler undone)."""
    x = x.detach().cpu().float()
    if scaler is not None:
        x = scaler.inverse(x)
    a = np.round(x.numpy().astype(np.float64), digits)
    return [[None if not math.isfinite(v) else float(v) for v in row] for row in a]


def columns_of(scaler: Standardizer | None, d: int) -> list[str]:
    if scaler is not None and len(scaler.columns) == d:
        return list(scaler.columns)
    return [f"x{i}" for i in range(d)]


# ---------------------------------------------------------------- in


def decode_data_url(text: str, max_bytes: int) -> bytes:
    """``data:...;base64,XXXX`` or bare base64 -> bytes, at most ``max_bytes``."""
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    if len(payload) > 4 * (max_bytes // 3) + 4:
        raise PayloadTooLarge(f"the upload is larger than the cap of {max_bytes:,} bytes; send a smaller image")
    try:
        raw = base64.b64decode(payload, validate=True)
    except ValueError:
        raise RequestError("the image is not valid base64 data; upload a PNG or JPEG file") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the upload is {len(raw):,} bytes, over the cap of {max_bytes:,}; send a smaller image")
    return raw


def image_tensor(raw: bytes, shape: tuple[int, ...], max_pixels: int, invert: bool = False) -> torch.Tensor:
    """PNG/JPEG bytes -> (1, C, H, W) float in [0, 1] at the model's size and channel count.

    The header's pixel count is checked against ``max_pixels`` before decoding, and Pillow's
    decompression-bomb warning is an error. ``invert`` flips dark-on-light drawings for models of
    light-on-dark data (MNIST)."""
    from PIL import Image, UnidentifiedImageError

    from vaekit.data.images import decode_file, to_chw

    c, h, w = shape
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=list(UPLOAD_FORMATS)) as im:
                if im.width * im.height > max_pixels:
                    raise PayloadTooLarge(
                        f"the image is {im.width}x{im.height} = {im.width * im.height:,} pixels, over the cap of "
                        f"{max_pixels:,}; scale it down first"
                    )
                a = decode_file(Path("the uploaded image"), im, (w, h), "rgb" if c == 3 else "grayscale", Image)
        except UnidentifiedImageError:
            raise RequestError("the upload is not a PNG or JPEG image; upload a .png or .jpg file") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PayloadTooLarge(
                "the image declares more pixels than Pillow's decompression-bomb guard allows; it is not read"
            ) from None
        except OSError as e:  # a truncated or damaged file
            raise RequestError(f"the image could not be decoded ({e}); upload a complete PNG or JPEG file") from None
    x = torch.tensor(np.array(to_chw(a, c == 3)), dtype=torch.float32).div_(255.0)[None]  # (1, C, H, W)
    return 1.0 - x if invert else x


def row_tensor(row: str | list, columns: list[str], scaler: Standardizer | None) -> torch.Tensor:
    """A table row (comma-separated text, or a list) in original units -> (1, D) in model units.
    Empty cells and NA are missing (NaN): they are what inpainting fills."""
    cells = [c.strip() for c in row.split(",")] if isinstance(row, str) else list(row)
    if len(cells) == len(columns) + 1 and isinstance(row, str) and not cells[-1]:
        cells = cells[:-1]  # a trailing comma
    if len(cells) != len(columns):
        raise RequestError(f"the row has {len(cells)} values but the model takes {len(columns)}: {', '.join(columns)}")
    values = []
    for name, cell in zip(columns, cells):
        if cell is None or (isinstance(cell, str) and cell.strip().lower() in MISSING):
            values.append(math.nan)
            continue
        try:
            v = float(cell)
        except (TypeError, ValueError):
            raise RequestError(f"column {name!r}: {cell!r} is not a number (leave it empty if it is missing)") from None
        if math.isinf(v):
            raise RequestError(f"column {name!r}: infinite value; give a finite number or leave it empty")
        values.append(v)
    x = torch.tensor([values], dtype=torch.float32)  # (1, D)
    return scaler.transform(x) if scaler is not None else x
