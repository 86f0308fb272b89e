"""``fit``: the training loop, top to bottom.

One epoch = index slices of the in-memory training tensor; the step does no host sync beyond
the one finite-loss check it needs (free on CPU); progress and metrics are read every
``log_every`` steps. At each epoch end: validation ELBO, metrics line, best weights, training
state — all atomic. A resumed run replays the same RNG streams and ends with the same weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

import vaekit
from vaekit.checkpoint import MODEL, SCALER, RunDir, RunInfo, atomic_write_json, save_tensors, write_config
from vaekit.config import RunConfig, TrainConfig
from vaekit.core import VAE, build_model, elbo
from vaekit.core.objectives import mean_elbo
from vaekit.data import DataSplits, dynamic_binarize, iterate_batches, load_data
from vaekit.errors import ConfigError, RunDirError, TrainingError
from vaekit.training import schedules
from vaekit.training.logs import MetricsLog
from vaekit.training.state import Progress, load_train_state, save_train_state


@dataclass(frozen=True)
class Run:
    """What ``fit`` returns: where the run lives and how it ended."""

    path: Path
    config: RunConfig
    model: VAE  # best weights, eval mode
    history: list[dict]
    progress: Progress


def make_optimizer(model: torch.nn.Module, t: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    params = [p for p in model.parameters() if p.requires_grad]
    fused = t.fused_optimizer and all(p.device.type in ("cpu", "cuda") for p in params)
    return cls(params, lr=t.lr, weight_decay=t.weight_decay, fused=fused or None)


def _check(cfg: RunConfig) -> None:
    t = cfg.train
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
RESUMABLE = ("epochs", "max_time", "early_stopping", "progress", "threads", "tensorboard", "log_every")


def fit(cfg: RunConfig | None, out: str | Path, *, resume: bool = False, data: DataSplits | None = None) -> Run:
    """Train ``cfg`` into run directory ``out``, or continue the run there (``resume=True``; ``cfg``
    None keeps the saved config, else it may differ only in the RESUMABLE train settings)."""
    out = Path(out)
    if resume:
        saved = RunDir(out)
        cfg = _resumed_config(saved.config, cfg)
        if cfg != saved.config:
            write_config(out, cfg, saved.info)
    elif cfg is None:
        raise ConfigError("fit needs a RunConfig unless resume=True")
    elif (out / "config.json").exists():
        raise RunDirError(f"{out} already holds a run; continue it with --resume {out}, or pick another --out")
    _check(cfg)
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    device = torch.device(t.device)
    torch.manual_seed(cfg.seed)
    data_gen = torch.Generator().manual_seed(cfg.seed + 1)  # shuffling and dynamic binarisation

    data = data if data is not None else load_data(cfg.data)
    model = build_model(cfg.model, data.shape).to(device)
    optimizer = make_optimizer(model, t)
    x_train = data.train.x.to(device)
    x_val = data.validation.x.to(device)
    if cfg.data.binarize == "dynamic":  # validate on one fixed binarisation, as papers do
        x_val = dynamic_binarize(x_val, torch.Generator().manual_seed(cfg.data.seed + 7))

    if resume:
        progress = load_train_state(out, model, optimizer, data_gen)
        if progress.finished and progress.epoch < t.epochs and progress.stop_reason == "completed":
            progress = replace(progress, finished=False, stop_reason="")  # more epochs were asked for
        if progress.finished:
            return _finish(out, cfg, data, progress, figures=False)
    else:
        out.mkdir(parents=True, exist_ok=True)
        info = RunInfo(data.shape, data.kind, data.checksum, data.num_classes, data.class_names, vaekit.__version__)
        write_config(out, cfg, info)
        if data.scaler is not None:
            atomic_write_json(out / SCALER, data.scaler.to_dict())
        progress = Progress()
    log = MetricsLog(out, t.tensorboard, resume_epoch=progress.epoch if resume else None)

    n = x_train.shape[0]
    steps_per_epoch = max(1, math.ceil(n / t.batch_size))
    total_steps = steps_per_epoch * t.epochs
    bar = _progress_bar(t, total_steps, progress.seen_batches)
    consecutive_bad = 0
    try:
        while progress.epoch < t.epochs and not progress.finished:
            model.train()
            started = time.perf_counter()
            sums = torch.zeros(3, device=device)  # loss, recon_nll, kl (sum over examples)
            seen, seen_batches, step, bad = 0, progress.seen_batches, progress.step, progress.bad_steps
            base_lr = t.lr * progress.plateau.factor
            if t.lr_schedule == "step":
                base_lr = schedules.step_lr(progress.epoch, t.lr, t.lr_step_epochs, t.lr_gamma)
            _set_lr(optimizer, base_lr)
            for idx in iterate_batches(n, t.batch_size, shuffle=True, generator=data_gen):
                x = x_train[idx]  # (B, *shape)
                if cfg.data.binarize == "dynamic":
                    x = dynamic_binarize(x, data_gen)
                if t.lr_schedule == "cosine":
                    _set_lr(optimizer, schedules.cosine_lr(seen_batches, total_steps, t.lr, t.lr_min))
                kl_w = schedules.kl_weight(seen_batches, steps_per_epoch, t.beta, t.kl_warmup_epochs)
                terms = elbo(model, x, kl_weight=kl_w, free_bits=t.free_bits)
                optimizer.zero_grad(set_to_none=True)
                terms.loss.backward()
                finite = torch.isfinite(terms.loss)
                if t.grad_clip is not None:
                    finite = finite & torch.isfinite(torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip))
                seen_batches += 1
                if not bool(finite):  # the one sync per step; a no-op wait on CPU
                    bad += 1
                    consecutive_bad += 1
                    if consecutive_bad >= t.max_bad_steps:
                        raise TrainingError(
                            f"{consecutive_bad} consecutive steps had a NaN/Inf loss or gradient (epoch "
                            f"{progress.epoch + 1}); the last good checkpoint in {out} is intact. Lower "
                            "train.lr, set train.grad_clip, or check the data for NaN/Inf values"
                        )
                    continue
                consecutive_bad = 0
                optimizer.step()
                step += 1
                b = x.shape[0]
                sums += torch.stack([terms.loss.detach(), terms.recon_nll.detach(), terms.kl.detach()]) * b
                seen += b
                if bar is not None and step % t.log_every == 0:
                    bar.set_postfix(epoch=progress.epoch + 1, loss=f"{float(terms.loss):.3f}", refresh=False)
                    bar.update(seen_batches - bar.n)
            if bar is not None:
                bar.update(seen_batches - bar.n)
            train_loss, train_recon, train_kl = (sums / max(seen, 1)).tolist()
            train_seconds = time.perf_counter() - started
            model.eval()
            val = mean_elbo(model, x_val, t.eval_batch_size)
            epoch = progress.epoch + 1
            elapsed = progress.elapsed + time.perf_counter() - started
            improved = val.elbo > progress.best_val_elbo or not (out / MODEL).exists()
            plateau = progress.plateau
            if t.lr_schedule == "plateau":
                plateau = schedules.plateau_update(plateau, val.elbo, t.lr_patience, t.lr_gamma)
            progress = replace(
                progress,
                epoch=epoch,
                step=step,
                seen_batches=seen_batches,
                bad_steps=bad,
                best_val_elbo=max(val.elbo, progress.best_val_elbo),
                best_epoch=epoch if improved else progress.best_epoch,
                epochs_since_best=0 if improved else progress.epochs_since_best + 1,
                plateau=plateau,
                elapsed=elapsed,
            )
            if improved:
                meta = {"epoch": str(epoch), "val_elbo": repr(val.elbo)}
                save_tensors(out / MODEL, model.state_dict(), meta)
            stop = _stop_reason(t, progress)
            if stop:
                progress = replace(progress, finished=True, stop_reason=stop)
            elif epoch >= t.epochs:
                progress = replace(progress, finished=True, stop_reason="completed")
            log.write(
                {
                    "epoch": epoch,
                    "step": step,
                    "loss": train_loss,
                    "recon_nll": train_recon,
                    "kl": train_kl,
                    "val_elbo": val.elbo,
                    "val_recon_nll": val.recon_nll,
                    "val_kl": val.kl,
                    "lr": optimizer.param_groups[0]["lr"],
                    "kl_weight": schedules.kl_weight(seen_batches, steps_per_epoch, t.beta, t.kl_warmup_epochs),
                    "bad_steps": bad,
                    "train_seconds": train_seconds,  # the optimisation loop alone
                    "epoch_seconds": time.perf_counter() - started,  # with validation
                }
            )
            save_train_state(out, model, optimizer, data_gen, progress)
    except KeyboardInterrupt:
        raise TrainingError(
            f"interrupted; the last finished epoch is saved: continue with 'vaekit train --resume {out}'"
        ) from None
    finally:
        if bar is not None:
            bar.close()
        log.close()
    return _finish(out, cfg, data, progress, figures=True)


def _resumed_config(saved: RunConfig, new: RunConfig | None) -> RunConfig:
    if new is None:
        return saved
    changed = {
        f"{section}.{k}"
        for section in ("data", "model", "train")
        for k, v in getattr(new, section).__dict__.items()
        if getattr(getattr(saved, section), k) != v
    }
    if new.seed != saved.seed:
        changed.add("seed")
    fixed = sorted(changed - {f"train.{k}" for k in RESUMABLE})
    if fixed:
        raise ConfigError(f"a resumed run cannot change {', '.join(fixed)}; only train.{{{', '.join(RESUMABLE)}}} may change")
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


def _finish(out: Path, cfg: RunConfig, data: DataSplits, progress: Progress, figures: bool) -> Run:
    run = RunDir(out)
    model = run.load_model("best")
    if figures:
        from vaekit.training.figures import write_run_figures

        write_run_figures(out, model, data, run.metrics(), seed=cfg.seed)
    return Run(path=out, config=cfg, model=model, history=run.metrics(), progress=progress)
