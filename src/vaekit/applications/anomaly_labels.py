"""Ground truth for anomaly scores: label files, labels from classes, ROC/PR metrics.

A label file holds one 0/1 per input (1 = anomalous): either one value per line (an optional
header line is skipped), or a CSV with a header whose label column is the only column, the one
named with ``column``, or one called ``anomaly``, ``is_anomaly``, ``anomalous``, ``outlier`` or
``label``. When the CSV also has a ``name``/``file``/``filename`` column and the inputs have file
names, rows are matched by name; otherwise by order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.data.tabular import is_number
from vaekit.errors import ConfigError, DataError, VaekitError

LABEL_NAMES = ("anomaly", "is_anomaly", "anomalous", "outlier", "label")
NAME_COLUMNS = ("name", "file", "filename")


@dataclass(frozen=True)
class DetectionMetrics:
    auroc: float
    auprc: float  # average precision
    n_anomalous: int
    n_normal: int
    fpr: np.ndarray  # ROC curve
    tpr: np.ndarray
    precision: np.ndarray  # PR curve
    recall: np.ndarray


def detection_metrics(labels: np.ndarray, scores: np.ndarray) -> DetectionMetrics:
    """AUROC and average precision (AUPRC) of ``scores`` (higher = anomalous) against 0/1 ``labels``."""
    try:
        from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve
    except ImportError:
        raise VaekitError("ROC/PR metrics need scikit-learn: pip install 'vaekit[sklearn]'") from None
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == len(labels):
        raise ConfigError(
            f"the labels mark {n_pos} of {len(labels)} inputs as anomalous; AUROC and AUPRC need both "
            "normal (0) and anomalous (1) inputs"
        )
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return DetectionMetrics(
        auroc=float(roc_auc_score(labels, scores)),
        auprc=float(average_precision_score(labels, scores)),
        n_anomalous=n_pos,
        n_normal=len(labels) - n_pos,
        fpr=fpr,
        tpr=tpr,
        precision=precision,
        recall=recall,
    )


def labels_from_classes(y: np.ndarray | None, normal_classes: Sequence[int], source: str = "the data") -> np.ndarray:
    """(N,) 0/1: 1 where the class label is not one of ``normal_classes``."""
    if y is None:
        raise DataError(f"{source} has no class labels, so anomaly labels cannot come from classes; pass --anomaly-labels FILE")
    if not normal_classes:
        raise ConfigError("the list of normal classes is empty; write e.g. --normal-classes 0,1")
    return (~np.isin(np.asarray(y), np.asarray(list(normal_classes)))).astype(int)


def parse_classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--normal-classes {text!r}: write class numbers separated by commas, e.g. 0,1") from None


def read_anomaly_labels(path: Path, names: Sequence[str], column: str | None = None) -> np.ndarray:
    """(N,) int 0/1 for the inputs called ``names`` (file names, or indices as text)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"label file {path} does not exist")
    rows = [r for r in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"label file {path} is empty; write one 0/1 per input (1 = anomalous)")
    header = [h.strip() for h in rows[0]]
    has_header = not all(is_number(h) for h in header)
    body = rows[1:] if has_header else rows
    if has_header:
        at = _label_column(path, header, column)
        name_at = next((i for i, h in enumerate(header) if h.lower() in NAME_COLUMNS), None)
    else:
        if len(header) != 1 or column is not None:
            raise DataError(f"label file {path}: a file without a header row must hold one 0/1 per line")
        at, name_at = 0, None
    values = [_label(path, r[at] if at < len(r) else "", line) for line, r in enumerate(body, 2 if has_header else 1)]
    if name_at is not None and not all(n.isdigit() for n in names):
        by_name = {r[name_at].strip(): v for r, v in zip(body, values)}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(f"label file {path} has no row for {missing[0]!r} ({len(missing)} inputs without a label)")
        return np.array([by_name[n] for n in names], dtype=int)
    if len(values) != len(names):
        raise DataError(
            f"label file {path} has {len(values)} labels but there are {len(names)} inputs; give one per input, in order"
        )
    return np.array(values, dtype=int)


def _label_column(path: Path, header: list[str], column: str | None) -> int:
    if column is not None:
        if column not in header:
            raise DataError(f"label file {path} has no column {column!r}; its columns are {header}")
        return header.index(column)
    if len(header) == 1:
        return 0
    for name in LABEL_NAMES:
        for i, h in enumerate(header):
            if h.lower() == name:
                return i
    raise DataError(f"label file {path}: which column holds the labels? name it with --label-column (columns: {header})")


def _label(path: Path, text: str, line: int) -> int:
    t = text.strip().lower()
    if t in ("1", "1.0", "true"):
        return 1
    if t in ("0", "0.0", "false"):
        return 0
    raise DataError(f"label file {path}, line {line}: {text!r} is not 0 or 1 (1 = anomalous)")
