"""The latent anomaly score: against closed forms, the mixture it fits, detector.json and the CLI."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.applications.anomaly import ScoreSettings, anomaly_scores, fit_latent_score
from vaekit.applications.detector import fit_detector, load_detector, save_detector
from vaekit.checkpoint import RunDir
from vaekit.config import DataConfig
from vaekit.core.inference import posterior_stats
from vaekit.core.likelihoods.gaussian import GaussianLikelihood, GaussianOptions
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.core.vae import VAE
from vaekit.data import load_data
from vaekit.errors import ConfigError, ModelError

pytest.importorskip("sklearn")


# ---------------------------------------------------------------- the score on a model with a known encoder

W, B, SIGMA = torch.tensor([1.0, 0.8, -0.6]), torch.tensor([0.0, 0.5, -0.2]), 0.5


def linear_model(a=(0.4, 0.3, -0.2), c=0.1) -> VAE:
    """A 1-D linear-Gaussian VAE whose posterior mean is mu(x) = a . x + c."""
    enc, dec = nn.Linear(3, 2), nn.Linear(1, 3)
    with torch.no_grad():
        enc.weight[0] = torch.tensor(a)
        enc.bias[0] = c
        enc.weight[1] = 0.0
        enc.bias[1] = 0.0
        dec.weight[:, 0], dec.bias[:] = W, B
    return VAE(
        enc, dec, GaussianLikelihood((3,), GaussianOptions(scale=SIGMA)), StandardNormal(1), DiagonalGaussian(1), (3,), 1
    ).eval()


def test_latent_score_is_the_gaussian_density_of_the_posterior_mean():
    model = linear_model()
    g = torch.Generator().manual_seed(2)
    normal = torch.randn(500, 3, generator=g)
    mu = normal.double() @ torch.tensor([0.4, 0.3, -0.2], dtype=torch.float64) + 0.1  # the posterior means, by hand
    torch.testing.assert_close(posterior_stats(model, normal, 64).mean[:, 0].double(), mu, atol=1e-5, rtol=0)
    settings = fit_latent_score(model, normal, ScoreSettings("latent", components=1, batch_size=64))
    assert settings.latent is not None and settings.describe().startswith("latent")
    x = torch.tensor([[0.0, 0.0, 0.0], [3.0, 3.0, -3.0], [-1.0, 2.0, 0.5]])
    mx = x.double() @ torch.tensor([0.4, 0.3, -0.2], dtype=torch.float64) + 0.1
    m, v = mu.mean(), mu.var(correction=0) + 1e-6  # the maximum-likelihood Gaussian (+ the fit's 1e-6 floor)
    exact = 0.5 * (math.log(2 * math.pi) + torch.log(v) + (mx - m) ** 2 / v)
    scores = anomaly_scores(model, x, settings)
    assert scores.dtype == torch.float64 and scores.shape == (3,)
    torch.testing.assert_close(scores, exact, atol=1e-4, rtol=0)
    assert scores[1] > scores[0] + 5  # far from the normal codes: far more anomalous
    # other kinds pass through fit_latent_score unchanged
    assert fit_latent_score(model, normal, ScoreSettings("recon")) == ScoreSettings("recon")


def test_latent_score_of_a_two_cluster_mixture_is_a_normalised_density():
    model = linear_model(a=(1.0, 0.0, 0.0), c=0.0)  # mu(x) = x_0
    g = torch.Generator().manual_seed(1)
    normal = torch.zeros(1000, 3)
    normal[:, 0] = torch.cat([torch.randn(300, generator=g) * 0.5 - 4.0, torch.randn(700, generator=g) + 3.0])
    settings = fit_latent_score(model, normal, ScoreSettings("latent", components=2))
    w, means = np.array(settings.latent["weights"]), np.array(settings.latent["means"])[:, 0]
    np.testing.assert_allclose(w[np.argsort(means)], [0.3, 0.7], atol=0.01)
    np.testing.assert_allclose(np.sort(means), [-4.0, 3.0], atol=0.15)
    grid = torch.zeros(60001, 3)
    grid[:, 0] = torch.linspace(-30, 30, 60001)
    density = torch.exp(-anomaly_scores(model, grid, settings))
    assert abs(float(torch.trapezoid(density, grid[:, 0].double())) - 1.0) < 1e-4  # exp(-score) integrates to one
    s = anomaly_scores(model, torch.tensor([[-4.0, 0, 0], [0.0, 0, 0], [3.0, 0, 0]]), settings)
    assert s[1] > s[0] + 3 and s[1] > s[2] + 3  # between the clusters: anomalous
    # the fitted density survives JSON exactly
    again = ScoreSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert torch.equal(anomaly_scores(model, grid[::1000], again), anomaly_scores(model, grid[::1000], settings))


def test_latent_score_errors():
    model = linear_model()
    with pytest.raises(ConfigError, match="detect fit RUN_DIR --score latent"):
        anomaly_scores(model, torch.zeros(2, 3), ScoreSettings("latent"))
    with pytest.raises(ConfigError, match="components"):
        ScoreSettings("latent", components=0).check()
    with pytest.raises(ConfigError, match="damaged"):
        anomaly_scores(model, torch.zeros(2, 3), ScoreSettings("latent", latent={"weights": [1.0]}))
    two_d = {"weights": [1.0], "means": [[0.0, 0.0]], "scale_tril": [[[1.0, 0.0], [0.0, 1.0]]]}
    with pytest.raises(ModelError, match="2-dimensional codes"):
        anomaly_scores(model, torch.zeros(2, 3), ScoreSettings("latent", latent=two_d))
    with pytest.raises(ConfigError, match="use fewer components"):
        fit_latent_score(model, torch.zeros(5, 3), ScoreSettings("latent", components=10))


# ---------------------------------------------------------------- detector.json and the CLI


def test_detector_keeps_the_fitted_density(zeros_run, tmp_path):
    run = RunDir(zeros_run)
    model = run.load_model()
    data = load_data(run.config.data)
    settings = fit_latent_score(model, data.train.x, ScoreSettings("latent", components=3))
    det = fit_detector(anomaly_scores(model, data.validation.x, settings), settings, contamination=0.1)
    path = save_detector(run, det, tmp_path / "d.json")
    back = load_detector(run, path)
    assert back.settings == settings
    test = load_data(DataConfig(source="digits")).test
    torch.testing.assert_close(anomaly_scores(model, test.x, back.settings), anomaly_scores(model, test.x, settings))


def test_detect_fit_and_score_cli_with_the_latent_score(main, zeros_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(zeros_run, run)
    assert main(["detect", "fit", str(run), "--score", "latent", "--components", "2", "--contamination", "0.05"]) == 0
    det = json.loads((run / "detector.json").read_text())
    assert det["score"]["kind"] == "latent" and len(det["score"]["latent"]["weights"]) == 2
    out = tmp_path / "s.csv"
    assert main(["detect", "score", str(run), "--out", str(out), "--labels-from-data"]) == 0
    metrics = json.loads((tmp_path / "s_metrics.json").read_text())
    assert metrics["auroc"] > 0.9  # digit 0 against the other nine digits


def test_threshold_scores_are_cross_fitted_so_new_normal_data_is_flagged_at_the_rate_asked():
    """A mixture with many components fitted on few codes scores those codes as more normal than new
    ones; cross-fitted scores do not, so a 10% threshold flags closer to 10% of fresh normal data."""
    from vaekit.applications.anomaly import threshold_scores

    model = linear_model()
    settings = ScoreSettings("latent", components=8, batch_size=64, seed=3)
    errors = {"in-sample": [], "cross-fitted": []}
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        normal, fresh = torch.randn(120, 3, generator=g), torch.randn(4000, 3, generator=g)
        fitted = fit_latent_score(model, normal, settings)
        fresh_scores = anomaly_scores(model, fresh, fitted)
        for name, s in [
            ("in-sample", anomaly_scores(model, normal, fitted)),
            ("cross-fitted", threshold_scores(model, normal, settings)),
        ]:
            errors[name].append(abs(float((fresh_scores > np.quantile(s.numpy(), 0.9)).double().mean()) - 0.10))
    assert np.mean(errors["cross-fitted"]) < 0.6 * np.mean(errors["in-sample"])
    # each fold is scored by a density fitted on the other folds (in data order): rebuild one by hand
    crossed = threshold_scores(model, normal, settings, folds=2)
    first, second = torch.tensor_split(torch.randperm(120, generator=torch.Generator().manual_seed(3)), 2)
    by_hand = anomaly_scores(model, normal[first], fit_latent_score(model, normal[second.sort().values], settings))
    torch.testing.assert_close(crossed[first], by_hand)
    # too few examples to split: in-sample; other kinds: the plain scores
    torch.testing.assert_close(
        threshold_scores(model, normal[:10], settings),
        anomaly_scores(model, normal[:10], fit_latent_score(model, normal[:10], settings)),
    )
    elbo = ScoreSettings("elbo", batch_size=64)
    torch.testing.assert_close(threshold_scores(model, normal, elbo), anomaly_scores(model, normal, elbo))
