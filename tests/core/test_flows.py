"""Flow posteriors: log-determinants against autograd Jacobians, MADE's autoregressive structure,
exact inverses, and a density that integrates to one."""

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo
from vaekit.core.made import MADE
from vaekit.core.posteriors.flows import FlowPosterior, IAFStep, PlanarStep


def _check_log_det(step, z: torch.Tensor) -> None:
    """z (B, D): the step's log|det J| per example equals log|det| of autograd's Jacobian."""
    _, log_det = step.forward(z)
    for b in range(z.shape[0]):

        def f(v, b=b):
            zz = z.clone()
            zz[b] = v
            return step.forward(zz)[0][b]

        j = jacobian(f, z[b])  # (D, D)
        torch.testing.assert_close(log_det[b], torch.linalg.slogdet(j).logabsdet, rtol=1e-4, atol=1e-5)


def test_planar_log_det_matches_the_jacobian():
    torch.manual_seed(0)
    b, d = 3, 4
    step = PlanarStep(torch.randn(b, d), torch.randn(b, d), torch.randn(b, 1))
    _check_log_det(step, torch.randn(b, d))
    w_dot_u = (step.w * step.u).sum(-1)
    assert (w_dot_u >= -1 - 1e-6).all()  # the invertibility condition holds after the adjustment


def test_iaf_log_det_matches_the_jacobian_and_the_jacobian_is_triangular():
    torch.manual_seed(1)
    d = 5
    made = MADE(d, 16, context_dim=3)
    with torch.no_grad():  # a non-trivial network (the default start is near the identity)
        made.out.weight.normal_()
    step = IAFStep(made, torch.randn(2, 3))
    z = torch.randn(2, d)
    _check_log_det(step, z)
    j = jacobian(lambda v: step.forward(v[None].expand(2, -1))[0][0], z[0])  # (D, D)
    assert torch.count_nonzero(torch.triu(j, diagonal=1)) == 0  # output i depends on inputs <= i only


@pytest.mark.parametrize("reverse", [False, True])
def test_made_is_autoregressive(reverse):
    torch.manual_seed(2)
    d = 6
    made = MADE(d, 32, reverse=reverse)
    with torch.no_grad():
        made.out.weight.normal_()
    x = torch.randn(d)
    for out_index in range(2):
        j = jacobian(lambda v, i=out_index: made(v[None])[i][0], x)  # (D, D): d out_i / d x_j
        order = made.order  # degree of each variable
        allowed = order[:, None] > order[None, :]  # out_i may see x_j only when deg j < deg i
        assert torch.count_nonzero(j[~allowed]) == 0
        assert torch.count_nonzero(j[allowed]) > 0


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_inverse_reproduces_the_remembered_log_density(kind):
    torch.manual_seed(3)
    post = FlowPosterior(3, kind, steps=3, hidden=16)
    if kind == "iaf":
        with torch.no_grad():
            for made in post.mades:
                made.out.weight.normal_(std=0.3)
    qz = post(torch.randn(4, post.params_out))
    z = qz.rsample((5,))  # (5, 4, 3)
    remembered = qz.log_prob(z)
    inverted = qz.log_prob(z.clone())  # not the same tensor: goes through the exact inverse
    torch.testing.assert_close(inverted, remembered, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_flow_density_integrates_to_one(kind):
    torch.manual_seed(4)
    post = FlowPosterior(2, kind, steps=2, hidden=8)
    if kind == "iaf":
        with torch.no_grad():
            for made in post.mades:
                made.out.weight.normal_(std=0.5)
    qz = post(torch.randn(1, post.params_out) * 0.5)
    g = torch.linspace(-8, 8, 321)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 1, 2)  # (N, 1, 2)
    with torch.no_grad():
        dens = qz.log_prob(grid).exp()  # (N, 1)
    total = float(dens.sum()) * float(g[1] - g[0]) ** 2
    assert abs(total - 1.0) < 0.02


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_flow_vae_trains_and_reports_a_monte_carlo_kl(kind):
    torch.manual_seed(5)
    m = build_model(
        ModelConfig(
            latent_dim=3, hidden=(16,), posterior={"kind": kind, "steps": 2, **({"hidden": 16} if kind == "iaf" else {})}
        ),
        (1, 4, 4),
    )
    x = (torch.rand(32, 1, 4, 4) > 0.5).float()
    eps = torch.randn(32, 3)
    t = elbo(m, x, eps=eps)
    assert t.kl_per_dim is None and math.isfinite(float(t.kl.detach()))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(10):
        opt.zero_grad()
        elbo(m, x, eps=eps).loss.backward()
        opt.step()
    assert float(elbo(m, x, eps=eps).loss.detach()) < float(t.loss.detach())
    qz = m.encode(x[:2])
    assert qz.mean.shape == (2, 3) and qz.stddev.shape == (2, 3)
