"""ROC and precision-recall curves of an anomaly score, as PNG bytes (written atomically by the caller)."""

from __future__ import annotations

import io

import numpy as np

from vaekit.viz.grids import require_matplotlib


def roc_pr_png(
    fpr: np.ndarray,
    tpr: np.ndarray,
    auroc: float,
    recall: np.ndarray,
    precision: np.ndarray,
    auprc: float,
    prevalence: float,
    title: str = "",
) -> bytes:
    """Two panels: ROC (with the chance diagonal) and PR (with the chance level = anomaly prevalence)."""
    plt = require_matplotlib()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    a.plot(fpr, tpr, lw=1.5, label=f"AUROC {auroc:.3f}")
    a.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    a.set_xlabel("false positive rate")
    a.set_ylabel("true positive rate")
    a.set_title("ROC")
    a.set_xlim(0, 1)
    a.set_ylim(0, 1.01)
    a.legend(loc="lower right")
    b.step(recall, precision, where="post", lw=1.5, label=f"AUPRC {auprc:.3f}")
    b.axhline(prevalence, ls="--", c="grey", lw=1, label=f"chance ({prevalence:.3f})")
    b.set_xlabel("recall")
    b.set_ylabel("precision")
    b.set_title("precision-recall")
    b.set_xlim(0, 1)
    b.set_ylim(0, 1.01)
    b.legend(loc="lower left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
