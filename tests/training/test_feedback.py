"""Feedback while it works: the progress line's validation ELBO, evaluate's progress, TensorBoard pictures."""

import io

import pytest
import torch

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.evaluation import evaluate
from vaekit.evaluation.likelihood import iwae_nll
from vaekit.training.logs import EpochBar
from vaekit.training.loop import fit


def _cfg(**train) -> RunConfig:
    return RunConfig(
        data=DataConfig(source="digits", limit=120),
        model=ModelConfig(arch="mlp", latent_dim=3, hidden=(16,)),
        train=TrainConfig(**{"epochs": 2, "batch_size": 32, "threads": 1, "tensorboard": False, "log_every": 1, **train}),
    )


def test_the_bar_keeps_the_last_validation_elbo_beside_the_step_loss():
    out = io.StringIO()
    bar = EpochBar(total=10, file=out, mininterval=0)
    bar.set_postfix(epoch=1, loss="12.000")
    assert "val_elbo" not in bar.postfix
    bar.show_validation(-34.56789)
    bar.set_postfix(epoch=2, loss="11.000")  # the next step's update keeps it
    assert "epoch=2" in bar.postfix and "val_elbo=-34.568" in bar.postfix
    bar.close()


def test_training_progress_shows_the_validation_elbo(tmp_path, capsys):
    run = fit(_cfg(progress=True), tmp_path / "run", figures=False)
    err = capsys.readouterr().err
    assert f"val_elbo={run.history[-1]['val_elbo']:.3f}" in err


def test_evaluate_shows_progress_over_metrics_and_iwae_rows(tmp_path, capsys):
    run = fit(_cfg(progress=False), tmp_path / "run", figures=False)
    data = load_data(run.config.data)
    done: list[int] = []
    iwae_nll(run.model, data.test.x, 4, batch_size=50, progress=done.append)
    assert sum(done) == len(data.test) and len(done) == -(-len(data.test) // 50)
    capsys.readouterr()
    evaluate(run.model, data, "test", "nll,elbo", k=8, progress=True)
    err = capsys.readouterr().err
    assert "evaluate: nll" in err and "evaluate: elbo" in err and "nll, k=8" in err and "2/2" in err


def test_tensorboard_gets_samples_and_reconstructions_each_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fit(_cfg(progress=False, tensorboard=True), tmp_path / "run", figures=False)
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    images = acc.Tags()["images"]
    assert "samples" in images and "reconstructions" in images
    assert [e.step for e in acc.Images("samples")] == [1, 2]
    recon = acc.Images("reconstructions")[-1]
    assert recon.height > 8 and recon.width > 8
    assert torch.isfinite(torch.tensor(acc.Scalars("val_elbo")[-1].value))
