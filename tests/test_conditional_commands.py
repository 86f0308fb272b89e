"""A conditional VAE (labels fed to encoder and decoder) after training: every command and library
function that runs its encoder or decoder on data gets the data's labels, and data without labels
is a clear error. Each check compares against the model called directly with the right labels and
with wrong ones, so a dropped condition fails."""

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.applications.anomaly import ScoreSettings, anomaly_scores
from vaekit.applications.interpolation import choose_pairs, interpolate
from vaekit.applications.restoration import denoise, impute
from vaekit.checkpoint import RunDir
from vaekit.cli import main
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.errors import DataError, ModelError
from vaekit.evaluation import evaluate_run
from vaekit.evaluation.likelihood import elbo_metrics
from vaekit.evaluation.runner import _generator
from vaekit.training.loop import fit


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    cfg = RunConfig(
        data=DataConfig(source="digits", limit=400),
        model=ModelConfig(arch="mlp", latent_dim=4, hidden=(32,), conditional=True),
        train=TrainConfig(epochs=3, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False),
    )
    out = tmp_path_factory.mktemp("cond") / "c"
    fit(cfg, out)
    return RunDir(out)


@pytest.fixture(scope="module")
def test_split(run):
    return load_data(dataclasses.replace(run.config.data, limit=None)).test  # what the commands read


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory):
    """A flat folder of 8x8 images: data of the model's shape with no labels."""
    root = tmp_path_factory.mktemp("unlabelled")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / f"{i}.png")
    return root


def wrong(y: torch.Tensor) -> torch.Tensor:
    return (y + 1) % 10


def test_evaluate_scores_p_x_given_the_labels(run, test_split, tmp_path):
    assert main(["evaluate", str(run.path), "--metrics", "elbo,recon", "--out", str(tmp_path / "e.json")]) == 0
    got = json.loads((tmp_path / "e.json").read_text())["summary"]
    model, x, y = run.load_model(), test_split.x, test_split.y
    right = elbo_metrics(model, x, generator=_generator(0, "elbo"), condition=y)
    other = elbo_metrics(model, x, generator=_generator(0, "elbo"), condition=wrong(y))
    assert got["elbo"] == pytest.approx(right.elbo, rel=1e-9)
    d = right.per_example - other.per_example  # (N,) paired: the same draws, right minus wrong labels
    assert d.mean() > 4 * d.std() / len(d) ** 0.5  # the true labels explain the test digits better
    with torch.no_grad():
        mse = float((model.reconstruct(x, condition=y) - x).double().pow(2).mean())
    assert got["mse"] == pytest.approx(mse, rel=1e-5)


def test_evaluate_on_unlabelled_data_is_a_clear_error(run, unlabelled, tmp_path):
    with pytest.raises(DataError, match="conditional.*no labels"):
        evaluate_run(run.path, "test", "elbo", data=f"folder:{unlabelled}", out=tmp_path / "e.json")


def test_reconstruct_uses_the_labels(run, test_split, tmp_path):
    assert main(["reconstruct", str(run.path), "-n", "8", "--out", str(tmp_path / "r.npy")]) == 0
    pairs = torch.from_numpy(np.load(tmp_path / "r.npy"))  # (8, 2, 1, 8, 8)
    model, x, y = run.load_model(), test_split.x[:8], test_split.y[:8]
    torch.testing.assert_close(pairs[:, 1], model.reconstruct(x, condition=y))
    assert not torch.allclose(pairs[:, 1], model.reconstruct(x, condition=wrong(y)), atol=1e-4)


def test_commands_refuse_unlabelled_data_with_a_message(run, unlabelled, tmp_path, capsys):
    folder = f"folder:{unlabelled}"
    for argv in (
        ["reconstruct", str(run.path), "--data", folder, "--out", str(tmp_path / "r.npy")],
        ["embed", str(run.path), "--data", folder, "--out", str(tmp_path / "l.npz")],
        ["interpolate", str(run.path), "--data", folder, "--pairs", "1", "--out", str(tmp_path / "i.npy")],
        ["traverse", str(run.path), "--data", folder, "--index", "0", "--out", str(tmp_path / "t.npy")],
        ["detect", "score", str(run.path), "--data", folder, "--detector", str(tmp_path / "none.json")],
        ["denoise", str(run.path), "--data", folder, "--out", str(tmp_path / "d.npy")],
        ["inpaint", str(run.path), "--data", folder, "--mask", "bottom-half", "--out", str(tmp_path / "p.npy")],
    ):
        capsys.readouterr()
        if argv[0] == "detect":  # scoring needs a fitted detector before it reads data
            assert main(["detect", "fit", str(run.path), "-n", "50"]) == 0
            argv = argv[:-2]
            capsys.readouterr()
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "conditional" in err and "no labels" in err, (argv, err)


def test_embed_encodes_given_the_labels(run, test_split, tmp_path):
    assert main(["embed", str(run.path), "--limit", "20", "--out", str(tmp_path / "l.npz")]) == 0
    z = torch.from_numpy(np.load(tmp_path / "l.npz")["z"])
    model, x, y = run.load_model(), test_split.x[:20], test_split.y[:20]
    with torch.no_grad():
        torch.testing.assert_close(z, model.encode(x, y).mean)
        assert not torch.allclose(z, model.encode(x, wrong(y)).mean, atol=1e-4)


def test_interpolation_ends_decode_with_each_ends_label(run, test_split, tmp_path):
    assert main(["interpolate", str(run.path), "--pairs", "3", "--steps", "4", "--out", str(tmp_path / "i.npy")]) == 0
    paths = torch.from_numpy(np.load(tmp_path / "i.npy"))  # (3, 4, 1, 8, 8)
    idx = choose_pairs(len(test_split), 3, torch.Generator().manual_seed(0))
    model, x, y = run.load_model(), test_split.x, test_split.y
    a, b = idx[:, 0], idx[:, 1]
    torch.testing.assert_close(paths[:, 0], model.reconstruct(x[a], condition=y[a]))
    torch.testing.assert_close(paths[:, -1], model.reconstruct(x[b], condition=y[b]))
    # the library function: the condition moves from one end's label to the other's along the path
    res = interpolate(model, x[a], x[b], 4, condition0=y[a], condition1=y[b])
    torch.testing.assert_close(res.x, paths)
    with pytest.raises(ModelError, match="conditional"):
        interpolate(model, x[a], x[b], 4)


def test_traverse_decodes_with_the_chosen_label(run, tmp_path):
    for label in (3, 4):
        assert (
            main(["traverse", str(run.path), "--dims", "0", "--label", str(label), "--out", str(tmp_path / f"t{label}.npy")]) == 0
        )
    t3, t4 = np.load(tmp_path / "t3.npy"), np.load(tmp_path / "t4.npy")
    model = run.load_model()
    with torch.no_grad():
        centre = model.decode(torch.zeros(1, model.latent_dim), torch.tensor([3])).mean[0]
    np.testing.assert_allclose(t3[0, 4], centre.numpy(), rtol=1e-5, atol=1e-6)  # the middle step is z = 0
    assert not np.allclose(t3, t4, atol=1e-4)
    assert main(["traverse", str(run.path), "--index", "2", "--out", str(tmp_path / "ti.npy")]) == 0
    assert main(["traverse", str(run.path), "--label", "10", "--out", str(tmp_path / "tx.npy")]) == 1


def read_scores(path) -> np.ndarray:
    with open(path) as f:
        return np.array([float(r["score"]) for r in csv.DictReader(f)])


@pytest.mark.parametrize("score", ["elbo", "nll", "recon"])
def test_detect_scores_p_x_given_the_label(run, test_split, tmp_path, score):
    assert main(["detect", "fit", str(run.path), "--score", score, "--k", "8", "--samples", "4"]) == 0
    out = tmp_path / "scores.csv"
    assert main(["detect", "score", str(run.path), "-n", "40", "--out", str(out), "--maps", str(tmp_path / "maps")]) == 0
    got = read_scores(out)
    model, x, y = run.load_model(), test_split.x[:40], test_split.y[:40]
    settings = ScoreSettings(score, samples=4, k=8)
    right = anomaly_scores(model, x, settings, condition=y).numpy()
    np.testing.assert_allclose(got, right, rtol=1e-5, atol=2e-6)
    assert np.abs(anomaly_scores(model, x, settings, condition=wrong(y)).numpy() - right).mean() > 0.1
    assert np.load(tmp_path / "maps" / "maps.npy").shape == (40, 8, 8)
    with pytest.raises(ModelError, match="conditional"):
        anomaly_scores(model, x, settings)


def test_denoise_and_inpaint_restore_given_the_label(run, test_split, tmp_path):
    model, x, y = run.load_model(), test_split.x[:6], test_split.y[:6]
    assert main(["denoise", str(run.path), "-n", "6", "--out", str(tmp_path / "d.npy")]) == 0
    clean = torch.from_numpy(np.load(tmp_path / "d.npy"))
    torch.testing.assert_close(clean, denoise(model, x, condition=y))
    torch.testing.assert_close(clean, model.reconstruct(x, condition=y))
    assert not torch.allclose(clean, denoise(model, x, condition=wrong(y)), atol=1e-4)
    with pytest.raises(ModelError, match="conditional"):
        denoise(model, x)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[..., 4:, :] = False  # the bottom half is missing
    for method in ("hmc", "mwg", "pseudo-gibbs"):
        argv = ["inpaint", str(run.path), "-n", "6", "--mask", "bottom-half", "--method", method, "--steps", "6",
                "--chains", "2", "--out", str(tmp_path / f"{method}.npy")]  # fmt: skip
        assert main(argv) == 0
        filled = torch.from_numpy(np.load(tmp_path / f"{method}.npy"))
        g = torch.Generator().manual_seed(1)  # the command's --seed 0 + 1
        right = impute(model, x, mask, method=method, steps=6, chains=2, generator=g, condition=y, batch_size=1024).x
        torch.testing.assert_close(filled, right)
        g = torch.Generator().manual_seed(1)
        other = impute(model, x, mask, method=method, steps=6, chains=2, generator=g, condition=wrong(y), batch_size=1024).x
        assert not torch.allclose(filled, other, atol=1e-4), method
    with pytest.raises(ModelError, match="conditional"):
        impute(model, x, mask, steps=2)
