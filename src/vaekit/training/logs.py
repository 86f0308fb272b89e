"""Where training numbers go: ``metrics.jsonl`` (always) and TensorBoard (when installed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vaekit.checkpoint import METRICS, atomic_write_bytes, parse_metrics_line
from vaekit.errors import RunDirError


class MetricsLog:
    """Appends one JSON object per epoch; on resume, drops lines past the checkpoint's epoch so
    the file describes exactly the run that continues."""

    def __init__(self, run_dir: Path, tensorboard: bool, resume_epoch: int | None = None):
        self.path = Path(run_dir) / METRICS
        if resume_epoch is not None and self.path.is_file():
            kept = [json.dumps(row) for row in _rows_to_keep(self.path, resume_epoch)]
            atomic_write_bytes(self.path, "".join(ln + "\n" for ln in kept).encode())
        self.writer = None
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
            raise RunDirError(f"{path}, line {i + 1} is not a metrics row (damaged); delete the line or the file and resume again")
        rows.append(row)
    return [row for row in rows if row["epoch"] <= resume_epoch]
