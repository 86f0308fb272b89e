"""``fit``: the training loop, top to bottom.

One epoch = index slices of the in-memory training tensor (or, for an image folder too big for memory,
the same batches decoded by DataLoader workers: ``data/streaming.py``); the step does no host sync beyond
the one finite-loss check it needs (free on CPU); progress and metrics are read every
``log_every`` steps. Under DistributedDataParallel every rank draws the same global batch, the
same binarisation and the same posterior noise, and keeps its own contiguous shard, so N
processes compute what one process computes with the same global batch. The loss comes from the
objective object of ``train.objective`` (``objectives/``), which also owns anything trained beside
the model (a discriminator and its optimizer, saved with the training state); a conditional model
gets the batch's labels. At each epoch end: validation ELBO, metrics line (with the objective's own
terms: perplexity, iwae, tc, ...), best weights, training state — all atomic. A resumed run replays
the same RNG streams and ends with the same weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

import vaekit
from vaekit.checkpoint import (
    ITEMS,
    MODEL,
    SCALER,
    TRAIN_STATE,
    RunDir,
    RunInfo,
    atomic_write_json,
    load_tensors,
    load_weights,
    save_tensors,
    write_config,
)
from vaekit.config import RunConfig, TrainConfig
from vaekit.core import VAE, build_model
from vaekit.core.elbo import MeanELBO, mean_elbo, split_missing
from vaekit.core.likelihoods import Likelihood
from vaekit.core.size import check_model_fits
from vaekit.data import DataSplits
from vaekit.data.base import RatingsSplits
from vaekit.data.batches import SparseBatches, SparseChunks, TensorBatches, TensorChunks
from vaekit.data.streaming import StreamBatches, StreamChunks, StreamedSplits, open_data, training_batches
from vaekit.errors import ConfigError, RunDirError, TrainingError, TrainingInterrupted
from vaekit.hardware import cpu_info
from vaekit.runlock import claim_run_dir
from vaekit.training import ddp, recsys, schedules
from vaekit.training.best import iwae_samples, resolve_best_by, validation_bound
from vaekit.training.columns import resolve_columns, resumed_columns, typed_data
from vaekit.training.logs import MetricsLog
from vaekit.training.objectives import TrainObjective, make_objective
from vaekit.training.state import Generators, Progress, load_train_state, save_train_state
from vaekit.training.step import LossModule, training_step


@dataclass(frozen=True)
class Run:
    """What ``fit`` returns: where the run lives and how it ended."""

    path: Path
    config: RunConfig
    model: VAE  # best weights, eval mode
    history: list[dict]
    progress: Progress


def make_optimizer(model: torch.nn.Module, t: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if t.optimizer == "adamax":
        return torch.optim.Adamax(params, lr=t.lr, weight_decay=t.weight_decay)
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    fused = t.fused_optimizer and all(p.device.type in ("cpu", "cuda") for p in params)
    return cls(params, lr=t.lr, weight_decay=t.weight_decay, fused=fused or None)


def _check(cfg: RunConfig, env: ddp.DistEnv) -> None:
    t = cfg.train
    if t.batch_size < env.world_size:
        raise ConfigError(f"train.batch_size {t.batch_size} is smaller than the {env.world_size} processes sharing each batch")
    for name in ("epochs", "batch_size", "eval_batch_size", "log_every", "max_bad_steps"):
        if getattr(t, name) < 1:
            raise ConfigError(f"train.{name} must be at least 1, got {getattr(t, name)}")
    if t.lr <= 0:
        raise ConfigError(f"train.lr must be positive, got {t.lr}")
    if t.beta < 0 or t.free_bits < 0:
        raise ConfigError("train.beta and train.free_bits must be non-negative")
    if t.schedule_by == "time" and env.world_size > 1:
        raise ConfigError("train.schedule_by='time' reads each process's own clock every step: use it in one process")
    if cfg.data.binarize != "none" and cfg.model.likelihood.kind != "bernoulli":
        raise ConfigError(f"data.binarize={cfg.data.binarize!r} makes binary data: use model.likelihood='bernoulli'")


# settings a resumed run may change: how long it runs and how it reports, never what it computes
RESUMABLE = ("epochs", "max_time", "early_stopping", "progress", "threads", "tensorboard", "log_every", "compile")
DATA_RESUMABLE = ("streaming", "memory_budget_gb", "workers")  # how batches are read, not which


@dataclass
class _Epoch:
    """What one pass over the training data leaves behind."""

    loss: float
    recon_nll: float
    kl: float
    seen_batches: int
    step: int
    bad: int
    seconds: float
    extras: dict[str, float]  # epoch means of the objective's optional terms (perplexity, tc, ...)
    consecutive_bad: int = 0  # NaN/Inf steps in a row at the epoch's end (carried into the next)
    stalled: float = 0.0  # the run's one-off stalls so far, seconds (schedules.StallClock)


def fit(
    cfg: RunConfig | None,
    out: str | Path,
    *,
    resume: bool = False,
    data: DataSplits | StreamedSplits | RatingsSplits | None = None,
    figures: bool = True,
    on_epoch: Callable[[dict, VAE], str | None] | None = None,
    lock: bool = True,
) -> Run:
    """Train ``cfg`` into ``out`` (a new or empty folder) or continue the run there, holding the run
    directory's lock throughout (see runlock.py), so a second writer fails at once. ``lock=False``:
    the caller holds it (the ``--devices`` launcher, whose ranks run here). See ``_fit``."""
    if not (lock and ddp.env_from_environment().is_main):
        return _fit(cfg, out, resume=resume, data=data, figures=figures, on_epoch=on_epoch)
    with claim_run_dir(out, new=not resume, what="vaekit train"):
        return _fit(cfg, out, resume=resume, data=data, figures=figures, on_epoch=on_epoch)


def _fit(
    cfg: RunConfig | None,
    out: str | Path,
    *,
    resume: bool = False,
    data: DataSplits | StreamedSplits | RatingsSplits | None = None,
    figures: bool = True,
    on_epoch: Callable[[dict, VAE], str | None] | None = None,
) -> Run:
    """Train ``cfg`` into run directory ``out``, or continue the run there (``resume=True``; ``cfg``
    None keeps the saved config, else it may differ only in the RESUMABLE train settings).

    Under torchrun (or ``--devices N``) every rank calls this; rank 0 alone writes the run. ``figures=False`` skips the
    PNG figures at the end (curves, samples, reconstructions), e.g. for the scikit-learn estimators'
    throwaway runs; post-training fits (a VQ code prior) still run.

    ``on_epoch(seen, model)``, if given, is called on rank 0 after each epoch with {epoch, val_elbo,
    val_recon_nll, val_kl, elapsed} and the model (this epoch's weights, eval mode; read it, do not
    change it), before anything of the epoch is saved: a string it returns stops training
    after this epoch with that stop reason (a sweep's pruner); an exception it raises propagates
    and leaves the previous epoch's checkpoint, from which ``resume=True`` continues.
    """
    out = Path(out)
    env = ddp.env_from_environment()
    if cfg is None and not resume:
        raise ConfigError("fit needs a RunConfig unless resume=True")
    device = ddp.init(env, ddp.check_device((cfg or RunDir(out).config).train.device))
    if resume:
        saved = RunDir(out)
        cfg = _resumed_config(saved.config, cfg)
    elif ddp.broadcast_float(float((out / "config.json").exists()), env):  # rank 0 decides, before it writes
        raise RunDirError(f"{out} already holds a run; continue it with --resume {out}, or pick another --out")
    if cfg is None:  # resume=True read the saved one
        raise ConfigError("fit needs a RunConfig unless resume=True")
    _check(cfg, env)
    t = cfg.train
    if isinstance(t.threads, int):
        torch.set_num_threads(t.threads)
    torch.manual_seed(cfg.seed + env.rank)  # dropout differs per shard; everything else is shared
    gens = Generators(
        data=torch.Generator().manual_seed(cfg.seed + 1),  # shuffling and dynamic binarisation
        noise=torch.Generator().manual_seed(cfg.seed + 2),  # posterior noise of the whole global batch
    )

    cfg, data, model = _data_and_model(cfg, data, device, resume)
    optimizer = make_optimizer(model, t)
    batches, val_chunks = training_batches(
        data,
        t.batch_size,
        t.eval_batch_size,
        binarize=cfg.data.binarize == "dynamic",
        validation_seed=cfg.data.seed + 7,  # validate on one fixed binarisation, as papers do
        labels=cfg.model.conditional,  # the labels are the condition
        workers=cfg.data.workers,
        rank=env.rank,
        world_size=env.world_size,
        device=device,
    )
    best_by = resolve_best_by(t, data.kind)  # elbo, iwae, or a ranking metric (ratings runs)
    steps_per_epoch = max(1, math.ceil(batches.n / t.batch_size))
    objective = make_objective(t, model, steps_per_epoch=steps_per_epoch, dataset_size=batches.n, world_size=env.world_size)

    if resume and (out / TRAIN_STATE).is_file():  # else it stopped before its first checkpoint: start over
        progress = load_train_state(out, model, optimizer, gens, objective.modules, objective.optimizers)
        if progress.finished and progress.epoch < t.epochs and progress.stop_reason == "completed":
            progress = replace(progress, finished=False, stop_reason="")  # more epochs were asked for
        if progress.finished:
            return _finish(out, cfg, data, progress, posthoc=False, figures=False, env=env, model=model)
    else:
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            info = RunInfo(
                data.shape, data.kind, data.checksum, data.num_classes, data.class_names, vaekit.__version__, machine=cpu_info()
            )
            write_config(out, cfg, info)
            if data.scaler is not None:
                atomic_write_json(out / SCALER, data.scaler.to_dict())
            if isinstance(data, RatingsSplits):
                atomic_write_json(out / ITEMS, data.id_maps())
        progress = Progress()
    if t.threads == "auto" and device.type == "cpu":
        from vaekit.training.threads import auto_threads_for

        auto_threads_for(cfg, model, data)  # the fastest count now; metrics.jsonl records it
    loss_module = LossModule(model, objective)  # DDP wraps the whole loss computation; the core never sees it
    train_model = torch.nn.parallel.DistributedDataParallel(loss_module) if env.enabled else loss_module
    log = MetricsLog(out, t.tensorboard, resume_epoch=progress.epoch if resume else None) if env.is_main else None
    if resume and cfg != saved.config and env.is_main:  # only once the saved state and metrics proved usable
        write_config(out, cfg, saved.info)

    bar = _progress_bar(t, steps_per_epoch * t.epochs, progress.seen_batches) if env.is_main else None
    clock = schedules.StallClock(progress.stalled)  # this process's stalls (its compile) add to the saved ones
    try:
        while progress.epoch < t.epochs and not progress.finished:
            ep = _train_epoch(cfg, train_model, model, optimizer, objective, batches, gens, progress, env, bar, clock)
            model.eval()
            started = time.perf_counter()
            val = _validate(model, val_chunks, env)
            if bar is not None:
                bar.show_validation(val.elbo)
            progress, improved, ranking = _judge_epoch(
                t, env, out, model, progress, ep, val, val_chunks, best_by, started, on_epoch
            )
            clock.stalled = progress.stalled
            if env.is_main and log is not None:  # rank 0, the one process with a metrics log
                if improved:
                    save_tensors(out / MODEL, model.state_dict(), {"epoch": str(progress.epoch), "val_elbo": repr(val.elbo)})
                log.write(_metrics_row(t, ep, val, ranking, optimizer, objective, progress, steps_per_epoch, started))
                save_train_state(out, model, optimizer, gens, progress, objective.modules, objective.optimizers)
                log.images(model, data, progress.epoch, cfg.seed)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted; the last finished epoch is saved: continue with 'vaekit train --resume {out}'"
        ) from None
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
    return _finish(out, cfg, data, progress, posthoc=True, figures=figures, env=env, model=model)


def _judge_epoch(
    t: TrainConfig,
    env: ddp.DistEnv,
    out: Path,
    model: VAE,
    progress: Progress,
    ep: _Epoch,
    val: MeanELBO,
    val_chunks: TensorChunks | StreamChunks | SparseChunks,
    best_by: str,
    started: float,
    on_epoch: Callable[[dict, VAE], str | None] | None,
) -> tuple[Progress, bool, dict[str, float]]:
    """After an epoch: its validation score (ELBO, or a ranking metric of a ratings run), whether it is
    the best so far, the schedules that read it, and whether training stops here (and why). Returns
    the new progress, ``improved`` and the extra validation numbers (ranking metrics of a ratings run,
    or the k-sample bound when it picks the best epoch)."""
    if isinstance(val_chunks, SparseChunks):
        ranking = recsys.validation_ranking(model, val_chunks, best_by, env)
    else:  # best_by "iwae" is refused for ratings runs
        ranking = {"iwae": validation_bound(model, val_chunks, iwae_samples(t), env)} if best_by == "iwae" else {}
    score = val.elbo if best_by == "elbo" else ranking[best_by]
    epoch = progress.epoch + 1
    if not math.isfinite(val.elbo):  # never saved, never reported as a best
        raise TrainingError(
            f"the validation ELBO is {val.elbo} after epoch {epoch}: training diverged, and the last good "
            "checkpoint is intact; lower train.lr, set train.grad_clip, or check the data"
        )
    # rank 0's clock decides time limits, so every rank stops after the same epoch
    elapsed = ddp.broadcast_float(progress.elapsed + ep.seconds + time.perf_counter() - started, env)
    best = progress.best_val_elbo if best_by == "elbo" else progress.best_val_score
    improved = score > best or (env.is_main and not (out / MODEL).exists())
    plateau = progress.plateau
    if t.lr_schedule == "plateau":
        plateau = schedules.plateau_update(plateau, score, t.lr_patience, t.lr_gamma)
    progress = replace(
        progress,
        epoch=epoch,
        step=ep.step,
        seen_batches=ep.seen_batches,
        bad_steps=ep.bad,
        consecutive_bad=ep.consecutive_bad,
        best_val_elbo=max(val.elbo, progress.best_val_elbo),
        best_val_score=max(score, progress.best_val_score),
        best_epoch=epoch if improved else progress.best_epoch,
        epochs_since_best=0 if improved else progress.epochs_since_best + 1,
        plateau=plateau,
        elapsed=elapsed,
        stalled=ddp.broadcast_float(ep.stalled, env),  # rank 0's, as elapsed: the next epoch's schedules agree
    )
    if ep.step == 0 and ep.bad:
        raise TrainingError(
            f"every one of the {ep.bad} steps so far had a NaN/Inf loss or gradient; lower train.lr, "
            "set train.grad_clip, or check the data for NaN/Inf values"
        )
    asked = None  # a stop reason from on_epoch (rank 0's, shared with every rank)
    if on_epoch is not None:
        seen = {
            "epoch": epoch,
            "val_elbo": val.elbo,
            "val_recon_nll": val.recon_nll,
            "val_kl": val.kl,
            "elapsed": elapsed,
        }
        asked = on_epoch(seen, model) if env.is_main else None
        if env.enabled and ddp.broadcast_float(float(bool(asked)), env):
            asked = asked or "stopped on rank 0"
    stop = _stop_reason(t, progress) or ("completed" if epoch >= t.epochs else "") or (asked or "")
    if stop:
        progress = replace(progress, finished=True, stop_reason=stop)
    return progress, improved, ranking


def _data_and_model(
    cfg: RunConfig, data: DataSplits | StreamedSplits | RatingsSplits | None, device: torch.device, resume: bool
) -> tuple[RunConfig, DataSplits | StreamedSplits | RatingsSplits, VAE]:
    """The data (in memory, streamed from a big folder, or sparse ratings), the config completed from it
    (a conditional model's classes, a mixed likelihood's columns) and the model built on ``device``,
    after every check that can fail before anything is allocated or written."""
    t = cfg.train
    cfg = typed_data(cfg)  # a mixed likelihood reads the csv's columns typed
    data = data if data is not None else open_data(cfg.data)  # in memory, or streamed from a big folder
    cfg = _resolve_condition(cfg, data)
    cfg = resolve_columns(cfg, data)  # a mixed likelihood's family per column, from the data
    if isinstance(data, StreamedSplits) and cfg.model.posterior.kind == "vq":
        raise ConfigError("model.posterior='vq' fits its code prior over the training split in memory: set data.streaming=false")
    if isinstance(data, RatingsSplits) and cfg.model.posterior.kind == "vq":
        raise ConfigError(
            "model.posterior='vq' fits its code prior over dense training data, but ratings are held sparse: use another posterior"
        )
    if len(data.validation) == 0:
        raise ConfigError(
            f"the validation split of {data.name!r} is empty, so no epoch could be judged: raise data.validation_fraction"
        )
    check_model_fits(cfg.model, data.shape, training=True, batch_size=min(t.batch_size, len(data.train)))  # before allocating
    model = build_model(cfg.model, data.shape).to(device)
    if isinstance(data, DataSplits) and isinstance(model.likelihood, Likelihood):
        model.likelihood.check_data(data.train.x)  # values outside the likelihood's support: a clear error now
    if t.init_from and not resume:
        _init_from(model, t.init_from)
    return cfg, data, model


def _metrics_row(
    t: TrainConfig,
    ep: _Epoch,
    val: MeanELBO,
    ranking: dict[str, float],
    optimizer: torch.optim.Optimizer,
    objective: TrainObjective,
    progress: Progress,
    steps_per_epoch: int,
    started: float,
) -> dict[str, Any]:
    """One line of metrics.jsonl: the epoch's training means, validation numbers and schedule values."""
    epoch, elapsed = progress.epoch, progress.elapsed
    position = _position(t, elapsed, ep.seen_batches, steps_per_epoch, progress.stalled)
    return {
        "epoch": epoch,
        "step": ep.step,
        "loss": ep.loss,
        "recon_nll": ep.recon_nll,
        "kl": ep.kl,
        "val_elbo": val.elbo,
        "val_recon_nll": val.recon_nll,
        "val_kl": val.kl,
        **{f"val_{name}": v for name, v in ranking.items()},
        "lr": optimizer.param_groups[0]["lr"],
        "kl_weight": schedules.kl_weight(position, steps_per_epoch, t.beta, t.kl_warmup_epochs),
        **ep.extras,
        **objective.logged(position),
        "bad_steps": ep.bad,
        "train_seconds": ep.seconds,  # the optimisation loop alone
        "epoch_seconds": ep.seconds + time.perf_counter() - started,  # with validation
        "threads": torch.get_num_threads(),  # train.threads = "auto" chooses it at start
        **(
            {"budget_used": schedules.budget_fraction(elapsed, t.max_time), "stalled_seconds": progress.stalled}
            if t.schedule_by == "time" and t.max_time
            else {}
        ),
    }


def _train_epoch(
    cfg: RunConfig,
    loss_module: torch.nn.Module,
    vae: VAE,
    optimizer: torch.optim.Optimizer,
    objective: TrainObjective,
    batches: TensorBatches | StreamBatches | SparseBatches,
    gens: Generators,
    progress: Progress,
    env: ddp.DistEnv,
    bar,
    clock: schedules.StallClock,
) -> _Epoch:
    """One pass over the training data in global batches; each rank takes its shard of each."""
    t = cfg.train
    loss_module.train()
    started = time.perf_counter()
    steps_per_epoch = max(1, math.ceil(batches.n / t.batch_size))
    total_steps = steps_per_epoch * t.epochs
    sums = torch.zeros(3, device=batches.device)  # loss, recon_nll, kl summed over examples
    extra_names: list[str] | None = None  # the optional terms this objective fills, found at the first step
    extra_sums = torch.zeros(0, device=batches.device)
    k = objective.samples
    noise_shape = (vae.latent_dim,) if k is None else (k, vae.latent_dim)
    has_missing = batches.has_missing  # found once, not per step
    seen, seen_batches, step, bad = 0, progress.seen_batches, progress.step, progress.bad_steps
    consecutive_bad = progress.consecutive_bad  # counted across epochs: short epochs must not reset it
    if t.lr_schedule == "step":
        _set_lr(optimizer, schedules.step_lr(progress.epoch, t.lr, t.lr_step_epochs, t.lr_gamma))
    elif t.lr_schedule == "plateau":
        _set_lr(optimizer, t.lr * progress.plateau.factor)
    last = started  # the end of the previous step: each step's time includes drawing its batch
    # x, y: this rank's contiguous share of a global batch of `size`, shuffled and binarised by gens.data
    for x, y, size in batches.epoch(gens.data):
        eps = torch.randn((size, *noise_shape), generator=gens.noise).to(x.device)  # (B, D) or (B, k, D)
        share = ddp.loss_scale(x.shape[0], size, env)
        mask = None
        if has_missing:  # NaN = missing: score observed entries only (tabular data with gaps)
            x, mask = split_missing(x)
        eps = ddp.shard(eps, env)[0]
        if k is not None:
            eps = eps.transpose(0, 1)  # (k, B, D)
        position = _position(t, progress.elapsed + time.perf_counter() - started, seen_batches, steps_per_epoch, clock.stalled)
        if t.lr_schedule == "cosine":
            _set_lr(optimizer, schedules.cosine_lr(position, total_steps, t.lr, t.lr_min))
        r = training_step(loss_module, vae, objective, optimizer, (x, y, eps, mask), share=share, step=position, t=t, env=env)
        now = time.perf_counter()
        clock.add(now - last)
        last = now
        seen_batches += 1
        if not r.finite:
            bad += 1
            consecutive_bad += 1
            if consecutive_bad >= t.max_bad_steps:
                raise TrainingError(
                    f"{consecutive_bad} consecutive steps had a NaN/Inf loss or gradient (epoch "
                    f"{progress.epoch + 1}); the last good checkpoint is intact. Lower train.lr, set "
                    "train.grad_clip, or check the data for NaN/Inf values"
                )
            continue
        consecutive_bad = 0
        step += 1
        terms, b = r.terms, x.shape[0]
        sums += torch.stack([terms.loss.detach(), terms.recon_nll.detach(), terms.kl.detach()]) * b
        if extra_names is None:  # the objective's own terms, fixed from its first step
            extra_names = sorted(terms.extras) + (["disc_loss"] if r.after is not None else [])
            extra_sums = torch.zeros(len(extra_names), device=batches.device)
        if extra_names:
            values = [r.after if n == "disc_loss" else terms.extras[n] for n in extra_names]
            extra_sums += torch.stack([v.detach().float() for v in values]) * b  # type: ignore[union-attr]
        seen += b
        if bar is not None and step % t.log_every == 0:
            bar.set_postfix(epoch=progress.epoch + 1, loss=f"{float(terms.loss.detach()):.3f}", refresh=False)
            bar.update(seen_batches - bar.n)
    if bar is not None:
        bar.update(seen_batches - bar.n)
    totals = ddp.all_reduce_sum(torch.cat([sums, extra_sums, torch.tensor([float(seen)], device=sums.device)]), env)
    means = (totals[:-1] / totals[-1].clamp(min=1)).tolist()
    extras = dict(zip(extra_names or [], means[3:]))
    return _Epoch(
        means[0],
        means[1],
        means[2],
        seen_batches,
        step,
        bad,
        time.perf_counter() - started,
        extras,
        consecutive_bad,
        clock.stalled,
    )


def _validate(model: VAE, chunks: TensorChunks | StreamChunks | SparseChunks, env: ddp.DistEnv) -> MeanELBO:
    """Validation ELBO over the whole split: each rank scores its shard, the sums are reduced."""
    sums = torch.zeros(3, dtype=torch.float64)  # recon_nll, kl summed over examples; examples
    for x, y in chunks:  # (b, *shape), (b,) labels or None
        local = mean_elbo(model, x, chunks.batch_size) if y is None else mean_elbo(model, x, chunks.batch_size, y)
        sums += torch.tensor([local.recon_nll * local.n, local.kl * local.n, float(local.n)], dtype=torch.float64)
    totals = ddp.all_reduce_sum(sums, env)
    n = max(int(totals[2]), 1)
    recon, kl = float(totals[0]) / n, float(totals[1]) / n
    return MeanELBO(elbo=-(recon + kl), recon_nll=recon, kl=kl, n=int(totals[2]))


def _resolve_condition(cfg: RunConfig, data: DataSplits | StreamedSplits | RatingsSplits) -> RunConfig:
    """A conditional model's condition_dim defaults to the data's class count (saved in config.json)."""
    m = cfg.model
    if not m.conditional:
        return cfg
    if data.train.y is None:
        raise ConfigError(
            f"model.conditional needs labels, but {data.name!r} has none; use data with labels or drop model.conditional"
        )
    if m.condition_dim is not None:
        return cfg
    classes = data.num_classes or int(data.train.y.max()) + 1
    return replace(cfg, model=replace(m, condition_dim=classes))


def _resumed_config(saved: RunConfig, new: RunConfig | None) -> RunConfig:
    if new is None:
        return saved
    new = resumed_columns(new, saved)  # a mixed likelihood's columns were resolved from the data too
    if new.model.conditional and new.model.condition_dim is None:  # resolved from the data when the run began
        new = replace(new, model=replace(new.model, condition_dim=saved.model.condition_dim))
    changed = {
        f"{section}.{k}"
        for section in ("data", "model", "train")
        for k, v in getattr(new, section).__dict__.items()
        if getattr(getattr(saved, section), k) != v
    }
    if new.seed != saved.seed:
        changed.add("seed")
    fixed = sorted(changed - {f"train.{k}" for k in RESUMABLE} - {f"data.{k}" for k in DATA_RESUMABLE})
    if fixed:
        raise ConfigError(
            f"a resumed run cannot change {', '.join(fixed)}; only train.{{{', '.join(RESUMABLE)}}} "
            f"and data.{{{', '.join(DATA_RESUMABLE)}}} may change"
        )
    return new


def _stop_reason(t: TrainConfig, p: Progress) -> str:
    if t.early_stopping is not None and p.epochs_since_best >= t.early_stopping:
        return f"early stopping: no validation improvement for {p.epochs_since_best} epochs"
    if t.max_time is not None and p.elapsed >= t.max_time:
        return f"max_time reached ({p.elapsed:.0f} s >= {t.max_time:.0f} s)"
    return ""


def _position(t: TrainConfig, elapsed: float, seen_batches: int, steps_per_epoch: int, stalled: float = 0.0) -> float:
    """Where the schedules are read: the batch count; with ``train.schedule_by = "time"``, the same
    share of the planned steps as of ``train.max_time`` used (schedules.time_position, less the
    ``stalled`` seconds) when that is further, so the schedules end with whichever budget runs out
    first, the epochs or the time."""
    if t.schedule_by == "time" and t.max_time:
        return max(seen_batches, schedules.time_position(elapsed, t.max_time, steps_per_epoch * t.epochs, stalled))
    return seen_batches


def _init_from(model: VAE, run_dir: str) -> None:
    """``train.init_from``: another run's best weights (a model of the same config) as the start."""
    source = RunDir(run_dir)
    weights, _ = load_tensors(source.path / MODEL)
    load_weights(model, weights, source.path / MODEL)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _progress_bar(t: TrainConfig, total: int, done: int):
    if not t.progress:
        return None
    from vaekit.training.logs import EpochBar

    return EpochBar(total=total, initial=done, unit="step", dynamic_ncols=True, leave=True)


def _finish(
    out: Path,
    cfg: RunConfig,
    data: DataSplits | StreamedSplits | RatingsSplits,
    progress: Progress,
    posthoc: bool,
    figures: bool,
    env: ddp.DistEnv,
    model: VAE,
) -> Run:
    if not env.is_main:  # other ranks hold the last weights in memory and write nothing
        return Run(path=out, config=cfg, model=model.eval(), history=[], progress=progress)
    if isinstance(data, StreamedSplits):  # the figures need a few examples, not the whole folder
        data = data.preview(32)
    run = RunDir(out)
    best = run.load_model("best")
    if posthoc and isinstance(data, DataSplits):  # the fits read dense training data (vq on ratings is refused up front)
        from vaekit.training.posthoc import fit_posthoc_parts

        fit_posthoc_parts(out, best, cfg, data)
    if figures:
        from vaekit.training.figures import write_run_figures

        write_run_figures(out, best, data, run.metrics(), seed=cfg.seed)
    return Run(path=out, config=cfg, model=best, history=run.metrics(), progress=progress)
