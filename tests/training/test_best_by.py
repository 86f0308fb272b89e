"""Which validation number keeps the best epoch: a run trained on the k-sample bound keeps the epoch of
best validation bound (the ELBO it does not optimise can fall while the bound rises)."""

import json

import pytest
import torch

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.errors import ConfigError
from vaekit.evaluation.likelihood import iwae_nll
from vaekit.training import best
from vaekit.training.loop import fit


def test_auto_follows_the_objective_and_bad_choices_name_the_valid_ones():
    iwae = {"kind": "iwae", "k": 3}
    assert best.resolve_best_by(TrainConfig(objective=iwae), "dense") == "iwae"
    assert best.iwae_samples(TrainConfig(objective=iwae)) == 3
    assert best.resolve_best_by(TrainConfig(), "dense") == "elbo"
    assert best.iwae_samples(TrainConfig()) == 5
    assert best.resolve_best_by(TrainConfig(objective=iwae, best_by="elbo"), "dense") == "elbo"  # still the user's call
    assert best.resolve_best_by(TrainConfig(best_by="iwae"), "dense") == "iwae"
    assert best.resolve_best_by(TrainConfig(objective=iwae), "ratings") == "ndcg@100"
    with pytest.raises(ConfigError, match="ratings run takes"):
        best.resolve_best_by(TrainConfig(best_by="iwae"), "ratings")
    with pytest.raises(ConfigError, match="'iwae'"):
        best.resolve_best_by(TrainConfig(best_by="likelihood"), "dense")


def test_an_iwae_run_keeps_the_epoch_of_best_validation_bound_and_logs_it(tmp_path):
    cfg = RunConfig(
        data=DataConfig(source="digits", limit=200),
        model=ModelConfig(latent_dim=2, hidden=(16,)),
        train=TrainConfig(
            epochs=5, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False, objective={"kind": "iwae", "k": 3}
        ),
    )
    run = fit(cfg, tmp_path / "r", figures=False)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    bounds = [r["val_iwae"] for r in rows]
    best = max(range(len(rows)), key=lambda i: (bounds[i], -i))  # the first epoch of the highest bound
    assert run.progress.best_val_score == pytest.approx(bounds[best])
    assert run.progress.best_epoch == best + 1
    assert run.progress.best_val_elbo == pytest.approx(max(r["val_elbo"] for r in rows))

    # the logged bound is the evaluator's k = 3 bound on the validation split, for the kept weights
    x = load_data(cfg.data).split("validation").x
    nll = iwae_nll(run.model, x, 3, batch_size=cfg.train.eval_batch_size, generator=torch.Generator().manual_seed(0))
    assert -nll.mean == pytest.approx(bounds[best], abs=1e-6)
    assert bounds[best] > rows[best]["val_elbo"]  # the k-sample bound is the tighter one
