import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vaekit.cli import main
from vaekit.commands.train import parse_duration

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data", "digits", "--limit", "200", "--model", "mlp", "--latent-dim", "3", "--epochs", "2", "--no-progress",
        "--threads", "1", "--set", "model.hidden=[16]", "--set", "train.tensorboard=false"]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_train_prints_a_summary(run_dir, capsys):
    assert (run_dir / "model.safetensors").is_file()


def test_sample_png_and_npy(run_dir, tmp_path):
    assert main(["sample", str(run_dir), "-n", "9", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 100
    assert main(["sample", str(run_dir), "-n", "5", "--seed", "3", "--out", str(tmp_path / "s.npy")]) == 0
    a = np.load(tmp_path / "s.npy")
    assert a.shape == (5, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert main(["sample", str(run_dir), "-n", "5", "--seed", "3", "--out", str(tmp_path / "t.npy")]) == 0
    np.testing.assert_array_equal(a, np.load(tmp_path / "t.npy"))  # --seed makes it repeatable
    assert main(["sample", str(run_dir), "-n", "5", "--seed", "3", "--temperature", "0.1", "--out", str(tmp_path / "c.npy")]) == 0
    assert not np.array_equal(a, np.load(tmp_path / "c.npy"))


def test_reconstruct(run_dir, tmp_path):
    assert main(["reconstruct", str(run_dir), "--split", "test", "-n", "6", "--out", str(tmp_path / "r.npy")]) == 0
    pairs = np.load(tmp_path / "r.npy")
    assert pairs.shape == (6, 2, 1, 8, 8)
    assert main(["reconstruct", str(run_dir), "-n", "6", "--out", str(tmp_path / "r.png")]) == 0


def test_info_text_and_json(run_dir, capsys):
    assert main(["info", str(run_dir)]) == 0
    text = capsys.readouterr().out
    assert "best       validation ELBO" in text and "2/2 epochs" in text
    assert main(["info", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["epochs"] == 2 and info["finished"] and info["parameters"] > 0
    assert "model.safetensors" in info["files"]


def test_info_shows_every_layer_of_a_stacked_latent(tmp_path, capsys):
    out = tmp_path / "stacked"
    argv = ["train", *TINY, "--epochs", "1", "--set", "model.latent_dims=[5, 2]", "--set", "model.latent_hidden=[8]"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "latent [5, 2] (7 in all)" in capsys.readouterr().out  # not the unused model.latent_dim (3)
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["latent_dim"] == 7 and info["config"]["model"]["latent_dims"] == [5, 2]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--data", "nosuchdata", "--out", "{tmp}/x"], "nosuchdata"),
        (["train", "--config", "{tmp}/missing.toml", "--out", "{tmp}/x"], "does not exist"),
        (["train", "--data", "digits", "--set", "train.bta=2", "--out", "{tmp}/x"], "unknown key"),
        (["train", "--data", "digits", "--set", "train.epochs=many", "--out", "{tmp}/x"], "expected an integer"),
        (["train", "--data", "folder:{tmp}/empty", "--out", "{tmp}/x"], "empty"),
        (["sample", "{tmp}"], "not a vaekit run directory"),
        (["info", "{tmp}/nope"], "not a directory"),
        (["train", "--max-time", "soon", "--out", "{tmp}/x"], "--max-time"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, capsys, argv, needle):
    (tmp_path / "empty").mkdir()
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 1
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "config.json").exists()


def test_mismatched_weights_error(run_dir, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["config"]["model"]["latent_dim"] = 7
    (bad / "config.json").write_text(json.dumps(cfg))
    assert main(["sample", str(bad), "--out", str(tmp_path / "s.png")]) == 1
    assert "do not match" in capsys.readouterr().err


def test_console_entry_point_help_is_fast_to_import():
    out = subprocess.run([sys.executable, "-c", "import sys, vaekit.cli; print('torch' in sys.modules)"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    assert out.stdout.strip() == "False"  # --help never imports torch


def test_parse_duration():
    assert parse_duration("90") == 90 and parse_duration("2m") == 120 and parse_duration("1.5h") == 5400


def test_progress_bar_shows_live_loss(tmp_path, capfd):
    args = [a for a in TINY if a != "--no-progress"]
    assert main(["train", *args, "--set", "train.log_every=2", "--out", str(tmp_path / "r")]) == 0
    err = capfd.readouterr().err
    assert "loss=" in err and "step" in err
