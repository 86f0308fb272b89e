"""Every config under configs/ trains for one epoch on a tiny slice of its data.

Where a config's dataset is not on this machine, a synthetic set of the same shape (with labels)
stands in, so each config's model, objective and settings are still exercised.
"""

import dataclasses
from pathlib import Path

import pytest
import torch

from vaekit.config import load_config
from vaekit.data import DataSplits, Split, load_data
from vaekit.errors import DataError
from vaekit.training.loop import fit

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
SHARED = {
    "mnist": ROOT.parent / "shared" / "data" / "mnist",
    "binarized-mnist": ROOT.parent / "shared" / "data" / "binarized_mnist",
}
N = 64
OVERRIDES = [
    "train.epochs=1", "train.batch_size=32", "train.eval_batch_size=256", "train.progress=false",
    "train.tensorboard=false", "train.threads=1", "train.max_time=none", "train.early_stopping=none", "data.download=false",
]  # fmt: skip


def tiny_ratings(cfg, write_ratings):
    """A ratings config's file (repo-relative, else /work/shared), or a synthetic one in its layout."""
    import tempfile

    rel = Path(cfg.data.source[len("ratings:") :])
    found = [p for p in (ROOT / rel, Path("/work/shared") / rel.relative_to("../shared")) if p.is_file()]
    path = found[0] if found else write_ratings(Path(tempfile.mkdtemp()) / rel.name, users=200, items=60)
    return load_data(dataclasses.replace(cfg.data, source=f"ratings:{path}", heldout_users=20, limit=N))


def tiny_data(cfg, write_ratings=None) -> DataSplits:
    d = cfg.data
    source = d.source
    if source.startswith("ratings:"):
        return tiny_ratings(cfg, write_ratings)
    if source.startswith("folder:") and not Path(source[7:]).is_absolute():
        source = "folder:" + str((ROOT / source[7:]).resolve())  # configs name folders relative to the repo root
    data_dir = str(SHARED[source]) if source in SHARED and SHARED[source].is_dir() else d.data_dir
    try:
        data = load_data(dataclasses.replace(d, source=source, data_dir=data_dir, limit=N))
    except DataError:
        return synthetic(cfg)
    cut = lambda s: Split(s.x[:N], None if s.y is None else s.y[:N])  # noqa: E731
    return dataclasses.replace(data, validation=cut(data.validation), test=cut(data.test))


def synthetic(cfg) -> DataSplits:
    """Binary images of the config's size, labelled 0..9."""
    size = tuple(cfg.data.image_size or ((64, 64) if cfg.data.source == "olivetti" else (28, 28)))
    channels = 3 if cfg.data.channels == "rgb" else 1
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3 * N, channels, *size, generator=g) > 0.7).float()
    y = torch.arange(3 * N) % 10
    parts = [Split(x[i * N : (i + 1) * N], y[i * N : (i + 1) * N]) for i in range(3)]
    return DataSplits("synthetic", "image", (channels, *size), *parts, num_classes=10)


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_one_epoch(tmp_path, path, ratings_writer):
    cfg = load_config(path, OVERRIDES)
    run = fit(cfg, tmp_path / "run", data=tiny_data(cfg, ratings_writer))
    assert run.progress.epoch == 1 and run.progress.bad_steps == 0
    assert torch.isfinite(torch.tensor(run.history[0]["val_elbo"]))
    assert run.model.sample(2).shape[0] == 2


def test_every_variant_has_a_config():
    names = {p.stem for p in CONFIGS}
    assert {"digits_mlp", "mnist_conv", "fashion_mnist_conv", "mnist_best"} <= names  # the original three and the recipe
    cfgs = [load_config(p) for p in CONFIGS]
    kinds = {
        (part, getattr(c.model if part != "objective" else c.train, part).kind)
        for c in cfgs
        for part in ("prior", "posterior", "objective")
    }
    for prior in ("normal", "mixture", "vamp"):
        assert ("prior", prior) in kinds, prior
    for posterior in ("diagonal", "full", "planar", "iaf", "vq"):
        assert ("posterior", posterior) in kinds, posterior
    for objective in ("elbo", "iwae", "btcvae", "vaegan"):
        assert ("objective", objective) in kinds, objective
    assert any(c.train.objective.options.__dict__.get("capacity_max", 0) > 0 for c in cfgs)
    assert any(c.model.conditional for c in cfgs) and any(c.model.latent_dims for c in cfgs)
    assert any(c.model.arch == "resnet" for c in cfgs) and any(c.train.beta == 4.0 for c in cfgs)


def test_shipped_configs_name_sources_not_paths():
    """A path in a shipped config only resolves from one working directory; named sources search for their files."""
    for path in CONFIGS:
        source = load_config(path).data.source
        if source.startswith("ratings:"):  # the shared MovieLens file beside the repository; --data-dir finds it anywhere
            assert (ROOT / source.split(":", 1)[1]).is_file() or not (ROOT.parent / "shared").is_dir(), source
            continue
        assert ":" not in source, f"{path.name}: data.source {source!r} is a path; use a named source"
