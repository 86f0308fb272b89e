"""vaekit sweep on digits: a tiny study, pruning that prunes, resume after SIGKILL, criteria, workers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit.cli import main
from vaekit.config import RunConfig, load_config
from vaekit.errors import ConfigError, RunDirError

optuna = pytest.importorskip("optuna")

from vaekit.sweep import SweepSpec, run_sweep, start_sweep, write_report  # noqa: E402
from vaekit.sweep.report import trial_rows  # noqa: E402

BASE = {
    "data": {"source": "digits", "limit": 300},
    "model": {"arch": "mlp", "hidden": [16], "latent_dim": 4},
    "train": {"epochs": 3, "batch_size": 50, "lr": 3e-3, "threads": 1, "tensorboard": False, "progress": False},
}
BASE_ARGS = ["--data", "digits", "--set", "data.limit=300", "--set", "model.hidden=[16]", "--set", "train.batch_size=50",
             "--set", "train.threads=1", "--set", "train.tensorboard=false"]  # fmt: skip


def states(path: Path) -> dict[int, str]:
    return {r.number: r.state for r in trial_rows(path, SweepSpec.load(path))}


def test_a_tiny_study_writes_run_dirs_a_report_and_a_best_config_train_accepts(tmp_path, capsys):
    out = tmp_path / "s"
    code = main(["sweep", *BASE_ARGS, "--epochs", "3", "--space", "model.latent_dim=2..8:log", "--space", "train.lr=1e-3..1e-2:log",
                 "--trials", "4", "--pruner", "none", "--out", str(out)])  # fmt: skip
    assert code == 0
    rows = trial_rows(out, SweepSpec.load(out))
    assert [r.state for r in rows] == ["complete"] * 4
    for r in rows:  # each trial is an ordinary run directory with the sampled values
        cfg = json.loads((out / r.attrs["run_dir"] / "config.json").read_text())["config"]
        assert cfg["model"]["latent_dim"] == r.params["model.latent_dim"] and cfg["train"]["lr"] == r.params["train.lr"]
        history = [json.loads(line) for line in (out / r.attrs["run_dir"] / "metrics.jsonl").read_text().splitlines()]
        assert r.value == pytest.approx(max(h["val_elbo"] for h in history))  # the criterion: best validation ELBO
        assert 0 <= r.attrs["active_units"] <= r.params["model.latent_dim"] and r.attrs["epochs"] == 3
    best = max(rows, key=lambda r: r.value)
    best_cfg = load_config(out / "best.toml")
    trial_cfg = RunConfig.from_dict(json.loads((out / best.attrs["run_dir"] / "config.json").read_text())["config"])
    assert best_cfg == trial_cfg.replace(train=trial_cfg.train.__class__(**{**trial_cfg.train.__dict__, "progress": True}))
    text = (out / "report.md").read_text()
    assert f"| {best.number} * |" in text and "model.latent_dim" in text
    assert (out / "objective.png").stat().st_size > 1000 and (out / "trials.csv").read_text().count("\n") == 5
    # the best config trains as it is
    assert (
        main(["train", "--config", str(out / "best.toml"), "--epochs", "1", "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    )
    # a second sweep into the same directory is refused; a resume asking for no more trials does nothing
    with pytest.raises(RunDirError, match="already holds a sweep"):
        start_sweep(out, SweepSpec(base=BASE, space=("train.beta=1..2",)))
    run_sweep(out)
    assert len(states(out)) == 4


def grid_seed_with_first(values: list[str], first: set[str]) -> int:
    """A sampler seed whose (shuffled) grid visits the values in ``first`` before the others."""
    for seed in range(100):
        study = optuna.create_study(sampler=optuna.samplers.GridSampler({"train.lr": values}, seed=seed))
        dist = optuna.distributions.CategoricalDistribution(values)
        asked = [study.ask({"train.lr": dist}) for _ in first]
        if {t.params["train.lr"] for t in asked} == first:
            return seed
    raise AssertionError("no seed puts those values first")


def test_pruning_stops_the_clearly_bad_trials(tmp_path):
    # two good learning rates finish first, then two hopeless ones meet the median pruner
    values = ["0.01", "0.005", "1e-6", "2e-6"]
    seed = grid_seed_with_first(values, {"0.01", "0.005"})
    spec = SweepSpec(base={**BASE, "train": {**BASE["train"], "epochs": 6}}, space=(f"train.lr={','.join(values)}",),
                     sampler="grid", pruner="median", prune_startup=2, prune_warmup=1, seed=seed)  # fmt: skip
    out = start_sweep(tmp_path / "s", spec)
    run_sweep(out)
    rows = {r.params["train.lr"]: r for r in trial_rows(out, SweepSpec.load(out))}
    assert {lr: r.state for lr, r in rows.items()} == {
        "0.01": "complete",
        "0.005": "complete",
        "1e-6": "pruned",
        "2e-6": "pruned",
    }
    assert all(rows[lr].attrs["epochs"] < 6 for lr in ("1e-6", "2e-6")) and rows["0.01"].attrs["epochs"] == 6
    assert "pruned" in write_report(out)


@pytest.mark.slow
def test_a_sweep_killed_mid_trial_resumes_that_trial_from_its_checkpoint(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "vaekit", "sweep", *BASE_ARGS, "--epochs", "12", "--set", "train.lr=0.003",
           "--space", "model.latent_dim=2,3", "--sampler", "grid", "--trials", "1", "--pruner", "none", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = out / "trials" / "0000" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(metrics.read_text().splitlines())
    assert 2 <= done < 12 and states(out) == {0: "running"}

    run_sweep(out)  # resume: trial 0 continues from its checkpoint
    assert states(out) == {0: "complete"}
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == list(range(1, 13))
    # and it ends where an uninterrupted run of the same config ends
    from vaekit.training.loop import fit

    cfg = RunConfig.from_dict(json.loads((metrics.parent / "config.json").read_text())["config"])
    fit(cfg, tmp_path / "straight", figures=False)
    killed = load_file(str(metrics.parent / "train_state.safetensors"))
    straight = load_file(str(tmp_path / "straight" / "train_state.safetensors"))
    assert all(torch.equal(killed[k], straight[k]) for k in straight if k.startswith("model."))


@pytest.mark.parametrize("select", ["val_nll", "probe", "auroc"])
def test_other_criteria_are_computed_on_the_validation_split(tmp_path, select):
    base = {
        **BASE,
        "data": {**BASE["data"], **({"classes": [0, 1]} if select == "auroc" else {})},
        "train": {**BASE["train"], "epochs": 2},
    }
    spec = SweepSpec(base=base, space=("model.latent_dim=2,4",), sampler="grid", pruner="none", select=select, k=8)
    out = start_sweep(tmp_path / "s", spec)
    run_sweep(out)
    for r in trial_rows(out, spec):
        assert r.state == "complete"
        if select == "val_nll":  # the importance-weighted bound is at least as tight as the ELBO (same weights)
            assert r.value <= -r.attrs["val_elbo"] + 0.5
        else:
            assert 0.0 <= r.value <= 1.0
    if select == "val_nll":
        assert SweepSpec.load(out).direction == "minimize"


def test_auroc_needs_normal_classes():
    with pytest.raises(ConfigError, match="data.classes"):
        SweepSpec(base=BASE, space=("train.beta=1..2",), select="auroc").check()


@pytest.mark.slow
def test_two_workers_share_one_study_and_run_exactly_the_trials_asked(tmp_path):
    spec = SweepSpec(base={**BASE, "train": {**BASE["train"], "threads": "auto", "epochs": 1}}, space=("train.lr=1e-3..1e-2:log",),
                     trials=3, pruner="none")  # fmt: skip
    out = start_sweep(tmp_path / "s", spec)
    run_sweep(out, jobs=2)
    rows = trial_rows(out, spec)
    assert [r.state for r in rows] == ["complete"] * 3
    threads = {json.loads((out / r.attrs["run_dir"] / "metrics.jsonl").read_text().splitlines()[0])["threads"] for r in rows}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert threads == {max(1, cores // 2)}  # each worker its share of the cores
