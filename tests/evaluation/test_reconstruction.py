import math

import pytest
import torch
from evalhelpers import tiny_model

from vaekit.evaluation import psnr, reconstruction_metrics, ssim


def images(seed: int, shape=(3, 2, 28, 28)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_ssim_of_an_image_with_itself_is_one():
    x = images(0)
    torch.testing.assert_close(ssim(x, x), torch.ones(3, dtype=torch.float64))
    assert (ssim(x, images(1)) < 0.2).all()  # independent noise images are nearly unrelated


def test_ssim_of_constant_images_has_a_closed_form():
    # no variance: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) with C1 = 0.01^2
    a, b = 0.3, 0.6
    x, y = torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b)
    c1 = 1e-4
    assert float(ssim(x, y)) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    x = images(2)
    y = (x + 0.2 * images(3)).clamp(0, 1)
    ours = ssim(x, y)
    for i in range(3):
        ref = metrics.structural_similarity(
            x[i].numpy(),
            y[i].numpy(),
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        assert float(ours[i]) == pytest.approx(ref, abs=1e-6)


def test_psnr_known_value():
    x = torch.zeros(2, 1, 4, 4)
    y = x + 0.1  # MSE 0.01 -> 20 dB
    torch.testing.assert_close(psnr(x, y), torch.full((2,), 20.0, dtype=torch.float64))
    assert float(psnr(x, x)[0]) == 100.0  # capped, not inf


def test_reconstruction_metrics_on_a_model():
    model = tiny_model(latent_dim=2, data_dim=4)
    x = torch.rand(10, 4, generator=torch.Generator().manual_seed(0))
    r = reconstruction_metrics(model, x, batch_size=3)
    with torch.inference_mode():
        x_hat = model.decode(model.encode(x).mean).mean
    assert r.mse == pytest.approx(float((x_hat - x).pow(2).mean()), rel=1e-5)
    assert r.psnr is None and r.ssim is None  # tables have no PSNR/SSIM
    assert math.isfinite(r.mse) and r.n == 10
