"""A csv with numeric, count, categorical (text) and binary columns trains with a family per column,
and the commands write values in the table's own units."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from vaekit.checkpoint import RunDir
from vaekit.cli import main

N = 1500
P_COLOUR = {"red": 0.5, "green": 0.3, "blue": 0.2}
TRAIN = ["--limit", "800", "--latent-dim", "2", "--epochs", "8", "--batch-size", "64", "--lr", "0.005", "--no-progress",
         "--threads", "1", "--set", "model.hidden=[32]", "--set", "train.tensorboard=false"]  # fmt: skip


def write_table(path: Path, n: int = N, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["height", "visits", "colour", "smoker"])
        for i in range(n):
            height = f"{rng.normal(170, 10):.1f}" if i % 31 else ""  # a few missing cells
            w.writerow([height, rng.poisson(4.0), rng.choice(list(P_COLOUR), p=list(P_COLOUR.values())), int(rng.random() < 0.3)])
    return path


pytestmark = pytest.mark.slow  # one training run of a few seconds, shared by the module


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("mixed")
    table = write_table(tmp / "people.csv")
    out = tmp / "run"
    assert main(["train", "--data", f"csv:{table}", "--likelihood", "mixed", *TRAIN, "--out", str(out)]) == 0
    return out


def test_the_saved_config_holds_the_detected_family_of_each_column(run):
    cfg = json.loads((run / "config.json").read_text())
    cfg = cfg.get("config", cfg)
    assert cfg["model"]["likelihood"] == {
        "kind": "mixed",
        "columns": ["gaussian-learned", "negbinomial", "categorical:3", "bernoulli"],
    }
    assert cfg["data"]["column_types"] == {}
    scaler = RunDir(run).scaler()
    assert scaler.kinds == ("numeric", "count", "categorical", "binary") and scaler.categories[2] == ("blue", "green", "red")
    # the saved config rebuilds it: a location, a log-mean (theta is learned per column), 3 logits, 1 logit
    assert RunDir(run).load_model().likelihood.decoder_shape() == (1 + 1 + 3 + 1,)


def test_model_draws_recover_each_columns_marginal_in_original_units(run, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", str(run), "-n", "4000", "--draw", "--seed", "1", "--out", str(out)]) == 0
    s = np.load(out)  # (4000, 4) in the table's units
    height, visits, colour, smoker = s.T
    assert abs(height.mean() - 170) < 2.0 and 6 < height.std() < 14
    assert np.all(visits >= 0) and np.all(visits == np.round(visits)) and abs(visits.mean() - 4.0) < 0.6
    assert set(np.unique(colour)) <= {0.0, 1.0, 2.0}  # codes of blue, green, red
    freq = np.bincount(colour.astype(int), minlength=3) / len(colour)
    assert np.abs(freq - [P_COLOUR["blue"], P_COLOUR["green"], P_COLOUR["red"]]).max() < 0.06
    assert set(np.unique(smoker)) <= {0.0, 1.0} and abs(smoker.mean() - 0.3) < 0.06


def test_reconstructions_are_in_original_units(run, tmp_path):
    out = tmp_path / "r.npy"
    assert main(["reconstruct", str(run), "-n", "50", "--out", str(out)]) == 0
    pairs = np.load(out)  # (50, 2, 4): originals, reconstructions
    original, recon = pairs[:, 0], pairs[:, 1]
    assert 140 < np.nanmean(original[:, 0]) < 200 and 150 < recon[:, 0].mean() < 190  # rows with a gap reconstruct too
    assert set(np.unique(recon[:, 2])) <= {0.0, 1.0, 2.0} and np.all((recon[:, 3] >= 0) & (recon[:, 3] <= 1))


def test_inpaint_fills_a_csv_with_values_of_each_columns_kind(run, tmp_path):
    rows = list(csv.reader(write_table(tmp_path / "new.csv", n=12, seed=5).open()))
    holes = [(1, 0), (2, 1), (3, 2), (4, 3), (5, 1), (5, 2), (6, 3)]
    for r, c in holes:
        rows[r][c] = ""
    with (tmp_path / "gaps.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "filled.csv"
    assert main(["inpaint", str(run), "--data", f"csv:{tmp_path / 'gaps.csv'}", "--steps", "10", "--out", str(out)]) == 0
    filled = list(csv.reader(out.open()))
    assert filled[0] == rows[0] and len(filled) == len(rows)
    for r, c in holes:
        cell = filled[r][c]
        if c == 0:
            assert 120 < float(cell) < 220
        elif c == 1:
            assert cell.isdigit()  # a whole count
        elif c == 2:
            assert cell in P_COLOUR  # a label, not a code
        else:
            assert cell in ("0", "1")
    untouched = [(r, c) for r in range(1, len(rows)) for c in range(4) if (r, c) not in holes and rows[r][c]]
    assert all(filled[r][c] == rows[r][c] for r, c in untouched)


def test_a_category_the_model_never_saw_is_refused(run, tmp_path, capsys):
    rows = list(csv.reader(write_table(tmp_path / "new.csv", n=5).open()))
    rows[2][2] = "purple"
    rows[3][0] = ""
    with (tmp_path / "odd.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert (
        main(["inpaint", str(run), "--data", f"csv:{tmp_path / 'odd.csv'}", "--steps", "5", "--out", str(tmp_path / "o.csv")])
        != 0
    )
    assert "category 'purple', which the model never saw" in capsys.readouterr().err


def test_a_single_family_that_does_not_fit_the_table_is_a_clear_error(tmp_path, capsys):
    table = write_table(tmp_path / "t.csv", n=60)
    argv = [
        "train",
        "--data",
        f"csv:{table}",
        "--likelihood",
        "poisson",
        "--set",
        "data.column_types={}",
        *TRAIN,
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "model.likelihood='poisson' needs non-negative integer counts" in err and "'mixed'" in err


def test_a_run_resumed_with_the_unresolved_config_keeps_its_columns(tmp_path):
    from vaekit.config import load_config
    from vaekit.training.loop import fit

    table = write_table(tmp_path / "t.csv", n=120)
    sets = [f"data.source=csv:{table}", "model.likelihood=mixed", "model.hidden=[8]", "model.latent_dim=2", "train.progress=false",
            "train.tensorboard=false", "train.threads=1"]  # fmt: skip
    first = fit(load_config(None, [*sets, "train.epochs=1"]), tmp_path / "r", figures=False)
    again = fit(load_config(None, [*sets, "train.epochs=2"]), tmp_path / "r", resume=True, figures=False)
    assert again.progress.epoch == 2 and again.config.model.likelihood == first.config.model.likelihood
    assert first.config.model.likelihood.options.columns == ("gaussian-learned", "negbinomial", "categorical:3", "bernoulli")
