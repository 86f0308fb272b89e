"""Restoration: masks, Metropolis-within-Gibbs and HMC against a closed form, pseudo-Gibbs, denoising, the CLI."""

import csv
import math

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.applications.masks import fit_mask, named_mask, random_mask, resolve_mask
from vaekit.applications.restoration import denoise, impute
from vaekit.checkpoint import RunDir
from vaekit.core.draws import make_generator
from vaekit.core.likelihoods.gaussian import GaussianLikelihood, GaussianOptions
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.core.vae import VAE
from vaekit.data import load_data
from vaekit.errors import ConfigError, DataError

# ---------------------------------------------------------------- masks


def test_named_masks_hide_the_named_region():
    m = named_mask("bottom-half", (1, 8, 6))
    assert m[:, :4].all() and not m[:, 4:].any()
    assert not named_mask("top-half", (1, 8, 6))[:, :4].any()
    assert not named_mask("left-half", (1, 8, 6))[:, :, :3].any() and named_mask("left-half", (1, 8, 6))[:, :, 3:].all()
    assert not named_mask("right-half", (1, 8, 6))[:, :, 3:].any()
    c = named_mask("center", (3, 8, 8))
    assert (~c).sum() == 3 * 16 and not c[:, 2:6, 2:6].any()  # a 4x4 square in the middle, every channel
    with pytest.raises(DataError, match="image"):
        named_mask("bottom-half", (10,))


def test_random_mask_fraction_seed_and_channels():
    m = random_mask(0.25, 5, (3, 4, 4), make_generator(1))
    assert m.shape == (5, 3, 4, 4)
    assert ((~m[:, 0]).flatten(1).sum(1) == 4).all()  # exactly 25% of 16 pixels per example
    assert torch.equal(m[:, 0], m[:, 2])  # a missing pixel is missing in every channel
    assert torch.equal(m, random_mask(0.25, 5, (3, 4, 4), make_generator(1)))
    assert not torch.equal(m, random_mask(0.25, 5, (3, 4, 4), make_generator(2)))
    with pytest.raises(DataError, match="between 0 and 1"):
        random_mask(1.5, 5, (10,), make_generator(0))


def test_mask_files_broadcast_and_wrong_shapes_fail(tmp_path):
    from PIL import Image

    hw = np.ones((8, 8), np.uint8)
    hw[:, :2] = 0
    np.save(tmp_path / "m.npy", hw)
    Image.fromarray(hw * 255).save(tmp_path / "m.png")
    x = torch.rand(3, 1, 8, 8)
    for name in ("m.npy", "m.png"):
        m = resolve_mask(str(tmp_path / name), x, make_generator(0))
        assert m.shape == (3, 1, 8, 8) and not m[..., :2].any() and m[..., 2:].all()
    assert fit_mask(torch.ones(3, 8, 8, dtype=torch.bool), 3, (1, 8, 8)).shape == (3, 1, 8, 8)
    np.save(tmp_path / "bad.npy", np.ones((7, 7)))
    with pytest.raises(DataError, match=r"shape \(7, 7\).*\(1, 8, 8\)"):
        resolve_mask(str(tmp_path / "bad.npy"), x, make_generator(0))
    np.save(tmp_path / "twos.npy", np.full((8, 8), 2))
    with pytest.raises(DataError, match="0 .missing. or 1"):
        resolve_mask(str(tmp_path / "twos.npy"), x, make_generator(0))


def test_nan_entries_are_always_missing():
    x = torch.zeros(2, 4)
    x[0, 1] = float("nan")
    assert resolve_mask(None, x, make_generator(0)).tolist() == [[True, False, True, True], [True] * 4]
    assert not resolve_mask("random:0.25", x, make_generator(0))[0, 1]
    with pytest.raises(DataError, match="nothing to fill"):
        resolve_mask(None, torch.zeros(2, 4), make_generator(0))


# ---------------------------------------------------------------- the chains against a closed form

W, B, SIGMA = torch.tensor([1.0, 0.8, -0.6]), torch.tensor([0.0, 0.5, -0.2]), 0.5
S2 = float(1 / (1 + (W @ W) / SIGMA**2))  # variance of the exact posterior p(z | x)


def linear_gaussian(shrink: float = 1.0, shift: float = 0.0, widen: float = 1.0) -> VAE:
    """z ~ N(0, 1), x | z ~ N(W z + B, SIGMA^2 I); the encoder is the exact posterior when
    shrink=1, shift=0, widen=1, and a wrong one otherwise."""
    enc, dec = nn.Linear(3, 2), nn.Linear(1, 3)
    with torch.no_grad():
        enc.weight[0] = shrink * S2 * W / SIGMA**2
        enc.bias[0] = -shrink * S2 * float(W @ B) / SIGMA**2 + shift
        enc.weight[1] = 0.0
        enc.bias[1] = math.log(math.expm1(widen * math.sqrt(S2) - 1e-5))  # softplus^-1 of the scale
        dec.weight[:, 0], dec.bias[:] = W, B
    return VAE(
        enc, dec, GaussianLikelihood((3,), GaussianOptions(scale=SIGMA)), StandardNormal(1), DiagonalGaussian(1), (3,), 1
    ).eval()


X0 = torch.tensor([1.2, 0.0, 0.3])
OBSERVED = torch.tensor([True, False, True])


def exact_conditional_mean() -> float:
    cov = torch.outer(W, W) + SIGMA**2 * torch.eye(3)
    o = [0, 2]
    return float(B[1] + cov[1, o] @ torch.linalg.solve(cov[o][:, o], X0[o] - B[o]))


def chain_means(model: VAE, method: str, n: int = 2000, chains: int = 1) -> tuple[float, float, torch.Tensor | None]:
    """Mean and standard error over n copies of X0 (each `chains` chains) of the imputed x_1, and acceptance rates."""
    x, m = X0.repeat(n, 1), OBSERVED.repeat(n, 1)
    x[:, 1] = float("nan")
    r = impute(model, x, m, method=method, steps=300, burn_in=100, chains=chains, generator=make_generator(3), batch_size=2000)
    est = r.x[:, 1].double()
    return float(est.mean()), float(est.std() / math.sqrt(n)), r.acceptance


def test_mwg_accepts_every_proposal_when_the_encoder_is_the_exact_posterior():
    # q = p(z | x̂) makes p(x̂|z')p(z')q(z|x̂) / (p(x̂|z)p(z)q(z'|x̂)) = p(x̂) / p(x̂) = 1
    mean, se, acceptance = chain_means(linear_gaussian(), "mwg", n=500)
    assert acceptance is not None and float(acceptance.min()) > 0.995
    assert abs(mean - exact_conditional_mean()) < 4 * se


def test_mwg_matches_the_exact_conditional_mean_and_pseudo_gibbs_does_not():
    wrong = linear_gaussian(shrink=0.2, shift=0.8)  # an encoder far from the true posterior
    exact = exact_conditional_mean()
    mean, se, acceptance = chain_means(wrong, "mwg")
    assert abs(mean - exact) < 4 * se, (mean, exact, se)
    assert 0.2 < float(acceptance.mean()) < 0.9
    mean, se, _ = chain_means(wrong, "mwg", n=500, chains=4)  # several chains per input, averaged
    assert abs(mean - exact) < 4 * se, (mean, exact, se)
    pg_mean, pg_se, _ = chain_means(wrong, "pseudo-gibbs")
    assert abs(pg_mean - exact) > 20 * pg_se  # pseudo-Gibbs samples the encoder's idea, not the model's


def test_hmc_matches_the_exact_conditional_mean():
    mean, se, acceptance = chain_means(linear_gaussian(shrink=0.2, shift=0.8), "hmc", n=1000)
    assert abs(mean - exact_conditional_mean()) < 4 * se, (mean, se)
    assert 0.5 < float(acceptance.mean()) < 0.95  # the step size was tuned towards 0.75 in burn-in


def test_kept_samples_are_decoded_means_or_draws_with_the_closed_form_spread():
    # with the exact encoder, z | x_obs ~ N(m, v) with v = 1 / (1 + (w0^2 + w2^2) / sigma^2); a kept
    # decoded mean has variance w1^2 v, a draw of x_1 the full conditional variance w1^2 v + sigma^2
    v = 1 / (1 + float(W[0] ** 2 + W[2] ** 2) / SIGMA**2)
    n = 3000
    x, m = X0.repeat(n, 1), OBSERVED.repeat(n, 1)
    for draw_samples, want in ((False, float(W[1] ** 2) * v), (True, float(W[1] ** 2) * v + SIGMA**2)):
        r = impute(linear_gaussian(), x, m, method="mwg", steps=40, burn_in=20, samples=1,
                   draw_samples=draw_samples, generator=make_generator(4), batch_size=n)  # fmt: skip
        assert r.samples.shape == (n, 1, 3) and torch.equal(r.samples[:, 0, [0, 2]], x[:, [0, 2]])
        got = float(r.samples[:, 0, 1].double().var())
        assert abs(got / want - 1) < 0.1, (draw_samples, got, want)


# ---------------------------------------------------------------- on a trained model


@pytest.mark.parametrize("method", ["hmc", "mwg", "pseudo-gibbs"])
def test_observed_entries_never_change_and_the_fill_beats_the_mean(digits_run, method):
    run = RunDir(digits_run)
    model = run.load_model()
    data = load_data(run.config.data)
    x = data.test.x[:120].clone()
    mask = resolve_mask("bottom-half", x, make_generator(0))
    truth = x.clone()
    x[~mask] = float("nan")
    r = impute(model, x, mask, method=method, steps=40, chains=2, samples=3, generator=make_generator(0))
    assert torch.equal(r.x[mask], x[mask])
    kept = mask[:, None].expand_as(r.samples)  # (N, K, C, H, W)
    assert torch.equal(r.samples[kept], x[:, None].expand_as(r.samples)[kept])
    assert r.samples.shape == (120, 3, 1, 8, 8) and not r.x.isnan().any()
    err = (r.x - truth)[~mask].pow(2).mean()
    mean_fill = data.train.x.mean(0, keepdim=True).expand_as(truth)
    assert err < 0.9 * (mean_fill - truth)[~mask].pow(2).mean()  # the model knows more than the average digit
    again = impute(model, x, mask, method=method, steps=40, chains=2, samples=3, generator=make_generator(0))
    assert torch.equal(again.x, r.x)  # seeded


def test_impute_checks_its_arguments(digits_run):
    model = RunDir(digits_run).load_model()
    x = torch.rand(4, 1, 8, 8)
    m = torch.ones_like(x, dtype=torch.bool)
    with pytest.raises(DataError, match="mask has shape"):
        impute(model, x, m[:, :, :4])
    with pytest.raises(DataError, match="NaN"):
        impute(model, x.masked_fill(torch.rand_like(x) < 0.1, float("nan")), m)
    with pytest.raises(ConfigError, match="burn-in"):
        impute(model, x, m, steps=10, burn_in=10)
    with pytest.raises(ConfigError, match="at most"):
        impute(model, x, m, steps=10, burn_in=5, samples=6)
    with pytest.raises(ConfigError, match="unknown imputation method"):
        impute(model, x, m, method="gibbs")
    with pytest.raises(ConfigError, match="pseudo-gibbs only"):
        impute(model, x, m, method="mwg", fill="mean")
    with pytest.raises(ConfigError, match="warmup=-1"):
        impute(model, x, m, warmup=-1)
    with pytest.raises(ConfigError, match="leapfrog=0"):
        impute(model, x, m, leapfrog=0)


def test_denoise_brings_noisy_digits_closer_to_the_clean_ones(digits_run):
    model = RunDir(digits_run).load_model()
    x = load_data(RunDir(digits_run).config.data).test.x
    noisy = (x + 0.3 * torch.randn(x.shape, generator=make_generator(0))).clamp(0, 1)
    clean = denoise(model, noisy)
    assert clean.shape == x.shape
    assert (clean - x).pow(2).mean() < 0.9 * (noisy - x).pow(2).mean()


# ---------------------------------------------------------------- command line


def test_inpaint_cli_png_npy_and_samples(main, digits_run, tmp_path):
    assert main(["inpaint", str(digits_run), "--mask", "bottom-half", "-n", "6", "--steps", "20", "--samples", "2",
                 "--out", str(tmp_path / "f.png")]) == 0  # fmt: skip
    assert (tmp_path / "f.png").stat().st_size > 200
    assert main(["inpaint", str(digits_run), "--mask", "center", "-n", "6", "--steps", "20", "--samples", "2",
                 "--method", "pseudo-gibbs", "--out", str(tmp_path / "f.npy")]) == 0  # fmt: skip
    a, s = np.load(tmp_path / "f.npy"), np.load(tmp_path / "f_samples.npy")
    x = load_data(RunDir(digits_run).config.data).test.x[:6].numpy()
    assert a.shape == (6, 1, 8, 8) and s.shape == (6, 2, 1, 8, 8)
    observed = named_mask("center", (1, 8, 8)).numpy()
    np.testing.assert_array_equal(a[:, observed], x[:, observed])


def test_inpaint_and_denoise_cli_errors(main, digits_run, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.ones((5, 5)))
    assert main(["inpaint", str(digits_run), "--mask", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o.npy")]) == 1
    assert "shape (5, 5)" in capsys.readouterr().err
    assert main(["inpaint", str(digits_run), "--mask", "bottom-half", "--out", str(tmp_path / "o.jpg")]) == 1
    assert "unsupported suffix" in capsys.readouterr().err
    assert main(["denoise", str(digits_run), "--out", str(tmp_path / "o.csv")]) == 1
    assert "models images" in capsys.readouterr().err
    # digits have no NaN: without a mask there is nothing to fill
    assert main(["inpaint", str(digits_run), "--out", str(tmp_path / "o.npy")]) == 1
    assert "nothing to fill" in capsys.readouterr().err
    np.savez(tmp_path / "big.npz", x=np.zeros((4, 10, 10), np.uint8))
    assert main(["denoise", str(digits_run), "--data", f"npz:{tmp_path / 'big.npz'}", "--out", str(tmp_path / "o.npy")]) == 1
    err = capsys.readouterr().err
    assert "shape (1, 10, 10)" in err and "trained on shape (1, 8, 8)" in err
    assert not (tmp_path / "o.npy").exists()


def test_denoise_folder_keeps_file_names(main, digits_run, tmp_path):
    from PIL import Image

    src = tmp_path / "noisy"
    src.mkdir()
    x = load_data(RunDir(digits_run).config.data).test.x[:3]
    names = ["a.png", "b.png", "c.bmp"]
    for name, img in zip(names, x):
        Image.fromarray((img[0].numpy() * 255).astype(np.uint8)).save(src / name)
    assert main(["denoise", str(digits_run), "--data", f"folder:{src}", "--out", str(tmp_path / "clean")]) == 0
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == names
    with Image.open(tmp_path / "clean" / "c.bmp") as im:
        assert im.size == (8, 8) and im.format == "BMP"


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory, tiny_run):
    from sklearn.datasets import load_wine

    d = tmp_path_factory.mktemp("wine")
    wine = load_wine()
    header = [c.replace("/", "_") for c in wine.feature_names] + ["label"]
    with open(d / "wine.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([*map(float, row), int(t)] for row, t in zip(wine.data, wine.target))
    run = tiny_run("wine", epochs=10, data={"source": f"csv:{d / 'wine.csv'}"}, likelihood="gaussian-learned", hidden=(32,))
    return run, d / "wine.csv"


def test_inpaint_csv_fills_only_the_gaps_in_original_units(main, wine_run, tmp_path):
    run_dir, full = wine_run
    rows = list(csv.reader(open(full)))
    header, body = rows[0], [list(r) for r in rows[1:]]
    rng = np.random.default_rng(0)
    holes = {(int(i), int(j)) for i, j in zip(rng.integers(0, len(body), 60), rng.integers(0, 13, 60))}
    for i, j in holes:
        body[i][j] = ""
    with open(tmp_path / "gaps.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *body])
    assert main(["inpaint", str(run_dir), "--data", f"csv:{tmp_path / 'gaps.csv'}", "--steps", "30",
                 "--out", str(tmp_path / "imputed.csv")]) == 0  # fmt: skip
    out = list(csv.reader(open(tmp_path / "imputed.csv")))
    assert out[0] == header and len(out) == len(rows)
    truth = np.array([[float(v) for v in r[:13]] for r in rows[1:]])
    errors = []
    for i, (orig, new) in enumerate(zip(body, out[1:])):
        for j, cell in enumerate(new):
            if (i, j) in holes:
                errors.append(((float(cell) - truth[i, j]) / truth[:, j].std()) ** 2)
            else:
                assert cell == orig[j]  # observed cells and the label column as written
    assert np.mean(errors) < 1.0  # better than the column mean (which scores about 1 in these units)
