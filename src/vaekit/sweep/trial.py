"""One trial of a sweep: train its config into its run directory, report the validation ELBO each
epoch to the study (the pruner may stop it), then score it by the sweep's criterion.

Criteria (``--select``), all on the validation split, never the test split:

- ``val_elbo``  the best validation ELBO over the epochs (what the best weights were chosen by)
- ``val_nll``   -log p(x) by importance sampling with ``k`` samples (small k: a tighter bound than
                the ELBO, k times its cost)
- ``probe``     accuracy of a logistic regression on the posterior means (fitted on up to 5,000
                training examples)
- ``auroc``     anomaly detection: the model trains on ``data.classes`` (normal); the validation
                examples of every class are scored (``anomaly_score``) and the AUROC of "not a
                normal class" is the value

Pruning always reads the validation ELBO (negated when the criterion is minimised), the one
number every epoch has.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vaekit.checkpoint import TRAIN_STATE, RunDir
from vaekit.config import DataConfig, RunConfig
from vaekit.data import DataSplits
from vaekit.errors import ConfigError, TrainingError, VaekitError
from vaekit.sweep.space import trial_config
from vaekit.sweep.study import TRIALS, SweepSpec, optuna_module

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

PRUNED = "pruned"  # how the stop reason of a pruned trial's run begins
PROBE_MAX_TRAIN = 5000


class SweepStopped(Exception):
    """Raised between epochs when the sweep must pause (time up, coordinator gone): the trial stays
    RUNNING in the study and a resume continues it from its run directory."""


class DataCache:
    """Data opened once per worker process and reused by every trial with the same data settings."""

    def __init__(self) -> None:
        self._cache: dict[DataConfig, DataSplits] = {}

    def get(self, cfg: DataConfig) -> DataSplits:
        from vaekit.data.streaming import StreamedSplits, open_data

        if cfg not in self._cache:
            data = open_data(cfg)
            if isinstance(data, StreamedSplits):
                raise ConfigError("a sweep keeps its data in memory: set data.streaming=false (or sweep on a subset, data.limit)")
            if not isinstance(data, DataSplits):
                raise ConfigError("vaekit sweep trains on images and tables; a ratings:PATH source is not supported yet")
            self._cache = {cfg: data}  # one data set at a time: trials rarely change it
        return self._cache[cfg]


def _interrupted(e: BaseException) -> bool:
    """fit turns Ctrl-C into a TrainingError raised while handling the KeyboardInterrupt."""
    return isinstance(e, TrainingError) and isinstance(e.__context__, KeyboardInterrupt)


def run_trial(
    study: Any,
    trial: Any,
    spec: SweepSpec,
    sweep_dir: Path,
    cache: DataCache,
    threads: int | None,
    should_stop: Callable[[], str | None],
) -> str | None:
    """Train, score and tell one trial; returns its final state ("complete", "pruned", "fail"), or
    None when the sweep paused it (it stays RUNNING)."""
    optuna = optuna_module()
    params = spec.params
    values = dict(trial.params)
    run_dir = sweep_dir / trial.user_attrs.get("run_dir", f"{TRIALS}/{trial.number:04d}")
    shown = " ".join(f"{p.key}={_short(values[p.key])}" for p in params)
    sign = 1.0 if spec.direction == "maximize" else -1.0
    started = time.perf_counter()
    try:
        _, cfg = trial_config(spec.base, params, values)
        t = dataclasses.replace(cfg.train, progress=False, threads=threads if threads is not None else cfg.train.threads)
        cfg = cfg.replace(train=t)
        data = cache.get(cfg.data)

        def on_epoch(seen: dict, model: VAE) -> str | None:
            reason = should_stop()
            if reason:
                raise SweepStopped(reason)
            with warnings.catch_warnings():  # a resumed trial may report an epoch it reported before being killed
                warnings.simplefilter("ignore")
                trial.report(sign * seen["val_elbo"], seen["epoch"])
            if spec.pruner != "none" and trial.should_prune():
                return f"{PRUNED} by the sweep's {spec.pruner} pruner after epoch {seen['epoch']}"
            return None

        from vaekit.training.loop import fit

        resume = (run_dir / TRAIN_STATE).is_file()
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir)  # killed before its first epoch ended: nothing to keep
        run = fit(cfg, run_dir, resume=resume, data=data, figures=False, on_epoch=on_epoch)
        pruned = run.progress.stop_reason.startswith(PRUNED)
        scores = measure(run.path, cfg, data, spec, criterion=not pruned)
    except SweepStopped:
        return None
    except TrainingError as e:
        if _interrupted(e):
            raise KeyboardInterrupt from None  # the trial stays RUNNING; --resume continues it
        return _fail(study, trial, shown, e)
    except VaekitError as e:
        return _fail(study, trial, shown, e)
    for name, value in scores.items():
        trial.set_user_attr(name, value)
    seconds = time.perf_counter() - started
    if pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        print(
            f"trial {trial.number}: {shown} -> pruned after epoch {scores['epochs']} (val ELBO {scores['val_elbo']:.3f}, {seconds:.0f} s)",
            flush=True,
        )
        return "pruned"
    study.tell(trial, scores[spec.select])
    print(
        f"trial {trial.number}: {shown} -> {spec.select} {scores[spec.select]:.4g} ({scores['epochs']} epochs, {seconds:.0f} s)",
        flush=True,
    )
    return "complete"


def _fail(study: Any, trial: Any, shown: str, e: Exception) -> str:
    trial.set_user_attr("error", str(e))
    study.tell(trial, state=optuna_module().trial.TrialState.FAIL)
    print(f"trial {trial.number}: {shown} -> failed: {e}", flush=True)
    return "fail"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def measure(run_dir: Path, cfg: RunConfig, data: DataSplits, spec: SweepSpec, criterion: bool = True) -> dict[str, Any]:
    """What the report shows of a trial (its best weights, validation split), and its criterion's
    value when ``criterion``. Also written to the run directory as eval_validation.json."""
    from vaekit.evaluation import evaluate
    from vaekit.evaluation.report import write_eval_json

    run = RunDir(run_dir)
    state, history = run.train_state(), run.metrics()
    best = next((r for r in history if r["epoch"] == state.get("best_epoch")), history[-1] if history else {})
    metrics = ["active-units"]
    if criterion and spec.select == "val_nll":
        metrics.append("nll")
    if criterion and spec.select == "probe":
        metrics.append("probe")
    model = run.load_model("best")
    seed = cfg.data.seed + 7 if cfg.data.binarize == "dynamic" else None  # the binarisation training validated on
    report = evaluate(model, data, "validation", metrics, k=spec.k, binarize_seed=seed, probe_max_train=PROBE_MAX_TRAIN)
    write_eval_json(run.path / "eval_validation.json", report, merge_existing=False)
    out: dict[str, Any] = {
        "val_elbo": float(state.get("best_val_elbo", float("nan"))),
        "val_kl": float(best.get("val_kl", float("nan"))),
        "active_units": int(report.summary["active_units"]),
        "latent_dim": int(report.details["active-units"]["latent_dim"]),
        "epochs": int(state.get("epoch", 0)),
        "train_seconds": float(state.get("elapsed", 0.0)),
        "stop_reason": state.get("stop_reason", ""),
    }
    if criterion and spec.select == "val_nll":
        out["val_nll"] = float(report.summary["nll"])
    if criterion and spec.select == "probe":
        out["probe"] = float(report.summary["probe_accuracy"])
    if criterion and spec.select == "auroc":
        out["auroc"] = anomaly_auroc(model, cfg, spec)
    return out


@torch.inference_mode()
def anomaly_auroc(model: VAE, cfg: RunConfig, spec: SweepSpec) -> float:
    """AUROC of ``spec.anomaly_score`` on the validation split of every class (normal: data.classes)."""
    from vaekit.applications.anomaly import ScoreSettings, anomaly_scores, fit_latent_score
    from vaekit.applications.anomaly_labels import detection_metrics
    from vaekit.data import load_data

    assert cfg.data.classes is not None
    every = load_data(dataclasses.replace(cfg.data, classes=None, limit=None))  # the same splits, all classes
    x, y = every.validation.x, every.validation.y
    if y is None:
        raise ConfigError(f"--select auroc needs labels in {cfg.data.source}")
    binarize = cfg.data.binarize == "dynamic"
    if binarize:
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(cfg.data.seed + 7))
    settings = ScoreSettings(kind=spec.anomaly_score, components=spec.components)
    if spec.anomaly_score == "latent":
        normal = load_data(cfg.data).train.x
        normal = torch.bernoulli(normal, generator=torch.Generator().manual_seed(cfg.data.seed + 8)) if binarize else normal
        settings = fit_latent_score(model, normal, settings)
    labels = (~torch.isin(y, torch.tensor(cfg.data.classes))).numpy()
    return float(detection_metrics(labels, anomaly_scores(model, x, settings).numpy()).auroc)
