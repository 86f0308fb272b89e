"""What a sweep found: a table of its trials, the objective against each parameter, and best.toml.

report.md       the table (parameters, criterion, validation ELBO, KL, active units, epochs, state)
trials.csv      the same rows, for a spreadsheet or pandas
objective.png   one panel per parameter: the criterion of every finished trial against its value
                (pruned trials at their last validation ELBO when the criterion is the ELBO)
best.toml       the base config with the best finished trial's values: vaekit train --config best.toml
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.errors import VaekitError
from vaekit.sweep.space import Param, trial_config
from vaekit.sweep.study import SweepSpec, load_study, optuna_module

REPORT, CSV, PLOT, BEST = "report.md", "trials.csv", "objective.png", "best.toml"


@dataclass(frozen=True)
class Row:
    number: int
    state: str  # complete, pruned, fail, running
    params: dict[str, Any]
    value: float | None  # the criterion (finished trials only)
    attrs: dict[str, Any]  # val_elbo, val_kl, active_units, latent_dim, epochs, train_seconds, error, ...


def trial_rows(path: Path, spec: SweepSpec) -> list[Row]:
    study = load_study(path, spec)
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        value = t.value if state == "complete" else None
        attrs = dict(t.user_attrs)
        if state == "running" and "run_dir" in attrs:  # paused or in progress: how far it got
            attrs["epochs"] = _epochs_done(path / attrs["run_dir"])
        rows.append(Row(t.number, state, dict(t.params), value, attrs))
    return rows


def _epochs_done(run_dir: Path) -> int:
    from vaekit.checkpoint import RunDir

    try:
        return int(RunDir(run_dir).train_state().get("epoch", 0))
    except VaekitError:  # not started yet
        return 0


def best_row(rows: list[Row], spec: SweepSpec) -> Row | None:
    done = [r for r in rows if r.value is not None and not math.isnan(r.value)]
    if not done:
        return None
    return (max if spec.direction == "maximize" else min)(done, key=lambda r: float(r.value or 0.0))  # value set: filtered above


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:.{digits}g}"
    return str(v)


def table(rows: list[Row], spec: SweepSpec, best: Row | None) -> str:
    """A markdown table, best trial marked with *."""
    keys = [p.key for p in spec.params]
    head = ["trial", *keys, spec.select, "val ELBO", "val KL", "active units", "epochs", "state"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        a = r.attrs
        au = f"{a['active_units']}/{a['latent_dim']}" if "active_units" in a else "—"
        state = r.state + (f": {a['error']}" if r.state == "fail" and "error" in a else "")
        cells = [f"{r.number}{' *' if best is not None and r.number == best.number else ''}", *[_fmt(r.params.get(k)) for k in keys],
                 _fmt(r.value), _fmt(a.get("val_elbo"), 6), _fmt(a.get("val_kl")), au, _fmt(a.get("epochs")), state]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows: list[Row], spec: SweepSpec, path: Path) -> None:
    keys = [p.key for p in spec.params]
    attrs = ["val_elbo", "val_kl", "active_units", "latent_dim", "epochs", "train_seconds", "run_dir"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["trial", "state", *keys, spec.select, *attrs])
    for r in rows:
        w.writerow([r.number, r.state, *[r.params.get(k) for k in keys], r.value, *[r.attrs.get(a) for a in attrs]])
    path.write_text(buf.getvalue())


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string takes JSON's escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise VaekitError(f"cannot write {v!r} to TOML")


def to_toml(raw: dict[str, Any], header: str = "") -> str:
    """A config dict (top-level keys and one level of sections) as TOML; None values are left out
    (TOML has no null), which restores their defaults."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for k, v in raw.items():
        if not isinstance(v, dict) and v is not None:
            lines.append(f"{k} = {toml_value(v)}")
    for section, body in raw.items():
        if isinstance(body, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {toml_value(v)}" for k, v in body.items() if v is not None]
    return "\n".join(lines) + "\n"


def write_best(path: Path, spec: SweepSpec, best: Row) -> Path:
    """best.toml: the base config with the best trial's values; loading it gives that trial's config."""
    from vaekit.config import RunConfig, load_config

    raw, cfg = trial_config(spec.base, spec.params, best.params)
    values = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    header = (
        f"The best of the finished trials of the sweep in {path}, by {spec.select} on the validation split:\n"
        f"trial {best.number} ({values}): {spec.select} = {_fmt(best.value, 6)}.\n"
        f"Train it: vaekit train --config {path / BEST} --out runs/best"
    )
    out = path / BEST
    out.write_text(to_toml(raw, header))
    if load_config(out) != RunConfig.from_dict(cfg.to_dict()):
        missing = [f"{s}.{k}" for s, body in raw.items() if isinstance(body, dict) for k, v in body.items() if v is None]
        out.write_text(
            out.read_text() + f"# settings set to none in the sweep's config (TOML cannot say so): {', '.join(missing)}\n"
        )
    return out


def plot(rows: list[Row], spec: SweepSpec, path: Path) -> Path | None:
    """objective.png: the criterion against each parameter, one panel each."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    params: list[Param] = spec.params
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    # pruned trials have a value only on the ELBO's scale (their last validation ELBO)
    pruned_value = spec.select == "val_elbo"
    for ax, p in zip(axes.flat, params):
        for state, style in (
            ("complete", {"color": "C0", "label": "finished"}),
            ("pruned", {"color": "0.6", "marker": "x", "label": "pruned (last val ELBO)"}),
        ):
            pts = [(r.params[p.key], r.value if state == "complete" else r.attrs.get("val_elbo")) for r in rows
                   if r.state == state and p.key in r.params]  # fmt: skip
            if state == "pruned" and not pruned_value:
                continue
            pts = [(x, y) for x, y in pts if y is not None and not (isinstance(y, float) and math.isnan(y))]
            if not pts:
                continue
            xs = [str(x) for x, _ in pts] if p.kind == "choice" else [x for x, _ in pts]
            ax.scatter(xs, [y for _, y in pts], s=28, alpha=0.85, **{"marker": "o", **style})
        best = best_row(rows, spec)
        if best is not None and p.key in best.params:
            bx = str(best.params[p.key]) if p.kind == "choice" else best.params[p.key]
            ax.scatter([bx], [best.value], s=120, facecolors="none", edgecolors="C3", linewidths=1.6, label="best")
        if p.log and p.kind == "int":
            from matplotlib.ticker import NullFormatter, ScalarFormatter

            ax.set_xscale("log", base=2)  # 2, 4, 8, ... read better than 2x10^0 for sizes
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        elif p.log:
            ax.set_xscale("log")
        ax.set_xlabel(p.key)
        ax.set_ylabel(f"{spec.select} (validation)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(params) :]:
        ax.axis("off")
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=8)
    arrow = "higher" if spec.direction == "maximize" else "lower"
    fig.suptitle(f"{len(rows)} trials; {spec.select}, {arrow} is better", fontsize=10)
    fig.tight_layout()
    out = path / PLOT
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_report(out: str | Path) -> str:
    """Write report.md, trials.csv, objective.png and best.toml into the sweep directory; returns the table text."""
    optuna_module()
    path = Path(out)
    spec = SweepSpec.load(path)
    rows = trial_rows(path, spec)
    best = best_row(rows, spec)
    counts = {s: sum(r.state == s for r in rows) for s in ("complete", "pruned", "fail", "running")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    text = [f"# Sweep {path}", "", f"{len(rows)} trials ({summary or 'none yet'}); criterion {spec.select} on the validation split "
            f"({spec.direction}); sampler {spec.sampler}, pruner {spec.pruner}.", "", table(rows, spec, best), ""]  # fmt: skip
    if best is not None:
        write_best(path, spec, best)
        text.append(f"Best: trial {best.number} (*), written to {path / BEST}.")
    else:
        text.append("No trial has finished yet, so there is no best.toml.")
    figure = plot(rows, spec, path) if any(r.state in ("complete", "pruned") for r in rows) else None
    if figure is not None:
        text += ["", f"![objective against each parameter]({PLOT})"]
    (path / REPORT).write_text("\n".join(text) + "\n")
    write_csv(rows, spec, path / "trials.csv")
    return "\n".join(text)
