import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit.cli as cli
from vaekit.checkpoint import MODEL, RunDir, RunInfo, save_tensors, write_config
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.core import build_model
from vaekit.data import load_data
from vaekit.errors import ConfigError, DataError
from vaekit.evaluation import EvalReport, evaluate, iwae_nll

MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
BINARIZED = MNIST.parent / "binarized_mnist"


def main(argv: list[str]) -> int:
    # the lead adds "evaluate" to cli.COMMAND_MODULES; until then the test registers it itself
    if "evaluate" not in cli.COMMAND_MODULES:
        cli.COMMAND_MODULES.append("evaluate")
    return cli.main(argv)


def config(
    binarize: str = "none", seed: int = 0, source: str = "digits", data_dir: str | None = None, limit: int = 300
) -> RunConfig:
    return RunConfig(
        data=DataConfig(source=source, data_dir=data_dir, limit=limit, binarize=binarize, download=False),
        model=ModelConfig(arch="mlp", latent_dim=3, hidden=(16,)),
        train=TrainConfig(epochs=2, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False),
        seed=seed,
    )


def fit(cfg: RunConfig, out: Path) -> Path:
    """A run directory as training leaves it, with untrained weights (evaluation needs no more)."""
    data = load_data(cfg.data)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.shape)
    out.mkdir(parents=True)
    write_config(out, cfg, RunInfo(data.shape, data.kind, data.checksum, data.num_classes))
    save_tensors(out / MODEL, model.state_dict())
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    fit(config(), root / "a")
    fit(config(seed=1), root / "b")
    return root


def test_evaluate_writes_eval_json_with_its_settings_and_prints_a_table(runs, capsys):
    assert main(["evaluate", str(runs / "a"), "--split", "test", "-k", "50", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "nll" in out and "k=50" in out and "active_units" in out
    rep = json.loads((runs / "a" / "eval.json").read_text())
    data = load_data(dataclasses.replace(RunDir(runs / "a").config.data, limit=None))  # the whole source is scored
    assert rep["split"] == "test" and rep["seed"] == 3 and rep["data"]["checksum"] == data.checksum
    assert rep["details"]["nll"]["k"] == 50 and rep["details"]["nll"]["seed"] == 3
    assert rep["n"] == len(data.test)
    s = rep["summary"]
    assert s["nll"] <= -s["elbo"] + 3 * s["nll_stderr"]  # the k=50 bound is tighter than the ELBO
    assert s["nll_bpd"] == pytest.approx(s["nll"] / (64 * np.log(2)))
    assert not list((runs / "a").glob(".*.tmp"))
    # the same seed gives the same numbers; a second evaluation of other metrics merges into the file
    assert main(["evaluate", str(runs / "a"), "-k", "50", "--seed", "3", "--metrics", "nll,probe"]) == 0
    again = json.loads((runs / "a" / "eval.json").read_text())
    assert again["summary"]["nll"] == s["nll"] and "probe_accuracy" in again["summary"] and "elbo" in again["summary"]
    assert again["summary"]["probe_accuracy"] > again["details"]["probe"]["chance"]


def test_python_api_returns_a_frozen_report(runs):
    run = RunDir(runs / "a")
    model, data = run.load_model(), load_data(dataclasses.replace(run.config.data, limit=None))
    rep = evaluate(model, data, "validation", ["nll", "elbo", "mi"], k=10)
    assert isinstance(rep, EvalReport) and rep.split == "validation" and rep.n == len(data.validation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.split = "test"
    json.dumps(rep.to_dict())  # plain JSON
    r = iwae_nll(model, data.validation.x, 10, generator=torch.Generator().manual_seed(0 * 1009))
    assert rep.summary["nll"] == pytest.approx(r.mean)  # evaluate's nll is iwae_nll with the (seed, group) generator


def test_bad_inputs_are_clear_errors(runs, tmp_path, capsys):
    empty = tmp_path / "noweights"
    shutil.copytree(runs / "a", empty)
    (empty / "model.safetensors").unlink()
    cases = [
        (["evaluate", str(empty)], "no model.safetensors"),
        (["evaluate", str(runs / "a"), "--split", "dev"], "unknown split"),
        (["evaluate", str(runs / "a"), "-k", "0"], "at least 1"),
        (["evaluate", str(runs / "a"), "--metrics", "nll,fid"], "unknown metric"),
        (["evaluate", str(tmp_path)], "not a vaekit run directory"),
    ]
    np.savez(tmp_path / "wrong.npz", x=np.random.rand(50, 5).astype(np.float32))
    cases.append((["evaluate", str(runs / "a"), "--data", f"npz:{tmp_path / 'wrong.npz'}"], "shape"))
    np.savez(tmp_path / "nolabels.npz", x=np.random.rand(50, 1, 8, 8).astype(np.float32))
    for metric in ("probe", "fd"):
        cases.append(
            (["evaluate", str(runs / "a"), "--data", f"npz:{tmp_path / 'nolabels.npz'}", "--metrics", metric], "no labels")
        )
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    run = RunDir(runs / "a")
    with pytest.raises(ConfigError, match="positive"):
        evaluate(run.load_model(), load_data(run.config.data), k=-1)
    with pytest.raises(DataError, match="shape"):
        evaluate(run.load_model(), load_data(DataConfig(source=f"npz:{tmp_path / 'wrong.npz'}")))


def test_dynamic_runs_are_scored_on_a_fixed_recorded_binarisation(tmp_path):
    fit(config(binarize="dynamic"), tmp_path / "d")
    assert main(["evaluate", str(tmp_path / "d"), "-k", "5", "--metrics", "nll,elbo", "--binarize-seed", "11"]) == 0
    rep = json.loads((tmp_path / "d" / "eval.json").read_text())
    assert rep["data"]["binarization"] == {"kind": "fixed-stochastic", "seed": 11}
    run = RunDir(tmp_path / "d")
    data = load_data(dataclasses.replace(run.config.data, limit=None))
    x = torch.bernoulli(data.test.x, generator=torch.Generator().manual_seed(11))
    expected = iwae_nll(run.load_model(), x, 5, generator=torch.Generator().manual_seed(0))
    assert rep["summary"]["nll"] == pytest.approx(expected.mean)


def test_compare_ranks_runs_and_flags_different_settings(runs, tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["evaluate", str(runs / name), "-k", "20", "--metrics", "nll,elbo,recon"]) == 0
    capsys.readouterr()
    nll = {n: json.loads((runs / n / "eval.json").read_text())["summary"]["nll"] for n in ("a", "b")}
    best = min(nll, key=nll.get)
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--sort", "nll"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[1] == str(runs / best) and "lower is better" in lines[-1]
    assert (
        main(["compare", str(runs / "a"), str(runs / "b"), "--sort", "psnr", "--format", "csv", "--out", str(tmp_path / "c.csv")])
        == 0
    )
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0].startswith("rank,run,") and len(rows) == 3
    psnr = [float(r.split(",")[rows[0].split(",").index("psnr")]) for r in rows[1:]]
    assert psnr[0] >= psnr[1]  # higher is better for psnr
    assert main(["evaluate", str(runs / "b"), "-k", "7", "--metrics", "nll"]) == 0
    capsys.readouterr()
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| rank | run |") and "differ in nll k" in md
    assert main(["compare", str(runs / "a"), "--sort", "bogus"]) == 1
    assert "no run has metric 'bogus'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST.is_dir() and BINARIZED.is_dir()), reason="MNIST files not on this machine")
def test_a_dynamic_mnist_run_evaluates_on_binarized_mnist(tmp_path, capsys):
    fit(config(binarize="dynamic", source="mnist", data_dir=str(MNIST), limit=200), tmp_path / "m")
    argv = ["evaluate", str(tmp_path / "m"), "--data", "binarized-mnist", "--data-dir", str(BINARIZED), "-k", "2",
            "--metrics", "nll,elbo", "--out", str(tmp_path / "bin.json")]  # fmt: skip
    assert main(argv) == 0
    rep = json.loads((tmp_path / "bin.json").read_text())
    assert rep["data"]["source"] == "binarized-mnist" and rep["n"] == 10000
    assert rep["data"]["binarization"] == {"kind": "already-binary"}
    assert 0 < rep["summary"]["nll"] < 800


def test_conditional_and_full_covariance_models_evaluate(tmp_path):
    base = config()
    cond = dataclasses.replace(base, model=dataclasses.replace(base.model, conditional=True, condition_dim=10))
    full = dataclasses.replace(base, model=dataclasses.replace(base.model, posterior="full"))
    for name, cfg in (("c", cond), ("f", full)):
        fit(cfg, tmp_path / name)
        assert main(["evaluate", str(tmp_path / name), "-k", "5", "--metrics", "nll,elbo,recon,active-units,mi"]) == 0
    c = json.loads((tmp_path / "c" / "eval.json").read_text())
    run = RunDir(tmp_path / "c")
    data = load_data(dataclasses.replace(run.config.data, limit=None))
    expected = iwae_nll(run.load_model(), data.test.x, 5, generator=torch.Generator().manual_seed(0), condition=data.test.y)
    assert c["summary"]["nll"] == pytest.approx(expected.mean)  # scored as p(x | label)
    f = json.loads((tmp_path / "f" / "eval.json").read_text())
    assert "nll" in f["summary"] and "mi" not in f["summary"] and "skipped" in f["details"]["mi"]


def test_fd_with_a_user_extractor_is_reported_with_its_id(runs):
    run = RunDir(runs / "a")
    data = load_data(dataclasses.replace(run.config.data, limit=None))
    rep = evaluate(
        run.load_model(), data, "test", ["fd"], feature_extractor=torch.nn.Flatten(), extractor_id="pixels", n_generated=100
    )
    d = rep.details["fd"]
    assert d["extractor_id"] == "pixels" and d["n_generated"] == 100 and d["n_real"] == len(data.test)
    assert rep.summary["fd"] > 0 and 0 <= rep.summary["precision"] <= 1 and d["sample_mode"] == "mean"


def test_evaluate_scores_a_table_with_missing_cells_on_its_observed_entries(tmp_path):
    """NaN cells are missing: the ELBO, NLL and MSE score the observed entries (they were NaN before)."""
    import numpy as np

    from vaekit.cli import main

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    x[rng.random(x.shape) < 0.2] = np.nan
    path = tmp_path / "gaps.csv"
    rows = ["a,b,c,d,e"] + [",".join("" if np.isnan(v) else f"{v:.4f}" for v in r) for r in x]
    path.write_text("\n".join(rows) + "\n")
    run = tmp_path / "r"
    args = ["--likelihood", "gaussian-learned", "--epochs", "1", "--set", "train.progress=false", "--set", "train.threads=1"]
    assert main(["train", "--data", f"csv:{path}", "--out", str(run), *args]) == 0
    assert main(["evaluate", str(run), "--iw-samples", "5", "--json"]) == 0
    s = json.loads((run / "eval.json").read_text())["summary"]
    for key in ("nll", "elbo", "mse", "mi"):
        assert math.isfinite(s[key]), (key, s[key])
