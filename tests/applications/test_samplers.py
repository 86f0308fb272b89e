"""The post-hoc Gaussian-mixture sampler: fit on the aggregate posterior, save beside the
checkpoint (safetensors, no pickle), reload, sample; and its CLI."""

import pytest
import torch

from vaekit.applications.samplers import (
    SAMPLER_FILE,
    GaussianMixtureSampler,
    fit_gmm_sampler,
    load_gmm_sampler,
    sample_with_gmm,
    save_gmm_sampler,
)
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.core import build_model
from vaekit.core.inference import posterior_stats
from vaekit.errors import RunDirError

pytest.importorskip("sklearn")


class FixedEncoder(torch.nn.Module):
    """Posterior means = the first two input columns (so the aggregate posterior is known)."""

    def forward(self, x, c=None):
        mu = x[:, :2]
        return torch.cat([mu, torch.full_like(mu, -20.0)], -1)  # tiny posterior scale


def test_mixture_fits_a_known_aggregate_posterior_and_matches_sklearn_density(tmp_path):
    from sklearn.mixture import GaussianMixture

    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (2,))
    model.encoder = FixedEncoder()
    centers = torch.tensor([[-4.0, 0.0], [4.0, 3.0]])
    x = torch.cat([centers[0] + 0.5 * torch.randn(300, 2), centers[1] + 0.3 * torch.randn(100, 2)])
    sampler = fit_gmm_sampler(model, x, components=2, seed=0)
    order = sampler.means[:, 0].argsort()
    torch.testing.assert_close(sampler.means[order].float(), centers, atol=0.15, rtol=0)
    torch.testing.assert_close(sampler.weights[order].float(), torch.tensor([0.75, 0.25]), atol=0.02, rtol=0)
    ref = GaussianMixture(2, random_state=0, reg_covar=1e-6).fit(posterior_stats(model, x).mean.double().numpy())
    z = torch.randn(50, 2, dtype=torch.float64) * 3
    torch.testing.assert_close(sampler.log_prob(z), torch.from_numpy(ref.score_samples(z.numpy())), rtol=1e-4, atol=1e-4)
    path = save_gmm_sampler(tmp_path, sampler)
    assert path.name == SAMPLER_FILE
    back = load_gmm_sampler(tmp_path)
    torch.testing.assert_close(back.scale_tril, sampler.scale_tril)
    z = back.sample_latent(4000, torch.Generator().manual_seed(0))
    assert abs(float((z[:, 0] < 0).double().mean()) - 0.75) < 0.03


def test_diagonal_mixture_and_sampling_shapes():
    s = GaussianMixtureSampler(torch.tensor([1.0]), torch.zeros(1, 3), torch.eye(3)[None] * 2, "diag", 5)
    z = s.sample_latent(10_000, torch.Generator().manual_seed(1), temperature=0.5)
    torch.testing.assert_close(z.std(0), torch.full((3,), 1.0, dtype=z.dtype), atol=0.03, rtol=0)
    m = build_model(ModelConfig(latent_dim=3, hidden=(8,)), (1, 4, 4))
    assert sample_with_gmm(m, s, 5, generator=torch.Generator().manual_seed(0)).shape == (5, 1, 4, 4)
    assert sample_with_gmm(m, s, 5, mean=False).shape == (5, 1, 4, 4)


def test_fit_sampler_cli_then_draw(tmp_path):
    import argparse

    from vaekit.commands import sample as cmd
    from vaekit.training.loop import fit

    cfg = RunConfig(
        data=DataConfig(source="digits", limit=200),
        model=ModelConfig(latent_dim=3, hidden=(16,)),
        train=TrainConfig(epochs=1, batch_size=50, progress=False, tensorboard=False, threads=1),
    )
    fit(cfg, tmp_path / "r")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cmd.register(sub)
    with pytest.raises(RunDirError, match="fit-sampler"):
        load_gmm_sampler(tmp_path / "r")
    args = parser.parse_args(["fit-sampler", str(tmp_path / "r"), "--components", "3"])
    assert args.handler(args) == 0
    assert load_gmm_sampler(tmp_path / "r").components == 3
    sample_parser = argparse.ArgumentParser()
    cmd.add_sampler_argument(sample_parser)
    ns = sample_parser.parse_args(["--sampler", "gmm"])
    ns.n, ns.seed, ns.temperature, ns.draw = 6, 0, 1.0, False
    from vaekit.checkpoint import RunDir

    run = RunDir(tmp_path / "r")
    x = cmd.draw_samples(ns, run, run.load_model())
    assert x.shape == (6, 1, 8, 8)


def test_sample_command_draws_from_the_fitted_mixture(tmp_path):
    import numpy as np

    from vaekit.cli import main
    from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from vaekit.training.loop import fit

    cfg = RunConfig(
        data=DataConfig(source="digits", limit=200),
        model=ModelConfig(latent_dim=2, hidden=(16,)),
        train=TrainConfig(epochs=1, progress=False, tensorboard=False, threads=1),
    )
    fit(cfg, tmp_path / "r")
    assert main(["sample", str(tmp_path / "r"), "--sampler", "gmm", "--out", str(tmp_path / "s.npy")]) == 1  # not fitted yet
    assert main(["fit-sampler", str(tmp_path / "r"), "--components", "3"]) == 0
    assert main(["sample", str(tmp_path / "r"), "--sampler", "gmm", "-n", "6", "--out", str(tmp_path / "g.npy")]) == 0
    assert main(["sample", str(tmp_path / "r"), "-n", "6", "--out", str(tmp_path / "p.npy")]) == 0
    g, p = np.load(tmp_path / "g.npy"), np.load(tmp_path / "p.npy")
    assert g.shape == p.shape == (6, 1, 8, 8) and not np.array_equal(g, p)
