"""benchmarks/time_to_quality.py decides its published first-reach times from a few full scores
chosen by a cheap screen; these check that choice against known curves."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
ttq = pytest.importorskip("time_to_quality")


def settled(screen: list[float], full: list[float]) -> tuple[object, list[int]]:
    clock = ttq.Clock("t", lambda: 0.0, dict, (), 1.0)
    clock.points = [{"seconds": float(i), "epoch": i, "screen": s} for i, s in enumerate(screen)]
    clock.weights = [{"i": i} for i in range(len(screen))]
    scored: list[int] = []

    def score(weights: dict) -> float:
        scored.append(weights["i"])
        return full[weights["i"]]

    clock.settle(score)
    return clock, scored


def test_first_reach_is_read_from_full_scores_and_only_near_the_targets():
    screen = [120, 100, 93.5, 92.8, 91, 89.9, 88, 87.5, 86]
    full = [119, 99, 92.5, 91.7, 89.9, 89.0, 87.1, 86.8, 85.2]
    clock, scored = settled(screen, full)
    assert ttq.first_reach(clock.points, 90)["seconds"] == 4  # the screen says 5, the full score 4
    assert ttq.first_reach(clock.points, 87)["seconds"] == 7
    assert 0 not in scored and 1 not in scored  # far above every target: screened only
    assert len(scored) == len(set(scored))  # no copy is scored twice


def test_an_earlier_copy_that_already_reached_the_target_is_found():
    screen = [95, 93.5, 92.5, 91]  # copy 1 is screened just outside the margin
    full = [94, 89.5, 89.0, 88.0]  # but its full score already reached 90
    clock, _ = settled(screen, full)
    assert ttq.first_reach(clock.points, 90)["seconds"] == 1


def test_a_target_never_reached_is_reported_so():
    clock, scored = settled([110, 100, 95], [109, 99, 94])
    assert ttq.first_reach(clock.points, 90) is None
    assert scored == [2]  # only the last copy, for the table's last score


def test_the_recipe_scales_its_plan_with_the_budget_and_compiles_when_asked(tmp_path):
    config = Path(__file__).resolve().parent.parent / "configs" / "mnist_fast.toml"
    short = ttq.recipe(config, str(tmp_path), 300, "2")
    long = ttq.recipe(config, str(tmp_path), 1800, "auto", compile_=True)
    assert (short.train.max_time, long.train.max_time) == (300, 1800)
    assert long.train.epochs == 6 * short.train.epochs  # the planned epochs follow the budget
    assert short.train.threads == 2 and long.train.threads == "auto"
    assert long.train.compile and not short.train.compile
    assert short.train.schedule_by == "time"


def test_the_last_epoch_is_screened_even_between_marks():
    clock = ttq.Clock("t", lambda: 100.0, dict, (1000,), 3600.0)  # far above the targets
    assert clock.epoch_end(1) is False and clock.points == []  # no mark passed, not the last epoch
    assert clock.epoch_end(2, last=True) is False  # screened; the clock itself does not stop a finished plan
    assert [p["epoch"] for p in clock.points] == [2] and len(clock.weights) == 1


def test_the_report_gives_no_ratio_when_the_peer_had_less_time_than_vaekit_needed():
    import argparse

    vaekit = [
        {"seconds": 240.0, "epoch": 65, "screen": 88.5, "nll": 89.2},
        {"seconds": 1573.0, "epoch": 480, "screen": 85.8, "nll": 86.7},
    ]
    pythae = [{"seconds": 900.0, "epoch": 110, "screen": 92.8, "nll": 93.4}]
    args = argparse.Namespace(budgets=[1800.0], pythae_budget=900.0, threads="2", config="mnist_fast.toml", k=1000, compile=True)
    text = ttq.report({"runs": {"vaekit, 1800 s schedule": vaekit, ttq.PYTHAE: pythae}}, args, 10_000, quick=False)
    assert "- 90 nats: vaekit in 240 s; pythae not within 900 s (at least 3.8x longer)." in text
    assert "- 87 nats: vaekit in 1573 s; pythae not within its 900 s budget, shorter than that: no ratio." in text
    assert "compiled" in text
