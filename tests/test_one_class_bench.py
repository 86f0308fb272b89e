"""benchmarks/one_class.py chooses each dataset's variant and score on validation AUROC and then runs
the final phase with that choice; these check the choice and that the test split is used only after it."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
oc = pytest.importorskip("one_class")

# validation AUROC by (dataset, variant, score), the same for every selection class but one
VALIDATION = {
    ("mnist", "conv32-g01-l32"): {"latent": 97.0, "latent20": 97.6},
    ("mnist", "conv32-g02-l16"): {"latent": 98.1, "latent20": 97.9},
    ("fashion-mnist", "conv32-g01-l32"): {"latent": 92.0, "latent20": 93.4},
    ("fashion-mnist", "conv32-g02-l16"): {"latent": 93.0, "latent20": 93.1},
}


def run(monkeypatch, tmp_path, argv):
    calls = []

    def one_model(runs, dataset, c, variant, scores, split, max_time):
        calls.append((dataset, c, variant, split))
        if split == "validation":
            auroc = dict(VALIDATION[dataset, variant])
            if c == oc.SELECT_CLASSES[dataset][1]:  # the second class pulls the means apart a little more
                auroc = {s: v - (0.5 if s == "latent" else 0.0) for s, v in auroc.items()}
        else:
            auroc = {s: 90.0 + c for s in scores}
        return {"train": {"epochs": 3, "seconds": 1.0}, "auroc": auroc}

    monkeypatch.setattr(oc, "one_model", one_model)
    monkeypatch.setattr(sys, "argv", ["one_class.py", *argv, "--results", str(tmp_path / "oc.md")])
    oc.main()
    return calls


def test_both_phase_picks_the_best_validation_mean_per_dataset_then_tests_only_that(monkeypatch, tmp_path):
    argv = ["--phase", "both", "--variants", "conv32-g01-l32", "conv32-g02-l16", "--scores", "latent", "latent20"]
    calls = run(monkeypatch, tmp_path, [*argv, "--targets", "higher"])
    tested = {(d, v) for d, _, v, split in calls if split == "test"}
    # mnist: g02-l16 latent has 98.1 and 97.6 (mean 97.85) against its latent20's 97.9: latent20 wins
    # fashion: g01-l32 latent20 (93.4) beats every other pair
    assert tested == {("mnist", "conv32-g02-l16"), ("fashion-mnist", "conv32-g01-l32")}
    first_test = next(i for i, call in enumerate(calls) if call[3] == "test")
    assert all(call[3] == "validation" for call in calls[:first_test])  # every choice made before any test score
    assert sorted(c for d, c, _, split in calls if split == "test" and d == "mnist") == list(range(10))

    selection = (tmp_path / "oc_selection.md").read_text()
    assert "Chosen for mnist: `conv32-g02-l16` with `latent20` (mean validation AUROC 97.9)" in selection
    assert "Chosen for fashion-mnist: `conv32-g01-l32` with `latent20`" in selection
    mnist = (tmp_path / "oc_mnist.md").read_text()
    assert "Variant `conv32-g02-l16`" in mnist and "score `latent20`" in mnist
    assert "target 98.5: target missed by 4.0" in mnist  # the higher bar, mean of 90..99 = 94.5
    assert "see oc_selection.md" in mnist
    assert "target 94: target met" in (tmp_path / "oc_fashion-mnist.md").read_text()


def test_select_phase_alone_never_touches_the_test_split(monkeypatch, tmp_path):
    calls = run(monkeypatch, tmp_path, ["--phase", "select", "--variants", "conv32-g01-l32", "--scores", "latent"])
    assert calls and all(split == "validation" for *_, split in calls)
    assert not (tmp_path / "oc.md").exists()


def test_the_recorded_command_leaves_out_where_files_went():
    argv = ["--phase", "both", "--runs", "/scratch/runs", "--max-time", "300", "--results=/scratch/t.md", "--commit", "abc"]
    assert oc.shown_command(argv) == ["--phase", "both", "--max-time", "300", "--commit", "abc"]
