"""Files that detection and restoration write. Every file is written atomically.

- scores.csv: ``index,name,score,flag`` (and ``label`` when labels are known), one row per input;
- anomaly maps: one heatmap PNG per input (named after it) on one shared colour scale, plus
  ``maps.npy`` with every map (N, H, W) or (N, D);
- image folders: one image per input with the input's own file name (subfolders kept);
- CSV tables: the input CSV with its missing cells filled (see :func:`write_filled_csv`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vaekit.checkpoint import atomic_write_bytes
from vaekit.data.base import Standardizer
from vaekit.data.columns import cell_text
from vaekit.errors import DataError

_LABEL_COLUMNS = ("label", "y")  # as the csv source reads them


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def write_scores_csv(
    out: Path, names: Sequence[str], scores: torch.Tensor, flags: torch.Tensor, labels: np.ndarray | None = None
) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "name", "score", "flag"] + (["label"] if labels is not None else []))
    for i, (name, s, f) in enumerate(zip(names, scores.tolist(), flags.tolist())):
        w.writerow([i, name, f"{s:.6f}", int(f)] + ([int(labels[i])] if labels is not None else []))
    atomic_write_bytes(Path(out), buf.getvalue().encode())


def file_names(names: Sequence[str], suffix: str = ".png") -> list[str]:
    """Names for per-input files: the inputs' own file names, or zero-padded indices."""
    if names and all(n.isdigit() for n in names):
        width = max(5, len(str(len(names) - 1)))
        return [f"{int(n):0{width}d}{suffix}" for n in names]
    return list(names)


def write_maps(
    out_dir: Path,
    maps: torch.Tensor,
    names: Sequence[str],
    image: bool,
    inputs: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
) -> None:
    """``maps.npy`` (N, H, W) or (N, D) and, for images, one PNG per input with its map drawn over the
    input (``inputs`` (N, C, H, W)) and a colour-bar strip, plus ``maps_overview.png``: the first
    inputs with a colour bar in nats and their ``scores``."""
    out_dir = Path(out_dir)
    a = maps.numpy()
    atomic_write_bytes(out_dir / "maps.npy", npy_bytes(a))
    if not image:
        return
    from vaekit.viz.heatmaps import color_range, heatmap_png, overview_png

    vmin, vmax = color_range(a)
    scale = max(1, math.ceil(96 / a.shape[1])) if a.shape[1] < 96 else 1
    pictures = None if inputs is None else inputs.clamp(0, 1).cpu().numpy()
    for i, (name, m) in enumerate(zip(file_names(names), a)):
        png = heatmap_png(m, vmin, vmax, scale, image=None if pictures is None else pictures[i])
        atomic_write_bytes(out_dir / Path(name).with_suffix(".png"), png)
    listed = None if scores is None else scores.tolist()
    atomic_write_bytes(out_dir / "maps_overview.png", overview_png(a, pictures, list(names), listed, vmin, vmax))


def write_image_files(out_dir: Path, x: torch.Tensor, names: Sequence[str]) -> list[Path]:
    """One image per input (N, C, H, W) in [0, 1], with the input's file name (format from its suffix;
    PNG where Pillow cannot write that suffix)."""
    from PIL import Image

    out_dir = Path(out_dir)
    written = []
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()  # (N, C, H, W)
    for name, p in zip(file_names(names), pixels):
        im = Image.fromarray(p[0] if p.shape[0] == 1 else p.transpose(1, 2, 0))
        path = out_dir / name
        buf = io.BytesIO()
        try:
            im.save(buf, format=Image.registered_extensions()[path.suffix.lower()])
        except (KeyError, OSError, ValueError):  # unknown or unwritable suffix, or a mode it cannot store
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            path = path.with_name(path.name + ".png")
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written


def write_filled_csv(
    src: Path, out: Path, x: torch.Tensor, observed: torch.Tensor, scaler: Standardizer, clip: bool = False
) -> int:
    """Rewrite the CSV ``src`` with its missing cells filled: ``x`` (N, D) are standardised values for
    its first N data rows (all of them, or the first N with ``-n``; only those rows are written);
    where ``observed`` (N, D) is False the cell gets the value in original units (typed columns as
    their kind writes them: a category's label, a whole count, 0/1), every other cell (observed
    values, the label column, the header) is copied as written. ``clip`` holds the filled values to
    the scaler's column ranges (:meth:`Standardizer.restrict`). Returns the number of cells filled."""
    text = Path(src).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header_at = next(i for i, r in enumerate(rows) if r and any(c.strip() for c in r))
    header = [h.strip() for h in rows[header_at]]
    label_at = {i for i, h in enumerate(header) if h.lower() in _LABEL_COLUMNS}
    features = [i for i in range(len(header)) if i not in label_at]
    data_rows = [i for i in range(header_at + 1, len(rows)) if rows[i] and any(c.strip() for c in rows[i])]
    if len(data_rows) < x.shape[0] or len(features) != x.shape[1]:
        raise DataError(
            f"{src} has {len(data_rows)} rows x {len(features)} feature columns but the result is "
            f"{tuple(x.shape)}; the file changed while it was being read — run again"
        )
    restored = scaler.inverse(x.double())  # (N, D) original units
    values = (scaler.restrict(restored) if clip else restored).numpy()
    missing = (~observed.bool()).numpy()
    filled = 0
    rows = rows[: data_rows[x.shape[0] - 1] + 1] if x.shape[0] else rows[: header_at + 1]  # -n: the first N rows
    for r, row_at in enumerate(data_rows[: x.shape[0]]):
        row = list(rows[row_at])
        for j in np.flatnonzero(missing[r] & ~np.isnan(values[r])):  # NaN: nothing to fill with, the cell stays empty
            row[features[j]] = cell_text(scaler, int(j), float(values[r, j]))  # a label, a whole count, or a number
            filled += 1
        rows[row_at] = row
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(r for r in rows if r and any(c.strip() for c in r))
    atomic_write_bytes(Path(out), buf.getvalue().encode())
    return filled


def write_table_csv(out: Path, x: np.ndarray, columns: Sequence[str]) -> None:
    """A fresh CSV: a header of ``columns`` and the rows of ``x`` (N, D)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(columns))
    w.writerows([f"{v:.7g}" for v in row] for row in x.tolist())
    atomic_write_bytes(Path(out), buf.getvalue().encode())


def save_restored(
    out: Path,
    run,
    ex,
    x_new: torch.Tensor,
    *,
    original: torch.Tensor,
    mask: torch.Tensor | None = None,
    samples: torch.Tensor | None = None,
    clip: bool = False,
) -> str:
    """Write restored inputs ``x_new`` (N, *S) where ``out`` says (its suffix was checked by the caller):

    - ``.npy``: the array (tables in original units); with ``samples`` also ``<stem>_samples.npy`` (N, K, *S);
    - ``.csv``: a csv: source with its missing cells filled (``mask``), or a fresh table (denoising);
    - ``.png``: a grid, one row per input: original, masked input (missing = grey), result, samples;
    - no suffix: a folder of images named like the inputs.

    ``clip`` (tables): restored cells (the missing ones, or every cell without ``mask``) are held to
    the run's column ranges and rounded in whole-number columns, in original units. Returns a short note saying what was written.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    scaler = run.scaler() if ex.kind == "tabular" else None

    def units(t: torch.Tensor, observed: torch.Tensor | None = mask) -> torch.Tensor:
        if scaler is None:
            return t
        v = scaler.inverse(t.double())
        if clip:  # restored cells only: observed values are never changed
            v = scaler.restrict(v) if observed is None else torch.where(observed, v, scaler.restrict(v))
        return v.to(t.dtype)

    written = [str(out)]
    if suffix == ".csv":
        if mask is not None:
            if scaler is None:
                raise DataError(f"{ex.path} was read without its run's scaler.json; the run directory is damaged")
            write_filled_csv(ex.path, out, x_new, mask, scaler, clip=clip)
        else:
            columns = scaler.columns if scaler is not None and scaler.columns else [f"x{i}" for i in range(x_new.shape[1])]
            write_table_csv(out, units(x_new).numpy(), columns)
    elif suffix == ".npy":
        atomic_write_bytes(out, npy_bytes(units(x_new).numpy()))
    elif suffix == ".png":
        from vaekit.viz.labelled import save_columns

        cols = [original] + ([original.masked_fill(~mask, 0.5)] if mask is not None else []) + [x_new]
        headers = ["original", "masked", "filled"] if mask is not None else ["input", "denoised"]
        if samples is not None:
            cols += list(samples.unbind(1))
            headers += [f"sample {k + 1}" for k in range(samples.shape[1])]
        rows = torch.stack(cols, 1).nan_to_num(0.5)  # (N, columns, C, H, W); NaN (missing) shows grey
        h = original.shape[-2]
        save_columns(rows.cpu().numpy(), headers, out, scale=max(1, math.ceil(48 / h)) if h < 48 else 1)
    else:
        write_image_files(out, x_new, ex.names)
        written = [f"{len(ex.names)} images in {out}"]
    if samples is not None and suffix in (".npy", ".csv"):
        sample_path = out.with_name(out.stem + "_samples.npy")
        atomic_write_bytes(sample_path, npy_bytes(units(samples, None if mask is None else mask[:, None]).numpy()))
        written.append(str(sample_path))
    return "wrote " + ", ".join(written)
