"""Lossy compression (quantised latents under a fitted density or the prior) and the compress /
decompress commands."""

import importlib.util

import numpy as np
import pytest
import torch

from vaekit.applications.compression import (
    CompressionError,
    compress,
    decompress,
    fit_density,
    load_density,
    read_header,
    save_density,
)
from vaekit.applications.compression.format import unpack
from vaekit.applications.compression.lossy import DENSITY_FILE, posterior_means, restore, step
from vaekit.checkpoint import RunDir
from vaekit.runs import load_run_data

pytestmark = pytest.mark.skipif(importlib.util.find_spec("constriction") is None, reason="needs vaekit[compress]")


@pytest.fixture(scope="module")
def run_dir(tiny_run):
    return tiny_run("cmp_lossy", epochs=8, data={"binarize": "static"})


@pytest.fixture(scope="module")
def parts(run_dir):
    run = RunDir(run_dir)
    model = run.load_model()
    data = load_run_data(run)
    return model, data.train.x, data.test.x, fit_density(model, data.train.x)


def test_lossy_restores_the_decoder_mean_at_the_quantised_latents(parts):
    model, _, x, density = parts
    mu, _ = posterior_means(model, x)
    for q, dens in ((3, None), (7, density)):
        scale = torch.from_numpy(dens.scale) if dens is not None else torch.ones(mu.shape[1], dtype=torch.float64)
        delta = step(q) * scale
        expected = restore(model, torch.round(mu / delta) * delta)
        out = decompress(model, compress(model, x, lossy=True, quality=q, density=dens), density=dens)
        assert torch.equal(out, expected)


def test_quality_trades_file_size_for_error_and_the_density_sets_the_code_length(parts):
    model, _, x, density = parts
    sizes, errors = [], []
    for q in (1, 5, 9):
        data = compress(model, x, lossy=True, quality=q, density=density)
        sizes.append(len(data))
        errors.append(float(((decompress(model, data, density=density) - x) ** 2).mean()))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0]
    # the payload costs the symbols' information content under the fitted histograms
    mu, _ = posterior_means(model, x)
    sym = torch.round(mu / (step(5) * torch.from_numpy(density.scale))).long().numpy()
    info = 0.0
    for j in range(sym.shape[1]):
        p = density.probs(5, j) / density.probs(5, j).sum()
        info -= np.log2(p[np.clip(sym[:, j] - density.offsets[5][j], 0, density.widths[5][j] - 1)]).sum()
    payload_bits = 8 * len(unpack(compress(model, x, lossy=True, quality=5, density=density))[1])
    assert info - 1 < payload_bits < 1.01 * info + 64
    assert read_header(compress(model, x, lossy=True, quality=5)).quality == 5


def test_density_file_round_trip_and_mismatches(parts, run_dir, tmp_path):
    model, train, x, density = parts
    path = save_density(density, tmp_path)
    assert path.name == DENSITY_FILE and load_density(tmp_path).id == density.id
    assert load_density(tmp_path / "missing") is None
    data = compress(model, x, lossy=True, quality=6, density=density)
    with pytest.raises(CompressionError, match="density"):
        decompress(model, data)  # the density it was coded under is needed
    with pytest.raises(CompressionError, match="another latent density"):
        decompress(model, data, density=fit_density(model, train[:100]))
    with pytest.raises(CompressionError, match="quality"):
        compress(model, x, lossy=True, quality=0)


# ---------------------------------------------------------------- the commands


def test_compress_and_decompress_commands_round_trip_a_split(main, run_dir, tmp_path, capsys):
    out = tmp_path / "t.vkz"
    assert main(["compress", str(run_dir), "--split", "test", "--out", str(out)]) == 0
    assert "bits/dim" in capsys.readouterr().out
    assert main(["decompress", str(out), "--run", str(run_dir), "--out", str(tmp_path / "r.npz")]) == 0
    expected = load_run_data(RunDir(run_dir)).test.x
    assert np.array_equal(np.load(tmp_path / "r.npz")["x"], expected.numpy())
    assert main(["compress", str(run_dir), "--dry-run", "--limit", "20"]) == 0
    assert "dry run" in capsys.readouterr().out and sorted(p.name for p in tmp_path.iterdir()) == ["r.npz", "t.vkz"]


def test_lossy_folder_keeps_file_names_and_fits_the_density_once(main, run_dir, tmp_path, capsys):
    from PIL import Image

    x = load_run_data(RunDir(run_dir)).test.x[:5]
    folder = tmp_path / "imgs"
    folder.mkdir()
    names = [f"digit_{i}.png" for i in range(5)]
    for name, img in zip(names, x):
        Image.fromarray((img[0].numpy() * 255).astype(np.uint8)).save(folder / name)
    (RunDir(run_dir).path / DENSITY_FILE).unlink(missing_ok=True)
    args = ["compress", str(run_dir), "--data", f"folder:{folder}", "--lossy", "--quality", "6", "--out", str(tmp_path / "p.vkz")]
    assert main(args) == 0
    assert "fitted the latent density" in capsys.readouterr().out
    assert main(args) == 0
    assert "fitted" not in capsys.readouterr().out  # reused from the run directory
    assert main(["decompress", str(tmp_path / "p.vkz"), "--run", str(run_dir), "--out", str(tmp_path / "restored")]) == 0
    assert sorted(p.name for p in (tmp_path / "restored").iterdir()) == names


def test_commands_report_bad_files_in_one_line(main, run_dir, tiny_run, tmp_path, capsys):
    out = tmp_path / "t.vkz"
    assert main(["compress", str(run_dir), "--limit", "10", "--out", str(out)]) == 0
    other = tiny_run("cmp_other", epochs=1, data={"binarize": "static"}, latent_dim=3)
    capsys.readouterr()
    assert main(["decompress", str(out), "--run", str(other), "--out", str(tmp_path / "r.npz")]) == 1
    err = capsys.readouterr().err
    assert "another model" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "cut.vkz").write_bytes(out.read_bytes()[:-7])
    assert main(["decompress", str(tmp_path / "cut.vkz"), "--run", str(run_dir), "--out", str(tmp_path / "r.npz")]) == 1
    assert "truncated" in capsys.readouterr().err and not (tmp_path / "r.npz").exists()
    assert main(["decompress", str(out), "--run", str(run_dir), "--out", str(tmp_path / "r.png")]) == 1
    assert ".npz" in capsys.readouterr().err
