"""Posterior collapse: diagnosed in one line at the end of training; the Gaussian default scale does not collapse."""

import json
import math

import torch

from vaekit.checkpoint import RunDir
from vaekit.cli import main
from vaekit.config import ModelConfig, RunConfig, TrainConfig
from vaekit.core import build_model
from vaekit.training.diagnosis import Collapse, collapse_note

TRAIN = ["--data", "digits", "--set", "model.hidden=[64]", "--set", "model.latent_dim=4", "--set", "train.epochs=4",
         "--set", "train.batch_size=32", "--set", "train.threads=1", "--set", "train.tensorboard=false", "--no-progress"]  # fmt: skip


def test_the_note_names_the_collapse_and_only_the_remedies_that_apply():
    cfg = RunConfig(model=ModelConfig(likelihood={"kind": "gaussian", "scale": 1.0}))
    note = collapse_note(Collapse(kl=0.02, active=0, latent_dim=16), cfg)
    assert note.startswith("posterior collapse: validation KL 0.02 nats, 0 of 16 latent units active")
    assert "\n" not in note and "kl_warmup_epochs" in note and "free_bits" in note and "model.likelihood.scale" in note
    assert collapse_note(Collapse(kl=0.02, active=None, latent_dim=4), cfg) is not None  # KL alone tells
    assert collapse_note(Collapse(kl=12.0, active=3, latent_dim=16), cfg) is None
    assert collapse_note(Collapse(kl=3.0, active=0, latent_dim=16), cfg) is not None  # no unit carries anything
    tried = RunConfig(model=ModelConfig(likelihood="bernoulli"), train=TrainConfig(kl_warmup_epochs=5, free_bits=0.1))
    note = collapse_note(Collapse(kl=0.1, active=0, latent_dim=4), tried)
    assert (
        "kl_warmup" not in note and "free_bits" not in note and "model.likelihood.scale" not in note and "weaker decoder" in note
    )


def test_training_says_when_the_posterior_collapsed(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                *TRAIN,
                "--set",
                "model.likelihood.kind=gaussian",
                "--set",
                "model.likelihood.scale=1.0",
                "--out",
                str(tmp_path / "one"),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("posterior collapse: validation KL") and "model.likelihood.scale" in lines[-1]
    assert main(["train", *TRAIN, "--set", "model.likelihood=gaussian", "--out", str(tmp_path / "default")]) == 0
    out = capsys.readouterr().out
    assert "posterior collapse" not in out  # the default scale on pixels keeps the codes in use
    kl = RunDir(tmp_path / "default").metrics()[-1]["val_kl"]
    assert kl > 1.0


def test_the_default_scale_follows_the_data_and_saved_scales_are_kept(tmp_path):
    assert ModelConfig(likelihood="gaussian").likelihood.options.scale is None
    image = build_model(ModelConfig(likelihood="gaussian"), (1, 8, 8))
    table = build_model(ModelConfig(likelihood="gaussian"), (5,))
    assert math.isclose(float(image.likelihood.log_scale.exp().mean()), 0.1, rel_tol=1e-6)
    assert math.isclose(float(table.likelihood.log_scale.exp().mean()), 1.0, rel_tol=1e-6)
    # a run directory written when the default was 1.0 stores it explicitly, and loads with it
    assert (
        main(["train", *TRAIN, "--set", "train.epochs=1", "--set", "model.likelihood=gaussian", "--out", str(tmp_path / "r")])
        == 0
    )
    raw = json.loads((tmp_path / "r" / "config.json").read_text())
    raw["config"]["model"]["likelihood"] = "gaussian"  # the older layout: a name and a flat model.scale
    raw["config"]["model"]["scale"] = 1.0
    (tmp_path / "r" / "config.json").write_text(json.dumps(raw))
    model = RunDir(tmp_path / "r").load_model()
    assert torch.allclose(model.likelihood.log_scale.exp(), torch.ones(1))
