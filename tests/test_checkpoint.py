import json
import os

import pytest
import torch

from vaekit.checkpoint import (
    RunDir,
    RunInfo,
    atomic_write_bytes,
    load_weights,
    pack_state,
    save_tensors,
    unpack_state,
    write_config,
)
from vaekit.config import ModelConfig, RunConfig
from vaekit.core import build_model
from vaekit.errors import CheckpointError, RunDirError


def test_optimizer_state_round_trips_without_pickle():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors: dict = {}
    skeleton = json.loads(json.dumps(pack_state(opt.state_dict(), "optim", tensors)))
    back = unpack_state(skeleton, tensors)
    ref = opt.state_dict()
    assert back["param_groups"][0]["betas"] == (0.8, 0.9)
    assert set(back["state"]) == set(ref["state"])  # int keys survive
    for k in ref["state"]:
        for name, v in ref["state"][k].items():
            torch.testing.assert_close(back["state"][k][name], v)
    opt2 = torch.optim.Adam(model.parameters())
    opt2.load_state_dict(back)


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"old")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RuntimeError):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["f.bin"]  # no temp file left


def _run_dir(tmp_path, model_cfg=ModelConfig(latent_dim=2, hidden=(8,))):
    cfg = RunConfig(model=model_cfg)
    write_config(tmp_path, cfg, RunInfo((1, 8, 8), "image"))
    return cfg


def test_run_dir_loads_weights_and_checks_them(tmp_path):
    cfg = _run_dir(tmp_path)
    model = build_model(cfg.model, (1, 8, 8))
    save_tensors(tmp_path / "model.safetensors", model.state_dict())
    loaded = RunDir(tmp_path).load_model()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    other = build_model(ModelConfig(latent_dim=3, hidden=(8,)), (1, 8, 8))
    save_tensors(tmp_path / "model.safetensors", other.state_dict())
    with pytest.raises(CheckpointError, match="do not match its config.json"):
        RunDir(tmp_path).load_model()


def test_not_a_run_dir(tmp_path):
    with pytest.raises(RunDirError, match="not a directory"):
        RunDir(tmp_path / "nope")
    with pytest.raises(RunDirError, match="not a vaekit run directory"):
        RunDir(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RunDirError, match="damaged"):
        RunDir(tmp_path)


def test_missing_or_damaged_weights(tmp_path):
    _run_dir(tmp_path)
    with pytest.raises(CheckpointError, match="missing"):
        RunDir(tmp_path).load_model()
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage")
    with pytest.raises(CheckpointError, match="damaged"):
        RunDir(tmp_path).load_model()


def test_load_weights_names_the_wrong_shape():
    m = build_model(ModelConfig(latent_dim=2, hidden=(8,)), (1, 8, 8))
    w = {k: v.clone() for k, v in m.state_dict().items()}
    w["encoder.head.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError, match="encoder.head.bias"):
        load_weights(m, w, "x")
