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
from vaekit.errors import ConfigError, DataError, RunDirError
from vaekit.evaluation.draws import gaussian_parts
from vaekit.evaluation.likelihood import bits_per_dim, elbo_metrics, iwae_nll
from vaekit.evaluation.posterior import mutual_information, posterior_diagnostics
from vaekit.evaluation.probe import linear_probe
from vaekit.evaluation.reconstruction import reconstruction_metrics
from vaekit.evaluation.report import EVAL_FILE, DataInfo, EvalReport, write_eval_json
from vaekit.evaluation.sample_quality import FeatureExtractor, sample_quality
from vaekit.runs import condition_for, load_run_data

METRICS = ("nll", "elbo", "recon", "active-units", "mi", "fd", "probe")
DEFAULT_METRICS = ("nll", "elbo", "recon", "active-units", "mi")
DEFAULT_K = 1000


def parse_metrics(metrics: Sequence[str] | str) -> tuple[str, ...]:
    """'nll,elbo' or ['nll', 'elbo'] or 'all' -> checked names in METRICS order."""
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    if "all" in names:
        return METRICS
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(map(repr, unknown))}; choose from {', '.join(METRICS)} (or all)")
    if not names:
        raise ConfigError(f"no metrics given; choose from {', '.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


def _generator(seed: int, group: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1009 + METRICS.index(group))


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
    metrics: Sequence[str] | str = DEFAULT_METRICS,
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
    """Score ``model`` on ``data.<split>`` with the named metrics (see METRICS).

    k, iw_batch_size, k_chunk: importance samples for ``nll`` and its chunking (see iwae_nll).
    binarize_seed: score a fixed stochastic binarisation of the split (for dynamically binarised
    runs; ``evaluate_run`` sets it). fd: ``feature_extractor`` (any (N, C, H, W) -> (N, F)) with its
    ``extractor_id``, else vaekit's CNN trained on the labels, cached in ``cache_dir``;
    ``sample_mode`` "auto" compares draws x ~ p(x|z) on binary data and means of p(x|z) otherwise.
    """
    names = parse_metrics(metrics)
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
    conditional = bool(getattr(model, "conditional", False))
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

    summary: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    shape = tuple(data.shape)
    model.eval()
    with torch.inference_mode():
        for name in names:
            started = time.perf_counter()
            g = _generator(seed, name)
            if name == "nll":
                r = iwae_nll(model, x, k, batch_size=iw_batch_size, k_chunk=k_chunk, generator=g, condition=cond)
                summary.update(nll=r.mean, nll_stderr=r.stderr, nll_bpd=bits_per_dim(r.mean, shape))
                details[name] = {"mean": r.mean, "stderr": r.stderr, "bits_per_dim": summary["nll_bpd"], "k": k,
                                 "batch_size": iw_batch_size, "k_chunk": k_chunk, "seed": seed}  # fmt: skip
            elif name == "elbo":
                e = elbo_metrics(model, x, batch_size=batch_size, generator=g, condition=cond)
                summary.update(elbo=e.elbo, recon_nll=e.recon_nll, kl=e.kl)
                summary.update(neg_elbo_bpd=bits_per_dim(-e.elbo, shape), recon_nll_bpd=bits_per_dim(e.recon_nll, shape),
                               kl_bpd=bits_per_dim(e.kl, shape))  # fmt: skip
                details[name] = {"elbo": e.elbo, "elbo_stderr": e.elbo_stderr, "recon_nll": e.recon_nll, "kl": e.kl,
                                 "samples_per_example": 1, "seed": seed}  # fmt: skip
            elif name == "recon":
                rc = reconstruction_metrics(model, x, batch_size=batch_size, images=data.kind == "image", condition=cond)
                summary["mse"] = rc.mse
                if rc.psnr is not None:
                    summary.update(psnr=rc.psnr, ssim=rc.ssim)
                details[name] = {"mse": rc.mse, "psnr": rc.psnr, "ssim": rc.ssim, "ssim_window": rc.ssim_window,
                                 "data_range": 1.0, "at": "posterior mean"}  # fmt: skip
            elif name == "active-units":
                p = posterior_diagnostics(model, x, batch_size=batch_size, condition=cond)
                summary["active_units"] = float(p.active_units)
                details[name] = {"active_units": p.active_units, "latent_dim": p.latent_dim, "threshold": p.threshold,
                                 "activity": p.activity, "kl_per_dim": p.kl_per_dim}  # fmt: skip
            elif name == "mi":
                device = next(model.parameters()).device
                if gaussian_parts(model.encode(x[:1].to(device), None if cond is None else cond[:1].to(device))) is None:
                    details[name] = {"skipped": "the estimate needs a diagonal-Gaussian posterior"}
                else:
                    m = mutual_information(model, x, batch_size=batch_size, generator=g, condition=cond)
                    summary["mi"] = m.mi
                    details[name] = {
                        "mi": m.mi,
                        "max": m.max,
                        "n": m.n,
                        "estimator": "full-set aggregate posterior",
                        "seed": seed,
                    }
            elif name == "fd":
                mode = ("draw" if _is_binary(x) else "mean") if sample_mode == "auto" else sample_mode
                assert extractor is not None and extractor_id is not None
                sq = sample_quality(model, x, extractor, extractor_id, n_generated=n_generated, sample_mode=mode,
                                    generator=g, batch_size=batch_size)  # fmt: skip
                summary.update(fd=sq.fd, precision=sq.precision, recall=sq.recall)
                details[name] = {**dataclasses.asdict(sq), "seed": seed, "extractor": extractor_info}
            elif name == "probe":
                train, _ = _binarize(data.train.x, None if binarize_seed is None else binarize_seed + 1)
                pr = linear_probe(model, Split(train, data.train.y), Split(x, part.y), batch_size=batch_size,
                                  max_train=probe_max_train, seed=seed, conditional=conditional)  # fmt: skip
                summary["probe_accuracy"] = pr.accuracy
                details[name] = {**dataclasses.asdict(pr), "max_train": probe_max_train, "seed": seed}
            timings[name] = time.perf_counter() - started
            if progress:
                print(f"  {name}: {timings[name]:.1f} s", file=sys.stderr)
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
    used for its validation split). ``metrics`` None: DEFAULT_METRICS, or for a ratings run
    ranking.RANKING_METRICS on its held-out users (see :func:`evaluate_ratings_run`)."""
    run = RunDir(run_dir)
    if not (run.path / MODEL).is_file():
        raise RunDirError(
            f"{run.path} has no {MODEL}: training has not finished an epoch yet; train it (vaekit train --resume {run.path})"
        )
    if run.info.data_kind == "ratings":
        return evaluate_ratings_run(run, split, metrics, data=data, data_dir=data_dir, which=which, out=out,
                                    batch_size=options.get("batch_size", 1000))  # fmt: skip
    names = parse_metrics(metrics if metrics is not None else DEFAULT_METRICS)  # bad names fail before any loading
    model = run.load_model(which)
    splits = load_run_data(run, data, data_dir)
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
