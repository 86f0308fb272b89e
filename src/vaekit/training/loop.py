"""``fit``: the training loop, top to bottom.

One epoch = index slices of the in-memory training tensor (or, for an image folder too big for memory,
the same batches decoded by DataLoader workers: ``data/streaming.py``); the step does no host sync beyond
the one finite-loss check it needs (free on CPU); progress and metrics are read every
``log_every`` steps. Under DistributedDataParallel every rank draws the same global batch, the
same binarisation and the same posterior noise, and keeps its own contiguous shard, so N
processes compute what one process computes with the same global batch. The loss comes from the
objective object of ``train.objective`` (``objectives.py``), which also owns anything trained beside
the model (a discriminator and its optimizer, saved with the training state); a conditional model
gets the batch's labels. At each epoch end: validation ELBO, metrics line (with the objective's own
terms: perplexity, iwae, tc, ...), best weights, training state — all atomic. A resumed run replays
the same RNG streams and ends with the same weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

import vaekit
from vaekit.checkpoint import ITEMS, MODEL, SCALER, RunDir, RunInfo, atomic_write_json, save_tensors, write_config
from vaekit.config import RunConfig, TrainConfig
from vaekit.core import VAE, build_model
from vaekit.core.objectives import MeanELBO, mean_elbo, split_missing
from vaekit.data import DataSplits
from vaekit.data.batches import TensorBatches, TensorChunks
from vaekit.data.streaming import StreamBatches, StreamChunks, StreamedSplits, open_data, training_batches
from vaekit.errors import ConfigError, RunDirError, TrainingError
from vaekit.training import ddp, recsys, schedules
from vaekit.training.logs import MetricsLog
from vaekit.training.objectives import EXTRA_TERMS, TrainObjective, make_objective
from vaekit.training.state import Generators, Progress, load_train_state, save_train_state


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
    if cfg.data.binarize != "none" and cfg.model.likelihood != "bernoulli":
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


def fit(
    cfg: RunConfig | None, out: str | Path, *, resume: bool = False, data: DataSplits | StreamedSplits | None = None, figures: bool = True
) -> Run:
    """Train ``cfg`` into run directory ``out``, or continue the run there (``resume=True``; ``cfg``
    None keeps the saved config, else it may differ only in the RESUMABLE train settings).

    Under torchrun (or ``--devices N``) every rank calls this; rank 0 alone writes the run. ``figures=False`` skips the
    PNG figures at the end (curves, samples, reconstructions), e.g. for the scikit-learn estimators'
    throwaway runs; post-training fits (a VQ code prior) still run.
    """
    out = Path(out)
    env = ddp.env_from_environment()
    if cfg is None and not resume:
        raise ConfigError("fit needs a RunConfig unless resume=True")
    device = ddp.init(env, torch.device((cfg or RunDir(out).config).train.device))
    if resume:
        saved = RunDir(out)
        cfg = _resumed_config(saved.config, cfg)
        if cfg != saved.config and env.is_main:
            write_config(out, cfg, saved.info)
    elif ddp.broadcast_float(float((out / "config.json").exists()), env):  # rank 0 decides, before it writes
        raise RunDirError(f"{out} already holds a run; continue it with --resume {out}, or pick another --out")
    _check(cfg, env)
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(cfg.seed + env.rank)  # dropout differs per shard; everything else is shared
    gens = Generators(
        data=torch.Generator().manual_seed(cfg.seed + 1),  # shuffling and dynamic binarisation
        noise=torch.Generator().manual_seed(cfg.seed + 2),  # posterior noise of the whole global batch
    )

    data = data if data is not None else open_data(cfg.data)  # in memory, or streamed from a big folder
    cfg = _resolve_condition(cfg, data)
    if isinstance(data, StreamedSplits) and cfg.model.posterior == "vq":
        raise ConfigError("model.posterior='vq' fits its code prior over the training split in memory: set data.streaming=false")
    model = build_model(cfg.model, data.shape).to(device)
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
    best_by = recsys.best_by(t, data.kind)  # elbo, or a ranking metric (ratings runs)
    steps_per_epoch = max(1, math.ceil(batches.n / t.batch_size))
    objective = make_objective(t, model, steps_per_epoch=steps_per_epoch, dataset_size=batches.n, world_size=env.world_size)

    if resume:
        progress = load_train_state(out, model, optimizer, gens, objective.modules, objective.optimizers)
        if progress.finished and progress.epoch < t.epochs and progress.stop_reason == "completed":
            progress = replace(progress, finished=False, stop_reason="")  # more epochs were asked for
        if progress.finished:
            return _finish(out, cfg, data, progress, posthoc=False, figures=False, env=env, model=model)
    else:
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            info = RunInfo(data.shape, data.kind, data.checksum, data.num_classes, data.class_names, vaekit.__version__)
            write_config(out, cfg, info)
            if data.scaler is not None:
                atomic_write_json(out / SCALER, data.scaler.to_dict())
            if data.kind == "ratings":
                atomic_write_json(out / ITEMS, data.id_maps())
        progress = Progress()
    train_model = torch.nn.parallel.DistributedDataParallel(model) if env.enabled else model
    log = MetricsLog(out, t.tensorboard, resume_epoch=progress.epoch if resume else None) if env.is_main else None

    bar = _progress_bar(t, steps_per_epoch * t.epochs, progress.seen_batches) if env.is_main else None
    try:
        while progress.epoch < t.epochs and not progress.finished:
            ep = _train_epoch(cfg, train_model, optimizer, objective, batches, gens, progress, env, bar)
            model.eval()
            started = time.perf_counter()
            val = _validate(model, val_chunks, env)
            ranking = recsys.validation_ranking(model, val_chunks, best_by, env) if data.kind == "ratings" else {}
            score = val.elbo if best_by == "elbo" else ranking[best_by]
            epoch = progress.epoch + 1
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
                best_val_elbo=max(val.elbo, progress.best_val_elbo),
                best_val_score=max(score, progress.best_val_score),
                best_epoch=epoch if improved else progress.best_epoch,
                epochs_since_best=0 if improved else progress.epochs_since_best + 1,
                plateau=plateau,
                elapsed=elapsed,
            )
            stop = _stop_reason(t, progress) or ("completed" if epoch >= t.epochs else "")
            if stop:
                progress = replace(progress, finished=True, stop_reason=stop)
            if env.is_main:
                if improved:
                    save_tensors(out / MODEL, model.state_dict(), {"epoch": str(epoch), "val_elbo": repr(val.elbo)})
                log.write(
                    {
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
                        "kl_weight": schedules.kl_weight(ep.seen_batches, steps_per_epoch, t.beta, t.kl_warmup_epochs),
                        **ep.extras,
                        **(
                            {"capacity": schedules.capacity(ep.seen_batches, t.capacity_max, t.capacity_steps)}
                            if t.capacity_max > 0
                            else {}
                        ),
                        "bad_steps": ep.bad,
                        "train_seconds": ep.seconds,  # the optimisation loop alone
                        "epoch_seconds": ep.seconds + time.perf_counter() - started,  # with validation
                    }
                )
                save_train_state(out, model, optimizer, gens, progress, objective.modules, objective.optimizers)
    except KeyboardInterrupt:
        raise TrainingError(
            f"interrupted; the last finished epoch is saved: continue with 'vaekit train --resume {out}'"
        ) from None
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
    return _finish(out, cfg, data, progress, posthoc=True, figures=figures, env=env, model=model)


def _train_epoch(
    cfg: RunConfig,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: TrainObjective,
    batches: TensorBatches | StreamBatches,
    gens: Generators,
    progress: Progress,
    env: ddp.DistEnv,
    bar,
) -> _Epoch:
    """One pass over the training data in global batches; each rank takes its shard of each."""
    t = cfg.train
    vae: VAE = getattr(model, "module", model)
    model.train()
    started = time.perf_counter()
    steps_per_epoch = max(1, math.ceil(batches.n / t.batch_size))
    total_steps = steps_per_epoch * t.epochs
    sums = torch.zeros(3, device=batches.device)  # loss, recon_nll, kl summed over examples
    extra_names: list[str] | None = None  # the optional terms this objective fills, found at the first step
    extra_sums = torch.zeros(0, device=batches.device)
    k = objective.samples
    noise_shape = (vae.latent_dim,) if k is None else (k, vae.latent_dim)
    has_missing = batches.has_missing  # found once, not per step
    seen, seen_batches, step, bad, consecutive_bad = 0, progress.seen_batches, progress.step, progress.bad_steps, 0
    if t.lr_schedule == "step":
        _set_lr(optimizer, schedules.step_lr(progress.epoch, t.lr, t.lr_step_epochs, t.lr_gamma))
    elif t.lr_schedule == "plateau":
        _set_lr(optimizer, t.lr * progress.plateau.factor)
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
        if t.lr_schedule == "cosine":
            _set_lr(optimizer, schedules.cosine_lr(seen_batches, total_steps, t.lr, t.lr_min))
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16"):  # train.precision
            terms = objective(model, x, eps=eps, loss_scale=share, mask=mask, condition=y, step=seen_batches)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        finite = torch.isfinite(terms.loss)
        if t.grad_clip is not None:
            finite = finite & torch.isfinite(torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip))
        seen_batches += 1
        if not ddp.all_true(finite, env):  # the one sync per step; a no-op wait on CPU
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
        optimizer.step()
        after = objective.after_step(model)  # e.g. the discriminator's update (VAE-GAN)
        step += 1
        b = x.shape[0]
        sums += torch.stack([terms.loss.detach() / share, terms.recon_nll.detach(), terms.kl.detach()]) * b
        if extra_names is None:
            extra_names = [n for n in EXTRA_TERMS if getattr(terms, n) is not None] + (["disc_loss"] if after is not None else [])
            extra_sums = torch.zeros(len(extra_names), device=batches.device)
        if extra_names:
            values = [after if n == "disc_loss" else getattr(terms, n) for n in extra_names]
            extra_sums += torch.stack([v.detach().float() for v in values]) * b
        seen += b
        if bar is not None and step % t.log_every == 0:
            bar.set_postfix(epoch=progress.epoch + 1, loss=f"{float(terms.loss.detach()) / share:.3f}", refresh=False)
            bar.update(seen_batches - bar.n)
    if bar is not None:
        bar.update(seen_batches - bar.n)
    totals = ddp.all_reduce_sum(torch.cat([sums, extra_sums, torch.tensor([float(seen)], device=sums.device)]), env)
    means = (totals[:-1] / totals[-1].clamp(min=1)).tolist()
    extras = dict(zip(extra_names or [], means[3:]))
    return _Epoch(means[0], means[1], means[2], seen_batches, step, bad, time.perf_counter() - started, extras)


def _validate(model: VAE, chunks: TensorChunks | StreamChunks, env: ddp.DistEnv) -> MeanELBO:
    """Validation ELBO over the whole split: each rank scores its shard, the sums are reduced."""
    sums = torch.zeros(3, dtype=torch.float64)  # recon_nll, kl summed over examples; examples
    for x, y in chunks:  # (b, *shape), (b,) labels or None
        local = mean_elbo(model, x, chunks.batch_size) if y is None else mean_elbo(model, x, chunks.batch_size, y)
        sums += torch.tensor([local.recon_nll * local.n, local.kl * local.n, float(local.n)], dtype=torch.float64)
    totals = ddp.all_reduce_sum(sums, env)
    n = max(int(totals[2]), 1)
    recon, kl = float(totals[0]) / n, float(totals[1]) / n
    return MeanELBO(elbo=-(recon + kl), recon_nll=recon, kl=kl, n=int(totals[2]))


def _resolve_condition(cfg: RunConfig, data: DataSplits | StreamedSplits) -> RunConfig:
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


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _progress_bar(t: TrainConfig, total: int, done: int):
    if not t.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="step", dynamic_ncols=True, leave=True)


def _finish(
    out: Path, cfg: RunConfig, data: DataSplits | StreamedSplits, progress: Progress, posthoc: bool, figures: bool, env: ddp.DistEnv, model: VAE
) -> Run:
    if not env.is_main:  # other ranks hold the last weights in memory and write nothing
        return Run(path=out, config=cfg, model=model.eval(), history=[], progress=progress)
    if isinstance(data, StreamedSplits):  # the figures need a few examples, not the whole folder
        data = data.preview(32)
    run = RunDir(out)
    best = run.load_model("best")
    if posthoc:
        from vaekit.training.posthoc import fit_posthoc_parts

        fit_posthoc_parts(out, best, cfg, data)
    if figures:
        from vaekit.training.figures import write_run_figures

        write_run_figures(out, best, data, run.metrics(), seed=cfg.seed)
    return Run(path=out, config=cfg, model=best, history=run.metrics(), progress=progress)
