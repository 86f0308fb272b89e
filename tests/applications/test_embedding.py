import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit import cli
from vaekit.applications.embedding import embed, latents, project_2d, save_embedding
from vaekit.checkpoint import RunDir
from vaekit.config import DataConfig, ModelConfig
from vaekit.core import build_model
from vaekit.core.inference import posterior_stats
from vaekit.data import load_data
from vaekit.errors import ConfigError, VaekitError


@pytest.fixture(scope="module")
def run_dir(tiny_run) -> Path:
    return tiny_run("embed", epochs=2, data={"limit": 200}, latent_dim=3, hidden=(16,))


def tiny_model(latent_dim: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="mlp", latent_dim=latent_dim, hidden=(16,)), (1, 8, 8)).eval()


def digits(n: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    test = load_data(DataConfig(source="digits")).test
    return test.x[:n], test.y[:n]


# ------------------------------------------------------------------------------ the library


def test_latents_are_posterior_means_and_samples_have_their_moments():
    model = tiny_model(3)
    x, _ = digits(50)
    stats = posterior_stats(model, x)
    torch.testing.assert_close(latents(model, x, batch_size=7), stats.mean)
    # many draws for one example: Monte Carlo mean and std match q(z|x)
    many = x[:1].expand(4000, -1, -1, -1)
    z = latents(model, many, sample=True, generator=torch.Generator().manual_seed(0))  # (4000, 3)
    mu, sd = stats.mean[0], stats.stddev[0]
    assert torch.all((z.mean(0) - mu).abs() < 4 * sd / 4000**0.5)
    torch.testing.assert_close(z.std(0), sd, rtol=0.05, atol=0.0)


def test_pca_projection_equals_sklearn_and_the_covariance_eigenvectors():
    from sklearn.decomposition import PCA

    model = tiny_model(5)
    x, y = digits()
    emb = embed(model, x, y)  # auto: D = 5 -> pca
    assert emb.projection.method == "pca"
    z = emb.z.astype(np.float64)
    np.testing.assert_allclose(emb.projection.points, PCA(n_components=2, svd_solver="full").fit_transform(z), atol=1e-9)
    # closed form: the columns are uncorrelated and their variances are the top two eigenvalues
    eigvals, eigvecs = np.linalg.eigh(np.cov(z, rowvar=False))
    cov = np.cov(emb.projection.points, rowvar=False)
    np.testing.assert_allclose(np.diag(cov), eigvals[::-1][:2], rtol=1e-6)
    assert abs(cov[0, 1]) < 1e-9 * cov[0, 0]
    centred = z - z.mean(0)
    np.testing.assert_allclose(np.abs(emb.projection.points), np.abs(centred @ eigvecs[:, ::-1][:, :2]), atol=1e-9)
    np.testing.assert_array_equal(emb.labels, y.numpy())


def test_two_dimensional_latents_are_passed_through_unchanged():
    model = tiny_model(2)
    x, y = digits()
    emb = embed(model, x, y)
    assert emb.projection.method == "direct" and emb.projection.axis_names == ("z[0]", "z[1]")
    np.testing.assert_array_equal(emb.projection.points, emb.z.astype(np.float64))
    np.testing.assert_array_equal(emb.z, posterior_stats(model, x).mean.numpy())


def test_unknown_and_impossible_methods_are_config_errors():
    with pytest.raises(ConfigError, match="use one of auto, direct, pca, tsne, umap"):
        project_2d(np.zeros((10, 3)), "isomap")
    with pytest.raises(ConfigError, match="needs D <= 2"):
        project_2d(np.zeros((10, 3)), "direct")
    with pytest.raises(ConfigError, match="use one of"):
        embed(tiny_model(3), digits(5)[0], method="lda")


def test_tsne_keeps_two_far_clusters_apart():
    from sklearn.manifold import trustworthiness
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 1, (40, 6)), rng.normal(12, 1, (40, 6))])
    with threadpool_limits(1):  # OpenMP threads on a busy shared machine make t-SNE many times slower
        proj = project_2d(z, "tsne", seed=0)
    assert proj.method == "tsne" and proj.points.shape == (80, 2)
    a, b = proj.points[:40], proj.points[40:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 3 * max(a.std(0).max(), b.std(0).max())
    assert trustworthiness(z, proj.points, n_neighbors=5) > 0.9


def test_umap_without_the_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    with pytest.raises(VaekitError, match="pip install umap-learn"):
        project_2d(np.zeros((10, 3)), "umap")


def test_npz_holds_codes_projection_labels_and_names(tmp_path):
    model = tiny_model(4)
    x, y = digits(30)
    emb = embed(model, x, y, class_names=tuple("abcdefghij"))
    save_embedding(emb, tmp_path / "l.npz")
    with np.load(tmp_path / "l.npz", allow_pickle=False) as f:
        assert set(f.files) == {"z", "projection", "labels", "class_names", "method", "axis_names", "sampled"}
        np.testing.assert_array_equal(f["z"], emb.z)
        np.testing.assert_allclose(f["projection"], emb.projection.points, rtol=1e-6)
        np.testing.assert_array_equal(f["labels"], y.numpy())
        assert f["class_names"].tolist() == list("abcdefghij") and str(f["method"]) == "pca"
    no_labels = embed(model, x)
    save_embedding(no_labels, tmp_path / "n.npz")
    assert "labels" not in np.load(tmp_path / "n.npz").files
    with pytest.raises(ConfigError, match=".npz"):
        save_embedding(emb, tmp_path / "l.npy")
    assert not list(tmp_path.glob(".*.tmp"))


def test_scatter_plots_with_legend_colorbar_or_no_labels(tmp_path):
    from PIL import Image

    from vaekit.viz.scatter import save_scatter

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 2))
    save_scatter(pts, tmp_path / "a.png", rng.integers(0, 10, 300), [f"class {i}" for i in range(10)], ("PC 1", "PC 2"), "t")
    save_scatter(pts, tmp_path / "b.png", rng.integers(0, 50, 300))  # > 20 classes: colorbar
    save_scatter(pts, tmp_path / "c.png")
    for name in "abc":
        with Image.open(tmp_path / f"{name}.png") as im:
            assert im.format == "PNG" and im.size[0] > 300
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        save_scatter(pts[:, :1], tmp_path / "d.png")


# ------------------------------------------------------------------------------------- CLI


def test_embed_command_writes_codes_of_the_whole_split_and_a_plot(run_dir, tmp_path, capsys):
    out, plot = tmp_path / "latents.npz", tmp_path / "latents.png"
    assert cli.main(["embed", str(run_dir), "--split", "test", "--out", str(out), "--plot", str(plot)]) == 0
    assert "pca" in capsys.readouterr().out
    run = RunDir(run_dir)
    test = load_data(DataConfig(source="digits")).test
    with np.load(out) as f:
        assert f["z"].shape == (len(test), 3) and f["projection"].shape == (len(test), 2)
        np.testing.assert_allclose(f["z"], posterior_stats(run.load_model(), test.x).mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(f["labels"], test.y.numpy())
        assert f["class_names"].tolist() == [str(i) for i in range(10)]
    assert plot.stat().st_size > 1000


def test_embed_command_sample_is_seeded_and_differs_from_means(run_dir, tmp_path):
    args = ["embed", str(run_dir), "--limit", "40", "--method", "pca"]
    assert cli.main([*args, "--out", str(tmp_path / "m.npz")]) == 0
    assert cli.main([*args, "--sample", "--seed", "1", "--out", str(tmp_path / "a.npz")]) == 0
    assert cli.main([*args, "--sample", "--seed", "1", "--out", str(tmp_path / "b.npz")]) == 0
    m, a, b = (np.load(tmp_path / f"{n}.npz") for n in "mab")
    assert m["z"].shape == (40, 3) and bool(a["sampled"]) and not bool(m["sampled"])
    np.testing.assert_array_equal(a["z"], b["z"])
    assert not np.allclose(a["z"], m["z"])


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--method", "isomap"], "unknown projection method 'isomap'"),
        (["--method", "direct"], "needs D <= 2"),
        (["--out", "latents.csv"], "--out"),
        (["--plot", "latents.jpg"], "--plot"),
    ],
)
def test_embed_command_errors(run_dir, tmp_path, capsys, extra, needle):
    assert cli.main(["embed", str(run_dir), "--out", str(tmp_path / "l.npz"), *extra]) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "l.npz").exists()


def test_embed_command_rejects_data_of_the_wrong_size(run_dir, tmp_path, capsys):
    np.savez(tmp_path / "small.npz", x=np.random.default_rng(0).random((30, 6, 6)).astype(np.float32))
    code = cli.main(["embed", str(run_dir), "--data", f"npz:{tmp_path / 'small.npz'}", "--out", str(tmp_path / "l.npz")])
    assert code == 1
    err = capsys.readouterr().err
    assert "(1, 6, 6)" in err and "(1, 8, 8)" in err
    assert not (tmp_path / "l.npz").exists()
