"""Lossless compression: the binary-decision coder against exact distributions, guard-banded rounding,
bits-back round trips and rates against the ELBO, determinism across processes, and bad files."""

import copy
import hashlib
import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from vaekit.applications.compression import CompressionError, bins, compress, decompress, read_header
from vaekit.applications.compression.bitsback import compress_lossless
from vaekit.applications.compression.format import model_id
from vaekit.applications.compression.quantize import GUARD, MU, Exceptions, Rounder, guarded_round, normal_bins
from vaekit.applications.compression.view import coding_view
from vaekit.checkpoint import RunDir
from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.core.likelihoods.dlogistic import DiscretizedLogistic
from vaekit.evaluation.likelihood import elbo_metrics
from vaekit.runs import load_run_data

pytestmark = pytest.mark.skipif(importlib.util.find_spec("constriction") is None, reason="needs vaekit[compress]")


def _coder(words: int = 64, seed: int = 0):
    """An ANS stack holding random bits, to pop draws from."""
    rng = np.random.default_rng(seed)
    return bins.constriction().stream.stack.AnsCoder(rng.integers(1, 2**32, words, dtype=np.uint32))


# ---------------------------------------------------------------- the binary-decision coder


def test_popping_a_binned_gaussian_draws_from_it_and_pushing_back_restores_the_stack():
    n, mu, sigma = 20000, 0.7, 0.2
    coder = _coder(words=20000)
    before = coder.get_compressed().copy()
    dist = bins.BinnedGaussian(np.full(n, mu), np.full(n, 1 / sigma), 16)
    z = bins.pop(coder, dist, n)
    centres = normal_bins(16)[1][z]
    assert abs(centres.mean() - mu) < 4 * sigma / math.sqrt(n)
    assert abs(centres.std() / sigma - 1) < 0.03
    bins.push(coder, dist, z)
    assert np.array_equal(coder.get_compressed(), before)


def test_popping_a_discretized_logistic_matches_its_probabilities():
    n, loc, log_scale, levels = 40000, 0.3, -2.5, 17
    coder = _coder(words=20000, seed=1)
    dist = bins.DiscretizedLogistic(np.full(n, loc), np.full(n, math.exp(-log_scale)), levels)
    k = bins.pop(coder, dist, n)
    freq = np.bincount(k, minlength=2**dist.bits) / n
    exact = DiscretizedLogistic(torch.tensor(loc), torch.tensor(log_scale), bins=levels)
    p = exact.log_prob(torch.arange(levels) / (levels - 1)).exp().numpy()
    assert freq[levels:].sum() == 0  # the padding above the last level is never drawn
    assert np.abs(freq[:levels] - p).max() < 4 * math.sqrt(0.25 / n)


def test_pushing_costs_the_information_content():
    rng = np.random.default_rng(2)
    n = 5000
    coder = bins.constriction().stream.stack.AnsCoder()
    ledger = bins.Ledger()
    dist = bins.BinnedGaussian(rng.normal(0, 1, n), np.exp(rng.normal(2, 0.5, n)), 12)
    symbols = bins.pop(_coder(words=5000, seed=3), dist, n)  # typical symbols of dist
    bins.push(coder, dist, symbols, ledger, "z")
    assert abs(coder.num_bits() - ledger.bits["z"]) < 64 + 1e-3 * ledger.bits["z"]


# ---------------------------------------------------------------- rounding both sides agree on


def test_guarded_round_flags_only_values_near_a_boundary():
    step = 2.0**-MU.bits
    v = np.array([0.0, 0.5 * step, (0.5 + 2 * GUARD) * step, 3.25 * step, 1e6])
    r, near, very_near = guarded_round(v, MU)
    assert r.tolist() == [0, 1, 1, 3, MU.imax]  # ties round up; beyond the grid is clipped
    assert near.tolist() == [1] and very_near.tolist() == [1]


def test_rounder_absorbs_float_noise_and_rejects_larger_differences():
    rng = np.random.default_rng(4)
    step = 2.0**-MU.bits
    v = (rng.integers(-1000, 1000, 200) + 0.5) * step  # every value exactly on a boundary
    v[::2] += rng.normal(0, 1e-3, 100) * step  # half of them off it
    enc = Rounder()
    r_enc = enc(v, MU, slot=0)
    assert len(enc.exceptions) >= 100
    noisy = v * (1 + rng.normal(0, 1e-15, len(v)))  # what another thread layout might compute
    assert np.array_equal(Rounder(enc.exceptions)(noisy, MU, slot=0), r_enc)
    with pytest.raises(CompressionError, match="differ"):
        Rounder(Exceptions.empty())(v, MU, slot=0)  # boundary values without their exceptions


# ---------------------------------------------------------------- bits-back on trained models


@pytest.fixture(scope="module")
def runs(tiny_run):
    """Tiny runs on sklearn's digits: binary (static), binary with two latent layers, 17-level (dlogistic)."""
    return {
        "bernoulli": tiny_run("cmp_bin", epochs=8, data={"binarize": "static"}),
        "ladder": tiny_run("cmp_ladder", epochs=8, data={"binarize": "static"}, latent_dims=(4, 2), latent_hidden=(16,)),
        "dlogistic": tiny_run("cmp_dlog", epochs=8, likelihood={"kind": "dlogistic", "bins": 17}),
    }


def _all_digits(run) -> torch.Tensor:
    d = load_run_data(run)
    return torch.cat([d.train.x, d.validation.x, d.test.x])


@pytest.mark.parametrize("kind", ["bernoulli", "ladder", "dlogistic"])
def test_lossless_round_trip_is_exact_and_costs_the_elbo(runs, kind):
    run = RunDir(runs[kind])
    model = run.load_model()
    x = _all_digits(run)  # 1,797 examples in one chained stream
    data = compress(model, x)
    assert torch.equal(decompress(model, data), x)
    header = read_header(data)
    assert header.count == len(x) and header.batch_sizes[0] == 1 and len(header.batch_sizes) > 3
    neg_elbo = -elbo_metrics(model, x, generator=torch.Generator().manual_seed(0)).elbo  # nats per example
    ledger = bins.Ledger()
    _, payload = compress_lossless(coding_view(model), x, model_id(model), ledger=ledger)
    ideal = (ledger.bits["x"] + ledger.bits["prior"] - ledger.bits["posterior"]) / len(x) * math.log(2)
    real = 8 * len(payload) / len(x) * math.log(2)
    assert abs(ideal / neg_elbo - 1) < 0.01  # the discretised chain costs what the model's ELBO says
    assert 0 < real - ideal < 0.02 * neg_elbo  # the popped bits came back: the stack adds only its initial bits


def test_a_shifted_lower_layer_costs_the_same(runs):
    """Moving z_1 by 8 (encoder, prior link, decoder and upward link all compensate, so the ELBO is
    unchanged) puts it beyond the N(0, 1) bins; its reference frame follows it."""
    model = RunDir(runs["ladder"]).load_model()
    x = load_run_data(RunDir(runs["ladder"])).test.x
    shifted = copy.deepcopy(model)
    b = torch.full((4,), 8.0)
    with torch.no_grad():
        shifted.encoder.head.bias[:4] += b
        shifted.prior.layers[0].net[-1].bias[:4] += b
        for first in (shifted.posterior.layers[0].net[0], shifted.decoder.decoder.body[0]):
            first.bias -= first.weight @ b
    costs = []
    for m in (model, shifted):
        ledger = bins.Ledger()
        compress_lossless(coding_view(m), x, model_id(m), ledger=ledger)
        costs.append(ledger.bits["x"] + ledger.bits["prior"] - ledger.bits["posterior"])
    assert abs(costs[1] / costs[0] - 1) < 0.005
    assert torch.equal(decompress(shifted, compress(shifted, x)), x)


def test_decompressing_in_a_fresh_process_with_one_thread_is_bit_exact(runs, tmp_path):
    run = RunDir(runs["ladder"])
    model = run.load_model()
    x = _all_digits(run)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        data = compress(model, x, batch_size=300)
    finally:
        torch.set_num_threads(before)
    (tmp_path / "d.vkz").write_bytes(data)
    code = (
        "import hashlib, sys, torch; torch.set_num_threads(1); import vaekit\n"
        f"x = vaekit.decompress(vaekit.load({str(run.path)!r}), open({str(tmp_path / 'd.vkz')!r}, 'rb').read())\n"
        "print(hashlib.sha256(x.numpy().tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == hashlib.sha256(x.numpy().tobytes()).hexdigest()


def test_network_noise_below_the_guard_band_still_decodes(runs, monkeypatch):
    from vaekit.applications.compression import view as view_module

    run = RunDir(runs["bernoulli"])
    model = run.load_model()
    x = load_run_data(run).test.x
    data = compress(model, x)
    original = view_module.coding_view

    def noisy(model, scale):
        v = original(model)
        decode = v.decode
        v.decode = lambda z: tuple(p * (1 + scale * torch.randn_like(p)) for p in decode(z))
        return v

    monkeypatch.setattr(view_module, "coding_view", lambda m: noisy(m, 1e-14))
    assert torch.equal(decompress(model, data), x)
    monkeypatch.setattr(view_module, "coding_view", lambda m: noisy(m, 1e-3))
    with pytest.raises(CompressionError):
        decompress(model, data)  # a clear error, never wrong data


# ---------------------------------------------------------------- bad inputs


def test_bad_files_give_clear_errors(runs):
    run = RunDir(runs["bernoulli"])
    model = run.load_model()
    x = load_run_data(run).test.x[:50]
    data = compress(model, x)
    with pytest.raises(CompressionError, match="truncated"):
        decompress(model, data[:-10])
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0x10
    with pytest.raises(CompressionError, match="corrupt"):
        decompress(model, bytes(corrupt))
    with pytest.raises(CompressionError, match="not a vaekit compressed file"):
        decompress(model, b"PNG..." + data)
    other = RunDir(runs["ladder"]).load_model()
    with pytest.raises(CompressionError, match="another model"):
        decompress(other, data)


def test_data_and_models_lossless_coding_cannot_take(runs):
    run = RunDir(runs["bernoulli"])
    model = run.load_model()
    with pytest.raises(CompressionError, match="binary"):
        compress(model, torch.full((2, *model.data_shape), 0.5))
    with pytest.raises(CompressionError, match="shape"):
        compress(model, torch.zeros(2, 1, 4, 4))
    gaussian = build_model(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (1, 8, 8))
    with pytest.raises(CompressionError, match="likelihood"):
        compress(gaussian, torch.zeros(2, 1, 8, 8))
    flow = build_model(ModelConfig(latent_dim=2, hidden=(8,), posterior="planar"), (1, 8, 8))
    with pytest.raises(CompressionError, match="posterior"):
        compress(flow, torch.zeros(2, 1, 8, 8))
    cvae = build_model(ModelConfig(latent_dim=2, hidden=(8,), conditional=True, condition_dim=3), (1, 8, 8))
    with pytest.raises(CompressionError, match="conditional"):
        compress(cvae, torch.zeros(2, 1, 8, 8))
