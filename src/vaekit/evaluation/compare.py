"""Compare runs: read each run's ``eval.json`` and rank the runs on one metric.

Numbers are only comparable when they were computed on the same examples with the same settings;
``compare`` lists every setting that differs between the runs (split, data checksum, binarisation,
k, fd extractor) under the table instead of hiding it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vaekit.errors import ConfigError
from vaekit.evaluation.report import DIRECTIONS, EVAL_FILE, format_value, read_eval_json

COLUMNS = ("nll", "nll_bpd", "elbo", "recon_nll", "kl", "active_units", "mi", "mse", "psnr", "ssim", "fd", "precision",
           "recall", "probe_accuracy")  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    sort: str
    order: Literal["lower", "higher"]
    runs: tuple[str, ...]  # ranked, best first
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]  # each run's summary, ranked like ``runs``
    warnings: tuple[str, ...]


def _eval_path(run: str | Path, file_name: str) -> Path:
    p = Path(run)
    return p if p.is_file() else p / file_name


def compare_runs(
    runs: Sequence[str | Path],
    sort: str | None = None,
    order: Literal["lower", "higher"] | None = None,
    file_name: str = EVAL_FILE,
) -> Comparison:
    """Rank runs (run directories, or eval.json paths) on ``sort`` (default nll, else elbo)."""
    if not runs:
        raise ConfigError("compare needs at least one run directory")
    reports = [(str(r), read_eval_json(_eval_path(r, file_name))) for r in runs]
    present = {k for _, rep in reports for k in rep["summary"]}
    if sort is None:
        sort = "nll" if "nll" in present else "elbo" if "elbo" in present else next(iter(sorted(present)), "nll")
    if sort not in present:
        raise ConfigError(f"no run has metric {sort!r}; metrics present: {', '.join(sorted(present)) or 'none'}")
    order = order or DIRECTIONS.get(sort)
    if order is None:
        raise ConfigError(f"metric {sort!r} has no natural direction; pass --order lower or --order higher")

    def key(item: tuple[str, dict]) -> tuple[int, float]:
        v = item[1]["summary"].get(sort)
        if v is None or not math.isfinite(v):
            return (1, 0.0)  # runs without the metric go last
        return (0, v if order == "lower" else -v)

    ranked = sorted(reports, key=key)
    columns = tuple(c for c in COLUMNS if c in present) + tuple(sorted(present - set(COLUMNS) - {"nll_stderr"}))
    return Comparison(
        sort=sort,
        order=order,
        runs=tuple(name for name, _ in ranked),
        columns=columns,
        rows=tuple(rep["summary"] for _, rep in ranked),
        warnings=tuple(_differences([rep for _, rep in reports])),
    )


def _differences(reports: list[dict[str, Any]]) -> list[str]:
    checks = {
        "split": lambda r: r.get("split"),
        "data checksum": lambda r: (r.get("data") or {}).get("checksum", "")[:12],
        "binarisation": lambda r: str((r.get("data") or {}).get("binarization")),
        "nll k": lambda r: (r.get("details", {}).get("nll") or {}).get("k"),
        "fd extractor": lambda r: (r.get("details", {}).get("fd") or {}).get("extractor_id"),
    }
    out = []
    for what, get in checks.items():
        values = {str(get(r)) for r in reports if get(r) is not None}
        if len(values) > 1:
            out.append(f"runs differ in {what} ({', '.join(sorted(values))}): those numbers are not comparable")
    return out


def format_comparison(c: Comparison, fmt: Literal["table", "markdown", "csv"] = "table") -> str:
    header = ["rank", "run", *c.columns]
    body = [
        [str(i + 1), run, *(format_value(col, row.get(col)) for col in c.columns)]
        for i, (run, row) in enumerate(zip(c.runs, c.rows))
    ]
    note = f"ranked on {c.sort} ({c.order} is better)"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for i, (run, row) in enumerate(zip(c.runs, c.rows)):
            w.writerow([i + 1, run, *("" if row.get(col) is None else row[col] for col in c.columns)])
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---:", "---", *["---:"] * len(c.columns)]) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join([*lines, "", note, *[f"- {w}" for w in c.warnings]]) + "\n"
    if fmt != "table":
        raise ConfigError(f"format {fmt!r}: use table, markdown or csv")
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines += ["  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in body]
    return "\n".join([*lines, note, *[f"warning: {w}" for w in c.warnings]]) + "\n"
