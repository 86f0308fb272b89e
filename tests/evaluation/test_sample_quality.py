import math

import pytest
import torch
from torch import nn

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.evaluation import frechet_distance, frechet_distance_features, precision_recall, sample_quality


def test_frechet_distance_closed_form_gaussians():
    # ||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}); for commuting diagonal S: sum (sqrt(a) - sqrt(b))^2
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(m1, torch.diag(a), m2, torch.diag(b)) == pytest.approx(expected, abs=1e-9)
    # a rotated pair (non-diagonal, same eigenvalues, same axes) gives the same answer
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    s1, s2 = q @ torch.diag(a).double() @ q.T, q @ torch.diag(b).double() @ q.T
    assert frechet_distance(q @ m1.double(), s1, q @ m2.double(), s2) == pytest.approx(expected, abs=1e-8)


def test_frechet_distance_of_samples():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(4000, 4, generator=g, dtype=torch.float64)
    assert abs(frechet_distance_features(f, f)) < 1e-8  # identical sets
    shifted = torch.randn(4000, 4, generator=g, dtype=torch.float64) * 2.0 + 1.0  # N(1, 4I): FD = 4*1 + 4*(2-1)^2 = 8
    assert frechet_distance_features(f, shifted) == pytest.approx(8.0, rel=0.05)


def test_precision_recall_toy_sets():
    real = torch.arange(10, dtype=torch.float64)[:, None]  # 0..9 on a line; k=3 radii: 3 at the ends, 2 inside
    fake = torch.cat([torch.arange(5.0), torch.arange(100.0, 105.0)])[:, None]
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == pytest.approx(0.5)  # 0..4 inside the real manifold, 100..104 not
    assert recall == pytest.approx(0.8)  # the fake balls around 0..4 (radii 3, 2, 2, 2, 3) cover 0..7
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 1000, k=3) == (0.0, 0.0)


def test_sample_quality_with_a_user_extractor():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", hidden=(8,), latent_dim=2), (1, 4, 4)).eval()
    real = torch.rand(300, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    flatten = nn.Flatten()
    a = sample_quality(model, real, flatten, "flatten", n_generated=200, generator=torch.Generator().manual_seed(5))
    b = sample_quality(model, real, flatten, "flatten", n_generated=200, generator=torch.Generator().manual_seed(5))
    assert a == b  # seeded
    assert a.extractor_id == "flatten" and a.n_generated == 200 and a.n_real == 300
    assert a.fd > 0 and 0 <= a.precision <= 1 and 0 <= a.recall <= 1 and math.isfinite(a.fd)
    d = sample_quality(
        model, real, flatten, "flatten", n_generated=200, sample_mode="draw", generator=torch.Generator().manual_seed(5)
    )
    assert d.sample_mode == "draw" and d.fd != a.fd
