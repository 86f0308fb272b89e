import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vaekit
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.errors import ConfigError, RunDirError, TrainingError
from vaekit.training.loop import fit

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(**train) -> RunConfig:
    t = dict(epochs=2, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False)
    t.update(train)
    return RunConfig(
        data=DataConfig(source="digits", limit=256),
        model=ModelConfig(arch="mlp", latent_dim=4, hidden=(32,)),
        train=TrainConfig(**t),
        seed=0,
    )


def weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path / "train_state.safetensors")).items() if k.startswith("model.")}


def test_fit_writes_a_complete_run_directory(tmp_path):
    run = fit(tiny_config(epochs=3, tensorboard=True), tmp_path / "r")
    d = run.path
    for name in (
        "config.json",
        "model.safetensors",
        "train_state.safetensors",
        "metrics.jsonl",
        "samples.png",
        "reconstructions.png",
        "curves.png",
    ):
        assert (d / name).is_file(), name
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"loss", "recon_nll", "kl", "val_elbo", "val_recon_nll", "val_kl", "lr"} <= set(rows[0])
    assert rows[-1]["val_elbo"] > rows[0]["val_elbo"]  # it learns
    assert run.progress.finished and run.progress.stop_reason == "completed"
    assert run.progress.best_val_elbo == max(r["val_elbo"] for r in rows)
    pytest.importorskip("tensorboard")
    assert any((d / "tensorboard").iterdir())
    assert not list(d.glob(".*.tmp"))


def test_load_returns_best_weights_and_encodes(tmp_path):
    fit(tiny_config(), tmp_path / "r")
    model = vaekit.load(tmp_path / "r")
    x = load_data(DataConfig(source="digits")).test.x[:5]
    qz = model.encode(x)
    assert qz.mean.shape == (5, 4)
    assert model.decode(qz.mean).mean.shape == x.shape
    assert model.sample(3).shape == (3, 1, 8, 8)


def test_same_seed_same_weights_and_other_seed_differs(tmp_path):
    fit(tiny_config(), tmp_path / "a")
    fit(tiny_config(), tmp_path / "b")
    fit(dataclasses.replace(tiny_config(), seed=1), tmp_path / "c")
    a, b, c = weights(tmp_path / "a"), weights(tmp_path / "b"), weights(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_in_process_matches_uninterrupted(tmp_path):
    fit(tiny_config(epochs=4), tmp_path / "full")
    fit(tiny_config(epochs=2), tmp_path / "part")
    fit(tiny_config(epochs=4), tmp_path / "part", resume=True)  # extend: epochs is resumable
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x) for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


@pytest.mark.slow
def test_sigkill_then_resume_ends_with_identical_weights(tmp_path):
    """Kill a CLI training process with SIGKILL after its 3rd checkpoint; resume; compare."""
    args = [
        "train", "--data", "digits", "--limit", "1024", "--model", "mlp", "--latent-dim", "4",
        "--epochs", "30", "--batch-size", "16", "--threads", "1", "--no-progress",
        "--set", "model.hidden=[64]", "--set", "train.tensorboard=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "vaekit.cli"]
    subprocess.run(cmd + args + ["--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        cmd + args + ["--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    state_file = tmp_path / "killed" / "train_state.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state_file.is_file() and vaekit.checkpoint.RunDir(tmp_path / "killed").train_state()["epoch"] >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = vaekit.checkpoint.RunDir(tmp_path / "killed").train_state()
    assert 3 <= state["epoch"] < 30, "the kill should land mid-run"
    subprocess.run(
        cmd + ["train", "--resume", str(tmp_path / "killed"), "--no-progress"], check=True, env=env, capture_output=True
    )
    a, b = weights(tmp_path / "full"), weights(tmp_path / "killed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_batches_are_skipped_and_counted(tmp_path):
    cfg = tiny_config(epochs=1, batch_size=16)
    data = load_data(cfg.data)
    x = data.train.x.clone()
    x[:3] = float("inf")  # lands in a few batches after shuffling (NaN would mean "missing")
    poisoned = dataclasses.replace(data, train=dataclasses.replace(data.train, x=x))
    run = fit(cfg, tmp_path / "r", data=poisoned)
    assert 1 <= run.progress.bad_steps <= 3
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "r").values())


def test_repeated_nans_stop_with_a_clear_error_and_keep_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(epochs=1, max_bad_steps=3)
    fit(cfg, tmp_path / "r")
    good = weights(tmp_path / "r")
    data = load_data(cfg.data)
    poisoned = dataclasses.replace(data, train=dataclasses.replace(data.train, x=torch.full_like(data.train.x, float("inf"))))
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=2))
    with pytest.raises(TrainingError, match="3 consecutive steps had a NaN/Inf"):
        fit(longer, tmp_path / "r", resume=True, data=poisoned)
    after = weights(tmp_path / "r")
    assert all(torch.equal(good[k], after[k]) for k in good)


def test_early_stopping(tmp_path, monkeypatch):
    import vaekit.training.loop as loop

    real = loop.mean_elbo
    calls = iter(range(100))

    def worsening(model, x, batch_size):
        r = real(model, x, batch_size)
        worse = 100.0 + next(calls)
        return dataclasses.replace(r, elbo=-worse, recon_nll=worse, kl=0.0)

    monkeypatch.setattr(loop, "mean_elbo", worsening)
    run = fit(tiny_config(epochs=10, early_stopping=2), tmp_path / "r")
    assert run.progress.epoch == 3 and "early stopping" in run.progress.stop_reason
    assert run.progress.best_epoch == 1


def test_max_time_stops_after_the_current_epoch(tmp_path):
    run = fit(tiny_config(epochs=50, max_time=1e-6), tmp_path / "r")
    assert run.progress.epoch == 1 and "max_time" in run.progress.stop_reason


@pytest.mark.parametrize("schedule", ["cosine", "step", "plateau"])
def test_lr_schedules_change_the_logged_lr(tmp_path, schedule):
    cfg = tiny_config(epochs=3, lr_schedule=schedule, lr_step_epochs=1, lr_gamma=0.5, lr_patience=0)
    run = fit(cfg, tmp_path / "r")
    lrs = [r["lr"] for r in run.history]
    if schedule == "plateau":
        assert all(lr <= 3e-3 for lr in lrs)
    else:
        assert lrs[-1] < lrs[0]


def test_dropout_weight_decay_adamw_kl_warmup_free_bits_and_clipping_all_train(tmp_path):
    cfg = tiny_config(optimizer="adamw", weight_decay=0.01, kl_warmup_epochs=1.0, free_bits=0.1, grad_clip=1.0)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dropout=0.2))
    run = fit(cfg, tmp_path / "r")
    assert run.history[0]["kl_weight"] == pytest.approx(1.0)
    assert all(math.isfinite(r["val_elbo"]) for r in run.history)


def test_existing_run_is_not_overwritten(tmp_path):
    fit(tiny_config(epochs=1), tmp_path / "r")
    with pytest.raises(RunDirError, match="--resume"):
        fit(tiny_config(epochs=1), tmp_path / "r")


def test_resume_refuses_changes_that_alter_results(tmp_path):
    fit(tiny_config(epochs=1), tmp_path / "r")
    changed = dataclasses.replace(tiny_config(epochs=1), seed=5)
    with pytest.raises(ConfigError, match="cannot change seed"):
        fit(changed, tmp_path / "r", resume=True)


def test_dynamic_binarization_trains_on_binary_draws(tmp_path):
    cfg = tiny_config(epochs=1)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, binarize="dynamic"))
    run = fit(cfg, tmp_path / "r")
    assert math.isfinite(run.progress.best_val_elbo)
    with pytest.raises(ConfigError, match="bernoulli"):
        fit(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, likelihood="gaussian")), tmp_path / "g")


def test_nan_entries_are_missing_values_scored_only_where_observed(tmp_path):
    """Tabular gaps: NaN cells are left out of the likelihood, so training stays finite."""
    from vaekit.data import DataSplits, Split

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g)
    x[:, 1] = x[:, 0] * 2
    holes = torch.rand(300, 5, generator=g) < 0.2
    x_missing = torch.where(holes, torch.full_like(x, float("nan")), x)
    data = DataSplits("t", "tabular", (5,), Split(x_missing[:200]), Split(x_missing[200:250]), Split(x[250:]))
    cfg = dataclasses.replace(
        tiny_config(epochs=3), model=ModelConfig(arch="mlp", latent_dim=2, hidden=(16,), likelihood="gaussian-learned")
    )
    run = fit(cfg, tmp_path / "r", data=data)
    assert run.progress.bad_steps == 0
    assert all(math.isfinite(r["val_elbo"]) for r in run.history)
