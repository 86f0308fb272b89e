"""The latent manifold: the grid sits on the prior's quantiles, cells decode exactly those codes, the CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.applications.manifold import latent_manifold, quantile_grid
from vaekit.checkpoint import RunDir
from vaekit.core.inference import decode_mean
from vaekit.errors import ConfigError
from vaekit.viz.manifold import tick_positions, tick_text


@pytest.fixture(scope="module")
def run2d(tiny_run):
    return tiny_run("manifold", epochs=2, data={"limit": 300}, latent_dim=2, hidden=(16,))


def test_quantiles_are_even_in_probability_and_symmetric():
    q = quantile_grid(15, 0.05)
    assert q[0] == pytest.approx(0.05) and q[-1] == pytest.approx(0.95) and q[7] == 0.5
    assert torch.allclose(q.diff(), torch.full((14,), 0.9 / 14, dtype=torch.float64))
    with pytest.raises(ConfigError):
        quantile_grid(1)
    with pytest.raises(ConfigError):
        quantile_grid(5, 0.5)


def test_cells_decode_the_standard_normal_quantiles_with_the_other_dimensions_at_zero(tiny_run):
    run = RunDir(tiny_run("manifold4", epochs=1, data={"limit": 100}, latent_dim=4, hidden=(16,)))
    model = run.load_model()
    m = latent_manifold(model, grid=5, dims=(3, 1), q_min=0.1)
    ppf = [-1.2815516, -0.5244005, 0.0, 0.5244005, 1.2815516]  # scipy.stats.norm.ppf([.1, .3, .5, .7, .9])
    assert torch.allclose(m.values, torch.tensor([ppf, ppf]), atol=1e-5)
    z = torch.zeros(5, 5, 4)
    z[:, :, 3] = torch.tensor(ppf)[None, :]  # columns: z[3] left to right
    z[:, :, 1] = torch.tensor(ppf[::-1])[:, None]  # rows: z[1] largest at the top
    assert torch.allclose(m.x, decode_mean(model, z.reshape(-1, 4)).reshape(5, 5, 1, 8, 8), atol=1e-6)
    for bad in ((0, 0), (0, 4), (1,)):
        with pytest.raises(ConfigError):
            latent_manifold(model, grid=3, dims=bad)


def test_ticks_read_zero_and_keep_both_ends():
    assert tick_text(-2.9802322e-08) == "0" and tick_text(1.2815516) == "1.3"
    assert tick_positions(15) == list(range(15))
    t = tick_positions(21)
    assert t[0] == 0 and t[-1] == 20 and 10 in t and len(t) <= 15
    assert len(tick_positions(40)) <= 15


def test_manifold_cli_png_npy_and_errors(main, run2d, tmp_path, capsys):
    png = tmp_path / "manifold.png"
    assert main(["manifold", str(run2d), "--grid", "9", "--dims", "0,1", "--out", str(png)]) == 0
    im = np.asarray(Image.open(png).convert("L"))
    assert im.shape[0] > 9 * 8 and im.std() > 10  # a figure with a picture in it, not a blank page
    assert main(["manifold", str(run2d), "--grid", "4", "--out", str(tmp_path / "m.npy")]) == 0
    assert np.load(tmp_path / "m.npy").shape == (4, 4, 1, 8, 8)
    capsys.readouterr()
    for args in (["--dims", "0"], ["--dims", "0,2"], ["--grid", "1"], ["--out", str(tmp_path / "m.jpg")], ["--label", "1"]):
        assert main(["manifold", str(run2d), *args]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 5
