"""Run directories written before parts had option tables (flat keys such as model.prior_components,
train.k) still load, evaluate and resume. The fixtures were trained by that older layout."""

import shutil
from pathlib import Path

import pytest
import torch

from vaekit.checkpoint import RunDir
from vaekit.cli import main
from vaekit.data import load_data

OLD = Path(__file__).resolve().parent / "fixtures" / "old_runs"

EXPECTED = {  # run -> (likelihood, posterior, prior, objective) as kind and options
    "vamp_iwae": ({"kind": "gaussian", "scale": 0.3}, {"kind": "diagonal"}, {"kind": "vamp", "components": 3},
                  {"kind": "iwae", "k": 2, "estimator": "dreg"}),
    "vq": ({"kind": "bernoulli"}, {"kind": "vq", "codes": 4, "code_dim": 2, "decay": 0.99, "commitment": 0.25}, {"kind": "normal"},
           {"kind": "elbo", "capacity_max": 0.0, "capacity_steps": 10000}),
    "planar_capacity": ({"kind": "bernoulli"}, {"kind": "planar", "steps": 2}, {"kind": "normal"},
                        {"kind": "elbo", "capacity_max": 5.0, "capacity_steps": 10}),
    "iaf_mixture_dlogistic": ({"kind": "dlogistic", "bins": 17, "location": "sigmoid"}, {"kind": "iaf", "steps": 1, "hidden": 8},
                              {"kind": "mixture", "components": 2}, {"kind": "elbo", "capacity_max": 0.0, "capacity_steps": 10000}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_run_directory_loads_with_its_parts_and_weights(name):
    run = RunDir(OLD / name)
    m, t = run.config.model, run.config.train
    got = (m.likelihood.to_dict(), m.posterior.to_dict(), m.prior.to_dict(), t.objective.to_dict())
    assert got == EXPECTED[name]
    model = run.load_model()
    x = load_data(run.config.data).test.x[:8]
    with torch.no_grad():
        assert torch.isfinite(model.decode(model.encode(x).mean).log_prob(x)).all()


@pytest.mark.parametrize("name", ["vamp_iwae", "planar_capacity"])
def test_old_run_resumes_and_evaluates(tmp_path, name):
    run = tmp_path / name
    shutil.copytree(OLD / name, run)
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert RunDir(run).train_state()["epoch"] == 2
    assert main(["evaluate", str(run), "--metrics", "elbo", "--split", "validation"]) == 0
