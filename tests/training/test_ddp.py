"""Two CPU processes (gloo) against one process with the same seed and global batch."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.errors import TrainingError
from vaekit.training import ddp, launch
from vaekit.training.loop import fit

ROOT = Path(__file__).resolve().parents[2]


def cfg(**train) -> RunConfig:
    t = dict(epochs=2, batch_size=30, lr=3e-3, progress=False, threads=1, tensorboard=False)
    t.update(train)
    return RunConfig(
        data=DataConfig(source="digits", limit=250),  # 250 = 8 global batches of 30 + one of 10
        model=ModelConfig(arch="mlp", latent_dim=3, hidden=(16,)),
        train=TrainConfig(**t),
    )


def last_weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path / "train_state.safetensors")).items() if k.startswith("model.")}


def test_shard_scales_make_the_mean_of_shard_losses_the_global_mean():
    x = torch.arange(11.0)
    shares = [ddp.shard(x, ddp.DistEnv(r, 3, r)) for r in range(3)]
    assert torch.equal(torch.cat([p for p, _ in shares]), x)
    mean_of_scaled = sum(p.mean() * s for p, s in shares) / 3
    torch.testing.assert_close(mean_of_scaled, x.mean())


@pytest.mark.slow
def test_two_processes_match_one_and_write_one_run_directory(tmp_path):
    fit(cfg(), tmp_path / "single")
    launch.launch(cfg(), tmp_path / "multi", devices=2)
    a, b = last_weights(tmp_path / "single"), last_weights(tmp_path / "multi")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi", "single"]
    assert len((tmp_path / "multi" / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.slow
def test_a_failing_rank_stops_all_with_a_clear_message(tmp_path):
    bad = dataclasses.replace(cfg(), data=DataConfig(source="npz:/nonexistent/x.npz"))
    with pytest.raises(TrainingError, match="process .* failed, so all were stopped"):
        launch.launch(bad, tmp_path / "r", devices=2)


@pytest.mark.slow
def test_torchrun_launch_and_resume(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "vaekit", "train"]
    args = ["--data", "digits", "--limit", "250", "--latent-dim", "3", "--batch-size", "30", "--threads", "1",
            "--no-progress", "--set", "model.hidden=[16]", "--set", "train.tensorboard=false"]  # fmt: skip
    subprocess.run(base + args + ["--epochs", "1", "--out", str(tmp_path / "r")], check=True, env=env)
    subprocess.run(base + ["--resume", str(tmp_path / "r"), "--epochs", "2", "--no-progress"], check=True, env=env)
    fit(cfg(lr=1e-3), tmp_path / "single")
    a, b = last_weights(tmp_path / "single"), last_weights(tmp_path / "r")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_two_processes_match_one_for_k_sample_noise_and_codebook_buffers(tmp_path):
    """IWAE draws (k, B, D) noise for the global batch and shards it; the VQ codebook's EMA
    statistics are all-reduced, so the buffers match too."""
    iwae = dataclasses.replace(cfg(objective={"kind": "iwae", "k": 3}), seed=1)
    fit(iwae, tmp_path / "single")
    launch.launch(iwae, tmp_path / "multi", devices=2)
    vq = dataclasses.replace(
        cfg(), model=ModelConfig(arch="mlp", latent_dim=4, hidden=(16,), posterior={"kind": "vq", "codes": 8, "code_dim": 2})
    )
    fit(vq, tmp_path / "vq_single")
    launch.launch(vq, tmp_path / "vq_multi", devices=2)
    for a_dir, b_dir in (("single", "multi"), ("vq_single", "vq_multi")):
        a, b = last_weights(tmp_path / a_dir), last_weights(tmp_path / b_dir)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_a_failing_rank_is_reported_with_its_message_or_its_traceback_tail():
    report = (
        "\n\n-- Process 1 terminated with the following error:\nTraceback (most recent call last):\n"
        '  File "/x/spawn.py", line 90, in _wrap\n    fn(i, *args)\n'
        '  File "/x/loop.py", line 120, in fit\n    model = build(cfg)\n'
        "RuntimeError: Connection closed by peer [127.0.0.1]:4242"
    )
    text = launch._failure(report)
    assert text.startswith("RuntimeError: Connection closed by peer")
    assert 'File "/x/loop.py", line 120, in fit' in text and "model = build(cfg)" in text
    user = report.rsplit("\n", 1)[0] + "\nvaekit.errors.DataFormatError: /d/1.png could not be decoded: truncated"
    assert launch._failure(user) == "/d/1.png could not be decoded: truncated"


@pytest.mark.slow
def test_two_processes_streaming_a_png_folder_match_one_in_memory(tmp_path):
    """Each rank decodes only its share of every global batch, in a DataLoader worker."""
    Image = pytest.importorskip("PIL.Image")
    from sklearn.datasets import load_digits

    d = load_digits()
    for i, (img, label) in enumerate(zip(d.images[:150], d.target[:150])):
        path = tmp_path / "pngs" / str(label) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 16).clip(0, 255).astype("uint8")).save(path)
    data = DataConfig(source=f"folder:{tmp_path / 'pngs'}", binarize="dynamic", streaming=False)
    one = dataclasses.replace(cfg(eval_batch_size=7), data=data)
    two = dataclasses.replace(one, data=dataclasses.replace(data, streaming=True, workers=1))
    fit(one, tmp_path / "single")
    launch.launch(two, tmp_path / "multi", devices=2)
    a, b = last_weights(tmp_path / "single"), last_weights(tmp_path / "multi")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert len((tmp_path / "multi" / "metrics.jsonl").read_text().splitlines()) == 2
