"""Ratings runs in the training loop: sparse batches under DDP, best_by, resume."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.training import launch
from vaekit.training.loop import fit


def cfg(path, **train) -> RunConfig:
    t = dict(epochs=2, batch_size=10, lr=3e-3, beta=0.2, progress=False, threads=1, tensorboard=False)
    return RunConfig(
        data=DataConfig(source=f"ratings:{path}", heldout_users=6),
        model=ModelConfig(hidden=(16,), latent_dim=3, activation="tanh", likelihood="multinomial", normalize_input=True),
        train=TrainConfig(**{**t, **train}),
    )


def last_weights(path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path / "train_state.safetensors")).items() if k.startswith("model.")}


@pytest.mark.slow
def test_two_processes_on_sparse_batches_match_one(tmp_path, ratings_file):
    c = cfg(ratings_file())  # 48 training users: 4 global batches of 10 and one of 8, split over 2 ranks
    single = fit(c, tmp_path / "single")
    launch.launch(c, tmp_path / "multi", devices=2)
    a, b = last_weights(tmp_path / "single"), last_weights(tmp_path / "multi")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    multi = [line for line in (tmp_path / "multi" / "metrics.jsonl").read_text().splitlines() if line]
    val = [json.loads(line)["val_ndcg@100"] for line in multi]
    assert val == pytest.approx([row["val_ndcg@100"] for row in single.history], rel=1e-4)  # reduced over both shards


def test_best_by_is_checked_against_the_data(tmp_path, ratings_file):
    with pytest.raises(ConfigError, match="needs a ratings:PATH source"):
        fit(RunConfig(data=DataConfig(limit=64), train=TrainConfig(epochs=1, best_by="ndcg@10", progress=False)), tmp_path / "a")
    with pytest.raises(ConfigError, match="train.best_by 'nll'"):
        fit(cfg(ratings_file(), best_by="nll"), tmp_path / "b")


def test_best_by_elbo_keeps_the_epoch_of_best_validation_elbo_and_a_run_resumes(tmp_path, ratings_file):
    c = cfg(ratings_file(), epochs=3, best_by="elbo")
    run = fit(c, tmp_path / "r")
    best = max(run.history, key=lambda r: r["val_elbo"])["epoch"]
    assert run.progress.best_epoch == best
    more = fit(dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=4)), tmp_path / "r", resume=True)
    assert more.progress.epoch == 4 and len(more.history) == 4


def test_a_codebook_posterior_on_ratings_is_refused_before_training(tmp_path, ratings_file):
    """The VQ code prior is fitted on dense training data; ratings are held sparse, so say so up front."""
    c = cfg(ratings_file())
    c = dataclasses.replace(c, model=dataclasses.replace(c.model, posterior={"kind": "vq", "codes": 4, "code_dim": 3}))
    with pytest.raises(ConfigError, match="held sparse"):
        fit(c, tmp_path / "r")
    assert not (tmp_path / "r" / "model.safetensors").exists()
