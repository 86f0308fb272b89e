"""Adding a likelihood is one file: every module of the package registers a family, and every
registered family builds from its registered options, scores data of its own support, and trains
through the config path, without a list of families kept here."""

import importlib
import pkgutil

import pytest
import torch

import vaekit.core.likelihoods as package
from vaekit.config import LikelihoodPart, ModelConfig
from vaekit.core import build_model
from vaekit.core.elbo import elbo
from vaekit.core.likelihoods import Likelihood, build_likelihood
from vaekit.registry import LIKELIHOODS

SHAPE = (5,)


def test_every_module_registers_a_family():
    modules = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
    for name in modules:
        importlib.import_module(name)
        registered = [e.name for e in LIKELIHOODS.entries() if e.factory.__module__ == name]
        assert registered, f"{name} registers no likelihood"
    assert {e.factory.__module__ for e in LIKELIHOODS.entries()} == set(modules)  # and nothing registers from elsewhere


def build(name: str) -> Likelihood:
    entry = LIKELIHOODS.get(name)
    return build_likelihood(name, SHAPE, entry.factory.example_options(SHAPE))


@pytest.mark.parametrize("name", LIKELIHOODS.names())
def test_family_scores_data_of_its_own_support(name):
    gen = torch.Generator().manual_seed(0)
    lik = build(name)
    x = lik.example_data(6, gen)  # (6, *SHAPE)
    assert x.shape == (6, *SHAPE)
    lik.check_data(x)
    h = torch.randn(6, *lik.decoder_shape(), generator=gen)
    px = lik(h)
    assert px.batch_shape == (6,) and px.event_shape == SHAPE
    logp = px.log_prob(x)
    assert logp.shape == (6,) and bool(torch.isfinite(logp).all())
    assert px.mean.shape == (6, *SHAPE) and bool(torch.isfinite(px.mean).all())
    lik.check_data(px.sample())  # draws stay in the family's support
    # k posterior draws of one batch: (k, B, ...) decoder output scores x (B, ...) as (k, B)
    hk = torch.randn(3, 6, *lik.decoder_shape(), generator=gen)
    assert lik(hk).log_prob(x).shape == (3, 6)


@pytest.mark.parametrize("name", LIKELIHOODS.names())
def test_family_trains_one_step_through_the_config(name):
    gen = torch.Generator().manual_seed(1)
    options = LIKELIHOODS.get(name).factory.example_options(SHAPE)
    torch.manual_seed(0)
    model = build_model(ModelConfig(likelihood=LikelihoodPart(name, options), latent_dim=2, hidden=(8,)), SHAPE)
    x = model.likelihood.example_data(8, gen)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.decoder.parameters()]
    loss = elbo(model, x).loss
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.decoder.parameters()))
    assert model.decode(torch.zeros(1, 2)).event_shape == SHAPE
