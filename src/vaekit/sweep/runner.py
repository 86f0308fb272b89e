"""``run_sweep``: create or resume a sweep directory and run its trials in 1..N worker processes.

With ``jobs = 1`` the trials run in this process. With more, each worker is a spawned process
with its share of the cores (``train.threads`` = cores // jobs when the config leaves threads to
"auto"); the workers share the study through SQLite and take turns asking for trials.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import replace
from pathlib import Path

from vaekit.errors import RunDirError, TrainingError
from vaekit.sweep.study import (
    LOCK,
    SPEC,
    STUDY_DB,
    SweepSpec,
    file_lock,
    load_study,
    optuna_module,
)
from vaekit.sweep.worker import WorkerPlan, run_worker, worker_process


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_sweep(out: str | Path, spec: SweepSpec) -> Path:
    """Create the sweep directory: sweep.json and an empty study (refuses an existing sweep)."""
    path = Path(out)
    if (path / SPEC).exists():
        raise RunDirError(f"{path} already holds a sweep; continue it with --resume {path}, or pick another --out")
    spec = spec.check()
    path.mkdir(parents=True, exist_ok=True)
    load_study(path, spec, create=not (path / STUDY_DB).exists())
    spec.save(path)
    return path


def run_sweep(out: str | Path, *, trials: int | None = None, jobs: int = 1, max_time: float | None = None) -> SweepSpec:
    """Run (or continue) the sweep in ``out`` until its study holds ``trials`` trials (default: the
    number saved in sweep.json; the grid's size at most under the grid sampler), or ``max_time``
    seconds pass. Unfinished trials of an earlier run are continued first."""
    optuna = optuna_module()
    path = Path(out)
    spec = SweepSpec.load(path)
    if trials is not None and trials != spec.trials:
        spec = replace(spec, trials=trials).check()
    if jobs < 1:
        raise TrainingError(f"--jobs must be at least 1, got {jobs}")
    target = min(spec.trials, spec.grid_size()) if spec.sampler == "grid" else spec.trials
    deadline = time.time() + max_time if max_time else None
    with file_lock(path / LOCK, wait=False):
        spec.save(path)
        study = load_study(path, spec)
        unfinished = [t._trial_id for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
        done = len(study.get_trials(deepcopy=False)) - len(unfinished)
        print(
            f"sweep {path}: {done} trials done, {len(unfinished)} to continue, up to {target} in all"
            + (f", {jobs} workers" if jobs > 1 else ""),
            flush=True,
        )
        base_threads = spec.base.get("train", {}).get("threads", "auto")
        threads = max(1, _cores() // jobs) if jobs > 1 and base_threads in ("auto", None) else None
        if jobs == 1:
            run_worker(WorkerPlan(str(path), target, deadline, threads, unfinished))
        else:
            _run_parallel(path, target, deadline, threads, unfinished, jobs)
        paused = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
        if paused:
            print(
                f"--max-time is up: {paused} trial(s) paused at their last epoch; continue with: vaekit sweep --resume {path}",
                flush=True,
            )
    return spec


def _run_parallel(path: Path, target: int, deadline: float | None, threads: int | None, unfinished: list[int], jobs: int) -> None:
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each: no inherited torch or SQLite state
    plans = [WorkerPlan(str(path), target, deadline, threads, unfinished[i::jobs], os.getpid()) for i in range(jobs)]
    procs = [ctx.Process(target=worker_process, args=(plan,), name=f"vaekit-sweep-{i}") for i, plan in enumerate(plans)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        # Ctrl-C reached the workers too: each leaves its trial checkpointed and RUNNING; wait for them
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
        raise
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed:
        raise TrainingError(
            f"{len(failed)} sweep worker(s) stopped with an error (exit codes {failed}); see above, then --resume {path}"
        )
