import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vaekit import cli
from vaekit.applications.interpolation import (
    choose_pairs,
    dimension_scores,
    interpolate,
    kl_per_dim,
    latent_path,
    lerp,
    parse_dims,
    rank_dims,
    slerp,
    traverse,
)
from vaekit.checkpoint import MODEL, RunDir, save_tensors
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.core import build_model
from vaekit.core.inference import decode_mean, posterior_stats
from vaekit.data import load_data
from vaekit.errors import ConfigError, ModelError
from vaekit.training.loop import fit


@pytest.fixture(scope="module")
def run_dir(tiny_run) -> Path:
    return tiny_run("interp", epochs=2, data={"limit": 200}, latent_dim=4, hidden=(16,))


def tiny_model(latent_dim: int = 6) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="mlp", latent_dim=latent_dim, hidden=(16,)), (1, 8, 8)).eval()


def digits(n: int = 64, split: str = "test") -> torch.Tensor:
    return load_data(DataConfig(source="digits")).split(split).x[:n]


def silence_dims(model: torch.nn.Module, dims: list[int]) -> None:
    """Make q(z_d|x) = N(0, 1) exactly for d in dims: zero mean and unit scale, whatever x is."""
    head = model.encoder.head  # outputs [mu (D), pre-scale (D)]
    d = model.latent_dim
    unit = math.log(math.expm1(1 - 1e-5))  # softplus(unit) + 1e-5 == 1
    with torch.no_grad():
        for i in dims:
            head.weight[i].zero_()
            head.bias[i] = 0.0
            head.weight[d + i].zero_()
            head.bias[d + i] = unit


# ------------------------------------------------------------------------------- lerp / slerp


def test_lerp_is_the_straight_line():
    z0, z1 = torch.randn(3, 5), torch.randn(3, 5)
    t = torch.linspace(0, 1, 5)
    path = lerp(z0, z1, t)  # (3, 5, 5)
    assert path.shape == (3, 5, 5)
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)
    torch.testing.assert_close(path[:, 2], (z0 + z1) / 2)


def test_slerp_keeps_equal_norms_hits_both_ends_and_turns_at_constant_speed():
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(8, 16, generator=g, dtype=torch.float64)
    z1 = torch.randn(8, 16, generator=g, dtype=torch.float64)
    z1 = z1 / z1.norm(dim=-1, keepdim=True) * z0.norm(dim=-1, keepdim=True)  # equal norms
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    path = slerp(z0, z1, t)  # (8, 11, 16)
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)
    torch.testing.assert_close(path.norm(dim=-1), z0.norm(dim=-1, keepdim=True).expand(8, 11))
    cos = F.cosine_similarity(path, z0[:, None], dim=-1).clamp(-1, 1)
    omega = torch.arccos(F.cosine_similarity(z0, z1, dim=-1))  # (8,)
    torch.testing.assert_close(torch.arccos(cos), omega[:, None] * t)  # angle grows linearly in t


def test_slerp_quarter_circle_closed_form():
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    path = slerp(torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64), t)
    expected = torch.stack([torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)], -1)
    torch.testing.assert_close(path, expected)


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-5, 1e-3])
def test_slerp_tends_to_lerp_as_the_angle_vanishes(angle):
    z0 = torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)
    z1 = torch.tensor([[2.0 * math.cos(angle), 2.0 * math.sin(angle), 0.0]], dtype=torch.float64)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    path = slerp(z0, z1, t)
    assert torch.isfinite(path).all()
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)
    # slerp - lerp = O(angle^2) for a small angle (here |z| = 2)
    assert (path - lerp(z0, z1, t)).abs().max() <= 2 * angle**2 + 1e-15
    torch.testing.assert_close(path.norm(dim=-1), torch.full((1, 7), 2.0, dtype=torch.float64), atol=2 * angle**2 + 1e-15, rtol=0)


def test_slerp_with_a_zero_end_is_finite_and_latent_path_checks_its_arguments():
    z0, z1 = torch.zeros(1, 4), torch.ones(1, 4)
    path = latent_path(z0, z1, 5, "slerp")
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path, lerp(z0, z1, torch.linspace(0, 1, 5)))
    with pytest.raises(ConfigError, match="lerp or slerp"):
        latent_path(z0, z1, 5, "cubic")
    with pytest.raises(ConfigError, match="at least 2 steps"):
        latent_path(z0, z1, 1)


def test_interpolation_decodes_the_path_between_posterior_means():
    model = tiny_model(3)
    x = digits(6)
    result = interpolate(model, x[:3], x[3:], steps=4, mode="slerp")
    assert result.z.shape == (3, 4, 3) and result.x.shape == (3, 4, 1, 8, 8)
    mu = posterior_stats(model, x).mean
    torch.testing.assert_close(result.z[:, 0], mu[:3])
    torch.testing.assert_close(result.z[:, -1], mu[3:])
    torch.testing.assert_close(result.x[:, 0], model.reconstruct(x[:3]))
    torch.testing.assert_close(result.x, decode_mean(model, result.z.reshape(-1, 3)).reshape(3, 4, 1, 8, 8))


def test_choose_pairs_are_distinct_and_disjoint_when_possible():
    g = torch.Generator().manual_seed(0)
    idx = choose_pairs(20, 8, g)
    assert idx.shape == (8, 2) and len(set(idx.flatten().tolist())) == 16
    many = choose_pairs(3, 5, g)
    assert many.shape == (5, 2) and bool((many[:, 0] != many[:, 1]).all())
    with pytest.raises(ConfigError, match="at least 2 examples"):
        choose_pairs(1, 1)


# ----------------------------------------------------------------------------------- traversal


def test_kl_per_dim_is_the_closed_form_average_and_does_not_depend_on_batching():
    model = tiny_model(5)
    x = digits(50)
    s = posterior_stats(model, x)
    brute = (0.5 * (s.stddev**2 + s.mean**2 - 1) - s.stddev.log()).mean(0)  # KL(N(mu, sd) || N(0, 1))
    torch.testing.assert_close(kl_per_dim(model, x, batch_size=7).float(), brute, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(kl_per_dim(model, x, batch_size=7), kl_per_dim(model, x, batch_size=50))


def test_inactive_dimensions_have_no_kl_and_rank_last():
    model = tiny_model(6)
    silence_dims(model, [1, 4])
    kl = kl_per_dim(model, digits(80, "validation"))
    assert kl[[1, 4]].abs().max() < 1e-6
    assert kl[[0, 2, 3, 5]].min() > 1e-3
    order = rank_dims(kl).tolist()
    assert set(order[-2:]) == {1, 4}
    assert kl[order].tolist() == sorted(kl.tolist(), reverse=True)


def test_parse_dims():
    assert parse_dims("0-3", 10) == [0, 1, 2, 3]
    assert parse_dims("0, 2,5-7", 8) == [0, 2, 5, 6, 7]
    with pytest.raises(ConfigError, match="out of range; the model has 4 latent dimensions"):
        parse_dims("0-9", 4)
    with pytest.raises(ConfigError, match="backwards"):
        parse_dims("3-1", 4)
    with pytest.raises(ConfigError, match="ranges like"):
        parse_dims("first", 4)


def test_traverse_sweeps_one_dimension_around_the_base():
    model = tiny_model(4)
    base = torch.tensor([0.5, -1.0, 2.0, 0.25])
    kl = torch.tensor([0.1, 0.2, 0.3, 0.4])
    result = traverse(model, [2, 0], kl, base, span=2.0, steps=5)
    assert result.x.shape == (2, 5, 1, 8, 8) and result.dims == [2, 0]
    torch.testing.assert_close(result.values, torch.linspace(-2, 2, 5))
    torch.testing.assert_close(result.kl, torch.tensor([0.3, 0.1]))
    z = base.repeat(2, 5, 1)  # (2, 5, 4)
    z[0, :, 2] = torch.linspace(-2, 2, 5)  # standard normal prior: values are z itself
    z[1, :, 0] = torch.linspace(-2, 2, 5)
    torch.testing.assert_close(result.x, decode_mean(model, z.reshape(-1, 4)).reshape(2, 5, 1, 8, 8))
    with pytest.raises(ConfigError, match="0-3"):
        traverse(model, [4], kl)


# ------------------------------------------------------------------------------ image sequences


def test_gif_frames_and_file_hold_the_interpolation(tmp_path):
    from PIL import Image

    from vaekit.viz.animation import gif_frames, save_gif, to_uint8
    from vaekit.viz.grids import make_grid

    rows = np.random.default_rng(0).random((4, 5, 1, 8, 8)).astype(np.float32)  # 4 paths, 5 steps
    frames = gif_frames(rows, scale=2)
    assert frames.shape == (8, 2 * 19, 2 * 19, 1)  # 2*5-2 frames (forward and back) of a 2x2 grid
    np.testing.assert_array_equal(frames[0], to_uint8(make_grid(rows[:, 0], nrow=2)).repeat(2, 0).repeat(2, 1))
    np.testing.assert_array_equal(frames[5], frames[3])  # on the way back
    save_gif(rows, tmp_path / "a.gif", scale=2)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 8 and im.info["loop"] == 0
        im.seek(4)
        np.testing.assert_array_equal(np.asarray(im.convert("L")), frames[4][:, :, 0])


def test_image_rows_png_is_the_pixel_grid_or_a_labelled_figure(tmp_path):
    from PIL import Image

    from vaekit.viz.animation import save_image_rows

    rows = np.random.default_rng(0).random((3, 4, 1, 8, 8)).astype(np.float32)
    save_image_rows(rows, tmp_path / "plain.png", scale=3)
    with Image.open(tmp_path / "plain.png") as im:
        assert im.size == (3 * (4 * 9 + 1), 3 * (3 * 9 + 1))
    save_image_rows(rows, tmp_path / "labels.png", scale=3, row_labels=["a", "b", "c"], col_labels=list("wxyz"), title="t")
    with Image.open(tmp_path / "labels.png") as im:
        assert im.format == "PNG" and im.size[0] > 3 * 37


# ------------------------------------------------------------------------------------- CLI


def test_interpolate_command_png_gif_and_npy(run_dir, tmp_path):
    argv = ["interpolate", str(run_dir), "--pairs", "3", "--steps", "5", "--seed", "2"]
    assert cli.main([*argv, "--out", str(tmp_path / "i.png"), "--gif", str(tmp_path / "i.gif"), "--mode", "slerp"]) == 0
    assert (tmp_path / "i.png").stat().st_size > 200 and (tmp_path / "i.gif").stat().st_size > 200
    assert cli.main([*argv, "--out", str(tmp_path / "i.npy")]) == 0
    paths = np.load(tmp_path / "i.npy")
    assert paths.shape == (3, 5, 1, 8, 8)
    model = RunDir(run_dir).load_model()
    x = load_data(DataConfig(source="digits")).test.x
    idx = choose_pairs(len(x), 3, torch.Generator().manual_seed(2))
    np.testing.assert_allclose(paths[:, 0], model.reconstruct(x[idx[:, 0]]).numpy(), atol=1e-6)
    np.testing.assert_allclose(paths[:, -1], model.reconstruct(x[idx[:, 1]]).numpy(), atol=1e-6)


def test_traverse_command_orders_rows_by_kl(run_dir, tmp_path, capsys):
    """A copy of the run with dimensions 0 and 2 silenced: they must come last."""
    run2 = tmp_path / "silenced"
    shutil.copytree(run_dir, run2)
    model = RunDir(run2).load_model()
    silence_dims(model, [0, 2])
    save_tensors(run2 / MODEL, model.state_dict())
    capsys.readouterr()
    assert cli.main(["traverse", str(run2), "--range", "2", "--steps", "5", "--out", str(tmp_path / "t.npy")]) == 0
    table = capsys.readouterr().out.splitlines()[-4:]  # rank, dim, KL
    dims = [int(line.split()[1]) for line in table]
    kls = [float(line.split()[2]) for line in table]
    assert set(dims[-2:]) == {0, 2} and kls == sorted(kls, reverse=True) and max(kls[-2:]) < 1e-3
    rows = np.load(tmp_path / "t.npy")
    assert rows.shape == (4, 5, 1, 8, 8)
    kl = kl_per_dim(model, load_data(DataConfig(source="digits")).validation.x)
    expected = traverse(model, rank_dims(kl).tolist(), kl, None, 2.0, 5)
    np.testing.assert_allclose(rows, expected.x.numpy(), atol=1e-6)
    # --dims picks ranks; --order index picks dimensions
    assert cli.main(["traverse", str(run2), "--dims", "3", "--steps", "3", "--out", str(tmp_path / "last.npy")]) == 0
    assert f"   3    {dims[-1]}" in capsys.readouterr().out
    assert cli.main(["traverse", str(run2), "--dims", "3", "--order", "index", "--out", str(tmp_path / "d3.npy")]) == 0
    rank, dim, _ = capsys.readouterr().out.splitlines()[-1].split()
    assert int(dim) == 3 and int(rank) == dims.index(3)


def test_traverse_ranks_by_activity_when_no_per_dimension_kl_exists(tmp_path, capsys):
    """A full-covariance posterior has no per-dimension KL: traverse ranks by the variance of the
    posterior mean instead, and --order index works too."""
    cfg = RunConfig(
        data=DataConfig(source="digits", limit=200),
        model=ModelConfig(arch="mlp", latent_dim=3, hidden=(16,), posterior="full"),
        train=TrainConfig(epochs=1, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False),
    )
    run = fit(cfg, tmp_path / "full").path
    model = RunDir(run).load_model()
    val = load_data(DataConfig(source="digits")).validation.x
    scores, what = dimension_scores(model, val)
    assert what == "activity"
    torch.testing.assert_close(scores, posterior_stats(model, val).mean.double().var(0))
    capsys.readouterr()
    assert cli.main(["traverse", str(run), "--steps", "3", "--out", str(tmp_path / "t.npy")]) == 0
    out = capsys.readouterr().out
    assert "activity" in out
    dims = [int(line.split()[1]) for line in out.splitlines()[-3:]]
    assert dims == rank_dims(scores).tolist()
    assert cli.main(["traverse", str(run), "--dims", "2", "--order", "index", "--out", str(tmp_path / "i.npy")]) == 0
    with pytest.raises(ModelError, match="factorise"):
        kl_per_dim(model, val)


def test_traverse_command_png_and_base_from_an_example(run_dir, tmp_path):
    out = tmp_path / "t.png"
    assert cli.main(["traverse", str(run_dir), "--index", "5", "--split", "test", "--dims", "0-1", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert (
        cli.main(["traverse", str(run_dir), "--index", "5", "--dims", "0", "--steps", "3", "--out", str(tmp_path / "b.npy")]) == 0
    )
    row = np.load(tmp_path / "b.npy")[0]  # (3, 1, 8, 8): values -3, 0, +3 of the top dimension
    model = RunDir(run_dir).load_model()
    data = load_data(DataConfig(source="digits"))
    z = posterior_stats(model, data.test.x[5:6]).mean.repeat(3, 1)  # (3, D): the base, the others fixed there
    top = int(rank_dims(kl_per_dim(model, data.validation.x))[0])
    z[:, top] = torch.tensor([-3.0, 0.0, 3.0])
    np.testing.assert_allclose(row, decode_mean(model, z).numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["traverse", "{run}", "--dims", "0-9"], "out of range; the model has 4 latent dimensions"),
        (["traverse", "{run}", "--index", "100000"], "--index 100000 is out of range"),
        (["traverse", "{run}", "--data", "digits"], "pass --index"),
        (["traverse", "{run}", "--out", "t.gif"], "--out"),
        (["interpolate", "{run}", "--mode", "cubic"], "use lerp or slerp"),
        (["interpolate", "{run}", "--steps", "1"], "at least 2"),
        (["interpolate", "{run}", "--pairs", "0"], "at least 1"),
        (["interpolate", "{run}", "--data", "npz:{tmp}/small.npz"], "(1, 8, 8)"),
    ],
)
def test_interpolate_and_traverse_errors(run_dir, tmp_path, capsys, argv, needle):
    np.savez(tmp_path / "small.npz", x=np.random.default_rng(0).random((30, 6, 6)).astype(np.float32))
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "o.npy")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "o.npy").exists()
