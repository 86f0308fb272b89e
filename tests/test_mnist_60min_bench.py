"""benchmarks/mnist_60min.py: both stages run on the clock, stage 2 starts from stage 1's weights, an
interrupted run resumes instead of starting over, and only a full run is given a verdict."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
m60 = pytest.importorskip("mnist_60min")


def test_only_a_full_run_meets_or_misses_the_target():
    assert m60.judge(82.95, True) == "target met"
    assert m60.judge(84.06, True) == "target missed by 1.06"
    assert m60.judge(80.0, False) == "not a full run"  # a shortened check never "meets" it


def test_a_shortened_run_trains_both_stages_and_resumes(tmp_path, mnist_writer):
    data = mnist_writer(tmp_path / "mnist", n_train=120, n_test=12)
    run, out = tmp_path / "run", tmp_path / "table.md"
    argv = ["--data-dir", str(data), "--run", str(run), "--out", str(out), "--stage1-time", "2", "--stage2-time", "1",
            "--k", "8", "--threads", "1", "--train-threads", "1"]  # fmt: skip
    m60.main(argv)
    result = json.loads((run / "result.json").read_text())
    s1, s2 = result["stage1"], result["stage2"]
    assert s1["stop"].startswith("max_time reached") and s2["stop"].startswith("max_time reached")
    assert s1["epochs"] >= 1 and s2["epochs"] >= 1
    assert s2["best_val_bound"] is not None  # stage 2 keeps its epoch by the k-sample bound
    stage2_config = json.loads((run / "iwae" / "config.json").read_text())["config"]
    assert stage2_config["train"]["init_from"] == str(run / "elbo")
    assert stage2_config["train"]["objective"]["kind"] == "iwae"
    assert result["nll"]["n_test"] == 12 and result["nll"]["k"] == 8
    text = out.read_text()
    assert "A shortened check" in text and "not a full run" in text
    assert "Budgets: stage 1 2 s, stage 2 1 s" in text

    m60.main(argv)  # both stages finished: the rerun resumes them and trains nothing more
    again = json.loads((run / "result.json").read_text())
    assert again["stage1"]["epochs"] == s1["epochs"] and again["stage2"]["epochs"] == s2["epochs"]
