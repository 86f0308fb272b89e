"""A sweep directory and the Optuna study inside it; the workers that run its trials.

    sweeps/x/sweep.json     what the sweep is (base config, space, sampler, pruner, criterion)
    sweeps/x/study.db       Optuna's study in SQLite: every trial, its parameters, per-epoch values
    sweeps/x/trials/0007/   trial 7: an ordinary run directory (vaekit train --config trial's config)

Trials are asked from the study one at a time (``study.ask``) under a file lock, so N worker
processes together run exactly ``trials`` trials. A trial that did not end — the sweep was
killed, interrupted or ran out of ``--max-time`` — stays RUNNING in the study, with its run
directory checkpointed at the last finished epoch; the next ``--resume`` continues those trials
from their checkpoints (the same study trial, so its per-epoch values and pruning carry on)
before it asks for new ones. Only one sweep process may own a directory at a time (sweep.lock).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vaekit.errors import ConfigError, RunDirError, VaekitError
from vaekit.sweep.space import Param, parse_space

SPEC, STUDY_DB, TRIALS, LOCK, CLAIM = "sweep.json", "study.db", "trials", "sweep.lock", ".claim.lock"
STUDY_NAME = "vaekit-sweep"
Select = Literal["val_elbo", "val_nll", "probe", "auroc"]
SELECT: tuple[str, ...] = ("val_elbo", "val_nll", "probe", "auroc")
DIRECTION = {"val_elbo": "maximize", "val_nll": "minimize", "probe": "maximize", "auroc": "maximize"}


def optuna_module():
    """Optuna, imported when a sweep needs it (an optional extra)."""
    try:
        import optuna
    except ImportError:
        raise VaekitError("vaekit sweep needs Optuna: pip install 'vaekit[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # vaekit prints one line per trial itself
    return optuna


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep searches and how; saved as sweep.json, fixed for the life of the study except
    ``trials`` (a resume may ask for more)."""

    base: dict[str, Any]  # the config every trial starts from (the file plus --set), plain data
    space: tuple[str, ...]  # --space strings (space.py)
    trials: int = 20  # total trials in the study
    select: Select = "val_elbo"
    sampler: Literal["tpe", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    grid_points: int = 3  # grid sampler: values per range
    prune_startup: int = 3  # median pruner: trials that finish before any is pruned
    prune_warmup: int = 1  # epochs of every trial that are never pruned
    k: int = 20  # importance samples of the val_nll criterion
    anomaly_score: Literal["elbo", "recon", "latent"] = "elbo"  # the auroc criterion's score
    components: int = 20  # the latent score's mixture components
    seed: int = 0  # the sampler's

    @property
    def params(self) -> list[Param]:
        return parse_space(list(self.space))

    @property
    def direction(self) -> str:
        return DIRECTION[self.select]

    def check(self) -> SweepSpec:
        from vaekit.config import RunConfig
        from vaekit.sweep.space import check_space

        if self.select not in SELECT:
            raise ConfigError(f"--select {self.select!r}: use one of {', '.join(SELECT)}")
        if not self.space:
            raise ConfigError("a sweep needs at least one --space KEY=LOW..HIGH or KEY=A,B,C")
        for name in ("trials", "k", "prune_startup", "components"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sweep setting {name} must be at least 1, got {getattr(self, name)}")
        base = RunConfig.from_dict(self.base)
        if self.select == "auroc" and base.data.classes is None:
            raise ConfigError(
                "--select auroc scores normal against anomalous validation examples: set data.classes to the normal "
                "class(es), e.g. --set 'data.classes=[3]'"
            )
        keys = {p.key for p in self.params}
        if "model.latent_dim" in keys and base.model.latent_dims:
            raise ConfigError(
                "the base config stacks latent layers (model.latent_dims), which overrides model.latent_dim: "
                "sweep model.latent_dims instead, e.g. --space 'model.latent_dims=[100,50],[64,32]'"
            )
        check_space(self.base, self.params)
        return self

    def grid_size(self) -> int:
        size = 1
        for p in self.params:
            size *= len(p.grid(self.grid_points))
        return size

    def save(self, path: Path) -> None:
        from vaekit.checkpoint import atomic_write_json

        atomic_write_json(path / SPEC, {"format": 1, **dataclasses.asdict(self), "space": list(self.space)})

    @classmethod
    def load(cls, path: Path) -> SweepSpec:
        p = Path(path) / SPEC
        if not p.is_file():
            raise RunDirError(f"{path} is not a sweep directory (no {SPEC}); pass the --out of a 'vaekit sweep' run")
        try:
            raw = json.loads(p.read_text())
            raw.pop("format", None)
            raw["space"] = tuple(raw["space"])
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as e:
            raise RunDirError(f"{p} is damaged ({e}); it is not a usable sweep directory") from None


def storage(path: Path):
    """The study's SQLite storage; a long timeout because parallel workers take turns writing."""
    optuna = optuna_module()
    url = f"sqlite:///{(Path(path) / STUDY_DB).resolve()}"
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 300}})


def distributions(params: list[Param]) -> dict[str, Any]:
    d = optuna_module().distributions
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "int":
            out[p.key] = d.IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.kind == "float":
            out[p.key] = d.FloatDistribution(p.low, p.high, log=p.log)
        else:
            out[p.key] = d.CategoricalDistribution(list(p.choices))
    return out


def grid_distributions(spec: SweepSpec) -> dict[str, Any]:
    """Under the grid sampler every parameter is a choice among its grid values."""
    d = optuna_module().distributions
    return {p.key: d.CategoricalDistribution(p.grid(spec.grid_points)) for p in spec.params}


def make_sampler(spec: SweepSpec, asked: int):
    """TPE seeded by (seed, trials so far), so a resumed sweep continues the sequence instead of
    repeating its first random trials; or the grid sampler, which visits trial n's grid point."""
    optuna = optuna_module()
    if spec.sampler == "grid":
        # one seed for the whole study: it fixes the (shuffled) order in which the grid is visited

        class Grid(optuna.samplers.GridSampler):  # type: ignore[name-defined]  # optuna is imported at run time
            def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
                # GridSampler stops study.optimize when the grid is done; vaekit asks for exactly the grid's size
                return None

        return Grid({p.key: p.grid(spec.grid_points) for p in spec.params}, seed=spec.seed)
    seed = spec.seed * 100_003 + asked
    startup = min(10, max(3, spec.trials // 3))  # random trials before TPE models the results
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def make_pruner(spec: SweepSpec):
    optuna = optuna_module()
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.prune_startup, n_warmup_steps=spec.prune_warmup + 1)
    if spec.pruner == "hyperband":
        epochs = int(spec.base.get("train", {}).get("epochs", 10))
        return optuna.pruners.HyperbandPruner(min_resource=max(1, spec.prune_warmup), max_resource=max(2, epochs))
    return optuna.pruners.NopPruner()


def load_study(path: Path, spec: SweepSpec, create: bool = False):
    optuna = optuna_module()
    return optuna.create_study(
        storage=storage(path),
        study_name=STUDY_NAME,
        direction=spec.direction,
        sampler=make_sampler(spec, 0),
        pruner=make_pruner(spec),
        load_if_exists=not create,
    )


@contextmanager
def file_lock(path: Path, wait: bool) -> Iterator[None]:
    """An exclusive flock on ``path`` (released by the kernel if the process dies)."""
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "?"
            raise RunDirError(
                f"{path.parent} is in use by another vaekit sweep (pid {owner}); wait for it, or stop it before resuming"
            ) from None
        if not wait:
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
