"""Where training numbers go: ``metrics.jsonl`` (always) and TensorBoard (when installed), and the
progress bar's line.

TensorBoard also gets pictures each epoch for image data: 16 samples from the prior (one fixed
seed, so epochs compare) and 16 validation images above their reconstructions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from vaekit.checkpoint import METRICS, atomic_write_bytes, parse_metrics_line
from vaekit.errors import RunDirError, VaekitError

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

PREVIEW = 16  # images per TensorBoard picture


class MetricsLog:
    """Appends one JSON object per epoch; on resume, drops lines past the checkpoint's epoch so
    the file describes exactly the run that continues."""

    def __init__(self, run_dir: Path, tensorboard: bool, resume_epoch: int | None = None):
        self.path = Path(run_dir) / METRICS
        if resume_epoch is not None and self.path.is_file():
            kept = [json.dumps(row) for row in _rows_to_keep(self.path, resume_epoch)]
            atomic_write_bytes(self.path, "".join(ln + "\n" for ln in kept).encode())
        self.writer = None
        self._preview: tuple[torch.Tensor, torch.Tensor | None] | None = None  # validation images for reconstructions
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                pass
            else:
                self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=resume_epoch)

    def write(self, row: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(clean) + "\n")
        if self.writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.writer.add_scalar(k, v, row["epoch"])
            self.writer.flush()

    def images(self, model: VAE, data: Any, epoch: int, seed: int) -> None:
        """Samples and reconstructions of image data as TensorBoard images at ``epoch`` (eval-mode ``model``,
        ``data`` the run's DataSplits or StreamedSplits); nothing without TensorBoard or for tables."""
        if self.writer is None or data.kind != "image":
            return
        device = next(model.parameters()).device
        conditional = bool(getattr(model, "conditional", False))
        if self._preview is None:
            small = data.preview(PREVIEW) if hasattr(data, "preview") else data
            part = next((p for p in (small.validation, small.test, small.train) if len(p)), small.train)
            y = part.y[:PREVIEW] if conditional and part.y is not None else None
            self._preview = (part.x[:PREVIEW], y)
        x, y = self._preview
        with torch.no_grad():
            try:
                samples = model.sample(PREVIEW, generator=torch.Generator().manual_seed(seed))
            except VaekitError:  # a prior that cannot draw with a generator: reconstructions only
                samples = None
            recon = model.reconstruct(x.to(device), condition=None if y is None else y.to(device))
        if samples is not None:
            self.writer.add_images("samples", samples.float().clamp(0, 1).cpu(), epoch)
        self.writer.add_images("reconstructions", torch.cat([x, recon.float().cpu()]).clamp(0, 1), epoch)  # originals first
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _rows_to_keep(path: Path, resume_epoch: int) -> list[dict[str, Any]]:
    """The rows up to the checkpoint's epoch. A damaged last line is what a kill during an append
    leaves (its epoch is past the checkpoint), so it is dropped; damage elsewhere is an error."""
    try:
        lines = [ln for ln in path.read_bytes().decode("utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError:
        raise RunDirError(f"{path} is not text (damaged); delete it and resume again") from None
    rows = []
    for i, line in enumerate(lines):
        row = parse_metrics_line(line)
        if row is None and i == len(lines) - 1:
            break
        if row is None:
            raise RunDirError(
                f"{path}, line {i + 1} is not a metrics row (damaged); delete the line or the file and resume again"
            )
        rows.append(row)
    return [row for row in rows if row["epoch"] <= resume_epoch]


class EpochBar(tqdm):
    """The training progress bar: its postfix always ends with the last epoch's validation ELBO."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._fields: dict[str, Any] = {}
        self._val_elbo: float | None = None
        super().__init__(*args, **kwargs)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self._fields = {**(ordered_dict or {}), **kwargs}
        shown = dict(self._fields)
        if self._val_elbo is not None:
            shown["val_elbo"] = f"{self._val_elbo:.3f}"
        super().set_postfix(shown, refresh=refresh)

    def show_validation(self, elbo: float) -> None:
        """Show ``elbo`` (the epoch's validation ELBO, nats) from now on."""
        self._val_elbo = elbo
        self.set_postfix(self._fields)
