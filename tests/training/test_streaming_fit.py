"""Training on a streamed PNG folder gives the weights of training on it in memory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.training.loop import fit

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 sklearn digits as 8x8 grey PNGs, one folder per class."""
    from sklearn.datasets import load_digits

    d = load_digits()
    root = tmp_path_factory.mktemp("pngs") / "digits"
    for i, (img, label) in enumerate(zip(d.images[:120], d.target[:120])):
        path = root / str(label) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img * 16, 0, 255).astype(np.uint8)).save(path)
    return root


def run_cfg(root: Path, streaming: bool | str, workers: int = 0, epochs: int = 2) -> RunConfig:
    return RunConfig(
        data=DataConfig(source=f"folder:{root}", binarize="dynamic", streaming=streaming, workers=workers),
        model=ModelConfig(arch="mlp", latent_dim=3, hidden=(16,), conditional=True),  # labels ride along
        train=TrainConfig(epochs=epochs, batch_size=32, eval_batch_size=5, progress=False, threads=1, tensorboard=False),
        seed=4,
    )


def weights(run: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(run / "train_state.safetensors")).items() if k.startswith(("model.", "rng."))}


def val_elbos(run: Path) -> list[float]:
    return [json.loads(line)["val_elbo"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_streaming_on_and_off_give_the_same_weights_and_resume_exactly(digits_folder: Path, tmp_path: Path) -> None:
    fit(run_cfg(digits_folder, False), tmp_path / "memory")
    fit(run_cfg(digits_folder, True, workers=2), tmp_path / "streamed")
    fit(run_cfg(digits_folder, True, epochs=1), tmp_path / "resumed")
    fit(run_cfg(digits_folder, True, epochs=2), tmp_path / "resumed", resume=True)
    reference = weights(tmp_path / "memory")
    for name in ("streamed", "resumed"):
        got = weights(tmp_path / name)
        assert got.keys() == reference.keys()
        for k in reference:  # bit-for-bit: same batches, same binarisation, same noise
            assert torch.equal(got[k], reference[k]), (name, k)
        assert val_elbos(tmp_path / name) == val_elbos(tmp_path / "memory")
    config = json.loads((tmp_path / "streamed" / "config.json").read_text())
    assert config["data"]["shape"] == [1, 8, 8]
    assert (tmp_path / "streamed" / "reconstructions.png").exists() or not _has_matplotlib()


def test_resume_may_switch_streaming_but_not_what_is_computed(digits_folder: Path, tmp_path: Path) -> None:
    fit(run_cfg(digits_folder, True, epochs=1), tmp_path / "r")
    fit(run_cfg(digits_folder, False, epochs=2), tmp_path / "r", resume=True)  # how batches are read may change
    fit(run_cfg(digits_folder, False), tmp_path / "memory")
    resumed, reference = weights(tmp_path / "r"), weights(tmp_path / "memory")
    assert resumed.keys() == reference.keys() and all(torch.equal(resumed[k], reference[k]) for k in reference)
    changed = dataclasses.replace(run_cfg(digits_folder, True, epochs=3), seed=5)
    with pytest.raises(ConfigError, match="cannot change seed"):
        fit(changed, tmp_path / "r", resume=True)


def test_a_vq_model_asks_for_the_folder_in_memory(digits_folder: Path, tmp_path: Path) -> None:
    cfg = run_cfg(digits_folder, True)
    cfg = dataclasses.replace(
        cfg, model=ModelConfig(arch="mlp", latent_dim=4, hidden=(16,), posterior={"kind": "vq", "code_dim": 2})
    )
    with pytest.raises(ConfigError, match="data.streaming=false"):
        fit(cfg, tmp_path / "vq")


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
