"""Helpers shared by the likelihood family tests: maximum-likelihood fits with standard errors from the
observed information, gradcheck of log_prob, and one training step through the config path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch.func import functional_call

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.core.elbo import elbo
from vaekit.core.likelihoods import Likelihood


@dataclass(frozen=True)
class Fit:
    """A maximum-likelihood fit of a free decoder output ``h`` (decoder_shape) and the family's own
    parameters: estimates and standard errors (square roots of the inverse observed information)."""

    values: dict[str, torch.Tensor]  # "h" and the module's parameter names -> fitted tensors
    stderr: dict[str, torch.Tensor]  # same keys and shapes

    def within(self, name: str, truth: torch.Tensor, sigmas: float = 4.0) -> None:
        """Assert every fitted entry of ``name`` lies within ``sigmas`` standard errors of ``truth``."""
        err = (self.values[name] - truth).abs()
        assert bool((err <= sigmas * self.stderr[name]).all()), (
            f"{name}: fitted {self.values[name].tolist()} vs truth {truth.tolist()} (stderr {self.stderr[name].tolist()})"
        )


def fit_mle(lik: Likelihood, x: torch.Tensor, h0: torch.Tensor | None = None, information: bool = True) -> Fit:
    """Maximise sum_n log p(x_n | h) over one shared h and ``lik``'s parameters (float64, L-BFGS)."""
    lik = lik.double()
    x = x.double()
    names = ["h", *(n for n, _ in lik.named_parameters())]
    start = [torch.zeros(lik.decoder_shape(), dtype=torch.float64) if h0 is None else h0.double()]
    start += [p.detach().clone() for _, p in lik.named_parameters()]
    params = [p.clone().requires_grad_() for p in start]

    def nll(*ps: torch.Tensor) -> torch.Tensor:
        px = functional_call(lik, dict(zip(names[1:], ps[1:])), (ps[0],))
        return -px.log_prob(x).sum()

    opt = torch.optim.LBFGS(
        params, lr=1, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nll(*params) / len(x)
        loss.backward()
        return loss

    opt.step(closure)
    values = {n: p.detach() for n, p in zip(names, params)}
    if not information:
        return Fit(values, {n: torch.full_like(v, float("nan")) for n, v in values.items()})
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    sizes = [p.numel() for p in params]

    def nll_flat(v: torch.Tensor) -> torch.Tensor:
        return nll(*(c.reshape(p.shape) for c, p in zip(v.split(sizes), params)))

    hess = torch.autograd.functional.hessian(nll_flat, flat)
    se = torch.linalg.inv(hess).diagonal().clamp_min(0).sqrt()
    stderr = {n: c.reshape(p.shape) for n, c, p in zip(names, se.split(sizes), params)}
    return Fit(values, stderr)


def gradcheck_log_prob(lik: Likelihood, x: torch.Tensor, h: torch.Tensor) -> bool:
    """torch.autograd.gradcheck of log_prob (per example) w.r.t. the decoder output and the family's
    own parameters, in float64."""
    lik = lik.double()
    names = [n for n, _ in lik.named_parameters()]
    inputs = (h.double().requires_grad_(), *(p.detach().clone().requires_grad_() for _, p in lik.named_parameters()))

    def f(h: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return functional_call(lik, dict(zip(names, ps)), (h,)).log_prob(x.double())

    return torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def train_one_step(likelihood: object, x: torch.Tensor) -> None:
    """Build a tiny model through the config path and take one Adam step on ``x``: the loss is finite
    and every decoder weight moves."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(likelihood=likelihood, latent_dim=2, hidden=(8,)), tuple(x.shape[1:]))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    terms = elbo(model, x)
    assert torch.isfinite(terms.loss)
    opt.zero_grad()
    terms.loss.backward()
    opt.step()
    moved = [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert any(n.startswith("decoder.") for n in moved)
    assert all(n in moved for n, _ in model.likelihood.named_parameters(prefix="likelihood"))


@pytest.fixture
def mle() -> Callable[..., Fit]:
    return fit_mle


@pytest.fixture
def gradcheck() -> Callable[..., bool]:
    return gradcheck_log_prob


@pytest.fixture
def one_step() -> Callable[..., None]:
    return train_one_step


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)
