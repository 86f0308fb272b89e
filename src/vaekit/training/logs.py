"""Where training numbers go: ``metrics.jsonl`` (always) and TensorBoard (when installed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vaekit.checkpoint import METRICS


class MetricsLog:
    """Appends one JSON object per epoch; on resume, drops lines past the checkpoint's epoch so
    the file describes exactly the run that continues."""

    def __init__(self, run_dir: Path, tensorboard: bool, resume_epoch: int | None = None):
        self.path = Path(run_dir) / METRICS
        if resume_epoch is not None and self.path.is_file():
            kept = [ln for ln in self.path.read_text().splitlines() if ln.strip() and json.loads(ln)["epoch"] <= resume_epoch]
            self.path.write_text("".join(ln + "\n" for ln in kept))
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
