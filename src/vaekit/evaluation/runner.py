"""``evaluate``: every metric of a trained model on one split, as one :class:`EvalReport`;
``evaluate_run``: the same for a run directory, written to ``eval.json``.

Protocol. Each metric group draws from its own generator seeded by (seed, group), so adding or
dropping a metric never changes another's number. Runs trained with ``data.binarize = "dynamic"``
are scored on one fixed stochastic binarisation of the split (x ~ Bernoulli(pixel), seeded, the seed
recorded in the report): the standard protocol for dynamically binarised MNIST (Burda et al. 2015
and after), so that every model and every k sees the same binary test set. Everything runs under
``torch.inference_mode()`` with large batches; the one exception is training the default fd
extractor the first time a dataset is seen.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from vaekit.checkpoint import MODEL, RunDir
from vaekit.core.vae import VAE
from vaekit.data import DataSplits, Split
from vaekit.data.base import RatingsSplits
from vaekit.errors import ConfigError, DataError, RunDirError
from vaekit.evaluation.metrics import MetricContext
from vaekit.evaluation.report import EVAL_FILE, DataInfo, EvalReport, write_eval_json
from vaekit.evaluation.sample_quality import FeatureExtractor
from vaekit.registry import METRICS
from vaekit.runs import condition_for, load_run_data

DEFAULT_K = 1000


def metric_names() -> tuple[str, ...]:
    """Every registered metric, in report order."""
    return tuple(e.name for e in sorted(METRICS.entries(), key=lambda e: e.factory.order))


def default_metrics() -> tuple[str, ...]:
    return tuple(n for n in metric_names() if METRICS.get(n).factory.default)


def parse_metrics(metrics: Sequence[str] | str) -> tuple[str, ...]:
    """'nll,elbo' or ['nll', 'elbo'] or 'all' -> checked names in report order."""
    known = metric_names()
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    if "all" in names:
        return known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(map(repr, unknown))}; choose from {', '.join(known)} (or all)")
    if not names:
        raise ConfigError(f"no metrics given; choose from {', '.join(known)}")
    return tuple(m for m in known if m in names)


def _generator(seed: int, group: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1009 + METRICS.get(group).factory.order)


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def _binarize(x: torch.Tensor, seed: int | None) -> tuple[torch.Tensor, dict[str, Any]]:
    if seed is None:
        return x, {}
    if _is_binary(x):
        return x, {"kind": "already-binary"}
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed)), {"kind": "fixed-stochastic", "seed": seed}


def _split(data: DataSplits, name: str) -> Split:
    s = data.split(name)
    if len(s) == 0:
        raise DataError(f"the {name} split of {data.name} is empty; evaluate another --split (train, validation or test)")
    return s


def evaluate(
    model: VAE,
    data: DataSplits,
    split: str = "test",
    metrics: Sequence[str] | str | None = None,
    *,
    k: int = DEFAULT_K,
    seed: int = 0,
    batch_size: int = 1000,
    iw_batch_size: int | None = None,
    k_chunk: int | None = None,
    binarize_seed: int | None = None,
    feature_extractor: FeatureExtractor | None = None,
    extractor_id: str | None = None,
    cache_dir: str | Path | None = None,
    n_generated: int | None = None,
    sample_mode: Literal["auto", "mean", "draw"] = "auto",
    probe_max_train: int | None = None,
    progress: bool = False,
) -> EvalReport:
    """Score ``model`` on ``data.<split>`` with the named metrics (``metric_names()``; None: the defaults).

    k, iw_batch_size, k_chunk: importance samples for ``nll`` and its chunking (see iwae_nll).
    binarize_seed: score a fixed stochastic binarisation of the split (for dynamically binarised
    runs; ``evaluate_run`` sets it). fd: ``feature_extractor`` (any (N, C, H, W) -> (N, F)) with its
    ``extractor_id``, else vaekit's CNN trained on the labels, cached in ``cache_dir``;
    ``sample_mode`` "auto" compares draws x ~ p(x|z) on binary data and means of p(x|z) otherwise.
    """
    names = parse_metrics(default_metrics() if metrics is None else metrics)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k (importance samples, --iw-samples) must be a positive integer, got {k!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if tuple(data.shape) != tuple(model.data_shape):
        raise DataError(
            f"data {data.name!r} has examples of shape {tuple(data.shape)}, but the model takes {tuple(model.data_shape)}; "
            "pass data of the model's size"
        )
    part = _split(data, split)
    x, binarization = _binarize(part.x, binarize_seed)
    n = int(x.shape[0])
    cond = condition_for(model, part.y, f"the {split} split of {data.name!r}")  # a conditional model scores p(x | label)
    extractor: FeatureExtractor | None = None
    extractor_info: dict[str, Any] = {}
    if "fd" in names:
        extractor, extractor_id, extractor_info = _resolve_extractor(data, feature_extractor, extractor_id, cache_dir, progress)
    if "probe" in names and (part.y is None or data.train.y is None):
        raise DataError(
            f"the probe metric needs labels, and {data.name} has no labels: evaluate it on a labelled source "
            "(e.g. --data mnist), or leave 'probe' out of --metrics"
        )

    ctx = MetricContext(model, data, split, x, part, cond, batch_size, k, iw_batch_size, k_chunk, seed, binarize_seed, extractor,
                        extractor_id, extractor_info, n_generated, sample_mode, probe_max_train, progress)  # fmt: skip
    summary: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    shape = tuple(data.shape)
    model.eval()
    bar = _metrics_bar(names, progress)
    with torch.inference_mode():
        for name in names:
            started = time.perf_counter()
            if bar is not None:
                bar.set_description(f"evaluate: {name}")
            metric_summary, details[name] = METRICS.get(name).factory.run(ctx, _generator(seed, name))
            summary.update(metric_summary)
            timings[name] = time.perf_counter() - started
            if bar is not None:
                bar.update(1)
                bar.write(f"  {name}: {timings[name]:.1f} s", file=sys.stderr)
    if bar is not None:
        bar.close()
    return EvalReport(
        split=split,
        n=n,
        seed=seed,
        data=DataInfo(data.name, data.checksum, shape, binarization),
        metrics=names,
        summary=summary,
        details=details,
        timings=timings,
    )


def _metrics_bar(names: tuple[str, ...], progress: bool):
    """A progress bar over the metrics (on stderr), or None."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=len(names), unit="metric", file=sys.stderr, dynamic_ncols=True)


def _resolve_extractor(
    data: DataSplits,
    fn: Callable[[torch.Tensor], torch.Tensor] | None,
    extractor_id: str | None,
    cache_dir: str | Path | None,
    progress: bool,
) -> tuple[FeatureExtractor, str, dict[str, Any]]:
    if fn is not None:
        return fn, extractor_id or f"user:{getattr(fn, '__name__', type(fn).__name__)}", {"kind": "user-supplied"}
    from vaekit.evaluation.extractor import load_or_train_extractor

    ex = load_or_train_extractor(data, cache_dir, progress=progress)
    keep = ("arch", "data_source", "data_checksum", "num_classes", "features", "steps", "seed", "test_accuracy")
    return ex, ex.id, {k: ex.meta.get(k) for k in keep}


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    metrics: Sequence[str] | str | None = None,
    *,
    data: str | None = None,
    data_dir: str | None = None,
    which: Literal["best", "last"] = "best",
    binarize_seed: int | None = None,
    out: str | Path | None = None,
    **options: Any,
) -> EvalReport:
    """Evaluate a run directory on its own data source (or ``data``/``data_dir``) and write the
    report to ``out`` (default ``<run_dir>/eval.json``; merged with an earlier evaluation of the same
    examples). ``options`` go to :func:`evaluate`. Dynamically binarised runs are scored on a fixed
    binarisation seeded by ``binarize_seed`` (default: the run's data.seed + 7, the seed training
    used for its validation split). ``metrics`` None: the default metrics, or for a ratings run
    ranking.RANKING_METRICS on its held-out users (see :func:`evaluate_ratings_run`)."""
    run = RunDir(run_dir)
    if not (run.path / MODEL).is_file():
        raise RunDirError(
            f"{run.path} has no {MODEL}: training has not finished an epoch yet; train it (vaekit train --resume {run.path})"
        )
    if run.info.data_kind == "ratings":
        return evaluate_ratings_run(run, split, metrics, data=data, data_dir=data_dir, which=which, out=out,
                                    batch_size=options.get("batch_size", 1000))  # fmt: skip
    names = parse_metrics(default_metrics() if metrics is None else metrics)  # bad names fail before any loading
    model = run.load_model(which)
    splits = load_run_data(run, data, data_dir)
    if not isinstance(splits, DataSplits):  # load_run_data refuses ratings unless asked for them
        raise DataError(f"{run.path} was trained on ratings; they are scored by ranking, not by these metrics")
    if run.config.data.binarize == "dynamic" and binarize_seed is None:
        binarize_seed = run.config.data.seed + 7
    if run.config.data.binarize != "dynamic":
        binarize_seed = None
    report = evaluate(model, splits, split, names, binarize_seed=binarize_seed, **options)
    state = run.train_state()
    info = {
        "run_dir": str(run.path),
        "which": which,
        "epochs": state.get("epoch"),
        "best_epoch": state.get("best_epoch"),
        "train_seconds": state.get("elapsed"),
        "data_binarize": run.config.data.binarize,
    }
    report = dataclasses.replace(report, run=info)
    write_eval_json(Path(out) if out is not None else run.path / EVAL_FILE, report)
    return report


def evaluate_ratings_run(
    run: RunDir,
    split: str = "test",
    metrics: Sequence[str] | str | None = None,
    *,
    data: str | None = None,
    data_dir: str | None = None,
    which: Literal["best", "last"] = "best",
    out: str | Path | None = None,
    batch_size: int = 1000,
) -> EvalReport:
    """Recall@k and NDCG@k of a ratings run on its held-out users (strong generalisation): each
    user's fold-in clicks are encoded, the other items ranked, the held-out clicks scored."""
    from vaekit.data.batches import dense_rows
    from vaekit.evaluation.ranking import RANKING_METRICS, parse_ranking_metrics, ranking_sums, summarize

    names = parse_ranking_metrics(metrics if metrics is not None else RANKING_METRICS)
    if data is not None:
        raise ConfigError(
            "a ratings run is scored on its own held-out users; to rank items for other users use "
            f"'vaekit recommend {run.path} --data ratings:FILE'"
        )
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    model = run.load_model(which)
    splits = load_run_data(run, None, data_dir, ratings=True)
    if not isinstance(splits, RatingsSplits):
        raise DataError(f"{run.path} was not trained on a ratings:PATH source; evaluate it with the other metrics")
    if splits.checksum != run.info.data_checksum:
        raise DataError(f"{splits.name} is not the file {run.path} was trained on (its clicks or settings changed); restore it")
    part = splits.split(split)
    if part.heldout is None:
        raise ConfigError(f"the {split} split has no held-out clicks to score: evaluate --split test or validation")
    started = time.perf_counter()
    n = len(part)
    chunks = ((dense_rows(part.x, range(i, min(i + batch_size, n))), dense_rows(part.heldout, range(i, min(i + batch_size, n))))
              for i in range(0, n, batch_size))  # fmt: skip
    r = summarize(ranking_sums(model, chunks, names), names)
    summary = {**r.mean, **{f"{k}_stderr": v for k, v in r.stderr.items()}}
    held = int(part.heldout.nnz)
    details = {"ranking": {**{k: {"mean": r.mean[k], "stderr": r.stderr[k]} for k in names}, "users": r.n,
                           "heldout_clicks": held, "foldin_clicks": int(part.x.nnz), "items": int(splits.shape[0]),
                           "protocol": "strong generalisation: fold-in clicks encoded, posterior mean decoded, "
                                       "fold-in items excluded, held-out clicks scored"}}  # fmt: skip
    state = run.train_state()
    info = {"run_dir": str(run.path), "which": which, "epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "train_seconds": state.get("elapsed"), "best_by": run.config.train.best_by}  # fmt: skip
    report = EvalReport(
        split=split,
        n=r.n,
        seed=0,
        data=DataInfo(splits.name, splits.checksum, tuple(splits.shape), {}),
        metrics=names,
        summary=summary,
        details=details,
        timings={"ranking": time.perf_counter() - started},
        run=info,
    )
    write_eval_json(Path(out) if out is not None else run.path / EVAL_FILE, report)
    return report
