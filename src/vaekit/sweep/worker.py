"""One sweep worker process: it continues the unfinished trials it was given, then asks the study
for new ones until the study holds enough trials or the deadline passes. Apart from ``study.py``
because it runs trials (``trial.py``), which read the study's spec."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from vaekit.errors import VaekitError
from vaekit.sweep.study import (
    CLAIM,
    TRIALS,
    SweepSpec,
    distributions,
    file_lock,
    grid_distributions,
    load_study,
    make_sampler,
    optuna_module,
)
from vaekit.sweep.trial import DataCache, run_trial


@dataclass
class WorkerPlan:
    """What one worker process does: continue these unfinished trials, then ask new ones."""

    path: str
    target: int  # trials the study should hold in all
    deadline: float | None  # time.time() after which no trial starts and running ones pause
    threads: int | None  # torch threads per trial (its share of the cores), None: the config's
    resume_ids: list[int] = field(default_factory=list)
    parent: int | None = None  # pid of the coordinating process (a worker stops if it dies)


def run_worker(plan: WorkerPlan) -> None:
    """Run trials until the study holds ``plan.target`` trials or the deadline passes."""
    optuna = optuna_module()
    path = Path(plan.path)
    spec = SweepSpec.load(path)
    study = load_study(path, spec)
    cache = DataCache()

    def should_stop() -> str | None:
        if plan.deadline is not None and time.time() >= plan.deadline:
            return "the sweep's --max-time is up"
        if plan.parent is not None and os.getppid() != plan.parent:
            return "the sweep process that started this worker has ended"
        return None

    for trial_id in plan.resume_ids:
        if should_stop():
            return
        run_trial(study, optuna.trial.Trial(study, trial_id), spec, path, cache, plan.threads, should_stop)
    dists = grid_distributions(spec) if spec.sampler == "grid" else distributions(spec.params)
    while not should_stop():
        with file_lock(path / CLAIM, wait=True):
            asked = len(study.get_trials(deepcopy=False))
            if asked >= plan.target:
                return
            study.sampler = make_sampler(spec, asked)
            trial = study.ask(dists)
            trial.set_user_attr("run_dir", f"{TRIALS}/{trial.number:04d}")
        run_trial(study, trial, spec, path, cache, plan.threads, should_stop)


def worker_process(plan: WorkerPlan) -> None:
    """The target of a spawned worker process: run_worker, with its errors as exit codes."""

    try:
        run_worker(plan)
    except KeyboardInterrupt:
        sys.exit(130)
    except VaekitError as e:
        print(f"vaekit sweep worker: error: {e}", file=sys.stderr)
        sys.exit(1)
