"""Every model part through the trainer: the terms it logs, a save/load round trip through the run
directory, and resume with identical results for the parts that add state."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

import vaekit
from vaekit.checkpoint import RunDir
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.errors import ConfigError
from vaekit.training.loop import fit
from vaekit.training.objectives import make_objective

PARTS = {  # name -> (model settings, train settings, metrics the run must log)
    "iwae": ({}, {"objective": "iwae", "k": 3}, {"iwae"}),
    "dreg": ({}, {"objective": "iwae", "k": 3, "iwae_estimator": "dreg"}, {"iwae"}),
    "btcvae": ({}, {"objective": "btcvae", "beta": 4.0}, {"mi", "tc", "dwkl"}),
    "capacity": ({}, {"capacity_max": 5.0, "capacity_steps": 10, "beta": 20.0}, {"capacity"}),
    "mixture": ({"prior": "mixture", "prior_components": 3}, {}, set()),
    "vamp": ({"prior": "vamp", "prior_components": 3}, {}, set()),
    "full": ({"posterior": "full"}, {}, set()),
    "planar": ({"posterior": "planar", "flow_steps": 2}, {}, set()),
    "iaf": ({"posterior": "iaf", "flow_steps": 2, "flow_hidden": 16}, {}, set()),
    "ladder": ({"latent_dims": (4, 2), "latent_hidden": (16,)}, {}, set()),
    "vq": ({"posterior": "vq", "latent_dim": 8, "vq_dim": 4, "vq_codes": 8}, {}, {"perplexity", "aux_loss"}),
    "conditional": ({"conditional": True}, {}, set()),
    "resnet": ({"arch": "resnet", "channels": (8,), "res_blocks": 1}, {}, set()),
    "vaegan": ({"arch": "conv", "channels": (8,)}, {"objective": "vaegan", "disc_channels": (8,)}, {"gan_loss", "disc_loss"}),
}


def part_config(name: str, **train) -> RunConfig:
    m, t, _ = PARTS[name]
    model = dict(arch="mlp", latent_dim=4, hidden=(32,))
    model.update(m)
    tt = dict(epochs=2, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False)
    tt.update(t)
    tt.update(train)
    return RunConfig.from_dict(
        {"data": {"source": "digits", "limit": 192}, "model": model, "train": tt}
    )  # flat keys of older configs fold into part tables


def last_state(path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path / "train_state.safetensors")).items() if not k.startswith("rng.")}


@pytest.mark.parametrize("name", list(PARTS))
def test_part_trains_logs_its_terms_and_round_trips_through_the_run_directory(tmp_path, name):
    run = fit(part_config(name), tmp_path / "r")
    rows = run.history
    assert PARTS[name][2] <= set(rows[-1]), set(rows[-1])
    assert all(torch.isfinite(torch.tensor(r["val_elbo"])) for r in rows)
    loaded = vaekit.load(tmp_path / "r")
    x = load_data(DataConfig(source="digits")).test.x[:6]
    y = torch.arange(6) % 10 if loaded.conditional else None
    torch.manual_seed(0)
    a = loaded.reconstruct(x, condition=y)
    torch.manual_seed(0)
    b = run.model.reconstruct(x, condition=y)
    torch.testing.assert_close(a, b)
    assert loaded.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 1, 8, 8)


@pytest.mark.parametrize("name", ["vq", "vaegan", "iwae"])
def test_resume_with_extra_state_matches_an_uninterrupted_run(tmp_path, name):
    """EMA codebook buffers (vq), the discriminator and its optimizer (vaegan), (k, B, D) noise (iwae)."""
    fit(part_config(name, epochs=3), tmp_path / "full")
    fit(part_config(name, epochs=1), tmp_path / "part")
    fit(part_config(name, epochs=3), tmp_path / "part", resume=True)
    a, b = last_state(tmp_path / "full"), last_state(tmp_path / "part")
    assert a.keys() == b.keys()
    if name == "vaegan":
        assert any(k.startswith("extra.disc.") for k in a) and any(k.startswith("optim_disc.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_vq_run_fits_its_code_prior_after_training(tmp_path):
    run = fit(part_config("vq"), tmp_path / "r")
    logits = run.model.prior.logits
    assert not torch.allclose(logits, torch.zeros_like(logits))  # no longer uniform
    assert "code_prior" in RunDir(tmp_path / "r").model_metadata()
    state_logits = last_state(tmp_path / "r")["model.prior.logits"]
    torch.testing.assert_close(state_logits, torch.zeros_like(state_logits))  # training state untouched: resumable


def test_conditional_run_resolves_classes_and_samples_a_label_from_the_cli(tmp_path):
    from vaekit.cli import main

    fit(part_config("conditional"), tmp_path / "c")
    saved = json.loads((tmp_path / "c" / "config.json").read_text())
    assert saved["config"]["model"]["condition_dim"] == 10
    fit(part_config("conditional", epochs=3), tmp_path / "c", resume=True)  # the resolved value is kept
    assert main(["sample", str(tmp_path / "c"), "-n", "4", "--label", "3", "--out", str(tmp_path / "s.npy")]) == 0
    assert main(["sample", str(tmp_path / "c"), "--label", "12", "--out", str(tmp_path / "t.npy")]) == 1
    model = vaekit.load(tmp_path / "c")
    a = model.sample(4, generator=torch.Generator().manual_seed(0), condition=3)
    import numpy as np

    torch.testing.assert_close(torch.from_numpy(np.load(tmp_path / "s.npy")), a)


def test_conditional_needs_labels_and_single_process_objectives_refuse_ddp(tmp_path):
    from vaekit.data import DataSplits, Split

    x = torch.rand(60, 4)
    data = DataSplits("t", "tabular", (4,), Split(x[:40]), Split(x[40:50]), Split(x[50:]))
    cfg = dataclasses.replace(part_config("conditional"), model=ModelConfig(latent_dim=2, hidden=(8,), conditional=True))
    with pytest.raises(ConfigError, match="needs labels"):
        fit(cfg, tmp_path / "r", data=data)
    model = vaekit.core.build_model(ModelConfig(latent_dim=2, hidden=(8,)), (4,))
    for objective in ("btcvae", "vaegan"):
        t = TrainConfig(objective=objective)
        with pytest.raises(ConfigError, match="one process"):
            make_objective(t, model, steps_per_epoch=1, dataset_size=10, world_size=2)
    with pytest.raises(ConfigError, match="capacity"):
        TrainConfig(objective={"kind": "iwae", "capacity_max": 3.0})
